#pragma once
// Circuit stages (torch-free; the evaluator does the engine work): the [[families]] of kind
// edge_pruning and faithfulness, computed from a complete grid's results.
//
// They read other families' results (a pruning family's circuits, a single-ablation table), so
// they are not work units: they are derived from a complete file (derived_tables.hpp) when
// `csweep run`'s unsharded grid completes, when `csweep merge` merges one, or by
// `csweep circuits FILE`. Each stage costs a few batched evaluations per experiment (edge pruning: one
// batch scoring every candidate edge plus one re-check; a curve: one batch of every size).
//
//  * edge_pruning -> /edge_circuits (one row per node circuit) and /edges (every candidate edge,
//    its LD with the edge patched, ratio, normalised effect, kept), workers/circuits/edge_pruning.
//  * faithfulness -> /faithfulness_curves (CPR, CMD, the ranking) and /faithfulness (every point),
//    plus "<results>.faithfulness.json": the curves in MIB's result layout, one entry per curve
//    with the experiment's names.
#include <string>

#include "pipeline/evaluator.hpp"
#include "pipeline/grid.hpp"
#include "reducers/writer.hpp"

namespace csweep::pipeline {

bool has_circuit_stages(const JobSpec& job);

// Fills the circuit-stage tables of `results` (complete, written for `grid`), replacing earlier
// ones. InputError when a stage's source is missing from the file (e.g. a ranking family's
// single-component rows).
void compute_circuit_stages(const Grid& grid, reducers::Results& results, UnitEvaluator& evaluator);

// "<results without .h5>.faithfulness.json"
std::string mib_json_path(const std::string& results_path);

// The curves of `results` in MIB's result layout (one entry per curve, with the experiment's
// names), written beside the results file by add_derived_tables (derived_tables.hpp).
std::string mib_json(const Grid& grid, const reducers::Results& results);

}  // namespace csweep::pipeline
