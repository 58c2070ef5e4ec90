#pragma once
// A minimal GGUF writer for tests that need hand-made (often deliberately broken) files. Valid
// files written by the PyPI `gguf` package are the independent reference elsewhere; this builder
// exists to put specific bad values into specific fields.
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace csweep::testing {

class GgufBuilder {
 public:
  struct Tensor {
    std::string name;
    std::vector<std::uint64_t> dims;  // fastest-varying first
    std::uint32_t type = 0;           // ggml type id
    std::vector<std::uint8_t> data;
    std::optional<std::uint64_t> offset_override;
    std::optional<std::uint32_t> n_dims_override;
  };

  std::uint32_t version = 3;
  std::optional<std::uint64_t> kv_count_override;
  std::optional<std::uint64_t> tensor_count_override;
  std::uint64_t alignment = 32;  // only used for layout; add "general.alignment" to change it

  void kv_u32(const std::string& key, std::uint32_t v) { kv_scalar(key, 4, &v, 4); }
  void kv_i32(const std::string& key, std::int32_t v) { kv_scalar(key, 5, &v, 4); }
  void kv_f32(const std::string& key, float v) { kv_scalar(key, 6, &v, 4); }
  void kv_bool(const std::string& key, bool v) {
    const std::uint8_t b = v ? 1 : 0;
    kv_scalar(key, 7, &b, 1);
  }
  void kv_str(const std::string& key, const std::string& v) {
    str(kv_, key);
    u32(kv_, 8);
    str(kv_, v);
    ++n_kv_;
  }
  void kv_str_array(const std::string& key, const std::vector<std::string>& v) {
    str(kv_, key);
    u32(kv_, 9);
    u32(kv_, 8);
    u64(kv_, v.size());
    for (const auto& s : v) str(kv_, s);
    ++n_kv_;
  }
  void kv_i32_array(const std::string& key, const std::vector<std::int32_t>& v) {
    str(kv_, key);
    u32(kv_, 9);
    u32(kv_, 5);
    u64(kv_, v.size());
    for (auto x : v) raw(kv_, &x, 4);
    ++n_kv_;
  }
  // Arbitrary bytes appended to the key/value section, counted as one entry.
  void kv_raw(const std::vector<std::uint8_t>& bytes) {
    kv_.insert(kv_.end(), bytes.begin(), bytes.end());
    ++n_kv_;
  }
  Tensor& tensor(const std::string& name, std::vector<std::uint64_t> dims, std::uint32_t type,
                 std::vector<std::uint8_t> data) {
    tensors_.push_back({name, std::move(dims), type, std::move(data), std::nullopt, std::nullopt});
    return tensors_.back();
  }
  // A float32 tensor from values.
  Tensor& tensor_f32(const std::string& name, std::vector<std::uint64_t> dims,
                     const std::vector<float>& values) {
    std::vector<std::uint8_t> d(values.size() * 4);
    std::memcpy(d.data(), values.data(), d.size());
    return tensor(name, std::move(dims), 0, std::move(d));
  }

  std::vector<std::uint8_t> build() const {
    std::vector<std::uint8_t> out;
    raw(out, "GGUF", 4);
    u32(out, version);
    u64(out, tensor_count_override.value_or(tensors_.size()));
    u64(out, kv_count_override.value_or(n_kv_));
    out.insert(out.end(), kv_.begin(), kv_.end());
    std::uint64_t off = 0;
    std::vector<std::uint64_t> offsets;
    for (const auto& t : tensors_) {
      offsets.push_back(off);
      off += t.data.size();
      off = (off + alignment - 1) / alignment * alignment;
    }
    for (std::size_t k = 0; k < tensors_.size(); ++k) {
      const auto& t = tensors_[k];
      str(out, t.name);
      u32(out, t.n_dims_override.value_or(static_cast<std::uint32_t>(t.dims.size())));
      for (auto d : t.dims) u64(out, d);
      u32(out, t.type);
      u64(out, t.offset_override.value_or(offsets[k]));
    }
    while (out.size() % alignment) out.push_back(0);
    for (std::size_t k = 0; k < tensors_.size(); ++k) {
      out.insert(out.end(), tensors_[k].data.begin(), tensors_[k].data.end());
      while (out.size() % alignment) out.push_back(0);
    }
    return out;
  }

  static void raw(std::vector<std::uint8_t>& o, const void* p, std::size_t n) {
    const auto* b = static_cast<const std::uint8_t*>(p);
    o.insert(o.end(), b, b + n);
  }
  static void u32(std::vector<std::uint8_t>& o, std::uint32_t v) { raw(o, &v, 4); }
  static void u64(std::vector<std::uint8_t>& o, std::uint64_t v) { raw(o, &v, 8); }
  static void str(std::vector<std::uint8_t>& o, const std::string& s) {
    u64(o, s.size());
    raw(o, s.data(), s.size());
  }

 private:
  void kv_scalar(const std::string& key, std::uint32_t type, const void* v, std::size_t n) {
    str(kv_, key);
    u32(kv_, type);
    raw(kv_, v, n);
    ++n_kv_;
  }
  std::vector<std::uint8_t> kv_;
  std::uint64_t n_kv_ = 0;
  std::vector<Tensor> tensors_;
};

}  // namespace csweep::testing
