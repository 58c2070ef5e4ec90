#include "workers/io/hf_config.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.hpp"

namespace csweep::io {
namespace {

namespace fs = std::filesystem;
using model::ActFn;
using model::Family;
using model::NormKind;
using model::PosKind;

// The config.json of the Hugging Face "gpt2" checkpoint (GPT-2 small), fields that matter.
const char* kGpt2Small = R"({
  "activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"],
  "attn_pdrop": 0.1, "bos_token_id": 50256, "embd_pdrop": 0.1, "eos_token_id": 50256,
  "initializer_range": 0.02, "layer_norm_epsilon": 1e-05, "model_type": "gpt2",
  "n_ctx": 1024, "n_embd": 768, "n_head": 12, "n_layer": 12, "n_positions": 1024,
  "resid_pdrop": 0.1, "vocab_size": 50257
})";

// SmolLM2-135M's config.json (transformers 4.x spelling: top-level rope_theta).
const char* kSmolLM2 = R"({
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 0, "eos_token_id": 0, "hidden_act": "silu", "hidden_size": 576,
  "initializer_range": 0.041666666666666664, "intermediate_size": 1536,
  "max_position_embeddings": 8192, "mlp_bias": false, "model_type": "llama",
  "num_attention_heads": 9, "num_hidden_layers": 30, "num_key_value_heads": 3,
  "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": null, "rope_theta": 100000,
  "tie_word_embeddings": true, "torch_dtype": "bfloat16", "use_cache": true, "vocab_size": 49152
})";

void expect_error(const std::string& json, std::initializer_list<std::string> needles) {
  try {
    parse_hf_config(json, "dir/config.json");
    ADD_FAILURE() << "no InputError for " << json;
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("dir/config.json"), std::string::npos) << msg;
    for (const auto& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << n << " not in: " << msg;
  }
}

TEST(HfConfig, Gpt2Small) {
  const auto c = parse_hf_config(kGpt2Small, "gpt2/config.json");
  EXPECT_EQ(c.family, Family::kGPT2);
  EXPECT_EQ(c.n_layers, 12);
  EXPECT_EQ(c.n_heads, 12);
  EXPECT_EQ(c.n_kv_heads, 12);
  EXPECT_EQ(c.d_model, 768);
  EXPECT_EQ(c.d_head, 64);
  EXPECT_EQ(c.d_mlp, 3072);  // n_inner absent -> 4 * n_embd
  EXPECT_EQ(c.n_ctx, 1024);
  EXPECT_EQ(c.d_vocab, 50257);
  EXPECT_EQ(c.act_fn, ActFn::kGeluNew);
  EXPECT_FALSE(c.gated_mlp);
  EXPECT_EQ(c.norm, NormKind::kLayerNorm);
  EXPECT_DOUBLE_EQ(c.norm_eps, 1e-5);
  EXPECT_EQ(c.positional, PosKind::kLearned);
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_TRUE(c.attn_bias);
  EXPECT_TRUE(c.mlp_bias);
  EXPECT_FALSE(c.unembed_bias);
  // transformers reports 124,439,808 parameters for "gpt2" (tied embeddings counted once).
  EXPECT_EQ(c.n_params_total(), 124439808);
}

TEST(HfConfig, Gpt2NInnerNullAndExplicit) {
  auto c = parse_hf_config(
      R"({"model_type":"gpt2","n_layer":2,"n_head":4,"n_embd":64,"n_positions":64,"vocab_size":512,"n_inner":null,"tie_word_embeddings":false,"activation_function":"gelu"})",
      "x");
  EXPECT_EQ(c.d_mlp, 256);
  EXPECT_FALSE(c.tied_embeddings);
  EXPECT_EQ(c.act_fn, ActFn::kGelu);
  c = parse_hf_config(
      R"({"model_type":"gpt2","n_layer":2,"n_head":4,"n_embd":64,"n_positions":64,"vocab_size":512,"n_inner":100})",
      "x");
  EXPECT_EQ(c.d_mlp, 100);
}

