#pragma once
// Byte-level helpers shared by the tokenizer's parts and the BPE trainer (workers/train).
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace csweep::tok::detail {

// GPT-2's bytes_to_unicode(): every byte maps to one printable code point, so that BPE tokens
// are ordinary strings ("Ġthe" for " the"). Printable Latin-1 bytes map to themselves; the other
// 68 bytes map to U+0100.. in byte order.
const std::array<char32_t, 256>& byte_to_codepoint();

// The byte-level unicode form (UTF-8) of raw bytes: " the" -> "Ġthe".
std::string bytes_to_token_text(std::string_view bytes);

// Inverse of bytes_to_token_text for one token. Code points outside the byte map (e.g. in added
// tokens written as plain text) are kept as their UTF-8 bytes, as HF's ByteLevel decoder does.
std::string token_text_to_bytes(std::string_view token_text);

// Appends the UTF-8 encoding of cp.
void append_utf8(std::string& out, char32_t cp);

// Length (1..4) of the well-formed UTF-8 sequence starting at s[pos], or 0 if the bytes there are
// not one (stray continuation byte, overlong form, surrogate, > U+10FFFF, truncated sequence).
std::size_t utf8_sequence_length(std::string_view s, std::size_t pos);

}  // namespace csweep::tok::detail
