// The device policy (workers/model/device_policy.hpp) with its inputs given: launcher
// variables, CUDA_VISIBLE_DEVICES and what the CUDA runtime sees, so every branch is checked on
// a machine without GPUs. place_compute() itself is checked against this process's LibTorch.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "core/error.hpp"
#include "workers/model/device_policy.hpp"

namespace csweep::model {
namespace {

struct FakeEnv {
  std::map<std::string, std::string> vars;
  EnvLookup lookup() const {
    return [this](const char* name) -> const char* {
      auto it = vars.find(name);
      return it == vars.end() ? nullptr : it->second.c_str();
    };
  }
};

ComputeRequest ask(const char* device, int mpi_rank = 0) {
  ComputeRequest r;
  r.device = vocab::parse_device_request(device);
  r.device_where = "--device";
  r.mpi_rank = mpi_rank;
  return r;
}

std::string error_of(const ComputeRequest& r, CudaView v, const FakeEnv& env) {
  try {
    choose_device(r, v, env.lookup());
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(DevicePolicy, CpuAndAutoWithoutGpu) {
  FakeEnv env;
  EXPECT_FALSE(choose_device(ask("cpu"), {true, 4}, env.lookup()).cuda);
  const auto a = choose_device(ask("auto"), {false, 0}, env.lookup());
  EXPECT_FALSE(a.cuda);
  EXPECT_NE(a.description.find("LibTorch without CUDA"), std::string::npos) << a.description;
  EXPECT_FALSE(choose_device(ask("auto"), {true, 0}, env.lookup()).cuda);
}

TEST(DevicePolicy, AskingForAnAbsentGpuIsAClearError) {
  FakeEnv env;
  auto e = error_of(ask("cuda"), {false, 0}, env);
  EXPECT_NE(e.find("--device: a GPU was asked for but none is usable: this csweep's LibTorch has no CUDA"),
            std::string::npos) << e;
  EXPECT_NE(e.find("(got 'cuda', expected cpu or auto)"), std::string::npos) << e;
  EXPECT_NE(e.find("scripts/build.sh --cuda"), std::string::npos) << e;
  env.vars["CUDA_VISIBLE_DEVICES"] = "";
  e = error_of(ask("cuda:0"), {true, 0}, env);
  EXPECT_NE(e.find("sees no device (CUDA_VISIBLE_DEVICES=''"), std::string::npos) << e;
  e = error_of(ask("cuda:2"), {true, 2}, env);
  EXPECT_NE(e.find("no such GPU (got 'cuda:2', expected cuda:0 .. cuda:1 (2 visible"), std::string::npos) << e;
}

TEST(DevicePolicy, NodeLocalRankPicksTheGpu) {
  FakeEnv env;
  // No launcher variable: the MPI rank (a one-node job).
  auto c = choose_device(ask("cuda", 3), {true, 4}, env.lookup());
  EXPECT_TRUE(c.cuda);
  EXPECT_EQ(c.index, 3);
  EXPECT_NE(c.description.find("the MPI rank"), std::string::npos) << c.description;
  // srun: SLURM_LOCALID (global rank 9 is local rank 1 on its node).
  env.vars["SLURM_LOCALID"] = "1";
  c = choose_device(ask("auto", 9), {true, 4}, env.lookup());
  EXPECT_EQ(c.index, 1);
  EXPECT_NE(c.description.find("from SLURM_LOCALID"), std::string::npos) << c.description;
  // mpirun's variable first.
  env.vars["OMPI_COMM_WORLD_LOCAL_RANK"] = "2";
  c = choose_device(ask("cuda", 9), {true, 4}, env.lookup());
  EXPECT_EQ(c.index, 2);
  EXPECT_TRUE(c.warning.empty());
  // More local ranks than GPUs: shared round-robin, with a warning.
  env.vars["OMPI_COMM_WORLD_LOCAL_RANK"] = "5";
  c = choose_device(ask("cuda"), {true, 4}, env.lookup());
  EXPECT_EQ(c.index, 1);
  EXPECT_NE(c.warning.find("shared"), std::string::npos) << c.warning;
  // An explicit index is the same on every rank.
  env.vars["CUDA_VISIBLE_DEVICES"] = "4,5,6,7";
  c = choose_device(ask("cuda:3"), {true, 4}, env.lookup());
  EXPECT_EQ(c.index, 3);
  EXPECT_NE(c.description.find("CUDA_VISIBLE_DEVICES='4,5,6,7'"), std::string::npos) << c.description;
  // A malformed launcher variable is named.
  env.vars["OMPI_COMM_WORLD_LOCAL_RANK"] = "two";
  const auto e = error_of(ask("cuda"), {true, 4}, env);
  EXPECT_NE(e.find("OMPI_COMM_WORLD_LOCAL_RANK: not a node-local rank (got 'two'"), std::string::npos) << e;
}

TEST(DevicePolicy, MemoryBudgetIsTheSmallerLimitSplitOneToThree) {
  constexpr double GiB = double(1ull << 30);
  const std::size_t fallback = std::size_t{768} << 20;
  // Nothing limits: the engine's default batch, no dataset limit.
  auto b = memory_budget(0, std::nullopt, fallback);
  EXPECT_EQ(b.batch_bytes, fallback);
  EXPECT_EQ(b.dataset_bytes, 0);
  // CPU with a limit: 1/4 batches, 3/4 caches.
  b = memory_budget(4, std::nullopt, fallback);
  EXPECT_EQ(b.batch_bytes, static_cast<std::size_t>(1 * GiB));
  EXPECT_DOUBLE_EQ(b.dataset_bytes, 3 * GiB);
  EXPECT_EQ(b.source, "3/4 of memory.max_gb_per_rank = 4");
  // GPU with 80 GiB free, no limit: 90 % of it.
  DeviceMemory m{static_cast<std::size_t>(80 * GiB), static_cast<std::size_t>(96 * GiB)};
  b = memory_budget(0, m, fallback);
  EXPECT_DOUBLE_EQ(b.dataset_bytes, 0.75 * 0.9 * 80 * GiB);
  EXPECT_NE(b.source.find("90% of the 80.00 GiB free on the GPU"), std::string::npos) << b.source;
  // The limit below the free memory wins; free memory below the limit wins.
  b = memory_budget(16, m, fallback);
  EXPECT_DOUBLE_EQ(b.dataset_bytes, 0.75 * 16 * GiB);
  b = memory_budget(100, m, fallback);
  EXPECT_DOUBLE_EQ(b.dataset_bytes, 0.75 * 0.9 * 80 * GiB);
  EXPECT_NE(b.source.find("< memory.max_gb_per_rank = 100"), std::string::npos) << b.source;
}

TEST(DevicePolicy, PlaceComputeWithThisLibTorch) {
  ComputeRequest r = ask("cpu");
  r.dtype = vocab::ComputeDtype::kBFloat16;
  const Placement p = place_compute(r);
  EXPECT_TRUE(p.device.is_cpu());
  EXPECT_EQ(p.dtype, torch::kBFloat16);
  EXPECT_NE(p.description.find("bfloat16"), std::string::npos) << p.description;
  EXPECT_FALSE(device_memory(p.device).has_value());
  if (torch::cuda::is_available()) {
    const Placement g = place_compute(ask("cuda:0"));
    EXPECT_TRUE(g.device.is_cuda());
    const auto mem = device_memory(g.device);
    ASSERT_TRUE(mem.has_value()) << "cudaMemGetInfo not found in the loaded CUDA runtime";
    EXPECT_GT(mem->free_bytes, 0u);
    EXPECT_LE(mem->free_bytes, mem->total_bytes);
  } else {
    EXPECT_THROW(place_compute(ask("cuda")), InputError);
    EXPECT_TRUE(place_compute(ask("auto")).device.is_cpu());
  }
}

// The BLAS pool follows the job's thread count, not the CPU affinity it was sized from at load
// (the pin that keeps `csweep merge`'s cross-task rows equal to a rank's).
TEST(DevicePolicy, PinCpuThreadsReachesTheBlas) {
  // A product big enough that OpenBLAS is loaded and initialised.
  (void)torch::matmul(torch::ones({64, 64}), torch::ones({64, 64}));
  const int before = torch::get_num_threads();
  if (blas_threads() == -1) GTEST_SKIP() << "this LibTorch's BLAS has no thread-count query";
  for (int n : {1, 2, 1}) {
    pin_cpu_threads(n);
    EXPECT_EQ(torch::get_num_threads(), n);
    EXPECT_EQ(blas_threads(), n);
  }
  pin_cpu_threads(before);  // the other tests of this binary keep their thread count
}

}  // namespace
}  // namespace csweep::model
