#include "pipeline/cross_task.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <tuple>

#include "core/error.hpp"

namespace csweep::pipeline {
namespace {

// Everything of a circuit's identity except the task it was found on.
using Setting = std::tuple<std::int32_t, std::int32_t, std::int32_t, std::int32_t, std::int32_t,
                           std::int32_t, std::uint64_t>;  // model seed corruption ablation metric_set family circuit

Setting setting_of(const reducers::CircuitRow& c) {
  return {c.exp.model, c.exp.seed, c.exp.corruption, c.exp.ablation, c.exp.metric_set, c.family,
          c.circuit};
}

std::vector<interv::Component> set_op(const std::vector<std::vector<interv::Component>>& sets,
                                      bool intersect) {
  std::vector<interv::Component> acc = sets.front();
  std::sort(acc.begin(), acc.end());
  for (std::size_t i = 1; i < sets.size(); ++i) {
    std::vector<interv::Component> b = sets[i], out;
    std::sort(b.begin(), b.end());
    if (intersect)
      std::set_intersection(acc.begin(), acc.end(), b.begin(), b.end(), std::back_inserter(out));
    else
      std::set_union(acc.begin(), acc.end(), b.begin(), b.end(), std::back_inserter(out));
    acc = std::move(out);
  }
  return acc;
}

}  // namespace

bool has_pruning_family(const JobSpec& job) {
  return std::any_of(job.families.begin(), job.families.end(),
                     [](const FamilySpec& f) { return f.kind == FamilyKind::kPruning; });
}

std::vector<reducers::CrossTaskRow> cross_task_rows(const Grid& grid,
                                                    const std::vector<reducers::CircuitRow>& circuits,
                                                    UnitEvaluator& evaluator) {
  const JobSpec& job = grid.job();
  // setting -> (task -> circuit)
  std::map<Setting, std::map<std::int32_t, const reducers::CircuitRow*>> groups;
  for (const auto& c : circuits) groups[setting_of(c)][c.exp.task] = &c;

  // Evaluation requests per experiment (the evaluated-on task's dataset), so each dataset is
  // built once and its interventions go through the engine in one batched call.
  struct Pending {
    reducers::CrossTaskRow row;
  };
  std::map<reducers::ExperimentIndex, std::vector<Pending>> by_exp;
  for (const auto& [setting, tasks] : groups) {
    const auto& any = *tasks.begin()->second;
    std::vector<std::pair<std::int32_t, std::vector<interv::Component>>> sources;
    std::vector<std::vector<interv::Component>> all;
    for (const auto& [t, c] : tasks) {
      sources.push_back({t, c->components});
      all.push_back(c->components);
    }
    if (tasks.size() >= 2) {
      sources.push_back({reducers::kCrossTaskIntersection, set_op(all, true)});
      sources.push_back({reducers::kCrossTaskUnion, set_op(all, false)});
    }
    for (const auto& [on_task, unused] : tasks) {
      (void)unused;
      for (const auto& [src, comps] : sources) {
        Pending p;
        p.row.exp = any.exp;
        p.row.exp.task = on_task;
        p.row.family = any.family;
        p.row.circuit = any.circuit;
        p.row.circuit_task = src;
        p.row.components = comps;
        by_exp[p.row.exp].push_back(std::move(p));
      }
    }
  }

  std::vector<reducers::CrossTaskRow> out;
  for (auto& [exp, pend] : by_exp) {
    ExperimentKey key;
    key.model = exp.model;
    key.seed = exp.seed;
    key.task = exp.task;
    key.corruption = exp.corruption;
    key.ablation = exp.ablation;
    key.metric_set = exp.metric_set;
    key.ablation_kind = grid.ablations().at(static_cast<std::size_t>(exp.ablation));
    std::vector<interv::Intervention> ivs;
    for (const auto& p : pend) {
      // The circuit kept alone: every pool component outside it ablated.
      const auto& pool = grid.family(exp.model, p.row.family).pool();
      interv::Intervention iv;
      for (const auto& c : pool)
        if (std::find(p.row.components.begin(), p.row.components.end(), c) == p.row.components.end())
          iv.components.push_back(c);
      ivs.push_back(std::move(iv));
    }
    auto rows = evaluator.evaluate(key, ivs);
    if (rows.size() != ivs.size())
      throw InternalError(fmt::format("cross-task: the evaluator returned {} rows for {} circuits",
                                      rows.size(), ivs.size()));
    const auto& set = job.metric_sets.at(static_cast<std::size_t>(exp.metric_set));
    for (std::size_t i = 0; i < rows.size(); ++i) {
      auto& r = pend[i].row;
      r.metrics = std::move(rows[i]);
      r.metrics.per_prompt_logit_diff.clear();
      for (const auto& [metric, field] : metrics::kMetricFields)
        if (!set.empty() && std::find(set.begin(), set.end(), metric) == set.end())
          r.metrics.*field = metrics::MetricRow::kNotComputed;
      out.push_back(std::move(r));
    }
  }
  reducers::sort_cross_task(out);
  return out;
}

}  // namespace csweep::pipeline