TEST(HfConfig, SmolLM2Llama) {
  const auto c = parse_hf_config(kSmolLM2, "smol/config.json");
  EXPECT_EQ(c.family, Family::kLlama);
  EXPECT_EQ(c.n_layers, 30);
  EXPECT_EQ(c.n_heads, 9);
  EXPECT_EQ(c.n_kv_heads, 3);
  EXPECT_EQ(c.d_model, 576);
  EXPECT_EQ(c.d_head, 64);
  EXPECT_EQ(c.d_mlp, 1536);
  EXPECT_EQ(c.n_ctx, 8192);
  EXPECT_EQ(c.d_vocab, 49152);
  EXPECT_EQ(c.act_fn, ActFn::kSilu);
  EXPECT_TRUE(c.gated_mlp);
  EXPECT_EQ(c.norm, NormKind::kRMSNorm);
  EXPECT_DOUBLE_EQ(c.norm_eps, 1e-5);
  EXPECT_EQ(c.positional, PosKind::kRotary);
  EXPECT_EQ(c.rotary_dim, 64);
  EXPECT_DOUBLE_EQ(c.rotary_base, 100000.0);
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_FALSE(c.attn_bias);
  EXPECT_FALSE(c.mlp_bias);
  // SmolLM2-135M has 134,515,008 parameters (its model card / transformers num_parameters()).
  EXPECT_EQ(c.n_params_total(), 134515008);
}

TEST(HfConfig, LlamaDefaultsAndNewerRopeParameters) {
  // transformers 5.x writes rope_theta inside rope_parameters; kv heads default to query heads,
  // tie_word_embeddings defaults to false for Llama.
  const auto c = parse_hf_config(
      R"({"model_type":"llama","num_hidden_layers":3,"num_attention_heads":6,"hidden_size":96,
          "intermediate_size":160,"vocab_size":512,"max_position_embeddings":64,
          "rope_parameters":{"rope_type":"default","rope_theta":500000.0},"head_dim":null})",
      "x");
  EXPECT_EQ(c.n_kv_heads, 6);
  EXPECT_EQ(c.d_head, 16);
  EXPECT_DOUBLE_EQ(c.rotary_base, 500000.0);
  EXPECT_DOUBLE_EQ(c.norm_eps, 1e-6);
  EXPECT_FALSE(c.tied_embeddings);
  // Explicit head_dim that differs from hidden/heads (as in Gemma-style configs).
  const auto h = parse_hf_config(
      R"({"model_type":"llama","num_hidden_layers":1,"num_attention_heads":4,"hidden_size":64,
          "intermediate_size":128,"vocab_size":100,"head_dim":32,"attention_bias":true})",
      "x");
  EXPECT_EQ(h.d_head, 32);
  EXPECT_EQ(h.rotary_dim, 32);
  EXPECT_TRUE(h.attn_bias);
}

TEST(HfConfig, Qwen25HalfBConfig) {
  // Qwen2.5-0.5B's config.json (the keys that matter). Qwen2 has q/k/v biases and no o/MLP bias
  // whatever the config says; transformers' Qwen2ForCausalLM(config).num_parameters() is
  // 494,032,768 for this config.
  const auto c = parse_hf_config(
      R"({"model_type":"qwen2","hidden_act":"silu","hidden_size":896,"intermediate_size":4864,
          "max_position_embeddings":32768,"max_window_layers":21,"num_attention_heads":14,
          "num_hidden_layers":24,"num_key_value_heads":2,"rms_norm_eps":1e-06,
          "rope_theta":1000000.0,"sliding_window":32768,"tie_word_embeddings":true,
          "use_sliding_window":false,"vocab_size":151936})",
      "x");
  EXPECT_EQ(c.family, model::Family::kQwen2);
  EXPECT_EQ(c.d_head, 64);
  EXPECT_EQ(c.n_kv_heads, 2);
  EXPECT_EQ(c.rotary_dim, 64);
  EXPECT_DOUBLE_EQ(c.rotary_base, 1e6);
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_FALSE(c.attn_bias);
  EXPECT_FALSE(c.mlp_bias);
  EXPECT_TRUE(c.gated_mlp);
  EXPECT_EQ(c.n_params_total(), 494032768);
}

