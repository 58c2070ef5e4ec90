#pragma once
// Pre-tokenisation: splits text into the pieces BPE runs on (internal to workers/tokenizer).
#include <memory>
#include <string_view>
#include <vector>

#include "workers/tokenizer/tokenizer.hpp"

namespace csweep::tok::detail {

// Splits text with the GPT-2 regex (PCRE2, UTF + UCP), optionally isolating every numeric
// character first (kDigitsThenGPT2). Bytes that are not valid UTF-8 become one piece each.
// Pieces are views into the text, in order, covering it completely.
// Thread-safety: split() is const and may run concurrently (match data is per call).
class Splitter {
 public:
  explicit Splitter(PreTokenizer kind);
  ~Splitter();
  Splitter(const Splitter&) = delete;
  Splitter& operator=(const Splitter&) = delete;

  void split(std::string_view text, std::vector<std::string_view>& pieces) const;

 private:
  struct Regexes;
  void split_valid(std::string_view text, std::vector<std::string_view>& pieces) const;
  void split_gpt2(std::string_view text, std::vector<std::string_view>& pieces) const;
  PreTokenizer kind_;
  std::unique_ptr<Regexes> re_;
};

}  // namespace csweep::tok::detail
