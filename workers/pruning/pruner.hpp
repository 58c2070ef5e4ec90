#pragma once
// Iterative node pruning (run_spec.hpp states the semantics): the sequential reference pruner
// and the fast pruner, which must return identical RunResults (same circuits, same steps, same
// removal decisions; performances equal to float32 rounding).
//
//  * Sequential: one hooked forward pass (interv::ReferencePath) per candidate, the loop as
//    written. Kept as the reference the fast path is tested and benchmarked against.
//  * Fast: the batched executor with exact tricks only (prefix reuse, speculative batching of the
//    next candidates under a predicted outcome of the earlier ones, keeping the evaluations the
//    actual decisions did not invalidate). Decisions never depend on the batch size.
//
// Means come from the un-intervened model, once per dataset (the DatasetCache's), never
// recomputed with the candidate attached (docs/PRUNING.md lists where this departs from the
// study's code).
#include <cstdint>

#include "workers/interventions/caches.hpp"
#include "workers/interventions/executor.hpp"
#include "workers/metrics/metrics.hpp"
#include "workers/pruning/orders.hpp"  // pass_sequence
#include "workers/pruning/run_spec.hpp"

namespace csweep::pruning {

struct PrunerOptions {
  bool sequential = false;  // true: the reference pruner (one hooked forward per candidate)
  int max_speculation = 0;  // fast pruner: most candidates evaluated in one batch (0 = auto)
};

struct PrunerStats {
  std::int64_t forwards = 0;     // forward passes issued (a batch counts once)
  double flops = 0;              // 2 x multiply-adds of the matrix products issued
  std::int64_t evaluations = 0;  // candidate evaluations whose result was used (== steps)
  std::int64_t discarded = 0;    // speculative evaluations thrown away (mispredicted prefix)
};

// Runs one pruning run on the dataset of `cache` with ablation `kind` (any kind but path
// patching). Circuit::metrics are the circuit kept alone (every pool component outside it
// ablated) measured with `want`; decisions use performance = 100 * LD / LD_clean regardless of
// `want`. Throws InputError for an empty pool, a component outside the model, a threshold
// outside (0, 100], thresholds not ascending when nested or not exactly one when not nested,
// or path patching.
RunResult run_pruning(interv::Executor& executor, const interv::DatasetCache& cache,
                      interv::AblationKind kind, const RunSpec& spec, const metrics::MetricSet& want,
                      const PrunerOptions& options = {}, PrunerStats* stats = nullptr);

}  // namespace csweep::pruning
