#include "workers/circuits/edge_pruning.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "vocab/names.hpp"
#include "workers/model/transformer.hpp"

namespace csweep::circuits {

using interv::Component;
using interv::ComponentKind;
using interv::EdgeIntervention;

std::vector<Component> complement(const std::vector<Component>& circuit, int n_layers, int n_heads) {
  std::vector<Component> out;
  auto in = [&](const Component& c) { return std::find(circuit.begin(), circuit.end(), c) != circuit.end(); };
  for (int l = 0; l < n_layers; ++l) {
    for (int h = 0; h < n_heads; ++h) {
      const Component c{ComponentKind::kHead, l, h};
      if (!in(c)) out.push_back(c);
    }
    const Component m{ComponentKind::kMlp, l, 0};
    if (!in(m)) out.push_back(m);
  }
  return out;
}

EdgePruningResult prune_edges(interv::Executor& ex, const interv::DatasetCache& cache,
                              const std::vector<Component>& circuit, const EdgePruningOptions& opt,
                              const metrics::MetricSet& want) {
  CSWEEP_CHECK_INPUT(opt.ratio_threshold > 0 || opt.effect_threshold > 0,
                     "edge pruning: no keep rule enabled (ratio_threshold {} and effect_threshold {}; "
                     "expected at least one > 0)", opt.ratio_threshold, opt.effect_threshold);
  const auto& cfg = ex.model().cfg();
  for (const auto& c : circuit) {
    CSWEEP_CHECK_INPUT(c.kind != ComponentKind::kNeuron, "edge pruning: circuit component {} is a neuron "
                       "(expected heads and MLPs)", vocab::component_name(c));
    CSWEEP_CHECK_INPUT(c.layer >= 0 && c.layer < cfg.n_layers && (c.kind == ComponentKind::kMlp || (c.index >= 0 && c.index < cfg.n_heads)),
                       "edge pruning: circuit component {} outside the model ({} layers of {} heads)",
                       vocab::component_name(c), cfg.n_layers, cfg.n_heads);
  }
  CSWEEP_CHECK_INPUT(!circuit.empty(), "edge pruning: the circuit is empty");
  EdgePruningResult res;
  res.circuit = circuit;
  const auto candidates = interv::edges_among(circuit, cfg.n_heads, cfg.n_kv_heads);
  const auto context = opt.inside_circuit ? complement(circuit, cfg.n_layers, cfg.n_heads)
                                          : std::vector<Component>{};
  // Row 0: the circuit itself; rows 1..: one candidate edge patched each.
  std::vector<EdgeIntervention> rows;
  rows.push_back({context, {}, opt.positions});
  for (const auto& e : candidates) rows.push_back({context, {e}, opt.positions});
  const auto scored = ex.evaluate_edges(cache, rows, want);
  res.circuit_row = scored[0];
  const double base = scored[0].logit_diff;
  const auto& bl = cache.baseline();
  const double span = bl.clean_logit_diff - bl.corrupted_logit_diff;
  for (size_t i = 0; i < candidates.size(); ++i) {
    EdgeScore s;
    s.edge = candidates[i];
    s.logit_diff = scored[i + 1].logit_diff;
    s.ratio = base != 0 ? s.logit_diff / base : std::nan("");
    s.effect = span != 0 ? (s.logit_diff - base) / span : std::nan("");
    const bool by_ratio = opt.ratio_threshold > 0 && s.ratio < opt.ratio_threshold;
    const bool by_effect = opt.effect_threshold > 0 && std::fabs(s.effect) > opt.effect_threshold;
    s.kept = by_ratio || by_effect;
    res.edges.push_back(s);
  }
  // Re-check: every candidate that was not kept patched together.
  EdgeIntervention recheck{context, {}, opt.positions};
  for (const auto& s : res.edges) {
    if (!s.kept) recheck.edges.push_back(s.edge);
  }
  res.recheck = ex.evaluate_edges(cache, {recheck}, want)[0];
  return res;
}

}  // namespace csweep::circuits
