#pragma once
// Metrics from answer-position logits: logit difference, performance, normalised LD,
// KL(clean || intervened), p(correct), top-1 accuracy, greater-than probability difference.
//
// One evaluation batch holds n interventions over the same B prompts:
//   logits [n, B, d_vocab]  (full vocabulary: every metric available), or
//   logits [n, B, 2]        (columns = correct, incorrect: logit-difference metrics only).
// Dimension names: n (intervention), batch (prompt), d_vocab.
#include <torch/torch.h>

#include <vector>

#include "workers/metrics/metric_row.hpp"

namespace csweep::metrics {

// What a batch must produce. Logit-difference metrics (LD, performance, normalised) need only
// the two answer columns; everything else needs the full vocabulary at the answer position.
struct MetricSet {
  std::vector<Metric> metrics;     // empty = all that apply to the task
  bool per_prompt_logit_diff = false;
  bool needs_full_vocab() const;   // true when any metric other than the LD family is asked
  bool has(Metric m) const;        // empty set => true
};

// Per-dataset reference quantities every intervention is measured against. Built once per
// (model, task, corruption) from the clean and corrupted answer-position logits.
struct MetricContext {
  torch::Tensor correct;          // [batch] int64 token ids
  torch::Tensor incorrect;        // [batch] int64
  torch::Tensor clean_logprobs;   // [batch, d_vocab] float32 log-softmax of the clean run
  torch::Tensor year_ids;         // [n_years] int64 ids of "00".."99" (greater-than), undefined else
  torch::Tensor year_values;      // [n_years] int64 the year each id stands for (0..99)
  torch::Tensor yy;               // [batch] int64 greater-than start year, undefined else
  double clean_logit_diff = 0;    // mean over prompts
  double corrupted_logit_diff = 0;
};

// Per-prompt logit difference: logits [..., batch, V or 2] -> [..., batch].
torch::Tensor logit_diff(const torch::Tensor& logits, const MetricContext& ctx, bool two_columns);

// Builds ctx from clean and corrupted answer-position logits ([batch, d_vocab]); also fills the
// baseline (clean/corrupted LD and accuracy, clean p(correct)).
MetricContext make_context(const torch::Tensor& clean_logits, const torch::Tensor& corrupted_logits,
                           const torch::Tensor& correct, const torch::Tensor& incorrect,
                           const torch::Tensor& year_ids, const torch::Tensor& year_values,
                           const torch::Tensor& yy, Baseline* baseline);

// One MetricRow per intervention. `two_columns` says logits are [n, batch, 2]; then only the
// LD family is filled (the other fields stay 0). Metrics not in `want` are left 0.
std::vector<MetricRow> compute_rows(const torch::Tensor& logits, bool two_columns,
                                    const MetricContext& ctx, const MetricSet& want);

}  // namespace csweep::metrics
