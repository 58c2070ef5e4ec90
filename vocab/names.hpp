#pragma once
// The names of an experiment's parts, one table each: ablation kinds, metrics, grid family kinds,
// components ("9.1", "mlp3", "n3.117"), path-patching receivers ("9.1q", "mlp5", "resid_final")
// and positions ("end", "S1", 3, -1). The engine (workers/interventions, workers/metrics), the job
// spec, `csweep plan` and the CLI all parse and print through these functions, so a spelling
// accepted by `csweep eval` is accepted by a job spec and vice versa (tests/unit/vocab checks it).
//
// Torch-free and TOML-free: the types named here are the plain data structs of
// workers/interventions/intervention.hpp and workers/metrics/metric_row.hpp (header-only).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vocab/vocabulary.hpp"
#include "workers/interventions/intervention.hpp"
#include "workers/metrics/metric_row.hpp"
#include "workers/pruning/run_spec.hpp"

namespace csweep::vocab {

// ---- Ablation kinds ---------------------------------------------------------------------------
// zero, mean, resample, patch_corrupt_into_clean (alias patch), patch_clean_into_corrupt,
// path_patch (aliases path_patching, path).
const Vocabulary<interv::AblationKind>& ablation_kinds();

// ---- Metrics ----------------------------------------------------------------------------------
// Canonical names are the HDF5 column names (reducers/schema.hpp).
const Vocabulary<metrics::Metric>& metrics();
// True when the metric needs the answer position's whole output distribution (a softmax over
// the vocabulary), not only the two answer logits: kl, prob_correct, accuracy, prob_diff.
// `csweep plan` sizes the unembedding's FLOPs with it.
bool needs_full_distribution(metrics::Metric m);

// ---- Grid family kinds (job spec [[families]] kind) --------------------------------------------
// A new kind is one enumerator here, one Term in names.cpp, and its enumeration in pipeline/grid.
enum class FamilyKind : std::uint8_t {
  kCombinations,  // all k-combinations of the pool, for each k in `k`
  kSubsets,       // all subsets of an explicit component set (non-empty unless include_empty)
  kPositions,     // every (single component, position) pair
  kPaths,         // every (sender, later receiver) pair, path patching
  kPruning,       // iterative node pruning runs: one member per (order, threshold)
  // Circuit stages: computed from a complete grid's results (or from files), not work units.
  kEdgePruning,   // edge pruning of node circuits by path patching (workers/circuits/edge_pruning)
  kFaithfulness,  // faithfulness curves of a ranking (workers/circuits/faithfulness)
};
const Vocabulary<FamilyKind>& family_kinds();
// True for the kinds that read other families' results (edge_pruning, faithfulness): they have
// no work units and are computed once the grid's units are complete (pipeline/circuit_stages).
bool is_circuit_stage(FamilyKind k);

// ---- Pruning orders (job spec [[families]] kind = "pruning", orders = [...]) -------------------
// Kinds: reference, reversed, random. In a job spec, "reference" and "reversed" are one order
// each, "random:N" is N seeded permutations (seeds 0..N-1) and "random#S" the one of seed S.
// One order's canonical name (results files, logs): "reference", "reversed", "random#S".
const Vocabulary<pruning::OrderKind>& pruning_order_kinds();
extern const char* const kPruningOrderForms;
std::vector<pruning::Order> parse_pruning_orders(std::string_view text, const std::string& where = {});
std::string pruning_order_name(const pruning::Order& o);

// ---- Components -------------------------------------------------------------------------------
// "L.H" head (e.g. "9.1"), "mlpL" or "mL" MLP (e.g. "mlp3", "m3"), "nL.I" neuron (e.g. "n3.117").
// Layer and index are decimal, at most 9 digits; canonical output: "9.1", "mlp3", "n3.117".
extern const char* const kComponentForms;
std::optional<interv::Component> find_component(std::string_view text);
interv::Component parse_component(std::string_view text, const std::string& where = {});
std::string component_name(const interv::Component& c);
// A set of components as one string, joined by '+': "9.1+4.4+mlp3" ("" for the empty set).
std::string components_name(const std::vector<interv::Component>& cs);
std::vector<interv::Component> parse_components(std::string_view joined, const std::string& where = {});

// ---- Path-patching receivers ------------------------------------------------------------------
// "resid_final", "mlpL" (an MLP's input), "L.Hq" / "L.Hk" / "L.Hv" (a head's query/key/value input).
extern const char* const kReceiverForms;
std::optional<interv::Receiver> find_receiver(std::string_view text);
interv::Receiver parse_receiver(std::string_view text, const std::string& where = {});
std::string receiver_name(const interv::Receiver& r);

// ---- Positions --------------------------------------------------------------------------------
// A position is a token index or a name defined by the task (vocab/tasks.hpp: "end", "S1", ...).
// Indices count from the prompt's first token (BOS included) when >= 0, from its end when < 0:
// -1 is the last token (= "end"), -2 the one before. "all" (kAllPositions) means every position.
constexpr int kMaxPositionIndex = (1 << 20) - 1;  // |index| bound, far above any context length
extern const char* const kAllPositions;
extern const char* const kPositionForms;
// The index spelled by `text` ("3", "-1"), or nullopt when it is not an integer.
std::optional<int> position_index(std::string_view text);
// Canonical label of one position: an integer's decimal form ("03" -> "3"), else the name as
// given. Throws InputError naming `where` for "", "all", an index beyond kMaxPositionIndex or a
// name that is not an identifier.
std::string position_label(std::string_view text, const std::string& where = {});
// Positions to intervene at from labels (validated with position_label); empty = all positions.
interv::Positions parse_positions(const std::vector<std::string>& labels, const std::string& where = {});

}  // namespace csweep::vocab
