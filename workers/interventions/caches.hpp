#pragma once
// Reference caches of one (model, prompt set), computed once and shared by every intervention:
// the clean and corrupted runs' activations at every layer, the per-(group, position) means,
// and the metric baseline. Built with the hooked model's own forward pass, so every batched
// evaluation starts from exactly the activations a hooked run would see.
//
// Thread-safety: read-only after construction except neuron activations, which are computed on
// first use under a lock (they are large: [batch, pos, d_mlp] per layer per run).
#include <torch/torch.h>

#include <mutex>
#include <vector>

#include "workers/interventions/prompt_set.hpp"
#include "workers/metrics/metrics.hpp"

namespace csweep::model {
class HookedTransformer;
}

namespace csweep::interv {

// One un-intervened run. Every tensor is on the model's device in its dtype.
struct RunCache {
  std::vector<torch::Tensor> resid_pre;  // n_layers + 1 entries [batch, pos, d_model]; the last
                                         // is the final residual stream (before ln_final)
  std::vector<torch::Tensor> z;          // [batch, pos, head, d_head]      (attn.hook_z)
  std::vector<torch::Tensor> attn_out;   // [batch, pos, d_model]           (hook_attn_out)
  std::vector<torch::Tensor> mlp_out;    // [batch, pos, d_model]           (hook_mlp_out)
  std::vector<torch::Tensor> post;       // [batch, pos, d_mlp] (mlp.hook_post), empty until needed
  torch::Tensor final_answer;            // [batch, d_model] final residual at the answer position
  torch::Tensor answer_logits;           // [batch, d_vocab] in model::result_dtype
};

enum class MeanSource : std::uint8_t { kCorrupted, kClean };

class DatasetCache {
 public:
  DatasetCache(const model::HookedTransformer& model, PromptSet prompts,
               MeanSource mean_source = MeanSource::kCorrupted);

  const PromptSet& prompts() const { return prompts_; }
  const RunCache& clean() const { return clean_; }
  const RunCache& corrupted() const { return corrupted_; }
  const metrics::MetricContext& metric_context() const { return ctx_; }
  const metrics::Baseline& baseline() const { return baseline_; }
  // How many prompts the clean-model filter removed before this cache was built (reported with
  // the baseline, so a table says how many prompts its means are over and how many were left out).
  void set_dropped_by_filter(int n) { baseline_.n_dropped_by_filter = n; }
  MeanSource mean_source() const { return mean_source_; }

  // Per-prompt expansion of the per-(group, position) means: [batch, pos, ...] at `layer`.
  const torch::Tensor& mean_z(int layer) const { return mean_z_[layer]; }
  const torch::Tensor& mean_mlp_out(int layer) const { return mean_mlp_out_[layer]; }
  const torch::Tensor& mean_post(int layer) const;  // computes neuron caches on first use
  // Makes clean().post / corrupted().post available (idempotent).
  void ensure_neurons() const;

  // Answer positions on the model's device, [batch] int64.
  const torch::Tensor& answer_pos() const { return answer_pos_; }

 private:
  const model::HookedTransformer& model_;
  PromptSet prompts_;
  MeanSource mean_source_;
  RunCache clean_, corrupted_;
  std::vector<torch::Tensor> mean_z_, mean_mlp_out_;
  mutable std::vector<torch::Tensor> mean_post_;
  mutable std::mutex neuron_mu_;
  mutable bool neurons_ready_ = false;
  metrics::MetricContext ctx_;
  metrics::Baseline baseline_;
  torch::Tensor answer_pos_;
  torch::Tensor group_weights_;  // [n_groups, batch]: 1/|group| where prompt is in the group
};

// Per-(group, position) mean of act [batch, pos, ...] expanded back to every prompt of the group.
torch::Tensor group_position_mean(const torch::Tensor& act, const torch::Tensor& group_weights,
                                  const torch::Tensor& group);

}  // namespace csweep::interv
