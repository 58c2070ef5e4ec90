#pragma once
// Cross-task scores of pruning circuits (torch-free; the evaluator does the engine work).
//
// For every pruning circuit index (same model, seed, corruption, ablation, metric set, family,
// order and threshold) the circuit found on each task is evaluated on every task's prompts —
// kept alone, every other pool component ablated with the experiment's ablation kind — and so
// are the intersection and the union of all tasks' circuits (with two or more tasks). The study's
// own table: the numerals circuit scores 48 % on number words and 114 % on months.
//
// Derived from a complete file only (derived_tables.hpp): the circuits of every task must be
// there. `csweep run` adds the table when its unsharded grid completes, `csweep merge` when the
// merged file does, `csweep cross-task FILE` (re)computes it for any complete file.
#include <string>
#include <vector>

#include "pipeline/evaluator.hpp"
#include "pipeline/grid.hpp"
#include "reducers/writer.hpp"

namespace csweep::pipeline {

// The rows of /cross_task for the circuits in `results` (which must be complete and of `grid`).
std::vector<reducers::CrossTaskRow> cross_task_rows(const Grid& grid,
                                                    const std::vector<reducers::CircuitRow>& circuits,
                                                    UnitEvaluator& evaluator);

// True when the grid has a pruning family (so a cross-task table applies).
bool has_pruning_family(const JobSpec& job);

}  // namespace csweep::pipeline
