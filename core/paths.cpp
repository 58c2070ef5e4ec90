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

std::string shipped_path(const std::string& top, const std::string& rel, const char* env_var) {
  std::vector<std::string> roots;
  if (const char* env = std::getenv(env_var); env != nullptr && *env != '\0')
    roots.emplace_back(env);
  const std::string exe_dir = executable_dir();
  if (!exe_dir.empty()) {
    roots.push_back(exe_dir + "/../" + top);
    roots.push_back(exe_dir + "/../../" + top);
    roots.push_back(exe_dir + "/../share/circuitsweep/" + top);
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
  throw InputError(top + " file " + rel + " not found (tried: " +
                   (tried.empty() ? "nothing, the executable's path is unknown" : tried) +
                   "); set " + env_var + " to circuitsweep's " + top + "/ folder");
}

std::string data_path(const std::string& rel) {
  return shipped_path("data", rel, "CSWEEP_DATA_DIR");
}

}  // namespace csweep
