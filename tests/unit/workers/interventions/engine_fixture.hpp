#pragma once
// Random-init models and prompt sets for the engine tests: canonical parameters drawn from a
// seeded normal distribution (norm weights around 1, small biases), right-padded prompts of
// unequal lengths in two template groups.
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "workers/interventions/prompt_set.hpp"
#include "workers/model/config.hpp"
#include "workers/model/weights.hpp"

namespace csweep::interv::testing {

inline model::ModelConfig gpt2_config() {
  model::ModelConfig c;
  c.family = model::Family::kGPT2;
  c.name = "random-gpt2";
  c.n_layers = 3;
  c.n_heads = 4;
  c.n_kv_heads = 4;
  c.d_model = 32;
  c.d_head = 8;
  c.d_mlp = 64;
  c.n_ctx = 32;
  c.d_vocab = 61;
  c.act_fn = model::ActFn::kGeluNew;
  c.tied_embeddings = false;
  return c;
}

inline model::ModelConfig llama_config() {
  model::ModelConfig c = gpt2_config();
  c.family = model::Family::kLlama;
  c.name = "random-llama";
  c.n_kv_heads = 2;
  c.act_fn = model::ActFn::kSilu;
  c.gated_mlp = true;
  c.norm = model::NormKind::kRMSNorm;
  c.positional = model::PosKind::kRotary;
  c.rotary_dim = 8;
  c.attn_bias = false;
  c.mlp_bias = false;
  return c;
}

// Gemma 3-style: post-norms, QK-norm, a local (window 3) and a global layer with their own RoPE.
inline model::ModelConfig gemma3_config() {
  model::ModelConfig c = llama_config();
  c.family = model::Family::kGemma3;
  c.name = "random-gemma3";
  c.act_fn = model::ActFn::kGeluNew;
  c.post_norms = true;
  c.qk_norm = true;
  c.scale_embed = true;
  c.attn_scale = 4.0;
  c.sliding_window = 3;
  c.sliding_layers = {true, true, false};
  c.rotary_base_local = 10000.0;
  c.rotary_base = 1000000.0;
  c.tied_embeddings = true;
  return c;
}

inline model::LoadedModel random_model(const model::ModelConfig& cfg, uint64_t seed) {
  torch::manual_seed(seed);
  model::LoadedModel m;
  m.cfg = cfg;
  m.source = cfg.name;
  for (const auto& spec : model::canonical_params(cfg)) {
    if (spec.optional) continue;
    const auto leaf = spec.name.substr(spec.name.rfind('.') + 1);
    torch::Tensor t;
    if (leaf == "w") {
      t = 1.0 + 0.2 * torch::randn(spec.shape);
    } else if (leaf.rfind("b", 0) == 0) {
      t = 0.1 * torch::randn(spec.shape);
    } else {
      // Fan-in scaling keeps activations O(1) through the layers.
      const double fan_in = static_cast<double>(spec.shape.size() == 3 ? spec.shape[1] : spec.shape[0]);
      t = torch::randn(spec.shape) / std::sqrt(fan_in) * (spec.name.find("embed") != std::string::npos ? 4.0 : 1.0);
    }
    m.params[spec.name] = t.to(torch::kFloat32);
  }
  return m;
}

// B prompts of lengths P-2..P (right-padded with token 0), two template groups, named positions
// "end" (answer) and "S1", "S2"; corrupted prompts differ from clean ones at random positions.
inline PromptSet random_prompts(const model::ModelConfig& cfg, int64_t B, int64_t P, uint64_t seed) {
  torch::manual_seed(seed);
  PromptSet s;
  s.clean_tokens = torch::randint(1, cfg.d_vocab, {B, P}, torch::kLong);
  auto flip = torch::rand({B, P}).lt(0.4);
  s.corrupted_tokens = torch::where(flip, torch::randint(1, cfg.d_vocab, {B, P}, torch::kLong), s.clean_tokens);
  s.answer_pos = torch::empty({B}, torch::kLong);
  s.group = torch::empty({B}, torch::kLong);
  s.n_groups = 2;
  for (int64_t b = 0; b < B; ++b) {
    // Group g has length P - 2 + g so positions align within a group.
    const int64_t g = b % 2;
    s.group[b] = g;
    const int64_t len = P - 1 + g;
    s.answer_pos[b] = len - 1;
    for (int64_t p = len; p < P; ++p) {
      s.clean_tokens[b][p] = 0;
      s.corrupted_tokens[b][p] = 0;
    }
  }
  s.correct = torch::randint(0, cfg.d_vocab, {B}, torch::kLong);
  s.incorrect = (s.correct + torch::randint(1, cfg.d_vocab, {B}, torch::kLong)) % cfg.d_vocab;
  s.named_positions["end"] = s.answer_pos.clone();
  s.named_positions["S1"] = torch::full({B}, 1L, torch::kLong);
  s.named_positions["S2"] = torch::full({B}, 3L, torch::kLong);
  return s;
}

// Tolerances of engine comparisons (batched vs one-at-a-time, GPU vs CPU, edge executor vs
// hooked path patching), from a stated bound rather than from what one machine printed: the
// compared sides run the same operations in other groupings and kernels (batched GEMMs are
// taller, BLAS/cuBLAS pick kernels by shape and CPU: AVX2 and AVX-512 builds round differently),
// so they differ only by rounding.
//
// fp32. A K-term dot product summed in another order moves by at most 2 K u sum|terms|
// (u = 2^-24, the fp32 unit roundoff; Higham, Accuracy and Stability, §3.1); the terms here are
// O(max |logit|) (fan-in-scaled random weights), and each of the n_layers blocks and the
// unembedding adds such a rounding to the residual stream, so
//     max |a - b| <= 2 (n_layers + 1) K_max u max(1, max |logit|),
// K_max = the longest dot product (d_model, d_mlp, n_heads d_head or the positions).
// bf16. Storage in bf16 (u = 2^-8) rounds every weight and activation once; K-term sums of
// independent roundings grow as sqrt(K) (the same argument as test_transformer's half checks),
// again once per block, so
//     max |bf16 - fp32| <= 2 (n_layers + 1) sqrt(K_max) u_bf16 max(1, max |logit|).
inline int64_t k_max(const model::ModelConfig& c, int64_t positions) {
  return std::max<int64_t>({c.d_model, c.d_mlp, c.n_heads * c.d_head, positions});
}

inline double fp32_bound(const model::ModelConfig& c, int64_t positions, const torch::Tensor& logits) {
  const double scale = std::max(1.0, logits.abs().max().item<double>());
  return 2.0 * (c.n_layers + 1) * static_cast<double>(k_max(c, positions)) * std::ldexp(1.0, -24) * scale;
}

inline double bf16_bound(const model::ModelConfig& c, int64_t positions, const torch::Tensor& logits) {
  const double scale = std::max(1.0, logits.abs().max().item<double>());
  return 2.0 * (c.n_layers + 1) * std::sqrt(static_cast<double>(k_max(c, positions))) * std::ldexp(1.0, -8) * scale;
}

}  // namespace csweep::interv::testing
