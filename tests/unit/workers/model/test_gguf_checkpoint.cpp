// GGUF checkpoints: the GGUF twins of the random fixture models (tests/fixtures/gguf/, written by
// tests/reference/generate_fixtures.py the way llama.cpp's converter does, q/k rows permuted)
// give the logits Hugging Face transformers computes from the same GGUF, and stay within the
// quantisation error of the float32 original. Hand-made files pin the un-permutation of q/k rows
// and the errors for malformed models.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "../io/test_gguf_builder.hpp"
#include "core/error.hpp"
#include "reference_fixture.hpp"
#include "workers/io/gguf.hpp"
#include "workers/model/gguf_checkpoint.hpp"
#include "workers/model/model_tokenizer.hpp"
#include "workers/model/transformer.hpp"
#include "workers/model/weights.hpp"

namespace csweep::model {
namespace {

using csweep::testing::GgufBuilder;
using testing::load_reference;
using testing::max_abs_diff;

std::string gguf_fixture(const std::string& name) {
  return std::string(CSWEEP_FIXTURES_DIR) + "/gguf/" + name + ".gguf";
}

struct Twin {
  const char* model;  // tests/fixtures/models/<model> (the float32 original)
  const char* qtype;  // "f16" or "q8_0"
};

class GgufTwin : public ::testing::TestWithParam<Twin> {};

// Same parsed config as the Hugging Face folder the GGUF was converted from.
TEST_P(GgufTwin, ConfigMatchesOriginal) {
  const Twin t = GetParam();
  const auto g = load_model(gguf_fixture(std::string(t.model) + "." + t.qtype));
  const auto h = load_model(testing::fixture_model(t.model));
  EXPECT_EQ(g.cfg.family, h.cfg.family);
  EXPECT_EQ(g.cfg.n_layers, h.cfg.n_layers);
  EXPECT_EQ(g.cfg.n_heads, h.cfg.n_heads);
  EXPECT_EQ(g.cfg.n_kv_heads, h.cfg.n_kv_heads);
  EXPECT_EQ(g.cfg.d_model, h.cfg.d_model);
  EXPECT_EQ(g.cfg.d_head, h.cfg.d_head);
  EXPECT_EQ(g.cfg.d_mlp, h.cfg.d_mlp);
  EXPECT_EQ(g.cfg.n_ctx, h.cfg.n_ctx);
  EXPECT_EQ(g.cfg.d_vocab, h.cfg.d_vocab);
  EXPECT_EQ(g.cfg.act_fn, h.cfg.act_fn);
  EXPECT_EQ(g.cfg.norm, h.cfg.norm);
  EXPECT_FLOAT_EQ(g.cfg.norm_eps, h.cfg.norm_eps);
  EXPECT_EQ(g.cfg.positional, h.cfg.positional);
  EXPECT_EQ(g.cfg.rotary_dim, h.cfg.rotary_dim);
  EXPECT_EQ(g.cfg.rotary_base, h.cfg.rotary_base);
  EXPECT_EQ(g.cfg.tied_embeddings, h.cfg.tied_embeddings);
  EXPECT_EQ(g.tokenizer_path, gguf_fixture(std::string(t.model) + "." + t.qtype));
}

// Every parameter equals the original's up to the storage type's rounding. F16: round to nearest
// gives a relative error <= 2^-11 (plus 2^-25 absolute for subnormals). Q8_0: x = q*d with
// d = fp16(amax_block/127), so |error| <= d/2 + 127*|d - d_fp16| <= amax*(0.5 + 127*2^-11)/127,
// bounded here by 0.0045 * max|tensor|. A wrong q/k row order would be off by O(max|tensor|).
TEST_P(GgufTwin, ParamsMatchOriginalWithinStorageRounding) {
  const Twin t = GetParam();
  const auto g = load_model(gguf_fixture(std::string(t.model) + "." + t.qtype));
  const auto h = load_model(testing::fixture_model(t.model));
  ASSERT_EQ(g.params.size(), h.params.size());
  for (const auto& [name, want] : h.params) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(g.params.count(name));
    const auto& got = g.params.at(name);
    ASSERT_EQ(got.sizes(), want.sizes());
    const auto err = (got - want).abs();
    if (std::string(t.qtype) == "f16" || want.dim() == 1) {
      // 1-D tensors (norms, biases) stay F32 in both converters' type choice.
      const double rel = want.dim() == 1 ? 0.0 : std::ldexp(1.0, -11);
      EXPECT_TRUE((err <= want.abs() * rel + 3e-8).all().item<bool>())
          << "max error " << err.max().item<float>();
    } else {
      const double bound = 0.0045 * want.abs().max().item<double>();
      EXPECT_LE(err.max().item<double>(), bound);
    }
  }
}

// Logits from the GGUF equal those HF transformers computes from the same GGUF (fp32), and are
// within the quantisation error of the float32 original's HF logits.
TEST_P(GgufTwin, LogitsMatchHfOnSameGgufAndOriginal) {
  const Twin t = GetParam();
  const std::string stem = std::string(t.model) + "." + t.qtype;
  const auto ref = load_reference(stem + ".gguf_ref");
  const auto orig = load_reference(t.model);
  const auto loaded = load_model(gguf_fixture(stem));
  const HookedTransformer model(loaded);
  torch::NoGradGuard ng;
  const auto logits = model.forward(ref.at("tokens"));
  EXPECT_LE(max_abs_diff(logits, ref.at("logits")), 1e-4) << stem << " vs HF on the same GGUF";

  ASSERT_TRUE(torch::equal(orig.at("tokens"), ref.at("tokens")));
  const auto want = orig.at("logits");
  const double scale = want.std().item<double>();
  const double err = max_abs_diff(logits, want);
  // F16: weights carry ~2^-12 relative rounding; through a few layers the logits move by well
  // under 1% of their spread (observed ~0.5%). Q8_0: per-weight rms error ~ amax_block/(127*
  // sqrt(12)) ~ 0.5% of the weights' scale; a dozen quantised matmuls add in quadrature to ~2% of
  // the logit spread, and the worst of ~10^4 logits sits ~4-5 sigma out, ~10% (HF's own Q8_0
  // logits differ from the original by 9-13% of the spread). Bounds keep ~2x headroom.
  const double tol = std::string(t.qtype) == "f16" ? 1e-2 * scale : 0.25 * scale;
  EXPECT_GE(err, 0.0);
  EXPECT_LE(err, tol) << stem << " vs the float32 original (logit std " << scale << ")";
  const double mean_err = (logits - want).abs().mean().item<double>();
  EXPECT_LE(mean_err, (std::string(t.qtype) == "f16" ? 2e-3 : 5e-2) * scale);
}

INSTANTIATE_TEST_SUITE_P(Twins, GgufTwin,
                         ::testing::Values(Twin{"gpt2_tiny", "f16"}, Twin{"gpt2_tiny", "q8_0"},
                                           Twin{"llama_gqa", "f16"}, Twin{"llama_gqa", "q8_0"},
                                           Twin{"qwen2_tiny", "q8_0"}),
                         [](const auto& info) {
                           return std::string(info.param.model) + "_" + info.param.qtype;
                         });

// Gemma 3's twin (F16; written as convert_hf_to_gguf.py does: norms stored as 1 + w, Q/K in HF's
// order). GGUF has no key for query_pre_attn_scalar, the layer pattern or RoPE scaling, so the
// file means transformers' defaults for them (256, local but every sixth layer, none), not
// gemma3_tiny's own values: its logits are compared with HF's on the same file only, and the
// parameters (which carry no such setting) with the original's.
TEST(GgufGemma3, TwinMatchesHfOnSameGgufAndOriginalParams) {
  const auto g = load_model(gguf_fixture("gemma3_tiny.f16"));
  const auto h = load_model(testing::fixture_model("gemma3_tiny"));
  EXPECT_EQ(g.cfg.family, Family::kGemma3);
  EXPECT_EQ(g.cfg.d_head, h.cfg.d_head);
  EXPECT_EQ(g.cfg.n_kv_heads, h.cfg.n_kv_heads);
  EXPECT_EQ(g.cfg.sliding_window, h.cfg.sliding_window);
  EXPECT_EQ(g.cfg.attn_scale, 16.0);  // sqrt(256): transformers' default query_pre_attn_scalar
  EXPECT_TRUE(g.cfg.is_sliding(0) && g.cfg.is_sliding(1));
  ASSERT_EQ(g.params.size(), h.params.size());
  for (const auto& [name, want] : h.params) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(g.params.count(name));
    const auto err = (g.params.at(name) - want).abs();
    // F16 rounding (2^-11 relative) for matrices; norms (1 + w) stay F32 and are exact.
    const double rel = want.dim() == 1 ? 0.0 : std::ldexp(1.0, -11);
    EXPECT_TRUE((err <= want.abs() * rel + 3e-8).all().item<bool>())
        << "max error " << err.max().item<float>();
  }
  const auto ref = load_reference("gemma3_tiny.f16.gguf_ref");
  const HookedTransformer model(g);
  torch::NoGradGuard ng;
  EXPECT_LE(max_abs_diff(model.forward(ref.at("tokens")), ref.at("logits")), 1e-4);
}

