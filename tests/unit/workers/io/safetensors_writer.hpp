#pragma once
// Test helper: builds safetensors images byte by byte from the format specification (8-byte
// little-endian header length, JSON header, data buffer), independently of the reader under test.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace csweep::testing {

struct StEntry {
  std::string name;
  std::string dtype;  // "F32", "F16", ...
  std::vector<std::int64_t> shape;
  std::vector<std::uint8_t> bytes;
};

inline std::vector<std::uint8_t> f32_bytes(const std::vector<float>& v) {
  std::vector<std::uint8_t> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

// Image from an explicit header text and data buffer (for malformed cases).
inline std::string image_from_header(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

// Well-formed image: tensors laid out contiguously in the given order; header padded with spaces
// to a multiple of 8 bytes as the reference writer does.
inline std::string safetensors_image(const std::vector<StEntry>& entries,
                                     const nlohmann::json& metadata = nullptr) {
  nlohmann::json h = nlohmann::json::object();
  std::string data;
  for (const auto& e : entries) {
    h[e.name] = {{"dtype", e.dtype},
                 {"shape", e.shape},
                 {"data_offsets", {data.size(), data.size() + e.bytes.size()}}};
    data.append(reinterpret_cast<const char*>(e.bytes.data()), e.bytes.size());
  }
  if (!metadata.is_null()) h["__metadata__"] = metadata;
  std::string header = h.dump();
  while (header.size() % 8) header += ' ';
  return image_from_header(header, data);
}

inline void write_binary(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace csweep::testing
