#include "workers/model/device_policy.hpp"

#include <ATen/Context.h>
#include <dlfcn.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>

#include "core/error.hpp"

namespace csweep::model {

torch::ScalarType scalar_type(vocab::ComputeDtype d) {
  switch (d) {
    case vocab::ComputeDtype::kFloat32: return torch::kFloat32;
    case vocab::ComputeDtype::kBFloat16: return torch::kBFloat16;
    case vocab::ComputeDtype::kFloat16: return torch::kHalf;
  }
  return torch::kFloat32;
}

const char* process_env(const char* name) { return std::getenv(name); }

NodeLocalRank node_local_rank(int mpi_rank, const EnvLookup& env) {
  // mpirun (OpenMPI), srun (Slurm), MPICH / Intel MPI, in that order: under `srun --mpi=pmix`
  // OpenMPI's variable and Slurm's are both set and agree.
  for (const char* var : {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID"}) {
    const char* v = env(var);
    if (v == nullptr || *v == '\0') continue;
    char* end = nullptr;
    const long r = std::strtol(v, &end, 10);
    if (*end != '\0' || r < 0 || r > 1 << 20)
      throw input_error(var, "not a node-local rank", fmt::format("'{}'", v), "a non-negative integer");
    return {static_cast<int>(r), var};
  }
  return {std::max(0, mpi_rank), "the MPI rank (no launcher local-rank variable set)"};
}

namespace {

std::string visible_note(const EnvLookup& env) {
  const char* v = env("CUDA_VISIBLE_DEVICES");
  return v == nullptr ? "CUDA_VISIBLE_DEVICES unset" : fmt::format("CUDA_VISIBLE_DEVICES='{}'", v);
}

// Why no GPU is usable, for the error message.
std::string no_gpu_reason(const CudaView& view, const EnvLookup& env) {
  if (!view.cuda_built)
    return "this csweep's LibTorch has no CUDA (build with scripts/build.sh --cuda, docs/GPU.md)";
  return fmt::format("LibTorch has CUDA but sees no device ({}; no driver, or no GPU on this node)",
                     visible_note(env));
}

}  // namespace

DeviceChoice choose_device(const ComputeRequest& req, const CudaView& view, const EnvLookup& env) {
  using Kind = vocab::DeviceRequest::Kind;
  DeviceChoice c;
  const std::string asked = "'" + vocab::device_request_name(req.device) + "'";
  if (req.device.kind == Kind::kCpu) {
    c.description = "cpu (asked for)";
    return c;
  }
  if (view.n_visible <= 0) {
    if (req.device.kind == Kind::kAuto) {
      c.description = fmt::format("cpu (device auto: {})", view.cuda_built ? "no GPU visible" : "LibTorch without CUDA");
      return c;
    }
    throw input_error(req.device_where, "a GPU was asked for but none is usable: " + no_gpu_reason(view, env),
                      asked, "cpu or auto");
  }
  c.cuda = true;
  if (req.device.index >= 0) {
    if (req.device.index >= view.n_visible)
      throw input_error(req.device_where, "no such GPU", asked,
                        fmt::format("cuda:0 .. cuda:{} ({} visible, {}), cuda or auto", view.n_visible - 1,
                                    view.n_visible, visible_note(env)));
    c.index = req.device.index;
    c.description = fmt::format("cuda:{} (asked for; {} GPU(s) visible, {})", c.index, view.n_visible, visible_note(env));
    return c;
  }
  const NodeLocalRank lr = node_local_rank(req.mpi_rank, env);
  c.index = lr.rank % view.n_visible;
  c.description = fmt::format("cuda:{} (node-local rank {} from {}; {} GPU(s) visible, {})", c.index, lr.rank,
                              lr.source, view.n_visible, visible_note(env));
  if (lr.rank >= view.n_visible)
    c.warning = fmt::format("node-local rank {} > {} visible GPU(s): GPU {} is shared with another rank of this node "
                            "(start at most one rank per GPU for full speed)",
                            lr.rank, view.n_visible, c.index);
  return c;
}

Placement place_compute(const ComputeRequest& req) {
  CudaView view;
  view.cuda_built = at::globalContext().hasCUDA();
  view.n_visible = view.cuda_built ? static_cast<int>(torch::cuda::device_count()) : 0;
  const DeviceChoice c = choose_device(req, view);
  Placement p;
  p.device = c.cuda ? torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(c.index)) : torch::Device(torch::kCPU);
  p.dtype = scalar_type(req.dtype);
  p.description = c.description + ", " + vocab::compute_dtypes().name(req.dtype);
  p.warning = c.warning;
  return p;
}

std::optional<DeviceMemory> device_memory(const torch::Device& device) {
  if (!device.is_cuda()) return std::nullopt;
  // The CUDA runtime that LibTorch loaded, looked up by name: no CUDA headers or link line here,
  // so this file compiles unchanged against a CPU LibTorch (where the lookups fail).
  using GetInfo = int (*)(std::size_t*, std::size_t*);
  using GetDev = int (*)(int*);
  using SetDev = int (*)(int);
  auto get_info = reinterpret_cast<GetInfo>(::dlsym(RTLD_DEFAULT, "cudaMemGetInfo"));
  auto get_dev = reinterpret_cast<GetDev>(::dlsym(RTLD_DEFAULT, "cudaGetDevice"));
  auto set_dev = reinterpret_cast<SetDev>(::dlsym(RTLD_DEFAULT, "cudaSetDevice"));
  if (!get_info || !get_dev || !set_dev) return std::nullopt;
  int before = 0;
  if (get_dev(&before) != 0 || set_dev(device.index()) != 0) return std::nullopt;
  DeviceMemory m;
  const int rc = get_info(&m.free_bytes, &m.total_bytes);
  set_dev(before);
  if (rc != 0) return std::nullopt;
  return m;
}

MemoryBudget memory_budget(double max_gb_per_rank, const std::optional<DeviceMemory>& device,
                           std::size_t fallback_batch_bytes) {
  constexpr double kGiB = double(1ull << 30);
  MemoryBudget b;
  double limit = 0;
  std::string what;
  if (max_gb_per_rank > 0) {
    limit = max_gb_per_rank * kGiB;
    what = fmt::format("memory.max_gb_per_rank = {}", max_gb_per_rank);
  }
  if (device) {
    const double usable = 0.9 * static_cast<double>(device->free_bytes);
    if (limit <= 0 || usable < limit) {
      limit = usable;
      what = fmt::format("90% of the {:.2f} GiB free on the GPU{}", static_cast<double>(device->free_bytes) / kGiB,
                         max_gb_per_rank > 0 ? fmt::format(" (< memory.max_gb_per_rank = {})", max_gb_per_rank) : "");
    }
  }
  if (limit <= 0) {
    b.batch_bytes = fallback_batch_bytes;
    b.source = fmt::format("no limit (batches of {:.2f} GiB)", static_cast<double>(fallback_batch_bytes) / kGiB);
    return b;
  }
  b.batch_bytes = static_cast<std::size_t>(0.25 * limit);
  b.dataset_bytes = 0.75 * limit;
  b.source = "3/4 of " + what;
  return b;
}

void pin_cpu_threads(int n) {
  torch::set_num_threads(n);
  using SetThreads = void (*)(int);
  for (const char* name : {"openblas_set_num_threads", "goto_set_num_threads", "MKL_Set_Num_Threads"})
    if (void* f = ::dlsym(RTLD_DEFAULT, name)) reinterpret_cast<SetThreads>(f)(n);
}

int blas_threads() {
  using GetThreads = int (*)();
  for (const char* name : {"openblas_get_num_threads", "MKL_Get_Max_Threads"})
    if (void* f = ::dlsym(RTLD_DEFAULT, name)) return reinterpret_cast<GetThreads>(f)();
  return -1;
}

}  // namespace csweep::model
