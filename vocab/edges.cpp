#include "vocab/edges.hpp"

#include <fmt/format.h>

#include <cctype>

#include "core/error.hpp"
#include "vocab/names.hpp"

namespace csweep::vocab {

using interv::Component;
using interv::ComponentKind;
using interv::ReceiverKind;

const char* const kEdgeForms =
    "'SENDER->RECEIVER' with SENDER 'a{l}.h{h}' or 'm{l}' and RECEIVER 'a{l}.h{h}<q|k|v>', "
    "'m{l}' or 'logits' (e.g. 'a0.h1->a2.h3<q>', 'm0->logits')";

namespace {

std::optional<int> parse_uint(std::string_view s) {
  if (s.empty() || s.size() > 9) return std::nullopt;
  int v = 0;
  for (char ch : s) {
    if (!std::isdigit(static_cast<unsigned char>(ch))) return std::nullopt;
    v = v * 10 + (ch - '0');
  }
  return v;
}

}  // namespace

std::optional<Component> find_node(std::string_view s) {
  if (s.size() > 1 && s[0] == 'a') {
    const auto dot = s.find(".h");
    if (dot == std::string_view::npos) return std::nullopt;
    const auto l = parse_uint(s.substr(1, dot - 1)), h = parse_uint(s.substr(dot + 2));
    if (!l || !h) return std::nullopt;
    return Component{ComponentKind::kHead, *l, *h};
  }
  auto c = find_component(s);  // "3.1", "mlp3", "m3"
  if (!c || c->kind == ComponentKind::kNeuron) return std::nullopt;
  return c;
}

std::string node_name(const Component& c) {
  return c.kind == ComponentKind::kMlp ? fmt::format("m{}", c.layer) : fmt::format("a{}.h{}", c.layer, c.index);
}

std::string channel_name(ReceiverKind k) {
  switch (k) {
    case ReceiverKind::kHeadQ: return "q";
    case ReceiverKind::kHeadK: return "k";
    case ReceiverKind::kHeadV: return "v";
    case ReceiverKind::kMlpIn: return "mlp";
    case ReceiverKind::kResidFinal: return "resid";
  }
  return "?";
}

std::string edge_name(const interv::Edge& e) {
  std::string r;
  switch (e.receiver.kind) {
    case ReceiverKind::kHeadQ:
    case ReceiverKind::kHeadK:
    case ReceiverKind::kHeadV:
      r = fmt::format("a{}.h{}<{}>", e.receiver.layer, e.receiver.head, channel_name(e.receiver.kind));
      break;
    case ReceiverKind::kMlpIn: r = fmt::format("m{}", e.receiver.layer); break;
    case ReceiverKind::kResidFinal: r = "logits"; break;
  }
  return node_name(e.sender) + "->" + r;
}

std::optional<interv::Edge> find_edge(std::string_view text) {
  const auto arrow = text.find("->");
  if (arrow == std::string_view::npos) return std::nullopt;
  const auto sender = find_node(text.substr(0, arrow));
  if (!sender) return std::nullopt;
  interv::Edge e;
  e.sender = *sender;
  const auto r = text.substr(arrow + 2);
  if (r == "logits" || r == "resid_final") {
    e.receiver = {ReceiverKind::kResidFinal, 0, 0};
    return e;
  }
  if (!r.empty() && r.back() == '>') {
    const auto lt = r.find('<');
    if (lt == std::string_view::npos) return std::nullopt;
    const auto ch = r.substr(lt + 1, r.size() - lt - 2);
    const auto node = find_node(r.substr(0, lt));
    if (!node || node->kind != ComponentKind::kHead) return std::nullopt;
    ReceiverKind kind;
    if (ch == "q") kind = ReceiverKind::kHeadQ;
    else if (ch == "k") kind = ReceiverKind::kHeadK;
    else if (ch == "v") kind = ReceiverKind::kHeadV;
    else return std::nullopt;
    e.receiver = {kind, node->layer, node->index};
    return e;
  }
  const auto node = find_node(r);
  if (!node || node->kind != ComponentKind::kMlp) return std::nullopt;
  e.receiver = {ReceiverKind::kMlpIn, node->layer, 0};
  return e;
}

interv::Edge parse_edge(std::string_view text, const std::string& where) {
  if (auto e = find_edge(text)) return *e;
  throw input_error(where.empty() ? "edge" : where, "cannot parse", "'" + std::string(text) + "'", kEdgeForms);
}

}  // namespace csweep::vocab
