#include "reducers/h5.hpp"

#include <vector>

namespace csweep::reducers::h5 {

void init() {
  static const bool done = [] {
    // Must precede every other HDF5 call to take effect; harmless (an error code) otherwise.
    H5dont_atexit();
    H5open();
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)done;
}

namespace {

std::vector<std::string> stack_messages() {
  std::vector<std::string> out;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_DOWNWARD,
      [](unsigned, const H5E_error2_t* e, void* data) -> herr_t {
        auto* v = static_cast<std::vector<std::string>*>(data);
        std::string m = e->func_name ? e->func_name : "";
        if (e->desc && *e->desc) m += (m.empty() ? "" : ": ") + std::string(e->desc);
        v->push_back(m);
        return 0;
      },
      &out);
  return out;
}

}  // namespace

std::string error_text() {
  const auto v = stack_messages();
  // Downward = from the API call to where the error was detected: the last entry is the most
  // specific one (it carries errno and the file name for system call failures).
  return v.empty() ? std::string() : v.back();
}

bool checksum_failed() {
  for (const auto& m : stack_messages())
    if (m.find("Fletcher32") != std::string::npos || m.find("checksum") != std::string::npos)
      return true;
  return false;
}

}  // namespace csweep::reducers::h5
