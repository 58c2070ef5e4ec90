#pragma once
// The bodies of `csweep run` and `csweep merge`, independent of the engine: the evaluator comes
// from a factory, so the same code runs the real engine (pipeline/cli/cmd_run.cpp) and the
// deterministic evaluator of the MPI tests (tests/mpi/).
//
// run_main reads as: MPI init -> spec -> grid -> ledger (rank 0) -> evaluator (every rank) ->
// schedule -> compact -> MPI finalize.
#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/evaluator.hpp"

namespace csweep::pipeline {

struct RunRequest {
  std::string job_path;
  std::string output;              // "" = the spec's output.path (shards: suffixed, see below)
  std::string shard;               // "" or "i/N" (0 <= i < N)
  double worker_timeout_s = 600;   // re-issue the units of a worker silent this long
  double progress_interval_s = 5;
  double stop_grace_s = 30;
  std::uint64_t max_chunk = 16;
  std::string device;               // "" = the spec's compute.device; else overrides it (--device)
  bool summary = true;             // print the largest effect per family and experiment at the end
};

// Longest accepted --worker-timeout: a week. A larger value (or 0, a negative or a non-finite one)
// is a typo; with it a lost worker would never have its units re-issued.
inline constexpr double kMaxWorkerTimeoutS = 7 * 24 * 3600.0;
// "" when `seconds` is a valid --worker-timeout, else what is wrong with it (the CLI's usage error).
std::string worker_timeout_problem(double seconds);

// Shard i of N writes "<stem>.shard<i>of<N>.h5" unless --output names a file.
std::string shard_output_path(const std::string& base, int index, int count);
// Parses "i/N"; InputError naming --shard otherwise.
std::pair<int, int> parse_shard(const std::string& text);

// Initialises MPI (only this command uses it), runs the sweep and finalises MPI. Returns the exit
// code: kExitOk, or kExitInterrupted after SIGTERM/SIGINT (the output is durable and resumable).
// Errors: with one rank they propagate (after MPI_Finalize); with several ranks the failing rank
// prints the error and calls MPI_Abort, so no rank is left waiting.
int run_main(const RunRequest& req, const EvaluatorFactory& make_evaluator);

// `csweep merge OUT SHARD...`: checks coverage and writes OUT; prints a one-line summary.
void merge_main(const std::string& out, const std::vector<std::string>& shards);

// The process's command line (from /proc/self/cmdline), for provenance.
std::string command_line();
// Current UTC time, ISO 8601.
std::string utc_now();

}  // namespace csweep::pipeline
