// Model family presets against the Hugging Face transformers config classes, whose defaults say
// what an absent config.json key means. Values read from transformers (GPT2Config(),
// LlamaConfig()) and written here by hand:
//   GPT2Config:  layer_norm_epsilon 1e-05, n_positions 1024, vocab_size 50257,
//                activation_function gelu_new, tie_word_embeddings True
//   LlamaConfig: rms_norm_eps 1e-06, max_position_embeddings 2048, vocab_size 32000,
//                hidden_act silu, tie_word_embeddings False, attention_bias False, mlp_bias False,
//                rope theta 10000
#include <gtest/gtest.h>

#include "core/error.hpp"
#include "vocab/model_families.hpp"

namespace csweep::vocab {
namespace {

using model::Family;

TEST(ModelFamilies, Names) {
  EXPECT_EQ(model_families().names(), (std::vector<std::string>{"gpt2", "llama", "qwen2", "gpt_neox",
                                                                  "gemma2", "gemma3"}));
  EXPECT_EQ(model_families().parse("llama"), Family::kLlama);
  EXPECT_THROW(model_families().parse("Llama"), InputError);
  for (const auto& t : model_families().terms()) EXPECT_EQ(model_preset(t.value).family, t.value);
}

TEST(ModelFamilies, Gpt2PresetIsGpt2ConfigDefaults) {
  const auto c = model_preset(Family::kGPT2);
  EXPECT_EQ(c.norm, model::NormKind::kLayerNorm);
  EXPECT_DOUBLE_EQ(c.norm_eps, 1e-5);
  EXPECT_EQ(c.n_ctx, 1024);
  EXPECT_EQ(c.d_vocab, 50257);
  EXPECT_EQ(c.act_fn, model::ActFn::kGeluNew);
  EXPECT_FALSE(c.gated_mlp);
  EXPECT_EQ(c.positional, model::PosKind::kLearned);
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_TRUE(c.attn_bias);
  EXPECT_TRUE(c.mlp_bias);
}

TEST(ModelFamilies, LlamaPresetIsLlamaConfigDefaults) {
  const auto c = model_preset(Family::kLlama);
  EXPECT_EQ(c.norm, model::NormKind::kRMSNorm);
  EXPECT_DOUBLE_EQ(c.norm_eps, 1e-6);
  EXPECT_EQ(c.n_ctx, 2048);
  EXPECT_EQ(c.d_vocab, 32000);
  EXPECT_EQ(c.act_fn, model::ActFn::kSilu);
  EXPECT_TRUE(c.gated_mlp);
  EXPECT_EQ(c.positional, model::PosKind::kRotary);
  EXPECT_DOUBLE_EQ(c.rotary_base, 10000.0);
  EXPECT_FALSE(c.tied_embeddings);
  EXPECT_FALSE(c.attn_bias);
  EXPECT_FALSE(c.mlp_bias);
}

// transformers 5.24 Qwen2Config(): max_position_embeddings 32768, vocab_size 151936,
// rms_norm_eps 1e-6, rope_theta 10000, tie_word_embeddings False, hidden_act silu; Qwen2Attention
// builds q/k/v_proj with bias=True and o_proj with bias=False, Qwen2MLP bias-free.
TEST(ModelFamilies, Qwen2PresetIsQwen2ConfigDefaults) {
  const auto c = model_preset(Family::kQwen2);
  EXPECT_EQ(c.family, Family::kQwen2);
  EXPECT_EQ(c.norm, model::NormKind::kRMSNorm);
  EXPECT_DOUBLE_EQ(c.norm_eps, 1e-6);
  EXPECT_EQ(c.n_ctx, 32768);
  EXPECT_EQ(c.d_vocab, 151936);
  EXPECT_EQ(c.act_fn, model::ActFn::kSilu);
  EXPECT_TRUE(c.gated_mlp);
  EXPECT_EQ(c.positional, model::PosKind::kRotary);
  EXPECT_DOUBLE_EQ(c.rotary_base, 10000.0);
  EXPECT_FALSE(c.tied_embeddings);
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_FALSE(c.attn_bias);
  EXPECT_FALSE(c.mlp_bias);
}

// transformers 5.24 Gemma2Config(): max_position_embeddings 8192, vocab_size 256000, head_dim 256,
// rms_norm_eps 1e-6, query_pre_attn_scalar 256, sliding_window 4096, final/attn soft-caps 30/50,
// rope_theta 10000, hidden_activation gelu_pytorch_tanh, tie_word_embeddings True, no biases.
// Gemma3TextConfig(): as Gemma 2 but max_position_embeddings 131072, vocab_size 262208, no
// soft-caps, default_theta global 1e6 / local 1e4; Gemma3Attention has q_norm / k_norm.
TEST(ModelFamilies, GemmaPresetsAreTheirConfigDefaults) {
  const auto g2 = model_preset(Family::kGemma2);
  EXPECT_EQ(g2.norm, model::NormKind::kRMSNorm);
  EXPECT_DOUBLE_EQ(g2.norm_eps, 1e-6);
  EXPECT_EQ(g2.n_ctx, 8192);
  EXPECT_EQ(g2.d_vocab, 256000);
  EXPECT_EQ(g2.d_head, 256);
  EXPECT_EQ(g2.act_fn, model::ActFn::kGeluNew);
  EXPECT_TRUE(g2.gated_mlp);
  EXPECT_DOUBLE_EQ(g2.attn_scale, 16.0);
  EXPECT_EQ(g2.sliding_window, 4096);
  EXPECT_DOUBLE_EQ(g2.final_softcap, 30.0);
  EXPECT_DOUBLE_EQ(g2.attn_softcap, 50.0);
  EXPECT_DOUBLE_EQ(g2.rotary_base, 10000.0);
  EXPECT_TRUE(g2.tied_embeddings && g2.post_norms && g2.scale_embed);
  EXPECT_FALSE(g2.qk_norm || g2.attn_bias || g2.mlp_bias);
  const auto g3 = model_preset(Family::kGemma3);
  EXPECT_EQ(g3.family, Family::kGemma3);
  EXPECT_EQ(g3.n_ctx, 131072);
  EXPECT_EQ(g3.d_vocab, 262208);
  EXPECT_EQ(g3.final_softcap, 0.0);
  EXPECT_EQ(g3.attn_softcap, 0.0);
  EXPECT_DOUBLE_EQ(g3.rotary_base, 1e6);
  EXPECT_DOUBLE_EQ(g3.rotary_base_local, 1e4);
  EXPECT_TRUE(g3.qk_norm && g3.post_norms && g3.scale_embed);
}

}  // namespace
}  // namespace csweep::vocab
