#include "core/paths.hpp"

#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

#include "core/error.hpp"

namespace csweep {

std::string executable_dir() {
  char buf[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return {};
  std::string exe(buf, static_cast<std::size_t>(n));
  const std::size_t slash = exe.rfind('/');
  return slash == std::string::npos ? std::string{} : exe.substr(0, slash);
}

std::string data_path(const std::string& rel) {
  std::vector<std::string> roots;
  if (const char* env = std::getenv("CSWEEP_DATA_DIR"); env != nullptr && *env != '\0')
    roots.emplace_back(env);
  const std::string exe_dir = executable_dir();
  if (!exe_dir.empty()) {
    roots.push_back(exe_dir + "/../data");
    roots.push_back(exe_dir + "/../../data");
    roots.push_back(exe_dir + "/../share/circuitsweep/data");
  }
  std::string tried;
  for (const auto& root : roots) {
    const std::string candidate = root + "/" + rel;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0) {
      // Canonical form so logs and provenance attributes show a clean path.
      char real[PATH_MAX];
      return ::realpath(candidate.c_str(), real) != nullptr ? std::string(real) : candidate;
    }
    tried += (tried.empty() ? "" : ", ") + candidate;
  }
  throw InputError("data file " + rel + " not found (tried: " +
                   (tried.empty() ? "nothing, the executable's path is unknown" : tried) +
                   "); set CSWEEP_DATA_DIR to circuitsweep's data/ folder");
}

}  // namespace csweep
