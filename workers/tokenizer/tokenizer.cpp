#include "workers/tokenizer/tokenizer.hpp"

#include <fmt/format.h>

#include <array>
#include <limits>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include "core/error.hpp"
#include "workers/tokenizer/byte_level.hpp"
#include "workers/tokenizer/pretokenizer.hpp"
#include "workers/tokenizer/sentencepiece_bpe.hpp"
#include "workers/tokenizer/tables.hpp"

namespace csweep::tok {
namespace {

// The word cache is cleared when it reaches this many entries, bounding memory on huge corpora
// while prompt sets (a few thousand distinct words) stay fully cached.
constexpr std::size_t kMaxCachedWords = 1 << 18;

std::uint64_t pair_key(int a, int b) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) |
         static_cast<std::uint32_t>(b);
}

struct Merge {
  int rank;
  int merged_id;
};

// Files and GGUF tables without explicit bos/eos roles: the conventional special-token pairs.
void guess_bos_eos(detail::Tables& t) {
  static const std::array<std::pair<const char*, const char*>, 3> kConventions = {{
      {"<|endoftext|>", "<|endoftext|>"},  // GPT-2: one token for both
      {"<s>", "</s>"},
      {"<|begin_of_text|>", "<|end_of_text|>"},
  }};
  for (const auto& [bos, eos] : kConventions) {
    const auto b = t.specials.find(bos);
    const auto e = t.specials.find(eos);
    if (b != t.specials.end() && e != t.specials.end()) {
      if (!t.bos) t.bos = b->second;
      if (!t.eos) t.eos = e->second;
      return;
    }
  }
}

}  // namespace

struct Tokenizer::Impl {
  std::vector<std::string> id_to_token;
  std::vector<std::string> id_to_bytes;  // decoded form of every id
  std::unordered_map<std::string, int> token_to_id;
  std::unordered_map<std::uint64_t, Merge> merges;
  std::array<int, 256> byte_id{};  // token of each single byte, -1 if the vocab lacks it
  std::map<std::string, int> specials;
  std::optional<int> bos, eos;
  bool add_prefix_space = false;
  bool ignore_merges = false;
  PreTokenizer pre;
  std::string source;
  std::unique_ptr<detail::Splitter> splitter;         // byte-level BPE
  std::unique_ptr<detail::SentencePieceBpe> spm;      // SentencePiece BPE (the tables above unused)

  mutable std::shared_mutex cache_mutex;
  mutable std::unordered_map<std::string, std::vector<int>> cache;

  explicit Impl(detail::Tables&& t)
      : id_to_token(std::move(t.id_to_token)),
        specials(t.specials),
        bos(t.bos),
        eos(t.eos),
        add_prefix_space(t.add_prefix_space),
        ignore_merges(t.ignore_merges),
        pre(t.pre),
        source(std::move(t.source)),
        splitter(std::make_unique<detail::Splitter>(t.pre)) {
    if (!bos || !eos) {
      guess_bos_eos(t);
      bos = t.bos;
      eos = t.eos;
    }
    build(t);
  }

  Impl(std::unique_ptr<detail::SentencePieceBpe> bpe, std::map<std::string, int> specials_,
       std::optional<int> bos_, std::optional<int> eos_, std::string source_)
      : specials(std::move(specials_)),
        bos(bos_),
        eos(eos_),
        pre(PreTokenizer::kSentencePiece),
        source(std::move(source_)),
        spm(std::move(bpe)) {
    const int n = spm->vocab_size();
    for (const auto& [name, id] : specials)
      CSWEEP_CHECK_INPUT(id >= 0 && id < n, "{}: special token {:?} has id {} outside the "
                         "vocabulary [0, {})", source, name, id, n);
    for (const auto* role : {&bos, &eos})
      if (*role)
        CSWEEP_CHECK_INPUT(**role >= 0 && **role < n, "{}: bos/eos id {} outside the vocabulary "
                           "[0, {})", source, **role, n);
  }

