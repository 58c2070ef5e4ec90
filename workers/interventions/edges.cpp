#include "workers/interventions/edges.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <tuple>

#include "core/error.hpp"
#include "vocab/edges.hpp"
#include "vocab/names.hpp"

namespace csweep::interv {

bool edge_allowed(const Component& s, const Receiver& r) {
  if (r.kind == ReceiverKind::kResidFinal) return true;
  if (r.kind == ReceiverKind::kMlpIn) {
    return s.kind == ComponentKind::kHead ? r.layer >= s.layer : r.layer > s.layer;
  }
  return r.layer > s.layer;
}

void validate_edge_intervention(const EdgeIntervention& iv, int n_layers, int n_heads,
                                int n_kv_heads) {
  auto check_node = [&](const Component& c, const char* what) {
    CSWEEP_CHECK_INPUT(c.kind != ComponentKind::kNeuron,
                       "{} {}: neurons are not nodes of the edge graph (expected heads or MLPs)",
                       what, vocab::component_name(c));
    CSWEEP_CHECK_INPUT(c.layer >= 0 && c.layer < n_layers, "{} {}: layer {} outside the model's 0..{}",
                       what, vocab::component_name(c), c.layer, n_layers - 1);
    if (c.kind == ComponentKind::kHead) {
      CSWEEP_CHECK_INPUT(c.index >= 0 && c.index < n_heads, "{} {}: head {} outside the model's 0..{}",
                         what, vocab::component_name(c), c.index, n_heads - 1);
    }
  };
  for (const auto& c : iv.ablated) check_node(c, "ablated component");
  auto ablated = [&](const Component& c) {
    return std::find(iv.ablated.begin(), iv.ablated.end(), c) != iv.ablated.end();
  };
  for (const auto& e : iv.edges) {
    const std::string name = vocab::edge_name(e);
    check_node(e.sender, ("edge " + name + ": sender").c_str());
    const auto& r = e.receiver;
    if (r.kind != ReceiverKind::kResidFinal) {
      CSWEEP_CHECK_INPUT(r.layer >= 0 && r.layer < n_layers,
                         "edge {}: receiver layer {} outside the model's 0..{}", name, r.layer, n_layers - 1);
    }
    if (r.kind == ReceiverKind::kHeadQ || r.kind == ReceiverKind::kHeadK || r.kind == ReceiverKind::kHeadV) {
      const int limit = r.kind == ReceiverKind::kHeadQ ? n_heads : n_kv_heads;
      CSWEEP_CHECK_INPUT(r.head >= 0 && r.head < limit, "edge {}: receiver head {} outside 0..{}{}", name,
                         r.head, limit - 1, r.kind == ReceiverKind::kHeadQ ? "" : " (key-value heads)");
    }
    CSWEEP_CHECK_INPUT(edge_allowed(e.sender, r),
                       "edge {}: the sender does not write before the receiver reads (expected a "
                       "receiver in a later layer, or the same layer's MLP for a head sender)", name);
    // A mean-ablated node's output is a constant in every run, so patching it means nothing; a
    // mean-ablated receiver ignores its input. Both indicate a circuit/edge mismatch upstream.
    CSWEEP_CHECK_INPUT(!ablated(e.sender), "edge {}: the sender is mean-ablated in this intervention",
                       name);
    if (r.kind == ReceiverKind::kMlpIn) {
      CSWEEP_CHECK_INPUT(!ablated({ComponentKind::kMlp, r.layer, 0}),
                         "edge {}: the receiving MLP is mean-ablated in this intervention", name);
    } else if (r.kind == ReceiverKind::kHeadQ) {
      CSWEEP_CHECK_INPUT(!ablated({ComponentKind::kHead, r.layer, r.head}),
                         "edge {}: the receiving head is mean-ablated in this intervention", name);
    }
  }
}

std::vector<Edge> edges_among(const std::vector<Component>& nodes_in, int n_heads, int n_kv_heads) {
  std::vector<Component> nodes;
  for (const auto& c : nodes_in) {
    CSWEEP_CHECK_INPUT(c.kind != ComponentKind::kNeuron,
                       "component {}: neurons are not nodes of the edge graph", vocab::component_name(c));
    if (std::find(nodes.begin(), nodes.end(), c) == nodes.end()) nodes.push_back(c);
  }
  // Graph order: by layer, heads before the MLP (Component's operator< orders kinds head < MLP).
  std::sort(nodes.begin(), nodes.end());
  const int group = n_kv_heads > 0 ? n_heads / n_kv_heads : 1;
  // K/V receivers: the key-value heads the circuit's query heads read, once each.
  std::set<std::pair<int, int>> kv;
  for (const auto& c : nodes) {
    if (c.kind == ComponentKind::kHead) kv.insert({c.layer, c.index / group});
  }
  std::vector<Receiver> ordered;
  for (const auto& c : nodes) {
    if (c.kind == ComponentKind::kHead) {
      ordered.push_back({ReceiverKind::kHeadQ, c.layer, c.index});
      // The kv head's K and V edges are listed with its first query head in the circuit.
      const auto key = std::make_pair(c.layer, c.index / group);
      if (kv.erase(key) > 0) {
        ordered.push_back({ReceiverKind::kHeadK, c.layer, key.second});
        ordered.push_back({ReceiverKind::kHeadV, c.layer, key.second});
      }
    } else {
      ordered.push_back({ReceiverKind::kMlpIn, c.layer, 0});
    }
  }
  ordered.push_back({ReceiverKind::kResidFinal, 0, 0});
  std::vector<Edge> out;
  for (const auto& s : nodes) {
    for (const auto& r : ordered) {
      if (edge_allowed(s, r)) out.push_back({s, r});
    }
  }
  return out;
}

}  // namespace csweep::interv
