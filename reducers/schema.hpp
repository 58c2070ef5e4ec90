#pragma once
// The one definition of every table csweep writes to HDF5 (torch-free).
//
// File layout (all tables are column-oriented: one 1-D or 2-D dataset per column, so h5py, pandas
// and nothing of ours can read them):
//
//   /                       attributes: provenance (kProvenanceAttributes, including "complete")
//                           and the name lists that index columns refer to ("model_names", ...)
//   /baselines/<column>     one row per experiment (kBaselineColumns)
//   /tables/<family>/<col>  one group per intervention family, one row per evaluated intervention
//                           (kInterventionColumns); group attributes: family kind, its spec (JSON),
//                           position_labels
//   /ledger/unit            sorted ids of the work units whose rows are in this file; attributes
//                           total_units, grid_fingerprint, shard_index, shard_count, unit_size
//   /ledger/segments/<col>  the grid's unit layout (kSegmentColumns, reducers/layout.hpp): which
//                           rows each unit holds, so the tables can be checked against the ledger
//   /circuits/<col>         pruning families only: one row per circuit (kCircuitColumns)
//   /pruning_steps/<col>    every candidate evaluation of every pruning run (kPruningStepColumns)
//   /cross_task/<col>       circuits evaluated on the other tasks (kCrossTaskColumns)
//   /edge_circuits/<col>    circuit stages (kind edge_pruning): one row per node circuit whose
//                           edges were pruned, with the re-check (kEdgeCircuitColumns)
//   /edges/<col>            every candidate edge of those circuits, its score and keep decision
//                           (kEdgeColumns)
//   /faithfulness_curves/<col>  circuit stages (kind faithfulness): one row per curve, CPR / CMD
//                           (kFaithfulnessCurveColumns)
//   /faithfulness/<col>     every point of those curves (kFaithfulnessColumns)
//
// Every dataset carries the attributes "dims" (dimension names separated by single spaces, e.g.
// "row component", the one convention of every HDF5 file csweep writes, `csweep dump` included),
// "unit" and "doc". Every non-empty dataset is chunked with the fletcher32 checksum filter: a
// value changed on disk after writing fails the read instead of being returned.
// Rows are sorted canonically (kSortKey) so the same grid gives byte-identical tables whatever the
// number of ranks, the order units finished in, or the shard split.
//
// Table kinds: intervention tables (/tables/<family>) and /baselines are checked against the
// ledger on every read (layout.hpp verify_contents). Tables of another kind (e.g. the analysis'
// circuits) get their own column list here and their own group; they are not indexed by work
// units and so are not part of that check.
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "workers/interventions/edges.hpp"
#include "workers/interventions/intervention.hpp"
#include "workers/metrics/metric_row.hpp"

