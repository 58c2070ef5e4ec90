#pragma once
// Grid enumeration (torch-free): a job spec expanded lazily into work units.
//
// A work unit = (experiment, family, contiguous index range of that family). Nothing proportional
// to the number of interventions is ever materialised: family members are computed from their
// index (k-combinations by the combinatorial number system, subsets by bitmask, pairs by
// division), and a unit id maps to its (experiment, family, range) by a binary search over the
// few (experiment, family) segments.
//
// Order (deterministic, documented in docs/SWEEPS.md): experiments vary slowest-first as model,
// seed, task, corruption, ablation, metric set — so consecutive units share the model, the
// dataset and its reference caches; within a family, consecutive indices share their earliest
// component (combinations) or their component (positions, paths), so they share prefix layers.
#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/job_spec.hpp"
#include "reducers/schema.hpp"
#include "reducers/writer.hpp"
#include "workers/pruning/run_spec.hpp"

namespace csweep::pipeline {

// Canonical description of a circuit stage (fingerprint, /edge_circuits and /faithfulness_curves
// attribute "stages").
nlohmann::json stage_json(const CircuitStageSpec& st);

// ---- Combinatorial number system ---------------------------------------------------------------

// C(n, k); false when it does not fit in 64 bits.
bool binomial(std::uint64_t n, std::uint64_t k, std::uint64_t* out);
// C(n, k), or UINT64_MAX when it does not fit (comparisons stay correct: every C we compare
// against a rank is then larger than the rank).
std::uint64_t binomial_saturated(std::uint64_t n, std::uint64_t k);

// Colexicographic rank of an ascending k-combination c[0] < ... < c[k-1] of {0..n-1}:
// rank = sum_i C(c[i], i + 1).
std::uint64_t rank_combination(const std::vector<int>& c);
// Inverse of rank_combination (c gets k ascending elements). Requires rank < C(n, k).
void unrank_combination(std::uint64_t rank, int n, int k, std::vector<int>* c);
// Colex successor in place; false after the last combination.
bool next_combination(std::vector<int>* c, int n);

// ---- Experiments and units ---------------------------------------------------------------------

// Indices into the job spec (and Grid::ablations()) of one experiment: everything an evaluator
// needs to build its datasets, caches and metrics once and reuse them across units.
struct ExperimentKey {
  int model = 0;       // JobSpec::models
  int seed = 0;        // JobSpec::seeds
  int task = 0;        // JobSpec::tasks
  int corruption = 0;  // JobSpec::corruptions
  int ablation = 0;    // Grid::ablations()
  int metric_set = 0;  // JobSpec::metric_sets
  interv::AblationKind ablation_kind = interv::AblationKind::kMean;  // == ablations()[ablation]
  bool same_dataset(const ExperimentKey& o) const {
    return model == o.model && seed == o.seed && task == o.task && corruption == o.corruption;
  }
};

struct WorkUnit {
  std::uint64_t id = 0;
  ExperimentKey key;
  int family = 0;                       // JobSpec::families
  std::uint64_t begin = 0, end = 0;     // intervention indices [begin, end) within the family
};

// One family resolved against one model's architecture.
class Family {
 public:
  Family(const FamilySpec& spec, const model::ModelConfig& cfg, const std::string& model_name);

  std::uint64_t size() const { return size_; }
  interv::Intervention at(std::uint64_t index) const;
  // Interventions [begin, end), using successors instead of unranking each one.
  std::vector<interv::Intervention> range(std::uint64_t begin, std::uint64_t end) const;
  // The row of the results table for intervention `index` (metrics left zero).
  reducers::Row row(std::uint64_t index) const;
  // Fills the index and description columns of `r` for intervention `iv` = at(index).
  void fill_row(reducers::Row* r, const interv::Intervention& iv, std::uint64_t index) const;

  // Pruning families: the run of member `index` (one (order, threshold); nested: one order and
  // every threshold, `index` being its first member) and how many members one run covers.
  pruning::RunSpec pruning_run(std::uint64_t index) const;
  std::uint64_t members_per_run() const;

  const std::vector<interv::Component>& pool() const { return pool_; }
  const std::vector<interv::Receiver>& receivers() const { return receivers_; }
  int max_components() const;
  const FamilySpec& spec() const { return *spec_; }

