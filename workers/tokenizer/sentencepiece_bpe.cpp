#include "workers/tokenizer/sentencepiece_bpe.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <queue>

#include "core/error.hpp"
#include "workers/tokenizer/byte_level.hpp"

namespace csweep::tok::detail {
namespace {

constexpr int kUserDefined = 4;
constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's space

// Python's str.isspace() code points: transformers respells a stored token when it contains a
// space and `not token.strip()`, so the same set decides here.
bool py_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
         c == 0x202F || c == 0x205F || c == 0x3000;
}

// Code points of valid UTF-8 `s`; nullopt when it is not valid UTF-8.
std::optional<std::vector<char32_t>> code_points(std::string_view s) {
  std::vector<char32_t> cps;
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_sequence_length(s, i);
    if (n == 0) return std::nullopt;
    const auto b0 = static_cast<unsigned char>(s[i]);
    char32_t c = n == 1 ? b0 : b0 & (0x7F >> n);
    for (std::size_t k = 1; k < n; ++k) c = (c << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    cps.push_back(c);
    i += n;
  }
  return cps;
}

// The lookup spelling of a stored token: whitespace-only tokens with a space become '▁' x length.
std::string respell(const std::string& token) {
  if (token.find(' ') == std::string::npos) return token;
  const auto cps = code_points(token);
  if (!cps || !std::all_of(cps->begin(), cps->end(), py_space)) return token;
  std::string out;
  for (std::size_t k = 0; k < cps->size(); ++k) out += kSpace;
  return out;
}

// What a token decodes to (transformers' decoder: '▁' -> ' ', then <0xXX> -> that byte).
std::string token_to_bytes(const std::string& t) {
  if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>' &&
      std::isxdigit(static_cast<unsigned char>(t[3])) &&
      std::isxdigit(static_cast<unsigned char>(t[4])))
    return std::string(1, static_cast<char>(std::stoi(t.substr(3, 2), nullptr, 16)));
  std::string out;
  for (std::size_t i = 0; i < t.size();) {
    if (t.compare(i, kSpace.size(), kSpace) == 0) {
      out += ' ';
      i += kSpace.size();
    } else {
      out += t[i++];
    }
  }
  return out;
}

std::size_t count_code_points(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

}  // namespace

SentencePieceBpe::SentencePieceBpe(std::vector<std::string> tokens,
                                   const std::vector<int>& token_types, const std::string& source) {
  CSWEEP_CHECK_INPUT(!tokens.empty(), "{}: the vocabulary is empty", source);
  if (token_types.size() != tokens.size())
    throw input_error(source, "tokenizer.ggml.token_type has one entry per token",
                      fmt::format("{} entries", token_types.size()),
                      fmt::format("{} (tokenizer.ggml.tokens)", tokens.size()));
  const std::size_t n = tokens.size();
  id_to_text_.resize(n);
  id_to_bytes_.resize(n);
  n_codepoints_.resize(n);
  text_to_id_.reserve(2 * n);
  for (std::size_t id = 0; id < n; ++id) {
    id_to_text_[id] = respell(tokens[id]);
    id_to_bytes_[id] = token_to_bytes(id_to_text_[id]);
    n_codepoints_[id] = static_cast<int>(count_code_points(id_to_text_[id]));
    // A repeated spelling names its last id, as a Python dict built over the list would.
    if (!id_to_text_[id].empty()) text_to_id_[id_to_text_[id]] = static_cast<int>(id);
  }
  for (int b = 0; b < 256; ++b) {
    const std::string name = fmt::format("<0x{:02X}>", b);
    const auto it = text_to_id_.find(name);
    if (it == text_to_id_.end())
      throw input_error(source, "byte fallback needs a token for every byte",
                        "no token " + name, "<0x00>..<0xFF> in tokenizer.ggml.tokens");
    byte_id_[b] = it->second;
  }
  // A user-defined token is matched in the text only under its stored spelling (a whitespace
  // token respelled to '▁' is an ordinary vocabulary entry instead).
  for (std::size_t id = 0; id < n; ++id) {
    const std::string& t = tokens[id];
    if (token_types[id] != kUserDefined || t.empty() || text_to_id_.count(t) == 0) continue;
    user_defined_[static_cast<unsigned char>(t[0])].push_back(text_to_id_.at(t));
  }
  for (auto& ids : user_defined_)
    std::stable_sort(ids.begin(), ids.end(), [&](int a, int b) {
      return id_to_text_[a].size() > id_to_text_[b].size();
    });
}

