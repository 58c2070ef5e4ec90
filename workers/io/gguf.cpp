#include "workers/io/gguf.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>

#include "core/error.hpp"

namespace csweep::io {
namespace {

constexpr std::uint64_t kMaxKeyLength = 65535;  // GGUF spec: keys are at most 2^16 - 1 bytes
constexpr int kMaxArrayDepth = 4;               // nested arrays are legal but never deep
constexpr std::uint32_t kMaxDims = 4;           // GGML_MAX_DIMS
// No tensor has more elements than this; keeps every size product far from uint64 overflow.
constexpr std::uint64_t kMaxElements = std::uint64_t{1} << 50;

// Smallest encoded size of one value of a type: lets a count be rejected before anything is
// allocated for it (a count larger than remaining / min_size cannot fit in the file).
std::uint64_t min_encoded_size(GgufType t) {
  switch (t) {
    case GgufType::kUint8:
    case GgufType::kInt8:
    case GgufType::kBool: return 1;
    case GgufType::kUint16:
    case GgufType::kInt16: return 2;
    case GgufType::kUint32:
    case GgufType::kInt32:
    case GgufType::kFloat32: return 4;
    case GgufType::kUint64:
    case GgufType::kInt64:
    case GgufType::kFloat64:
    case GgufType::kString: return 8;   // u64 length
    case GgufType::kArray: return 12;   // u32 type + u64 count
  }
  return 1;
}

bool valid_type(std::uint32_t t) { return t <= static_cast<std::uint32_t>(GgufType::kFloat64); }

// Bounds-checked little-endian reader over the file image. `what` names the field being read so
// that a truncation error says which field ran past the end.
class Cursor {
 public:
  Cursor(const std::uint8_t* data, std::uint64_t size, const std::string& source)
      : data_(data), size_(size), source_(source) {}

  std::uint64_t pos() const { return pos_; }
  std::uint64_t remaining() const { return size_ - pos_; }

  void need(std::uint64_t n, const std::string& what) const {
    if (n > remaining()) {
      throw InputError(fmt::format("{}: {}: needs {} bytes at offset {} but the file ends at {} "
                                   "(truncated file?)",
                                   source_, what, n, pos_, size_));
    }
  }
  template <typename T>
  T read(const std::string& what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));  // the format is little-endian, as is every target
    pos_ += sizeof(T);
    return v;
  }
  // `index` >= 0 names an array element ("what[index]"); the name is only built on error, since
  // vocabularies hold ~10^5 strings.
  std::string read_string(const std::string& what, std::uint64_t max_len, std::int64_t index = -1) {
    auto name = [&] { return index < 0 ? what : fmt::format("{}[{}]", what, index); };
    if (remaining() < 8) need(8, name() + " (string length)");
    const auto len = read<std::uint64_t>("");
    if (len > remaining()) {
      throw InputError(fmt::format("{}: {}: string length {} at offset {} runs past the end of "
                                   "the file ({} bytes left)",
                                   source_, name(), len, pos_ - 8, remaining()));
    }
    if (len > max_len) {
      throw InputError(fmt::format("{}: {}: string length {} exceeds the limit {}", source_,
                                   what, len, max_len));
    }
    std::string s(reinterpret_cast<const char*>(data_ + pos_), static_cast<std::size_t>(len));
    pos_ += len;
    return s;
  }
  void check_count(std::uint64_t count, std::uint64_t min_size, const std::string& what) const {
    if (min_size != 0 && count > remaining() / min_size) {
      throw InputError(fmt::format("{}: {}: count {} cannot fit in the {} bytes left in the file "
                                   "(at least {} bytes each)",
                                   source_, what, count, remaining(), min_size));
    }
  }

 private:
  const std::uint8_t* data_;
  std::uint64_t size_;
  std::uint64_t pos_ = 0;
  const std::string& source_;
};

GgufValue read_value(Cursor& c, GgufType type, const std::string& what, int depth,
                     const std::string& source);

