#pragma once
// HookedTransformer: GPT-2, Llama, Qwen2, GPT-NeoX and Gemma 2/3 forward pass in LibTorch with TransformerLens hook
// points. Dimension names used throughout: batch, pos, head (head_index), d_head, d_model, d_mlp,
// d_vocab.
//
// The forward pass is exposed in stages so the intervention engine can start from a cached
// residual stream at any layer (prefix reuse) and unembed only the answer position:
//   embed(tokens) -> resid_pre[0]; run_blocks(resid, l0, l1, hooks) -> resid_pre[l1];
//   final_norm(resid) -> normalized; unembed(normalized, cols) -> logits.
// Thread-safety: a const model may be used from several threads; hooks are per call.
#include <torch/torch.h>

#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "workers/model/config.hpp"
#include "workers/model/weights.hpp"

namespace csweep::model {

// A hook sees the activation and may replace it (assign to `act`); shapes must be preserved.
// Activations handed to hooks are never modified in place by the model afterwards, so a hook may
// keep a reference instead of a copy.
using HookFn = std::function<void(torch::Tensor& act, const std::string& hook_name)>;

// Per-call hook registry. Not thread-safe: give every concurrent forward pass its own Hooks.
class Hooks {
 public:
  void add(const std::string& hook_name, HookFn fn);
  // Stores every activation whose name matches `glob` in cache() (after this name's functions
  // ran, i.e. the value the model continues with).
  void cache_matching(const std::string& glob);
  bool empty() const { return fns_.empty() && cache_globs_.empty(); }
  // True when apply(hook_name, ...) would call a function or cache: the model skips optional
  // work (hook_result, the unfused LayerNorm) unless some hook wants it. Memoized per name.
  bool wants(const std::string& hook_name) const;
  // Called by the model at each hook point; cheap when no hook is registered for the name.
  void apply(const std::string& hook_name, torch::Tensor& act);
  std::unordered_map<std::string, torch::Tensor>& cache() { return cache_; }
  void clear_cache() { cache_.clear(); }

 private:
  bool cached(const std::string& hook_name) const;
  std::unordered_map<std::string, std::vector<HookFn>> fns_;
  std::vector<std::string> cache_globs_;
  std::unordered_map<std::string, torch::Tensor> cache_;
  mutable std::unordered_map<std::string, bool> cache_match_memo_;
};

struct ForwardOptions {
  // [batch, pos] with 1 for real tokens, 0 for padding (keys masked out); undefined = no padding.
  torch::Tensor attention_mask;
};

class HookedTransformer {
 public:
  // Moves the weights to `device` in `dtype` (float32 default; bf16/fp16 allowed; float64 for
  // exactness tests).
  HookedTransformer(const LoadedModel& model, torch::Device device = torch::kCPU,
                    torch::ScalarType dtype = torch::kFloat32);

  const ModelConfig& cfg() const { return cfg_; }
  torch::Device device() const { return device_; }
  torch::ScalarType dtype() const { return dtype_; }

  // tokens [batch, pos] int64 -> logits [batch, pos, d_vocab] in model::result_dtype (float32;
  // float64 for a float64 model).
  torch::Tensor forward(const torch::Tensor& tokens, Hooks* hooks = nullptr,
                        const ForwardOptions& opt = {}) const;

  // Stages (see header comment). resid tensors are [batch, pos, d_model].
  torch::Tensor embed(const torch::Tensor& tokens, Hooks* hooks = nullptr) const;
  torch::Tensor run_blocks(torch::Tensor resid, int first_layer, int end_layer,
                           Hooks* hooks = nullptr, const ForwardOptions& opt = {}) const;
  torch::Tensor final_norm(const torch::Tensor& resid, Hooks* hooks = nullptr) const;
  // normalized [..., d_model] -> [..., n_cols] in model::result_dtype; cols (int64 ids) undefined =
  // the whole vocabulary.
  torch::Tensor unembed(const torch::Tensor& normalized, const torch::Tensor& cols = {}) const;

  // Per-layer weights in compute layout (x @ W), prepared once at construction on the model's
  // device and dtype, for engines that fuse their own kernels. Fused tensors are what the forward
  // pass uses; the per-projection tensors are column views into them (no extra memory).
  struct Block {
    torch::Tensor ln1_w, ln1_b, ln2_w, ln2_b;  // [d_model] (b undefined for RMSNorm)
    torch::Tensor W_QKV;                       // [d_model, (n_heads + 2*n_kv)*d_head]
    torch::Tensor b_QKV;                       // [(n_heads + 2*n_kv)*d_head] or undefined
    torch::Tensor W_Q, W_K, W_V;               // views: [d_model, n_heads*d_head] / [d_model, n_kv*d_head]
    torch::Tensor b_Q, b_K, b_V;               // views or undefined
    torch::Tensor W_O, b_O;                    // [n_heads*d_head, d_model], [d_model] or undefined
    torch::Tensor W_gate_in;                   // gated MLP: [d_model, 2*d_mlp] = [W_gate | W_in]
    torch::Tensor b_gate_in;                   // gated MLP: [2*d_mlp] = [b_gate | b_in] or undefined
    torch::Tensor W_in, b_in, W_gate, b_gate;  // [d_model, d_mlp] (views when gated), [d_mlp]
    torch::Tensor W_out, b_out;                // [d_mlp, d_model], [d_model] or undefined
    torch::Tensor ln1_post_w, ln2_post_w;      // Gemma post-norms [d_model] (1 + w), or undefined
    torch::Tensor q_norm_w, k_norm_w;          // Gemma 3 QK-norm [d_head] (1 + w), or undefined
  };
  const std::vector<Block>& blocks() const { return blocks_; }
  const std::vector<std::string>& hook_names() const { return hook_names_; }

 private:
  ModelConfig cfg_;
  torch::Device device_;
  torch::ScalarType dtype_;
  torch::Tensor W_E_, W_pos_, W_U_, b_U_, lnf_w_, lnf_b_;
  torch::Tensor rope_cos_, rope_sin_;  // [n_ctx, rotary_dim] when rotary (global layers)
  torch::Tensor rope_cos_local_, rope_sin_local_;  // local (sliding-window) layers' own RoPE
  torch::Tensor embed_scale_;          // 0-dim, compute dtype: Gemma's sqrt(d_model); else undefined
  std::vector<Block> blocks_;
  std::vector<std::string> hook_names_;
  // Hook-name strings per layer, indexed by the LayerHook enum of transformer.cpp, built once so
  // a forward pass never formats strings.
  std::vector<std::vector<std::string>> layer_hook_names_;

  torch::Tensor norm(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b,
                     const std::string& scale_name, const std::string& normalized_name,
                     Hooks* hooks) const;
  torch::Tensor block_forward(int layer, torch::Tensor resid, const torch::Tensor& masked_out,
                              const torch::Tensor& cos, const torch::Tensor& sin,
                              Hooks* hooks) const;
};

}  // namespace csweep::model
