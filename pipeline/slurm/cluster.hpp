#pragma once
// The Slurm client tools, called as programs (sbatch, squeue, scontrol, scancel): no libslurm
// (its ABI changes with every release) and no accounting database (sacct) — only what every
// cluster has. Each call names the command and its stderr when it fails.
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace csweep::slurm {

struct CommandResult {
  int status = -1;  // exit status; -1 = could not be started (not installed)
  std::string out, err;
};
// Runs argv (PATH lookup, no shell), capturing stdout and stderr.
CommandResult run_command(const std::vector<std::string>& argv);

// MaxArraySize from `scontrol show config`; nullopt when Slurm cannot be reached.
std::optional<int> max_array_size();

// Submits; returns the job id (`sbatch --parsable` prints "id[;cluster]"). InputError quoting
// sbatch's message when it refuses.
std::string sbatch(const std::vector<std::string>& argv);

// One record of `scontrol -o show job ID`: a job, an array task, or the pending rest of an
// array (array_tasks then lists several tasks).
struct JobRecord {
  std::string job_id;          // JobId
  std::string array_job_id;    // ArrayJobId ("" when not an array)
  std::vector<int> array_tasks;
  std::string state;           // JobState: PENDING, RUNNING, COMPLETED, FAILED, ...
  std::string reason;
  std::string exit_code;       // "0:0"
  int restarts = 0;
};
// Parses scontrol's one-line-per-record output (unit-tested on captured text).
std::vector<JobRecord> parse_show_job(const std::string& text);

struct JobQuery {
  bool reachable = false;  // false: scontrol missing or the controller did not answer
  std::vector<JobRecord> records;  // empty when reachable: the controller forgot the job
};
JobQuery show_job(const std::string& job_id);

// scancel JOB; true when it succeeded.
bool scancel(const std::string& job_id);

// States after which a job or task will not run again by itself.
bool is_terminal_state(const std::string& state);

}  // namespace csweep::slurm