void read_array(Cursor& c, GgufValue& v, const std::string& what, int depth,
                const std::string& source) {
  const auto elem = c.read<std::uint32_t>(what + " (array element type)");
  if (!valid_type(elem)) {
    throw InputError(fmt::format("{}: {}: unknown array element type {} (expected 0..12)", source,
                                 what, elem));
  }
  v.elem_type = static_cast<GgufType>(elem);
  if (v.elem_type == GgufType::kArray && depth >= kMaxArrayDepth) {
    throw InputError(fmt::format("{}: {}: arrays nested deeper than {} levels", source, what,
                                 kMaxArrayDepth));
  }
  const auto count = c.read<std::uint64_t>(what + " (array length)");
  c.check_count(count, min_encoded_size(v.elem_type), what + " (array length)");
  const auto n = static_cast<std::size_t>(count);
  switch (v.elem_type) {
    case GgufType::kString:
      v.strings.reserve(n);
      for (std::size_t k = 0; k < n; ++k) {
        v.strings.push_back(c.read_string(what, std::numeric_limits<std::uint64_t>::max(),
                                          static_cast<std::int64_t>(k)));
      }
      break;
    case GgufType::kFloat32:
      v.floats.reserve(n);
      for (std::size_t k = 0; k < n; ++k) v.floats.push_back(c.read<float>(what));
      break;
    case GgufType::kFloat64:
      v.floats.reserve(n);
      for (std::size_t k = 0; k < n; ++k) v.floats.push_back(c.read<double>(what));
      break;
    case GgufType::kInt32:  // the common case (token types): no per-element dispatch
      v.ints.reserve(n);
      for (std::size_t k = 0; k < n; ++k) v.ints.push_back(c.read<std::int32_t>(what));
      break;
    case GgufType::kArray:
      v.items.reserve(n);
      for (std::size_t k = 0; k < n; ++k) {
        v.items.push_back(
            read_value(c, GgufType::kArray, fmt::format("{}[{}]", what, k), depth + 1, source));
      }
      break;
    default:
      v.ints.reserve(n);
      for (std::size_t k = 0; k < n; ++k) {
        v.ints.push_back(read_value(c, v.elem_type, what, depth + 1, source).i);
      }
      break;
  }
}

GgufValue read_value(Cursor& c, GgufType type, const std::string& what, int depth,
                     const std::string& source) {
  GgufValue v;
  v.type = type;
  switch (type) {
    case GgufType::kUint8: v.i = c.read<std::uint8_t>(what); break;
    case GgufType::kInt8: v.i = c.read<std::int8_t>(what); break;
    case GgufType::kUint16: v.i = c.read<std::uint16_t>(what); break;
    case GgufType::kInt16: v.i = c.read<std::int16_t>(what); break;
    case GgufType::kUint32: v.i = c.read<std::uint32_t>(what); break;
    case GgufType::kInt32: v.i = c.read<std::int32_t>(what); break;
    case GgufType::kUint64: v.i = static_cast<std::int64_t>(c.read<std::uint64_t>(what)); break;
    case GgufType::kInt64: v.i = c.read<std::int64_t>(what); break;
    case GgufType::kFloat32: v.f = c.read<float>(what); break;
    case GgufType::kFloat64: v.f = c.read<double>(what); break;
    case GgufType::kBool: {
      const auto b = c.read<std::uint8_t>(what);
      if (b > 1) {
        throw InputError(fmt::format("{}: {}: bool value {} (expected 0 or 1)", source, what, b));
      }
      v.i = b;
      break;
    }
    case GgufType::kString:
      v.str = c.read_string(what, std::numeric_limits<std::uint64_t>::max());
      break;
    case GgufType::kArray: read_array(c, v, what, depth, source); break;
  }
  return v;
}

std::uint64_t align_up(std::uint64_t x, std::uint64_t a) {
  const std::uint64_t r = x % a;
  return r == 0 ? x : x + (a - r);
}

std::string dims_string(const std::vector<std::uint64_t>& dims) {
  std::string s = "[";
  for (std::size_t k = 0; k < dims.size(); ++k) s += (k ? ", " : "") + std::to_string(dims[k]);
  return s + "]";
}

}  // namespace

