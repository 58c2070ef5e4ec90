#include "workers/interventions/caches.hpp"

#include "core/error.hpp"
#include "workers/interventions/tensor_util.hpp"
#include "workers/model/hooks.hpp"
#include "workers/model/kernels.hpp"
#include "workers/model/transformer.hpp"

namespace csweep::interv {

namespace {

// One hooked forward pass recording what the engine reuses. Logits only at the answer position:
// the full [batch, pos, d_vocab] tensor is never needed and dominates memory for large vocabularies.
RunCache run_and_cache(const model::HookedTransformer& m, const torch::Tensor& tokens,
                       const torch::Tensor& answer_pos, bool with_post) {
  c10::InferenceMode guard;
  const int L = m.cfg().n_layers;
  model::Hooks hooks;
  hooks.cache_matching("blocks.*.hook_resid_pre");
  hooks.cache_matching("blocks.*.attn.hook_z");
  hooks.cache_matching("blocks.*.hook_attn_out");
  hooks.cache_matching("blocks.*.hook_mlp_out");
  if (with_post) hooks.cache_matching("blocks.*.mlp.hook_post");
  auto resid = m.embed(tokens, &hooks);
  resid = m.run_blocks(resid, 0, L, &hooks);
  auto& c = hooks.cache();
  RunCache rc;
  for (int l = 0; l < L; ++l) {
    auto get = [&](const std::string& kind) {
      auto it = c.find(model::act_name(kind, l));
      CSWEEP_ASSERT(it != c.end(), "hook {} was not cached", model::act_name(kind, l));
      return it->second.contiguous();
    };
    rc.resid_pre.push_back(get("resid_pre"));
    rc.z.push_back(get("z"));
    rc.attn_out.push_back(get("attn_out"));
    rc.mlp_out.push_back(get("mlp_out"));
    if (with_post) rc.post.push_back(get("post"));
  }
  rc.resid_pre.push_back(resid.contiguous());
  rc.final_answer = gather_pos(resid, answer_pos, 1).squeeze(1).contiguous();  // [batch, d_model]
  rc.answer_logits = m.unembed(m.final_norm(rc.final_answer));
  return rc;
}

}  // namespace

torch::Tensor group_position_mean(const torch::Tensor& act, const torch::Tensor& group_weights,
                                  const torch::Tensor& group) {
  const auto flat = act.reshape({act.size(0), -1});                       // [batch, rest]
  const auto means = torch::mm(group_weights.to(act.scalar_type()), flat);  // [n_groups, rest]
  return means.index_select(0, group).view(act.sizes());
}

DatasetCache::DatasetCache(const model::HookedTransformer& model, PromptSet prompts,
                           MeanSource mean_source)
    : model_(model), prompts_(std::move(prompts)), mean_source_(mean_source) {
  c10::InferenceMode guard;
  prompts_.validate();
  const auto dev = model_.device();
  CSWEEP_CHECK_INPUT(prompts_.seq_len() <= model_.cfg().n_ctx,
                     "prompts of {} tokens exceed the model's context of {}", prompts_.seq_len(),
                     model_.cfg().n_ctx);
  answer_pos_ = prompts_.answer_pos.to(dev);
  clean_ = run_and_cache(model_, prompts_.clean_tokens, answer_pos_, false);
  corrupted_ = run_and_cache(model_, prompts_.corrupted_tokens, answer_pos_, false);

  const int64_t B = prompts_.batch(), G = prompts_.n_groups;
  auto onehot = torch::zeros({G, B}, torch::kFloat64);
  const auto grp = prompts_.group.cpu();
  for (int64_t b = 0; b < B; ++b) onehot[grp[b].item<int64_t>()][b] = 1.0;
  const auto counts = onehot.sum(1, true).clamp_min(1.0);
  // In the dtype results are reduced in, so a float64 model's means are exact to float64 (float32
  // weights would round 1/count and differ from the reference path's own per-group means).
  group_weights_ = (onehot / counts).to(dev, model::result_dtype(model_.dtype()));
  const auto group_dev = prompts_.group.to(dev);
  const RunCache& src = mean_source_ == MeanSource::kCorrupted ? corrupted_ : clean_;
  for (size_t l = 0; l < src.z.size(); ++l) {
    mean_z_.push_back(group_position_mean(src.z[l], group_weights_, group_dev).to(src.z[l].scalar_type()));
    mean_mlp_out_.push_back(
        group_position_mean(src.mlp_out[l], group_weights_, group_dev).to(src.mlp_out[l].scalar_type()));
  }

  ctx_ = metrics::make_context(clean_.answer_logits, corrupted_.answer_logits, prompts_.correct,
                               prompts_.incorrect, prompts_.year_ids, prompts_.year_values,
                               prompts_.yy, &baseline_);
}

void DatasetCache::ensure_neurons() const {
  std::lock_guard<std::mutex> lock(neuron_mu_);
  if (neurons_ready_) return;
  c10::InferenceMode guard;
  auto& self = const_cast<DatasetCache&>(*this);
  auto c = run_and_cache(model_, prompts_.clean_tokens, answer_pos_, true);
  auto k = run_and_cache(model_, prompts_.corrupted_tokens, answer_pos_, true);
  self.clean_.post = std::move(c.post);
  self.corrupted_.post = std::move(k.post);
  const RunCache& src = mean_source_ == MeanSource::kCorrupted ? corrupted_ : clean_;
  const auto group_dev = prompts_.group.to(model_.device());
  for (const auto& p : src.post) {
    mean_post_.push_back(group_position_mean(p, group_weights_, group_dev).to(p.scalar_type()));
  }
  neurons_ready_ = true;
}

const torch::Tensor& DatasetCache::mean_post(int layer) const {
  ensure_neurons();
  return mean_post_[layer];
}

}  // namespace csweep::interv
