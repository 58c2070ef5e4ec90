#pragma once
// Small tensor helpers shared by the engine's executors.
#include <torch/torch.h>

namespace csweep::interv {

// Picks one position per prompt: t [..., batch, pos, ...] with the position at `pos_dim` and the
// batch at pos_dim - 1; idx [batch] int64. Returns t with size 1 at pos_dim.
inline torch::Tensor gather_pos(const torch::Tensor& t, const torch::Tensor& idx, int64_t pos_dim) {
  if (pos_dim < 0) pos_dim += t.dim();
  std::vector<int64_t> view(static_cast<size_t>(t.dim()), 1);
  view[static_cast<size_t>(pos_dim - 1)] = idx.size(0);
  auto shape = t.sizes().vec();
  shape[static_cast<size_t>(pos_dim)] = 1;
  const auto index = idx.to(t.device()).view(view).expand(shape);
  return t.gather(pos_dim, index);
}

// [batch, ...] -> [n * batch, ...], copies laid out intervention-major.
inline torch::Tensor repeat_rows(const torch::Tensor& t, int64_t n) {
  std::vector<int64_t> reps(static_cast<size_t>(t.dim()), 1);
  reps[0] = n;
  return t.repeat(reps);
}

}  // namespace csweep::interv
