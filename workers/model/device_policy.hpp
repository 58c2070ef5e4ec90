#pragma once
// The one device policy: which device and precision a process computes in, and how much of the
// device's memory its batches may use. `csweep run` (every MPI rank), `csweep eval` and
// `csweep dump` all place their model through place_compute(); nothing else reads
// CUDA_VISIBLE_DEVICES or the launcher's local-rank variables.
//
//  * Device: "cpu"; "cuda:N" (GPU N of the visible ones, on every rank); "cuda" (the GPU of the
//    node-local rank, so G ranks on a node of G GPUs take one each on every node of a multi-node
//    job; more ranks than GPUs share them round-robin, with a warning); "auto" (= "cuda" when
//    LibTorch sees a GPU, else the CPU: the default, so a job spec written on a laptop runs on
//    the cluster's GPUs unchanged). The node-local rank is the first of OMPI_COMM_WORLD_LOCAL_RANK
//    (mpirun), SLURM_LOCALID (srun), MPI_LOCALRANKID (MPICH/Intel MPI) that is set, else the MPI
//    rank (one node). CUDA_VISIBLE_DEVICES is applied by the CUDA runtime itself (indices are
//    into the visible list); it is only reported here, and named in the error when it hides every
//    GPU.
//  * Asking for a GPU that is not there is an InputError naming the flag or spec key, the value,
//    what LibTorch sees (built without CUDA / no device visible / N devices) and what to do.
//  * Memory: with a GPU, the budget is the smaller of memory.max_gb_per_rank and 90 % of the
//    device memory free once the weights are on it (the rest is headroom for the caching
//    allocator and cuBLAS workspaces); a quarter goes to one batch's activations (the engine
//    derives its batch size from that, capped by batching.max_interventions_per_forward) and
//    three quarters to the reference caches. On the CPU only max_gb_per_rank limits (0 = none).
#include <torch/torch.h>

#include <cstddef>
#include <functional>
#include <optional>
#include <string>

#include "vocab/compute.hpp"

namespace csweep::model {

torch::ScalarType scalar_type(vocab::ComputeDtype d);

// What a process asks for; `*_where` names the source in errors ("--device",
// "jobs/x.toml:12: compute.device").
struct ComputeRequest {
  vocab::DeviceRequest device;
  std::string device_where = "--device";
  vocab::ComputeDtype dtype = vocab::ComputeDtype::kFloat32;
  std::string dtype_where = "--dtype";
  int mpi_rank = 0;  // the fallback node-local rank
};

struct Placement {
  torch::Device device{torch::kCPU};
  torch::ScalarType dtype = torch::kFloat32;
  std::string description;  // e.g. "cuda:1 (node-local rank 1 from SLURM_LOCALID; 2 GPU(s) visible, CUDA_VISIBLE_DEVICES='2,3'), float32"
  std::string warning;      // non-empty: the caller logs it (e.g. a GPU shared by two local ranks)
};

// Environment lookup (a parameter so the policy is testable without setting variables).
using EnvLookup = std::function<const char*(const char*)>;
const char* process_env(const char* name);

struct NodeLocalRank {
  int rank = 0;
  std::string source;  // the variable it came from, or "the MPI rank"
};
NodeLocalRank node_local_rank(int mpi_rank, const EnvLookup& env = process_env);

// The GPU index for `req` given what the runtime sees: n_visible devices (0 = none or no CUDA in
// this LibTorch, told apart by cuda_built). Throws the InputError described above. Exposed with
// its inputs so tests can check the policy on a machine without GPUs.
struct CudaView {
  bool cuda_built = false;   // LibTorch compiled with CUDA and its CUDA library loaded
  int n_visible = 0;         // torch::cuda::device_count()
};
struct DeviceChoice {
  bool cuda = false;
  int index = 0;
  std::string description;   // what was chosen and why
  std::string warning;       // non-empty: log it (e.g. GPUs shared by several local ranks)
};
DeviceChoice choose_device(const ComputeRequest& req, const CudaView& view, const EnvLookup& env = process_env);

// choose_device() with what this process's LibTorch sees, plus the dtype check.
Placement place_compute(const ComputeRequest& req);

struct DeviceMemory {
  std::size_t free_bytes = 0, total_bytes = 0;
};
// Free/total memory of a CUDA device (cudaMemGetInfo of the CUDA runtime LibTorch loaded), or
// nullopt on the CPU and when the runtime cannot be asked.
std::optional<DeviceMemory> device_memory(const torch::Device& device);

struct MemoryBudget {
  std::size_t batch_bytes = 0;   // one engine batch's activations (ExecutorOptions)
  double dataset_bytes = 0;      // reference caches (TaskRequest; 0 = no limit)
  std::string source;            // for logs and the dataset-size error
};
// The split described above. `fallback_batch_bytes`: the engine's default when nothing limits.
MemoryBudget memory_budget(double max_gb_per_rank, const std::optional<DeviceMemory>& device,
                           std::size_t fallback_batch_bytes);

// CPU threads of this process's compute: torch's intra-op pool (per OS thread: call it again on
// each thread that evaluates) and the BLAS's own pool, which OpenBLAS sizes from the CPU affinity
// at load time (so mpirun's core binding changes it) and torch::set_num_threads does not reach.
// Threaded GEMM kernels round differently from single-threaded ones on some CPUs (measured on an
// AVX-512 EPYC: cross-task LDs of `csweep merge` with 2 BLAS threads differed by 1.2e-6 from those
// of a rank with 1), so every process that evaluates a job pins both to its threads_per_rank.
// The BLAS is whatever LibTorch loaded (OpenBLAS, GotoBLAS or MKL), looked up dynamically.
void pin_cpu_threads(int n);
// Threads of the loaded BLAS's pool, or -1 when the BLAS cannot be asked.
int blas_threads();

}  // namespace csweep::model