TEST(GgufTokenizer, TwinCarriesItsVocabulary) {
  const auto loaded = load_model(gguf_fixture("gpt2_tiny.f16"));
  const tok::Tokenizer tok = load_model_tokenizer(loaded);
  EXPECT_EQ(tok.vocab_size(), loaded.cfg.d_vocab);
  EXPECT_EQ(tok.source(), gguf_fixture("gpt2_tiny.f16"));
  // Round trip over plain ASCII: byte tokens exist for every byte, so any text encodes.
  const std::string text = "Hello, world! 123";
  EXPECT_EQ(tok.decode(tok.encode(text)), text);
}

// --- hand-made llama files ---------------------------------------------------------------------
// d_model 4, 2 query heads and 1 key/value head of d_head 4 (two rotary pairs per head, so the
// row permutation is not the identity): attn_q has 8 rows, attn_k 4.
constexpr int kD = 4, kH = 2, kKV = 1, kE = 4, kM = 8, kV = 8;

struct LlamaFile {
  GgufBuilder b;
  std::map<std::string, std::pair<std::vector<std::uint64_t>, std::vector<float>>> tensors;

  LlamaFile() {
    b.kv_str("general.architecture", "llama");
    b.kv_u32("llama.block_count", 1);
    b.kv_u32("llama.context_length", 16);
    b.kv_u32("llama.embedding_length", kD);
    b.kv_u32("llama.feed_forward_length", kM);
    b.kv_u32("llama.attention.head_count", kH);
    b.kv_u32("llama.attention.head_count_kv", kKV);
    b.kv_u32("llama.attention.key_length", kE);  // != d_model / n_heads
    b.kv_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
    b.kv_f32("llama.rope.freq_base", 10000.0f);
    auto add = [&](const std::string& n, std::vector<std::uint64_t> dims) {
      std::size_t count = 1;
      for (auto d : dims) count *= d;
      std::vector<float> v(count);
      for (std::size_t i = 0; i < count; ++i) v[i] = static_cast<float>(i) + 0.25f * tensors.size();
      tensors[n] = {std::move(dims), std::move(v)};
    };
    add("token_embd.weight", {kD, kV});
    add("blk.0.attn_norm.weight", {kD});
    add("blk.0.attn_q.weight", {kD, kH * kE});
    add("blk.0.attn_k.weight", {kD, kKV * kE});
    add("blk.0.attn_v.weight", {kD, kKV * kE});
    add("blk.0.attn_output.weight", {kH * kE, kD});
    add("blk.0.ffn_norm.weight", {kD});
    add("blk.0.ffn_gate.weight", {kD, kM});
    add("blk.0.ffn_up.weight", {kD, kM});
    add("blk.0.ffn_down.weight", {kM, kD});
    add("output_norm.weight", {kD});
  }
  std::string write(const std::string& name) {
    GgufBuilder out = b;  // write() may be called more than once
    for (const auto& [n, t] : tensors) out.tensor_f32(n, t.first, t.second);
    const auto bytes = out.build();
    const auto dir = std::filesystem::temp_directory_path() / "csweep_test_gguf_checkpoint";
    std::filesystem::create_directories(dir);
    const std::string path = (dir / (name + ".gguf")).string();
    FILE* f = std::fopen(path.c_str(), "wb");
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
    return path;
  }
};