TEST(HfConfig, Pythia70mConfig) {
  // EleutherAI/pythia-70m's config.json (older key names rotary_pct / rotary_emb_base);
  // transformers' GPTNeoXForCausalLM(config).num_parameters() is 70,426,624, and its rotary
  // embedding has 8 frequencies (16 of each head's 64 dimensions rotated).
  const auto c = parse_hf_config(
      R"({"model_type":"gpt_neox","hidden_act":"gelu","hidden_size":512,"intermediate_size":2048,
          "layer_norm_eps":1e-05,"max_position_embeddings":2048,"num_attention_heads":8,
          "num_hidden_layers":6,"rotary_emb_base":10000,"rotary_pct":0.25,
          "tie_word_embeddings":false,"use_parallel_residual":true,"vocab_size":50304})",
      "x");
  EXPECT_EQ(c.family, model::Family::kGPTNeoX);
  EXPECT_EQ(c.d_head, 64);
  EXPECT_EQ(c.rotary_dim, 16);
  EXPECT_TRUE(c.parallel_attn_mlp);
  EXPECT_EQ(c.norm, NormKind::kLayerNorm);
  EXPECT_EQ(c.act_fn, ActFn::kGelu);
  EXPECT_FALSE(c.tied_embeddings);
  EXPECT_TRUE(c.attn_bias);
  EXPECT_EQ(c.n_params_total(), 70426624);
  // transformers 5.x nests the fraction in rope_parameters; a sequential NeoX block stays one.
  const auto n = parse_hf_config(
      R"({"model_type":"gpt_neox","hidden_size":64,"intermediate_size":128,"num_attention_heads":4,
          "num_hidden_layers":2,"vocab_size":256,"use_parallel_residual":false,
          "rope_parameters":{"rope_type":"default","rope_theta":10000.0,"partial_rotary_factor":0.5}})",
      "x");
  EXPECT_EQ(n.rotary_dim, 8);
  EXPECT_FALSE(n.parallel_attn_mlp);
}

TEST(HfConfig, Gemma3_270mConfig) {
  // google/gemma-3-270m's config.json (transformers 4.x spelling: rope_theta,
  // rope_local_base_freq, rope_scaling null; layer_types 5 local : 1 global). transformers 5.24's
  // Gemma3ForCausalLM(Gemma3TextConfig(**config)).num_parameters() is 268,098,176.
  std::string types;
  for (int i = 0; i < 18; ++i) types += std::string(i ? "," : "") + ((i + 1) % 6 ? "\"sliding_attention\"" : "\"full_attention\"");
  const auto c = parse_hf_config(
      R"({"architectures":["Gemma3ForCausalLM"],"attention_bias":false,"attn_logit_softcapping":null,
          "bos_token_id":2,"eos_token_id":1,"final_logit_softcapping":null,"head_dim":256,
          "hidden_activation":"gelu_pytorch_tanh","hidden_size":640,"intermediate_size":2048,
          "layer_types":[)" + types + R"(],"max_position_embeddings":32768,"model_type":"gemma3_text",
          "num_attention_heads":4,"num_hidden_layers":18,"num_key_value_heads":1,"pad_token_id":0,
          "query_pre_attn_scalar":256,"rms_norm_eps":1e-06,"rope_local_base_freq":10000.0,
          "rope_scaling":null,"rope_theta":1000000.0,"sliding_window":512,
          "use_bidirectional_attention":false,"vocab_size":262144})",
      "x");
  EXPECT_EQ(c.family, Family::kGemma3);
  EXPECT_EQ(c.d_head, 256);  // != 640 / 4
  EXPECT_EQ(c.rotary_dim, 256);
  EXPECT_EQ(c.n_kv_heads, 1);
  EXPECT_EQ(c.act_fn, ActFn::kGeluNew);
  EXPECT_TRUE(c.gated_mlp);
  EXPECT_TRUE(c.post_norms);
  EXPECT_TRUE(c.qk_norm);
  EXPECT_TRUE(c.scale_embed);
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_DOUBLE_EQ(c.attn_scale, 16.0);
  EXPECT_EQ(c.attn_softcap, 0.0);
  EXPECT_EQ(c.final_softcap, 0.0);
  EXPECT_EQ(c.sliding_window, 512);
  EXPECT_DOUBLE_EQ(c.rotary_base, 1e6);
  EXPECT_DOUBLE_EQ(c.rotary_base_local, 1e4);
  EXPECT_DOUBLE_EQ(c.rotary_scale, 1.0);
  for (int l = 0; l < 18; ++l) EXPECT_EQ(c.is_sliding(l), (l + 1) % 6 != 0) << l;
  EXPECT_EQ(c.n_params_total(), 268098176);
}

