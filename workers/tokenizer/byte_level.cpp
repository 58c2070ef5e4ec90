#include "workers/tokenizer/byte_level.hpp"

#include <unordered_map>

namespace csweep::tok::detail {

const std::array<char32_t, 256>& byte_to_codepoint() {
  static const std::array<char32_t, 256> table = [] {
    std::array<char32_t, 256> t{};
    std::array<bool, 256> printable{};
    // The byte ranges GPT-2 keeps as themselves: '!'..'~', '¡'..'¬', '®'..'ÿ'.
    for (int b = 0x21; b <= 0x7E; ++b) printable[b] = true;
    for (int b = 0xA1; b <= 0xAC; ++b) printable[b] = true;
    for (int b = 0xAE; b <= 0xFF; ++b) printable[b] = true;
    char32_t next = 0x100;
    for (int b = 0; b < 256; ++b) t[b] = printable[b] ? static_cast<char32_t>(b) : next++;
    return t;
  }();
  return table;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string bytes_to_token_text(std::string_view bytes) {
  const auto& table = byte_to_codepoint();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) append_utf8(out, table[b]);
  return out;
}

std::size_t utf8_sequence_length(std::string_view s, std::size_t pos) {
  const auto at = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const std::size_t left = s.size() - pos;
  const unsigned char c = at(pos);
  if (c < 0x80) return 1;
  const auto cont = [&](std::size_t i) { return (at(i) & 0xC0) == 0x80; };
  if (c >= 0xC2 && c <= 0xDF) return left >= 2 && cont(pos + 1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (left < 3 || !cont(pos + 1) || !cont(pos + 2)) return 0;
    const unsigned char c1 = at(pos + 1);
    if (c == 0xE0 && c1 < 0xA0) return 0;  // overlong
    if (c == 0xED && c1 >= 0xA0) return 0;  // UTF-16 surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (left < 4 || !cont(pos + 1) || !cont(pos + 2) || !cont(pos + 3)) return 0;
    const unsigned char c1 = at(pos + 1);
    if (c == 0xF0 && c1 < 0x90) return 0;  // overlong
    if (c == 0xF4 && c1 >= 0x90) return 0;  // > U+10FFFF
    return 4;
  }
  return 0;
}

std::string token_text_to_bytes(std::string_view token_text) {
  static const std::unordered_map<char32_t, unsigned char> inverse = [] {
    std::unordered_map<char32_t, unsigned char> m;
    const auto& table = byte_to_codepoint();
    for (int b = 0; b < 256; ++b) m.emplace(table[b], static_cast<unsigned char>(b));
    return m;
  }();
  std::string out;
  out.reserve(token_text.size());
  std::size_t pos = 0;
  while (pos < token_text.size()) {
    const std::size_t n = utf8_sequence_length(token_text, pos);
    if (n == 0) {  // not UTF-8: keep the byte as it is
      out += token_text[pos++];
      continue;
    }
    char32_t cp = static_cast<unsigned char>(token_text[pos]);
    if (n > 1) {
      cp &= (0xFF >> (n + 1));
      for (std::size_t i = 1; i < n; ++i)
        cp = (cp << 6) | (static_cast<unsigned char>(token_text[pos + i]) & 0x3F);
    }
    const auto it = inverse.find(cp);
    if (it != inverse.end()) {
      out += static_cast<char>(it->second);
    } else {
      out.append(token_text.substr(pos, n));
    }
    pos += n;
  }
  return out;
}

}  // namespace csweep::tok::detail
