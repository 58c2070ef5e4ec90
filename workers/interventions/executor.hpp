#pragma once
// The batched executor: evaluates N interventions of one kind in as few forward passes as a
// memory budget allows.
//
//  * Interventions are replicated over the prompts (row r of a batch = intervention r, all
//    prompts) and edits are dense masks [intervention, batch|1, pos|1, head|neuron|1] applied
//    with one `where` per hook point (hook_z, mlp.hook_post, hook_mlp_out).
//  * Prefix reuse: an intervention whose earliest touched layer is l joins the batch at layer l
//    from the cached clean residual stream (and the cached hook_z of layer l, so its attention
//    at l is not recomputed); batches are sorted by that layer so joiners share the rest.
//  * The last layer is evaluated at the answer position only (keys/values for all positions,
//    queries, MLP and unembedding at one); the unembedding uses two columns per prompt when
//    only logit-difference metrics are asked.
//  * Path patching runs the frozen pass without attention (every head's output is its clean
//    value, plus the senders' corrupted-minus-clean contribution; MLPs recomputed), records the
//    receivers' inputs, then a clean pass with only those inputs patched.
//
// Results equal the one-at-a-time hooked path (reference_path.hpp) to float32 rounding.
// Thread-safety: one Executor per thread (it keeps statistics); caches are shared read-only.
#include <torch/torch.h>

#include <cstddef>
#include <vector>

#include "workers/interventions/caches.hpp"
#include "workers/interventions/edges.hpp"
#include "workers/interventions/intervention.hpp"
#include "workers/metrics/metrics.hpp"

namespace csweep::model {
class HookedTransformer;
}

namespace csweep::interv {

struct ExecutorOptions {
  // Activation memory one batch may use (estimated); more interventions than fit run in several
  // batches. Large batches make large GEMMs; beyond a few hundred MB CPU throughput stops growing.
  std::size_t memory_budget_bytes = std::size_t{768} << 20;
  int max_interventions_per_batch = 0;  // 0 = no limit beyond the memory budget
};

struct ExecutorStats {
  double flops = 0;             // multiply-adds x 2 of every matrix product issued
  std::int64_t batches = 0;     // forward passes (a path-patching batch counts its two passes)
  std::int64_t interventions = 0;
};

class Executor {
 public:
  explicit Executor(const model::HookedTransformer& model, ExecutorOptions opt = {});

  // One MetricRow per intervention, in input order. Throws InputError for an intervention that
  // does not fit the model (layer/head/neuron out of range, unknown named position) or the kind
  // (path patching without receivers, neurons as path-patching senders).
  std::vector<metrics::MetricRow> evaluate(const DatasetCache& cache, AblationKind kind,
                                           const std::vector<Intervention>& interventions,
                                           const metrics::MetricSet& want);

  // Answer-position logits, [n, batch, d_vocab] (full_vocab) or [n, batch, 2] (columns: correct,
  // incorrect), float32 on the model's device, in input order.
  torch::Tensor answer_logits(const DatasetCache& cache, AblationKind kind,
                              const std::vector<Intervention>& interventions, bool full_vocab);

  // Edge-set interventions (edges.hpp): every row is a context (mean-ablated nodes) plus a set
  // of patched edges, evaluated in one pass over the clean prompts per batch. Same outputs as
  // evaluate / answer_logits; throws InputError for an edge that does not fit the model.
  std::vector<metrics::MetricRow> evaluate_edges(const DatasetCache& cache,
                                                 const std::vector<EdgeIntervention>& interventions,
                                                 const metrics::MetricSet& want);
  torch::Tensor edge_answer_logits(const DatasetCache& cache,
                                   const std::vector<EdgeIntervention>& interventions, bool full_vocab);

  const ExecutorStats& stats() const { return stats_; }
  void reset_stats() { stats_ = {}; }
  const ExecutorOptions& options() const { return opt_; }
  const model::HookedTransformer& model() const { return model_; }

 private:
  const model::HookedTransformer& model_;
  ExecutorOptions opt_;
  ExecutorStats stats_;
  torch::Tensor rope_cos_, rope_sin_;  // [n_ctx, rotary_dim] when rotary
};

// Checks an intervention against the model's shape and the kind; InputError naming the problem.
void validate_intervention(const Intervention& iv, AblationKind kind, int n_layers, int n_heads,
                           int n_kv_heads, int d_mlp);

}  // namespace csweep::interv
