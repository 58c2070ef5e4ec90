#pragma once
// SentencePiece-style BPE over a GGUF "llama" vocabulary as Gemma's files store it (internal to
// workers/tokenizer; the public face is Tokenizer::from_sentencepiece).
//
// Encoding equals what Hugging Face transformers builds from the same GGUF metadata
// (integrations/gguf: GemmaTokenizer over the file's tokens, merges derived from the vocabulary):
//   1. user-defined tokens (token_type 4: "\n", "\n\n", tab runs, "[multimodal]", ...) are cut out
//      of the text whole, leftmost-longest, and become their own ids;
//   2. in the rest, every ' ' becomes U+2581 '▁'; there is no prefix space and no further split;
//   3. each code point that is a vocabulary entry is one symbol, any other code point is its UTF-8
//      bytes as the byte tokens <0xXX> (byte fallback); so is every byte of invalid UTF-8;
//   4. adjacent symbols merge while their concatenation is a vocabulary entry, best pair first.
//      A pair's priority is the merged token's position in the vocabulary (earlier first), then
//      the longer left part; equal priorities go left to right. The file's scores are not used:
//      for Gemma's ordinary tokens they fall with the id anyway, and transformers ranks by id.
// Tokens that consist of whitespace including a space are stored with real spaces ("  ") while
// the text has '▁▁'; they are looked up in the '▁' spelling, as transformers does.
// Control tokens (token_type 3, "<bos>") are not parsed from the text (ordinary-text encoding).
#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace csweep::tok::detail {

class SentencePieceBpe {
 public:
  // tokens[id] as stored in tokenizer.ggml.tokens, token_types[id] as in tokenizer.ggml.token_type
  // (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte). InputError naming `source`
  // when the tables disagree in length, or a byte token <0x00>..<0xFF> is missing.
  SentencePieceBpe(std::vector<std::string> tokens, const std::vector<int>& token_types,
                   const std::string& source);

  void encode(std::string_view text, std::vector<int>& out) const;
  const std::string& token_bytes(int id) const { return id_to_bytes_[id]; }  // decoded form
  int vocab_size() const { return static_cast<int>(id_to_bytes_.size()); }
  std::optional<int> id_of(const std::string& text) const;  // an entry in the '▁' spelling

 private:
  void encode_segment(std::string_view text, std::vector<int>& out) const;
  // The merge of adjacent symbols a, b: the merged id, or -1.
  int merged(int a, int b) const;

  std::vector<std::string> id_to_text_;   // the '▁' spelling of every id
  std::vector<std::string> id_to_bytes_;  // what every id decodes to
  std::vector<int> n_codepoints_;         // of id_to_text_
  std::unordered_map<std::string, int> text_to_id_;
  std::array<int, 256> byte_id_{};
  // User-defined tokens by first byte, longest first (leftmost-longest matching).
  std::array<std::vector<int>, 256> user_defined_;
};

}  // namespace csweep::tok::detail
