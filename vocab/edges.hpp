#pragma once
// Edge names (MIB's circuit-localisation spelling), torch-free: senders "a{l}.h{h}" (head) and
// "m{l}" (MLP); receivers "a{l}.h{h}<q|k|v>", "m{l}" and "logits" (the final residual stream),
// joined by "->": "a0.h1->a2.h3<q>", "m0->logits". Parsing also accepts the component spellings
// of names.hpp for nodes ("0.1", "mlp0"); printing is always MIB's.
#include <optional>
#include <string>
#include <string_view>

#include "workers/interventions/edges.hpp"

namespace csweep::vocab {

extern const char* const kEdgeForms;
std::optional<interv::Edge> find_edge(std::string_view text);
interv::Edge parse_edge(std::string_view text, const std::string& where = {});
std::string edge_name(const interv::Edge& e);

// Nodes: "a3.h1" / "m2" (also "3.1" / "mlp2"); heads and MLPs only.
std::optional<interv::Component> find_node(std::string_view text);
std::string node_name(const interv::Component& c);  // MIB spelling

// Receiver channels as stored in results: "q", "k", "v", "mlp", "resid".
std::string channel_name(interv::ReceiverKind k);

}  // namespace csweep::vocab
