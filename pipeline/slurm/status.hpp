#pragma once
// `csweep status RUN_DIR`: where a submitted sweep stands, from the run directory itself (shard
// files, their journals, the logs the scripts append to) plus the controller's view of the jobs
// (`scontrol show job`) when it can be reached. No accounting database (sacct) is needed.
#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/slurm/run_record.hpp"

namespace csweep::slurm {

// Exit codes of `csweep status` besides kExitOk (complete); they extend core/error.hpp's ExitCode
// for this command only and are documented with it in README.md.
inline constexpr int kExitStatusActive = 3;  // pending or running, nothing failed
inline constexpr int kExitStatusFailed = 4;  // a shard or the merge failed: csweep resubmit

enum class Phase { kComplete, kActive, kFailed };

struct ShardStatus {
  int index = 0;
  std::uint64_t done = 0, total = 0;  // units of the shard in its file + journal
  Phase phase = Phase::kActive;
  std::string state;      // COMPLETED, PENDING, RUNNING, FAILED, ..., or what the log says
  std::string job;        // "<array job>_<task>" of the latest attempt ("" = never submitted)
  int restarts = 0;       // starts in the log minus one (requeues and resubmissions)
  std::string last_line;  // last line of logs/shard-<i>.log
  double rate = 0;        // units/s of the running attempt (units journaled since it started)
  std::string problem;    // the shard file cannot be read or belongs to another grid
};

struct RunStatus {
  std::string run_dir;
  RunRecord record;
  bool slurm_reachable = false;
  std::vector<ShardStatus> shards;
  std::uint64_t done = 0, total = 0;
  double rate = 0;          // sum over running shards
  double eta_s = -1;        // remaining / rate; -1 = unknown
  ShardStatus merge;        // index -1; done/total unused
  bool results_complete = false;
  Phase phase = Phase::kActive;
};

RunStatus collect_status(const std::string& run_dir);
std::string format_status(const RunStatus& s);
// kExitOk, kExitStatusActive or kExitStatusFailed.
int status_exit_code(const RunStatus& s);

// Units of shard i of N when the grid has `total_units` (reducers' one definition of a shard).
std::uint64_t shard_units(std::uint64_t total_units, int shard, int shards);

}  // namespace csweep::slurm
