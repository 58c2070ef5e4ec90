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

  // Answer-position logits of one intervention, [batch, d_vocab] float32.
  torch::Tensor answer_logits(AblationKind kind, const Intervention& iv);

  const PromptSet& prompts() const { return prompts_; }

 private:
  torch::Tensor forward(const torch::Tensor& tokens, model::Hooks* hooks);
  const model::HookedTransformer& model_;
  PromptSet prompts_;
  // Activations of the clean/corrupted runs, by hook name (attn.hook_z, hook_mlp_out, mlp.hook_post).
  std::unordered_map<std::string, torch::Tensor> clean_, corrupt_, mean_;
};

}  // namespace csweep::interv
