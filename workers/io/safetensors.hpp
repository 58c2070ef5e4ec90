#pragma once
// Torch-free safetensors reader (https://github.com/huggingface/safetensors, format section).
//
// Layout: 8 bytes little-endian u64 N = header length, N bytes of UTF-8 JSON, then the data
// buffer. The header maps tensor name -> {"dtype", "shape", "data_offsets": [begin, end]} with
// offsets relative to the start of the data buffer; an optional "__metadata__" entry maps
// string -> string.
//
// Everything is validated before any view is handed out: header length against the file size,
// every dtype known, every shape dimension a non-negative integer, end - begin ==
// prod(shape) * dtype size (overflow-checked), every range inside the data buffer and no two
// ranges overlapping. Holes and trailing bytes are tolerated (they cannot cause a wrong read).
// Every error is an InputError naming the source (the file path).
//
// Ownership: a SafetensorsFile owns its bytes (mmapped file or a moved-in buffer); the views it
// returns point into them and stay valid while any copy of the SafetensorsFile lives (copies
// share the storage). Thread-safety: const access may be shared between threads.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace csweep::io {

enum class DType { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU64, kU32, kU16, kU8, kBool,
                   kF8E4M3, kF8E5M2 };

const char* to_string(DType d);        // the safetensors spelling, e.g. "BF16"
std::size_t dtype_size(DType d);       // bytes per element
bool is_float(DType d);                // F64/F32/F16/BF16 (decodable by decode_f32)

struct TensorView {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<std::int64_t> shape;  // row-major, may be empty (scalar)
  const std::uint8_t* data = nullptr;  // little-endian elements, NOT necessarily aligned
  std::size_t nbytes = 0;
  std::int64_t numel() const;
};

// "[2, 3]" — used by every shape error message in the project's readers.
std::string shape_to_string(const std::vector<std::int64_t>& shape);

class SafetensorsFile {
 public:
  // Maps the file read-only and validates it. InputError naming `path` on any problem.
  static SafetensorsFile open(const std::string& path);
  // Parses an in-memory image (copied); `source` names it in errors. Used by tests and fuzzers.
  static SafetensorsFile parse(const std::uint8_t* data, std::size_t size,
                               const std::string& source);

  const std::string& source() const { return source_; }
  // Tensors in data-offset order.
  const std::vector<TensorView>& tensors() const { return tensors_; }
  // nullptr when absent.
  const TensorView* find(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  struct Storage;
  void parse_image(const std::uint8_t* data, std::size_t size);

  std::shared_ptr<Storage> storage_;
  std::string source_;
  std::vector<TensorView> tensors_;
  std::map<std::string, std::size_t> index_;  // name -> position in tensors_
  std::map<std::string, std::string> metadata_;
};

// Decodes a floating tensor (F64/F32/F16/BF16) into `out` (numel floats, caller-allocated).
// F16 subnormals, infinities and NaNs are converted exactly (IEEE 754 binary16 -> binary32).
// InputError naming `source` and the tensor for a non-float dtype.
void decode_f32(const TensorView& t, float* out, const std::string& source);

float half_to_float(std::uint16_t h);
float bfloat16_to_float(std::uint16_t b);

}  // namespace csweep::io
