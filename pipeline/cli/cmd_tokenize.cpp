// csweep tokenize: text -> token ids, for checking prompts against the model's tokenizer.
//   csweep tokenize [--tokenizer PATH] --jsonl IN     each line {"text": ...} -> the same object
//                                                     with "ids": [...] added (other fields kept)
//   csweep tokenize [--tokenizer PATH] --text STR     one line {"text": STR, "ids": [...]}
// Output is JSONL on stdout; the text is written back byte for byte (UTF-8, not \u-escaped).
// Text must be UTF-8: JSON cannot carry other bytes, so the output could not repeat the input.
// A --text that is not UTF-8 is an input error (exit 2) naming the first bad byte's offset; a
// --jsonl line that is not UTF-8 is not valid JSON and is reported with its line. (The tokenizer
// library itself encodes arbitrary bytes, each invalid byte as its byte token.)
#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "core/error.hpp"
#include "core/paths.hpp"
#include "pipeline/cli/commands.hpp"
#include "workers/model/model_tokenizer.hpp"
#include "workers/tokenizer/byte_level.hpp"
#include "workers/tokenizer/tokenizer.hpp"

namespace csweep::cli {
namespace {

struct TokenizeOptions {
  std::string tokenizer;  // empty: data/tokenizers/gpt2 of this installation
  std::string jsonl;
  std::string text;
};

// ordered_json keeps "text" before "ids" and the input's own field order.
using Json = nlohmann::ordered_json;

void print_line(const Json& j) {
  const std::string line = j.dump(-1, ' ', /*ensure_ascii=*/false) + "\n";
  std::fwrite(line.data(), 1, line.size(), stdout);
}

void run_tokenize(const TokenizeOptions& opt) {
  const std::string path = opt.tokenizer.empty() ? data_path("tokenizers/gpt2") : opt.tokenizer;
  // A GGUF model file carries its tokenizer in its metadata; folders and tokenizer.json load directly.
  const tok::Tokenizer tokenizer = model::load_tokenizer_from(path);

  if (!opt.text.empty() || opt.jsonl.empty()) {
    for (std::size_t i = 0; i < opt.text.size();) {
      const std::size_t n = tok::detail::utf8_sequence_length(opt.text, i);
      if (n == 0)
        throw input_error("--text", fmt::format("not valid UTF-8 at byte offset {} (byte 0x{:02x})", i,
                                                static_cast<unsigned char>(opt.text[i])),
                          "", "UTF-8 text (JSON output cannot carry other bytes)");
      i += n;
    }
    Json out;
    out["text"] = opt.text;
    out["ids"] = tokenizer.encode(opt.text);
    print_line(out);
    return;
  }

  std::ifstream in(opt.jsonl, std::ios::binary);
  if (!in) throw input_error(opt.jsonl, "cannot open file");
  std::string line;
  std::size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;  // blank lines
    const std::string where = fmt::format("{}:line {}", opt.jsonl, line_no);
    Json row;
    try {
      row = Json::parse(line);
    } catch (const Json::parse_error& e) {
      throw input_error(where, fmt::format("not valid JSON: {}", e.what()));
    }
    if (!row.is_object() || !row.contains("text") || !row.at("text").is_string()) {
      throw input_error(where, "expected an object with a string field \"text\"",
                        line.substr(0, 80), "{\"text\": \"...\"}");
    }
    row["ids"] = tokenizer.encode(row.at("text").get_ref<const std::string&>());
    print_line(row);
  }
  if (in.bad()) throw input_error(opt.jsonl, "read failed");
  std::fflush(stdout);
}

}  // namespace

void add_tokenize_command(CLI::App& app) {
  auto opt = std::make_shared<TokenizeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "tokenize", "Encode text with a byte-level BPE tokenizer; prints JSONL {\"text\", \"ids\"}.");
  cmd->add_option("--tokenizer", opt->tokenizer,
                  "tokenizer directory (tokenizer.json, vocab.json + merges.txt, or encoder.json + "
                  "vocab.bpe), a tokenizer.json file, or a .gguf model (its metadata tokenizer); "
                  "default: GPT-2's, from data/tokenizers/gpt2");
  auto* jsonl = cmd->add_option("--jsonl", opt->jsonl,
                                "JSONL file, one {\"text\": ...} object per line")
                    ->check(CLI::ExistingFile);
  auto* text = cmd->add_option("--text", opt->text, "a single text to encode");
  jsonl->excludes(text);
  text->excludes(jsonl);
  cmd->callback([opt, cmd] {
    if (cmd->count("--jsonl") == 0 && cmd->count("--text") == 0)
      throw CLI::RequiredError("--jsonl or --text");
    run_tokenize(*opt);
  });
}

}  // namespace csweep::cli