std::string load_error(const std::string& path) {
  try {
    load_model(path);
  } catch (const InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "loaded without error: " << path;
  return {};
}

#define EXPECT_HAS(msg, part) \
  EXPECT_NE((msg).find(part), std::string::npos) << "message: " << (msg) << "\nmissing: " << (part)

// llama.cpp's permute() maps HF row j*(d_head/2) + i of a head to GGUF row 2*i + j. With d_head 4:
// GGUF rows [g0, g1, g2, g3] of a head hold HF rows [h0, h2, h1, h3]. W_Q[head][:, e] is HF row e.
TEST(GgufLlama, UnpermutesQueryAndKeyRowsPerHead) {
  LlamaFile lf;
  const auto path = lf.write("unpermute");
  const auto m = load_model(path);
  EXPECT_EQ(m.cfg.n_kv_heads, 1);
  EXPECT_EQ(m.cfg.d_head, kE);
  EXPECT_EQ(m.cfg.rotary_dim, kE);
  EXPECT_TRUE(m.cfg.tied_embeddings);
  const auto& q = lf.tensors.at("blk.0.attn_q.weight").second;  // GGUF rows of kD floats
  const auto W_Q = m.params.at("blocks.0.attn.W_Q");            // [head, d_model, d_head]
  const int hf_of_gguf[4] = {0, 2, 1, 3};
  for (int h = 0; h < kH; ++h)
    for (int g = 0; g < kE; ++g)
      for (int d = 0; d < kD; ++d)
        EXPECT_EQ(W_Q[h][d][hf_of_gguf[g]].item<float>(), q[(h * kE + g) * kD + d])
            << "head " << h << " gguf row " << g;
  const auto& k = lf.tensors.at("blk.0.attn_k.weight").second;
  const auto W_K = m.params.at("blocks.0.attn.W_K");
  for (int g = 0; g < kE; ++g)
    for (int d = 0; d < kD; ++d) EXPECT_EQ(W_K[0][d][hf_of_gguf[g]].item<float>(), k[g * kD + d]);
  // attn_v is not permuted.
  const auto& v = lf.tensors.at("blk.0.attn_v.weight").second;
  const auto W_V = m.params.at("blocks.0.attn.W_V");
  for (int e = 0; e < kE; ++e)
    for (int d = 0; d < kD; ++d) EXPECT_EQ(W_V[0][d][e].item<float>(), v[e * kD + d]);
  // Tied: W_U = W_E^T.
  EXPECT_TRUE(torch::equal(m.params.at("unembed.W_U"), m.params.at("embed.W_E").t()));
}

TEST(GgufLlama, MissingTensor) {
  LlamaFile lf;
  lf.tensors.erase("blk.0.attn_k.weight");
  const std::string msg = load_error(lf.write("missing"));
  EXPECT_HAS(msg, "missing.gguf: tensor 'blk.0.attn_k.weight': missing");
}

TEST(GgufLlama, WrongShape) {
  LlamaFile lf;
  lf.tensors["blk.0.ffn_up.weight"].first = {kD, kM + 1};
  lf.tensors["blk.0.ffn_up.weight"].second.resize(kD * (kM + 1));
  const std::string msg = load_error(lf.write("shape"));
  EXPECT_HAS(msg, "shape.gguf: tensor 'blk.0.ffn_up.weight': shape [9, 4]");
  EXPECT_HAS(msg, "expected [8, 4]");
}

TEST(GgufLlama, UnexpectedTensor) {
  LlamaFile lf;
  lf.tensors["blk.1.attn_q.weight"] = {{kD, kH * kE}, std::vector<float>(kD * kH * kE)};
  EXPECT_HAS(load_error(lf.write("extra")), "extra.gguf: tensor 'blk.1.attn_q.weight': not part");
}

TEST(GgufLlama, MissingHyperparameter) {
  LlamaFile lf;
  GgufBuilder b;
  b.kv_str("general.architecture", "llama");
  lf.b = b;  // no block_count
  EXPECT_HAS(load_error(lf.write("nohp")), "nohp.gguf: metadata 'llama.block_count': missing");
}

TEST(GgufLlama, UnsupportedArchitecture) {
  LlamaFile lf;
  GgufBuilder b;
  b.kv_str("general.architecture", "mamba");
  lf.b = b;
  EXPECT_HAS(load_error(lf.write("arch")), "arch.gguf: metadata 'general.architecture': got \"mamba\"");
}

TEST(GgufLlama, UndecodableType) {
  LlamaFile lf;
  lf.tensors.erase("blk.0.ffn_down.weight");
  lf.b.tensor("blk.0.ffn_down.weight", {kM, kD}, 26, std::vector<std::uint8_t>(kM * kD * 4));  // I32
  const std::string msg = load_error(lf.write("i32"));
  EXPECT_HAS(msg, "i32.gguf: tensor 'blk.0.ffn_down.weight': ggml type I32 cannot be dequantised");
}

TEST(GgufLlama, RopeScalingRejected) {
  LlamaFile lf;
  lf.b.kv_str("llama.rope.scaling.type", "linear");
  EXPECT_HAS(load_error(lf.write("scaling")), "'llama.rope.scaling.type': \"linear\"");
}

TEST(GgufTokenizer, RejectsUnknownPreTokenizerAndModel) {
  for (const auto& [key, value, expect] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"tokenizer.ggml.model", "t5", "'tokenizer.ggml.model': got \"t5\""},
           {"tokenizer.ggml.pre", "qwen2", "'tokenizer.ggml.pre': got \"qwen2\""}}) {
    GgufBuilder b;
    b.kv_str("tokenizer.ggml.model", key == "tokenizer.ggml.model" ? value : "gpt2");
    if (key == "tokenizer.ggml.pre") b.kv_str("tokenizer.ggml.pre", value);
    b.kv_str_array("tokenizer.ggml.tokens", {"a", "b", "ab"});
    b.kv_str_array("tokenizer.ggml.merges", {"a b"});
    const auto bytes = b.build();
    const auto f = io::GgufFile::parse(bytes.data(), bytes.size(), "tok.gguf");
    try {
      gguf_tokenizer(f);
      ADD_FAILURE() << "accepted " << value;
    } catch (const InputError& e) {
      EXPECT_HAS(std::string(e.what()), "tok.gguf: metadata " + expect);
    }
  }
}

