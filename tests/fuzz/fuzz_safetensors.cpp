// libFuzzer target: the safetensors parser must turn any byte string into either a validated
// set of in-bounds tensor views or an InputError. Any other exception, crash or sanitizer report
// is a bug. Every byte of every view is read so that AddressSanitizer sees an out-of-range view.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/error.hpp"
#include "workers/io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace csweep::io;
  try {
    const SafetensorsFile f = SafetensorsFile::parse(data, size, "fuzz.safetensors");
    std::vector<float> out;
    volatile std::uint8_t sink = 0;
    for (const TensorView& t : f.tensors()) {
      if (f.find(t.name) != &t) __builtin_trap();  // index and list must agree
      if (t.nbytes != static_cast<std::size_t>(t.numel()) * dtype_size(t.dtype)) __builtin_trap();
      for (std::size_t i = 0; i < t.nbytes; ++i) sink = sink ^ t.data[i];
      if (is_float(t.dtype)) {
        out.resize(static_cast<std::size_t>(t.numel()));
        decode_f32(t, out.data(), f.source());
      }
    }
    (void)sink;
  } catch (const csweep::InputError&) {
    // Malformed input rejected with a message: the expected outcome for most inputs.
  }
  return 0;
}
