// Implementation of workers/model/config.hpp. It lives in the torch-free io library because the
// checkpoint-config parsers (hf_config, GGUF metadata) and their fuzzers need validate() and
// canonical_params() without linking LibTorch.
#include <fmt/format.h>

#include <fmt/ranges.h>

#include <limits>

#include "core/error.hpp"
#include "vocab/model_families.hpp"
#include "workers/model/config.hpp"

namespace csweep::model {

const char* to_string(Family f) { return vocab::model_families().name(f).c_str(); }
const char* to_string(NormKind k) {
  switch (k) {
    case NormKind::kLayerNorm: return "LayerNorm";
    case NormKind::kRMSNorm: return "RMSNorm";
  }
  return "?";
}
const char* to_string(PosKind k) {
  switch (k) {
    case PosKind::kLearned: return "learned";
    case PosKind::kRotary: return "rotary";
  }
  return "?";
}
const char* to_string(ActFn a) {
  switch (a) {
    case ActFn::kGeluNew: return "gelu_new";
    case ActFn::kGelu: return "gelu";
    case ActFn::kSilu: return "silu";
    case ActFn::kRelu: return "relu";
  }
  return "?";
}

std::vector<ParamSpec> canonical_params(const ModelConfig& c) {
  using S = std::vector<std::int64_t>;
  const std::int64_t V = c.d_vocab, D = c.d_model, H = c.n_heads, K = c.n_kv_heads,
                     E = c.d_head, M = c.d_mlp, C = c.n_ctx;
  const bool has_norm_bias = c.norm == NormKind::kLayerNorm;
  std::vector<ParamSpec> p;
  p.push_back({"embed.W_E", S{V, D}});
  if (c.positional == PosKind::kLearned) p.push_back({"pos_embed.W_pos", S{C, D}});
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string b = fmt::format("blocks.{}.", l);
    p.push_back({b + "ln1.w", S{D}});
    if (has_norm_bias) p.push_back({b + "ln1.b", S{D}});
    // Gemma's sandwich norms: ln1_post on attention's output, ln2_post on the MLP's.
    if (c.post_norms) p.push_back({b + "ln1_post.w", S{D}});
    p.push_back({b + "attn.W_Q", S{H, D, E}});
    p.push_back({b + "attn.W_K", S{K, D, E}});
    p.push_back({b + "attn.W_V", S{K, D, E}});
    p.push_back({b + "attn.W_O", S{H, E, D}});
    // Bias-free families (Llama) may omit attention/MLP biases; the model treats them as zero.
    const bool qkv_bias = c.attn_bias || c.qkv_bias;
    p.push_back({b + "attn.b_Q", S{H, E}, !qkv_bias});
    p.push_back({b + "attn.b_K", S{K, E}, !qkv_bias});
    p.push_back({b + "attn.b_V", S{K, E}, !qkv_bias});
    p.push_back({b + "attn.b_O", S{D}, !c.attn_bias});
    // Gemma 3's QK-norm: one RMSNorm weight over d_head shared by all (query / kv) heads.
    if (c.qk_norm) {
      p.push_back({b + "attn.q_norm.w", S{E}});
      p.push_back({b + "attn.k_norm.w", S{E}});
    }
    // Parallel (GPT-NeoX) blocks also have a second norm, applied to the same residual.
    p.push_back({b + "ln2.w", S{D}});
    if (has_norm_bias) p.push_back({b + "ln2.b", S{D}});
    p.push_back({b + "mlp.W_in", S{D, M}});
    p.push_back({b + "mlp.b_in", S{M}, !c.mlp_bias});
    if (c.gated_mlp) {
      p.push_back({b + "mlp.W_gate", S{D, M}});
      // TransformerLens has no gate bias; Llama's mlp_bias=true puts one on gate_proj, so it gets
      // its own name rather than being silently dropped.
      if (c.mlp_bias) p.push_back({b + "mlp.b_gate", S{M}});
    }
    p.push_back({b + "mlp.W_out", S{M, D}});
    p.push_back({b + "mlp.b_out", S{D}, !c.mlp_bias});
    if (c.post_norms) p.push_back({b + "ln2_post.w", S{D}});
  }
  p.push_back({"ln_final.w", S{D}});
  if (has_norm_bias) p.push_back({"ln_final.b", S{D}});
  p.push_back({"unembed.W_U", S{D, V}});
  p.push_back({"unembed.b_U", S{V}, !c.unembed_bias});
  return p;
}

