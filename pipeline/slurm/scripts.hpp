#pragma once
// What `csweep submit` writes and runs, as pure functions (no Slurm, no files): the batch scripts
// of a run directory and the sbatch calls that submit them. `--dry-run` prints exactly this, and
// the real submission executes exactly this, so the two cannot drift apart.
//
// Script = #SBATCH header (from the options below) + variables + a fixed body. The bodies live
// in slurm/templates/{shard,merge}.sh and are embedded into csweep at build time, so a run
// directory is self-contained (rerunnable by hand with sbatch) and shellcheck can read them.
#include <cstdint>
#include <string>
#include <vector>

namespace csweep::slurm {

// Everything the scripts depend on; paths are absolute.
struct ScriptParams {
  std::string job_name;      // the spec's [job] name
  std::string run_dir;
  std::string csweep_bin;
  std::string workdir;       // --chdir: relative model paths of the spec resolve against it
  std::string spec_sha256;   // of run_dir/job.toml
  int shards = 1;
  int ranks_per_shard = 1;
  int gpus_per_rank = 0;
  int cpus_per_rank = 1;
  std::string partition, account;  // "" = the cluster's default
  std::string time_limit = "04:00:00";
  std::string merge_time_limit = "01:00:00";
  int signal_lead_s = 120;   // --signal=B:USR1@<s>
};

std::string render_shard_script(const ScriptParams& p);
std::string render_merge_script(const ScriptParams& p);
std::string shard_script_path(const std::string& run_dir);  // run_dir/shard.sbatch
std::string merge_script_path(const std::string& run_dir);  // run_dir/merge.sbatch

// Shard indices -> arrays whose task ids stay below max_array_size (Slurm's MaxArraySize bounds
// the task id, not only the count): shard s goes to the array of base (s / M) * M as task s - base.
struct ArraySlice {
  int base = 0;
  std::vector<int> shards;  // sorted, each in [base, base + M)
  std::string task_spec() const;  // "0-2", "1,4-6" (task ids, relative to base)
};
std::vector<ArraySlice> split_into_arrays(std::vector<int> shards, int max_array_size);

// "0-2,5,7-9" for sorted unique ints.
std::string format_index_list(const std::vector<int>& sorted);
// Inverse, for Slurm's ArrayTaskId ("1-3,7", a trailing "%K" ignored); empty on bad text.
std::vector<int> parse_index_list(const std::string& text);

// One sbatch call of a submission. `name` is a shell variable in the dry-run listing
// (`shards_1=$(sbatch ...)`); dependencies refer to earlier calls by name.
struct PlannedJob {
  std::string name;
  std::vector<std::string> options;  // sbatch options, without the dependency
  std::string dependency_kind;       // "", "afterok", "afterany"
  std::vector<std::string> depends_on;
  std::string script;
  std::vector<std::string> script_args;
  int base = -1;                     // arrays: shard of task 0
  std::vector<int> shards;           // arrays: the shards it runs
};

// Arrays for `shards` (split by max_array_size; with a concurrency cap K each array gets %K and
// waits for the previous one (afterany), so at most K shards run at once in total), then the merge
// job depending (afterok) on every array. `extra_options` go to every sbatch call.
std::vector<PlannedJob> plan_submission(const std::string& run_dir, const std::vector<int>& shards,
                                        int max_array_size, int max_concurrent,
                                        const std::vector<std::string>& extra_options);

// The argv of one call with the job ids of the calls it depends on (`ids[name]`); with
// `ids` empty, dependencies are written as shell variables ($shards_1) for the dry-run.
std::vector<std::string> sbatch_argv(const PlannedJob& job,
                                     const std::vector<std::pair<std::string, std::string>>& ids);

// `name=$(sbatch ...)` lines, shell-quoted: the dry-run listing of a submission.
std::string format_submission(const std::vector<PlannedJob>& jobs);

// Single-quotes a word for the shell when it needs it.
std::string shell_quote(const std::string& word);

// Seconds of a Slurm time limit ("MM", "MM:SS", "HH:MM:SS", "D-HH", "D-HH:MM", "D-HH:MM:SS");
// InputError naming `what` otherwise. "UNLIMITED"/"INFINITE" are refused: the checkpoint signal
// needs a limit to count back from.
std::int64_t parse_time_limit(const std::string& text, const std::string& what);

}  // namespace csweep::slurm
