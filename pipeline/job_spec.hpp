#pragma once
// Job spec: the one declarative description of a sweep (jobs/*.toml), parsed with toml++ and
// validated once (torch-free). docs/SWEEPS.md documents every key; jobs/quickstart.toml is the
// smallest complete example.
//
// Every error names the file, the line, the key, the offending value and what was expected;
// unknown keys are errors (a typo must not silently fall back to a default).
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vocab/compute.hpp"
#include "vocab/names.hpp"
#include "workers/interventions/intervention.hpp"
#include "workers/metrics/metric_row.hpp"
#include "workers/model/config.hpp"
#include "workers/circuit_results/curves.hpp"
#include "workers/pruning/run_spec.hpp"

namespace csweep::pipeline {

struct ModelSpec {
  std::string name;  // label in the results file
  std::string path;  // as written ("default" = the embedded default model)
  // Architecture given in the spec (`config = {n_layers=.., n_heads=.., ...}`); needed for
  // checkpoints whose config cannot be read without loading them (GGUF) and for tests.
  std::optional<model::ModelConfig> config;
  std::string origin;  // "file:line" for later errors
  std::string path_origin;  // "file:line: models[i].path" of the path key ("" = origin + ".path")
};

struct TaskSpec {
  std::string name;       // label, e.g. "digits"
  std::string generator;  // task generator (vocab/tasks.hpp), e.g. "digits"; defaults to name
  nlohmann::json params;  // generator parameters, passed through to the task module untouched
  std::string origin;
  // From tasks::check_task_params at load: the named positions its prompts define, and its
  // number of prompts (-1 = known only once the custom prompt file is read).
  std::vector<std::string> position_names;
  int n_prompts = 0;
  // Clean-model filter (`filter = true`): keep the prompts whose clean top-1 is the correct answer
  // and p(correct) > 2 p(incorrect), as the reference study does; the baselines count the dropped.
  bool filter = false;
};

// Which components a family draws from: an explicit list, or every head / MLP / neuron of the
// model restricted to a layer range and an index set.
struct PoolSpec {
  // kNodes: every head (restricted to `heads` when given) and every MLP of the layer range, the
  // pruning family's default pool.
  enum class Kind { kExplicit, kHeads, kMlps, kNeurons, kNodes };
  Kind kind = Kind::kHeads;
  std::vector<interv::Component> components;  // kExplicit
  int layer_first = 0, layer_last = -1;       // inclusive; -1 = the model's last layer
  std::vector<int> indices;                   // head (kHeads) / neuron (kNeurons) indices; empty = all
  std::string origin;          // "file:line: families[i]" of the table
  std::string layers_origin;   // "file:line: families[i].layers" (where the key is), else origin
  std::string indices_origin;  // same for heads / neurons
};

// Family kinds and their names: vocab/names.hpp (vocab::family_kinds()).
using vocab::FamilyKind;

struct FamilySpec {
  std::string name;
  FamilyKind kind = FamilyKind::kCombinations;
  PoolSpec pool;                 // senders for kPaths
  std::vector<int> k;            // kCombinations, ascending, unique
  bool include_empty = false;    // kSubsets
  // Positions: one canonical label (vocab::position_label) per element of the spec's `positions`
  // list ("end", "S1", "3", "-1").
  // kPositions: each entry is a grid dimension; other kinds: all entries together form the
  // positions of every intervention. Empty = all positions.
  std::vector<std::string> position_labels;
  std::vector<interv::Receiver> receivers;  // kPaths; empty + all_receivers => every later one
  bool all_receivers = false;
  std::vector<interv::AblationKind> ablations;  // resolved: the family's or the job's list
  std::vector<std::string> corruptions;  // the family's `corruptions`; empty = every corruption
  // kPruning (workers/pruning/run_spec.hpp): thresholds T in percent, ascending, unique (the
  // family's `thresholds`, else [experiments] thresholds); orders expanded ("random:8" = 8 seeds),
  // unique; nested = one run per order walks every threshold, each from the previous circuit.
  std::vector<double> thresholds;
  std::vector<pruning::Order> orders;
  bool nested = false;
  bool one_iter = false;
  std::string origin;
};

// A circuit stage ([[families]] of kind edge_pruning or faithfulness): it reads other families'
// results, so it has no work units; pipeline/circuit_stages.hpp computes it once the grid is
// complete (and from `csweep circuits FILE`). Its rows go to /edges + /edge_circuits or
// /faithfulness + /faithfulness_curves (reducers/schema.hpp).
struct CircuitStageSpec {
  std::string name;
  FamilyKind kind = FamilyKind::kEdgePruning;
  std::vector<std::string> corruptions;  // empty = every corruption (explicit sources only)
  // edge_pruning: the node circuits, from exactly one of
  //   `from`: a pruning family of this grid, its circuits at `thresholds` (default: all of its
  //           thresholds) found by `orders` (default: reference), each on its own experiment;
  //   `circuit`: one explicit circuit, on every experiment;
  //   `circuit_file`: {"task": {"heads": [...], "mlps": [...]}}, one circuit per task.
  std::string from;
  std::vector<double> thresholds;
  std::vector<pruning::Order> orders;
  std::vector<interv::Component> circuit;
  std::string circuit_file;
  std::vector<std::vector<interv::Component>> task_circuits;  // per task of the job
  bool inside = true;   // path patching inside the circuit (the rest mean-ablated), else full model
  double ratio = 0.8;   // keep when LD(edge patched) / LD(circuit) < ratio (0: rule off)
  double effect = 0.0;  // keep when |normalised effect| > effect (0: rule off)
  // faithfulness: the ranking, from exactly one of
  //   `ranking`: a combinations family of this grid with k = 1 (single-component effects:
  //              clean LD - LD ablated, per experiment);
  //   `scores_file`: MIB scores JSON ({"nodes": ...} or {"edges": ...}), on every experiment.
  std::string ranking;
  std::string scores_file;
  circuits::Ranking file_ranking;  // scores_file, read at load
  bool absolute = true;            // rank by |score| (MIB's default)
  std::vector<double> fractions;   // MIB fractions by default
  int integer_sizes_up_to = 64;    // node rankings: also every size 0..this
  std::vector<interv::AblationKind> ablations;  // faithfulness of scores_file nodes: removal kind
  std::string origin;
};

struct OutputSpec {
  std::string path;         // results file (relative paths are relative to the working dir)
  bool per_prompt = false;  // store per-prompt logit differences
};

struct BatchingSpec {
  std::uint64_t unit_size = 256;                      // interventions per work unit
  std::uint64_t max_interventions_per_forward = 64;   // engine batch cap
  // CPU threads per rank. Fixed by the job, not by the machine or MPI binding, because fp32
  // reductions change with the thread count and every run of a grid must give identical tables.
  int threads_per_rank = 1;
};

// [compute]: where every rank computes and in what precision (workers/model/device_policy.hpp).
// The dtype is part of the grid (its fingerprint and the file's "dtype" attribute); the device
// is not (a GPU and a CPU give the same fp32 tables up to rounding), so a run may resume on
// other hardware. `csweep run --device` overrides the device.
struct ComputeSpec {
  vocab::DeviceRequest device;                  // default auto
  std::string device_where = "compute.device";  // "file:line: compute.device" when given
  vocab::ComputeDtype dtype = vocab::ComputeDtype::kFloat32;
  std::string dtype_where = "compute.dtype";
};
struct MemorySpec {
  double max_gb_per_rank = 0;  // 0 = no limit (engine sizes its batches to this)
};

struct JobSpec {
  std::string path;  // file it was read from ("<string>" for text)
  std::string text;  // the TOML text, stored verbatim as provenance
  std::string name;
  std::vector<ModelSpec> models;
  std::vector<TaskSpec> tasks;
  std::vector<std::string> corruptions;
  std::vector<interv::AblationKind> ablations;
  std::vector<std::vector<metrics::Metric>> metric_sets;
  std::vector<std::int64_t> seeds;
  std::vector<double> thresholds;  // pruning thresholds T (percent); stored for analysis
  std::string mean_over = "corrupted";  // dataset of the per-position means: "corrupted" | "clean"
  std::vector<FamilySpec> families;
  std::vector<CircuitStageSpec> stages;  // [[families]] of a circuit-stage kind, in spec order
  OutputSpec output;
  BatchingSpec batching;
  MemorySpec memory;
  ComputeSpec compute;
};

JobSpec load_job_spec(const std::string& path);
JobSpec parse_job_spec(const std::string& text, const std::string& path);

// Where the model's files are: "default" -> the embedded default model (models/default next to
// the build or install, or $CSWEEP_DEFAULT_MODEL); otherwise the path as given (relative to the
// working directory). Returned canonical (std::filesystem::weakly_canonical) so logs show one
// spelling. A path that does not exist is an InputError "path does not exist" naming the spec's
// file, line, key and value — raised here, before any loader or config reader sees the path.
std::string resolve_model_path(const ModelSpec& m);

// Architecture of a model without loading its weights: the spec's `config`, else config.json of
// a Hugging Face folder. Throws InputError naming the model entry when neither is available.
model::ModelConfig model_config(const ModelSpec& m);

}  // namespace csweep::pipeline