const char* to_string(GgufType t) {
  switch (t) {
    case GgufType::kUint8: return "uint8";
    case GgufType::kInt8: return "int8";
    case GgufType::kUint16: return "uint16";
    case GgufType::kInt16: return "int16";
    case GgufType::kUint32: return "uint32";
    case GgufType::kInt32: return "int32";
    case GgufType::kFloat32: return "float32";
    case GgufType::kBool: return "bool";
    case GgufType::kString: return "string";
    case GgufType::kArray: return "array";
    case GgufType::kUint64: return "uint64";
    case GgufType::kInt64: return "int64";
    case GgufType::kFloat64: return "float64";
  }
  return "?";
}

std::uint64_t GgufValue::array_size() const {
  if (type != GgufType::kArray) return 0;
  return ints.size() + floats.size() + strings.size() + items.size();
}

bool GgufValue::is_integer() const {
  return type != GgufType::kFloat32 && type != GgufType::kFloat64 && type != GgufType::kString &&
         type != GgufType::kArray;
}

bool GgufValue::is_float() const {
  return type == GgufType::kFloat32 || type == GgufType::kFloat64;
}

std::vector<std::int64_t> GgufTensorInfo::shape() const {
  return std::vector<std::int64_t>(dims.rbegin(), dims.rend());
}

GgufFile GgufFile::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw InputError(fmt::format("{}: cannot open GGUF file: {}", path, std::strerror(errno)));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw InputError(fmt::format("{}: not a regular file", path));
  }
  GgufFile f;
  f.source_ = path;
  f.size_ = static_cast<std::uint64_t>(st.st_size);
  if (f.size_ > 0) {
    // A read-only private mapping: weights are dequantised straight from the page cache, so a
    // multi-GB file never needs a second in-memory copy of its packed bytes.
    void* p = ::mmap(nullptr, static_cast<std::size_t>(f.size_), PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      throw InputError(fmt::format("{}: cannot map GGUF file: {}", path, std::strerror(err)));
    }
    const std::size_t len = static_cast<std::size_t>(f.size_);
    f.owner_ = std::shared_ptr<const void>(p, [len](const void* q) {
      ::munmap(const_cast<void*>(q), len);
    });
    f.data_ = static_cast<const std::uint8_t*>(p);
  }
  ::close(fd);
  f.parse_all();
  return f;
}

GgufFile GgufFile::parse(const std::uint8_t* data, std::size_t size, const std::string& source) {
  GgufFile f;
  f.source_ = source;
  auto buf = std::make_shared<std::vector<std::uint8_t>>(data, data + size);
  f.data_ = buf->data();
  f.size_ = size;
  f.owner_ = buf;
  f.parse_all();
  return f;
}

