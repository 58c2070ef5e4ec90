// csweep: exhaustive ablation and patching sweeps over transformer circuits.
// main() reads as: parse the command line -> run the chosen subcommand -> map errors to exit codes.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <exception>

#include "core/error.hpp"
#include "core/log.hpp"
#include "csweep/version.hpp"
#include "pipeline/cli/commands.hpp"
#include "reducers/h5.hpp"

int main(int argc, char** argv) {
  // Before any HDF5 use: no HDF5-DIAG stacks on stderr (errors become our messages) and no
  // library exit handler (every file is closed explicitly; see reducers/h5.hpp).
  csweep::reducers::h5::init();
  CLI::App app{"csweep — find and compare circuits in transformer language models by exhaustive "
               "ablation and patching sweeps (see README.md)."};
  app.set_version_flag("--version", std::string(csweep::kVersion) + " (" + csweep::kGitRevision + ")");
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")->capture_default_str();
  app.parse_complete_callback([&] { csweep::log::init(-1, log_level); });

  csweep::cli::add_inspect_command(app);
  csweep::cli::add_dump_command(app);
  csweep::cli::add_tokenize_command(app);
  csweep::cli::add_train_command(app);
  csweep::cli::add_plan_command(app);
  csweep::cli::add_run_command(app);
  csweep::cli::add_merge_command(app);
  csweep::cli::add_eval_command(app);
  csweep::cli::add_analyze_command(app);
  csweep::cli::add_export_command(app);
  csweep::cli::add_submit_command(app);
  csweep::cli::add_status_command(app);
  csweep::cli::add_resubmit_command(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? csweep::kExitOk : csweep::kExitUsage;
  } catch (const csweep::InputError& e) {
    std::fprintf(stderr, "csweep: error: %s\n", e.what());
    return csweep::kExitInput;
  } catch (const csweep::IoError& e) {
    std::fprintf(stderr, "csweep: I/O error: %s\n", e.what());
    return csweep::kExitIo;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "csweep: internal error: %s\n", e.what());
    return csweep::kExitInternal;
  }
  return csweep::kExitOk;
}
