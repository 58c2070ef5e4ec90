#pragma once
// GGUF (v2, v3) container reader: header, typed metadata, tensor infos and a bounds-checked view
// of each tensor's bytes. No torch; safe on hostile input (fuzzed by tests/fuzz/fuzz_gguf.cpp).
//
// Layout (little-endian): "GGUF" u32 version, u64 tensor_count, u64 kv_count, kv_count ×
// (string key, u32 value type, value), tensor_count × (string name, u32 n_dims, u64 dims[n_dims]
// fastest-varying first, u32 ggml type, u64 offset), padding to `general.alignment` (default 32),
// then the data section; each tensor's offset is relative to the data section start.
// Strings are u64 length + UTF-8 bytes (no terminator); arrays are u32 element type, u64 count,
// elements.
//
// Every count, length, offset and size is checked against the bytes actually present before it is
// used, so a malformed file never over-reads and never allocates more than the file could hold.
// Errors are InputError "<source>: <field>: <problem>", e.g.
//   "model.gguf: tensor 'blk.0.attn_q.weight': offset 123 + size 456 exceeds data section size 400".
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "workers/io/ggml_quants.hpp"

namespace csweep::io {

// GGUF metadata value types (gguf_type).
enum class GgufType : std::uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};
const char* to_string(GgufType t);

// One metadata value. Scalars live in the field of their kind; arrays keep their element type and
// their elements in the vector of that kind (integers and bools widen to int64 — uint64 values
// above INT64_MAX are kept by bit pattern —, floats to double, nested arrays in `items`).
struct GgufValue {
  GgufType type = GgufType::kUint8;
  GgufType elem_type = GgufType::kUint8;  // arrays only
  std::int64_t i = 0;                     // integer and bool scalars
  double f = 0.0;                         // float scalars
  std::string str;                        // string scalar
  std::vector<std::int64_t> ints;         // integer/bool arrays
  std::vector<double> floats;             // float arrays
  std::vector<std::string> strings;       // string arrays
  std::vector<GgufValue> items;           // arrays of arrays
  std::uint64_t array_size() const;       // element count of an array (0 for scalars)
  bool is_integer() const;                // integer or bool scalar
  bool is_float() const;
};

struct GgufTensorInfo {
  std::string name;                 // e.g. "blk.0.attn_q.weight"
  std::vector<std::uint64_t> dims;  // ggml order: fastest-varying first, e.g. [d_model, n_rows]
  std::uint32_t type_id = 0;        // raw ggml type id (see GgmlType)
  std::uint64_t offset = 0;         // relative to the data section
  std::uint64_t n_elements = 0;
  std::uint64_t n_bytes = 0;
  GgmlType type() const { return static_cast<GgmlType>(type_id); }
  // Row-major (PyTorch/numpy) shape: dims reversed, e.g. [n_rows, d_model].
  std::vector<std::int64_t> shape() const;
};

class GgufFile {
 public:
  // Maps the file read-only and parses it. InputError naming the path on any malformed input.
  static GgufFile open(const std::string& path);
  // Parses a copy of an in-memory image; `source` names it in errors (fuzzing, tests).
  static GgufFile parse(const std::uint8_t* data, std::size_t size, const std::string& source);

  const std::string& source() const { return source_; }
  std::uint32_t version() const { return version_; }
  std::uint64_t alignment() const { return alignment_; }
  std::uint64_t data_offset() const { return data_offset_; }  // start of the data section
  std::uint64_t file_size() const { return size_; }

  // Metadata, in file order for listing and by key for lookup.
  const std::vector<std::string>& keys() const { return keys_; }
  const GgufValue* find(const std::string& key) const;
  bool has(const std::string& key) const { return find(key) != nullptr; }
  // Typed getters: InputError "<source>: metadata '<key>': ..." when missing or of another type.
  // Integer getters accept any integer type and range-check the value.
  std::int64_t get_int(const std::string& key) const;
  std::optional<std::int64_t> get_int_opt(const std::string& key) const;
  double get_float(const std::string& key) const;  // float32/float64 (integers accepted)
  std::optional<double> get_float_opt(const std::string& key) const;
  std::string get_string(const std::string& key) const;
  std::optional<std::string> get_string_opt(const std::string& key) const;
  bool get_bool_or(const std::string& key, bool fallback) const;
  const std::vector<std::string>& get_string_array(const std::string& key) const;
  const std::vector<std::int64_t>& get_int_array(const std::string& key) const;

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(const std::string& name) const;
  // Bytes of a tensor (n_bytes long); already bounds-checked at parse time.
  const std::uint8_t* tensor_data(const GgufTensorInfo& t) const;
  // Dequantised float32 values in row-major order (ggml's contiguous layout). InputError naming
  // the tensor when its type cannot be dequantised.
  std::vector<float> dequantize(const GgufTensorInfo& t) const;

 private:
  GgufFile() = default;
  void parse_all();

  std::string source_;
  std::shared_ptr<const void> owner_;  // keeps the mapping / buffer alive
  const std::uint8_t* data_ = nullptr;
  std::uint64_t size_ = 0;
  std::uint32_t version_ = 0;
  std::uint64_t alignment_ = 32;
  std::uint64_t data_offset_ = 0;
  std::vector<std::string> keys_;
  std::map<std::string, GgufValue> kv_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, std::size_t> tensor_index_;
};

}  // namespace csweep::io