void GgufFile::parse_all() {
  const std::string& src = source_;
  Cursor c(data_, size_, src);

  c.need(4, "magic");
  if (std::memcmp(data_, "GGUF", 4) != 0) {
    std::string got;
    for (int k = 0; k < 4; ++k) {
      const unsigned char ch = data_[k];
      got += (ch >= 0x20 && ch < 0x7F) ? std::string(1, static_cast<char>(ch))
                                       : fmt::format("\\x{:02x}", ch);
    }
    throw InputError(fmt::format("{}: magic: got \"{}\", expected \"GGUF\" (not a GGUF file)",
                                 src, got));
  }
  c.read<std::uint32_t>("magic");
  version_ = c.read<std::uint32_t>("version");
  if (version_ != 2 && version_ != 3) {
    // v1 used 32-bit counts and lengths; nothing current writes it.
    throw InputError(fmt::format("{}: version: got {}, expected 2 or 3", src, version_));
  }
  const auto tensor_count = c.read<std::uint64_t>("tensor_count");
  const auto kv_count = c.read<std::uint64_t>("kv_count");
  // Each key/value takes >= 8 (key length) + 4 (type) + 1 bytes; each tensor info >= 8 (name
  // length) + 4 (n_dims) + 4 (type) + 8 (offset) bytes.
  c.check_count(kv_count, 13, "kv_count");
  c.check_count(tensor_count, 24, "tensor_count");

  keys_.reserve(static_cast<std::size_t>(kv_count));
  for (std::uint64_t k = 0; k < kv_count; ++k) {
    const std::string key = c.read_string(fmt::format("metadata key #{}", k), kMaxKeyLength);
    if (key.empty()) throw InputError(fmt::format("{}: metadata key #{}: empty key", src, k));
    const std::string what = "metadata '" + key + "'";
    const auto type = c.read<std::uint32_t>(what + " (value type)");
    if (!valid_type(type)) {
      throw InputError(fmt::format("{}: {}: unknown value type {} (expected 0..12)", src, what,
                                   type));
    }
    GgufValue v = read_value(c, static_cast<GgufType>(type), what, 0, src);
    if (kv_.count(key)) throw InputError(fmt::format("{}: {}: duplicate key", src, what));
    keys_.push_back(key);
    kv_.emplace(key, std::move(v));
  }

  if (const GgufValue* a = find("general.alignment")) {
    if (a->type != GgufType::kUint32) {
      throw InputError(fmt::format("{}: metadata 'general.alignment': type {}, expected uint32",
                                   src, to_string(a->type)));
    }
    const auto al = static_cast<std::uint64_t>(a->i);
    if (al == 0 || (al & (al - 1)) != 0) {
      throw InputError(fmt::format(
          "{}: metadata 'general.alignment': got {}, expected a power of two", src, al));
    }
    alignment_ = al;
  }

  tensors_.reserve(static_cast<std::size_t>(tensor_count));
  for (std::uint64_t k = 0; k < tensor_count; ++k) {
    GgufTensorInfo t;
    t.name = c.read_string(fmt::format("tensor #{} name", k), kMaxKeyLength);
    const std::string what = "tensor '" + t.name + "'";
    const auto n_dims = c.read<std::uint32_t>(what + " n_dims");
    if (n_dims == 0 || n_dims > kMaxDims) {
      throw InputError(fmt::format("{}: {}: n_dims {} (expected 1..{})", src, what, n_dims,
                                   kMaxDims));
    }
    t.n_elements = 1;
    for (std::uint32_t d = 0; d < n_dims; ++d) {
      const auto dim = c.read<std::uint64_t>(fmt::format("{} dims[{}]", what, d));
      if (dim == 0 || dim > kMaxElements || t.n_elements > kMaxElements / dim) {
        throw InputError(fmt::format("{}: {}: dims[{}] = {} gives an empty or absurdly large "
                                     "tensor (limit 2^50 elements)",
                                     src, what, d, dim));
      }
      t.dims.push_back(dim);
      t.n_elements *= dim;
    }
    t.type_id = c.read<std::uint32_t>(what + " type");
    const GgmlTypeTraits* traits = ggml_type_traits(t.type_id);
    if (!traits) {
      throw InputError(fmt::format("{}: {}: unknown ggml type {}", src, what, t.type_id));
    }
    if (t.dims[0] % traits->block_size != 0) {
      throw InputError(fmt::format("{}: {}: first dimension {} is not a multiple of the {} block "
                                   "size {}",
                                   src, what, t.dims[0], traits->name, traits->block_size));
    }
    t.n_bytes = t.n_elements / traits->block_size * traits->type_size;
    t.offset = c.read<std::uint64_t>(what + " offset");
    if (t.offset % alignment_ != 0) {
      throw InputError(fmt::format("{}: {}: offset {} is not a multiple of the alignment {}", src,
                                   what, t.offset, alignment_));
    }
    if (tensor_index_.count(t.name)) {
      throw InputError(fmt::format("{}: {}: duplicate tensor name", src, what));
    }
    tensor_index_.emplace(t.name, tensors_.size());
    tensors_.push_back(std::move(t));
  }

  // The data section starts at the next alignment boundary, even when there are no tensors; a
  // file may end right after the infos if it holds no tensor data.
  data_offset_ = align_up(c.pos(), alignment_);
  const std::uint64_t data_size = data_offset_ <= size_ ? size_ - data_offset_ : 0;
  for (const auto& t : tensors_) {
    if (t.offset > data_size || t.n_bytes > data_size - t.offset) {
      throw InputError(fmt::format(
          "{}: tensor '{}': offset {} + size {} exceeds the data section ({} bytes from file "
          "offset {}, file size {}); dims {} {}",
          src, t.name, t.offset, t.n_bytes, data_size, data_offset_, size_, dims_string(t.dims),
          ggml_type_name(t.type_id)));
    }
  }
}

const GgufValue* GgufFile::find(const std::string& key) const {
  auto it = kv_.find(key);
  return it == kv_.end() ? nullptr : &it->second;
}