std::optional<int> SentencePieceBpe::id_of(const std::string& text) const {
  const auto it = text_to_id_.find(text);
  if (it == text_to_id_.end()) return std::nullopt;
  return it->second;
}

void SentencePieceBpe::encode(std::string_view text, std::vector<int>& out) const {
  std::size_t start = 0;  // of the text not yet encoded
  for (std::size_t i = 0; i < text.size();) {
    int hit = -1;
    for (const int id : user_defined_[static_cast<unsigned char>(text[i])]) {
      const std::string& t = id_to_text_[id];
      if (text.compare(i, t.size(), t) == 0) {
        hit = id;
        break;
      }
    }
    if (hit < 0) {
      ++i;
      continue;
    }
    encode_segment(text.substr(start, i - start), out);
    out.push_back(hit);
    i += id_to_text_[hit].size();
    start = i;
  }
  encode_segment(text.substr(start), out);
}

int SentencePieceBpe::merged(int a, int b) const {
  std::string s;
  s.reserve(id_to_text_[a].size() + id_to_text_[b].size());
  s += id_to_text_[a];
  s += id_to_text_[b];
  const auto it = text_to_id_.find(s);
  return it == text_to_id_.end() ? -1 : it->second;
}

void SentencePieceBpe::encode_segment(std::string_view text, std::vector<int>& out) const {
  if (text.empty()) return;
  std::string norm;
  norm.reserve(text.size() + text.size() / 2);
  for (const char c : text) {
    if (c == ' ') norm += kSpace;
    else norm += c;
  }

  struct Symbol {
    int id;
    int prev, next;
    bool alive;
  };
  std::vector<Symbol> sym;
  sym.reserve(norm.size());
  auto add = [&](int id) {
    const int k = static_cast<int>(sym.size());
    sym.push_back({id, k - 1, -1, true});
    if (k > 0) sym[k - 1].next = k;
  };
  for (std::size_t i = 0; i < norm.size();) {
    std::size_t len = utf8_sequence_length(norm, i);
    if (len == 0) {  // invalid UTF-8: the byte itself
      add(byte_id_[static_cast<unsigned char>(norm[i])]);
      ++i;
      continue;
    }
    const auto it = text_to_id_.find(std::string(norm.substr(i, len)));
    if (it != text_to_id_.end()) {
      add(it->second);
    } else {
      for (std::size_t k = 0; k < len; ++k) add(byte_id_[static_cast<unsigned char>(norm[i + k])]);
    }
    i += len;
  }

  // Best pair first: lower merged id, then longer left part (more code points), then leftmost.
  struct Cand {
    int merged_id, left_len, pos;
  };
  auto worse = [](const Cand& x, const Cand& y) {
    if (x.merged_id != y.merged_id) return x.merged_id > y.merged_id;
    if (x.left_len != y.left_len) return x.left_len < y.left_len;
    return x.pos > y.pos;
  };
  std::priority_queue<Cand, std::vector<Cand>, decltype(worse)> queue(worse);
  auto push = [&](int pos) {
    const int nx = sym[pos].next;
    if (nx < 0) return;
    const int m = merged(sym[pos].id, sym[nx].id);
    if (m >= 0) queue.push({m, n_codepoints_[sym[pos].id], pos});
  };
  for (int k = 0; k + 1 < static_cast<int>(sym.size()); ++k) push(k);
  while (!queue.empty()) {
    const Cand top = queue.top();
    queue.pop();
    Symbol& left = sym[top.pos];
    // An entry is stale once its left symbol was merged away or the pair no longer makes the
    // same token.
    if (!left.alive || left.next < 0) continue;
    Symbol& right = sym[left.next];
    if (merged(left.id, right.id) != top.merged_id) continue;
    left.id = top.merged_id;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) sym[right.next].prev = top.pos;
    if (left.prev >= 0) push(left.prev);
    push(top.pos);
  }
  for (int k = sym.empty() ? -1 : 0; k >= 0; k = sym[k].next) out.push_back(sym[k].id);
}

}  // namespace csweep::tok::detail
