#pragma once
// Iterative node pruning as data (torch-free): what one pruning run is asked to do and what it
// returns. The pipeline (job spec `kind = "pruning"`, grid, reducers) builds RunSpecs and stores
// RunResults; the pruners (workers/pruning/pruner.hpp) compute them. docs/PRUNING.md states the
// semantics; in short:
//
//  * Start from the full model (or, nested, from the previous threshold's circuit). A candidate
//    is removed when, ablated on top of everything already removed, 100 - performance < T
//    (performance = 100 * mean LD / mean LD_clean over the prompts, LD at the answer position).
//  * Reference order: one pass = backward over layers L-1 .. 0 (at each layer the MLP first,
//    then heads 0..H-1), then forward over layers 0 .. L-1 (heads 0..H-1, then the MLP). A pass
//    visits every component of the pool that is still in the circuit, in that sequence.
//    `reversed` visits the reference pass's sequence back to front; `random` visits one seeded
//    permutation of the pool (the same one every pass), each component once per pass.
//  * Passes repeat until one removes nothing (or once, one_iter). Nested thresholds run from the
//    highest required performance (smallest T) to the lowest, each from the previous circuit.
#include <cstdint>
#include <vector>

#include "workers/interventions/intervention.hpp"
#include "workers/metrics/metric_row.hpp"

namespace csweep::pruning {

// Names ("reference", "reversed", "random:N" in a job spec): vocab::pruning_orders().
enum class OrderKind : std::uint8_t { kReference, kReversed, kRandom };

struct Order {
  OrderKind kind = OrderKind::kReference;
  std::uint64_t seed = 0;  // kRandom: the permutation's seed (random:N gives seeds 0..N-1)
};

struct RunSpec {
  // The candidates: heads and MLPs (no neurons), sorted by (layer, kind, index), unique.
  std::vector<interv::Component> pool;
  // Thresholds T in percent (0 < T <= 100). Not nested: exactly one. Nested: ascending T (the
  // highest required performance first); circuit i+1 starts from circuit i.
  std::vector<double> thresholds;
  bool nested = false;
  bool one_iter = false;  // stop after the first pass (per threshold)
  Order order;
};

// One candidate evaluation: the candidate ablated on top of everything removed so far.
struct Step {
  std::int32_t threshold_index = 0;  // into RunSpec::thresholds
  std::int32_t pass = 0;             // 0-based, per threshold
  std::int32_t position = 0;         // index of the candidate in this pass's visiting sequence
  interv::Component component;
  double performance = 0;            // percent, with the candidate (and the removed set) ablated
  bool removed = false;
};

struct Circuit {
  double threshold = 0;
  std::vector<std::uint8_t> kept;    // per RunSpec::pool entry: 1 = in the circuit
  std::int32_t passes = 0;           // passes run for this threshold (the last removed nothing
                                     // unless one_iter)
  std::int64_t evaluations = 0;      // candidate evaluations for this threshold
  // The circuit kept alone: every pool component not in it ablated, the experiment's metrics.
  metrics::MetricRow metrics;
};

struct RunResult {
  std::vector<Circuit> circuits;     // one per RunSpec::thresholds, same order
  std::vector<Step> steps;           // every evaluation, in evaluation order
};

}  // namespace csweep::pruning
