#include "workers/interventions/executor_internal.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "workers/model/kernels.hpp"
#include "workers/model/transformer.hpp"

namespace csweep::interv::detail {

// The same arithmetic as the node executor's Runner::norm and Runner::logits (executor.cpp).
torch::Tensor block_norm(const model::HookedTransformer& m, const torch::Tensor& x_in,
                         const torch::Tensor& w, const torch::Tensor& b) {
  const auto& cfg = m.cfg();
  const bool up = model::is_half(m.dtype());
  const auto x = up ? x_in.to(torch::kFloat32) : x_in;
  if (cfg.norm == model::NormKind::kLayerNorm) {
    const auto y = torch::layer_norm(x, {cfg.d_model}, up ? w.to(torch::kFloat32) : w,
                                     up ? b.to(torch::kFloat32) : b, cfg.norm_eps);
    return up ? y.to(m.dtype()) : y;
  }
  const auto y = x * torch::rsqrt(x.pow(2).mean(-1, true) + cfg.norm_eps);
  return (up ? y.to(m.dtype()) : y) * w;
}

torch::Tensor answer_logits_from_final(const model::HookedTransformer& m, const DatasetCache& cache,
                                       const torch::Tensor& fin, bool full_vocab, ExecutorStats& stats) {
  const auto& cfg = m.cfg();
  const auto x = m.final_norm(fin);
  const int64_t n = fin.size(0), B = fin.size(1);
  if (full_vocab) {
    stats.flops += 2.0 * static_cast<double>(n * B * cfg.d_model) * cfg.d_vocab;
    return m.unembed(x);
  }
  // Only the <= 2 * batch distinct answer columns of the unembedding.
  const auto& ctx = cache.metric_context();
  const auto both = torch::cat({ctx.correct, ctx.incorrect});
  const auto cols = std::get<0>(torch::_unique(both, /*sorted=*/true));
  const auto idx = torch::searchsorted(cols, both).view({2, B}).t();  // [B, 2] into cols
  stats.flops += 2.0 * static_cast<double>(n * B * cfg.d_model) * static_cast<double>(cols.size(0));
  const auto lc = m.unembed(x, cols);  // [n, B, C]
  return lc.gather(2, idx.unsqueeze(0).expand({n, B, 2}).to(lc.device()));
}

std::vector<metrics::MetricRow> rows_from_logits(const torch::Tensor& logits, bool full_vocab,
                                                 const DatasetCache& cache,
                                                 const metrics::MetricSet& want,
                                                 std::size_t memory_budget_bytes) {
  // Metrics per slice keep the temporaries of at most one slice alive.
  std::vector<metrics::MetricRow> rows(static_cast<size_t>(logits.size(0)));
  const int64_t step = std::max<int64_t>(1, static_cast<int64_t>(memory_budget_bytes /
      static_cast<std::size_t>(std::max<int64_t>(1, logits.size(1) * logits.size(2) * 12))));
  for (int64_t s = 0; s < logits.size(0); s += step) {
    const int64_t e = std::min<int64_t>(logits.size(0), s + step);
    auto part = metrics::compute_rows(logits.narrow(0, s, e - s), !full_vocab, cache.metric_context(), want);
    for (int64_t i = s; i < e; ++i) rows[static_cast<size_t>(i)] = std::move(part[static_cast<size_t>(i - s)]);
  }
  return rows;
}

void check_blocks_supported(const model::ModelConfig& c) {
  CSWEEP_CHECK_INPUT(!(c.post_norms || c.qk_norm || c.attn_scale > 0.0 || c.attn_softcap > 0.0 ||
                       c.sliding_window > 0),
                     "model {} ({}): interventions on Gemma blocks (post-norms, QK-norm, "
                     "soft-capped scores, sliding-window layers) are not supported yet; the hooked "
                     "forward pass and un-intervened baselines are",
                     c.name, model::to_string(c.family));
}

}  // namespace csweep::interv::detail
