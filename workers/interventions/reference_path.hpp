#pragma once
// The one-at-a-time reference path: one hooked forward pass per intervention (two for path
// patching), TransformerLens-style. Slow and simple on purpose: it is the baseline the batched
// executor is tested and benchmarked against. It keeps its own caches and means (computed with
// plain per-group loops), sharing nothing with the executor but the hooked model.
#include <torch/torch.h>

#include <string>
#include <unordered_map>
#include <vector>

#include "workers/interventions/caches.hpp"
#include "workers/interventions/edges.hpp"
#include "workers/interventions/intervention.hpp"
#include "workers/interventions/prompt_set.hpp"

namespace csweep::model {
class HookedTransformer;
class Hooks;
}

namespace csweep::interv {

class ReferencePath {
 public:
  ReferencePath(const model::HookedTransformer& model, PromptSet prompts,
                MeanSource mean_source = MeanSource::kCorrupted);

  // Answer-position logits of one intervention, [batch, d_vocab] float32. For path patching,
  // recompute_mlps = false also freezes every MLP that is neither a sender nor a receiver to its
  // clean output in pass 2, which makes a single sender -> receiver patch the direct edge.
  torch::Tensor answer_logits(AblationKind kind, const Intervention& iv, bool recompute_mlps = true);

  // Answer-position logits of one edge-set intervention (edges.hpp), [batch, d_vocab] float32,
  // computed receiver by receiver: for each layer's attention inputs, then its MLP input, then
  // the final residual stream, one hooked run with every patch so far gives the current
  // residual stream and head/MLP outputs (attn.hook_result, hook_mlp_out); each receiver's
  // input (current stream + its patched senders' corrupted-minus-current outputs) is fed to a
  // second run through hook_resid_pre / hook_resid_mid, whose hook_q/k/v or hook_mlp_out becomes
  // that receiver's patch. A last run applies every patch.
  torch::Tensor edge_answer_logits(const EdgeIntervention& iv);

  const PromptSet& prompts() const { return prompts_; }

 private:
  torch::Tensor forward(const torch::Tensor& tokens, model::Hooks* hooks);
  const model::HookedTransformer& model_;
  PromptSet prompts_;
  // Activations of the clean/corrupted runs, by hook name (attn.hook_z, hook_mlp_out, mlp.hook_post).
  std::unordered_map<std::string, torch::Tensor> clean_, corrupt_, mean_;
  std::unordered_map<std::string, torch::Tensor> corrupt_result_;  // attn.hook_result, on first use
};

}  // namespace csweep::interv
