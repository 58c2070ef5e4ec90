#pragma once
// What a tokenizer file holds, before the BPE tables are built (internal to workers/tokenizer).
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "workers/tokenizer/tokenizer.hpp"

namespace csweep::tok::detail {

struct Tables {
  std::vector<std::string> id_to_token;  // byte-level unicode form; "" marks an unused id
  std::vector<std::pair<std::string, std::string>> merges;  // in rank order
  // Where merge #i came from, for error messages ("merges.txt line 17").
  std::function<std::string(std::size_t)> merge_where;
  PreTokenizer pre = PreTokenizer::kGPT2;
  std::map<std::string, int> specials;  // special token text -> id
  std::set<int> verbatim_ids;  // added tokens: their text is plain UTF-8, not byte-level form
  std::optional<int> bos, eos;
  bool add_prefix_space = false;  // HF ByteLevel(add_prefix_space=true): " " before the text
  bool ignore_merges = false;     // HF BPE(ignore_merges=true): a word in the vocab is one token
  std::string source;
};

// Reads a tokenizer directory or tokenizer.json file (see Tokenizer::load).
Tables load_tables(const std::string& path);

}  // namespace csweep::tok::detail
