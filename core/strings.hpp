#pragma once
// Small string helpers for command-line values (torch-free).
#include <string>
#include <vector>

namespace csweep {

// The non-empty pieces of `s` between separators, in order: "a,,b," -> {"a", "b"}; "" -> {}.
// Empty pieces are dropped so that a trailing or doubled separator in a list option is harmless.
std::vector<std::string> split_list(const std::string& s, char sep = ',');

}  // namespace csweep