namespace {

// Counts parameters with overflow checks so absurd configs are rejected instead of wrapping.
std::int64_t count_params(const ModelConfig& c, bool include_embed) {
  std::int64_t total = 0;
  for (const auto& p : canonical_params(c)) {
    if (p.optional) continue;
    const bool is_embed = p.name.rfind("embed.", 0) == 0 || p.name.rfind("pos_embed.", 0) == 0 ||
                          p.name.rfind("unembed.", 0) == 0;
    if (is_embed && !include_embed) continue;
    // A tied unembedding shares the embedding's storage: counted once, as HF does.
    if (p.name == "unembed.W_U" && c.tied_embeddings) continue;
    std::int64_t n = 1;
    for (auto d : p.shape) {
      if (d < 0 || __builtin_mul_overflow(n, d, &n))
        throw InputError(fmt::format("parameter count of {} overflows", p.name));
    }
    if (__builtin_add_overflow(total, n, &total))
      throw InputError("total parameter count overflows");
  }
  return total;
}

}  // namespace

std::int64_t ModelConfig::n_params_nonembed() const { return count_params(*this, false); }
std::int64_t ModelConfig::n_params_total() const { return count_params(*this, true); }

void ModelConfig::validate(const std::string& source) const {
  // Upper bounds are far above any real model yet keep every product in int64 (fuzzed configs).
  constexpr int kMaxDim = 1 << 24;
  constexpr int kMaxLayers = 1 << 12;
  auto positive = [&](const char* field, int v, int max) {
    if (v <= 0 || v > max)
      throw input_error(source, fmt::format("model config field {} out of range", field),
                        std::to_string(v), fmt::format("1..{}", max));
  };
  positive("n_layers", n_layers, kMaxLayers);
  positive("n_heads", n_heads, kMaxDim);
  positive("n_kv_heads", n_kv_heads, kMaxDim);
  positive("d_model", d_model, kMaxDim);
  positive("d_head", d_head, kMaxDim);
  positive("d_mlp", d_mlp, kMaxDim);
  positive("n_ctx", n_ctx, kMaxDim);
  positive("d_vocab", d_vocab, kMaxDim);
  if (n_heads % n_kv_heads != 0)
    throw input_error(source, "n_heads must be a multiple of n_kv_heads (grouped-query attention)",
                      fmt::format("n_heads={}, n_kv_heads={}", n_heads, n_kv_heads));
  if (!(norm_eps > 0.0) || !(norm_eps < 1.0))
    throw input_error(source, "norm epsilon out of range", fmt::format("{}", norm_eps),
                      "0 < eps < 1");
  if (positional == PosKind::kRotary) {
    if (rotary_dim <= 0 || rotary_dim > d_head || rotary_dim % 2 != 0)
      throw input_error(source, "rotary_dim out of range", std::to_string(rotary_dim),
                        fmt::format("an even number in 2..d_head={}", d_head));
    if (!(rotary_base > 1.0) || rotary_base == std::numeric_limits<double>::infinity())
      throw input_error(source, "rope theta out of range", fmt::format("{}", rotary_base),
                        "a finite number > 1");
  }
  auto nonneg = [&](const char* field, double v) {
    if (!(v >= 0.0) || v == std::numeric_limits<double>::infinity())
      throw input_error(source, fmt::format("model config field {} out of range", field),
                        fmt::format("{}", v), "a finite number >= 0 (0 = off)");
  };
  nonneg("attn_scale", attn_scale);
  nonneg("attn_softcap", attn_softcap);
  nonneg("final_softcap", final_softcap);
  nonneg("rotary_base_local", rotary_base_local);
  if (!(rotary_scale >= 1.0) || rotary_scale == std::numeric_limits<double>::infinity())
    throw input_error(source, "model config field rotary_scale out of range",
                      fmt::format("{}", rotary_scale), "a finite factor >= 1");
  if (rotary_base_local != 0.0 && !(rotary_base_local > 1.0))
    throw input_error(source, "local rope theta out of range", fmt::format("{}", rotary_base_local),
                      "a finite number > 1 (or 0 = the global theta)");
  if (sliding_window < 0)
    throw input_error(source, "model config field sliding_window out of range",
                      std::to_string(sliding_window), ">= 0 (0 = no local layers)");
  if (!sliding_layers.empty() && static_cast<int>(sliding_layers.size()) != n_layers)
    throw input_error(source, "layer types do not cover every layer",
                      fmt::format("{} entries", sliding_layers.size()),
                      fmt::format("n_layers={} entries", n_layers));
  if (gated_mlp && act_fn != ActFn::kSilu && act_fn != ActFn::kGelu &&
      act_fn != ActFn::kGeluNew)
    throw input_error(source, "gated MLP with an unsupported activation", ::csweep::model::to_string(act_fn),
                      "silu, gelu or gelu_new");
  try {
    (void)n_params_total();
  } catch (const InputError& e) {
    throw input_error(source, e.what());
  }
}

