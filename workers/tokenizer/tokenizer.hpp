#pragma once
// Byte-level BPE tokenizer (GPT-2 family and byte-level BPEs such as SmolLM2's), and the
// SentencePiece-style BPE of Gemma's GGUF vocabularies (from_sentencepiece).
// Ordinary-text encoding: special-token strings inside the text are NOT parsed as specials, and
// no BOS/EOS is added (tiktoken's encode_ordinary; HF with add_special_tokens=False and specials
// left unmatched).
// Invalid UTF-8 in the text is not an error: every byte that is not part of a valid UTF-8
// sequence becomes its own pre-token and is encoded as its byte token (byte fallback), so
// decode(encode(bytes)) == bytes for any byte string. Valid runs are split by the regex as usual.
// Thread-safety: a const Tokenizer may be shared between threads (the merge cache is guarded).
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace csweep::tok {

// How text is split before BPE. kGPT2: the GPT-2 regex. kDigitsThenGPT2: every digit is its own
// piece, then the GPT-2 regex (SmolLM2 / llama.cpp "smollm" pre-tokenizer). kSentencePiece: no
// regex; user-defined tokens are cut out and the rest is one BPE word with ' ' spelt '▁'
// (from_sentencepiece).
enum class PreTokenizer { kGPT2, kDigitsThenGPT2, kSentencePiece };

class Tokenizer {
 public:
  // Loads from a directory holding tokenizer.json, or vocab.json + merges.txt, or
  // encoder.json + vocab.bpe (tried in that order), or from a tokenizer.json file path.
  // Throws InputError naming the file and field on malformed input. tokenizer.json: the
  // pre_tokenizer must be ByteLevel (kGPT2) or Sequence[Digits(individual_digits), ByteLevel]
  // (kDigitsThenGPT2); added_tokens with "special": true become the specials; bos/eos come from
  // tokenizer_config.json next to it when present, else as in from_tables.
  static Tokenizer load(const std::string& path);

  // From in-memory tables (GGUF metadata): id_to_token in byte-level unicode form ("Ġthe"),
  // merges in rank order, special tokens (token text -> id, e.g. "<|endoftext|>"; decoded
  // verbatim). bos/eos: the ids from the metadata; when absent, "<|endoftext|>" (GPT-2 style,
  // both), "<s>"/"</s>", "<|begin_of_text|>"/"<|end_of_text|>" among the specials are used.
  static Tokenizer from_tables(std::vector<std::string> id_to_token,
                               std::vector<std::pair<std::string, std::string>> merges,
                               PreTokenizer pre, std::map<std::string, int> special_tokens,
                               const std::string& source, std::optional<int> bos = std::nullopt,
                               std::optional<int> eos = std::nullopt);

  // From a GGUF "llama" (SentencePiece) vocabulary as Gemma 3's files hold it: tokens as stored
  // ('▁' for a space, "<0xXX>" byte tokens), token_types as tokenizer.ggml.token_type. Encodes
  // as Hugging Face transformers does from the same file (workers/tokenizer/sentencepiece_bpe.hpp
  // gives the rules); control tokens (type 3) are the specials, not parsed from the text.
  static Tokenizer from_sentencepiece(std::vector<std::string> tokens,
                                      const std::vector<int>& token_types,
                                      const std::string& source, std::optional<int> bos,
                                      std::optional<int> eos);

  std::vector<int> encode(std::string_view text) const;
  std::string decode(const std::vector<int>& ids) const;
  std::string decode_token(int id) const;  // one token as UTF-8 bytes (may be a partial char)
  int vocab_size() const;
  // The id if `text` encodes to exactly one token, else nullopt (single-token checks of tasks).
  std::optional<int> single_token_id(std::string_view text) const;
  std::optional<int> bos_id() const;
  std::optional<int> eos_id() const;
  // Id of a special token by its text ("<|endoftext|>"), else nullopt.
  std::optional<int> special_id(std::string_view text) const;
  PreTokenizer pre_tokenizer() const;
  const std::string& source() const;  // the file(s) it was loaded from, for provenance and errors

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace csweep::tok
