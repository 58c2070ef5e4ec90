// HookedTransformer against the reference fixtures: logits from Hugging Face transformers and
// every hook activation from TransformerLens (tests/reference/generate_fixtures.py).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "reference_fixture.hpp"
#include "workers/model/hooks.hpp"
#include "workers/model/transformer.hpp"
#include "workers/model/weights.hpp"

namespace csweep::model {
namespace {

using testing::fixture_model;
using testing::load_reference;
using testing::max_abs_diff;

constexpr double kTol = 1e-4;  // fp32 against HF / TransformerLens (max abs)

struct Case {
  const char* model;      // folder under tests/fixtures/models
  const char* reference;  // reference/<name>.safetensors
};

// Every fixture model with a peer reference; the hub/sharded layouts carry gpt2_tiny's weights and
// reuse its reference. gpt2_untied (stored f16) and llama_l3 (stored bf16) cover the half-precision
// read path; gpt2_tiny_f16 / llama_gqa_bf16 have no reference of their own (loader tests compare
// them with their f32 twins).
const Case kCases[] = {
    {"gpt2_tiny", "gpt2_tiny"},         {"gpt2_tiny_hub", "gpt2_tiny"},
    {"gpt2_tiny_sharded", "gpt2_tiny"}, {"gpt2_untied", "gpt2_untied"},
    {"llama_gqa", "llama_gqa"},         {"llama_l3", "llama_l3"},
    {"qwen2_tiny", "qwen2_tiny"},         {"neox_tiny", "neox_tiny"},
    {"gemma3_tiny", "gemma3_tiny"},       {"gemma2_tiny", "gemma2_tiny"},
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.model; }

class ReferenceTest : public ::testing::TestWithParam<Case> {};

bool have_reference(const Case& c) {
  return std::filesystem::exists(testing::fixture_reference(c.reference, ".safetensors"));
}

void check_against_reference(const Case& c, torch::Device device) {
  const auto loaded = load_model(fixture_model(c.model));
  const auto ref = load_reference(c.reference);
  const HookedTransformer model(loaded, device);
  Hooks hooks;
  hooks.cache_matching("*");
  const auto tokens = ref.at("tokens");
  const auto logits = model.forward(tokens, &hooks);
  ASSERT_EQ(logits.scalar_type(), torch::kFloat32);
  EXPECT_LE(max_abs_diff(logits, ref.at("logits")), kTol) << c.model << " logits vs HF";

  int compared = 0;
  double worst_hook = 0;  // the margins below kTol, printed for the record
  for (const auto& name : model.hook_names()) {
    SCOPED_TRACE(std::string(c.model) + " " + name);
    ASSERT_TRUE(ref.has("hook." + name)) << "TransformerLens recorded no activation";
    ASSERT_TRUE(hooks.cache().count(name)) << "hook did not fire";
    const auto& expected = ref.at("hook." + name);
    const auto& got = hooks.cache().at(name);
    ASSERT_EQ(got.sizes(), expected.sizes());
    const double d = max_abs_diff(got, expected);
    EXPECT_GE(d, 0) << "non-finite positions differ (masking)";
    EXPECT_LE(d, kTol);
    worst_hook = std::max(worst_hook, d);
    ++compared;
  }
  std::printf("%s: max |logits - HF| %.3g, max |hook - TL| %.3g over %d hooks\n", c.model,
              max_abs_diff(logits, ref.at("logits")), worst_hook, compared);
  EXPECT_EQ(compared, static_cast<int>(model.hook_names().size()));
  EXPECT_EQ(hooks.cache().size(), model.hook_names().size()) << "a hook fired that is not listed";
}

TEST_P(ReferenceTest, LogitsAndEveryHookMatchFp32) {
  ASSERT_TRUE(have_reference(GetParam())) << "missing committed fixture " << GetParam().reference;
  check_against_reference(GetParam(), torch::kCPU);
}

TEST_P(ReferenceTest, MatchesOnCudaWhenAvailable) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  ASSERT_TRUE(have_reference(GetParam())) << "missing committed fixture " << GetParam().reference;
  check_against_reference(GetParam(), torch::Device(torch::kCUDA, 0));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ReferenceTest, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.model); });

TEST(HookedTransformer, NoHooksAndEmptyHooksGiveTheSameLogits) {
  const auto loaded = load_model(fixture_model("llama_gqa"));
  const auto ref = load_reference("llama_gqa");
  const HookedTransformer model(loaded);
  Hooks empty;
  const auto a = model.forward(ref.at("tokens"));
  const auto b = model.forward(ref.at("tokens"), &empty);
  EXPECT_LE(max_abs_diff(a, ref.at("logits")), kTol);
  EXPECT_TRUE(torch::equal(a, b));
}

