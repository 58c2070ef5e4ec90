#include "pipeline/cli/engine_evaluator.hpp"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <map>
#include <optional>
#include <tuple>

#include "core/error.hpp"
#include "workers/circuits/edge_pruning.hpp"
#include "workers/circuits/faithfulness.hpp"
#include "workers/interventions/executor.hpp"
#include "workers/interventions/session.hpp"
#include "workers/model/device_policy.hpp"
#include "workers/model/model_tokenizer.hpp"
#include "workers/model/transformer.hpp"
#include "workers/model/weights.hpp"
#include "workers/pruning/pruner.hpp"
#include "workers/tasks/task.hpp"
#include "workers/tokenizer/tokenizer.hpp"

namespace csweep::pipeline {
namespace {

class EngineEvaluator : public UnitEvaluator {
 public:
  EngineEvaluator(const JobSpec& job, model::Placement placement)
      : UnitEvaluator(job), placement_(std::move(placement)) {}

  std::string placement() const override { return placement_.description; }

  metrics::Baseline baseline(const ExperimentKey& key) override { return dataset(key).baseline(); }

  std::vector<metrics::MetricRow> evaluate(const ExperimentKey& key,
                                           const std::vector<interv::Intervention>& ivs) override {
    const auto& cache = dataset(key);
    Model& m = model(key.model);
    return m.executor->evaluate(cache, key.ablation_kind, ivs, want(key));
  }

  pruning::RunResult prune(const ExperimentKey& key, const pruning::RunSpec& run) override {
    const auto& cache = dataset(key);
    Model& m = model(key.model);
    return pruning::run_pruning(*m.executor, cache, key.ablation_kind, run, want(key));
  }

  circuits::EdgePruningResult prune_edges(const ExperimentKey& key,
                                          const std::vector<interv::Component>& circuit,
                                          const circuits::EdgePruningOptions& opt) override {
    const auto& cache = dataset(key);
    return circuits::prune_edges(*model(key.model).executor, cache, circuit, opt, want(key));
  }

  circuits::Curve faithfulness(const ExperimentKey& key, const circuits::Ranking& ranking,
                               const circuits::CurveOptions& opt) override {
    const auto& cache = dataset(key);
    circuits::CurveOptions o = opt;
    o.node_ablation = key.ablation_kind;
    return circuits::faithfulness_curve(*model(key.model).executor, cache, ranking, o);
  }

  // OpenMP's thread count is per thread: a new thread starts with the default (every core), and
  // fp32 sums differ in the last bits between thread counts.
  void enter_thread() override {
    at::init_num_threads();
    model::pin_cpu_threads(job_.batching.threads_per_rank);
  }

  model::ModelConfig model_config(int index) override { return model(index).loaded.cfg; }

 private:
  metrics::MetricSet want(const ExperimentKey& key) const {
    metrics::MetricSet w;
    w.metrics = job_.metric_sets.at(static_cast<size_t>(key.metric_set));
    w.per_prompt_logit_diff = job_.output.per_prompt;
    return w;
  }

  struct Model {
    model::LoadedModel loaded;
    std::unique_ptr<model::HookedTransformer> tm;
    std::optional<tok::Tokenizer> tok;
    std::unique_ptr<interv::Executor> executor;
    model::MemoryBudget budget;
  };

  Model& model(int index) {
    auto it = models_.find(index);
    if (it != models_.end()) return it->second;
    const auto& spec = job_.models.at(static_cast<size_t>(index));
    Model m;
    m.loaded = model::load_model(resolve_model_path(spec));
    spdlog::info("model '{}' loaded from {}", spec.name, m.loaded.source);
    m.tm = std::make_unique<model::HookedTransformer>(m.loaded, placement_.device, placement_.dtype);
    m.tok.emplace(model::load_model_tokenizer(m.loaded));
    interv::ExecutorOptions opt;
    // Measured once the weights are on the device (device_policy.hpp: batches get a quarter,
    // the reference caches three quarters).
    m.budget = model::memory_budget(job_.memory.max_gb_per_rank, model::device_memory(placement_.device),
                                    opt.memory_budget_bytes);
    opt.memory_budget_bytes = m.budget.batch_bytes;
    spdlog::info("model '{}' on {}: memory budget {}", spec.name, placement_.description, m.budget.source);
    opt.max_interventions_per_batch = static_cast<int>(job_.batching.max_interventions_per_forward);
    m.executor = std::make_unique<interv::Executor>(*m.tm, opt);
    return models_.emplace(index, std::move(m)).first->second;
  }

  const interv::DatasetCache& dataset(const ExperimentKey& key) {
    const auto id = std::make_tuple(key.model, key.seed, key.task, key.corruption);
    if (current_ && current_id_ == id) return *current_->cache;
    // One dataset resident at a time: units are ordered so consecutive ones share it.
    current_.reset();
    Model& m = model(key.model);
    const auto& task = job_.tasks.at(static_cast<size_t>(key.task));
    interv::TaskRequest req;
    req.task = task.generator;  // a task module's name: checked by the job spec
    req.params = task.params.is_null() ? nlohmann::json::object() : task.params;
    req.corruption = job_.corruptions.at(static_cast<size_t>(key.corruption));
    req.filter = task.filter;
    req.seed = static_cast<std::uint64_t>(job_.seeds.at(static_cast<size_t>(key.seed)));
    req.mean_source = job_.mean_over == "clean" ? interv::MeanSource::kClean : interv::MeanSource::kCorrupted;
    if (m.budget.dataset_bytes > 0) {
      req.memory_budget_bytes = m.budget.dataset_bytes;
      req.memory_budget_source = m.budget.source;
    }
    current_ = std::make_unique<interv::TaskData>(interv::build_task_data(*m.tm, *m.tok, req));
    current_id_ = id;
    const auto& b = current_->cache->baseline();
    spdlog::info("dataset {}/{} seed {}: {} prompts, clean LD {:.4f}, corrupted LD {:.4f}", req.task,
                 req.corruption, req.seed, b.n_prompts, b.clean_logit_diff, b.corrupted_logit_diff);
    return *current_->cache;
  }

  model::Placement placement_;
  std::map<int, Model> models_;
  std::unique_ptr<interv::TaskData> current_;
  std::tuple<int, int, int, int> current_id_{-1, -1, -1, -1};
};

}  // namespace

std::unique_ptr<UnitEvaluator> make_engine_evaluator(const JobSpec& job, int rank, int /*n_ranks*/) {
  // Same thread count on every rank and run, torch's and the BLAS's: results must depend neither
  // on MPI core binding nor on which command (run, merge, cross-task, circuits) evaluates.
  model::pin_cpu_threads(job.batching.threads_per_rank);
  model::ComputeRequest req;
  req.device = job.compute.device;
  req.device_where = job.compute.device_where;
  req.dtype = job.compute.dtype;
  req.dtype_where = job.compute.dtype_where;
  req.mpi_rank = rank;
  model::Placement p = model::place_compute(req);
  if (!p.warning.empty()) spdlog::warn("rank {}: {}", rank, p.warning);
  return std::make_unique<EngineEvaluator>(job, std::move(p));
}

}  // namespace csweep::pipeline
