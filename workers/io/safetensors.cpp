#include "workers/io/safetensors.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/error.hpp"

namespace csweep::io {

namespace {

struct DTypeInfo {
  const char* name;
  DType dtype;
  std::size_t size;
};

// The dtype spellings of the safetensors specification.
constexpr DTypeInfo kDTypes[] = {
    {"F64", DType::kF64, 8},   {"F32", DType::kF32, 4},   {"F16", DType::kF16, 2},
    {"BF16", DType::kBF16, 2}, {"I64", DType::kI64, 8},   {"I32", DType::kI32, 4},
    {"I16", DType::kI16, 2},   {"I8", DType::kI8, 1},     {"U64", DType::kU64, 8},
    {"U32", DType::kU32, 4},   {"U16", DType::kU16, 2},   {"U8", DType::kU8, 1},
    {"BOOL", DType::kBool, 1}, {"F8_E4M3", DType::kF8E4M3, 1}, {"F8_E5M2", DType::kF8E5M2, 1},
};

const DTypeInfo& info(DType d) {
  for (const auto& i : kDTypes)
    if (i.dtype == d) return i;
  CSWEEP_ASSERT(false, "dtype {} missing from the table", static_cast<int>(d));
}

// The spec caps the header at 100 MB; a larger length is corruption, and refusing it early keeps
// a hostile file from making us allocate or parse gigabytes.
constexpr std::uint64_t kMaxHeaderBytes = 100ull << 20;

std::uint64_t read_u64_le(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

const char* to_string(DType d) { return info(d).name; }
std::size_t dtype_size(DType d) { return info(d).size; }
bool is_float(DType d) {
  return d == DType::kF64 || d == DType::kF32 || d == DType::kF16 || d == DType::kBF16;
}

std::int64_t TensorView::numel() const {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;  // validated at parse time not to overflow
  return n;
}

std::string shape_to_string(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

// Owns the bytes: either a read-only mapping or a heap copy.
struct SafetensorsFile::Storage {
  void* map = nullptr;
  std::size_t map_size = 0;
  std::vector<std::uint8_t> buffer;
  ~Storage() {
    if (map) ::munmap(map, map_size);
  }
};

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  SafetensorsFile f;
  f.source_ = path;
  f.storage_ = std::make_shared<Storage>();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw input_error(path, fmt::format("cannot open file: {}", std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    throw input_error(path, fmt::format("cannot stat file: {}", std::strerror(err)));
  }
  const auto size = static_cast<std::size_t>(st.st_size);
  if (size > 0) {
    void* m = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      throw input_error(path, fmt::format("cannot map file: {}", std::strerror(err)));
    }
    f.storage_->map = m;
    f.storage_->map_size = size;
  }
  ::close(fd);  // the mapping stays valid after close
  f.parse_image(static_cast<const std::uint8_t*>(f.storage_->map), size);
  return f;
}

SafetensorsFile SafetensorsFile::parse(const std::uint8_t* data, std::size_t size,
                                       const std::string& source) {
  SafetensorsFile f;
  f.source_ = source;
  f.storage_ = std::make_shared<Storage>();
  f.storage_->buffer.assign(data, data + size);
  f.parse_image(f.storage_->buffer.data(), size);
  return f;
}

const TensorView* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

void SafetensorsFile::parse_image(const std::uint8_t* data, std::size_t size) {
  const std::string& src = source_;
  if (size < 8)
    throw input_error(src, "truncated safetensors file: shorter than the 8-byte header length",
                      fmt::format("{} bytes", size), ">= 8 bytes");
  const std::uint64_t header_len = read_u64_le(data);
  if (header_len > kMaxHeaderBytes || header_len > size - 8)
    throw input_error(src, "bad safetensors header length",
                      std::to_string(header_len),
                      fmt::format("<= {} (file size {} minus 8)", size - 8, size));
  if (header_len < 2)
    throw input_error(src, "bad safetensors header length", std::to_string(header_len),
                      "a JSON object of at least 2 bytes");

  const char* hdr = reinterpret_cast<const char*>(data + 8);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(hdr, hdr + header_len);
  } catch (const nlohmann::json::exception& e) {
    throw input_error(src, fmt::format("safetensors header is not valid JSON: {}", e.what()));
  }
  if (!j.is_object())
    throw input_error(src, "safetensors header is not a JSON object", j.type_name(), "object");

  const std::uint8_t* buf = data + 8 + header_len;
  const std::size_t buf_size = size - 8 - static_cast<std::size_t>(header_len);

  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& name = it.key();
    const auto& e = it.value();
    if (name == "__metadata__") {
      if (!e.is_object())
        throw input_error(src, "__metadata__ is not an object", e.type_name(), "object");
      for (auto m = e.begin(); m != e.end(); ++m) {
        if (!m.value().is_string())
          throw input_error(src, fmt::format("__metadata__[\"{}\"] is not a string", m.key()),
                            m.value().type_name(), "string");
        metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = fmt::format("{}: tensor \"{}\"", src, name);
    if (!e.is_object()) throw input_error(where, "entry is not an object", e.type_name(), "object");

    auto dt = e.find("dtype");
    if (dt == e.end() || !dt->is_string())
      throw input_error(where, "missing or non-string \"dtype\"");
    const std::string dname = dt->get<std::string>();
    const DTypeInfo* di = nullptr;
    for (const auto& i : kDTypes)
      if (dname == i.name) di = &i;
    if (!di)
      throw input_error(where, "unknown dtype", "\"" + dname + "\"",
                        "one of F64 F32 F16 BF16 I64 I32 I16 I8 U64 U32 U16 U8 BOOL F8_E4M3 "
                        "F8_E5M2");

    auto sh = e.find("shape");
    if (sh == e.end() || !sh->is_array()) throw input_error(where, "missing or non-array \"shape\"");
    TensorView v;
    v.name = name;
    v.dtype = di->dtype;
    std::uint64_t bytes = di->size;
    for (const auto& d : *sh) {
      // nlohmann parses every non-negative integer literal as number_unsigned.
      if (!d.is_number_unsigned())
        throw input_error(where, "shape dimension is not a non-negative integer", d.dump());
      const std::uint64_t dim = d.get<std::uint64_t>();
      if (dim > static_cast<std::uint64_t>(INT64_MAX) || __builtin_mul_overflow(bytes, dim, &bytes))
        throw input_error(where, "shape is too large", sh->dump());
      v.shape.push_back(static_cast<std::int64_t>(dim));
    }

    auto off = e.find("data_offsets");
    if (off == e.end() || !off->is_array() || off->size() != 2 ||
        !(*off)[0].is_number_unsigned() || !(*off)[1].is_number_unsigned())
      throw input_error(where, "bad \"data_offsets\"",
                        off == e.end() ? std::string("nothing") : off->dump(),
                        "[begin, end] non-negative integers");
    const auto begin = (*off)[0].get<std::uint64_t>();
    const auto end = (*off)[1].get<std::uint64_t>();
    if (begin > end || end > buf_size)
      throw input_error(where, "data_offsets out of range", off->dump(),
                        fmt::format("0 <= begin <= end <= {} (data buffer size)", buf_size));
    if (end - begin != bytes)
      throw input_error(where,
                        fmt::format("byte size does not match dtype {} and shape {}", dname,
                                    shape_to_string(v.shape)),
                        std::to_string(end - begin), std::to_string(bytes));
    v.data = buf + begin;
    v.nbytes = static_cast<std::size_t>(bytes);
    tensors_.push_back(std::move(v));
  }

  std::sort(tensors_.begin(), tensors_.end(), [](const TensorView& a, const TensorView& b) {
    return a.data != b.data ? a.data < b.data : a.nbytes < b.nbytes;
  });
  for (std::size_t i = 0; i + 1 < tensors_.size(); ++i) {
    const auto& a = tensors_[i];
    const auto& b = tensors_[i + 1];
    // Zero-size tensors occupy no bytes and cannot alias anything.
    if (a.nbytes && b.nbytes && a.data + a.nbytes > b.data)
      throw input_error(src, fmt::format("tensors \"{}\" and \"{}\" have overlapping data_offsets",
                                         a.name, b.name),
                        fmt::format("[{}, {}) and [{}, {})", a.data - buf, a.data - buf + a.nbytes,
                                    b.data - buf, b.data - buf + b.nbytes),
                        "disjoint byte ranges");
  }
  for (std::size_t i = 0; i < tensors_.size(); ++i) index_[tensors_[i].name] = i;
}

float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  std::uint32_t exp = (h >> 10) & 0x1fu;
  std::uint32_t mant = h & 0x3ffu;
  std::uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);  // inf / NaN (payload kept)
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;  // signed zero
  } else {
    // Subnormal half: normalise the mantissa into a float32 normal number.
    exp = 113;
    while (!(mant & 0x400u)) {
      mant <<= 1;
      --exp;
    }
    bits = sign | (exp << 23) | ((mant & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float bfloat16_to_float(std::uint16_t b) {
  const std::uint32_t bits = static_cast<std::uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

void decode_f32(const TensorView& t, float* out, const std::string& source) {
  const std::int64_t n = t.numel();
  const std::uint8_t* p = t.data;
  if (n == 0 && is_float(t.dtype)) return;  // out/p may be null for empty tensors
  switch (t.dtype) {
    case DType::kF32:
      std::memcpy(out, p, static_cast<std::size_t>(n) * 4);
      return;
    case DType::kF64:
      for (std::int64_t i = 0; i < n; ++i) {
        double d;
        std::memcpy(&d, p + 8 * i, 8);
        out[i] = static_cast<float>(d);
      }
      return;
    case DType::kF16:
    case DType::kBF16:
      for (std::int64_t i = 0; i < n; ++i) {
        const std::uint16_t h = static_cast<std::uint16_t>(p[2 * i] | (p[2 * i + 1] << 8));
        out[i] = t.dtype == DType::kF16 ? half_to_float(h) : bfloat16_to_float(h);
      }
      return;
    default:
      throw input_error(fmt::format("{}: tensor \"{}\"", source, t.name), "unsupported dtype",
                        to_string(t.dtype), "F32, F16, BF16 or F64");
  }
}

}  // namespace csweep::io
