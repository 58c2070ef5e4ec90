#include "pipeline/derived_tables.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>

#include "core/error.hpp"
#include "core/files.hpp"
#include "pipeline/circuit_stages.hpp"
#include "pipeline/cross_task.hpp"

namespace csweep::pipeline {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

reducers::Results read_complete_results(const std::string& path, const Grid& grid,
                                        const std::string& needed_for) {
  reducers::Results r = reducers::read_results(path);
  if (r.meta.grid_fingerprint != grid.fingerprint())
    throw input_error(path, "was written for another grid than its job spec describes",
                      "fingerprint " + r.meta.grid_fingerprint, "fingerprint " + grid.fingerprint());
  const auto complete = r.meta.int_attrs.find("complete");
  if (complete == r.meta.int_attrs.end() || complete->second != 1 || r.meta.shard_count != 1)
    throw input_error(path, needed_for + " need the whole grid's results",
                      r.meta.shard_count != 1 ? fmt::format("shard {}/{}", r.meta.shard_index, r.meta.shard_count)
                                              : "an incomplete file",
                      "a complete file (finish the run, or `csweep merge` the shards first)");
  return r;
}

DerivedCounts applicable(const JobSpec& job, DerivedRequest want) {
  DerivedCounts c;
  c.cross_task = want.cross_task && has_pruning_family(job);
  c.stages = want.stages && has_circuit_stages(job);
  return c;
}

DerivedCounts add_derived_tables(const std::string& path, const Grid& grid, UnitEvaluator& evaluator,
                                 DerivedRequest want) {
  DerivedCounts c = applicable(grid.job(), want);
  if (!c.cross_task && !c.stages) return c;
  const char* needed_for = c.cross_task && c.stages ? "cross-task scores and circuit stages"
                           : c.cross_task          ? "cross-task scores"
                                                   : "circuit stages";
  reducers::Results r = read_complete_results(path, grid, needed_for);
  if (c.cross_task) {
    const auto t0 = std::chrono::steady_clock::now();
    if (!r.circuits.empty()) {
      spdlog::info("{}: cross-task scores of {} circuits", path, r.circuits.size());
      r.cross_task = cross_task_rows(grid, r.circuits, evaluator);
    }
    c.cross_task_rows = r.cross_task.size();
    c.cross_task_s = seconds_since(t0);
  }
  if (c.stages) {
    const auto t0 = std::chrono::steady_clock::now();
    compute_circuit_stages(grid, r, evaluator);
    c.stage_rows = r.edge_circuits.size() + r.curves.size();
    c.stages_s = seconds_since(t0);
  }
  reducers::write_results(path, r);
  // The JSON after the file it is derived from: a crash in between leaves an older JSON beside a
  // newer file, whose /faithfulness_curves are the source of truth (the JSON carries the grid
  // fingerprint, not a file version).
  if (c.stages && !r.curves.empty()) write_file_atomic(mib_json_path(path), mib_json(grid, r));
  return c;
}

}  // namespace csweep::pipeline
