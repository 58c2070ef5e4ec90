#pragma once
// The elementwise pieces of the forward pass shared by HookedTransformer and the batched
// intervention engine, so the two numeric paths cannot drift apart.
#include <torch/torch.h>

#include "workers/model/config.hpp"

namespace csweep::model {

// gelu_new (tanh approximation), gelu, silu or relu.
torch::Tensor activation(const torch::Tensor& x, ActFn fn);

// bf16/fp16: softmax and norms are computed in float32 and cast back.
bool is_half(torch::ScalarType t);

// The dtype logits and metrics are reduced in: float64 when the model computes in float64 (the
// exactness mode used to compare two numeric paths far below float32 rounding), float32 otherwise
// (half types are widened so that means and log-softmax do not round twice).
torch::ScalarType result_dtype(torch::ScalarType compute);

// Rotate-half RoPE on the first rotary_dim features of each head; the rest passes through.
// x [..., pos, n, d_head]; cos/sin [pos, rotary_dim] or [batch|1, pos, rotary_dim].
torch::Tensor apply_rotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                           int rotary_dim);

}  // namespace csweep::model
