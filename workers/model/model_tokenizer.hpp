#pragma once
// The tokenizer that belongs to a loaded model, wherever the checkpoint keeps it: a GGUF file's
// metadata, or the Hugging Face folder's own tokenizer files.
#include <string>

#include "workers/model/weights.hpp"
#include "workers/tokenizer/tokenizer.hpp"

namespace csweep::model {

// From model.tokenizer_path: a *.gguf path → its metadata (gguf_tokenizer); a folder → the files
// Tokenizer::load accepts. InputError naming model.source when the model carries no tokenizer
// (pass one explicitly, e.g. a folder with tokenizer.json, instead).
tok::Tokenizer load_model_tokenizer(const LoadedModel& model);

// Same, for a tokenizer location given by path (a *.gguf file, a folder or a tokenizer.json).
tok::Tokenizer load_tokenizer_from(const std::string& path);

}  // namespace csweep::model
