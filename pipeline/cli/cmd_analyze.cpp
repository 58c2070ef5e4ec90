// `csweep analyze` and `csweep export`: the analysis stage is a Python package
// (analysis/csweep_analysis, Debian's matplotlib / matplotlib-venn / upsetplot / pandas / h5py),
// so these subcommands only find it and the interpreter and exec
//   $CSWEEP_PYTHON (default /usr/bin/python3) -m csweep_analysis <command> <arguments...>
// Every argument, --help included, goes to the Python side, which owns the options.
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/paths.hpp"
#include "pipeline/cli/commands.hpp"

namespace csweep::cli {
namespace {

// Debian's interpreter: the one scripts/install_deps.sh gives h5py, pandas and matplotlib
// (a `python3` earlier on PATH may be another installation without them).
constexpr const char* kDefaultPython = "/usr/bin/python3";

[[noreturn]] void exec_analysis(const std::string& command, const std::vector<std::string>& args) {
  const char* env = std::getenv("CSWEEP_PYTHON");
  const std::string python = env && *env ? env : kDefaultPython;
  if (::access(python.c_str(), X_OK) != 0)
    throw input_error(std::string("csweep ") + command, "no Python interpreter to run the analysis",
                      "\"" + python + "\" (" + std::strerror(errno) + ")",
                      "Debian's python3 (scripts/install_deps.sh installs it with the analysis "
                      "modules), or $CSWEEP_PYTHON naming an interpreter");
  // The package folder's parent goes first on PYTHONPATH so this checkout's package is the one
  // that runs.
  const std::string main_py = shipped_path("analysis", "csweep_analysis/__main__.py",
                                           "CSWEEP_ANALYSIS_DIR");
  const std::string root = main_py.substr(0, main_py.rfind("/csweep_analysis/"));
  const char* old = std::getenv("PYTHONPATH");
  const std::string path = old && *old ? root + ":" + old : root;
  ::setenv("PYTHONPATH", path.c_str(), 1);

  std::vector<std::string> argv_s = {python, "-m", "csweep_analysis", command};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::fflush(nullptr);
  ::execv(python.c_str(), argv.data());
  throw input_error(std::string("csweep ") + command, "cannot start the Python interpreter",
                    "\"" + python + "\" (" + std::strerror(errno) + ")",
                    "an executable python3 ($CSWEEP_PYTHON)");
}

void add_passthrough(CLI::App& app, const std::string& name, const std::string& description) {
  CLI::App* cmd = app.add_subcommand(name, description);
  cmd->set_help_flag();  // --help goes to the Python side, which documents every option
  cmd->prefix_command();
  cmd->allow_extras();
  cmd->callback([cmd, name] { exec_analysis(name, cmd->remaining()); });
}

}  // namespace

void add_analyze_command(CLI::App& app) {
  add_passthrough(app, "analyze",
                  "Results files and/or a circuits file -> summary.json, CSV/LaTeX tables and, "
                  "with --figures, PDF/PNG figures (Venn/UpSet of shared heads, layer x head "
                  "heatmaps, ...). Example: csweep analyze out/quickstart.h5 --out out/analysis "
                  "--figures; `csweep analyze --help` lists every option.");
}

void add_export_command(CLI::App& app) {
  add_passthrough(app, "export",
                  "A results file -> tidy long CSV tables (one row per intervention x metric, "
                  "components named like 9.1+4.4). Example: csweep export out/quickstart.h5 "
                  "--format csv --out out/quickstart_csv");
}

}  // namespace csweep::cli
