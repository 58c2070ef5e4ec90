#pragma once
// Scheduling work units over MPI ranks (torch-free; the evaluator is behind pipeline/evaluator.hpp).
//
//  * One rank (-np 1): evaluates every pending unit of the shard in order, in one process.
//  * P > 1 ranks: every rank evaluates. Rank 0 also coordinates and is the only writer of the
//    output: its main thread makes every MPI call (MPI_THREAD_FUNNELED), journals results and
//    hands out units, while a second thread evaluates rank 0's own share, so workers are answered
//    within the polling interval however long a unit takes. Dynamic chunked self-scheduling: an
//    idle worker (rank 0's thread included) gets a chunk of consecutive pending units, sized
//    ceil(remaining / (2 * evaluating ranks)) capped at max_chunk, so early chunks are large
//    (neighbouring units share caches) and the tail balances. Each finished unit goes to rank 0 as
//    one message (from its own thread: through a mutex-guarded mailbox) and is journaled there.
//  * A worker silent for longer than worker_timeout_s is declared lost: its in-flight units are
//    re-issued to others. If it comes back, its late results are discarded as duplicates (the
//    first result of a unit wins) and it gets work again. A worker that dies is a different story:
//    OpenMPI's mpirun aborts the whole job when a rank is killed (SIGKILL, OOM), so recovery there
//    is the resume: rerunning `csweep run` continues from the journal (docs/SWEEPS.md).
//  * SIGTERM/SIGINT to any rank stops the whole run: a signalled worker finishes the unit in hand,
//    hands back the rest and leaves; rank 0 (signalled, or told by a leaving worker) tells every
//    other worker to stop after its unit in hand, journals what returns and returns
//    interrupted = true (the caller compacts and exits kExitInterrupted). A rank 0 without an
//    evaluator stops the run the same way when every worker is lost while work is left. Workers
//    that never answer a stop (stop_grace_s) or never come back are counted in workers_lost: the
//    caller ends the job with MPI_Abort after compacting.
#include <mpi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/evaluator.hpp"
#include "pipeline/grid.hpp"
#include "reducers/ledger.hpp"

namespace csweep::pipeline {

struct ScheduleOptions {
  std::uint64_t first_unit = 0, last_unit = 0;  // the shard: units [first, last)
  double worker_timeout_s = 600;      // silence after which a worker's units are re-issued
  double progress_interval_s = 5;     // stderr progress line period (rank 0)
  double stop_grace_s = 30;           // after SIGTERM: how long to wait for workers' last units
  std::uint64_t max_chunk = 16;       // units per assignment, at most
};

struct ScheduleStats {
  std::uint64_t units_in_shard = 0;
  std::uint64_t units_done_before = 0;  // already in the output when this run started
  std::uint64_t units_done_now = 0;     // journaled by this run
  std::uint64_t units_reissued = 0;
  std::uint64_t workers_lost = 0;       // declared lost and never came back
  std::vector<std::uint64_t> units_by_rank;  // rank 0: units journaled from each rank this run
  bool interrupted = false;
  double seconds = 0;
};

// Installs SIGTERM/SIGINT handlers that only set a flag (checked between units).
void install_stop_handlers();
bool stop_requested();
void request_stop();  // as if a signal arrived (tests)

// Rank 0 (and the single rank): `ledger` is the output; `evaluator` is rank 0's engine (with
// P > 1 it may be null: rank 0 then only coordinates). Other ranks: `ledger` is null and
// `evaluator` is this rank's engine. With P > 1, rank 0's evaluator runs on a thread of its own
// (UnitEvaluator::enter_thread() is called there first).
ScheduleStats run_schedule(const Grid& grid, reducers::Ledger* ledger, UnitEvaluator* evaluator,
                           const ScheduleOptions& opt, MPI_Comm comm);

// "units 120/1000 (12.0%) | 35.2 units/s | ETA 0:00:25" — the progress line (exposed for tests).
std::string progress_line(std::uint64_t done, std::uint64_t total, double rate_units_per_s,
                          double interventions_per_s);

}  // namespace csweep::pipeline