TEST(HfConfig, Gemma3NewerRopeParametersAndDefaultPattern) {
  // transformers 5.x nests both RoPE entries; with no layer_types, Gemma3TextConfig makes every
  // sixth layer global; linear scaling applies to the global layers only.
  const auto c = parse_hf_config(
      R"({"model_type":"gemma3_text","hidden_size":64,"intermediate_size":128,
          "num_attention_heads":4,"num_key_value_heads":2,"head_dim":32,"num_hidden_layers":12,
          "vocab_size":100,"rope_parameters":{
            "full_attention":{"rope_type":"linear","factor":8.0,"rope_theta":1000000.0},
            "sliding_attention":{"rope_type":"default","rope_theta":10000.0}}})",
      "x");
  EXPECT_DOUBLE_EQ(c.rotary_base, 1e6);
  EXPECT_DOUBLE_EQ(c.rotary_base_local, 1e4);
  EXPECT_DOUBLE_EQ(c.rotary_scale, 8.0);
  EXPECT_EQ(c.sliding_window, 4096);
  for (int l = 0; l < 12; ++l) EXPECT_EQ(c.is_sliding(l), l != 5 && l != 11) << l;
  // The older spelling of the same scaling.
  const auto o = parse_hf_config(
      R"({"model_type":"gemma3_text","hidden_size":64,"intermediate_size":128,
          "num_attention_heads":4,"num_hidden_layers":2,"vocab_size":100,
          "rope_scaling":{"rope_type":"linear","factor":4.0},"sliding_window_pattern":2})",
      "x");
  EXPECT_DOUBLE_EQ(o.rotary_scale, 4.0);
  EXPECT_EQ(o.d_head, 256);  // Gemma3TextConfig's default, not hidden_size / heads
  EXPECT_TRUE(o.is_sliding(0));
  EXPECT_FALSE(o.is_sliding(1));
}

TEST(HfConfig, Gemma2_2bConfig) {
  // google/gemma-2-2b's config.json (the keys that matter; no layer_types: even layers local).
  // transformers 5.24's Gemma2ForCausalLM(config).num_parameters() is 2,614,341,888.
  const auto c = parse_hf_config(
      R"({"model_type":"gemma2","attn_logit_softcapping":50.0,"final_logit_softcapping":30.0,
          "head_dim":256,"hidden_act":"gelu_pytorch_tanh","hidden_activation":"gelu_pytorch_tanh",
          "hidden_size":2304,"intermediate_size":9216,"max_position_embeddings":8192,
          "num_attention_heads":8,"num_hidden_layers":26,"num_key_value_heads":4,
          "query_pre_attn_scalar":256,"rms_norm_eps":1e-06,"rope_theta":10000.0,
          "sliding_window":4096,"vocab_size":256000})",
      "x");
  EXPECT_EQ(c.family, Family::kGemma2);
  EXPECT_DOUBLE_EQ(c.attn_softcap, 50.0);
  EXPECT_DOUBLE_EQ(c.final_softcap, 30.0);
  EXPECT_DOUBLE_EQ(c.attn_scale, 16.0);
  EXPECT_FALSE(c.qk_norm);
  EXPECT_TRUE(c.post_norms);
  EXPECT_EQ(c.rotary_base_local, 0.0);  // one RoPE for every layer
  for (int l = 0; l < 26; ++l) EXPECT_EQ(c.is_sliding(l), l % 2 == 0) << l;
  EXPECT_EQ(c.n_params_total(), 2614341888LL);
  // A null soft-cap is off, not the config class's default.
  const auto n = parse_hf_config(
      R"({"model_type":"gemma2","hidden_size":64,"intermediate_size":128,"num_attention_heads":4,
          "num_hidden_layers":2,"vocab_size":100,"attn_logit_softcapping":null,
          "final_logit_softcapping":null})",
      "x");
  EXPECT_EQ(n.attn_softcap, 0.0);
  EXPECT_EQ(n.final_softcap, 0.0);
}

TEST(HfConfigMalformed, GemmaRefusals) {
  const std::string base = R"("hidden_size":64,"intermediate_size":128,"num_attention_heads":4,
                              "num_hidden_layers":2,"vocab_size":100)";
  expect_error(R"({"model_type":"gemma3_text",)" + base + R"(,"layer_types":["sliding_attention"]})",
               {"layer_types", "2 strings"});
  expect_error(R"({"model_type":"gemma3_text",)" + base +
                   R"(,"layer_types":["sliding_attention","chunked_attention"]})",
               {"layer_types[1]", "chunked_attention"});
  expect_error(R"({"model_type":"gemma3_text",)" + base + R"(,"use_bidirectional_attention":true})",
               {"use_bidirectional_attention", "true"});
  expect_error(R"({"model_type":"gemma3_text",)" + base +
                   R"(,"rope_parameters":{"full_attention":{"rope_type":"yarn","factor":2.0}}})",
               {"rope_parameters.full_attention", "yarn"});
  expect_error(R"({"model_type":"gemma2",)" + base + R"(,"sliding_window":0})", {"sliding_window", "0"});
}