  void build(const detail::Tables& t) {
    CSWEEP_CHECK_INPUT(!id_to_token.empty(), "{}: the vocabulary is empty", source);
    CSWEEP_CHECK_INPUT(id_to_token.size() <= static_cast<std::size_t>(std::numeric_limits<int>::max()),
                       "{}: vocabulary too large ({} ids)", source, id_to_token.size());
    id_to_bytes.resize(id_to_token.size());
    token_to_id.reserve(id_to_token.size() * 2);
    for (std::size_t id = 0; id < id_to_token.size(); ++id) {
      const std::string& text = id_to_token[id];
      if (text.empty()) continue;  // unused id
      const int iid = static_cast<int>(id);
      const bool verbatim = t.verbatim_ids.count(iid) > 0;
      id_to_bytes[id] = verbatim ? text : detail::token_text_to_bytes(text);
      const auto [it, inserted] = token_to_id.emplace(text, iid);
      // A repeated text (possible in GGUF tables, e.g. an added token that repeats a vocabulary
      // entry) keeps its first ordinary id for BPE; every id still decodes.
      if (!inserted && t.verbatim_ids.count(it->second) > 0 && !verbatim) it->second = iid;
    }
    for (const auto& [name, id] : specials) {
      CSWEEP_CHECK_INPUT(id >= 0 && static_cast<std::size_t>(id) < id_to_token.size(),
                         "{}: special token {:?} has id {} outside the vocabulary [0, {})", source,
                         name, id, id_to_token.size());
    }
    for (const auto* role : {&bos, &eos}) {
      if (*role) {
        CSWEEP_CHECK_INPUT(**role >= 0 && static_cast<std::size_t>(**role) < id_to_token.size(),
                           "{}: bos/eos id {} outside the vocabulary [0, {})", source, **role,
                           id_to_token.size());
      }
    }
    const auto& cps = detail::byte_to_codepoint();
    for (int b = 0; b < 256; ++b) {
      std::string s;
      detail::append_utf8(s, cps[b]);
      const auto it = token_to_id.find(s);
      byte_id[b] = it == token_to_id.end() ? -1 : it->second;
    }
    merges.reserve(t.merges.size() * 2);
    for (std::size_t r = 0; r < t.merges.size(); ++r) {
      const auto& [a, b] = t.merges[r];
      const auto where = [&] {
        return t.merge_where ? t.merge_where(r) : fmt::format("{} merge #{}", source, r);
      };
      const auto ia = token_to_id.find(a);
      const auto ib = token_to_id.find(b);
      const auto im = token_to_id.find(a + b);
      for (const auto& [it, what] : {std::pair{ia, a}, std::pair{ib, b}, std::pair{im, a + b}}) {
        if (it == token_to_id.end()) {
          throw input_error(where(), fmt::format("merge {:?} uses a token not in the vocabulary",
                                                 a + " " + b),
                            fmt::format("{:?}", what), "a vocabulary token");
        }
      }
      // A repeated pair keeps its first (best) rank, as a rank lookup table would.
      merges.emplace(pair_key(ia->second, ib->second),
                     Merge{static_cast<int>(r), im->second});
    }
  }

  // BPE of one pre-token (raw bytes), appended to out.
  void encode_word(std::string_view word, std::vector<int>& out) const {
    {
      std::shared_lock lock(cache_mutex);
      const auto it = cache.find(std::string(word));
      if (it != cache.end()) {
        out.insert(out.end(), it->second.begin(), it->second.end());
        return;
      }
    }
    std::vector<int> ids = bpe(word);
    out.insert(out.end(), ids.begin(), ids.end());
    std::unique_lock lock(cache_mutex);
    if (cache.size() >= kMaxCachedWords) cache.clear();
    cache.emplace(std::string(word), std::move(ids));
  }

  std::vector<int> bpe(std::string_view word) const {
    if (ignore_merges) {
      const auto it = token_to_id.find(detail::bytes_to_token_text(word));
      if (it != token_to_id.end()) return {it->second};
    }
    std::vector<int> sym;
    sym.reserve(word.size());
    for (unsigned char b : word) {
      if (byte_id[b] < 0) {
        throw input_error(source, "the vocabulary has no token for a byte of the text",
                          fmt::format("byte 0x{:02X}", b), "all 256 byte tokens");
      }
      sym.push_back(byte_id[b]);
    }
    // GPT-2's loop: merge every occurrence of the best-ranked adjacent pair, left to right,
    // until no adjacent pair has a rank. Words are short, so the quadratic scan is cheap.
    std::vector<int> next;
    while (sym.size() > 1) {
      int best_rank = std::numeric_limits<int>::max();
      std::uint64_t best_key = 0;
      int best_merged = -1;
      for (std::size_t i = 0; i + 1 < sym.size(); ++i) {
        const auto it = merges.find(pair_key(sym[i], sym[i + 1]));
        if (it != merges.end() && it->second.rank < best_rank) {
          best_rank = it->second.rank;
          best_key = it->first;
          best_merged = it->second.merged_id;
        }
      }
      if (best_merged < 0) break;
      next.clear();
      for (std::size_t i = 0; i < sym.size(); ++i) {
        if (i + 1 < sym.size() && pair_key(sym[i], sym[i + 1]) == best_key) {
          next.push_back(best_merged);
          ++i;
        } else {
          next.push_back(sym[i]);
        }
      }
      sym.swap(next);
    }
    return sym;
  }
};

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::load(const std::string& path) {
  return Tokenizer(std::make_unique<Impl>(detail::load_tables(path)));
}

