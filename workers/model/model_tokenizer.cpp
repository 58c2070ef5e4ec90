#include "workers/model/model_tokenizer.hpp"

#include "core/error.hpp"
#include "workers/io/gguf.hpp"
#include "workers/model/gguf_checkpoint.hpp"

namespace csweep::model {

namespace {
bool is_gguf_path(const std::string& p) {
  return p.size() >= 5 && p.compare(p.size() - 5, 5, ".gguf") == 0;
}
}  // namespace

tok::Tokenizer load_tokenizer_from(const std::string& path) {
  // A GGUF keeps its vocabulary and merges as metadata; only that part of the file is read
  // (the tensor bytes stay untouched in the mapping).
  if (is_gguf_path(path)) return gguf_tokenizer(io::GgufFile::open(path));
  return tok::Tokenizer::load(path);
}

tok::Tokenizer load_model_tokenizer(const LoadedModel& model) {
  if (model.tokenizer_path.empty())
    throw input_error(model.source, "the model carries no tokenizer", "none of tokenizer.json, "
                      "vocab.json + merges.txt, encoder.json + vocab.bpe in the folder",
                      "a tokenizer given explicitly (a folder with tokenizer.json, or a .gguf)");
  return load_tokenizer_from(model.tokenizer_path);
}

}  // namespace csweep::model
