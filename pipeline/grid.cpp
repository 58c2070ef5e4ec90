#include "pipeline/grid.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <limits>

#include "core/error.hpp"
#include "core/files.hpp"

namespace csweep::pipeline {

// ---- Combinatorial number system ---------------------------------------------------------------

bool binomial(std::uint64_t n, std::uint64_t k, std::uint64_t* out) {
  if (k > n) {
    *out = 0;
    return true;
  }
  k = std::min(k, n - k);
  // C(n-k+i, i) grows with i, so an intermediate that overflows means the result does too; the
  // 128-bit product keeps result * (n-k+i) exact before the (exact) division.
  unsigned __int128 r = 1;
  for (std::uint64_t i = 1; i <= k; ++i) {
    r = r * (n - k + i) / i;
    if (r > std::numeric_limits<std::uint64_t>::max()) return false;
  }
  *out = static_cast<std::uint64_t>(r);
  return true;
}

std::uint64_t binomial_saturated(std::uint64_t n, std::uint64_t k) {
  std::uint64_t v;
  return binomial(n, k, &v) ? v : std::numeric_limits<std::uint64_t>::max();
}

std::uint64_t rank_combination(const std::vector<int>& c) {
  std::uint64_t r = 0;
  for (std::size_t i = 0; i < c.size(); ++i) {
    CSWEEP_ASSERT(i == 0 || c[i] > c[i - 1], "combination not ascending at {}", i);
    std::uint64_t b;
    CSWEEP_ASSERT(binomial(static_cast<std::uint64_t>(c[i]), i + 1, &b), "rank overflow");
    r += b;
  }
  return r;
}

void unrank_combination(std::uint64_t rank, int n, int k, std::vector<int>* c) {
  c->assign(static_cast<std::size_t>(k), 0);
  int hi = n - 1;
  for (int i = k; i >= 1; --i) {
    // Largest x in [i-1, hi] with C(x, i) <= rank (C(i-1, i) = 0 always qualifies).
    int lo = i - 1, top = hi;
    while (lo < top) {
      const int mid = lo + (top - lo + 1) / 2;
      if (binomial_saturated(static_cast<std::uint64_t>(mid), static_cast<std::uint64_t>(i)) <= rank)
        lo = mid;
      else
        top = mid - 1;
    }
    (*c)[static_cast<std::size_t>(i - 1)] = lo;
    rank -= binomial_saturated(static_cast<std::uint64_t>(lo), static_cast<std::uint64_t>(i));
    hi = lo - 1;
  }
  CSWEEP_ASSERT(rank == 0, "unrank: rank >= C({}, {})", n, k);
}

bool next_combination(std::vector<int>* c, int n) {
  auto& v = *c;
  const std::size_t k = v.size();
  for (std::size_t j = 0; j < k; ++j) {
    const int limit = j + 1 < k ? v[j + 1] : n;
    if (v[j] + 1 < limit) {
      ++v[j];
      for (std::size_t i = 0; i < j; ++i) v[i] = static_cast<int>(i);
      return true;
    }
  }
  return false;
}

// ---- Family ------------------------------------------------------------------------------------

namespace {

// Labels were validated by the job spec (vocab::position_label).
interv::Positions positions_of(const std::vector<std::string>& labels) { return vocab::parse_positions(labels); }

// Forward-pass time at which a receiver reads / a sender writes: heads of layer L act at 2L, the
// MLP of layer L at 2L+1 (GPT-2 order: attention, then MLP), the final residual stream after all.
int receiver_time(const interv::Receiver& r, int n_layers) {
  switch (r.kind) {
    case interv::ReceiverKind::kHeadQ:
    case interv::ReceiverKind::kHeadK:
    case interv::ReceiverKind::kHeadV: return 2 * r.layer;
    case interv::ReceiverKind::kMlpIn: return 2 * r.layer + 1;
    case interv::ReceiverKind::kResidFinal: return 2 * n_layers;
  }
  return 0;
}
int sender_time(const interv::Component& c) {
  return c.kind == interv::ComponentKind::kMlp ? 2 * c.layer + 1 : 2 * c.layer;
}

void check_component(const interv::Component& c, const model::ModelConfig& cfg,
                     const std::string& where, const std::string& model_name) {
  const std::string got = "'" + vocab::component_name(c) + "'";
  if (c.layer < 0 || c.layer >= cfg.n_layers)
    throw input_error(where, "layer out of range for model '" + model_name + "'", got,
                      fmt::format("layers 0..{}", cfg.n_layers - 1));
  if (c.kind == interv::ComponentKind::kHead && (c.index < 0 || c.index >= cfg.n_heads))
    throw input_error(where, "head out of range for model '" + model_name + "'", got,
                      fmt::format("heads 0..{}", cfg.n_heads - 1));
  if (c.kind == interv::ComponentKind::kNeuron && (c.index < 0 || c.index >= cfg.d_mlp))
    throw input_error(where, "neuron out of range for model '" + model_name + "'", got,
                      fmt::format("neurons 0..{}", cfg.d_mlp - 1));
}

std::vector<interv::Component> resolve_pool(const PoolSpec& p, const model::ModelConfig& cfg,
                                            const std::string& model_name) {
  std::vector<interv::Component> out;
  if (p.kind == PoolSpec::Kind::kExplicit) {
    for (const auto& c : p.components) check_component(c, cfg, p.origin + ".components", model_name);
    out = p.components;
  } else {
    const int last = p.layer_last < 0 ? cfg.n_layers - 1 : p.layer_last;
    if (last >= cfg.n_layers)
      throw input_error(p.layers_origin, "layer range exceeds model '" + model_name + "'",
                        fmt::format("[{}, {}]", p.layer_first, last),
                        fmt::format("layers within 0..{}", cfg.n_layers - 1));
    const bool heads = p.kind == PoolSpec::Kind::kHeads || p.kind == PoolSpec::Kind::kNodes;
    const int n_idx = heads ? cfg.n_heads : cfg.d_mlp;
    for (int i : p.indices)
      if (i >= n_idx)
        throw input_error(p.indices_origin,
                          "index out of range for model '" + model_name + "'", std::to_string(i),
                          fmt::format("0..{}", n_idx - 1));
    for (int l = p.layer_first; l <= last; ++l) {
      if (p.kind == PoolSpec::Kind::kMlps || p.kind == PoolSpec::Kind::kNodes)
        out.push_back({interv::ComponentKind::kMlp, l, 0});
      if (p.kind == PoolSpec::Kind::kMlps) continue;
      const auto kind = heads ? interv::ComponentKind::kHead : interv::ComponentKind::kNeuron;
      if (p.indices.empty()) {
        for (int i = 0; i < n_idx; ++i) out.push_back({kind, l, i});
      } else {
        for (int i : p.indices) out.push_back({kind, l, i});
      }
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<interv::Receiver> all_receivers(const model::ModelConfig& cfg) {
  std::vector<interv::Receiver> out;
  for (int l = 0; l < cfg.n_layers; ++l) {
    for (int h = 0; h < cfg.n_heads; ++h)
      for (auto k : {interv::ReceiverKind::kHeadQ, interv::ReceiverKind::kHeadK,
                     interv::ReceiverKind::kHeadV})
        out.push_back({k, l, h});
    out.push_back({interv::ReceiverKind::kMlpIn, l, 0});
  }
  out.push_back({interv::ReceiverKind::kResidFinal, 0, 0});
  return out;
}

std::uint64_t add_checked(std::uint64_t a, std::uint64_t b, const std::string& where) {
  if (a > std::numeric_limits<std::uint64_t>::max() - b)
    throw input_error(where, "the grid has more than 2^64 interventions", "", "a smaller grid");
  return a + b;
}

// Every experiment of the grid in its canonical order (model, seed, task, corruption, ablation,
// metric set): the order of the segments, hence of the units and of the file's rows. The one
// walk shared by the grid's segments and the circuit stages' experiments.
template <class F>
void for_each_experiment(const JobSpec& job, const std::vector<interv::AblationKind>& ablations, F&& f) {
  ExperimentKey key;
  for (key.model = 0; key.model < static_cast<int>(job.models.size()); ++key.model)
    for (key.seed = 0; key.seed < static_cast<int>(job.seeds.size()); ++key.seed)
      for (key.task = 0; key.task < static_cast<int>(job.tasks.size()); ++key.task)
        for (key.corruption = 0; key.corruption < static_cast<int>(job.corruptions.size()); ++key.corruption)
          for (key.ablation = 0; key.ablation < static_cast<int>(ablations.size()); ++key.ablation)
            for (key.metric_set = 0; key.metric_set < static_cast<int>(job.metric_sets.size()); ++key.metric_set) {
              key.ablation_kind = ablations[static_cast<std::size_t>(key.ablation)];
              f(key);
            }
}

// Whether a family's or a stage's subsets (its ablation kinds; its corruptions, empty = all)
// include the key's experiment.
bool selects(const JobSpec& job, const std::vector<interv::AblationKind>& ablations,
             const std::vector<std::string>& corruptions, const ExperimentKey& key) {
  if (std::find(ablations.begin(), ablations.end(), key.ablation_kind) == ablations.end()) return false;
  return corruptions.empty() ||
         std::find(corruptions.begin(), corruptions.end(),
                   job.corruptions[static_cast<std::size_t>(key.corruption)]) != corruptions.end();
}

}  // namespace

Family::Family(const FamilySpec& spec, const model::ModelConfig& cfg, const std::string& model_name)
    : spec_(&spec) {
  pool_ = resolve_pool(spec.pool, cfg, model_name);
  const auto n = static_cast<std::uint64_t>(pool_.size());
  family_positions_ = positions_of(spec.kind == FamilyKind::kPositions ? std::vector<std::string>{}
                                                                       : spec.position_labels);
  switch (spec.kind) {
    case FamilyKind::kCombinations:
      for (int k : spec.k) {
        if (static_cast<std::uint64_t>(k) > n)
          throw input_error(spec.origin + ".k", "combination size exceeds the pool of model '" +
                                                    model_name + "'",
                            std::to_string(k), fmt::format("k <= {} (the pool size)", n));
        std::uint64_t c;
        if (!binomial(n, static_cast<std::uint64_t>(k), &c))
          throw input_error(spec.origin + ".k", fmt::format("C({}, {}) does not fit in 64 bits", n, k),
                            std::to_string(k), "a smaller k or pool");
        k_offsets_.push_back(size_);
        size_ = add_checked(size_, c, spec.origin);
      }
      break;
    case FamilyKind::kSubsets:
      size_ = (std::uint64_t{1} << n) - (spec.include_empty ? 0 : 1);
      break;
    case FamilyKind::kPositions:
      size_ = n * spec.position_labels.size();
      break;
    case FamilyKind::kPruning: {
      for (std::size_t i = 1; i < pool_.size(); ++i)
        if (pool_[i] == pool_[i - 1])
          throw input_error(spec.pool.origin + ".components", "component listed twice",
                            "'" + vocab::component_name(pool_[i]) + "'", "each component once");
      size_ = static_cast<std::uint64_t>(spec.orders.size()) * spec.thresholds.size();
      break;
    }
    case FamilyKind::kPaths: {
      if (spec.all_receivers) {
        receivers_ = all_receivers(cfg);
      } else {
        for (const auto& r : spec.receivers) {
          const std::string where = spec.origin + ".receivers";
          if (r.kind != interv::ReceiverKind::kResidFinal && (r.layer < 0 || r.layer >= cfg.n_layers))
            throw input_error(where, "receiver layer out of range for model '" + model_name + "'",
                              "'" + vocab::receiver_name(r) + "'", fmt::format("layers 0..{}", cfg.n_layers - 1));
          if (r.kind <= interv::ReceiverKind::kHeadV && r.head >= cfg.n_heads)
            throw input_error(where, "receiver head out of range for model '" + model_name + "'",
                              "'" + vocab::receiver_name(r) + "'", fmt::format("heads 0..{}", cfg.n_heads - 1));
        }
        receivers_ = spec.receivers;
      }
      std::stable_sort(receivers_.begin(), receivers_.end(),
                       [&](const interv::Receiver& a, const interv::Receiver& b) {
                         return receiver_time(a, cfg.n_layers) < receiver_time(b, cfg.n_layers);
                       });
      for (const auto& s : pool_) {
        const auto first = std::upper_bound(receivers_.begin(), receivers_.end(), sender_time(s),
                                            [&](int t, const interv::Receiver& r) {
                                              return t < receiver_time(r, cfg.n_layers);
                                            }) -
                           receivers_.begin();
        sender_first_.push_back(static_cast<std::uint32_t>(first));
        sender_offsets_.push_back(size_);
        size_ += receivers_.size() - static_cast<std::uint64_t>(first);
      }
      break;
    }
  }
  if (size_ == 0)
    throw input_error(spec.origin, "family '" + spec.name + "' has no members for model '" +
                                       model_name + "'",
                      "", spec.kind == FamilyKind::kPaths
                              ? "at least one receiver later than a sender"
                              : "a non-empty pool");
}

std::uint64_t Family::members_per_run() const {
  CSWEEP_ASSERT(spec_->kind == FamilyKind::kPruning, "family {} is not a pruning family", spec_->name);
  return spec_->nested ? spec_->thresholds.size() : 1;
}

pruning::RunSpec Family::pruning_run(std::uint64_t index) const {
  CSWEEP_ASSERT(spec_->kind == FamilyKind::kPruning && index < size_ && index % members_per_run() == 0,
                "member {} does not start a pruning run of family {}", index, spec_->name);
  const auto n_t = spec_->thresholds.size();
  pruning::RunSpec r;
  r.pool = pool_;
  r.nested = spec_->nested;
  r.one_iter = spec_->one_iter;
  r.order = spec_->orders[static_cast<std::size_t>(index / n_t)];
  if (spec_->nested) r.thresholds = spec_->thresholds;
  else r.thresholds = {spec_->thresholds[static_cast<std::size_t>(index % n_t)]};
  return r;
}

int Family::max_components() const {
  switch (spec_->kind) {
    case FamilyKind::kCombinations: return spec_->k.back();
    case FamilyKind::kSubsets:
    case FamilyKind::kPruning: return static_cast<int>(pool_.size());
    default: return 1;
  }
}

interv::Intervention Family::from_combination(const std::vector<int>& c) const {
  // Colex rank over the reversed pool: consecutive ranks keep the same largest reversed element,
  // i.e. the same earliest component, so a run of units starts at the same layer.
  interv::Intervention iv;
  const int n = static_cast<int>(pool_.size());
  for (auto it = c.rbegin(); it != c.rend(); ++it)
    iv.components.push_back(pool_[static_cast<std::size_t>(n - 1 - *it)]);
  iv.positions = family_positions_;
  return iv;
}

interv::Intervention Family::at(std::uint64_t index) const {
  CSWEEP_ASSERT(index < size_, "family index {} >= size {}", index, size_);
  interv::Intervention iv;
  switch (spec_->kind) {
    case FamilyKind::kCombinations: {
      const auto j = static_cast<std::size_t>(
          std::upper_bound(k_offsets_.begin(), k_offsets_.end(), index) - k_offsets_.begin() - 1);
      std::vector<int> c;
      unrank_combination(index - k_offsets_[j], static_cast<int>(pool_.size()), spec_->k[j], &c);
      return from_combination(c);
    }
    case FamilyKind::kSubsets: {
      const std::uint64_t mask = index + (spec_->include_empty ? 0 : 1);
      for (std::size_t b = 0; b < pool_.size(); ++b)
        if (mask >> b & 1) iv.components.push_back(pool_[b]);
      iv.positions = family_positions_;
      return iv;
    }
    case FamilyKind::kPositions: {
      const auto n_pos = spec_->position_labels.size();
      iv.components.push_back(pool_[static_cast<std::size_t>(index / n_pos)]);
      iv.positions = positions_of({spec_->position_labels[static_cast<std::size_t>(index % n_pos)]});
      return iv;
    }
    case FamilyKind::kPruning:
      return iv;  // the removed set is the run's result (Grid::make_pruning_record)
    case FamilyKind::kPaths: {
      const auto s = static_cast<std::size_t>(
          std::upper_bound(sender_offsets_.begin(), sender_offsets_.end(), index) -
          sender_offsets_.begin() - 1);
      iv.components.push_back(pool_[s]);
      iv.receivers.push_back(receivers_[sender_first_[s] + (index - sender_offsets_[s])]);
      iv.positions = family_positions_;
      return iv;
    }
  }
  return iv;
}

std::vector<interv::Intervention> Family::range(std::uint64_t begin, std::uint64_t end) const {
  CSWEEP_ASSERT(begin <= end && end <= size_, "range [{}, {}) of a family of {}", begin, end, size_);
  std::vector<interv::Intervention> out;
  out.reserve(static_cast<std::size_t>(end - begin));
  if (spec_->kind != FamilyKind::kCombinations) {
    for (auto i = begin; i < end; ++i) out.push_back(at(i));
    return out;
  }
  std::vector<int> c;
  std::size_t j = 0;
  for (auto i = begin; i < end; ++i) {
    const bool starts_k = std::find(k_offsets_.begin(), k_offsets_.end(), i) != k_offsets_.end();
    if (i == begin || starts_k) {
      j = static_cast<std::size_t>(
          std::upper_bound(k_offsets_.begin(), k_offsets_.end(), i) - k_offsets_.begin() - 1);
      unrank_combination(i - k_offsets_[j], static_cast<int>(pool_.size()), spec_->k[j], &c);
    } else {
      const bool ok = next_combination(&c, static_cast<int>(pool_.size()));
      CSWEEP_ASSERT(ok, "combination successor ran past the end at index {}", i);
    }
    out.push_back(from_combination(c));
  }
  return out;
}

void Family::fill_row(reducers::Row* r, const interv::Intervention& iv, std::uint64_t index) const {
  r->intervention = index;
  r->components = iv.components;
  if (spec_->kind == FamilyKind::kPositions)
    r->position = static_cast<std::int32_t>(index % spec_->position_labels.size());
  if (!iv.receivers.empty()) {
    const auto& rc = iv.receivers.front();
    r->receiver_kind = static_cast<std::int8_t>(rc.kind);
    r->receiver_layer = rc.kind == interv::ReceiverKind::kResidFinal ? -1 : rc.layer;
    r->receiver_head = rc.kind <= interv::ReceiverKind::kHeadV ? rc.head : -1;
  }
}

reducers::Row Family::row(std::uint64_t index) const {
  reducers::Row r;
  fill_row(&r, at(index), index);
  return r;
}

// ---- Grid --------------------------------------------------------------------------------------

Grid::Grid(const JobSpec& job, std::vector<model::ModelConfig> configs)
    : job_(&job), configs_(std::move(configs)) {
  CSWEEP_ASSERT(configs_.size() == job.models.size(), "{} configs for {} models", configs_.size(),
                job.models.size());
  for (const auto& f : job.families)
    for (auto a : f.ablations)
      if (std::find(ablations_.begin(), ablations_.end(), a) == ablations_.end()) ablations_.push_back(a);
  // Circuit stages' experiments need their ablation kinds indexed too (edge pruning: mean).
  for (const auto& st : job.stages)
    for (auto a : st.ablations)
      if (std::find(ablations_.begin(), ablations_.end(), a) == ablations_.end()) ablations_.push_back(a);
  // Job-level order first, then kinds only some families use, so indices are stable and readable.
  std::stable_sort(ablations_.begin(), ablations_.end(), [&](auto a, auto b) {
    auto pos = [&](interv::AblationKind k) {
      auto it = std::find(job.ablations.begin(), job.ablations.end(), k);
      return it == job.ablations.end() ? job.ablations.size() : static_cast<std::size_t>(it - job.ablations.begin());
    };
    return pos(a) < pos(b);
  });
  for (std::size_t m = 0; m < job.models.size(); ++m) {
    families_.emplace_back();
    for (const auto& f : job.families) families_.back().emplace_back(f, configs_[m], job.models[m].name);
  }
  const std::uint64_t unit_size = job.batching.unit_size;
  for_each_experiment(job, ablations_, [&](const ExperimentKey& key) {
    bool any = false;
    for (int f = 0; f < static_cast<int>(job.families.size()); ++f) {
      const FamilySpec& spec = job.families[static_cast<std::size_t>(f)];
      if (!selects(job, spec.ablations, spec.corruptions, key)) continue;
      const Family& fam = families_[static_cast<std::size_t>(key.model)][static_cast<std::size_t>(f)];
      const auto size = fam.size();
      // A pruning run is sequential inside and one unit whatever its length.
      const std::uint64_t us = fam.spec().kind == FamilyKind::kPruning ? fam.members_per_run() : unit_size;
      const auto n_units = size / us + (size % us ? 1 : 0);
      segments_.push_back({key, f, total_units_, n_units, size, us});
      total_units_ = add_checked(total_units_, n_units, job.path);
      total_interventions_ = add_checked(total_interventions_, size, job.path);
      any = true;
    }
    n_experiments_ += any;
  });

  // Fingerprint: everything that decides which unit holds which rows, and what those rows mean.
  nlohmann::json j;
  const auto meta = file_meta();
  j["models"] = meta.model_names;
  nlohmann::json paths = nlohmann::json::array();
  for (const auto& m : job.models) paths.push_back(m.path);
  j["model_paths"] = paths;
  nlohmann::json tasks = nlohmann::json::array();
  for (const auto& t : job.tasks) {
    nlohmann::json e = {{"name", t.name}, {"generator", t.generator}, {"params", t.params}};
    if (t.filter) e["filter"] = true;  // absent when off, so older files keep their fingerprint
    tasks.push_back(e);
  }
  j["tasks"] = tasks;
  j["corruptions"] = meta.corruption_names;
  j["ablations"] = meta.ablation_names;
  j["metric_sets"] = meta.metric_sets;
  j["seeds"] = meta.seeds;
  j["mean_over"] = job.mean_over;  // changes what mean-ablation rows mean
  nlohmann::json fams = nlohmann::json::array();
  for (const auto& f : meta.families) fams.push_back(nlohmann::json::parse(f.spec_json));
  j["families"] = fams;
  // Circuit stages decide the derived tables' rows; absent when there are none, so files of
  // grids without stages keep their fingerprint.
  if (!job.stages.empty()) {
    nlohmann::json st = nlohmann::json::array();
    for (const auto& x : job.stages) st.push_back(stage_json(x));
    j["stages"] = st;
  }
  j["unit_size"] = unit_size;
  j["threads_per_rank"] = job.batching.threads_per_rank;  // fp32 results depend on it
  j["per_prompt"] = job.output.per_prompt;
  // A bf16 table is not the fp32 table of the same grid: the dtype decides what rows mean.
  // Absent for float32, so files written before [compute] existed keep their fingerprint.
  if (job.compute.dtype != vocab::ComputeDtype::kFloat32) j["dtype"] = vocab::compute_dtypes().name(job.compute.dtype);
  j["total_units"] = total_units_;
  const std::string canon = j.dump();
  fingerprint_ = sha256_bytes(canon.data(), canon.size());
}

nlohmann::json stage_json(const CircuitStageSpec& st) {
  nlohmann::json j;
  j["name"] = st.name;
  j["kind"] = vocab::family_kinds().name(st.kind);
  if (!st.corruptions.empty()) j["corruptions"] = st.corruptions;
  nlohmann::json abl = nlohmann::json::array();
  for (auto a : st.ablations) abl.push_back(vocab::ablation_kinds().name(a));
  j["ablations"] = abl;
  auto names = [](const std::vector<interv::Component>& c) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& x : c) a.push_back(vocab::component_name(x));
    return a;
  };
  if (st.kind == FamilyKind::kEdgePruning) {
    if (!st.from.empty()) {
      j["from"] = st.from;
      j["thresholds"] = st.thresholds;
      nlohmann::json orders = nlohmann::json::array();
      for (const auto& o : st.orders) orders.push_back(vocab::pruning_order_name(o));
      j["orders"] = orders;
    }
    if (!st.circuit.empty()) j["circuit"] = names(st.circuit);
    if (!st.circuit_file.empty()) {
      // The circuits themselves (not only the file's name) decide the rows.
      j["circuit_file"] = st.circuit_file;
      nlohmann::json per_task = nlohmann::json::array();
      for (const auto& c : st.task_circuits) per_task.push_back(names(c));
      j["task_circuits"] = per_task;
    }
    j["inside"] = st.inside;
    j["ratio"] = st.ratio;
    j["effect"] = st.effect;
  } else {
    if (!st.ranking.empty()) j["ranking"] = st.ranking;
    if (!st.scores_file.empty()) {
      j["scores_file"] = st.scores_file;
      j["level"] = circuits::to_string(st.file_ranking.level);
      j["n_items"] = st.file_ranking.size();
      j["scores"] = st.file_ranking.scores;  // the ranking's content, not only the file's name
    }
    j["absolute"] = st.absolute;
    j["fractions"] = st.fractions;
    j["integer_sizes"] = st.integer_sizes_up_to;
  }
  return j;
}

std::vector<ExperimentKey> Grid::stage_experiments(const CircuitStageSpec& st) const {
  std::vector<ExperimentKey> out;
  for_each_experiment(*job_, ablations_, [&](const ExperimentKey& key) {
    if (selects(*job_, st.ablations, st.corruptions, key)) out.push_back(key);
  });
  return out;
}

const Family& Grid::family(int model, int family) const {
  return families_.at(static_cast<std::size_t>(model)).at(static_cast<std::size_t>(family));
}

WorkUnit Grid::unit(std::uint64_t id) const {
  CSWEEP_ASSERT(id < total_units_, "unit {} >= {}", id, total_units_);
  const auto it = std::upper_bound(segments_.begin(), segments_.end(), id,
                                   [](std::uint64_t v, const Segment& s) { return v < s.first_unit; });
  const Segment& s = *(it - 1);
  WorkUnit u;
  u.id = id;
  u.key = s.key;
  u.family = s.family;
  u.begin = (id - s.first_unit) * s.unit_size;
  u.end = std::min(s.size, u.begin + s.unit_size);
  return u;
}

pruning::RunSpec Grid::pruning_run(const WorkUnit& u) const {
  CSWEEP_ASSERT(is_pruning(u), "unit {} is not a pruning unit", u.id);
  return family(u.key.model, u.family).pruning_run(u.begin);
}

reducers::UnitRecord Grid::make_pruning_record(const WorkUnit& u, const metrics::Baseline& baseline,
                                               const pruning::RunResult& result) const {
  const Family& fam = family(u.key.model, u.family);
  const pruning::RunSpec run = fam.pruning_run(u.begin);
  const auto& pool = fam.pool();
  if (result.circuits.size() != run.thresholds.size() || u.end - u.begin != run.thresholds.size())
    throw InternalError(fmt::format("pruning unit {}: {} circuits for {} thresholds ({} members)",
                                    u.id, result.circuits.size(), run.thresholds.size(),
                                    u.end - u.begin));
  std::vector<interv::Intervention> ivs(result.circuits.size());
  std::vector<metrics::MetricRow> rows;
  for (std::size_t t = 0; t < result.circuits.size(); ++t) {
    const auto& c = result.circuits[t];
    if (c.kept.size() != pool.size())
      throw InternalError(fmt::format("pruning unit {}: kept mask of {} entries for a pool of {}",
                                      u.id, c.kept.size(), pool.size()));
    for (std::size_t i = 0; i < pool.size(); ++i)
      if (!c.kept[i]) ivs[t].components.push_back(pool[i]);
    rows.push_back(c.metrics);
  }
  reducers::UnitRecord rec = make_record(u, ivs, baseline, rows);
  const auto& fs = fam.spec();
  const auto n_t = fs.thresholds.size();
  for (std::size_t t = 0; t < result.circuits.size(); ++t) {
    const auto& c = result.circuits[t];
    reducers::CircuitRow cr;
    cr.exp = rec.baseline.exp;
    cr.family = u.family;
    cr.circuit = u.begin + t;
    cr.threshold = run.thresholds[t];
    cr.threshold_index = static_cast<std::int32_t>(cr.circuit % n_t);
    cr.order_kind = static_cast<std::int8_t>(run.order.kind);
    cr.order_seed = run.order.seed;
    cr.nested = run.nested;
    for (std::size_t i = 0; i < pool.size(); ++i) {
      cr.kept.push_back(c.kept[i] ? 1 : 0);
      if (c.kept[i]) cr.components.push_back(pool[i]);
    }
    cr.passes = c.passes;
    cr.evaluations = c.evaluations;
    cr.metrics = rec.rows[t].metrics;  // masked to the metric set like the table row
    cr.metrics.per_prompt_logit_diff.clear();
    rec.circuits.push_back(std::move(cr));
  }
  std::int64_t step = 0;
  for (const auto& st : result.steps) {
    if (st.threshold_index < 0 || static_cast<std::size_t>(st.threshold_index) >= run.thresholds.size())
      throw InternalError(fmt::format("pruning unit {}: step of threshold index {} of {}", u.id,
                                      st.threshold_index, run.thresholds.size()));
    reducers::StepRow sr;
    sr.exp = rec.baseline.exp;
    sr.family = u.family;
    sr.circuit = u.begin + static_cast<std::uint64_t>(st.threshold_index);
    sr.step = step++;
    sr.pass = st.pass;
    sr.position = st.position;
    sr.component = st.component;
    sr.performance = st.performance;
    sr.removed = st.removed;
    rec.steps.push_back(sr);
  }
  return rec;
}

std::vector<interv::Intervention> Grid::interventions(const WorkUnit& u) const {
  return family(u.key.model, u.family).range(u.begin, u.end);
}

std::pair<std::uint64_t, std::uint64_t> Grid::shard_range(int index, int count) const {
  // The file's "complete" attribute is computed from the same definition.
  return reducers::shard_unit_range(total_units_, index, count);
}

reducers::ExperimentIndex Grid::experiment_index(const ExperimentKey& k) {
  reducers::ExperimentIndex e;
  e.model = k.model;
  e.seed = k.seed;
  e.task = k.task;
  e.corruption = k.corruption;
  e.ablation = k.ablation;
  e.metric_set = k.metric_set;
  return e;
}

ExperimentKey Grid::key_of(const reducers::ExperimentIndex& e) const {
  ExperimentKey k;
  k.model = e.model;
  k.seed = e.seed;
  k.task = e.task;
  k.corruption = e.corruption;
  k.ablation = e.ablation;
  k.metric_set = e.metric_set;
  k.ablation_kind = ablations_.at(static_cast<std::size_t>(e.ablation));
  return k;
}

reducers::UnitRecord Grid::make_record(const WorkUnit& u,
                                       const std::vector<interv::Intervention>& ivs,
                                       const metrics::Baseline& baseline,
                                       std::vector<metrics::MetricRow> rows) const {
  if (rows.size() != u.end - u.begin)
    throw InternalError(fmt::format("the evaluator returned {} rows for unit {} of {} interventions",
                                    rows.size(), u.id, u.end - u.begin));
  reducers::UnitRecord rec;
  rec.grid_fingerprint = fingerprint_;
  rec.unit = u.id;
  rec.family = u.family;
  rec.baseline.exp = experiment_index(u.key);
  rec.baseline.baseline = baseline;
  const Family& fam = family(u.key.model, u.family);
  const auto& set = job_->metric_sets.at(static_cast<std::size_t>(u.key.metric_set));
  const auto requested = [&](metrics::Metric m) {
    return set.empty() || std::find(set.begin(), set.end(), m) != set.end();
  };
  CSWEEP_ASSERT(ivs.size() == rows.size(), "{} interventions for {} rows", ivs.size(), rows.size());
  rec.rows.resize(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    auto& r = rec.rows[i];
    r.exp = rec.baseline.exp;
    fam.fill_row(&r, ivs[i], u.begin + i);
    r.metrics = std::move(rows[i]);
    if (!job_->output.per_prompt) r.metrics.per_prompt_logit_diff.clear();
    // Only what the experiment's metric set asks for is stored; the rest is NaN, whatever the
    // evaluator filled in (the engine computes the logit-difference family in any case).
    for (const auto& [metric, field] : metrics::kMetricFields)
      if (!requested(metric)) r.metrics.*field = metrics::MetricRow::kNotComputed;
  }
  return rec;
}

reducers::FileMeta Grid::file_meta() const {
  reducers::FileMeta m;
  for (const auto& x : job_->models) m.model_names.push_back(x.name);
  for (const auto& x : job_->tasks) m.task_names.push_back(x.name);
  m.corruption_names = job_->corruptions;
  for (auto a : ablations_) m.ablation_names.push_back(vocab::ablation_kinds().name(a));
  for (const auto& set : job_->metric_sets) {
    nlohmann::json j = nlohmann::json::array();
    for (auto x : set) j.push_back(vocab::metrics().name(x));
    m.metric_sets.push_back(j.dump());
  }
  m.seeds = job_->seeds;
  for (std::size_t f = 0; f < job_->families.size(); ++f) {
    const FamilySpec& fs = job_->families[f];
    reducers::FamilyMeta fm;
    fm.name = fs.name;
    fm.kind = vocab::family_kinds().name(fs.kind);
    fm.position_labels = fs.position_labels;
    nlohmann::json j;
    j["name"] = fs.name;
    j["kind"] = fm.kind;
    if (!fs.k.empty()) j["k"] = fs.k;
    if (fs.kind == FamilyKind::kSubsets) j["include_empty"] = fs.include_empty;
    if (fs.kind == FamilyKind::kPruning) {
      j["thresholds"] = fs.thresholds;
      nlohmann::json orders = nlohmann::json::array();
      for (const auto& o : fs.orders) orders.push_back(vocab::pruning_order_name(o));
      j["orders"] = orders;
      j["nested"] = fs.nested;
      j["one_iter"] = fs.one_iter;
    }
    j["positions"] = fs.position_labels.empty() ? nlohmann::json("all") : nlohmann::json(fs.position_labels);
    nlohmann::json abl = nlohmann::json::array();
    for (auto a : fs.ablations) abl.push_back(vocab::ablation_kinds().name(a));
    j["ablations"] = abl;
    if (!fs.corruptions.empty()) j["corruptions"] = fs.corruptions;  // absent = all (older files)
    nlohmann::json per_model = nlohmann::json::array();
    int width = 1;
    for (std::size_t mi = 0; mi < families_.size(); ++mi) {
      const Family& fam = families_[mi][f];
      width = std::max(width, fam.max_components());
      nlohmann::json pool = nlohmann::json::array();
      for (const auto& c : fam.pool()) pool.push_back(vocab::component_name(c));
      nlohmann::json entry = {{"model", job_->models[mi].name}, {"size", fam.size()}, {"pool", pool}};
      if (fs.kind == FamilyKind::kPaths) {
        nlohmann::json rec = nlohmann::json::array();
        for (const auto& r : fam.receivers()) rec.push_back(vocab::receiver_name(r));
        entry["receivers"] = rec;
      }
      per_model.push_back(entry);
    }
    j["resolved"] = per_model;
    fm.spec_json = j.dump();
    fm.max_components = width;
    m.families.push_back(fm);
  }
  m.total_units = total_units_;
  m.grid_fingerprint = fingerprint_;
  std::vector<reducers::Segment> segs;
  for (const auto& s : segments_)
    segs.push_back({experiment_index(s.key), s.family, s.first_unit, s.n_units, s.size, s.unit_size});
  m.layout = reducers::UnitLayout(job_->batching.unit_size, std::move(segs));
  return m;
}

}  // namespace csweep::pipeline
