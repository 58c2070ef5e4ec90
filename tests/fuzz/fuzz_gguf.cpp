// libFuzzer target: the GGUF reader must turn any byte string into either a parsed file whose
// every tensor lies inside the input, or an InputError. Any other exception, crash, sanitizer
// report or oversized allocation (libFuzzer's -rss_limit_mb / -malloc_limit_mb) is a bug. Every
// tensor that can be dequantised is, so out-of-range reads show up under AddressSanitizer.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/error.hpp"
#include "workers/io/gguf.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace csweep::io;
  try {
    const GgufFile f = GgufFile::parse(data, size, "fuzz.gguf");
    volatile std::uint8_t sink = 0;
    for (const GgufTensorInfo& t : f.tensors()) {
      if (f.find_tensor(t.name) != &t) __builtin_trap();  // index and list must agree
      if (f.data_offset() + t.offset + t.n_bytes > size) __builtin_trap();
      const std::uint8_t* p = f.tensor_data(t);
      for (std::uint64_t i = 0; i < t.n_bytes; ++i) sink = sink ^ p[i];
      const GgmlTypeTraits* tr = ggml_type_traits(t.type_id);
      if (!tr) __builtin_trap();  // the parser rejects unknown types
      if (tr->dequantizable) {
        const std::vector<float> v = f.dequantize(t);
        if (v.size() != t.n_elements) __builtin_trap();
      }
    }
    // Typed getters on whatever keys exist: type mismatches must be InputErrors too.
    for (const auto& k : f.keys()) {
      try {
        (void)f.get_int_opt(k);
      } catch (const csweep::InputError&) {
      }
      try {
        (void)f.get_string_array(k);
      } catch (const csweep::InputError&) {
      }
    }
    (void)sink;
  } catch (const csweep::InputError&) {
    // Malformed input rejected with a message: the expected outcome for most inputs.
  }
  return 0;
}
