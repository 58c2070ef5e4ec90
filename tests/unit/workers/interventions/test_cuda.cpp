// The batched executor on a CUDA device (bench/gpu_check.sh runs these on a GPU; without one
// every case skips): on the GPU it equals the one-at-a-time hooked path and the batched executor
// on the CPU in fp32, and in bf16 it stays within a stated bound of fp32.
//
// Tolerances: fp32_bound and bf16_bound (engine_fixture.hpp, derived there); bf16 must also
// differ from fp32 by more than 0 (the model really ran in bf16).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "engine_fixture.hpp"
#include "workers/interventions/caches.hpp"
#include "workers/interventions/executor.hpp"
#include "workers/interventions/reference_path.hpp"
#include "workers/model/transformer.hpp"

namespace csweep::interv {
namespace {

using testing::bf16_bound;
using testing::fp32_bound;
using testing::gpt2_config;
using testing::llama_config;
using testing::random_model;
using testing::random_prompts;

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.cpu().to(torch::kFloat64) - b.cpu().to(torch::kFloat64)).abs().max().item<double>();
}

// Single heads, MLPs, neurons and pairs of them at every layer, mean ablation.
std::vector<Intervention> mixed_interventions(const model::ModelConfig& c, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<Intervention> out;
  out.push_back({});
  for (int i = 0; i < 16; ++i) {
    Intervention iv;
    const int n = 1 + static_cast<int>(rng() % 2);
    for (int k = 0; k < n; ++k) {
      Component comp;
      comp.layer = static_cast<int>(rng() % c.n_layers);
      switch (rng() % 3) {
        case 0: comp.kind = ComponentKind::kHead; comp.index = static_cast<int>(rng() % c.n_heads); break;
        case 1: comp.kind = ComponentKind::kMlp; break;
        default: comp.kind = ComponentKind::kNeuron; comp.index = static_cast<int>(rng() % c.d_mlp); break;
      }
      iv.components.push_back(comp);
    }
    out.push_back(iv);
  }
  return out;
}

class CudaExecutor : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  }
  model::ModelConfig cfg() const { return GetParam() == 0 ? gpt2_config() : llama_config(); }
};

TEST_P(CudaExecutor, BatchedEqualsOneAtATimeOnTheGpu) {
  const auto c = cfg();
  const auto loaded = random_model(c, 41 + GetParam());
  const model::HookedTransformer tm(loaded, torch::Device(torch::kCUDA, 0));
  const auto prompts = random_prompts(c, 6, 12, 5);
  DatasetCache cache(tm, prompts);
  ReferencePath ref(tm, prompts);
  ExecutorOptions opt;
  opt.max_interventions_per_batch = 5;
  Executor ex(tm, opt);
  for (int kind_idx = 0; kind_idx < 6; ++kind_idx) {
    const auto kind = static_cast<AblationKind>(kind_idx);
    if (kind == AblationKind::kPathPatch) continue;  // needs receivers; the CPU suite covers it
    const auto ivs = mixed_interventions(c, 200 + static_cast<uint32_t>(kind_idx));
    const auto batched = ex.answer_logits(cache, kind, ivs, true);
    ASSERT_TRUE(batched.is_cuda());
    for (size_t i = 0; i < ivs.size(); ++i) {
      const auto expect = ref.answer_logits(kind, ivs[i]);
      const auto got = batched[static_cast<int64_t>(i)];
      EXPECT_LE(max_abs_diff(got, expect), fp32_bound(c, 12, expect)) << "kind " << kind_idx << " intervention " << i;
    }
  }
}

TEST_P(CudaExecutor, GpuEqualsCpuInFp32) {
  const auto c = cfg();
  const auto loaded = random_model(c, 51 + GetParam());
  const model::HookedTransformer cpu(loaded);
  const model::HookedTransformer gpu(loaded, torch::Device(torch::kCUDA, 0));
  const auto prompts = random_prompts(c, 6, 12, 6);
  DatasetCache cache_cpu(cpu, prompts), cache_gpu(gpu, prompts);
  Executor ex_cpu(cpu), ex_gpu(gpu);
  const auto ivs = mixed_interventions(c, 300);
  const auto a = ex_cpu.answer_logits(cache_cpu, AblationKind::kMean, ivs, true);
  const auto b = ex_gpu.answer_logits(cache_gpu, AblationKind::kMean, ivs, true);
  ASSERT_EQ(a.sizes(), b.sizes());
  const double d = max_abs_diff(a, b), bound = fp32_bound(c, 12, a);
  std::printf("%s: max |GPU - CPU| fp32 %.3g (bound %.3g)\n", c.name.c_str(), d, bound);
  EXPECT_LE(d, bound);
  // Not vacuous: the interventions move the logits.
  EXPECT_GT(max_abs_diff(a, a[0].unsqueeze(0).expand_as(a)), 1e-3);
}

TEST_P(CudaExecutor, Bf16WithinItsBoundOfFp32) {
  const auto c = cfg();
  const auto loaded = random_model(c, 61 + GetParam());
  const model::HookedTransformer fp32(loaded, torch::Device(torch::kCUDA, 0));
  const model::HookedTransformer bf16(loaded, torch::Device(torch::kCUDA, 0), torch::kBFloat16);
  const auto prompts = random_prompts(c, 6, 12, 7);
  DatasetCache cache32(fp32, prompts), cache16(bf16, prompts);
  Executor ex32(fp32), ex16(bf16);
  const auto ivs = mixed_interventions(c, 400);
  const auto a = ex32.answer_logits(cache32, AblationKind::kMean, ivs, true);
  const auto b = ex16.answer_logits(cache16, AblationKind::kMean, ivs, true);
  EXPECT_EQ(b.scalar_type(), torch::kFloat32);
  const double d = max_abs_diff(a, b), bound = bf16_bound(c, 12, a);
  std::printf("%s: max |bf16 - fp32| on the GPU %.3g (bound %.3g)\n", c.name.c_str(), d, bound);
  EXPECT_GT(d, 0) << "bf16 identical to fp32: the model did not run in bf16";
  EXPECT_LE(d, bound);
}

INSTANTIATE_TEST_SUITE_P(Models, CudaExecutor, ::testing::Values(0, 1),
                         [](const auto& info) { return info.param == 0 ? "gpt2" : "llama"; });

}  // namespace
}  // namespace csweep::interv
