#pragma once
// Interventions as data (torch-free): which components, at which positions, ablated or patched
// how. The pipeline enumerates these from grid families; the engine evaluates them in batches.
#include <cstdint>
#include <string>
#include <vector>

namespace csweep::interv {

enum class ComponentKind : std::uint8_t { kHead, kMlp, kNeuron };

struct Component {
  ComponentKind kind = ComponentKind::kHead;
  int layer = 0;
  int index = 0;  // head index for kHead, neuron index for kNeuron, 0 for kMlp
  bool operator==(const Component& o) const {
    return kind == o.kind && layer == o.layer && index == o.index;
  }
  bool operator<(const Component& o) const {
    return layer != o.layer ? layer < o.layer : kind != o.kind ? kind < o.kind : index < o.index;
  }
};

// Text forms ("9.1" head, "mlp3" / "m3" MLP, "n3.117" neuron): vocab/names.hpp
// (vocab::parse_component, vocab::component_name).

enum class AblationKind : std::uint8_t {
  kZero,           // activation := 0
  kMean,           // activation := per-position (per template group) mean over the mean dataset
  kResample,       // activation := the corrupted run's activation of the same prompt
  kPatchCorruptIntoClean,  // clean run, component takes its corrupted activation (denoising = same)
  kPatchCleanIntoCorrupt,  // corrupted run, component takes its clean activation
  kPathPatch,      // sender -> receiver path patching (ARCHITECTURE §3)
};
// Names ("zero", "mean", "resample", ...): vocab::ablation_kinds() in vocab/names.hpp.

// Position selection: all positions, explicit indices (negative = from the end, -1 = "end"), or
// named positions of the task ("end", "S1"). Parsed from labels by vocab::parse_positions.
struct Positions {
  std::vector<int> indices;      // empty + names empty => all positions
  std::vector<std::string> names;
  bool all() const { return indices.empty() && names.empty(); }
};

// Path patching receivers ("9.1q", "mlp5", "resid_final": vocab::parse_receiver).
enum class ReceiverKind : std::uint8_t { kHeadQ, kHeadK, kHeadV, kMlpIn, kResidFinal };
struct Receiver {
  ReceiverKind kind = ReceiverKind::kResidFinal;
  int layer = 0;
  int head = 0;
};

struct Intervention {
  std::vector<Component> components;  // senders for path patching
  Positions positions;
  std::vector<Receiver> receivers;    // path patching only
};

}  // namespace csweep::interv
