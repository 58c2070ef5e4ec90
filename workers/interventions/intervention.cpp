// Text forms of interventions: the spellings users write in job specs and on the command line,
// and the ones written back into results (to_string(parse(x)) is canonical).
#include "workers/interventions/intervention.hpp"

#include <fmt/format.h>

#include <cctype>
#include <utility>

#include "core/error.hpp"

namespace csweep::interv {

namespace {

// Parses a non-negative decimal integer occupying text[pos, end); false on anything else.
bool parse_uint(const std::string& text, std::size_t pos, std::size_t end, int& out) {
  if (pos >= end || end - pos > 9) return false;
  int v = 0;
  for (std::size_t i = pos; i < end; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) return false;
    v = v * 10 + (text[i] - '0');
  }
  out = v;
  return true;
}

const char* kComponentForms = "'L.H' for a head (e.g. '9.1'), 'mlpL' or 'mL' for an MLP (e.g. 'mlp3'), "
                              "'nL.I' for a neuron (e.g. 'n3.117')";

}  // namespace

Component parse_component(const std::string& text) {
  Component c;
  const std::size_t dot = text.find('.');
  bool ok = false;
  if (text.rfind("mlp", 0) == 0) {
    c.kind = ComponentKind::kMlp;
    ok = parse_uint(text, 3, text.size(), c.layer);
  } else if (text.rfind("m", 0) == 0) {
    c.kind = ComponentKind::kMlp;
    ok = parse_uint(text, 1, text.size(), c.layer);
  } else if (text.rfind("n", 0) == 0 && dot != std::string::npos) {
    c.kind = ComponentKind::kNeuron;
    ok = parse_uint(text, 1, dot, c.layer) && parse_uint(text, dot + 1, text.size(), c.index);
  } else if (dot != std::string::npos) {
    c.kind = ComponentKind::kHead;
    ok = parse_uint(text, 0, dot, c.layer) && parse_uint(text, dot + 1, text.size(), c.index);
  }
  if (!ok) throw input_error("component", "cannot parse", "'" + text + "'", kComponentForms);
  return c;
}

std::string to_string(const Component& c) {
  switch (c.kind) {
    case ComponentKind::kHead: return fmt::format("{}.{}", c.layer, c.index);
    case ComponentKind::kMlp: return fmt::format("mlp{}", c.layer);
    case ComponentKind::kNeuron: return fmt::format("n{}.{}", c.layer, c.index);
  }
  CSWEEP_ASSERT(false, "unknown component kind {}", static_cast<int>(c.kind));
  return {};
}

namespace {

// Canonical spelling first, then accepted aliases.
const std::pair<const char*, AblationKind> kAblationNames[] = {
    {"zero", AblationKind::kZero},
    {"mean", AblationKind::kMean},
    {"resample", AblationKind::kResample},
    {"patch_corrupt_into_clean", AblationKind::kPatchCorruptIntoClean},
    {"patch_clean_into_corrupt", AblationKind::kPatchCleanIntoCorrupt},
    {"path_patch", AblationKind::kPathPatch},
    {"patch", AblationKind::kPatchCorruptIntoClean},
    {"path_patching", AblationKind::kPathPatch},
    {"path", AblationKind::kPathPatch},
};

}  // namespace

AblationKind parse_ablation_kind(const std::string& text) {
  for (const auto& [name, kind] : kAblationNames) {
    if (text == name) return kind;
  }
  throw input_error("ablation kind", "unknown kind", "'" + text + "'",
                    "one of zero, mean, resample, patch_corrupt_into_clean (patch), "
                    "patch_clean_into_corrupt, path_patch");
}

const char* to_string(AblationKind k) {
  for (const auto& [name, kind] : kAblationNames) {
    if (kind == k) return name;
  }
  CSWEEP_ASSERT(false, "unknown ablation kind {}", static_cast<int>(k));
  return "";
}

}  // namespace csweep::interv
