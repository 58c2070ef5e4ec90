#pragma once
// Shared by the engine benchmarks: the GPT-2-small-shaped random model they run on, the dense
// matmul peak their FLOP utilisation is measured against (in the same run), and timing.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdint>

#include "workers/model/weights.hpp"

namespace csweep::bench {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

inline void sync(torch::Device d) {
  if (d.is_cuda()) torch::cuda::synchronize();
}

// GPT-2 small's shape (12 heads, d_model 768, d_mlp 3072, vocab 50257, tied embeddings) with
// `layers` blocks; weights from N(0, 0.02²) (GPT-2's initialiser scale), norm weights 1, seed 0.
inline model::LoadedModel gpt2_small_random(int layers = 12) {
  model::ModelConfig c;
  c.name = "gpt2-small-shaped-random";
  c.n_layers = layers;
  c.n_heads = 12;
  c.n_kv_heads = 12;
  c.d_model = 768;
  c.d_head = 64;
  c.d_mlp = 3072;
  c.n_ctx = 1024;
  c.d_vocab = 50257;
  c.tied_embeddings = true;
  torch::manual_seed(0);
  model::LoadedModel m;
  m.cfg = c;
  m.source = c.name;
  for (const auto& spec : model::canonical_params(c)) {
    if (spec.optional || spec.name == "unembed.W_U") continue;
    const auto leaf = spec.name.substr(spec.name.rfind('.') + 1);
    m.params[spec.name] = leaf == "w" ? torch::ones(spec.shape) : 0.02 * torch::randn(spec.shape);
  }
  return m;
}

// Dense matmul peak (FLOP/s) in `dtype` on `dev`: the best of 3 repeats of a GEMM shaped like the
// model's MLP ([8192 x 768] x [768 x 3072]); 50 GEMMs per repeat on a GPU, whose launches are
// asynchronous.
inline double matmul_peak(torch::Device dev = torch::kCPU, torch::ScalarType dtype = torch::kFloat32) {
  constexpr int64_t m = 8192, k = 768, n = 3072;
  const auto opt = torch::TensorOptions().device(dev);
  auto a = torch::randn({m, k}, opt).to(dtype);
  auto b = torch::randn({k, n}, opt).to(dtype);
  auto c = torch::matmul(a, b);
  sync(dev);
  double best = 0;
  const int iters = dev.is_cuda() ? 50 : 1;
  for (int rep = 0; rep < 3; ++rep) {
    const auto t0 = Clock::now();
    for (int i = 0; i < iters; ++i) c = torch::matmul(a, b);
    sync(dev);
    best = std::max(best, 2.0 * m * k * n * iters / seconds_since(t0));
  }
  return best;
}

}  // namespace csweep::bench
