// BPE training by exhaustive pair counting: the default model's vocabulary is a few hundred
// words, so recounting every pair after each merge costs milliseconds and keeps the algorithm
// obviously equal to the textbook one (and to how the tokenizer applies merges by rank).
#include "workers/train/bpe.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <fstream>

#include "core/error.hpp"
#include "core/files.hpp"

namespace csweep::train {

namespace {

// GPT-2 bytes_to_unicode(): printable bytes map to themselves, the rest to U+0100 upwards in
// byte order. Returned in GPT-2's vocabulary order (printable ranges first).
std::vector<std::pair<int, char32_t>> byte_order() {
  std::vector<std::pair<int, char32_t>> out;
  std::array<bool, 256> printable{};
  for (int b = '!'; b <= '~'; ++b) printable[b] = true;
  for (int b = 0xA1; b <= 0xAC; ++b) printable[b] = true;
  for (int b = 0xAE; b <= 0xFF; ++b) printable[b] = true;
  for (int b = 0; b < 256; ++b) {
    if (printable[b]) out.emplace_back(b, static_cast<char32_t>(b));
  }
  char32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    if (!printable[b]) out.emplace_back(b, next++);
  }
  return out;
}

const std::array<char32_t, 256>& byte_map() {
  static const std::array<char32_t, 256> m = [] {
    std::array<char32_t, 256> a{};
    for (const auto& [b, cp] : byte_order()) a[b] = cp;
    return a;
  }();
  return m;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string symbol(unsigned char b) {
  std::string s;
  append_utf8(s, byte_map()[b]);
  return s;
}

}  // namespace

std::string byte_level_text(const std::string& bytes) {
  std::string out;
  for (unsigned char b : bytes) append_utf8(out, byte_map()[b]);
  return out;
}

BpeVocab train_bpe(const std::map<std::string, long>& words, const std::vector<std::string>& specials) {
  BpeVocab v;
  for (const auto& [b, cp] : byte_order()) {
    (void)cp;
    v.id_to_token.push_back(symbol(static_cast<unsigned char>(b)));
  }
  std::vector<std::pair<std::vector<std::string>, long>> segs;
  for (const auto& [w, count] : words) {
    CSWEEP_ASSERT(!w.empty() && count > 0, "BPE word '{}' with count {}", w, count);
    std::vector<std::string> s;
    for (unsigned char b : w) s.push_back(symbol(b));
    segs.emplace_back(std::move(s), count);
  }
  for (;;) {
    std::map<std::pair<std::string, std::string>, long> pairs;
    for (const auto& [s, count] : segs) {
      for (std::size_t i = 0; i + 1 < s.size(); ++i) pairs[{s[i], s[i + 1]}] += count;
    }
    if (pairs.empty()) break;  // every word is one token
    // std::map iterates in lexicographic order, so the first maximum is the smallest pair.
    auto best = pairs.begin();
    for (auto it = pairs.begin(); it != pairs.end(); ++it) {
      if (it->second > best->second) best = it;
    }
    const auto [a, b] = best->first;
    const std::string merged = a + b;
    v.merges.emplace_back(a, b);
    v.id_to_token.push_back(merged);
    for (auto& [s, count] : segs) {
      std::vector<std::string> out;
      for (std::size_t i = 0; i < s.size(); ++i) {
        if (i + 1 < s.size() && s[i] == a && s[i + 1] == b) {
          out.push_back(merged);
          ++i;
        } else {
          out.push_back(s[i]);
        }
      }
      s = std::move(out);
    }
  }
  for (const auto& sp : specials) v.id_to_token.push_back(sp);
  return v;
}

void write_bpe(const BpeVocab& v, const std::string& dir) {
  // Written with ids in order so the file reads like GPT-2's encoder.json.
  std::string vocab = "{";
  for (std::size_t i = 0; i < v.id_to_token.size(); ++i) {
    vocab += (i ? ", " : "") + nlohmann::json(v.id_to_token[i]).dump() + ": " + std::to_string(i);
  }
  vocab += "}\n";
  write_file_atomic(dir + "/vocab.json", vocab);
  std::string merges = "#version: 0.2\n";
  for (const auto& [a, b] : v.merges) merges += a + " " + b + "\n";
  write_file_atomic(dir + "/merges.txt", merges);
}

}  // namespace csweep::train