// Stages compose to the forward pass: embed -> two halves of run_blocks -> final_norm -> unembed,
// and unembedding a subset of columns picks those columns.
TEST(HookedTransformer, StagedApiEqualsForward) {
  // gemma3_tiny splits between its local and its global layer.
  for (const char* name : {"gpt2_untied", "llama_l3", "gemma3_tiny", "gemma2_tiny"}) {
    SCOPED_TRACE(name);
    const auto loaded = load_model(fixture_model(name));
    const auto ref = load_reference(name);
    const HookedTransformer model(loaded);
    const auto tokens = ref.at("tokens");
    const int L = model.cfg().n_layers;
    auto resid = model.embed(tokens);
    resid = model.run_blocks(resid, 0, L / 2);
    EXPECT_LE(max_abs_diff(resid, ref.at("hook.blocks." + std::to_string(L / 2) + ".hook_resid_pre")), kTol);
    resid = model.run_blocks(resid, L / 2, L);
    const auto normalized = model.final_norm(resid);
    const auto logits = model.unembed(normalized);
    EXPECT_LE(max_abs_diff(logits, ref.at("logits")), kTol);
    EXPECT_LE(max_abs_diff(logits, model.forward(tokens)), 1e-6);
    const auto cols = torch::tensor({int64_t{3}, int64_t{17}, int64_t{model.cfg().d_vocab - 1}});
    const auto last = model.unembed(normalized.select(1, -1), cols);  // [batch, 3]
    EXPECT_LE(max_abs_diff(last, ref.at("logits").select(1, -1).index_select(1, cols)), kTol);
  }
}

// The Gemma fixtures exercise the sliding window: in HF's scores (TransformerLens's hook) a local
// layer masks the keys q - k >= window that a global layer still sees, so the window is shorter
// than the prompt and matching every hook at 1e-4 checks our mask.
TEST(HookedTransformer, GemmaFixturesHaveLocalAndGlobalLayers) {
  for (const char* name : {"gemma3_tiny", "gemma2_tiny"}) {
    SCOPED_TRACE(name);
    const auto cfg = load_model(fixture_model(name)).cfg;
    const auto ref = load_reference(name);
    int local = 0, global = 0;
    for (int l = 0; l < cfg.n_layers; ++l) {
      const auto scores = ref.at("hook.blocks." + std::to_string(l) + ".attn.hook_attn_scores");
      const int64_t P = scores.size(-1);
      ASSERT_LT(cfg.sliding_window, P);
      for (int64_t q = 0; q < P; ++q) {
        for (int64_t k = 0; k <= q; ++k) {
          const bool masked = std::isinf(scores[0][0][q][k].item<double>());
          EXPECT_EQ(masked, cfg.is_sliding(l) && q - k >= cfg.sliding_window) << l << " " << q << " " << k;
        }
      }
      (cfg.is_sliding(l) ? local : global) += 1;
    }
    EXPECT_GT(local, 0);
    EXPECT_GT(global, 0);
  }
}

// Independent last-layer computation from the raw (TransformerLens-named) parameters and
// TransformerLens's resid_pre: with every head's z zeroed the attention output is b_O alone.
torch::Tensor last_layer_without_attention(const LoadedModel& m, const torch::Tensor& resid_pre) {
  const auto& c = m.cfg;
  const auto& p = m.params;
  const std::string b = "blocks." + std::to_string(c.n_layers - 1) + ".";
  auto get = [&](const std::string& n) { return p.count(n) ? p.at(n) : torch::Tensor(); };
  auto norm = [&](const torch::Tensor& x, const std::string& prefix) {
    if (c.norm == NormKind::kLayerNorm) {
      return torch::layer_norm(x, {c.d_model}, get(prefix + ".w"), get(prefix + ".b"), c.norm_eps);
    }
    return x / (x.pow(2).mean(-1, true) + c.norm_eps).sqrt() * get(prefix + ".w");
  };
  auto add_bias = [&](const torch::Tensor& x, const std::string& n) {
    const auto bias = get(n);
    return bias.defined() ? x + bias : x;
  };
  auto x = add_bias(resid_pre, b + "attn.b_O");
  const auto h = norm(x, b + "ln2");
  torch::Tensor post;
  if (c.gated_mlp) {
    post = torch::silu(torch::matmul(h, get(b + "mlp.W_gate"))) * torch::matmul(h, get(b + "mlp.W_in"));
  } else {
    post = torch::gelu(add_bias(torch::matmul(h, get(b + "mlp.W_in")), b + "mlp.b_in"), "tanh");
  }
  x = x + add_bias(torch::matmul(post, get(b + "mlp.W_out")), b + "mlp.b_out");
  return add_bias(torch::matmul(norm(x, "ln_final"), get("unembed.W_U")), "unembed.b_U");
}

