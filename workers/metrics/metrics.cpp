#include "workers/metrics/metrics.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "workers/model/kernels.hpp"

namespace csweep::metrics {

bool MetricSet::has(Metric m) const {
  return metrics.empty() || std::find(metrics.begin(), metrics.end(), m) != metrics.end();
}

bool MetricSet::needs_full_vocab() const {
  if (metrics.empty()) return true;
  for (Metric m : metrics) {
    if (m != Metric::kLogitDiff && m != Metric::kPerformance && m != Metric::kNormalized) return true;
  }
  return false;
}

torch::Tensor logit_diff(const torch::Tensor& logits, const MetricContext& ctx, bool two_columns) {
  if (two_columns) return logits.select(-1, 0) - logits.select(-1, 1);
  // Gather each prompt's two answer columns; ids broadcast over leading (intervention) dims.
  const auto batch = ctx.correct.size(0);
  std::vector<int64_t> shape(logits.dim() - 1, 1);
  shape[shape.size() - 1] = batch;
  std::vector<int64_t> expand(logits.sizes().begin(), logits.sizes().end() - 1);
  expand.push_back(1);
  const auto c = ctx.correct.to(logits.device()).view(shape).unsqueeze(-1).expand(expand);
  const auto i = ctx.incorrect.to(logits.device()).view(shape).unsqueeze(-1).expand(expand);
  return (logits.gather(-1, c) - logits.gather(-1, i)).squeeze(-1);
}

MetricContext make_context(const torch::Tensor& clean_logits, const torch::Tensor& corrupted_logits,
                           const torch::Tensor& correct, const torch::Tensor& incorrect,
                           const torch::Tensor& year_ids, const torch::Tensor& year_values,
                           const torch::Tensor& yy, Baseline* baseline) {
  CSWEEP_ASSERT(clean_logits.dim() == 2 && clean_logits.sizes() == corrupted_logits.sizes(),
                "clean/corrupted answer logits must be [batch, d_vocab] of equal shape");
  MetricContext ctx;
  const auto dev = clean_logits.device();
  ctx.correct = correct.to(dev, torch::kLong);
  ctx.incorrect = incorrect.to(dev, torch::kLong);
  const auto clean = clean_logits.to(model::result_dtype(clean_logits.scalar_type()));
  const auto corrupt = corrupted_logits.to(model::result_dtype(corrupted_logits.scalar_type()));
  ctx.clean_logprobs = torch::log_softmax(clean, -1);
  if (year_ids.defined() && yy.defined()) {
    ctx.year_ids = year_ids.to(dev, torch::kLong);
    ctx.year_values = year_values.to(dev, torch::kLong);
    ctx.yy = yy.to(dev, torch::kLong);
  }
  const auto ld_clean = logit_diff(clean, ctx, false);
  const auto ld_corrupt = logit_diff(corrupt, ctx, false);
  ctx.clean_logit_diff = ld_clean.mean().item<double>();
  ctx.corrupted_logit_diff = ld_corrupt.mean().item<double>();
  if (baseline != nullptr) {
    baseline->clean_logit_diff = ctx.clean_logit_diff;
    baseline->corrupted_logit_diff = ctx.corrupted_logit_diff;
    baseline->clean_accuracy =
        clean.argmax(-1).eq(ctx.correct).to(torch::kFloat64).mean().item<double>();
    baseline->corrupted_accuracy =
        corrupt.argmax(-1).eq(ctx.correct).to(torch::kFloat64).mean().item<double>();
    baseline->clean_prob_correct =
        ctx.clean_logprobs.exp().gather(-1, ctx.correct.unsqueeze(-1)).mean().item<double>();
    baseline->n_prompts = static_cast<int>(clean.size(0));
  }
  return ctx;
}

std::vector<MetricRow> compute_rows(const torch::Tensor& logits_in, bool two_columns,
                                    const MetricContext& ctx, const MetricSet& want) {
  CSWEEP_ASSERT(logits_in.dim() == 3, "logits must be [n, batch, cols], got {} dims",
                logits_in.dim());
  CSWEEP_ASSERT(!two_columns || !want.needs_full_vocab(),
                "metrics beyond the logit difference need the full vocabulary");
  const auto logits = logits_in.to(model::result_dtype(logits_in.scalar_type()));
  const int64_t n = logits.size(0);
  const auto ld = logit_diff(logits, ctx, two_columns);  // [n, batch]
  const auto ld_mean = ld.to(torch::kFloat64).mean(1).cpu().contiguous();

  torch::Tensor kl, pc, acc, pdiff;
  if (!two_columns) {
    const auto logp = torch::log_softmax(logits, -1);  // [n, batch, V]
    const auto& clp = ctx.clean_logprobs;              // [batch, V]
    if (want.has(Metric::kKL)) {
      // KL(clean || intervened) = sum_v p_clean (log p_clean - log p_int), mean over prompts.
      kl = (clp.exp().unsqueeze(0) * (clp.unsqueeze(0) - logp)).sum(-1).to(torch::kFloat64)
               .mean(1).cpu();
    }
    if (want.has(Metric::kProbCorrect)) {
      const auto idx = ctx.correct.view({1, -1, 1}).expand({n, -1, 1});
      pc = logp.gather(-1, idx).squeeze(-1).exp().to(torch::kFloat64).mean(1).cpu();
    }
    if (want.has(Metric::kAccuracy)) {
      acc = logp.argmax(-1).eq(ctx.correct.unsqueeze(0)).to(torch::kFloat64).mean(1).cpu();
    }
    if (want.has(Metric::kProbDiff) && ctx.year_ids.defined()) {
      // sum p(year > YY) - sum p(year <= YY) over the two-digit year tokens.
      const auto p_years = logp.index_select(-1, ctx.year_ids).exp();            // [n, batch, Y]
      const auto greater = ctx.year_values.unsqueeze(0).gt(ctx.yy.unsqueeze(1));  // [batch, Y]
      const auto sign = greater.to(torch::kFloat32) * 2 - 1;
      pdiff = (p_years * sign.unsqueeze(0)).sum(-1).to(torch::kFloat64).mean(1).cpu();
    }
  }

  const double ld_clean = ctx.clean_logit_diff, ld_corrupt = ctx.corrupted_logit_diff;
  std::vector<MetricRow> rows(static_cast<size_t>(n));
  const auto ld_cpu = want.per_prompt_logit_diff ? ld.to(torch::kFloat32).cpu().contiguous()
                                                 : torch::Tensor();
  for (int64_t i = 0; i < n; ++i) {
    auto& r = rows[static_cast<size_t>(i)];
    r.logit_diff = ld_mean.data_ptr<double>()[i];
    r.performance = 100.0 * r.logit_diff / ld_clean;
    r.normalized = (r.logit_diff - ld_corrupt) / (ld_clean - ld_corrupt);
    if (kl.defined()) r.kl = kl.data_ptr<double>()[i];
    if (pc.defined()) r.prob_correct = pc.data_ptr<double>()[i];
    if (acc.defined()) r.accuracy = acc.data_ptr<double>()[i];
    if (pdiff.defined()) r.prob_diff = pdiff.data_ptr<double>()[i];
    if (ld_cpu.defined()) {
      const float* p = ld_cpu[i].data_ptr<float>();
      r.per_prompt_logit_diff.assign(p, p + ld_cpu.size(1));
    }
  }
  return rows;
}

}  // namespace csweep::metrics
