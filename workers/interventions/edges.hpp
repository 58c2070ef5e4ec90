#pragma once
// Edges of the computational graph and edge-set interventions (torch-free).
//
// The graph (docs/ENGINE.md, "Edges"): nodes are attention heads (output z_h W_O[h]) and MLPs
// (hook_mlp_out); receivers are a later head's query / key / value input, an MLP's input, or the
// final residual stream. An edge s -> r is the direct contribution of s's output to r's input
// through the residual stream. Patching a SET of edges E on a run means: every receiver r reads
//
//     input_r = (its input in this run) + sum over (s -> r) in E of (out_s^alt - out_s^this run)
//
// where out_s^alt is s's output in the corrupted run. Everything not patched is recomputed from
// the run's own activations, so patching composes: patching every edge into r hands r the
// corrupted senders' outputs whatever happened upstream, and "the circuit with only these edges"
// is the run with every other edge patched. For a single edge this equals three-pass path
// patching with every other head and every MLP frozen to its clean value; the study's path
// patching (MLPs recomputed) additionally routes the sender through later MLPs, which double
// counts once MLPs are nodes with edges of their own (see docs/ENGINE.md).
#include <cstdint>
#include <string>
#include <vector>

#include "workers/interventions/intervention.hpp"

namespace csweep::interv {

// Receivers compare by what they address: the final residual stream has no layer or head, an
// MLP no head.
inline bool same_receiver(const Receiver& a, const Receiver& b) {
  if (a.kind != b.kind) return false;
  if (a.kind == ReceiverKind::kResidFinal) return true;
  return a.layer == b.layer && (a.kind == ReceiverKind::kMlpIn || a.head == b.head);
}

struct Edge {
  Component sender;   // a head or an MLP
  Receiver receiver;  // q/k/v of a later head (k/v: key-value head index), an MLP, the final resid
  bool operator==(const Edge& o) const { return sender == o.sender && same_receiver(receiver, o.receiver); }
};

// Edge names ("a0.h1->a2.h3<q>", MIB's spelling) are in vocab/edges.hpp.

// One row of an edge-set batch: the context (nodes mean-ablated, e.g. everything outside a
// circuit) and the edges patched on top of it, at the selected sender positions.
struct EdgeIntervention {
  std::vector<Component> ablated;  // heads / MLPs replaced by their per-position mean
  std::vector<Edge> edges;         // patched edges (duplicates count once)
  Positions positions;             // sender positions whose outputs are patched (all by default)
};

// InputError naming the problem for an edge that does not fit the model or the graph (sender
// after its receiver, neuron senders, receivers or senders that are mean-ablated).
void validate_edge_intervention(const EdgeIntervention& iv, int n_layers, int n_heads,
                                int n_kv_heads);

// True when s may send to r: heads write before later layers' attention and their own layer's
// MLP; MLPs write before later layers; everything reaches the final residual stream.
bool edge_allowed(const Component& s, const Receiver& r);

// Every edge among `nodes` (heads and MLPs) in graph order: senders by layer (heads, then the
// MLP), receivers q/k/v of every later head in `nodes` (k/v for grouped-query models addressed
// by the kv head of a query head in `nodes`), MLPs in `nodes`, and the final residual stream.
std::vector<Edge> edges_among(const std::vector<Component>& nodes, int n_heads, int n_kv_heads);

}  // namespace csweep::interv
