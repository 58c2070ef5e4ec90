#pragma once
// Byte-level BPE training (torch-free): learns GPT-2-style merges from a set of pre-tokens so that
// every given pre-token becomes one token, and writes vocab.json + merges.txt in the layout the
// project's tokenizer (and Hugging Face's GPT2Tokenizer) loads.
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace csweep::train {

struct BpeVocab {
  std::vector<std::string> id_to_token;                     // byte-level unicode form ("Ġone")
  std::vector<std::pair<std::string, std::string>> merges;  // rank order
};

// GPT-2's byte -> printable code point map applied to raw bytes: " one" -> "Ġone".
std::string byte_level_text(const std::string& bytes);

// Learns merges over `words` (raw byte strings as the pre-tokenizer emits them, e.g. " January",
// with a weight each): repeatedly merges the most frequent adjacent pair (ties: the
// lexicographically smallest pair), until every word is a single token. Deterministic.
// Vocabulary: the 256 byte tokens in GPT-2's order, then one token per merge, then `specials`.
BpeVocab train_bpe(const std::map<std::string, long>& words, const std::vector<std::string>& specials);

// Writes <dir>/vocab.json and <dir>/merges.txt (GPT-2 layout, "#version: 0.2" header).
void write_bpe(const BpeVocab& v, const std::string& dir);

}  // namespace csweep::train