std::optional<std::int64_t> GgufFile::get_int_opt(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (!v->is_integer() || v->type == GgufType::kBool) {
    throw InputError(fmt::format("{}: metadata '{}': type {}, expected an integer", source_, key,
                                 to_string(v->type)));
  }
  if (v->type == GgufType::kUint64 && v->i < 0) {
    throw InputError(fmt::format("{}: metadata '{}': value {} out of range", source_, key,
                                 static_cast<std::uint64_t>(v->i)));
  }
  return v->i;
}

std::int64_t GgufFile::get_int(const std::string& key) const {
  auto v = get_int_opt(key);
  if (!v) throw InputError(fmt::format("{}: metadata '{}': missing", source_, key));
  return *v;
}

std::optional<double> GgufFile::get_float_opt(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (v->is_float()) return v->f;
  if (v->is_integer() && v->type != GgufType::kBool) return static_cast<double>(v->i);
  throw InputError(fmt::format("{}: metadata '{}': type {}, expected a number", source_, key,
                               to_string(v->type)));
}

double GgufFile::get_float(const std::string& key) const {
  auto v = get_float_opt(key);
  if (!v) throw InputError(fmt::format("{}: metadata '{}': missing", source_, key));
  return *v;
}

std::optional<std::string> GgufFile::get_string_opt(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != GgufType::kString) {
    throw InputError(fmt::format("{}: metadata '{}': type {}, expected string", source_, key,
                                 to_string(v->type)));
  }
  return v->str;
}

std::string GgufFile::get_string(const std::string& key) const {
  auto v = get_string_opt(key);
  if (!v) throw InputError(fmt::format("{}: metadata '{}': missing", source_, key));
  return *v;
}

bool GgufFile::get_bool_or(const std::string& key, bool fallback) const {
  const GgufValue* v = find(key);
  if (!v) return fallback;
  if (v->type != GgufType::kBool) {
    throw InputError(fmt::format("{}: metadata '{}': type {}, expected bool", source_, key,
                                 to_string(v->type)));
  }
  return v->i != 0;
}

const std::vector<std::string>& GgufFile::get_string_array(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) throw InputError(fmt::format("{}: metadata '{}': missing", source_, key));
  if (v->type != GgufType::kArray || v->elem_type != GgufType::kString) {
    throw InputError(fmt::format("{}: metadata '{}': type {}{}, expected array of string",
                                 source_, key, to_string(v->type),
                                 v->type == GgufType::kArray
                                     ? std::string(" of ") + to_string(v->elem_type)
                                     : std::string()));
  }
  return v->strings;
}

const std::vector<std::int64_t>& GgufFile::get_int_array(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) throw InputError(fmt::format("{}: metadata '{}': missing", source_, key));
  if (v->type != GgufType::kArray || !v->items.empty() || !v->floats.empty() ||
      v->elem_type == GgufType::kString || v->elem_type == GgufType::kFloat32 ||
      v->elem_type == GgufType::kFloat64 || v->elem_type == GgufType::kArray) {
    throw InputError(fmt::format("{}: metadata '{}': type {}, expected array of integers",
                                 source_, key, to_string(v->type)));
  }
  return v->ints;
}

const GgufTensorInfo* GgufFile::find_tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const std::uint8_t* GgufFile::tensor_data(const GgufTensorInfo& t) const {
  CSWEEP_ASSERT(data_offset_ + t.offset + t.n_bytes <= size_, "tensor '{}' outside the file",
                t.name);
  return data_ + data_offset_ + t.offset;
}

std::vector<float> GgufFile::dequantize(const GgufTensorInfo& t) const {
  const GgmlTypeTraits* traits = ggml_type_traits(t.type_id);
  CSWEEP_ASSERT(traits != nullptr, "tensor '{}' has unknown type {}", t.name, t.type_id);
  if (!traits->dequantizable) {
    throw InputError(fmt::format("{}: tensor '{}': ggml type {} cannot be dequantised "
                                 "(supported: {})",
                                 source_, t.name, traits->name, ggml_dequantizable_names()));
  }
  std::vector<float> out(static_cast<std::size_t>(t.n_elements));
  dequantize_row(t.type(), tensor_data(t), out.data(), out.size());
  return out;
}

}  // namespace csweep::io
