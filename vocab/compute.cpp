#include "vocab/compute.hpp"

#include <charconv>

namespace csweep::vocab {

const Vocabulary<ComputeDtype>& compute_dtypes() {
  static const Vocabulary<ComputeDtype> v(
      "compute dtype",
      {{ComputeDtype::kFloat32, "float32", {"fp32", "f32"}, "IEEE single precision (default; the study's numbers)"},
       {ComputeDtype::kBFloat16, "bfloat16", {"bf16"}, "bfloat16 weights and activations; softmax and norms in float32"},
       {ComputeDtype::kFloat16, "float16", {"fp16", "half"}, "IEEE half precision; softmax and norms in float32 (GPU only)"}});
  return v;
}

DeviceRequest parse_device_request(std::string_view text, const std::string& where) {
  DeviceRequest r;
  if (text == "auto") return r;
  if (text == "cpu") {
    r.kind = DeviceRequest::Kind::kCpu;
    return r;
  }
  if (text == "cuda" || text == "gpu") {
    r.kind = DeviceRequest::Kind::kCuda;
    return r;
  }
  if (text.substr(0, 5) == "cuda:" && text.size() > 5) {
    const auto digits = text.substr(5);
    int n = -1;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
    if (ec == std::errc() && end == digits.data() + digits.size() && n >= 0 && n < 1024) {
      r.kind = DeviceRequest::Kind::kCuda;
      r.index = n;
      return r;
    }
  }
  throw input_error(where.empty() ? "device" : where, "unknown device", "'" + std::string(text) + "'",
                    "auto, cpu, cuda (the GPU of the node-local rank) or cuda:N (N = 0..1023)");
}

std::string device_request_name(const DeviceRequest& r) {
  switch (r.kind) {
    case DeviceRequest::Kind::kAuto: return "auto";
    case DeviceRequest::Kind::kCpu: return "cpu";
    case DeviceRequest::Kind::kCuda: return r.index < 0 ? "cuda" : "cuda:" + std::to_string(r.index);
  }
  return "auto";
}

}  // namespace csweep::vocab
