#pragma once
// The names of where and in what precision a rank computes: the `[compute]` table of a job spec
// and the `--device` / `--dtype` flags of `csweep run`, `eval` and `dump` all parse these, so a
// spelling accepted in one place is accepted everywhere. Which device a rank then gets (local
// rank, CUDA_VISIBLE_DEVICES, free memory) is decided in one place: workers/model/device_policy.
#include <cstdint>
#include <string>
#include <string_view>

#include "vocab/vocabulary.hpp"

namespace csweep::vocab {

// Compute precision of the weights and activations. Logits and metrics are reduced in float32
// whatever this is (workers/model/kernels.hpp result_dtype). float32 is the default because the
// study's numbers are fp32; bf16/fp16 trade exactness for speed on a GPU and are part of the
// grid's fingerprint (a bf16 table is not the fp32 table of the same grid).
enum class ComputeDtype : std::uint8_t { kFloat32, kBFloat16, kFloat16 };
const Vocabulary<ComputeDtype>& compute_dtypes();

// "auto" (a GPU when LibTorch sees one, else the CPU), "cpu", "cuda" (the GPU of this rank's
// node-local rank) or "cuda:N" (GPU N of those visible, on every rank).
struct DeviceRequest {
  enum class Kind : std::uint8_t { kAuto, kCpu, kCuda };
  Kind kind = Kind::kAuto;
  int index = -1;  // kCuda: -1 = by node-local rank
  bool operator==(const DeviceRequest& o) const { return kind == o.kind && index == o.index; }
};

// InputError "<where>: unknown device (got 'x', expected auto, cpu, cuda or cuda:N)".
DeviceRequest parse_device_request(std::string_view text, const std::string& where = {});
std::string device_request_name(const DeviceRequest& r);  // the canonical spelling

}  // namespace csweep::vocab