TEST(HookedTransformer, ZeroingLastLayerZRemovesItsAttention) {
  for (const char* name : {"gpt2_untied", "llama_gqa"}) {
    SCOPED_TRACE(name);
    const auto loaded = load_model(fixture_model(name));
    const auto ref = load_reference(name);
    const HookedTransformer model(loaded);
    const int last = model.cfg().n_layers - 1;
    Hooks hooks;
    int calls = 0;
    hooks.add(act_name("z", last), [&](torch::Tensor& z, const std::string&) {
      z = torch::zeros_like(z);
      ++calls;
    });
    const auto logits = model.forward(ref.at("tokens"), &hooks);
    EXPECT_EQ(calls, 1);
    const auto expected = last_layer_without_attention(
        loaded, ref.at("hook.blocks." + std::to_string(last) + ".hook_resid_pre"));
    EXPECT_LE(max_abs_diff(logits, expected), kTol);
    EXPECT_GT(max_abs_diff(logits, ref.at("logits")), 1e-2) << "the intervention changed nothing";
  }
}

// Right padding: the padded rows' real positions keep the unpadded logits, and padded keys are
// -inf in every query row's scores.
TEST(HookedTransformer, RightPaddingWithAttentionMask) {
  const auto loaded = load_model(fixture_model("llama_gqa"));
  const auto ref = load_reference("llama_gqa");
  const HookedTransformer model(loaded);
  auto tokens = ref.at("tokens").clone();
  const int64_t P = tokens.size(1), len = 7;
  auto mask = torch::ones_like(tokens);
  mask[1].slice(0, len).fill_(0);
  tokens[1].slice(0, len).fill_(0);  // pad id
  Hooks hooks;
  hooks.cache_matching("blocks.0.attn.hook_attn_scores");
  ForwardOptions opt;
  opt.attention_mask = mask;
  const auto logits = model.forward(tokens, &hooks, opt);
  EXPECT_LE(max_abs_diff(logits[0], ref.at("logits")[0]), kTol);
  EXPECT_LE(max_abs_diff(logits[1].slice(0, 0, len), ref.at("logits")[1].slice(0, 0, len)), kTol);
  const auto scores = hooks.cache().at("blocks.0.attn.hook_attn_scores");  // [batch, head, q, k]
  EXPECT_TRUE(torch::isneginf(scores[1].slice(2, len)).all().item<bool>());
  EXPECT_TRUE(torch::isfinite(scores[1].slice(1, len).slice(2, 0, len)).all().item<bool>());
  EXPECT_FALSE(torch::isnan(logits).any().item<bool>());
  (void)P;
}

// Half precision (bf16; fp16 where the device has a float16 GEMM) against the fp32 HF logits,
// with a tolerance derived from the format's rounding errors, so that it holds on whichever
// matmul kernel the machine gets.
//
// Kernels. LibTorch 1.13 runs a CPU bf16 matmul in oneDNN when the CPU has AVX-512 BW/VL/DQ
// (products accumulated in fp32, one rounding per output) and in ATen's own gemm on every other
// x86-64 CPU (e.g. AVX2-only EPYC), which for the untransposed layout accumulates in bf16, one
// rounding per term. Measured on random [64 x K] @ [K x 96] matrices, K = 64, 256, 1024: max error
// / |y| is sqrt(K)-fold larger with ATen's gemm (ratios 7, 18, 40), as a random walk of K
// roundings of partial sums of the output's magnitude predicts. Bfloat16CloseToFp32 runs both
// kernels on every machine: ATen's with oneDNN disabled, which is exactly what an AVX2-only CPU
// runs (portable C++ with a fixed summation order). cuBLAS accumulates in fp32, like oneDNN.
//
// Bound. E = the fp32 model with its weights rounded to the format and every hook activation
// (TransformerLens's op boundaries) rounded to it: the storage roundings of a half-precision
// forward, computed in fp32 and hence the same on every CPU. With independent rounding errors, a
// forward that accumulates in fp32 is another draw of E's errors (the max over the logits of two
// draws: within 2x); accumulating a K-term dot product in the format multiplies that dot
// product's error by at most ~sqrt(K) (above). So on any kernel, or mix of kernels:
//     max |logits - HF| <= 2 * sqrt(K_max) * max |E - HF|,
// K_max = the longest dot product of the forward (d_model, d_mlp, n_heads * d_head or the number
// of positions).
struct HalfCheck {
  double error = 0, emulated = 0, bound = 0;
};

