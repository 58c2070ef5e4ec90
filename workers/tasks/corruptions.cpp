// Corruptions: pure functions of (clean dataset, seed). Each changes only the fields (members),
// then re-renders text, tokens and positions from them, so fields and text always agree (the
// reference study's randAll data disagreed on ~38 % of rows; a unit test checks every row here).
// Answers (correct/incorrect, yy) stay the clean prompt's: the metric compares the same two
// tokens on the clean and the corrupted run.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "core/error.hpp"
#include "workers/tasks/rng.hpp"
#include "workers/tasks/task.hpp"
#include "workers/tasks/task_internal.hpp"
#include "workers/tokenizer/tokenizer.hpp"

namespace csweep::tasks {

namespace {

int member_index(const std::vector<std::string>& all, const std::string& m, const std::string& task) {
  auto it = std::find(all.begin(), all.end(), m);
  CSWEEP_ASSERT(it != all.end(), "member '{}' is not a {} member", m, task);
  return static_cast<int>(it - all.begin());
}

// New members for one sequence prompt.
std::vector<std::string> corrupt_sequence(const std::vector<std::string>& members,
                                          const std::string& corruption,
                                          const std::vector<std::string>& all, Rng& rng) {
  const int k = static_cast<int>(members.size());
  const int n = static_cast<int>(all.size());
  std::vector<std::string> out = members;
  if (corruption == "randAll") {
    for (auto& m : out) m = all[rng.below(n)];
  } else if (corruption == "switchLastTwo") {
    std::swap(out[k - 1], out[k - 2]);
  } else if (corruption == "repeatLastTwo") {
    // ... x3 x4 x3 x4: the last two shown, alternating so that the last slot keeps x_k.
    for (int i = 0; i < k; ++i) out[i] = ((k - 1 - i) % 2 == 0) ? members[k - 1] : members[k - 2];
  } else if (corruption == "repeatFirstAll") {
    for (auto& m : out) m = members[0];
  } else if (corruption == "repeatRand") {
    const std::string r = all[rng.below(n)];
    for (auto& m : out) m = r;
  } else if (corruption == "permutation") {
    // Members of a clean sequence are distinct, so any non-identity order changes the text.
    std::vector<int> order(k);
    for (int i = 0; i < k; ++i) order[i] = i;
    bool identity = true;
    while (identity) {
      rng.shuffle(order);
      identity = std::is_sorted(order.begin(), order.end());
    }
    for (int i = 0; i < k; ++i) out[i] = members[order[i]];
  } else {
    CSWEEP_ASSERT(false, "unhandled corruption {}", corruption);
  }
  return out;
}

}  // namespace

Dataset corrupt(const Dataset& clean, const std::string& corruption, std::uint64_t seed,
                const tok::Tokenizer& tok) {
  const auto names = corruption_names(clean.task);
  if (std::find(names.begin(), names.end(), corruption) == names.end()) {
    throw input_error("corruption", fmt::format("not defined for task '{}'", clean.task),
                      "'" + corruption + "'", fmt::format("one of {}", fmt::join(names, ", ")));
  }
  if (!clean.corruption.empty()) {
    throw input_error("corruption", "the dataset is already corrupted",
                      "'" + clean.corruption + "'", "a clean dataset");
  }
  Dataset out = clean;
  out.corruption = corruption;
  Rng rng(seed, detail::name_stream("corruption/" + corruption));

  if (is_sequence_task(clean.task)) {
    // The dataset's pool: members excluded for the tokenizer must not come back here.
    const auto& all = clean.member_pool.empty() ? sequence_members(clean.task) : clean.member_pool;
    for (auto& p : out.prompts) {
      for (const auto& m : p.members) member_index(all, m, clean.task);
      p.members = corrupt_sequence(p.members, corruption, all, rng);
    }
  } else if (clean.task == "greater_than") {
    for (auto& p : out.prompts) p.members[1] = "01";
  } else if (clean.task == "ioi") {
    const auto pool = detail::single_token_words("ioi_names", false, tok, 3);
    for (auto& p : out.prompts) {
      const auto three = rng.distinct(static_cast<int>(pool.size()), 3);
      p.members = {pool[three[0]], pool[three[1]], pool[three[2]]};
    }
  } else if (clean.task == "custom") {
    if (clean.alt_texts.empty()) {
      throw input_error("corruption 'custom'", "the JSONL file has no 'corrupted' prompts", "",
                        "a 'corrupted' field on every line");
    }
    for (std::size_t i = 0; i < out.prompts.size(); ++i) out.prompts[i].fillers = {clean.alt_texts[i]};
    out.alt_texts.clear();
  }
  for (auto& p : out.prompts) {
    const auto before = p.tokens.size();
    detail::finalize(p, clean.task, tok, clean.bos_id);
    // Patching aligns positions between the clean and the corrupted run.
    CSWEEP_ASSERT(p.tokens.size() == before, "corruption {} changed a prompt's length ({} -> {}): '{}'",
                  corruption, before, p.tokens.size(), p.text);
  }
  return out;
}

}  // namespace csweep::tasks
