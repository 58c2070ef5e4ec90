#pragma once
// `csweep submit` and `csweep resubmit`: a run directory, its scripts and the sbatch calls
// (docs: README.md "Running on a cluster").
//
// submit:   spec -> grid (validated here, before anything reaches the queue) -> RUN_DIR with
//           job.toml, scripts, run.json -> arrays of shards (split below MaxArraySize) -> merge.
// resubmit: status -> exactly the shards that are not complete, as new arrays -> a new merge.
#include <string>
#include <vector>

namespace csweep::slurm {

struct SubmitRequest {
  std::string job_path;
  int shards = 0;
  int ranks_per_shard = 1;
  int gpus_per_rank = 0;
  int cpus_per_rank = 0;  // 0 = the spec's batching.threads_per_rank
  std::string partition, account;
  std::string time_limit = "04:00:00";
  std::string merge_time_limit = "01:00:00";
  int signal_lead_s = 120;
  int max_concurrent = 0;  // 0 = no cap
  std::string run_dir;     // "" = runs/<job name>
  std::string csweep_bin;  // "" = this executable
  std::vector<std::string> sbatch_options;  // after `--`, passed to every sbatch call
  bool dry_run = false;
};

// Prints the dry-run listing, or submits and prints the job ids (stdout). Returns the exit code.
int submit_main(const SubmitRequest& req);

struct ResubmitRequest {
  std::string run_dir;
  std::string time_limit;  // "" = as submitted; else overrides --time of the new shard tasks
  bool dry_run = false;
};
int resubmit_main(const ResubmitRequest& req);

}  // namespace csweep::slurm