HalfCheck check_half_model(const char* name, torch::Device device, torch::ScalarType dtype) {
  const auto loaded = load_model(fixture_model(name));
  const auto ref = load_reference(name);
  const auto& tokens = ref.at("tokens");
  const auto& expected = ref.at("logits");
  const HookedTransformer model(loaded, device, dtype);
  Hooks hooks;
  hooks.cache_matching("blocks.0.attn.hook_z");
  const auto logits = model.forward(tokens, &hooks);
  EXPECT_EQ(logits.scalar_type(), torch::kFloat32);
  EXPECT_EQ(hooks.cache().at("blocks.0.attn.hook_z").scalar_type(), dtype);

  const auto round = [dtype](const torch::Tensor& t) { return t.to(dtype).to(torch::kFloat32); };
  LoadedModel rounded = loaded;
  for (auto& [param, t] : rounded.params) t = round(t);
  const HookedTransformer fp32(rounded);
  Hooks storage;
  for (const auto& hook : fp32.hook_names())
    storage.add(hook, [&round](torch::Tensor& x, const std::string&) { x = round(x); });
  const auto emulated = fp32.forward(tokens, &storage);

  const auto& c = loaded.cfg;
  const int64_t k_max = std::max<int64_t>({c.d_model, c.d_mlp, c.n_heads * c.d_head, tokens.size(1)});
  HalfCheck r;
  r.error = max_abs_diff(logits, expected);
  r.emulated = max_abs_diff(emulated, expected);
  r.bound = 2 * std::sqrt(static_cast<double>(k_max)) * r.emulated;
  EXPECT_GT(r.emulated, 0) << "rounding to " << c10::toString(dtype) << " changed nothing";
  EXPECT_GT(r.error, 0) << "suspiciously exact for " << c10::toString(dtype);
  EXPECT_LE(r.error, r.bound) << "max |E - HF| " << r.emulated << ", K_max " << k_max;
  return r;
}

void check_half(torch::Device device, torch::ScalarType dtype, const char* kernel) {
  for (const char* name : {"gpt2_tiny", "llama_gqa"}) {
    SCOPED_TRACE(std::string(name) + " " + c10::toString(dtype) + " " + kernel);
    const auto r = check_half_model(name, device, dtype);
    std::printf("%s %s on %s (%s): max |logits - HF| %.4f, storage-rounding emulation %.4f, bound %.4f\n",
                name, c10::toString(dtype), device.str().c_str(), kernel, r.error, r.emulated, r.bound);
  }
}

// Restores oneDNN for the tests that follow, whatever happens.
struct OneDnnSetting {
  explicit OneDnnSetting(bool enabled) : saved(at::globalContext().userEnabledMkldnn()) {
    at::globalContext().setUserEnabledMkldnn(enabled);
  }
  ~OneDnnSetting() { at::globalContext().setUserEnabledMkldnn(saved); }
  bool saved;
};

TEST(HookedTransformer, Bfloat16CloseToFp32) {
  {
    OneDnnSetting s(true);
    check_half(torch::kCPU, torch::kBFloat16, "default kernels");
  }
  OneDnnSetting s(false);
  check_half(torch::kCPU, torch::kBFloat16, "ATen gemm, as on CPUs without AVX-512 BW/VL/DQ");
}

TEST(HookedTransformer, Float16CloseToFp32OrRefusedUpFront) {
  const auto loaded = load_model(fixture_model("gpt2_tiny"));
  bool cpu_fp16 = true;
  try {
    HookedTransformer probe(loaded, torch::kCPU, torch::kHalf);
  } catch (const InputError&) {
    cpu_fp16 = false;  // LibTorch without a CPU float16 GEMM: refused at construction
  }
  if (cpu_fp16) check_half(torch::kCPU, torch::kHalf, "default kernels");
  if (torch::cuda::is_available()) {
    check_half(torch::Device(torch::kCUDA, 0), torch::kHalf, "cuBLAS");
    check_half(torch::Device(torch::kCUDA, 0), torch::kBFloat16, "cuBLAS");
  }
}

TEST(HookedTransformer, HookThatChangesShapeIsRejected) {
  const auto loaded = load_model(fixture_model("gpt2_tiny"));
  const HookedTransformer model(loaded);
  Hooks hooks;
  hooks.add("blocks.0.hook_resid_pre", [](torch::Tensor& x, const std::string&) { x = x.sum(-1); });
  EXPECT_THROW(model.forward(torch::zeros({1, 3}, torch::kLong), &hooks), InternalError);
}

TEST(HookedTransformer, SequenceLongerThanContextIsAnInputError) {
  const auto loaded = load_model(fixture_model("gpt2_tiny"));
  const HookedTransformer model(loaded);
  EXPECT_THROW(model.forward(torch::zeros({1, model.cfg().n_ctx + 1}, torch::kLong)), InputError);
}

}  // namespace
}  // namespace csweep::model