namespace csweep::reducers {

// 2: NaN for metrics not requested, /ledger/segments, journal records carry the grid fingerprint,
//    fletcher32 checksums, space-separated "dims".
// 3: per-segment unit sizes (/ledger/segments/unit_size: a pruning run is one unit whatever
//    batching.unit_size says), /circuits, /pruning_steps, /cross_task. Version-2 files are read
//    (their segments all have the /ledger attribute unit_size); files are written as version 3.
inline constexpr int kFormatVersion = 3;
inline constexpr int kOldestReadableFormatVersion = 2;

// kString: fixed-length UTF-8, NUL-padded to the longest value (so the column is chunked,
// compressed and checksummed like the numbers; h5py: `ds.asstr()[()]`).
enum class DType : std::uint8_t { kInt8, kInt32, kInt64, kUInt64, kFloat32, kFloat64, kString };

struct Column {
  const char* name;
  DType dtype;
  const char* dims;  // "row" or "row component" / "row prompt" (2-D, padded)
  const char* unit;
  const char* doc;
};

// Experiment index columns, shared by every table. Each is an index into a root name list.
// Sort order of every table: these, in this order, then "intervention".
inline constexpr Column kExperimentColumns[] = {
    {"model", DType::kInt32, "row", "index", "index into root attribute model_names"},
    {"seed", DType::kInt32, "row", "index", "index into root attribute seeds"},
    {"task", DType::kInt32, "row", "index", "index into root attribute task_names"},
    {"corruption", DType::kInt32, "row", "index", "index into root attribute corruption_names"},
    {"ablation", DType::kInt32, "row", "index", "index into root attribute ablation_names"},
    {"metric_set", DType::kInt32, "row", "index", "index into root attribute metric_sets (JSON)"},
};

inline constexpr Column kBaselineColumns[] = {
    {"clean_logit_diff", DType::kFloat64, "row", "logit", "mean LD of the clean run"},
    {"corrupted_logit_diff", DType::kFloat64, "row", "logit", "mean LD of the corrupted run"},
    {"clean_accuracy", DType::kFloat64, "row", "fraction", "top-1 accuracy of the clean run"},
    {"corrupted_accuracy", DType::kFloat64, "row", "fraction", "top-1 accuracy, corrupted run"},
    {"clean_prob_correct", DType::kFloat64, "row", "probability", "mean p(correct), clean run"},
    {"n_prompts", DType::kInt32, "row", "count", "prompts in the dataset (after the clean-model filter)"},
    {"n_dropped_by_filter", DType::kInt32, "row", "count",
     "prompts the clean-model filter (tasks[].filter) removed; 0 without the filter"},
};

// Columns of /tables/<family>, after kExperimentColumns.
inline constexpr Column kInterventionColumns[] = {
    {"intervention", DType::kUInt64, "row", "index", "index of the intervention in its family"},
    {"n_components", DType::kInt32, "row", "count", "components ablated (senders for paths)"},
    {"components", DType::kString, "row", "name",
     "the components as one name, '+'-joined in component_* order: \"9.1+4.4\" (layer 9 head 1 and "
     "layer 4 head 4), \"mlp3\", \"n3.117\" (neuron 117 of layer 3); \"\" = none (empty subset)"},
    {"component_kind", DType::kInt8, "row component", "enum",
     "0 head, 1 mlp, 2 neuron; -1 pads rows with fewer components"},
    {"component_layer", DType::kInt32, "row component", "index", "layer; -1 = padding"},
    {"component_index", DType::kInt32, "row component", "index",
     "head index (heads), neuron index (neurons), 0 (mlps); -1 = padding"},
    {"position", DType::kInt32, "row", "index",
     "-1 = all positions, else index into the group attribute position_labels"},
    {"receiver_kind", DType::kInt8, "row", "enum",
     "path patching receiver: 0 q, 1 k, 2 v, 3 mlp_in, 4 resid_final; -1 = not a path"},
    {"receiver_layer", DType::kInt32, "row", "index", "receiver layer; -1 = not a path"},
    {"receiver_head", DType::kInt32, "row", "index", "receiver head; -1 = not a head receiver"},
    // Metric columns: NaN where the experiment's metric set (root attribute metric_sets) does not
    // request the metric, never 0 (an accuracy of 0 would read as a result).
    {"logit_diff", DType::kFloat64, "row", "logit",
     "mean LD = logit(correct) - logit(incorrect); NaN when not requested"},
    {"performance", DType::kFloat64, "row", "percent", "100 * LD / LD_clean; NaN when not requested"},
    {"normalized", DType::kFloat64, "row", "fraction",
     "(LD - LD_corrupt) / (LD_clean - LD_corrupt); NaN when not requested"},
    {"kl", DType::kFloat64, "row", "nat",
     "KL(clean || intervened) at the answer position, mean; NaN when not requested"},
    {"prob_correct", DType::kFloat64, "row", "probability", "mean p(correct); NaN when not requested"},
    {"accuracy", DType::kFloat64, "row", "fraction", "top-1 accuracy; NaN when not requested"},
    {"prob_diff", DType::kFloat64, "row", "probability",
     "greater-than: sum p(year > YY) - sum p(year <= YY), mean; NaN when not requested or the task "
     "is not greater_than"},
    {"per_prompt_logit_diff", DType::kFloat32, "row prompt", "logit",
     "LD per prompt; present only when the job asks for it (output.per_prompt = true)"},
};

inline constexpr Column kLedgerColumns[] = {
    {"unit", DType::kUInt64, "unit", "index", "ids of the work units whose rows this file holds"},
};

// Columns of /ledger/segments, after kExperimentColumns: one row per (experiment, family) of the
// grid; its `size` interventions are units first_unit .. first_unit + n_units - 1, each holding
// /ledger attribute unit_size consecutive interventions (the last one the rest).
inline constexpr Column kSegmentColumns[] = {
    {"family", DType::kInt32, "segment", "index", "index into root attribute family_names"},
    {"first_unit", DType::kUInt64, "segment", "index", "id of the segment's first unit"},
    {"n_units", DType::kUInt64, "segment", "count", "units of the segment"},
    {"size", DType::kUInt64, "segment", "count", "interventions of the family in the experiment"},
    {"unit_size", DType::kUInt64, "segment", "count",
     "interventions per unit of this segment (the last unit holds the rest): batching.unit_size, "
     "or for pruning families the circuits of one run (nested: one per threshold, else 1)"},
};

// ---- Pruning (family kind "pruning", workers/pruning/run_spec.hpp) -----------------------------
// A pruning family's /tables/<family> row of intervention `i` is circuit i: its components are
// the pool components the run removed (the circuit kept alone = those ablated) and its metrics
// are the circuit's. Intervention index i = order * n_thresholds + threshold_index, where order
// indexes the family spec's "orders" and threshold_index its ascending "thresholds"; one run
// (one unit) is one (order, threshold) or, nested, one order with all its thresholds.
// The tables below add what a circuit is and how it was found; they are written only when the
// grid has a pruning family, and checked against the pruning tables' rows on every read.

// /circuits/<col>, after kExperimentColumns: one row per circuit (= per pruning-table row).
inline constexpr Column kCircuitColumns[] = {
    {"family", DType::kInt32, "row", "index", "index into root attribute family_names"},
    {"circuit", DType::kUInt64, "row", "index",
     "the circuit's intervention index in /tables/<family> (order * n_thresholds + threshold_index)"},
    {"threshold", DType::kFloat64, "row", "percent",
     "T: a component was removed when 100 - performance < T with it ablated (T = 20: the 80% circuit)"},
    {"threshold_index", DType::kInt32, "row", "index", "index into the family's ascending thresholds"},
    {"order_kind", DType::kInt8, "row", "enum", "removal order: 0 reference, 1 reversed, 2 random"},
    {"order_seed", DType::kUInt64, "row", "index", "seed of a random order (0 otherwise)"},
    {"order", DType::kString, "row", "name", "the order's name: reference, reversed, random#S"},
    {"nested", DType::kInt8, "row", "flag", "1: the run started from the previous threshold's circuit"},
    {"kept", DType::kInt8, "row pool", "flag",
     "per component of the family's pool (group /tables/<family> attribute spec: resolved[model].pool): "
     "1 in the circuit, 0 removed, -1 padding (a smaller pool of another model)"},
    {"components", DType::kString, "row", "name",
     "the circuit as one name, '+'-joined in pool order: \"0.1+4.4+mlp0\"; \"\" = empty circuit"},
    {"n_heads", DType::kInt32, "row", "count", "heads in the circuit"},
    {"n_mlps", DType::kInt32, "row", "count", "MLPs in the circuit"},
    {"passes", DType::kInt32, "row", "count", "passes over the candidates at this threshold (the "
     "last removed nothing unless one_iter)"},
    {"evaluations", DType::kInt64, "row", "count", "candidate evaluations at this threshold"},
    // Metrics of the circuit kept alone (every pool component outside it ablated), as in
    // kInterventionColumns (NaN where not requested).
    {"logit_diff", DType::kFloat64, "row", "logit", "mean LD, circuit kept alone; NaN when not requested"},
    {"performance", DType::kFloat64, "row", "percent",
     "100 * LD / LD_clean, circuit kept alone; NaN when not requested"},
    {"normalized", DType::kFloat64, "row", "fraction",
     "(LD - LD_corrupt) / (LD_clean - LD_corrupt), circuit kept alone; NaN when not requested"},
    {"kl", DType::kFloat64, "row", "nat", "KL(clean || circuit), mean; NaN when not requested"},
    {"prob_correct", DType::kFloat64, "row", "probability", "mean p(correct); NaN when not requested"},
    {"accuracy", DType::kFloat64, "row", "fraction", "top-1 accuracy; NaN when not requested"},
    {"prob_diff", DType::kFloat64, "row", "probability",
     "greater-than probability difference; NaN when not requested or not greater_than"},
};

// /pruning_steps/<col>, after kExperimentColumns: every candidate evaluation, in evaluation order.
inline constexpr Column kPruningStepColumns[] = {
    {"family", DType::kInt32, "row", "index", "index into root attribute family_names"},
    {"circuit", DType::kUInt64, "row", "index",
     "the circuit (row of /circuits, intervention of /tables/<family>) this step led to"},
    {"step", DType::kInt64, "row", "index", "0-based evaluation index within the run"},
    {"pass", DType::kInt32, "row", "index", "0-based pass within the threshold"},
    {"position", DType::kInt32, "row", "index", "index of the candidate in the pass's visiting sequence"},
    {"component_kind", DType::kInt8, "row", "enum", "the candidate: 0 head, 1 mlp"},
    {"component_layer", DType::kInt32, "row", "index", "the candidate's layer"},
    {"component_index", DType::kInt32, "row", "index", "head index (heads), 0 (mlps)"},
    {"component", DType::kString, "row", "name", "the candidate's name: \"9.1\", \"mlp3\""},
    {"performance", DType::kFloat64, "row", "percent",
     "100 * LD / LD_clean with the candidate ablated on top of everything removed before it"},
    {"removed", DType::kInt8, "row", "flag", "1: removed (100 - performance < threshold)"},
};

// /cross_task/<col>, after kExperimentColumns (whose `task` is the task evaluated ON): every
// circuit of a pruning family evaluated on every task of the grid with the same model, seed,
// corruption, ablation and metric set, plus per circuit index the intersection and the union of
// all tasks' circuits. Derived from /circuits once the grid is complete (`csweep cross-task`).
inline constexpr Column kCrossTaskColumns[] = {
    {"family", DType::kInt32, "row", "index", "index into root attribute family_names"},
    {"circuit", DType::kUInt64, "row", "index", "the circuits' intervention index (same order and threshold)"},
    {"circuit_task", DType::kInt32, "row", "index",
     "whose circuit: index into root attribute task_names; -1 = intersection of every task's "
     "circuit, -2 = their union"},
    {"components", DType::kString, "row", "name", "the circuit evaluated, '+'-joined"},
    {"n_components", DType::kInt32, "row", "count", "components in that circuit"},
    {"logit_diff", DType::kFloat64, "row", "logit", "mean LD on task `task`; NaN when not requested"},
    {"performance", DType::kFloat64, "row", "percent",
     "100 * LD / LD_clean of task `task`, the circuit kept alone; NaN when not requested"},
    {"normalized", DType::kFloat64, "row", "fraction", "normalised LD; NaN when not requested"},
    {"kl", DType::kFloat64, "row", "nat", "KL(clean || circuit); NaN when not requested"},
    {"prob_correct", DType::kFloat64, "row", "probability", "mean p(correct); NaN when not requested"},
    {"accuracy", DType::kFloat64, "row", "fraction", "top-1 accuracy; NaN when not requested"},
    {"prob_diff", DType::kFloat64, "row", "probability", "greater-than probability difference; NaN when not requested"},
};
inline constexpr std::int32_t kCrossTaskIntersection = -1, kCrossTaskUnion = -2;

// ---- Circuit stages (derived from a complete grid: pipeline/circuit_stages.hpp) ----------------
// Each group carries the attributes grid_fingerprint (the file's) and stages (JSON list of the
// stages' canonical definitions, pipeline/grid.hpp stage_json). Rows after kExperimentColumns.

// /edge_circuits/<col>: one node circuit of an edge_pruning stage.
inline constexpr Column kEdgeCircuitColumns[] = {
    {"stage", DType::kString, "row", "name", "the edge_pruning family's name"},
    {"circuit", DType::kUInt64, "row", "index",
     "the circuit's id within (experiment, stage): the source pruning circuit's intervention index "
     "(from = <pruning family>), else 0"},
    {"source", DType::kString, "row", "name",
     "where the circuit came from: \"<pruning family>/<order>/T<threshold>\", \"circuit\" (the "
     "spec's list) or \"circuit_file\""},
    {"threshold", DType::kFloat64, "row", "percent", "the source pruning circuit's threshold T; NaN otherwise"},
    {"order", DType::kString, "row", "name", "the source pruning circuit's order; \"\" otherwise"},
    {"components", DType::kString, "row", "name", "the node circuit, '+'-joined: \"0.1+4.4+mlp0\""},
    {"n_components", DType::kInt32, "row", "count", "heads and MLPs in the circuit"},
    {"n_candidates", DType::kInt64, "row", "count", "candidate edges among the circuit's nodes (rows in /edges)"},
    {"n_kept", DType::kInt64, "row", "count", "edges kept"},
    {"inside", DType::kInt8, "row", "flag",
     "1: path patching inside the circuit (everything outside it mean-ablated); 0: full model"},
    {"ratio_rule", DType::kFloat64, "row", "fraction",
     "keep an edge when LD(edge patched) / LD(circuit) < this; 0 = rule off"},
    {"effect_rule", DType::kFloat64, "row", "fraction",
     "keep an edge when |LD(edge patched) - LD(circuit)| / (LD_clean - LD_corrupt) > this; 0 = rule off"},
    {"clean_logit_diff", DType::kFloat64, "row", "logit", "LD_clean of the experiment"},
    {"corrupted_logit_diff", DType::kFloat64, "row", "logit", "LD_corrupt of the experiment"},
    {"circuit_logit_diff", DType::kFloat64, "row", "logit", "LD of the circuit with every edge (nothing patched)"},
    {"circuit_performance", DType::kFloat64, "row", "percent", "100 * circuit_logit_diff / LD_clean"},
    {"recheck_logit_diff", DType::kFloat64, "row", "logit",
     "LD of the circuit with only its kept edges (every other candidate edge patched at once)"},
    {"recheck_performance", DType::kFloat64, "row", "percent", "100 * recheck_logit_diff / LD_clean"},
    {"recheck_normalized", DType::kFloat64, "row", "fraction",
     "(recheck_logit_diff - LD_corrupt) / (LD_clean - LD_corrupt)"},
};

// /edges/<col>: one candidate edge of an /edge_circuits circuit, scored alone.
inline constexpr Column kEdgeColumns[] = {
    {"stage", DType::kString, "row", "name", "the edge_pruning family's name"},
    {"circuit", DType::kUInt64, "row", "index", "its circuit in /edge_circuits (same experiment and stage)"},
    {"edge", DType::kString, "row", "name", "MIB spelling: \"a0.h1->a2.h3<q>\", \"m0->logits\""},
    {"sender", DType::kString, "row", "name", "\"a0.h1\" (head) or \"m0\" (MLP)"},
    {"sender_kind", DType::kInt8, "row", "enum", "0 head, 1 mlp"},
    {"sender_layer", DType::kInt32, "row", "index", "the sender's layer"},
    {"sender_index", DType::kInt32, "row", "index", "head index (heads), 0 (mlps)"},
    {"receiver", DType::kString, "row", "name", "\"a2.h3<q>\", \"m2\" or \"logits\""},
    {"channel", DType::kString, "row", "name",
     "what the receiver reads: q, k, v (a head's input), mlp (an MLP's input), resid (the final residual stream)"},
    {"receiver_layer", DType::kInt32, "row", "index", "the receiver's layer; -1 for the final residual stream"},
    {"receiver_head", DType::kInt32, "row", "index",
     "the receiving head (q) or key-value head (k, v); -1 for mlp and resid"},
    {"logit_diff", DType::kFloat64, "row", "logit", "LD of the circuit with this one edge patched"},
    {"ratio", DType::kFloat64, "row", "fraction", "logit_diff / LD(circuit)"},
    {"effect", DType::kFloat64, "row", "fraction", "(logit_diff - LD(circuit)) / (LD_clean - LD_corrupt)"},
    {"kept", DType::kInt8, "row", "flag", "1: kept by the stage's rules (ratio_rule / effect_rule)"},
};

// /faithfulness_curves/<col>: one faithfulness curve of a faithfulness stage.
inline constexpr Column kFaithfulnessCurveColumns[] = {
    {"stage", DType::kString, "row", "name", "the faithfulness family's name"},
    {"curve", DType::kUInt64, "row", "index", "the curve's id within (experiment, stage): 0"},
    {"source", DType::kString, "row", "name",
     "the ranking: \"<family>\" (its single-component ablation effects, clean LD - LD) or the scores file"},
    {"level", DType::kString, "row", "name", "nodes or edges"},
    {"n_items", DType::kInt64, "row", "count", "N: items ranked (C_N = the full model, C_0 = every item removed)"},
    {"metric", DType::kString, "row", "name", "m: the metric the curve is computed on"},
    {"m_full", DType::kFloat64, "row", "metric", "m(M): nothing removed"},
    {"m_empty", DType::kFloat64, "row", "metric", "m(∅): every ranked item removed"},
    {"cpr", DType::kFloat64, "row", "fraction",
     "MIB CPR (area_under): trapezoids of f over the MIB fractions, higher is better"},
    {"cmd", DType::kFloat64, "row", "fraction",
     "MIB CMD (area_from_1): trapezoids of |1 - f| over the MIB fractions, lower is better"},
    {"average", DType::kFloat64, "row", "fraction", "mean f over the MIB fraction points"},
    {"ranking", DType::kString, "row", "name", "the ranked items, best first, ' '-joined (MIB spelling)"},
};

// /faithfulness/<col>: one point of a curve.
inline constexpr Column kFaithfulnessColumns[] = {
    {"stage", DType::kString, "row", "name", "the faithfulness family's name"},
    {"curve", DType::kUInt64, "row", "index", "its curve in /faithfulness_curves"},
    {"size", DType::kInt64, "row", "count", "k: the top-k items kept, the other N - k removed"},
    {"fraction", DType::kFloat64, "row", "fraction", "the MIB fraction p (mib = 1, k = floor(p N)), else k / N"},
    {"mib", DType::kInt8, "row", "flag", "1: a MIB fraction point (these give CPR / CMD)"},
    {"score", DType::kFloat64, "row", "metric", "m(C_k)"},
    {"faithfulness", DType::kFloat64, "row", "fraction", "(m(C_k) - m(∅)) / (m(M) - m(∅))"},
};

// Root attributes (all strings unless noted) describing where the numbers came from.
inline constexpr const char* kProvenanceAttributes[] = {
    "format_version",     // int
    "job_spec",           // the job spec's full TOML text
    "job_spec_path",
    "model_paths",        // JSON list
    "model_sha256",       // JSON list, per model: sha256 of its weight file(s)
    "tokenizer_sha256",   // JSON list, per model: sha256 of its tokenizer file(s)
    "csweep_version",
    "csweep_git_revision",
    "command_line",
    "ranks",              // int: MPI ranks of the last run (JSON list of all runs in "runs")
    "runs",               // JSON list: one object per run/resume/merge (start, end, ranks, units)
    "start_time",         // ISO 8601 UTC of the first run
    "end_time",           // ISO 8601 UTC of the last compaction
    "wall_seconds",       // double: summed over runs
    "complete",           // int 0/1: 1 only when /ledger/unit holds every unit of the file's
                          // shard [T*i/N, T*(i+1)/N) (the whole grid for N = 1 and merged files);
                          // derived by the writer at every compaction
};

// One evaluated intervention, fully self-describing (so the journal and merged shards never need
// the job spec to be re-expanded).
struct ExperimentIndex {
  std::int32_t model = 0, seed = 0, task = 0, corruption = 0, ablation = 0, metric_set = 0;
  bool operator==(const ExperimentIndex& o) const {
    return model == o.model && seed == o.seed && task == o.task && corruption == o.corruption &&
           ablation == o.ablation && metric_set == o.metric_set;
  }
  bool operator<(const ExperimentIndex& o) const;
};

struct Row {
  ExperimentIndex exp;
  std::uint64_t intervention = 0;
  std::vector<interv::Component> components;
  std::int32_t position = -1;       // -1 = all positions
  std::int8_t receiver_kind = -1;   // interv::ReceiverKind or -1
  std::int32_t receiver_layer = -1;
  std::int32_t receiver_head = -1;
  metrics::MetricRow metrics;
};

// One circuit of a pruning run (/circuits).
struct CircuitRow {
  ExperimentIndex exp;
  std::int32_t family = 0;
  std::uint64_t circuit = 0;  // intervention index in the family's table
  double threshold = 0;
  std::int32_t threshold_index = 0;
  std::int8_t order_kind = 0;
  std::uint64_t order_seed = 0;
  bool nested = false;
  std::vector<std::int8_t> kept;  // per pool component
  std::vector<interv::Component> components;  // the circuit, pool order
  std::int32_t passes = 0;
  std::int64_t evaluations = 0;
  metrics::MetricRow metrics;  // per_prompt_logit_diff not stored here
};

// One candidate evaluation (/pruning_steps).
struct StepRow {
  ExperimentIndex exp;
  std::int32_t family = 0;
  std::uint64_t circuit = 0;
  std::int64_t step = 0;
  std::int32_t pass = 0, position = 0;
  interv::Component component;
  double performance = 0;
  bool removed = false;
};

// One circuit evaluated on one task (/cross_task); exp.task = the task evaluated on.
struct CrossTaskRow {
  ExperimentIndex exp;
  std::int32_t family = 0;
  std::uint64_t circuit = 0;
  std::int32_t circuit_task = 0;  // task index, kCrossTaskIntersection or kCrossTaskUnion
  std::vector<interv::Component> components;
  metrics::MetricRow metrics;
};

// One node circuit of an edge_pruning stage (/edge_circuits).
struct EdgeCircuitRow {
  ExperimentIndex exp;
  std::string stage;
  std::uint64_t circuit = 0;
  std::string source;
  double threshold = std::numeric_limits<double>::quiet_NaN();
  std::string order;
  std::vector<interv::Component> components;
  std::int64_t n_candidates = 0, n_kept = 0;
  bool inside = true;
  double ratio_rule = 0, effect_rule = 0;
  double clean_logit_diff = 0, corrupted_logit_diff = 0;
  double circuit_logit_diff = 0, circuit_performance = 0;
  double recheck_logit_diff = 0, recheck_performance = 0, recheck_normalized = 0;
};

// One candidate edge (/edges).
struct EdgeRow {
  ExperimentIndex exp;
  std::string stage;
  std::uint64_t circuit = 0;
  interv::Edge edge;
  double logit_diff = 0, ratio = 0, effect = 0;
  bool kept = false;
};

// One faithfulness curve (/faithfulness_curves) and one of its points (/faithfulness).
struct CurveRow {
  ExperimentIndex exp;
  std::string stage;
  std::uint64_t curve = 0;
  std::string source, level, metric;
  std::int64_t n_items = 0;
  double m_full = 0, m_empty = 0, cpr = 0, cmd = 0, average = 0;
  std::string ranking;
};
struct CurvePointRow {
  ExperimentIndex exp;
  std::string stage;
  std::uint64_t curve = 0;
  std::int64_t size = 0;
  double fraction = 0;
  bool mib = false;
  double score = 0, faithfulness = 0;
};

struct BaselineRow {
  ExperimentIndex exp;
  metrics::Baseline baseline;
};

// What one finished work unit contributes: its rows (in intervention order) and the baseline of
// its experiment. The unit of durability: all or nothing.
struct UnitRecord {
  std::string grid_fingerprint;  // identity: the grid the unit was computed for
  std::uint64_t unit = 0;
  std::int32_t family = 0;  // index into FileMeta::families
  BaselineRow baseline;
  std::vector<Row> rows;
  // Pruning units: one circuit per row (same order) and every step of the run.
  std::vector<CircuitRow> circuits;
  std::vector<StepRow> steps;
};

// Binary (de)serialisation of a UnitRecord, used by the journal and by MPI messages.
std::string serialize(const UnitRecord& r);
UnitRecord deserialize(const std::string& bytes);  // throws InternalError on malformed input

// Canonical sort of a table's rows (experiment columns, then intervention).
void sort_rows(std::vector<Row>& rows);
void sort_circuits(std::vector<CircuitRow>& rows);     // experiment, family, circuit
void sort_steps(std::vector<StepRow>& rows);           // experiment, family, circuit, step
void sort_cross_task(std::vector<CrossTaskRow>& rows); // experiment, family, circuit, circuit_task
void sort_baselines(std::vector<BaselineRow>& rows);
// Circuit stages: experiment, stage, circuit / curve (edges and points keep their order within).
void sort_edge_circuits(std::vector<EdgeCircuitRow>& rows);
void sort_edges(std::vector<EdgeRow>& rows);
void sort_curves(std::vector<CurveRow>& rows);
void sort_curve_points(std::vector<CurvePointRow>& rows);

}  // namespace csweep::reducers