namespace {

// The architecture features that set a model apart from a plain sequential block with full-head
// RoPE or learned positions, for `csweep inspect`.
std::string features(const ModelConfig& c) {
  std::vector<std::string> f;
  if (c.parallel_attn_mlp) f.emplace_back("parallel attention+MLP");
  if (c.n_kv_heads > 0 && c.n_kv_heads != c.n_heads)
    f.push_back(fmt::format("grouped-query attention ({} query / {} kv heads)", c.n_heads, c.n_kv_heads));
  if (c.attn_bias) f.emplace_back("attention biases");
  else if (c.qkv_bias) f.emplace_back("q/k/v biases");
  if (c.positional == PosKind::kRotary && c.rotary_dim > 0 && c.rotary_dim < c.d_head)
    f.push_back(fmt::format("partial rotary ({} of {} dims)", c.rotary_dim, c.d_head));
  if (c.gated_mlp) f.emplace_back("gated MLP");
  if (c.post_norms) f.emplace_back("post-attention/post-MLP norms");
  if (c.qk_norm) f.emplace_back("QK-norm");
  if (c.scale_embed) f.emplace_back("embeddings scaled by sqrt(d_model)");
  if (c.attn_scale > 0.0) f.push_back(fmt::format("attention scores / {}", c.attn_scale));
  if (c.attn_softcap > 0.0) f.push_back(fmt::format("attention soft-capping {}", c.attn_softcap));
  if (c.final_softcap > 0.0) f.push_back(fmt::format("final logit soft-capping {}", c.final_softcap));
  int local = 0;
  for (int l = 0; l < c.n_layers; ++l) local += c.is_sliding(l) ? 1 : 0;
  if (local > 0) {
    std::string theta;
    if (c.rotary_base_local > 0.0 && c.rotary_base_local != c.rotary_base)
      theta = fmt::format(", RoPE theta {} local / {} global", c.rotary_base_local, c.rotary_base);
    f.push_back(fmt::format("sliding window {} on {} of {} layers{}", c.sliding_window, local,
                            c.n_layers, theta));
  }
  if (c.rotary_scale != 1.0) f.push_back(fmt::format("linear RoPE scaling {} (global layers)", c.rotary_scale));
  f.emplace_back(c.tied_embeddings ? "tied embeddings" : "untied embeddings");
  return fmt::format("{}", fmt::join(f, ", "));
}

}  // namespace

std::string ModelConfig::to_string() const {
  std::string s;
  auto line = [&](const char* k, const std::string& v) { s += fmt::format("{}: {}\n", k, v); };
  line("family", ::csweep::model::to_string(family));
  line("features", features(*this));
  line("name", name);
  line("n_layers", std::to_string(n_layers));
  line("n_heads", std::to_string(n_heads));
  line("n_kv_heads", std::to_string(n_kv_heads));
  line("d_model", std::to_string(d_model));
  line("d_head", std::to_string(d_head));
  line("d_mlp", std::to_string(d_mlp));
  line("n_ctx", std::to_string(n_ctx));
  line("d_vocab", std::to_string(d_vocab));
  line("act_fn", ::csweep::model::to_string(act_fn));
  line("gated_mlp", gated_mlp ? "true" : "false");
  line("norm", ::csweep::model::to_string(norm));
  line("norm_eps", fmt::format("{}", norm_eps));
  line("positional", ::csweep::model::to_string(positional));
  line("rotary_dim", std::to_string(rotary_dim));
  line("rotary_base", fmt::format("{}", rotary_base));
  line("parallel_attn_mlp", parallel_attn_mlp ? "true" : "false");
  line("tied_embeddings", tied_embeddings ? "true" : "false");
  line("attn_bias", attn_bias ? "true" : "false");
  line("qkv_bias", qkv_bias ? "true" : "false");
  line("mlp_bias", mlp_bias ? "true" : "false");
  line("unembed_bias", unembed_bias ? "true" : "false");
  line("post_norms", post_norms ? "true" : "false");
  line("qk_norm", qk_norm ? "true" : "false");
  line("scale_embed", scale_embed ? "true" : "false");
  line("attn_scale", fmt::format("{}", attn_scale));
  line("attn_softcap", fmt::format("{}", attn_softcap));
  line("final_softcap", fmt::format("{}", final_softcap));
  line("sliding_window", std::to_string(sliding_window));
  {
    std::string layers;
    for (int l = 0; l < n_layers; ++l) layers += is_sliding(l) ? 'L' : 'G';
    line("layer_types", layers.empty() ? "-" : layers);
  }
  line("rotary_base_local", fmt::format("{}", rotary_base_local));
  line("rotary_scale", fmt::format("{}", rotary_scale));
  if (n_layers > 0 && d_model > 0) {
    try {
      line("n_params_nonembed", std::to_string(n_params_nonembed()));
      line("n_params_total", std::to_string(n_params_total()));
    } catch (const InputError&) {
      line("n_params_total", "overflow");
    }
  }
  return s;
}

}  // namespace csweep::model