Tokenizer Tokenizer::from_tables(std::vector<std::string> id_to_token,
                                 std::vector<std::pair<std::string, std::string>> merges,
                                 PreTokenizer pre, std::map<std::string, int> special_tokens,
                                 const std::string& source, std::optional<int> bos,
                                 std::optional<int> eos) {
  detail::Tables t;
  t.id_to_token = std::move(id_to_token);
  t.merges = std::move(merges);
  t.pre = pre;
  t.source = source;
  for (const auto& [text, id] : special_tokens) {
    // Specials are plain UTF-8 text, like HF's added tokens, so they decode verbatim; an id
    // the table leaves empty takes the special's text. A special whose id holds some other
    // token is only a name for that id.
    if (id >= 0 && static_cast<std::size_t>(id) < t.id_to_token.size()) {
      if (t.id_to_token[id].empty()) t.id_to_token[id] = text;
      if (t.id_to_token[id] == text) t.verbatim_ids.insert(id);
    }
  }
  t.specials = std::move(special_tokens);
  t.bos = bos;
  t.eos = eos;
  return Tokenizer(std::make_unique<Impl>(std::move(t)));
}

Tokenizer Tokenizer::from_sentencepiece(std::vector<std::string> tokens,
                                        const std::vector<int>& token_types,
                                        const std::string& source, std::optional<int> bos,
                                        std::optional<int> eos) {
  std::map<std::string, int> specials;
  for (std::size_t id = 0; id < tokens.size() && id < token_types.size(); ++id)
    if (token_types[id] == 3 && !tokens[id].empty())  // CONTROL
      specials.emplace(tokens[id], static_cast<int>(id));
  auto bpe = std::make_unique<detail::SentencePieceBpe>(std::move(tokens), token_types, source);
  return Tokenizer(std::make_unique<Impl>(std::move(bpe), std::move(specials), bos, eos, source));
}

std::vector<int> Tokenizer::encode(std::string_view text) const {
  if (impl_->spm) {
    std::vector<int> ids;
    impl_->spm->encode(text, ids);
    return ids;
  }
  std::string prefixed;
  if (impl_->add_prefix_space && !text.empty() && text.front() != ' ') {
    prefixed = " ";
    prefixed.append(text);
    text = prefixed;
  }
  std::vector<std::string_view> pieces;
  impl_->splitter->split(text, pieces);
  std::vector<int> ids;
  ids.reserve(text.size() / 3 + 1);
  for (const auto piece : pieces) impl_->encode_word(piece, ids);
  return ids;
}

std::string Tokenizer::decode(const std::vector<int>& ids) const {
  std::string out;
  for (const int id : ids) out += decode_token(id);
  return out;
}

std::string Tokenizer::decode_token(int id) const {
  if (impl_->spm) {
    if (id < 0 || id >= impl_->spm->vocab_size())
      throw input_error(impl_->source, "token id not in the vocabulary", std::to_string(id),
                        fmt::format("an id in [0, {})", impl_->spm->vocab_size()));
    return impl_->spm->token_bytes(id);
  }
  if (id < 0 || static_cast<std::size_t>(id) >= impl_->id_to_token.size() ||
      impl_->id_to_token[id].empty()) {
    throw input_error(impl_->source, "token id not in the vocabulary", std::to_string(id),
                      fmt::format("a used id in [0, {})", impl_->id_to_token.size()));
  }
  return impl_->id_to_bytes[id];
}

int Tokenizer::vocab_size() const {
  return impl_->spm ? impl_->spm->vocab_size() : static_cast<int>(impl_->id_to_token.size());
}

std::optional<int> Tokenizer::single_token_id(std::string_view text) const {
  const auto ids = encode(text);
  if (ids.size() != 1) return std::nullopt;
  return ids[0];
}

std::optional<int> Tokenizer::bos_id() const { return impl_->bos; }
std::optional<int> Tokenizer::eos_id() const { return impl_->eos; }

std::optional<int> Tokenizer::special_id(std::string_view text) const {
  const auto it = impl_->specials.find(std::string(text));
  if (it == impl_->specials.end()) return std::nullopt;
  return it->second;
}

PreTokenizer Tokenizer::pre_tokenizer() const { return impl_->pre; }
const std::string& Tokenizer::source() const { return impl_->source; }

}  // namespace csweep::tok
