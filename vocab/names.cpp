#include "vocab/names.hpp"

#include <fmt/format.h>

#include <cctype>

namespace csweep::vocab {

using interv::AblationKind;
using interv::ComponentKind;
using interv::ReceiverKind;
using metrics::Metric;

const Vocabulary<AblationKind>& ablation_kinds() {
  static const Vocabulary<AblationKind> v(
      "ablation kind",
      {{AblationKind::kZero, "zero", {}, "activation := 0"},
       {AblationKind::kMean, "mean", {}, "activation := its per-position (per group) mean over the mean dataset"},
       {AblationKind::kResample, "resample", {}, "activation := the corrupted run's activation of the same prompt"},
       {AblationKind::kPatchCorruptIntoClean, "patch_corrupt_into_clean", {"patch"},
        "clean run; the component takes its corrupted activation"},
       {AblationKind::kPatchCleanIntoCorrupt, "patch_clean_into_corrupt", {},
        "corrupted run; the component takes its clean activation"},
       {AblationKind::kPathPatch, "path_patch", {"path_patching", "path"},
        "sender -> receiver path patching (families of kind paths)"}});
  return v;
}

const Vocabulary<Metric>& metrics() {
  static const Vocabulary<Metric> v(
      "metric",
      {{Metric::kLogitDiff, "logit_diff", {"ld"}, "LD = logit(correct) - logit(incorrect), mean"},
       {Metric::kPerformance, "performance", {"perf"}, "100 * LD / LD_clean"},
       {Metric::kNormalized, "normalized", {"normalised"}, "(LD - LD_corrupt) / (LD_clean - LD_corrupt)"},
       {Metric::kKL, "kl", {}, "KL(clean || intervened) at the answer position, mean"},
       {Metric::kProbCorrect, "prob_correct", {"p_correct"}, "p(correct), mean"},
       {Metric::kAccuracy, "accuracy", {"top1", "acc"}, "top-1 == correct, mean"},
       {Metric::kProbDiff, "prob_diff", {}, "greater-than: sum p(years > YY) - sum p(years <= YY), mean"}});
  return v;
}

bool needs_full_distribution(Metric m) {
  switch (m) {
    case Metric::kLogitDiff:
    case Metric::kPerformance:
    case Metric::kNormalized: return false;
    case Metric::kKL:
    case Metric::kProbCorrect:
    case Metric::kAccuracy:
    case Metric::kProbDiff: return true;
  }
  CSWEEP_ASSERT(false, "unknown metric {}", static_cast<int>(m));
  return true;
}

const Vocabulary<FamilyKind>& family_kinds() {
  static const Vocabulary<FamilyKind> v(
      "family kind",
      {{FamilyKind::kCombinations, "combinations", {}, "all k-combinations of the pool, for each k"},
       {FamilyKind::kSubsets, "subsets", {}, "all subsets of an explicit component list"},
       {FamilyKind::kPositions, "positions", {}, "every (single component, position) pair"},
       {FamilyKind::kPaths, "paths", {}, "every (sender, later receiver) pair, path patching"},
       {FamilyKind::kPruning, "pruning", {},
        "iterative node pruning: one circuit per (order, threshold)"},
       {FamilyKind::kEdgePruning, "edge_pruning", {},
        "edge pruning of node circuits by path patching (computed once the grid is complete)"},
       {FamilyKind::kFaithfulness, "faithfulness", {},
        "faithfulness curves (MIB) of a ranking of nodes or edges (computed once the grid is "
        "complete)"}});
  return v;
}

bool is_circuit_stage(FamilyKind k) {
  return k == FamilyKind::kEdgePruning || k == FamilyKind::kFaithfulness;
}

// ---- Pruning orders -----------------------------------------------------------------------------

const Vocabulary<pruning::OrderKind>& pruning_order_kinds() {
  static const Vocabulary<pruning::OrderKind> v(
      "pruning order",
      {{pruning::OrderKind::kReference, "reference", {},
        "backward L-1..0 (MLP, then heads), then forward 0..L-1 (heads, then MLP)"},
       {pruning::OrderKind::kReversed, "reversed", {}, "the reference pass back to front"},
       {pruning::OrderKind::kRandom, "random", {},
        "one seeded permutation of the pool, the same every pass"}});
  return v;
}

const char* const kPruningOrderForms =
    "\"reference\", \"reversed\", \"random:N\" (N seeded permutations, seeds 0..N-1) or "
    "\"random#S\" (the permutation of seed S)";

std::vector<pruning::Order> parse_pruning_orders(std::string_view text, const std::string& where) {
  const auto bad = [&](const std::string& why) {
    return input_error(where.empty() ? "pruning order" : where, why, "'" + std::string(text) + "'",
                       kPruningOrderForms);
  };
  const auto number = [&](std::string_view digits, std::uint64_t max) {
    if (digits.empty() || digits.size() > 9) throw bad("not a pruning order");
    std::uint64_t v = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') throw bad("not a pruning order");
      v = v * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (v > max) throw bad("number out of range");
    return v;
  };
  if (text == "reference") return {{pruning::OrderKind::kReference, 0}};
  if (text == "reversed") return {{pruning::OrderKind::kReversed, 0}};
  if (text.rfind("random:", 0) == 0) {
    const auto n = number(text.substr(7), 100000);
    if (n == 0) throw bad("random:0 gives no order");
    std::vector<pruning::Order> out;
    for (std::uint64_t s = 0; s < n; ++s) out.push_back({pruning::OrderKind::kRandom, s});
    return out;
  }
  if (text.rfind("random#", 0) == 0)
    return {{pruning::OrderKind::kRandom, number(text.substr(7), 999999999)}};
  throw bad("unknown pruning order");
}

std::string pruning_order_name(const pruning::Order& o) {
  if (o.kind == pruning::OrderKind::kRandom) return "random#" + std::to_string(o.seed);
  return pruning_order_kinds().name(o.kind);
}

// ---- Components ---------------------------------------------------------------------------------

namespace {

// A non-negative decimal integer of at most 9 digits occupying all of `s` (no sign, no space).
std::optional<int> parse_uint(std::string_view s) {
  if (s.empty() || s.size() > 9) return std::nullopt;
  int v = 0;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// "L.I" -> (L, I).
std::optional<std::pair<int, int>> parse_pair(std::string_view s) {
  const auto dot = s.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  auto a = parse_uint(s.substr(0, dot)), b = parse_uint(s.substr(dot + 1));
  if (!a || !b) return std::nullopt;
  return std::make_pair(*a, *b);
}

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

}  // namespace

const char* const kComponentForms =
    "'L.H' for a head (e.g. '9.1'), 'mlpL' or 'mL' for an MLP (e.g. 'mlp3'), 'nL.I' for a neuron "
    "(e.g. 'n3.117')";

std::optional<interv::Component> find_component(std::string_view text) {
  interv::Component c;
  if (starts_with(text, "mlp") || starts_with(text, "m")) {
    auto l = parse_uint(text.substr(starts_with(text, "mlp") ? 3 : 1));
    if (!l) return std::nullopt;
    c.kind = ComponentKind::kMlp;
    c.layer = *l;
    return c;
  }
  const bool neuron = starts_with(text, "n");
  auto p = parse_pair(neuron ? text.substr(1) : text);
  if (!p) return std::nullopt;
  c.kind = neuron ? ComponentKind::kNeuron : ComponentKind::kHead;
  c.layer = p->first;
  c.index = p->second;
  return c;
}

interv::Component parse_component(std::string_view text, const std::string& where) {
  if (auto c = find_component(text)) return *c;
  throw input_error(where.empty() ? "component" : where, "cannot parse component", quoted(text),
                    kComponentForms);
}

std::string component_name(const interv::Component& c) {
  switch (c.kind) {
    case ComponentKind::kHead: return fmt::format("{}.{}", c.layer, c.index);
    case ComponentKind::kMlp: return fmt::format("mlp{}", c.layer);
    case ComponentKind::kNeuron: return fmt::format("n{}.{}", c.layer, c.index);
  }
  CSWEEP_ASSERT(false, "unknown component kind {}", static_cast<int>(c.kind));
  return {};
}

std::string components_name(const std::vector<interv::Component>& cs) {
  std::string s;
  for (const auto& c : cs) s += (s.empty() ? "" : "+") + component_name(c);
  return s;
}

std::vector<interv::Component> parse_components(std::string_view joined, const std::string& where) {
  std::vector<interv::Component> out;
  if (joined.empty()) return out;
  std::size_t start = 0;
  while (true) {
    const auto plus = joined.find('+', start);
    out.push_back(parse_component(joined.substr(start, plus == std::string_view::npos ? plus : plus - start), where));
    if (plus == std::string_view::npos) break;
    start = plus + 1;
  }
  return out;
}

// ---- Receivers ----------------------------------------------------------------------------------

const char* const kReceiverForms =
    "'resid_final', 'mlpL' (an MLP's input) or 'L.Hq' / 'L.Hk' / 'L.Hv' (a head's query, key or "
    "value input), e.g. '9.1q'";

std::optional<interv::Receiver> find_receiver(std::string_view text) {
  interv::Receiver r;
  if (text == "resid_final") {
    r.kind = ReceiverKind::kResidFinal;
    return r;
  }
  if (starts_with(text, "mlp")) {
    auto l = parse_uint(text.substr(3));
    if (!l) return std::nullopt;
    r.kind = ReceiverKind::kMlpIn;
    r.layer = *l;
    return r;
  }
  if (text.empty()) return std::nullopt;
  switch (text.back()) {
    case 'q': r.kind = ReceiverKind::kHeadQ; break;
    case 'k': r.kind = ReceiverKind::kHeadK; break;
    case 'v': r.kind = ReceiverKind::kHeadV; break;
    default: return std::nullopt;
  }
  auto p = parse_pair(text.substr(0, text.size() - 1));
  if (!p) return std::nullopt;
  r.layer = p->first;
  r.head = p->second;
  return r;
}

interv::Receiver parse_receiver(std::string_view text, const std::string& where) {
  if (auto r = find_receiver(text)) return *r;
  throw input_error(where.empty() ? "receiver" : where, "cannot parse receiver", quoted(text),
                    kReceiverForms);
}

std::string receiver_name(const interv::Receiver& r) {
  switch (r.kind) {
    case ReceiverKind::kHeadQ: return fmt::format("{}.{}q", r.layer, r.head);
    case ReceiverKind::kHeadK: return fmt::format("{}.{}k", r.layer, r.head);
    case ReceiverKind::kHeadV: return fmt::format("{}.{}v", r.layer, r.head);
    case ReceiverKind::kMlpIn: return fmt::format("mlp{}", r.layer);
    case ReceiverKind::kResidFinal: return "resid_final";
  }
  CSWEEP_ASSERT(false, "unknown receiver kind {}", static_cast<int>(r.kind));
  return {};
}

// ---- Positions ----------------------------------------------------------------------------------

const char* const kAllPositions = "all";
const char* const kPositionForms =
    "a token index (0 = the first token, -1 = the last = \"end\") or a position name of the task "
    "(\"end\", \"S1\", ...)";

std::optional<int> position_index(std::string_view text) {
  const bool neg = !text.empty() && text[0] == '-';
  auto v = parse_uint(neg ? text.substr(1) : text);
  if (!v) return std::nullopt;
  return neg ? -*v : *v;
}

std::string position_label(std::string_view text, const std::string& where) {
  const std::string w = where.empty() ? "position" : where;
  if (auto i = position_index(text)) {
    if (*i > kMaxPositionIndex || *i < -kMaxPositionIndex)
      throw input_error(w, "position index out of range", quoted(text),
                        fmt::format("an index in [-{0}, {0}]", kMaxPositionIndex));
    return std::to_string(*i);
  }
  bool ident = !text.empty() && std::isalpha(static_cast<unsigned char>(text[0]));
  for (char c : text) ident = ident && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
  if (!ident || text == kAllPositions)
    throw input_error(w, "invalid position", quoted(text),
                      std::string(kPositionForms) +
                          (text == kAllPositions ? "; \"all\" stands alone, not in a list" : ""));
  return std::string(text);
}

interv::Positions parse_positions(const std::vector<std::string>& labels, const std::string& where) {
  interv::Positions p;
  for (const auto& l : labels) {
    const std::string label = position_label(l, where);
    if (auto i = position_index(label))
      p.indices.push_back(*i);
    else
      p.names.push_back(label);
  }
  return p;
}

}  // namespace csweep::vocab
