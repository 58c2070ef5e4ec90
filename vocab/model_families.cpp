#include "vocab/model_families.hpp"

namespace csweep::vocab {

using model::Family;

const Vocabulary<Family>& model_families() {
  static const Vocabulary<Family> v(
      "model family",
      {{Family::kGPT2, "gpt2", {}, "GPT-2: LayerNorm, learned positions, gelu_new MLP"},
       {Family::kLlama, "llama", {}, "Llama: RMSNorm, RoPE, gated SiLU MLP (also SmolLM2)"},
       {Family::kQwen2, "qwen2", {}, "Qwen2 / Qwen2.5: Llama with q/k/v biases"},
       {Family::kGPTNeoX, "gpt_neox", {},
        "GPT-NeoX / Pythia: parallel attention and MLP, partial RoPE, LayerNorm, gelu"},
       {Family::kGemma2, "gemma2", {},
        "Gemma 2: (1 + w) RMSNorm before and after attention and MLP, GeGLU, soft-capping, "
        "alternating sliding-window layers"},
       {Family::kGemma3, "gemma3", {},
        "Gemma 3: Gemma 2's block with QK-norm instead of soft-capping, 5 local : 1 global layers "
        "with their own RoPE bases"}});
  return v;
}

model::ModelConfig model_preset(Family f) {
  model::ModelConfig c;
  c.family = f;
  switch (f) {
    case Family::kGPT2:
      c.norm = model::NormKind::kLayerNorm;
      c.norm_eps = 1e-5;
      c.positional = model::PosKind::kLearned;
      c.act_fn = model::ActFn::kGeluNew;
      c.gated_mlp = false;
      c.n_ctx = 1024;
      c.d_vocab = 50257;
      c.tied_embeddings = true;
      c.attn_bias = c.mlp_bias = true;
      return c;
    case Family::kLlama:
      c.norm = model::NormKind::kRMSNorm;
      c.norm_eps = 1e-6;
      c.positional = model::PosKind::kRotary;
      c.rotary_base = 10000.0;
      c.act_fn = model::ActFn::kSilu;
      c.gated_mlp = true;
      c.n_ctx = 2048;
      c.d_vocab = 32000;
      c.tied_embeddings = false;
      c.attn_bias = c.mlp_bias = false;
      return c;
    case Family::kQwen2:
      // Qwen2Config: Llama's architecture; q/k/v_proj always carry a bias, o_proj and the MLP none.
      c = model_preset(Family::kLlama);
      c.family = f;
      c.n_ctx = 32768;
      c.d_vocab = 151936;
      c.qkv_bias = true;
      return c;
    case Family::kGPTNeoX:
      // GPTNeoXConfig: rotary_pct 0.25 is applied by the config reader (it needs d_head).
      c.norm = model::NormKind::kLayerNorm;
      c.norm_eps = 1e-5;
      c.positional = model::PosKind::kRotary;
      c.rotary_base = 10000.0;
      c.act_fn = model::ActFn::kGelu;
      c.gated_mlp = false;
      c.parallel_attn_mlp = true;
      c.n_ctx = 2048;
      c.d_vocab = 50432;
      c.tied_embeddings = false;
      c.attn_bias = c.mlp_bias = true;
      return c;
    case Family::kGemma2:
      // Gemma2Config: head_dim 256 and query_pre_attn_scalar 256 whatever hidden_size is; layer i
      // is local when i is even (the reader builds sliding_layers, it needs n_layers).
      c.norm = model::NormKind::kRMSNorm;
      c.norm_eps = 1e-6;
      c.positional = model::PosKind::kRotary;
      c.rotary_base = 10000.0;
      c.act_fn = model::ActFn::kGeluNew;  // gelu_pytorch_tanh
      c.gated_mlp = true;
      c.n_ctx = 8192;
      c.d_vocab = 256000;
      c.d_head = 256;
      c.tied_embeddings = true;
      c.attn_bias = c.mlp_bias = false;
      c.post_norms = true;
      c.scale_embed = true;
      c.attn_scale = 16.0;  // sqrt(256)
      c.attn_softcap = 50.0;
      c.final_softcap = 30.0;
      c.sliding_window = 4096;
      return c;
    case Family::kGemma3:
      // Gemma3TextConfig: no soft-capping by default, QK-norm, local layers every layer but each
      // sixth (sliding_window_pattern 6) with RoPE theta 10000, global layers theta 1e6.
      c = model_preset(Family::kGemma2);
      c.family = f;
      c.n_ctx = 131072;
      c.d_vocab = 262208;
      c.rotary_base = 1000000.0;
      c.rotary_base_local = 10000.0;
      c.attn_softcap = c.final_softcap = 0.0;
      c.qk_norm = true;
      return c;
  }
  CSWEEP_ASSERT(false, "model family {} has no preset", static_cast<int>(f));
  return c;
}

}  // namespace csweep::vocab
