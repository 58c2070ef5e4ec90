// BPE training by exhaustive pair counting: the default model's vocabulary is a few hundred
// words, so recounting every pair after each merge costs milliseconds and keeps the algorithm
// obviously equal to the textbook one (and to how the tokenizer applies merges by rank).
#include "workers/train/bpe.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <fstream>
#include <numeric>

#include "core/error.hpp"
#include "core/files.hpp"
#include "workers/tokenizer/byte_level.hpp"

namespace csweep::train {

namespace {

// The byte-level token of one raw byte.
std::string symbol(unsigned char b) {
  std::string s;
  tok::detail::append_utf8(s, tok::detail::byte_to_codepoint()[b]);
  return s;
}

// The 256 byte tokens in GPT-2's vocabulary order. bytes_to_unicode() maps printable bytes to
// themselves and the rest to U+0100 upwards, and GPT-2 lists the byte tokens by code point, so
// printable bytes come first.
std::vector<std::string> byte_tokens() {
  const auto& cp = tok::detail::byte_to_codepoint();
  std::array<int, 256> order{};
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return cp[a] < cp[b]; });
  std::vector<std::string> out;
  for (int b : order) out.push_back(symbol(static_cast<unsigned char>(b)));
  return out;
}

}  // namespace

std::string byte_level_text(const std::string& bytes) {
  return tok::detail::bytes_to_token_text(bytes);
}

BpeVocab train_bpe(const std::map<std::string, long>& words, const std::vector<std::string>& specials) {
  BpeVocab v;
  v.id_to_token = byte_tokens();
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
