// `csweep run JOB [--output F] [--shard i/N]`: the sweep, under mpirun or alone (docs/SWEEPS.md).
#include <cstdlib>
#include <string>

#include "pipeline/cli/commands.hpp"
#include "pipeline/cli/engine_evaluator.hpp"
#include "pipeline/run.hpp"

namespace csweep::cli {

void add_run_command(CLI::App& app) {
  auto req = std::make_shared<pipeline::RunRequest>();
  CLI::App* cmd = app.add_subcommand(
      "run",
      "Run a job spec's sweep into an HDF5 file; under `mpirun -np P` every rank evaluates and "
      "rank 0 also coordinates and writes. Rerunning on an existing output resumes it. Exit 75 after SIGTERM/SIGINT "
      "(rerun to resume).");
  cmd->add_option("job", req->job_path, "job spec (TOML), e.g. jobs/quickstart.toml")->required()->check(CLI::ExistingFile);
  cmd->add_option("-o,--output", req->output, "results file (default: the spec's output.path)");
  cmd->add_option("--shard", req->shard, "run slice i of N of the grid (i/N, 0-based) into its own file");
  cmd->add_option("--worker-timeout", req->worker_timeout_s,
                  "seconds of silence after which a worker's units are re-issued (must exceed one unit's time)")
      ->capture_default_str()
      ->check(CLI::Validator(
          [](std::string& v) {
            double s = 0;
            try {
              std::size_t used = 0;
              s = std::stod(v, &used);
              if (used != v.size()) return "--worker-timeout: got '" + v + "', expected a number of seconds";
            } catch (const std::exception&) {
              return "--worker-timeout: got '" + v + "', expected a number of seconds";
            }
            return pipeline::worker_timeout_problem(s);
          },
          "SECONDS in (0, 604800]"));
  cmd->add_option("--device", req->device,
                  "auto, cpu, cuda (each rank the GPU of its node-local rank) or cuda:N; overrides the "
                  "spec's compute.device (default auto: a GPU when one is visible)");
  cmd->add_option("--progress", req->progress_interval_s, "seconds between progress lines")->capture_default_str();
  cmd->add_option("--max-chunk", req->max_chunk, "most units handed to a worker at once")->capture_default_str();
  cmd->add_flag("!--no-summary", req->summary, "do not print the largest effects at the end");
  cmd->callback([req] {
    const int rc = pipeline::run_main(*req, pipeline::make_engine_evaluator);
    if (rc != 0) std::exit(rc);  // kExitInterrupted: the output is durable; the scheduler requeues
  });
}

}  // namespace csweep::cli
