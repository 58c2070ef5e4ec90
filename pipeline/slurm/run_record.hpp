#pragma once
// run.json: what a run directory is (written by csweep submit, extended by csweep resubmit, read
// by csweep status). It carries the job spec's hash (the copy in the directory must match it),
// the grid's unit count and every submission attempt with its job ids and exact sbatch calls.
//
//   RUN_DIR/run.json                  this record
//   RUN_DIR/job.toml                  the job spec, copied at submission
//   RUN_DIR/shard.sbatch, merge.sbatch
//   RUN_DIR/shards/shard-<i>-of-<N>.h5 (+ .journal while it runs)
//   RUN_DIR/logs/shard-<i>.log        every attempt of shard i, appended
//   RUN_DIR/logs/merge.log, logs/slurm-*.out (Slurm's own messages: time limit, OOM, ...)
//   RUN_DIR/results.h5                the merged tables;  RUN_DIR/analysis/  the analysis
#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/slurm/scripts.hpp"

namespace csweep::slurm {

inline constexpr int kRunRecordFormat = 1;

struct SubmittedJob {
  std::string job_id;
  std::vector<std::string> sbatch;  // the exact argv
  int base = -1;                    // arrays: shard of task 0
  std::vector<int> shards;          // arrays: the shards it runs
};

struct Attempt {
  std::string kind;  // "submit" | "resubmit"
  std::string time;  // UTC
  std::vector<SubmittedJob> arrays;
  SubmittedJob merge;
};

struct RunRecord {
  std::string job_spec_source;  // the path given to csweep submit
  std::string job_spec_sha256;  // of RUN_DIR/job.toml
  std::string job_name;
  std::uint64_t total_units = 0;
  std::int64_t max_array_size = 0;  // as read at submission
  int max_concurrent = 0;
  std::vector<std::string> sbatch_options;  // extra options given after `--`
  ScriptParams script;                      // everything the scripts were rendered from
  std::vector<Attempt> attempts;
};

std::string run_record_path(const std::string& run_dir);  // RUN_DIR/run.json
std::string shard_file_path(const std::string& run_dir, int shard, int shards);
std::string shard_log_path(const std::string& run_dir, int shard);
std::string results_path(const std::string& run_dir);

// Reads RUN_DIR/run.json; InputError naming the file and field when it is not one.
RunRecord read_run_record(const std::string& run_dir);
// Writes it atomically.
void write_run_record(const std::string& run_dir, const RunRecord& r);

// The latest attempt that submitted shard i (nullptr when none did) and its array.
const SubmittedJob* latest_array_of(const RunRecord& r, int shard);

}  // namespace csweep::slurm