TEST(HfConfigMalformed, Qwen2SlidingWindowRefused) {
  expect_error(R"({"model_type":"qwen2","num_hidden_layers":1,"num_attention_heads":4,
                   "hidden_size":64,"intermediate_size":128,"vocab_size":100,
                   "use_sliding_window":true})",
               {"use_sliding_window", "true"});
}

TEST(HfConfigMalformed, BadJson) { expect_error("{\"model_type\": \"gpt2\",", {"JSON"}); }
TEST(HfConfigMalformed, NotAnObject) { expect_error("[]", {"object"}); }
TEST(HfConfigMalformed, MissingModelType) { expect_error(R"({"n_layer": 2})", {"model_type"}); }
TEST(HfConfigMalformed, UnknownModelType) {
  // The message lists every supported model_type.
  expect_error(R"({"model_type": "mamba"})", {"model_type", "mamba", "\"gpt2\"", "\"llama\"",
                                               "\"qwen2\"", "\"gpt_neox\"", "\"gemma2\"",
                                               "\"gemma3_text\""});
}
TEST(HfConfigMalformed, MissingField) {
  expect_error(R"({"model_type":"gpt2","n_layer":2,"n_head":4,"n_positions":64,"vocab_size":512})",
               {"n_embd"});
}
TEST(HfConfigMalformed, WrongFieldType) {
  expect_error(
      R"({"model_type":"gpt2","n_layer":"2","n_head":4,"n_embd":64,"n_positions":64,"vocab_size":512})",
      {"n_layer", "not an integer"});
  expect_error(
      R"({"model_type":"gpt2","n_layer":2,"n_head":4,"n_embd":64,"n_positions":64,"vocab_size":512,"tie_word_embeddings":1})",
      {"tie_word_embeddings", "boolean"});
}
TEST(HfConfigMalformed, InconsistentValues) {
  expect_error(
      R"({"model_type":"gpt2","n_layer":2,"n_head":5,"n_embd":64,"n_positions":64,"vocab_size":512})",
      {"multiple"});
  expect_error(
      R"({"model_type":"gpt2","n_layer":0,"n_head":4,"n_embd":64,"n_positions":64,"vocab_size":512})",
      {"n_layers"});
  expect_error(
      R"({"model_type":"llama","num_hidden_layers":1,"num_attention_heads":4,"num_key_value_heads":3,
          "hidden_size":64,"intermediate_size":128,"vocab_size":100})",
      {"n_kv_heads"});
}
TEST(HfConfigMalformed, UnsupportedFeatures) {
  expect_error(
      R"({"model_type":"llama","num_hidden_layers":1,"num_attention_heads":4,"hidden_size":64,
          "intermediate_size":128,"vocab_size":100,"rope_scaling":{"rope_type":"llama3","factor":8.0}})",
      {"rope_scaling", "llama3"});
  expect_error(
      R"({"model_type":"gpt2","n_layer":2,"n_head":4,"n_embd":64,"n_positions":64,"vocab_size":512,"activation_function":"mish"})",
      {"activation_function", "mish"});
  expect_error(
      R"({"model_type":"gpt2","n_layer":2,"n_head":4,"n_embd":64,"n_positions":64,"vocab_size":512,"scale_attn_by_inverse_layer_idx":true})",
      {"scale_attn_by_inverse_layer_idx"});
}

// Every fixture model's config.json parses (written by transformers' save_pretrained).
TEST(HfConfigFixtures, FixtureConfigsParse) {
  const fs::path models = fs::path(CSWEEP_FIXTURES_DIR) / "models";
  ASSERT_TRUE(fs::exists(models)) << "missing committed fixtures " << models;
  int n = 0;
  for (const auto& e : fs::directory_iterator(models)) {
    const fs::path cfg = e.path() / "config.json";
    if (!fs::exists(cfg)) continue;
    EXPECT_NO_THROW(read_hf_config(cfg.string())) << cfg;
    ++n;
  }
  EXPECT_GT(n, 0);
  const fs::path l3 = models / "llama_l3" / "config.json";
  if (fs::exists(l3)) {
    const auto c = read_hf_config(l3.string());
    EXPECT_DOUBLE_EQ(c.rotary_base, 500000.0);
    EXPECT_EQ(c.n_heads, 6);
    EXPECT_TRUE(c.tied_embeddings);
  }
}

}  // namespace
}  // namespace csweep::io
