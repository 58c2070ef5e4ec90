#include "workers/tokenizer/pretokenizer.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <string>

#include "core/error.hpp"
#include "workers/tokenizer/byte_level.hpp"

namespace csweep::tok::detail {
namespace {

// The GPT-2 pattern 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// with \s spelt out as the Unicode White_Space property. Python's `regex`, Rust's `regex` (tiktoken)
// and Oniguruma (HF tokenizers) all use White_Space for \s; PCRE2's \s under UCP also matches
// U+180E (Mongolian vowel separator), which would split text differently from those encoders.
#define CSWEEP_WS "\\t\\n\\x{0B}\\f\\r\\x{85}\\p{Z}"
constexpr const char* kGpt2Pattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" CSWEEP_WS "\\p{L}\\p{N}]+"
    "|[" CSWEEP_WS "]+(?![^" CSWEEP_WS "])|[" CSWEEP_WS "]+";
#undef CSWEEP_WS
// HF's Digits(individual_digits=true) isolates every char for which Rust's char::is_numeric
// holds, i.e. the general categories Nd, Nl, No = \p{N}.
constexpr const char* kDigitPattern = "\\p{N}";

struct Code {
  pcre2_code* code = nullptr;
  bool jit = false;

  explicit Code(const char* pattern) {
    int err = 0;
    PCRE2_SIZE err_off = 0;
    code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern), PCRE2_ZERO_TERMINATED,
                         PCRE2_UTF | PCRE2_UCP, &err, &err_off, nullptr);
    if (code == nullptr) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      CSWEEP_ASSERT(false, "pre-tokenizer regex does not compile at offset {}: {}", err_off,
                    reinterpret_cast<const char*>(msg));
    }
    // JIT is an optimisation only; the interpreter gives identical matches.
    jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  }
  ~Code() { pcre2_code_free(code); }
  Code(const Code&) = delete;
  Code& operator=(const Code&) = delete;
};

struct MatchData {
  pcre2_match_data* md;
  explicit MatchData(const Code& c) : md(pcre2_match_data_create_from_pattern(c.code, nullptr)) {
    CSWEEP_ASSERT(md != nullptr, "out of memory creating PCRE2 match data");
  }
  ~MatchData() { pcre2_match_data_free(md); }
  MatchData(const MatchData&) = delete;
  MatchData& operator=(const MatchData&) = delete;
};

// Next match of `c` in text at or after `start`: [begin, end), or false when there is none.
// The text has been checked to be valid UTF-8, so PCRE2's own check is skipped.
bool next_match(const Code& c, MatchData& m, std::string_view text, std::size_t start,
                std::size_t& begin, std::size_t& end) {
  const auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  int rc = pcre2_match(c.code, subject, text.size(), start, PCRE2_NO_UTF_CHECK, m.md, nullptr);
  if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
    // Very long whitespace runs can exhaust the JIT's small default stack; the interpreter
    // keeps its backtracking state on the heap.
    rc = pcre2_match(c.code, subject, text.size(), start, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT,
                     m.md, nullptr);
  }
  if (rc == PCRE2_ERROR_NOMATCH) return false;
  if (rc < 0) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(rc, msg, sizeof msg);
    CSWEEP_ASSERT(false, "PCRE2 match failed at offset {} of a {}-byte text: {}", start,
                  text.size(), reinterpret_cast<const char*>(msg));
  }
  const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(m.md);
  begin = ov[0];
  end = ov[1];
  return true;
}

}  // namespace

struct Splitter::Regexes {
  Code gpt2{kGpt2Pattern};
  Code digit{kDigitPattern};
};

Splitter::Splitter(PreTokenizer kind) : kind_(kind), re_(std::make_unique<Regexes>()) {}
Splitter::~Splitter() = default;

void Splitter::split(std::string_view text, std::vector<std::string_view>& pieces) const {
  std::size_t run_begin = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t n = utf8_sequence_length(text, pos);
    if (n > 0) {
      pos += n;
      continue;
    }
    // Byte fallback: the valid run so far is split normally, the bad byte stands alone.
    if (pos > run_begin) split_valid(text.substr(run_begin, pos - run_begin), pieces);
    pieces.push_back(text.substr(pos, 1));
    run_begin = ++pos;
  }
  if (pos > run_begin) split_valid(text.substr(run_begin, pos - run_begin), pieces);
}

void Splitter::split_valid(std::string_view text, std::vector<std::string_view>& pieces) const {
  if (kind_ == PreTokenizer::kGPT2) {
    split_gpt2(text, pieces);
    return;
  }
  // kDigitsThenGPT2: as HF's Sequence[Digits(individual_digits), ByteLevel]: the regex runs on
  // each stretch between digits separately, so its look-ahead never sees across a digit.
  MatchData m(re_->digit);
  std::size_t pos = 0, begin = 0, end = 0;
  while (pos < text.size() && next_match(re_->digit, m, text, pos, begin, end)) {
    if (begin > pos) split_gpt2(text.substr(pos, begin - pos), pieces);
    pieces.push_back(text.substr(begin, end - begin));
    pos = end;
  }
  if (pos < text.size()) split_gpt2(text.substr(pos), pieces);
}

void Splitter::split_gpt2(std::string_view text, std::vector<std::string_view>& pieces) const {
  MatchData m(re_->gpt2);
  std::size_t pos = 0, begin = 0, end = 0;
  while (pos < text.size() && next_match(re_->gpt2, m, text, pos, begin, end)) {
    // The alternatives cover every code point, so matches are contiguous and non-empty; a gap
    // would be a bug in the pattern, and is kept rather than dropped.
    CSWEEP_ASSERT(end > begin, "empty pre-tokenizer match at offset {}", begin);
    if (begin > pos) pieces.push_back(text.substr(pos, begin - pos));
    pieces.push_back(text.substr(begin, end - begin));
    pos = end;
  }
  if (pos < text.size()) pieces.push_back(text.substr(pos));
}

}  // namespace csweep::tok::detail
