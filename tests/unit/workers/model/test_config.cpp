#include "workers/model/config.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "core/error.hpp"
#include "core/files.hpp"
#include "workers/io/hf_config.hpp"

namespace csweep::model {
namespace {

namespace fs = std::filesystem;
using Shape = std::vector<std::int64_t>;

ModelConfig gpt2_small() {
  ModelConfig c;
  c.family = Family::kGPT2;
  c.n_layers = 12;
  c.n_heads = c.n_kv_heads = 12;
  c.d_model = 768;
  c.d_head = 64;
  c.d_mlp = 3072;
  c.n_ctx = 1024;
  c.d_vocab = 50257;
  return c;
}

ModelConfig smollm2_135m() {
  ModelConfig c;
  c.family = Family::kLlama;
  c.n_layers = 30;
  c.n_heads = 9;
  c.n_kv_heads = 3;
  c.d_model = 576;
  c.d_head = 64;
  c.d_mlp = 1536;
  c.n_ctx = 8192;
  c.d_vocab = 49152;
  c.act_fn = ActFn::kSilu;
  c.gated_mlp = true;
  c.norm = NormKind::kRMSNorm;
  c.positional = PosKind::kRotary;
  c.rotary_dim = 64;
  c.attn_bias = c.mlp_bias = false;
  return c;
}

std::map<std::string, ParamSpec> by_name(const ModelConfig& c) {
  std::map<std::string, ParamSpec> m;
  for (auto& p : canonical_params(c)) m[p.name] = p;
  return m;
}

// The TransformerLens HookedTransformer("gpt2") state_dict parameter names (buffers such as
// attn.IGNORE / attn.mask excluded), for one block.
TEST(CanonicalParams, Gpt2NamesMatchTransformerLensStateDict) {
  ModelConfig c = gpt2_small();
  c.n_layers = 1;
  std::set<std::string> names;
  for (const auto& p : canonical_params(c)) names.insert(p.name);
  const std::set<std::string> tl = {
      "embed.W_E",          "pos_embed.W_pos",    "blocks.0.ln1.w",      "blocks.0.ln1.b",
      "blocks.0.ln2.w",     "blocks.0.ln2.b",     "blocks.0.attn.W_Q",   "blocks.0.attn.W_O",
      "blocks.0.attn.b_Q",  "blocks.0.attn.b_O",  "blocks.0.attn.W_K",   "blocks.0.attn.W_V",
      "blocks.0.attn.b_K",  "blocks.0.attn.b_V",  "blocks.0.mlp.W_in",   "blocks.0.mlp.b_in",
      "blocks.0.mlp.W_out", "blocks.0.mlp.b_out", "ln_final.w",          "ln_final.b",
      "unembed.W_U",        "unembed.b_U"};
  EXPECT_EQ(names, tl);
}

TEST(CanonicalParams, Gpt2SmallShapes) {
  const auto m = by_name(gpt2_small());
  EXPECT_EQ(m.at("embed.W_E").shape, (Shape{50257, 768}));
  EXPECT_EQ(m.at("pos_embed.W_pos").shape, (Shape{1024, 768}));
  EXPECT_EQ(m.at("blocks.11.attn.W_Q").shape, (Shape{12, 768, 64}));
  EXPECT_EQ(m.at("blocks.11.attn.W_K").shape, (Shape{12, 768, 64}));
  EXPECT_EQ(m.at("blocks.11.attn.b_Q").shape, (Shape{12, 64}));
  EXPECT_EQ(m.at("blocks.11.attn.W_O").shape, (Shape{12, 64, 768}));
  EXPECT_EQ(m.at("blocks.11.attn.b_O").shape, (Shape{768}));
  EXPECT_EQ(m.at("blocks.11.mlp.W_in").shape, (Shape{768, 3072}));
  EXPECT_EQ(m.at("blocks.11.mlp.W_out").shape, (Shape{3072, 768}));
  EXPECT_EQ(m.at("unembed.W_U").shape, (Shape{768, 50257}));
  EXPECT_FALSE(m.at("blocks.0.attn.b_Q").optional);
  EXPECT_TRUE(m.at("unembed.b_U").optional);
  EXPECT_EQ(m.count("blocks.12.ln1.w"), 0u);
  EXPECT_EQ(m.count("blocks.0.mlp.W_gate"), 0u);
}

TEST(CanonicalParams, LlamaGqaShapesAndOptionalBiases) {
  const auto m = by_name(smollm2_135m());
  EXPECT_EQ(m.count("pos_embed.W_pos"), 0u);
  EXPECT_EQ(m.count("blocks.0.ln1.b"), 0u);  // RMSNorm has no bias
  EXPECT_EQ(m.count("ln_final.b"), 0u);
  EXPECT_EQ(m.at("blocks.0.attn.W_Q").shape, (Shape{9, 576, 64}));
  EXPECT_EQ(m.at("blocks.0.attn.W_K").shape, (Shape{3, 576, 64}));
  EXPECT_EQ(m.at("blocks.0.attn.W_V").shape, (Shape{3, 576, 64}));
  EXPECT_EQ(m.at("blocks.0.attn.b_K").shape, (Shape{3, 64}));
  EXPECT_TRUE(m.at("blocks.0.attn.b_K").optional);
  EXPECT_TRUE(m.at("blocks.0.mlp.b_in").optional);
  EXPECT_EQ(m.at("blocks.29.mlp.W_gate").shape, (Shape{576, 1536}));
  EXPECT_FALSE(m.at("blocks.29.mlp.W_gate").optional);
}

TEST(ModelConfigCounts, MatchPublishedParameterCounts) {
  // transformers: GPT2LMHeadModel("gpt2").num_parameters() == 124,439,808; the token (50257x768)
  // and position (1024x768) embeddings are 39,383,808 of them.
  EXPECT_EQ(gpt2_small().n_params_total(), 124439808);
  EXPECT_EQ(gpt2_small().n_params_nonembed(), 124439808 - 50257 * 768 - 1024 * 768);
  // SmolLM2-135M: 134,515,008 parameters (tied embeddings).
  ModelConfig s = smollm2_135m();
  s.tied_embeddings = true;
  EXPECT_EQ(s.n_params_total(), 134515008);
  // Untied: the unembedding adds another vocab x d_model matrix.
  s.tied_embeddings = false;
  EXPECT_EQ(s.n_params_total(), 134515008 + 49152 * 576);
}

// transformers records num_parameters() of the saved model in the sharded index's metadata.
TEST(ModelConfigCounts, MatchTransformersCountOfShardedFixture) {
  const fs::path dir = fs::path(CSWEEP_FIXTURES_DIR) / "models" / "gpt2_tiny_sharded";
  ASSERT_TRUE(fs::exists(dir)) << "missing committed fixture " << dir;
  const auto idx = nlohmann::json::parse(read_file_text((dir / "model.safetensors.index.json").string()));
  const auto c = io::read_hf_config((dir / "config.json").string());
  EXPECT_EQ(c.n_params_total(), idx["metadata"]["total_parameters"].get<std::int64_t>());
}

void expect_invalid(const ModelConfig& c, const std::string& needle) {
  try {
    c.validate("models/x/config.json");
    ADD_FAILURE() << "validate accepted an invalid config (" << needle << ")";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("models/x/config.json"), std::string::npos) << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
  }
}

TEST(ModelConfigValidate, AcceptsRealConfigsAndRejectsInconsistentOnes) {
  EXPECT_NO_THROW(gpt2_small().validate("gpt2"));
  EXPECT_NO_THROW(smollm2_135m().validate("smol"));
  ModelConfig c = smollm2_135m();
  c.n_kv_heads = 2;
  expect_invalid(c, "n_kv_heads");
  c = smollm2_135m();
  c.rotary_dim = 63;
  expect_invalid(c, "rotary_dim");
  c = smollm2_135m();
  c.rotary_dim = 128;
  expect_invalid(c, "rotary_dim");
  c = smollm2_135m();
  c.rotary_base = 0;
  expect_invalid(c, "rope theta");
  c = gpt2_small();
  c.d_vocab = 0;
  expect_invalid(c, "d_vocab");
  c = gpt2_small();
  c.norm_eps = -1;
  expect_invalid(c, "epsilon");
  c = gpt2_small();
  c.n_layers = 1 << 20;
  expect_invalid(c, "n_layers");
}

TEST(ModelConfig, ToStringListsEveryField) {
  const std::string s = smollm2_135m().to_string();
  for (const char* k : {"family: llama", "n_layers: 30", "n_heads: 9", "n_kv_heads: 3",
                        "d_model: 576", "d_head: 64", "d_mlp: 1536", "n_ctx: 8192",
                        "d_vocab: 49152", "act_fn: silu", "gated_mlp: true", "norm: RMSNorm",
                        "positional: rotary", "rotary_dim: 64", "tied_embeddings: true"})
    EXPECT_NE(s.find(k), std::string::npos) << k << " not in\n" << s;
}

TEST(ModelConfig, ToStringNamesTheFeaturesInUse) {
  auto c = smollm2_135m();
  EXPECT_NE(c.to_string().find("features: grouped-query attention (9 query / 3 kv heads), gated MLP, "
                               "tied embeddings\n"),
            std::string::npos)
      << c.to_string();
  c.family = Family::kGPTNeoX;
  c.n_kv_heads = c.n_heads;
  c.parallel_attn_mlp = true;
  c.gated_mlp = false;
  c.tied_embeddings = false;
  c.attn_bias = true;
  c.rotary_dim = 16;
  EXPECT_NE(c.to_string().find("features: parallel attention+MLP, attention biases, partial rotary "
                               "(16 of 64 dims), untied embeddings\n"),
            std::string::npos)
      << c.to_string();
}

TEST(ModelConfig, ToStringNamesGemmaFeatures) {
  auto c = smollm2_135m();
  c.family = Family::kGemma2;
  c.n_layers = 4;
  c.post_norms = true;
  c.scale_embed = true;
  c.attn_scale = 16;
  c.attn_softcap = 50;
  c.final_softcap = 30;
  c.sliding_window = 4096;
  c.sliding_layers = {true, false, true, false};
  c.tied_embeddings = true;
  const std::string s = c.to_string();
  EXPECT_NE(s.find("gated MLP, post-attention/post-MLP norms, embeddings scaled by sqrt(d_model), "
                   "attention scores / 16, attention soft-capping 50, final logit soft-capping 30, "
                   "sliding window 4096 on 2 of 4 layers, tied embeddings\n"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("layer_types: LGLG\n"), std::string::npos) << s;
  c.qk_norm = true;
  c.attn_softcap = c.final_softcap = 0;
  c.rotary_base = 1e6;
  c.rotary_base_local = 1e4;
  c.rotary_scale = 8;
  EXPECT_NE(c.to_string().find("QK-norm"), std::string::npos);
  EXPECT_NE(c.to_string().find("sliding window 4096 on 2 of 4 layers, RoPE theta 10000 local / 1000000 "
                               "global, linear RoPE scaling 8 (global layers)"),
            std::string::npos)
      << c.to_string();
  c.sliding_layers = {true};
  EXPECT_THROW(c.validate("x"), InputError);  // not one entry per layer
}

// Our config.json interpretation agrees with TransformerLens's for every fixture model
// (tests/fixtures/reference/<name>.tl_config.json, written by the fixture generator).
TEST(ModelConfigFixtures, AgreesWithTransformerLensConfig) {
  const fs::path ref = fs::path(CSWEEP_FIXTURES_DIR) / "reference";
  ASSERT_TRUE(fs::exists(ref)) << "missing committed fixture " << ref;
  int checked = 0;
  for (const auto& e : fs::directory_iterator(ref)) {
    const std::string fname = e.path().filename().string();
    const std::string suffix = ".tl_config.json";
    if (fname.size() <= suffix.size() || fname.substr(fname.size() - suffix.size()) != suffix)
      continue;
    const std::string name = fname.substr(0, fname.size() - suffix.size());
    const fs::path cfg_path = fs::path(CSWEEP_FIXTURES_DIR) / "models" / name / "config.json";
    if (!fs::exists(cfg_path)) continue;
    SCOPED_TRACE(name);
    const auto tl = nlohmann::json::parse(read_file_text(e.path().string()));
    const auto c = io::read_hf_config(cfg_path.string());
    EXPECT_EQ(c.n_layers, tl["n_layers"].get<int>());
    EXPECT_EQ(c.n_heads, tl["n_heads"].get<int>());
    EXPECT_EQ(c.n_kv_heads, tl["n_key_value_heads"].is_null() ? tl["n_heads"].get<int>()
                                                              : tl["n_key_value_heads"].get<int>());
    EXPECT_EQ(c.d_model, tl["d_model"].get<int>());
    EXPECT_EQ(c.d_head, tl["d_head"].get<int>());
    EXPECT_EQ(c.d_mlp, tl["d_mlp"].get<int>());
    EXPECT_EQ(c.n_ctx, tl["n_ctx"].get<int>());
    EXPECT_EQ(c.d_vocab, tl["d_vocab"].get<int>());
    EXPECT_DOUBLE_EQ(c.norm_eps, tl["eps"].get<double>());
    // gelu_pytorch_tanh (Gemma's name) is the tanh approximation we call gelu_new.
    const std::string tl_act = tl["act_fn"].get<std::string>();
    EXPECT_EQ(to_string(c.act_fn), tl_act == "gelu_pytorch_tanh" ? "gelu_new" : tl_act);
    // Soft-caps (TransformerLens: -1 = off; ours: 0 = off).
    if (tl.contains("attn_scores_soft_cap")) {
      EXPECT_DOUBLE_EQ(c.attn_softcap, std::max(0.0, tl["attn_scores_soft_cap"].get<double>()));
      EXPECT_DOUBLE_EQ(c.final_softcap, std::max(0.0, tl["output_logits_soft_cap"].get<double>()));
    }
    EXPECT_EQ(c.gated_mlp, tl["gated_mlp"].get<bool>());
    EXPECT_EQ(c.parallel_attn_mlp, tl["parallel_attn_mlp"].get<bool>());
    EXPECT_EQ(c.norm == NormKind::kRMSNorm ? "RMS" : "LN", tl["normalization_type"].get<std::string>());
    EXPECT_EQ(c.positional == PosKind::kRotary ? "rotary" : "standard",
              tl["positional_embedding_type"].get<std::string>());
    if (tl.contains("tie_word_embeddings")) {
      EXPECT_EQ(c.tied_embeddings, tl["tie_word_embeddings"].get<bool>());
    }
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

}  // namespace
}  // namespace csweep::model
