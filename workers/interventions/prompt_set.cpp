#include "workers/interventions/prompt_set.hpp"

#include <fmt/format.h>

#include <set>

#include "core/error.hpp"
#include "workers/tasks/task.hpp"

namespace csweep::interv {

namespace {

torch::Tensor padded(const tasks::Dataset& ds, int64_t seq_len, int pad_id) {
  const int64_t B = static_cast<int64_t>(ds.prompts.size());
  auto t = torch::full({B, seq_len}, static_cast<int64_t>(pad_id), torch::kLong);
  auto acc = t.accessor<int64_t, 2>();
  for (int64_t b = 0; b < B; ++b) {
    const auto& toks = ds.prompts[static_cast<size_t>(b)].tokens;
    for (size_t p = 0; p < toks.size(); ++p) acc[b][static_cast<int64_t>(p)] = toks[p];
  }
  return t;
}

}  // namespace

PromptSet PromptSet::from_datasets(const tasks::Dataset& clean, const tasks::Dataset& corrupted,
                                   int pad_id) {
  const size_t B = clean.prompts.size();
  CSWEEP_CHECK_INPUT(B > 0, "dataset '{}' has no prompts", clean.task);
  CSWEEP_CHECK_INPUT(corrupted.prompts.size() == B,
                     "corrupted dataset '{}' has {} prompts, expected {} (the clean dataset's)",
                     corrupted.corruption, corrupted.prompts.size(), B);
  const int64_t P = std::max(clean.max_length(), corrupted.max_length());
  PromptSet s;
  s.clean_tokens = padded(clean, P, pad_id);
  s.corrupted_tokens = padded(corrupted, P, pad_id);
  s.answer_pos = torch::empty({static_cast<int64_t>(B)}, torch::kLong);
  s.correct = torch::empty_like(s.answer_pos);
  s.incorrect = torch::empty_like(s.answer_pos);
  s.group = torch::empty_like(s.answer_pos);
  std::set<std::string> names;
  for (const auto& p : clean.prompts) {
    for (const auto& kv : p.positions) names.insert(kv.first);
  }
  for (const auto& n : names) s.named_positions[n] = torch::full({static_cast<int64_t>(B)}, -1L, torch::kLong);
  bool gt = !clean.year_ids.empty();
  if (gt) s.yy = torch::empty_like(s.answer_pos);
  int max_group = 0;
  for (size_t i = 0; i < B; ++i) {
    const auto& p = clean.prompts[i];
    const auto& c = corrupted.prompts[i];
    const int64_t b = static_cast<int64_t>(i);
    CSWEEP_CHECK_INPUT(p.tokens.size() == c.tokens.size(),
                       "prompt {}: clean ({} tokens) and corrupted ({} tokens) lengths differ; "
                       "activations could not be aligned position by position",
                       i, p.tokens.size(), c.tokens.size());
    CSWEEP_CHECK_INPUT(p.correct_id >= 0 && p.incorrect_id >= 0,
                       "prompt {}: answers '{}' / '{}' are not single tokens", i, p.correct,
                       p.incorrect);
    s.answer_pos[b] = static_cast<int64_t>(p.answer_pos());
    s.correct[b] = static_cast<int64_t>(p.correct_id);
    s.incorrect[b] = static_cast<int64_t>(p.incorrect_id);
    s.group[b] = static_cast<int64_t>(p.group);
    max_group = std::max(max_group, p.group);
    for (const auto& kv : p.positions) s.named_positions[kv.first][b] = static_cast<int64_t>(kv.second);
    if (gt) s.yy[b] = static_cast<int64_t>(p.yy);
  }
  s.n_groups = std::max<int>(max_group + 1, static_cast<int>(clean.group_names.size()));
  if (gt) {
    std::vector<int64_t> ids, values;
    for (size_t y = 0; y < clean.year_ids.size(); ++y) {
      if (clean.year_ids[y] < 0) continue;  // a year that is not one token cannot be predicted
      ids.push_back(clean.year_ids[y]);
      values.push_back(static_cast<int64_t>(y));
    }
    s.year_ids = torch::tensor(ids, torch::kLong);
    s.year_values = torch::tensor(values, torch::kLong);
  }
  s.validate();
  return s;
}

void PromptSet::validate() const {
  CSWEEP_ASSERT(clean_tokens.dim() == 2 && corrupted_tokens.sizes() == clean_tokens.sizes(),
                "tokens must be [batch, pos] and equal-shaped");
  const int64_t B = batch(), P = seq_len();
  for (const auto* t : {&answer_pos, &correct, &incorrect, &group}) {
    CSWEEP_ASSERT(t->defined() && t->dim() == 1 && t->size(0) == B, "per-prompt field must be [{}]", B);
  }
  CSWEEP_ASSERT(answer_pos.min().item<int64_t>() >= 0 && answer_pos.max().item<int64_t>() < P,
                "answer positions outside [0, {})", P);
  CSWEEP_ASSERT(group.min().item<int64_t>() >= 0 && group.max().item<int64_t>() < n_groups,
                "group ids outside [0, {})", n_groups);
}

torch::Tensor resolve_positions(const Positions& pos, const PromptSet& set) {
  if (pos.all()) return {};
  const int64_t B = set.batch(), P = set.seq_len();
  auto mask = torch::zeros({B, P}, torch::kBool);
  auto m = mask.accessor<bool, 2>();
  const auto ans = set.answer_pos.cpu();
  const auto* a = ans.data_ptr<int64_t>();
  for (int idx : pos.indices) {
    bool any = false;
    for (int64_t b = 0; b < B; ++b) {
      const int64_t p = idx >= 0 ? idx : a[b] + 1 + idx;
      if (p < 0 || p > a[b]) continue;  // outside this prompt's real tokens
      m[b][p] = true;
      any = true;
    }
    CSWEEP_CHECK_INPUT(any, "position index {} lies outside every prompt (lengths up to {})", idx, P);
  }
  for (const auto& name : pos.names) {
    auto it = set.named_positions.find(name);
    if (it == set.named_positions.end()) {
      std::string known;
      for (const auto& kv : set.named_positions) known += (known.empty() ? "" : ", ") + kv.first;
      throw input_error("positions", "unknown named position", "'" + name + "'", "one of " + known);
    }
    const auto np = it->second.cpu();
    const auto* v = np.data_ptr<int64_t>();
    for (int64_t b = 0; b < B; ++b) {
      if (v[b] >= 0 && v[b] < P) m[b][v[b]] = true;
    }
  }
  return mask;
}

}  // namespace csweep::interv
