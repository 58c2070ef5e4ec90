#pragma once
// One function per csweep subcommand; each lives in pipeline/cli/cmd_<name>.cpp, registers its
// options on the given app and sets the callback that runs it. Callbacks throw csweep::Error
// subclasses; main() maps them to exit codes (core/error.hpp).
#include <CLI/CLI.hpp>

namespace csweep::cli {

void add_inspect_command(CLI::App& app);   // config + parameter count of a model
void add_dump_command(CLI::App& app);      // run prompts, write logits + hooks to HDF5
void add_tokenize_command(CLI::App& app);  // JSONL text -> ids
void add_train_command(CLI::App& app);     // train the embedded default model
void add_plan_command(CLI::App& app);      // grid size, units, FLOPs, time and output estimates
void add_run_command(CLI::App& app);       // the sweep (MPI), resumable, into HDF5
void add_merge_command(CLI::App& app);     // shard files -> one results file; csweep cross-task
void add_eval_command(CLI::App& app);      // metrics of a task, optionally with components ablated
void add_analyze_command(CLI::App& app);   // results -> set algebra, tables, figures (Python)
void add_export_command(CLI::App& app);    // results -> tidy long CSV tables (Python)
// cmd_submit.cpp: the sweep as Slurm job arrays (pipeline/slurm/)
void add_submit_command(CLI::App& app);    // run directory, scripts, arrays + dependent merge
void add_status_command(CLI::App& app);    // per-shard progress and Slurm state of a run
void add_resubmit_command(CLI::App& app);  // the shards that are not complete, new merge

}  // namespace csweep::cli
