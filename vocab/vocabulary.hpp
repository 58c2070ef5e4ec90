#pragma once
// Vocabulary<E>: one closed set of names for the values of an enum — the canonical spelling
// (written into results, logs and error messages), accepted aliases, and a one-line meaning.
// Every parser of the project (job specs, CLI flags, HDF5 readers) looks names up here, so a
// spelling accepted in one place is accepted everywhere, and an unknown one is refused with the
// full list of what is accepted.
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.hpp"

namespace csweep::vocab {

template <class E>
struct Term {
  E value;
  std::string name;                  // canonical spelling
  std::vector<std::string> aliases;  // other accepted spellings (never written back)
  std::string doc;                   // one line: what the value means
};

template <class E>
class Vocabulary {
 public:
  // `what` names the vocabulary in errors, e.g. "ablation kind".
  Vocabulary(std::string what, std::vector<Term<E>> terms)
      : what_(std::move(what)), terms_(std::move(terms)) {}

  const std::string& what() const { return what_; }
  const std::vector<Term<E>>& terms() const { return terms_; }

  // The value spelled `text` (canonical or alias), or nullopt. Exact, case-sensitive match:
  // names end up as HDF5 attribute values, where "Mean" and "mean" would be two experiments.
  std::optional<E> find(std::string_view text) const {
    for (const auto& t : terms_) {
      if (text == t.name) return t.value;
      for (const auto& a : t.aliases)
        if (text == a) return t.value;
    }
    return std::nullopt;
  }

  // Like find, but throws InputError "<where>: unknown <what> (got 'x', expected one of ...)".
  // `where` names the file:line and key or the flag; empty = the vocabulary's name alone.
  E parse(std::string_view text, const std::string& where = {}) const {
    if (auto v = find(text)) return *v;
    throw input_error(where.empty() ? what_ : where, "unknown " + what_,
                      "'" + std::string(text) + "'", expected());
  }

  // Canonical spelling of `v`. A value without a term is a bug in this table.
  const std::string& name(E v) const {
    for (const auto& t : terms_)
      if (t.value == v) return t.name;
    CSWEEP_ASSERT(false, "{}: value {} has no name", what_, static_cast<long long>(v));
    return terms_.front().name;  // unreachable
  }

  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& t : terms_) out.push_back(t.name);
    return out;
  }

  // Every accepted spelling, canonical names first (in table order), then aliases.
  std::vector<std::string> spellings() const {
    std::vector<std::string> out = names();
    for (const auto& t : terms_) out.insert(out.end(), t.aliases.begin(), t.aliases.end());
    return out;
  }

  // "one of zero, mean, ... (aliases: patch = patch_corrupt_into_clean)" for error messages.
  std::string expected() const {
    std::string s = "one of ", al;
    for (std::size_t i = 0; i < terms_.size(); ++i) {
      s += (i ? ", " : "") + terms_[i].name;
      for (const auto& a : terms_[i].aliases) al += (al.empty() ? "" : ", ") + a + " = " + terms_[i].name;
    }
    if (!al.empty()) s += " (aliases: " + al + ")";
    return s;
  }

 private:
  std::string what_;
  std::vector<Term<E>> terms_;
};

}  // namespace csweep::vocab