 private:
  interv::Intervention from_combination(const std::vector<int>& c) const;

  const FamilySpec* spec_;
  std::vector<interv::Component> pool_;     // sorted (layer, kind, index)
  std::vector<interv::Receiver> receivers_; // paths: sorted by forward-pass time
  std::vector<std::uint64_t> k_offsets_;    // combinations: first index of each k
  std::vector<std::uint64_t> sender_offsets_;  // paths: first index of each sender's receivers
  std::vector<std::uint32_t> sender_first_;    // paths: first valid receiver of each sender
  interv::Positions family_positions_;      // non-position families: positions of every member
  std::uint64_t size_ = 0;
};

class Grid {
 public:
  // `configs[m]` is the architecture of job.models[m]. The job spec must outlive the grid.
  Grid(const JobSpec& job, std::vector<model::ModelConfig> configs);

  const JobSpec& job() const { return *job_; }
  const std::vector<interv::AblationKind>& ablations() const { return ablations_; }
  const model::ModelConfig& config(int model) const { return configs_[static_cast<std::size_t>(model)]; }
  const Family& family(int model, int family) const;

  std::uint64_t total_units() const { return total_units_; }
  std::uint64_t total_interventions() const { return total_interventions_; }
  std::uint64_t n_experiments() const { return n_experiments_; }
  WorkUnit unit(std::uint64_t id) const;
  // The unit's interventions. A pruning unit's are not known before it runs (the removed sets
  // are its result): one intervention without components per circuit; use pruning_run().
  std::vector<interv::Intervention> interventions(const WorkUnit& u) const;
  bool is_pruning(const WorkUnit& u) const {
    return job_->families[static_cast<std::size_t>(u.family)].kind == FamilyKind::kPruning;
  }
  // The pruning run of a pruning unit (one run per unit).
  pruning::RunSpec pruning_run(const WorkUnit& u) const;

  // Circuit stages with an explicit source (circuit, circuit_file, scores_file): every experiment
  // of the grid they apply to (models x seeds x tasks x the stage's corruptions x its ablation
  // kinds x metric sets), in grid order.
  std::vector<ExperimentKey> stage_experiments(const CircuitStageSpec& st) const;
  // The key of a stored experiment index (inverse of experiment_index).
  ExperimentKey key_of(const reducers::ExperimentIndex& e) const;

  // Units [first, last) of shard i of n: contiguous slices (neighbours share caches) whose sizes
  // differ by at most one.
  std::pair<std::uint64_t, std::uint64_t> shard_range(int index, int count) const;

  // Assembles a unit's record from its metric rows (one per intervention, in order).
  // `ivs` = interventions(u), as passed to the evaluator.
  reducers::UnitRecord make_record(const WorkUnit& u, const std::vector<interv::Intervention>& ivs,
                                   const metrics::Baseline& baseline,
                                   std::vector<metrics::MetricRow> rows) const;

  // Assembles a pruning unit's record from its run's result: one row per circuit (components =
  // the pool components it removed, metrics = the circuit kept alone), its /circuits rows and
  // every step. InternalError when the result does not fit the run.
  reducers::UnitRecord make_pruning_record(const WorkUnit& u, const metrics::Baseline& baseline,
                                           const pruning::RunResult& result) const;

  // Names, families and grid identity for the results file (provenance is added by the caller).
  reducers::FileMeta file_meta() const;
  // sha256 of a canonical description of everything that determines the units and their rows.
  const std::string& fingerprint() const { return fingerprint_; }
  static reducers::ExperimentIndex experiment_index(const ExperimentKey& k);

 private:
  struct Segment {
    ExperimentKey key;
    int family;
    std::uint64_t first_unit, n_units, size, unit_size;
  };
  const JobSpec* job_;
  std::vector<model::ModelConfig> configs_;
  std::vector<interv::AblationKind> ablations_;
  std::vector<std::vector<Family>> families_;  // [model][family]
  std::vector<Segment> segments_;
  std::uint64_t total_units_ = 0, total_interventions_ = 0, n_experiments_ = 0;
  std::string fingerprint_;
};

}  // namespace csweep::pipeline
