// libFuzzer target: Hugging Face config.json parsing. Any text must give either a validated
// ModelConfig whose derived quantities (canonical parameter table, parameter counts, printout)
// are computable, or an InputError. Anything else is a bug.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.hpp"
#include "workers/io/hf_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace csweep;
  try {
    const model::ModelConfig c =
        io::parse_hf_config(std::string(reinterpret_cast<const char*>(data), size), "fuzz/config.json");
    // A validated config must have a consistent parameter table.
    const auto params = model::canonical_params(c);
    if (params.empty()) __builtin_trap();
    for (const auto& p : params)
      for (auto d : p.shape)
        if (d <= 0) __builtin_trap();
    if (c.n_params_total() < c.n_params_nonembed()) __builtin_trap();
    if (c.to_string().empty()) __builtin_trap();
  } catch (const InputError&) {
  }
  return 0;
}
