#pragma once
// Pieces of the batched forward pass used by the edge-set executor (edge_executor.cpp); they
// repeat the node executor's Runner::norm / Runner::logits (executor.cpp) operation for
// operation, which the edge tests pin (an edge set with no edges equals the clean run, a single
// edge equals path patching through the node executor).
#include <torch/torch.h>

#include <vector>

#include "workers/interventions/caches.hpp"
#include "workers/interventions/executor.hpp"
#include "workers/metrics/metrics.hpp"
#include "workers/model/config.hpp"

namespace csweep::model {
class HookedTransformer;
}

namespace csweep::interv::detail {

// ln1 / ln2 of a block: LayerNorm or RMSNorm over d_model; half dtypes computed in float32.
torch::Tensor block_norm(const model::HookedTransformer& m, const torch::Tensor& x,
                         const torch::Tensor& w, const torch::Tensor& b);

// Final residual at the answer position [n, batch, d_model] -> logits [n, batch, d_vocab]
// (full_vocab) or [n, batch, 2] (correct, incorrect columns only).
torch::Tensor answer_logits_from_final(const model::HookedTransformer& m, const DatasetCache& cache,
                                       const torch::Tensor& fin, bool full_vocab, ExecutorStats& stats);

// Metric rows of answer logits [n, batch, V], computed in slices that fit the memory budget.
std::vector<metrics::MetricRow> rows_from_logits(const torch::Tensor& logits, bool full_vocab,
                                                 const DatasetCache& cache,
                                                 const metrics::MetricSet& want,
                                                 std::size_t memory_budget_bytes);

// InputError unless the batched blocks here implement `c`'s block: they do not implement Gemma's
// (post-norms, QK-norm, soft-capped scores, sliding-window layers, query_pre_attn_scalar). Called
// only when an intervention re-runs blocks: an empty one (a baseline, `csweep eval` without
// --ablate) reads the hooked model's cached final residual and its final_norm / unembed.
void check_blocks_supported(const model::ModelConfig& c);

}  // namespace csweep::interv::detail
