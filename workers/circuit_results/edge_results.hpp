#pragma once
// Edge pruning's options and results as data (torch-free: the engine fills them,
// workers/circuits/edge_pruning.hpp; the pipeline stores them in /edges and /edge_circuits).
#include <vector>

#include "workers/interventions/edges.hpp"
#include "workers/interventions/intervention.hpp"
#include "workers/metrics/metric_row.hpp"

namespace csweep::circuits {

struct EdgePruningOptions {
  bool inside_circuit = true;      // false: path patching on the full model
  double ratio_threshold = 0.8;    // keep when LD ratio < this; <= 0 disables the rule
  double effect_threshold = 0.0;   // keep when |normalised effect| > this; <= 0 disables the rule
  interv::Positions positions;     // sender positions patched (all by default)
};

struct EdgeScore {
  interv::Edge edge;
  double logit_diff = 0;  // LD with the edge patched
  double ratio = 0;       // logit_diff / LD(circuit)
  double effect = 0;      // (logit_diff - LD(circuit)) / (LD_clean - LD_corrupt)
  bool kept = false;
};

struct EdgePruningResult {
  std::vector<interv::Component> circuit;
  std::vector<EdgeScore> edges;          // candidates in graph order
  metrics::MetricRow circuit_row;        // the circuit with every edge (nothing patched)
  metrics::MetricRow recheck;            // the circuit with only its kept edges
  int kept() const {
    int n = 0;
    for (const auto& e : edges) n += e.kept ? 1 : 0;
    return n;
  }
};

}  // namespace csweep::circuits
