#pragma once
// Edge pruning of a node circuit by path patching (the reference study's second stage, built
// on edge-set interventions, workers/interventions/edges.hpp).
//
// Candidate edges: every edge among the circuit's heads and MLPs (edges_among): senders are its
// heads and MLPs, receivers the later circuit heads' q/k/v inputs, circuit MLPs (a head also
// sends to its own layer's MLP) and the final residual stream. Each edge is scored alone, all
// in one batch: the circuit run (inside = every component outside the circuit mean-ablated, as
// the study does; or the full model) with that one edge patched to the corrupted sender. Keep
// rules (either or both):
//   ratio:  LD(edge patched) / LD(circuit) < ratio_threshold        (study: 0.8)
//   effect: |LD(edge patched) - LD(circuit)| / (LD_clean - LD_corrupt) > effect_threshold
// Then the pruned circuit is re-checked: the circuit run with every candidate edge that was not
// kept patched at once, i.e. only the kept edges carry clean information.
//
// Unlike the study's code, every edge is scored against the unpatched circuit (patches do not
// accumulate from one candidate to the next) and an MLP sender patches the MLP's output, not
// the attention layer of its block (docs/CIRCUITS.md records both differences).
#include <vector>

#include "workers/circuit_results/edge_results.hpp"
#include "workers/interventions/caches.hpp"
#include "workers/interventions/executor.hpp"

namespace csweep::circuits {

// The components of the model outside `circuit` (every head and MLP not listed).
std::vector<interv::Component> complement(const std::vector<interv::Component>& circuit, int n_layers,
                                          int n_heads);

// Scores, keep decisions and the re-check: two batched evaluations (candidates + circuit, then
// the re-check). InputError for a circuit with neurons or components outside the model, or with
// no enabled keep rule.
EdgePruningResult prune_edges(interv::Executor& ex, const interv::DatasetCache& cache,
                              const std::vector<interv::Component>& circuit,
                              const EdgePruningOptions& opt, const metrics::MetricSet& want);

}  // namespace csweep::circuits
