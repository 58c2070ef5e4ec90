#pragma once
// Locating files shipped with circuitsweep (data/: tokenizers, ...) from a build tree or an
// install, without baking the source path into the library.
#include <string>

namespace csweep {

// Directory holding the running executable (from /proc/self/exe); "" if it cannot be read.
std::string executable_dir();

// Absolute path of `rel` (e.g. "tokenizers/gpt2") under the first data directory where it exists:
//   1. $CSWEEP_DATA_DIR
//   2. <exe_dir>/../data              (csweep in <repo>/<build>/, or tests one level deeper:)
//   3. <exe_dir>/../../data
//   4. <exe_dir>/../share/circuitsweep/data   (installed: <prefix>/bin/csweep)
// Throws InputError listing every place tried when none holds it.
std::string data_path(const std::string& rel);

// The same search for any folder shipped next to the build or install (e.g. "analysis"):
// $<env_var>/<rel>, then <exe_dir>/../<top>/<rel>, <exe_dir>/../../<top>/<rel> and
// <exe_dir>/../share/circuitsweep/<top>/<rel>. Throws InputError naming every place tried and
// env_var.
std::string shipped_path(const std::string& top, const std::string& rel, const char* env_var);

}  // namespace csweep
