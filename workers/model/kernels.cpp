#include "workers/model/kernels.hpp"

#include "core/error.hpp"

namespace csweep::model {

torch::Tensor activation(const torch::Tensor& x, ActFn fn) {
  switch (fn) {
    case ActFn::kGeluNew: return torch::gelu(x, "tanh");
    case ActFn::kGelu: return torch::gelu(x);
    case ActFn::kSilu: return torch::silu(x);
    case ActFn::kRelu: return torch::relu(x);
  }
  CSWEEP_ASSERT(false, "unknown activation function");
  return {};
}

bool is_half(torch::ScalarType t) { return t == torch::kBFloat16 || t == torch::kHalf; }

torch::ScalarType result_dtype(torch::ScalarType compute) {
  return compute == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
}

torch::Tensor apply_rotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                           int rotary_dim) {
  const int64_t d_head = x.size(-1);
  // [.., pos, rotary_dim] -> [.., pos, 1, rotary_dim]: broadcasts over the head dimension.
  const auto c = cos.unsqueeze(-2);
  const auto s = sin.unsqueeze(-2);
  const auto xr = rotary_dim == d_head ? x : x.narrow(-1, 0, rotary_dim);
  const int64_t half = rotary_dim / 2;
  const auto rot_half = torch::cat({-xr.narrow(-1, half, half), xr.narrow(-1, 0, half)}, -1);
  auto out = xr * c + rot_half * s;
  if (rotary_dim == d_head) return out;
  return torch::cat({out, x.narrow(-1, rotary_dim, d_head - rotary_dim)}, -1);
}

}  // namespace csweep::model