// SentencePiece ("llama") vocabularies are read for Gemma 3 files only (tests/gemma3 and
// test_sentencepiece_bpe check the encoding); another family's is refused, naming the key.
TEST(GgufTokenizer, SentencePieceOnlyForGemma) {
  GgufBuilder b;
  b.kv_str("general.architecture", "llama");
  b.kv_str("tokenizer.ggml.model", "llama");
  b.kv_str_array("tokenizer.ggml.tokens", {"a", "b", "ab"});
  const auto bytes = b.build();
  const auto f = io::GgufFile::parse(bytes.data(), bytes.size(), "spm.gguf");
  try {
    gguf_tokenizer(f);
    ADD_FAILURE() << "accepted a Llama SentencePiece vocabulary";
  } catch (const InputError& e) {
    EXPECT_HAS(std::string(e.what()), "spm.gguf: metadata 'tokenizer.ggml.model': \"llama\" "
                                      "(SentencePiece) vocabularies are supported for "
                                      "general.architecture \"gemma3\" only");
    EXPECT_HAS(std::string(e.what()), "this file is \"llama\"");
  }
}

TEST(GgufTokenizer, RejectsMalformedMerge) {
  GgufBuilder b;
  b.kv_str("tokenizer.ggml.model", "gpt2");
  b.kv_str("tokenizer.ggml.pre", "smollm");
  b.kv_str_array("tokenizer.ggml.tokens", {"a", "b", "ab"});
  b.kv_str_array("tokenizer.ggml.merges", {"a b", "ab"});
  const auto bytes = b.build();
  const auto f = io::GgufFile::parse(bytes.data(), bytes.size(), "tok.gguf");
  try {
    gguf_tokenizer(f);
    ADD_FAILURE() << "accepted a merge without a space";
  } catch (const InputError& e) {
    EXPECT_HAS(std::string(e.what()), "tok.gguf: metadata 'tokenizer.ggml.merges'[1]: got \"ab\"");
  }
}

TEST(ModelTokenizer, FolderWithoutTokenizerIsAnError) {
  LoadedModel m;
  m.source = "/models/bare";
  try {
    load_model_tokenizer(m);
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_HAS(std::string(e.what()), "/models/bare: the model carries no tokenizer");
  }
}

}  // namespace
}  // namespace csweep::model
