#pragma once
// Tables derived from a complete results file rather than computed as work units: the cross-task
// scores of pruning circuits (cross_task.hpp) and the circuit stages (circuit_stages.hpp). Both
// read rows of every experiment of the grid, so both need the whole, unsharded file of this grid;
// this is the one place that checks it and the one read + atomic rewrite they share (`csweep run`
// at the end of an unsharded grid, `csweep merge`, `csweep cross-task`, `csweep circuits`).
#include <cstddef>
#include <string>

#include "pipeline/evaluator.hpp"
#include "pipeline/grid.hpp"
#include "reducers/writer.hpp"

namespace csweep::pipeline {

// Reads `path` and checks that it is complete, unsharded and written for `grid` (its
// fingerprint). InputError naming the path otherwise; `needed_for` says what needs it
// ("cross-task scores", ...).
reducers::Results read_complete_results(const std::string& path, const Grid& grid,
                                        const std::string& needed_for);

struct DerivedRequest {
  bool cross_task = true;  // /cross_task, when the grid has a pruning family
  bool stages = true;      // the circuit stages, when the grid has any
};

struct DerivedCounts {
  bool cross_task = false, stages = false;  // what applied (asked for and in the grid)
  std::size_t cross_task_rows = 0;
  std::size_t stage_rows = 0;  // edge circuits + faithfulness curves
  double cross_task_s = 0, stages_s = 0;
};

// What `want` asks for and the grid has: nothing applies -> nothing is read or written.
DerivedCounts applicable(const JobSpec& job, DerivedRequest want);

// Computes the applicable derived tables of `path` (read once, checked by
// read_complete_results), replacing earlier ones, and rewrites the file atomically once; with
// faithfulness curves also "<results>.faithfulness.json". Cross-task rows come first: a stage
// never reads them.
DerivedCounts add_derived_tables(const std::string& path, const Grid& grid, UnitEvaluator& evaluator,
                                 DerivedRequest want);

}  // namespace csweep::pipeline
