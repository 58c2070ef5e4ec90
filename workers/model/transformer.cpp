// HookedTransformer forward pass. Semantics follow TransformerLens's HookedTransformer on an
// unfolded model (fold_ln=False, no centering), which equals Hugging Face's forward pass:
//   * LayerNorm: hook_scale = sqrt(mean((x - mean x)^2) + eps), hook_normalized = (x - mean x) /
//     scale; the norm's output is normalized * w + b.
//   * RMSNorm: hook_scale = sqrt(mean(x^2) + eps), hook_normalized = x / scale; output normalized * w.
//   * attention scores are divided by sqrt(d_head); masked (causal and key-padding) positions hold
//     -inf in hook_attn_scores; grouped-query attention keeps n_kv_heads heads in hook_k/hook_v.
//   * RoPE uses the rotate-half convention of HF Llama / TransformerLens.
//   * Gemma: the norms multiply by the canonical weight, which holds HF's 1 + w; embeddings are
//     scaled by sqrt(d_model) rounded to the compute dtype (HF's embed_scale.to(weight dtype)) and
//     hook_embed sees the scaled value; scores are divided by attn_scale (sqrt of
//     query_pre_attn_scalar), soft-capped (Gemma 2) before masking, and hook_attn_scores sees them
//     capped and masked; local layers also mask keys q - k >= sliding_window and use their own
//     RoPE table. ln1_post normalises attention's output before the residual add, ln2_post the
//     MLP's: hook_attn_out / hook_mlp_out are the post-normed values (as TransformerLens hooks
//     them), hook_result the per-head outputs before ln1_post. QK-norm (Gemma 3) runs before RoPE
//     on [batch, head, pos, d_head] views: attn.q_norm.hook_* and attn.hook_q_normed see that
//     layout. The final logits are soft-capped (Gemma 2) in unembed().
//   * gated MLP: hook_pre = x @ W_gate + b_gate, hook_pre_linear = x @ W_in + b_in,
//     post = act(pre) * pre_linear (HF Llama's mlp_bias placement; Llama checkpoints without
//     MLP biases, the common case, agree with TransformerLens, which adds b_in after the product).
#include "workers/model/transformer.hpp"

#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "workers/model/hooks.hpp"
#include "workers/model/kernels.hpp"

namespace csweep::model {

// ---------------------------------------------------------------------------------------------
// Hooks

void Hooks::add(const std::string& hook_name, HookFn fn) {
  CSWEEP_ASSERT(fn != nullptr, "empty hook function for {}", hook_name);
  fns_[hook_name].push_back(std::move(fn));
}

void Hooks::cache_matching(const std::string& glob) {
  cache_globs_.push_back(glob);
  cache_match_memo_.clear();
}

bool Hooks::cached(const std::string& hook_name) const {
  if (cache_globs_.empty()) return false;
  auto it = cache_match_memo_.find(hook_name);
  if (it != cache_match_memo_.end()) return it->second;
  bool match = false;
  for (const auto& g : cache_globs_) match = match || glob_match(g, hook_name);
  cache_match_memo_.emplace(hook_name, match);
  return match;
}

bool Hooks::wants(const std::string& hook_name) const {
  return fns_.count(hook_name) != 0 || cached(hook_name);
}

void Hooks::apply(const std::string& hook_name, torch::Tensor& act) {
  if (!fns_.empty()) {
    auto it = fns_.find(hook_name);
    if (it != fns_.end()) {
      const auto sizes = act.sizes().vec();
      for (auto& fn : it->second) {
        fn(act, hook_name);
        CSWEEP_ASSERT(act.defined() && act.sizes().vec() == sizes,
                      "hook on {} changed the activation's shape", hook_name);
      }
    }
  }
  if (cached(hook_name)) cache_[hook_name] = act;
}

// ---------------------------------------------------------------------------------------------
// Construction: canonical (TransformerLens) parameters -> compute layout.

namespace {

// Per-layer hook points, in the order the names are stored in layer_hook_names_.
enum LayerHook : int {
  kResidPre,
  kLn1Scale,
  kLn1Normalized,
  kQ,
  kK,
  kV,
  kRotQ,
  kRotK,
  kAttnScores,
  kPattern,
  kZ,
  kResult,
  kAttnOut,
  kResidMid,
  kMlpIn,
  kLn2Scale,
  kLn2Normalized,
  kPre,
  kPreLinear,
  kPost,
  kMlpOut,
  kResidPost,
  kLn1PostScale,
  kLn1PostNormalized,
  kLn2PostScale,
  kLn2PostNormalized,
  kQNormScale,
  kQNormNormalized,
  kKNormScale,
  kKNormNormalized,
  kQNormed,
  kKNormed,
  kNumLayerHooks
};
constexpr const char* kLayerHookSuffix[kNumLayerHooks] = {
    "hook_resid_pre",        "ln1.hook_scale",      "ln1.hook_normalized",
    "attn.hook_q",           "attn.hook_k",         "attn.hook_v",
    "attn.hook_rot_q",       "attn.hook_rot_k",     "attn.hook_attn_scores",
    "attn.hook_pattern",     "attn.hook_z",         "attn.hook_result",
    "hook_attn_out",         "hook_resid_mid",      "hook_mlp_in",
    "ln2.hook_scale",        "ln2.hook_normalized", "mlp.hook_pre",
    "mlp.hook_pre_linear",   "mlp.hook_post",       "hook_mlp_out",
    "hook_resid_post",       "ln1_post.hook_scale", "ln1_post.hook_normalized",
    "ln2_post.hook_scale",   "ln2_post.hook_normalized",
    "attn.q_norm.hook_scale", "attn.q_norm.hook_normalized",
    "attn.k_norm.hook_scale", "attn.k_norm.hook_normalized",
    "attn.hook_q_normed",    "attn.hook_k_normed"};

const std::string kHookEmbed = "hook_embed";
const std::string kHookPosEmbed = "hook_pos_embed";
const std::string kHookLnfScale = "ln_final.hook_scale";
const std::string kHookLnfNormalized = "ln_final.hook_normalized";

// Parameter lookup with the error naming the model and the tensor.
class ParamTable {
 public:
  ParamTable(const LoadedModel& m, torch::Device device, torch::ScalarType dtype)
      : m_(m), device_(device), dtype_(dtype) {}

