#pragma once
// Faithfulness curves of a ranking of components or edges, as the MIB benchmark's circuit
// localisation track defines them, evaluated exactly (every circuit is a real intervention, all
// of a curve's circuits in one batched evaluation).
//
// For a ranking of N items (best first) and a size k, the circuit C_k keeps the top k items and
// removes the other N - k: nodes are mean-ablated (or the ablation given), edges are patched
// (edges.hpp). Items that are not ranked stay untouched, so C_N = M (the full model) and C_0 = ∅
// (every ranked item removed). Faithfulness f(k) = (m(C_k) - m(∅)) / (m(M) - m(∅)).
// Sizes: k = floor(p N) for the MIB fractions p (.001 .002 .005 .01 .02 .05 .1 .2 .5 1), plus
// every integer size 0..integer_sizes_up_to for node rankings. CPR = sum of trapezoids of f over
// consecutive MIB fractions (linear x), CMD = the same over |1 - f|: MIB's area_under and
// area_from_1 (MIB_circuit_track/evaluation.py, evaluate_area_under_curve).
#include "workers/circuit_results/curves.hpp"
#include "workers/interventions/caches.hpp"
#include "workers/interventions/executor.hpp"

namespace csweep::circuits {

// One batched evaluation (m(M), m(∅) and every C_k). InputError for an empty ranking, fractions
// outside (0, 1] or not ascending, or m(M) == m(∅) (faithfulness undefined).
Curve faithfulness_curve(interv::Executor& ex, const interv::DatasetCache& cache, const Ranking& ranking,
                         const CurveOptions& opt);

}  // namespace csweep::circuits
