// `csweep submit`, `csweep status`, `csweep resubmit`: a sweep as Slurm job arrays
// (pipeline/slurm/, README.md "Running on a cluster").
#include <cstdio>
#include <cstdlib>

#include "pipeline/cli/commands.hpp"
#include "pipeline/slurm/status.hpp"
#include "pipeline/slurm/submit.hpp"

namespace csweep::cli {

void add_submit_command(CLI::App& app) {
  auto r = std::make_shared<slurm::SubmitRequest>();
  CLI::App* cmd = app.add_subcommand(
      "submit",
      "Submit a job spec to Slurm: shard i of N runs as array task i (under `srun --mpi=pmix` with "
      "R ranks), then a merge job (afterok) merges the shards and runs the analysis. Writes the "
      "scripts, a copy of the spec and run.json into the run directory. Shards checkpoint on "
      "SIGUSR1 before the time limit and requeue themselves.\n"
      "Example: csweep submit jobs/quickstart.toml --shards 8 --gpus-per-rank 1 --time 02:00:00 "
      "--max-concurrent 4 --run-dir runs/qs -- --qos=normal");
  cmd->add_option("job", r->job_path, "job spec (TOML)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--shards", r->shards, "number of shards (array tasks)")->required();
  cmd->add_option("--ranks-per-shard", r->ranks_per_shard,
                  "MPI ranks per shard (srun --mpi=pmix; 1 = one process, no launcher)")->capture_default_str();
  cmd->add_option("--gpus-per-rank", r->gpus_per_rank, "GPUs per rank (--gpus-per-task)")->capture_default_str();
  cmd->add_option("--cpus-per-rank", r->cpus_per_rank,
                  "CPUs per rank (--cpus-per-task; default: the spec's batching.threads_per_rank)");
  cmd->add_option("--partition", r->partition, "partition (default: the cluster's)");
  cmd->add_option("--account", r->account, "account to charge (default: yours)");
  cmd->add_option("--time", r->time_limit, "time limit per shard task (Slurm format)")->capture_default_str();
  cmd->add_option("--merge-time", r->merge_time_limit, "time limit of the merge job")->capture_default_str();
  cmd->add_option("--signal-lead", r->signal_lead_s,
                  "seconds before the time limit at which a shard checkpoints and requeues itself "
                  "(--signal=B:USR1@S); must exceed one unit plus the flush")->capture_default_str();
  cmd->add_option("--max-concurrent", r->max_concurrent,
                  "at most K shards running at once (%K; split arrays run one after another)")->capture_default_str();
  cmd->add_option("--run-dir", r->run_dir, "run directory (default: runs/<job name>); must not hold a run yet");
  cmd->add_option("--csweep", r->csweep_bin, "csweep binary the jobs run (default: this one)");
  cmd->add_option("sbatch_options", r->sbatch_options, "after --: extra options for every sbatch call");
  cmd->add_flag("--dry-run", r->dry_run, "print the scripts and the sbatch calls; write and submit nothing");
  cmd->callback([r] {
    const int rc = slurm::submit_main(*r);
    if (rc != 0) std::exit(rc);
  });
}

void add_status_command(CLI::App& app) {
  auto dir = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand(
      "status",
      "Where a submitted run stands: per shard units done/total (from the shard files and journals), "
      "Slurm state (scontrol, when reachable), restarts and last log line; totals with rate and ETA. "
      "Exit 0 complete, 3 pending/running, 4 failed (csweep resubmit).\n"
      "Example: csweep status runs/quickstart");
  cmd->add_option("run_dir", *dir, "run directory of csweep submit")->required()->check(CLI::ExistingDirectory);
  cmd->callback([dir] {
    const slurm::RunStatus st = slurm::collect_status(*dir);
    std::fputs(slurm::format_status(st).c_str(), stdout);
    std::fflush(stdout);
    const int rc = slurm::status_exit_code(st);
    if (rc != 0) std::exit(rc);
  });
}

void add_resubmit_command(CLI::App& app) {
  auto r = std::make_shared<slurm::ResubmitRequest>();
  CLI::App* cmd = app.add_subcommand(
      "resubmit",
      "Submit again exactly the shards of a run that are not complete (failed, cancelled, timed out), "
      "with a new merge job; complete shards are not touched.\nExample: csweep resubmit runs/quickstart");
  cmd->add_option("run_dir", r->run_dir, "run directory of csweep submit")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--time", r->time_limit, "new time limit for the resubmitted shards (default: as submitted)");
  cmd->add_flag("--dry-run", r->dry_run, "print the sbatch calls; submit nothing");
  cmd->callback([r] {
    const int rc = slurm::resubmit_main(*r);
    if (rc != 0) std::exit(rc);
  });
}

}  // namespace csweep::cli