  // First of `names` present, converted; undefined if none and optional.
  torch::Tensor get(std::initializer_list<const char*> names, bool optional = false) const {
    for (const char* n : names) {
      auto it = m_.params.find(n);
      if (it != m_.params.end()) return it->second;
    }
    if (optional) return {};
    throw input_error(m_.source, fmt::format("missing parameter '{}'", *names.begin()));
  }
  torch::Tensor get(const std::string& name, bool optional = false) const {
    auto it = m_.params.find(name);
    if (it != m_.params.end()) return it->second;
    if (optional) return {};
    throw input_error(m_.source, fmt::format("missing parameter '{}'", name));
  }
  torch::Tensor to_device(const torch::Tensor& t) const {
    if (!t.defined()) return t;
    return t.to(device_, dtype_).contiguous();
  }
  const std::string& source() const { return m_.source; }

 private:
  const LoadedModel& m_;
  torch::Device device_;
  torch::ScalarType dtype_;
};

void check_shape(const torch::Tensor& t, std::vector<int64_t> expected, const std::string& name,
                 const std::string& source) {
  if (!t.defined()) return;
  if (t.sizes().vec() != expected) {
    throw input_error(source, fmt::format("parameter '{}' has the wrong shape", name),
                      fmt::format("[{}]", fmt::join(t.sizes().vec(), ", ")),
                      fmt::format("[{}]", fmt::join(expected, ", ")));
  }
}

bool all_zero(const torch::Tensor& t) { return !t.defined() || t.eq(0).all().item<bool>(); }

}  // namespace

HookedTransformer::HookedTransformer(const LoadedModel& model, torch::Device device,
                                     torch::ScalarType dtype)
    : cfg_(model.cfg), device_(device), dtype_(dtype) {
  // float64 is not offered to users (no speed, no peer computes in it) but lets tests compare two
  // numeric paths of the engine far below float32 rounding.
  CSWEEP_CHECK_INPUT(dtype == torch::kFloat32 || dtype == torch::kBFloat16 || dtype == torch::kHalf ||
                         dtype == torch::kFloat64,
                     "{}: unsupported compute dtype {} (expected float32, bfloat16, float16 or float64)",
                     model.source, c10::toString(dtype));
  if (dtype == torch::kHalf && device.is_cpu()) {
    // Some LibTorch builds (e.g. 1.13) have no float16 GEMM on the CPU; fail here, not mid-run.
    bool ok = true;
    try {
      (void)torch::mm(torch::ones({1, 1}, torch::kHalf), torch::ones({1, 1}, torch::kHalf));
    } catch (const c10::Error&) {
      ok = false;
    }
    CSWEEP_CHECK_INPUT(ok, "{}: this LibTorch has no float16 matrix product on the CPU; use "
                           "bfloat16 or float32 on the CPU, or float16 on a CUDA device",
                       model.source);
  }
  const auto& c = cfg_;
  const int64_t D = c.d_model, H = c.n_heads, K = c.n_kv_heads, Dh = c.d_head, M = c.d_mlp;
  CSWEEP_CHECK_INPUT(K > 0 && H % K == 0, "{}: n_heads {} is not a multiple of n_kv_heads {}",
                     model.source, H, K);
  const ParamTable p(model, device, dtype);
  const std::string& src = model.source;
  const bool rms = c.norm == NormKind::kRMSNorm;

  auto norm_params = [&](const std::string& prefix, torch::Tensor& w, torch::Tensor& b) {
    auto wt = p.get(prefix + ".w");
    check_shape(wt, {D}, prefix + ".w", src);
    w = p.to_device(wt);
    if (!rms) {
      auto bt = p.get(prefix + ".b", true);
      check_shape(bt, {D}, prefix + ".b", src);
      b = bt.defined() ? p.to_device(bt) : torch::zeros({D}, torch::TensorOptions(device).dtype(dtype));
    }
  };

  W_E_ = p.get({"embed.W_E"});
  check_shape(W_E_, {c.d_vocab, D}, "embed.W_E", src);
  if (c.positional == PosKind::kLearned) {
    auto wp = p.get({"pos_embed.W_pos"});
    check_shape(wp, {c.n_ctx, D}, "pos_embed.W_pos", src);
    W_pos_ = p.to_device(wp);
  }
  auto wu = p.get({"unembed.W_U"}, true);
  if (wu.defined()) {
    check_shape(wu, {D, c.d_vocab}, "unembed.W_U", src);
    W_U_ = p.to_device(wu);
  } else {
    CSWEEP_CHECK_INPUT(c.tied_embeddings, "{}: missing parameter 'unembed.W_U' (embeddings not tied)",
                       src);
    W_U_ = p.to_device(W_E_.t());
  }
  W_E_ = p.to_device(W_E_);
  if (c.scale_embed) {
    // HF: torch.tensor(hidden_size ** 0.5) is float32, cast to the weights' dtype before the product.
    embed_scale_ = torch::scalar_tensor(static_cast<float>(std::sqrt(static_cast<double>(D))),
                                        torch::kFloat32)
                       .to(device, dtype);
  }
  auto bu = p.get({"unembed.b_U"}, true);
  check_shape(bu, {c.d_vocab}, "unembed.b_U", src);
  if (!all_zero(bu)) b_U_ = p.to_device(bu);
  norm_params("ln_final", lnf_w_, lnf_b_);

  if (c.positional == PosKind::kRotary) {
    const int rd = c.rotary_dim > 0 ? c.rotary_dim : c.d_head;
    CSWEEP_CHECK_INPUT(rd % 2 == 0 && rd <= c.d_head, "{}: rotary_dim {} must be even and <= d_head {}",
                       src, rd, c.d_head);
    cfg_.rotary_dim = rd;
    // Angles in float64, then rounded once to the compute dtype. Linear scaling (Gemma 3's
    // global layers) divides the frequencies by the factor, as HF's "linear" rope_type does.
    auto table = [&](double base, double scale, torch::Tensor& cos, torch::Tensor& sin) {
      auto inv_freq = torch::pow(base, -torch::arange(0, rd, 2, torch::kFloat64) / rd) / scale;
      auto pos = torch::arange(0, c.n_ctx, torch::kFloat64);
      auto ang = torch::outer(pos, inv_freq);
      ang = torch::cat({ang, ang}, -1);  // [n_ctx, rd]
      cos = ang.cos().to(device, dtype);
      sin = ang.sin().to(device, dtype);
    };
    table(c.rotary_base, c.rotary_scale, rope_cos_, rope_sin_);
    const double local_base = c.rotary_base_local > 0.0 ? c.rotary_base_local : c.rotary_base;
    if (local_base != c.rotary_base || c.rotary_scale != 1.0) {
      table(local_base, 1.0, rope_cos_local_, rope_sin_local_);
    } else {
      rope_cos_local_ = rope_cos_;
      rope_sin_local_ = rope_sin_;
    }
  }

  blocks_.resize(c.n_layers);
  for (int l = 0; l < c.n_layers; ++l) {
    Block& blk = blocks_[l];
    const std::string b = "blocks." + std::to_string(l) + ".";
    norm_params(b + "ln1", blk.ln1_w, blk.ln1_b);
    norm_params(b + "ln2", blk.ln2_w, blk.ln2_b);
    // Gemma's extra norms: RMSNorm only, weights without a bias.
    auto rms_weight = [&](const std::string& name, int64_t n) {
      auto t = p.get(name);
      check_shape(t, {n}, name, src);
      return p.to_device(t);
    };
    if (c.post_norms) {
      CSWEEP_CHECK_INPUT(rms, "{}: post-attention/post-MLP norms need RMSNorm", src);
      blk.ln1_post_w = rms_weight(b + "ln1_post.w", D);
      blk.ln2_post_w = rms_weight(b + "ln2_post.w", D);
    }
    if (c.qk_norm) {
      CSWEEP_CHECK_INPUT(rms, "{}: QK-norm needs RMSNorm", src);
      blk.q_norm_w = rms_weight(b + "attn.q_norm.w", Dh);
      blk.k_norm_w = rms_weight(b + "attn.k_norm.w", Dh);
    }

    // Q/K/V fused into one [d_model, (H + 2K) * d_head] matrix: one GEMM per layer.
    auto WQ = p.get({(b + "attn.W_Q").c_str()});
    auto WK = p.get({(b + "attn.W_K").c_str(), (b + "attn._W_K").c_str()});
    auto WV = p.get({(b + "attn.W_V").c_str(), (b + "attn._W_V").c_str()});
    check_shape(WQ, {H, D, Dh}, b + "attn.W_Q", src);
    check_shape(WK, {K, D, Dh}, b + "attn.W_K", src);
    check_shape(WV, {K, D, Dh}, b + "attn.W_V", src);
    auto flat_w = [&](const torch::Tensor& w) { return w.permute({1, 0, 2}).reshape({D, -1}); };
    blk.W_QKV = p.to_device(torch::cat({flat_w(WQ), flat_w(WK), flat_w(WV)}, 1));
    auto bQ = p.get({(b + "attn.b_Q").c_str()}, true);
    auto bK = p.get({(b + "attn.b_K").c_str(), (b + "attn._b_K").c_str()}, true);
    auto bV = p.get({(b + "attn.b_V").c_str(), (b + "attn._b_V").c_str()}, true);
    check_shape(bQ, {H, Dh}, b + "attn.b_Q", src);
    check_shape(bK, {K, Dh}, b + "attn.b_K", src);
    check_shape(bV, {K, Dh}, b + "attn.b_V", src);
    if (!(all_zero(bQ) && all_zero(bK) && all_zero(bV))) {
      auto z = [&](const torch::Tensor& t, int64_t n) {
        return t.defined() ? t.reshape({-1}).to(torch::kFloat32) : torch::zeros({n * Dh}, torch::kFloat32);
      };
      blk.b_QKV = p.to_device(torch::cat({z(bQ, H).cpu(), z(bK, K).cpu(), z(bV, K).cpu()}));
      blk.b_Q = blk.b_QKV.narrow(0, 0, H * Dh);
      blk.b_K = blk.b_QKV.narrow(0, H * Dh, K * Dh);
      blk.b_V = blk.b_QKV.narrow(0, (H + K) * Dh, K * Dh);
    }
    blk.W_Q = blk.W_QKV.narrow(1, 0, H * Dh);
    blk.W_K = blk.W_QKV.narrow(1, H * Dh, K * Dh);
    blk.W_V = blk.W_QKV.narrow(1, (H + K) * Dh, K * Dh);

    auto WO = p.get({(b + "attn.W_O").c_str()});
    check_shape(WO, {H, Dh, D}, b + "attn.W_O", src);
    blk.W_O = p.to_device(WO.reshape({H * Dh, D}));
    auto bO = p.get({(b + "attn.b_O").c_str()}, true);
    check_shape(bO, {D}, b + "attn.b_O", src);
    if (!all_zero(bO)) blk.b_O = p.to_device(bO);

    auto Win = p.get({(b + "mlp.W_in").c_str()});
    check_shape(Win, {D, M}, b + "mlp.W_in", src);
    auto bin = p.get({(b + "mlp.b_in").c_str()}, true);
    check_shape(bin, {M}, b + "mlp.b_in", src);
    if (!all_zero(bin)) blk.b_in = p.to_device(bin);
    if (c.gated_mlp) {
      auto Wg = p.get({(b + "mlp.W_gate").c_str()});
      check_shape(Wg, {D, M}, b + "mlp.W_gate", src);
      blk.W_gate_in = p.to_device(torch::cat({Wg, Win}, 1));
      blk.W_gate = blk.W_gate_in.narrow(1, 0, M);
      blk.W_in = blk.W_gate_in.narrow(1, M, M);
      auto bg = p.get({(b + "mlp.b_gate").c_str()}, true);
      check_shape(bg, {M}, b + "mlp.b_gate", src);
      if (!(all_zero(bg) && all_zero(bin))) {
        auto zb = [&](const torch::Tensor& t) {
          return t.defined() ? t.to(torch::kFloat32) : torch::zeros({M}, torch::kFloat32);
        };
        blk.b_gate_in = p.to_device(torch::cat({zb(bg), zb(bin)}));
        blk.b_gate = blk.b_gate_in.narrow(0, 0, M);
        blk.b_in = blk.b_gate_in.narrow(0, M, M);
      }
    } else {
      blk.W_in = p.to_device(Win);
    }
    auto Wout = p.get({(b + "mlp.W_out").c_str()});
    check_shape(Wout, {M, D}, b + "mlp.W_out", src);
    blk.W_out = p.to_device(Wout);
    auto bout = p.get({(b + "mlp.b_out").c_str()}, true);
    check_shape(bout, {D}, b + "mlp.b_out", src);
    if (!all_zero(bout)) blk.b_out = p.to_device(bout);
  }

  hook_names_ = csweep::model::hook_names(cfg_);
  layer_hook_names_.resize(c.n_layers);
  for (int l = 0; l < c.n_layers; ++l) {
    for (int h = 0; h < kNumLayerHooks; ++h) {
      layer_hook_names_[l].push_back("blocks." + std::to_string(l) + "." + kLayerHookSuffix[h]);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Forward pass

namespace {

inline void hook(Hooks* hooks, const std::string& name, torch::Tensor& act) {
  if (hooks) hooks->apply(name, act);
}

}  // namespace

torch::Tensor HookedTransformer::norm(const torch::Tensor& x_in, const torch::Tensor& w,
                                      const torch::Tensor& b, const std::string& scale_name,
                                      const std::string& normalized_name, Hooks* hooks) const {
  const bool rms = cfg_.norm == NormKind::kRMSNorm;
  const double eps = cfg_.norm_eps;
  // Half-precision models normalise in float32 (as TransformerLens and HF do for RMSNorm).
  const bool up = is_half(dtype_);
  const auto x = up ? x_in.to(torch::kFloat32) : x_in;
  const bool hooked = hooks && (hooks->wants(scale_name) || hooks->wants(normalized_name));
  if (!hooked) {
    if (!rms) {
      const auto y = torch::layer_norm(x, {cfg_.d_model}, up ? w.to(torch::kFloat32) : w,
                                       up ? b.to(torch::kFloat32) : b, eps);
      return up ? y.to(dtype_) : y;
    }
    const auto y = x * torch::rsqrt(x.pow(2).mean(-1, true) + eps);
    return (up ? y.to(dtype_) : y) * w;
  }
  const auto xc = rms ? x : x - x.mean(-1, true);
  auto scale = (xc.pow(2).mean(-1, true) + eps).sqrt();  // [batch, pos, 1]
  hook(hooks, scale_name, scale);
  auto y = xc / scale;
  if (up) y = y.to(dtype_);
  hook(hooks, normalized_name, y);
  return rms ? y * w : y * w + b;
}

torch::Tensor HookedTransformer::embed(const torch::Tensor& tokens, Hooks* hooks) const {
  c10::InferenceMode guard;
  if (hooks && hooks->empty()) hooks = nullptr;
  CSWEEP_CHECK_INPUT(tokens.dim() == 2, "tokens must be [batch, pos], got {} dimensions", tokens.dim());
  const int64_t B = tokens.size(0), P = tokens.size(1);
  CSWEEP_CHECK_INPUT(P <= cfg_.n_ctx, "sequence of {} tokens exceeds the model's context of {}", P,
                     cfg_.n_ctx);
  const auto ids = tokens.to(device_, torch::kLong).reshape({-1});
  auto x = W_E_.index_select(0, ids).view({B, P, cfg_.d_model});
  if (embed_scale_.defined()) x = x * embed_scale_;
  hook(hooks, kHookEmbed, x);
  if (cfg_.positional != PosKind::kLearned) return x;
  auto pos = W_pos_.narrow(0, 0, P).unsqueeze(0).expand({B, P, cfg_.d_model});
  hook(hooks, kHookPosEmbed, pos);
  return x + pos;
}

torch::Tensor HookedTransformer::block_forward(int l, torch::Tensor resid,
                                               const torch::Tensor& masked_out,
                                               const torch::Tensor& cos, const torch::Tensor& sin,
                                               Hooks* hooks) const {
  const Block& w = blocks_[l];
  const auto& names = layer_hook_names_[l];
  const int64_t B = resid.size(0), P = resid.size(1), D = cfg_.d_model;
  const int64_t H = cfg_.n_heads, K = cfg_.n_kv_heads, G = H / K, Dh = cfg_.d_head, M = cfg_.d_mlp;

  hook(hooks, names[kResidPre], resid);

  // ---- attention
  const auto x = norm(resid, w.ln1_w, w.ln1_b, names[kLn1Scale], names[kLn1Normalized], hooks);
  const auto x2d = x.reshape({B * P, D});
  const auto qkv = (w.b_QKV.defined() ? torch::addmm(w.b_QKV, x2d, w.W_QKV) : torch::mm(x2d, w.W_QKV))
                       .view({B, P, H + 2 * K, Dh});
  auto q = qkv.narrow(2, 0, H);   // [batch, pos, head, d_head]
  auto k = qkv.narrow(2, H, K);   // [batch, pos, kv_head, d_head]
  auto v = qkv.narrow(2, H + K, K);
  hook(hooks, names[kQ], q);
  hook(hooks, names[kK], k);
  hook(hooks, names[kV], v);
  if (cfg_.qk_norm) {
    // Normalised over d_head per head, on [batch, head, pos, d_head] views (TransformerLens's
    // layout for these hooks); back to [batch, pos, head, d_head] for RoPE.
    auto qk_norm = [&](const torch::Tensor& t, const torch::Tensor& wt, int scale, int normalized,
                       int normed) {
      auto n = norm(t.permute({0, 2, 1, 3}), wt, {}, names[scale], names[normalized], hooks);
      hook(hooks, names[normed], n);
      return n.permute({0, 2, 1, 3});
    };
    q = qk_norm(q, w.q_norm_w, kQNormScale, kQNormNormalized, kQNormed);
    k = qk_norm(k, w.k_norm_w, kKNormScale, kKNormNormalized, kKNormed);
  }
  if (cos.defined()) {
    q = apply_rotary(q, cos, sin, cfg_.rotary_dim);
    k = apply_rotary(k, cos, sin, cfg_.rotary_dim);
    if (cfg_.family != Family::kGPTNeoX) {  // not hook points of a NeoX model (hooks.cpp)
      hook(hooks, names[kRotQ], q);
      hook(hooks, names[kRotK], k);
    }
  }
  // Grouped layout: query head h uses kv head h / G (TransformerLens's repeat_interleave), so
  // queries are viewed as [batch, kv_head, group, pos, d_head] and keys broadcast over the group.
  const auto qh = q.permute({0, 2, 1, 3}).reshape({B, K, G, P, Dh});
  const auto kh = k.permute({0, 2, 3, 1}).unsqueeze(2);  // [batch, kv_head, 1, d_head, pos]
  const auto vh = v.permute({0, 2, 1, 3}).unsqueeze(2);  // [batch, kv_head, 1, pos, d_head]
  auto scores = torch::matmul(qh, kh).view({B, H, P, P});
  scores.mul_(1.0 / (cfg_.attn_scale > 0.0 ? cfg_.attn_scale : std::sqrt(static_cast<double>(Dh))));
  if (cfg_.attn_softcap > 0.0) {
    // HF Gemma 2: scores / cap, tanh, * cap, all before the mask is added.
    scores.div_(cfg_.attn_softcap).tanh_().mul_(cfg_.attn_softcap);
  }
  scores.masked_fill_(masked_out, -std::numeric_limits<double>::infinity());
  hook(hooks, names[kAttnScores], scores);
  auto pattern = is_half(dtype_) ? torch::softmax(scores, -1, torch::kFloat32).to(dtype_)
                                 : torch::softmax(scores, -1);
  if (masked_out.size(0) != 1) {
    // A query row with every key masked (left padding) softmaxes to NaN; TransformerLens zeroes it.
    pattern = pattern.masked_fill(pattern.isnan(), 0.0);
  }
  hook(hooks, names[kPattern], pattern);
  auto z = torch::matmul(pattern.reshape({B, K, G, P, P}), vh)  // [batch, kv_head, group, pos, d_head]
               .view({B, H, P, Dh})
               .permute({0, 2, 1, 3});  // [batch, pos, head, d_head]
  hook(hooks, names[kZ], z);
  torch::Tensor attn_out;
  if (hooks && hooks->wants(names[kResult])) {
    // One batched GEMM per head: [head, batch*pos, d_head] x [head, d_head, d_model].
    auto result = torch::bmm(z.permute({2, 0, 1, 3}).reshape({H, B * P, Dh}), w.W_O.view({H, Dh, D}))
                      .view({H, B, P, D})
                      .permute({1, 2, 0, 3});  // [batch, pos, head, d_model]
    hook(hooks, names[kResult], result);
    attn_out = result.sum(2);
    if (w.b_O.defined()) attn_out = attn_out + w.b_O;
  } else {
    const auto z2d = z.reshape({B * P, H * Dh});
    attn_out = (w.b_O.defined() ? torch::addmm(w.b_O, z2d, w.W_O) : torch::mm(z2d, w.W_O)).view({B, P, D});
  }
  if (w.ln1_post_w.defined())
    attn_out = norm(attn_out, w.ln1_post_w, {}, names[kLn1PostScale], names[kLn1PostNormalized], hooks);
  hook(hooks, names[kAttnOut], attn_out);
  auto resid_mid = resid + attn_out;
  // A parallel (GPT-NeoX) block has no resid_mid hook point: its MLP reads resid_pre too.
  if (!cfg_.parallel_attn_mlp) hook(hooks, names[kResidMid], resid_mid);

  // ---- MLP
  auto mlp_in = cfg_.parallel_attn_mlp ? resid : resid_mid;
  hook(hooks, names[kMlpIn], mlp_in);
  const auto y = norm(mlp_in, w.ln2_w, w.ln2_b, names[kLn2Scale], names[kLn2Normalized], hooks);
  const auto y2d = y.reshape({B * P, D});
  torch::Tensor post;
  if (cfg_.gated_mlp) {
    const auto gi = (w.b_gate_in.defined() ? torch::addmm(w.b_gate_in, y2d, w.W_gate_in)
                                           : torch::mm(y2d, w.W_gate_in))
                        .view({B, P, 2 * M});
    auto pre = gi.narrow(2, 0, M);
    auto pre_linear = gi.narrow(2, M, M);
    hook(hooks, names[kPre], pre);
    hook(hooks, names[kPreLinear], pre_linear);
    post = activation(pre, cfg_.act_fn) * pre_linear;
  } else {
    auto pre = (w.b_in.defined() ? torch::addmm(w.b_in, y2d, w.W_in) : torch::mm(y2d, w.W_in)).view({B, P, M});
    hook(hooks, names[kPre], pre);
    post = activation(pre, cfg_.act_fn);
  }
  hook(hooks, names[kPost], post);
  const auto post2d = post.reshape({B * P, M});
  auto mlp_out =
      (w.b_out.defined() ? torch::addmm(w.b_out, post2d, w.W_out) : torch::mm(post2d, w.W_out)).view({B, P, D});
  if (w.ln2_post_w.defined())
    mlp_out = norm(mlp_out, w.ln2_post_w, {}, names[kLn2PostScale], names[kLn2PostNormalized], hooks);
  hook(hooks, names[kMlpOut], mlp_out);
  auto resid_post = resid_mid + mlp_out;
  hook(hooks, names[kResidPost], resid_post);
  return resid_post;
}

torch::Tensor HookedTransformer::run_blocks(torch::Tensor resid, int first_layer, int end_layer,
                                            Hooks* hooks, const ForwardOptions& opt) const {
  c10::InferenceMode guard;
  if (hooks && hooks->empty()) hooks = nullptr;
  CSWEEP_ASSERT(0 <= first_layer && first_layer <= end_layer && end_layer <= cfg_.n_layers,
                "layer range [{}, {}) outside [0, {}]", first_layer, end_layer, cfg_.n_layers);
  CSWEEP_ASSERT(resid.dim() == 3 && resid.size(2) == cfg_.d_model, "resid must be [batch, pos, {}]",
                cfg_.d_model);
  if (first_layer == end_layer) return resid;
  const int64_t B = resid.size(0), P = resid.size(1);
  CSWEEP_CHECK_INPUT(P <= cfg_.n_ctx, "sequence of {} positions exceeds the model's context of {}", P,
                     cfg_.n_ctx);
  if (resid.device() != device_ || resid.scalar_type() != dtype_) resid = resid.to(device_, dtype_);

  // masked_out [batch or 1, 1, query_pos, key_pos]: true where attention is forbidden (future keys,
  // and padding keys when a mask is given). Built once per call, shared by every layer.
  const auto opts = torch::TensorOptions().device(device_).dtype(torch::kBool);
  auto masked_out = torch::ones({P, P}, opts).triu(1).view({1, 1, P, P});
  if (opt.attention_mask.defined()) {
    const auto& am = opt.attention_mask;
    CSWEEP_CHECK_INPUT(am.dim() == 2 && am.size(0) == B && am.size(1) == P,
                       "attention_mask must be [batch={}, pos={}], got [{}]", B, P,
                       fmt::join(am.sizes().vec(), ", "));
    const auto pad = am.to(device_).eq(0).view({B, 1, 1, P});
    masked_out = masked_out.logical_or(pad);
  }
  // Local (sliding-window) layers also forbid keys q - k >= window.
  torch::Tensor masked_local = masked_out;
  if (cfg_.sliding_window > 0 && cfg_.sliding_window < P) {
    const auto idx = torch::arange(P, torch::TensorOptions().device(device_).dtype(torch::kLong));
    const auto far = (idx.view({P, 1}) - idx.view({1, P})).ge(cfg_.sliding_window).view({1, 1, P, P});
    masked_local = masked_out.logical_or(far);
  }
  torch::Tensor cos, sin, cos_local, sin_local;
  if (cfg_.positional == PosKind::kRotary) {
    cos = rope_cos_.narrow(0, 0, P);
    sin = rope_sin_.narrow(0, 0, P);
    cos_local = rope_cos_local_.narrow(0, 0, P);
    sin_local = rope_sin_local_.narrow(0, 0, P);
  }
  for (int l = first_layer; l < end_layer; ++l) {
    if (cfg_.is_sliding(l))
      resid = block_forward(l, std::move(resid), masked_local, cos_local, sin_local, hooks);
    else
      resid = block_forward(l, std::move(resid), masked_out, cos, sin, hooks);
  }
  return resid;
}

torch::Tensor HookedTransformer::final_norm(const torch::Tensor& resid, Hooks* hooks) const {
  c10::InferenceMode guard;
  if (hooks && hooks->empty()) hooks = nullptr;
  return norm(resid, lnf_w_, lnf_b_, kHookLnfScale, kHookLnfNormalized, hooks);
}

torch::Tensor HookedTransformer::unembed(const torch::Tensor& normalized, const torch::Tensor& cols) const {
  c10::InferenceMode guard;
  const auto x = normalized.to(device_, dtype_);
  torch::Tensor logits;
  if (cols.defined()) {
    const auto idx = cols.to(device_, torch::kLong);
    logits = torch::matmul(x, W_U_.index_select(1, idx));
    if (b_U_.defined()) logits = logits + b_U_.index_select(0, idx);
  } else {
    logits = torch::matmul(x, W_U_);
    if (b_U_.defined()) logits = logits + b_U_;
  }
  if (cfg_.final_softcap > 0.0) {
    // HF Gemma 2: logits / cap, tanh, * cap, in the model's dtype.
    logits = torch::tanh(logits / cfg_.final_softcap) * cfg_.final_softcap;
  }
  return logits.to(result_dtype(dtype_));
}

torch::Tensor HookedTransformer::forward(const torch::Tensor& tokens, Hooks* hooks,
                                         const ForwardOptions& opt) const {
  c10::InferenceMode guard;
  if (hooks && hooks->empty()) hooks = nullptr;
  auto resid = embed(tokens, hooks);
  resid = run_blocks(std::move(resid), 0, cfg_.n_layers, hooks, opt);
  return unembed(final_norm(resid, hooks));
}

}  // namespace csweep::model
