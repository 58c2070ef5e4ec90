#include "pipeline/plan.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <vector>

#include "reducers/schema.hpp"
#include "vocab/names.hpp"

namespace csweep::pipeline {
namespace {

double now_s() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

std::string human(double v, const char* unit) {
  const char* prefixes[] = {"", "k", "M", "G", "T", "P", "E"};
  int i = 0;
  while (std::fabs(v) >= 1000 && i < 6) {
    v /= 1000;
    ++i;
  }
  return fmt::format("{:.3g} {}{}", v, prefixes[i], unit);
}

std::string duration_text(double s) {
  if (s < 120) return fmt::format("{:.0f} s", s);
  if (s < 7200) return fmt::format("{:.1f} min", s / 60);
  if (s < 172800) return fmt::format("{:.1f} h", s / 3600);
  return fmt::format("{:.1f} days", s / 86400);
}

}  // namespace

PromptShape estimate_prompt_shape(const TaskSpec& task) {
  PromptShape p;
  const auto& j = task.params;
  if (j.contains("n_prompts") && j["n_prompts"].is_number_integer()) p.n_prompts = j["n_prompts"].get<int>();
  const std::string g = task.generator;
  if (g == "greater_than") {
    p.tokens = 13;
  } else if (g == "ioi") {
    p.tokens = 16;
  } else if (g == "custom") {
    p.tokens = 32;
  } else {
    // "{W} {verb} in {x}." is about 5 tokens per shown member, plus the final clause and BOS.
    const int members = j.contains("members") && j["members"].is_number_integer() ? j["members"].get<int>() : 4;
    p.tokens = 5 * members + 4 + 1;
  }
  return p;
}

double measure_matmul_gflops(double seconds) {
  const int n = 192;
  std::vector<float> a(n * n), b(n * n), c(n * n);
  for (int i = 0; i < n * n; ++i) {
    a[static_cast<std::size_t>(i)] = static_cast<float>(i % 7) * 0.25f;
    b[static_cast<std::size_t>(i)] = static_cast<float>(i % 5) * 0.5f;
  }
  const double t0 = now_s();
  double flops = 0;
  volatile float sink = 0;
  do {
    std::fill(c.begin(), c.end(), 0.f);
    for (int i = 0; i < n; ++i)
      for (int k = 0; k < n; ++k) {
        const float aik = a[static_cast<std::size_t>(i * n + k)];
        const float* bk = &b[static_cast<std::size_t>(k * n)];
        float* ci = &c[static_cast<std::size_t>(i * n)];
        for (int j = 0; j < n; ++j) ci[j] += aik * bk[j];
      }
    sink = sink + c[static_cast<std::size_t>(n + 1)];
    flops += 2.0 * n * n * n;
  } while (now_s() - t0 < seconds);
  return flops / (now_s() - t0) / 1e9;
}

PlanReport make_plan(const Grid& grid, int workers, int units_to_measure,
                     const std::function<double(const WorkUnit&)>& measure_unit) {
  const JobSpec& job = grid.job();
  PlanReport r;
  r.workers = std::max(1, workers);
  r.experiments = grid.n_experiments();
  r.units = grid.total_units();
  r.interventions = grid.total_interventions();
  r.rows = r.interventions;
  for (std::size_t f = 0; f < job.families.size(); ++f)
    r.families.push_back({job.families[f].name, vocab::family_kinds().name(job.families[f].kind),
                          grid.family(0, static_cast<int>(f)).size()});
  for (const auto& st : job.stages) {
    PlanReport::StageLine line{st.name, vocab::family_kinds().name(st.kind), "", 0};
    if (!st.from.empty()) {
      std::vector<std::string> orders;
      for (const auto& o : st.orders) orders.push_back(vocab::pruning_order_name(o));
      line.source = fmt::format("circuits of '{}' (thresholds {}, orders {})", st.from,
                                st.thresholds.empty() ? "all" : fmt::format("{}", fmt::join(st.thresholds, " ")),
                                fmt::join(orders, " "));
    } else if (!st.ranking.empty()) {
      line.source = fmt::format("single-component effects of '{}'", st.ranking);
    } else {
      line.source = !st.circuit_file.empty() ? "circuit_file " + st.circuit_file
                    : !st.scores_file.empty() ? "scores_file " + st.scores_file
                                              : "circuit " + vocab::components_name(st.circuit);
      line.experiments = grid.stage_experiments(st).size();
    }
    r.stages.push_back(std::move(line));
  }
  for (std::size_t m = 0; m < job.models.size(); ++m)
    r.n_params_nonembed.push_back(grid.config(static_cast<int>(m)).n_params_nonembed());

  // FLOPs and bytes, experiment by experiment (segments are few; units are not walked).
  for (std::uint64_t id = 0; id < grid.total_units();) {
    const WorkUnit u = grid.unit(id);
    const Family& fam = grid.family(u.key.model, u.family);
    const bool pruning = fam.spec().kind == FamilyKind::kPruning;
    const std::uint64_t us = pruning ? fam.members_per_run() : job.batching.unit_size;
    const std::uint64_t n_units = (fam.size() + us - 1) / us;
    const std::uint64_t first_of_segment = id - u.begin / us;
    const auto& cfg = grid.config(u.key.model);
    const PromptShape ps = estimate_prompt_shape(job.tasks[static_cast<std::size_t>(u.key.task)]);
    bool full_vocab = false;
    for (auto m : job.metric_sets[static_cast<std::size_t>(u.key.metric_set)])
      full_vocab |= vocab::needs_full_distribution(m);
    const double per_prompt = 2.0 * static_cast<double>(cfg.n_params_nonembed()) * ps.tokens +
                              2.0 * cfg.d_model * (full_vocab ? cfg.d_vocab : 2);
    double forwards = static_cast<double>(fam.size());
    if (pruning) {
      // fam.size() circuits; each threshold of each run walks the pool (see PlanReport).
      const double p = static_cast<double>(fam.pool().size());
      r.pruning_runs += n_units;
      r.pruning_evaluations_bound += static_cast<double>(fam.size()) * (p * (p + 1) / 2 + p);
      r.pruning_evaluations_estimate += static_cast<double>(fam.size()) * 3 * p;
      // Evaluations, plus each circuit kept alone.
      forwards = static_cast<double>(fam.size()) * (3 * p + 1);
    }
    r.flops += per_prompt * ps.n_prompts * forwards;
    // Bytes per row: experiment columns, index, components, position, receiver, 7 metrics.
    const double row_bytes = 6 * 4 + 8 + 4 + fam.max_components() * 9.0 + 4 + 9 + 7 * 8 +
                             (job.output.per_prompt ? 4.0 * ps.n_prompts : 0);
    r.output_bytes += row_bytes * static_cast<double>(fam.size());
    id = first_of_segment + n_units;
  }
  for (std::size_t m = 0; m < job.models.size(); ++m) {
    // Clean and corrupted reference runs once per dataset.
    const auto& cfg = grid.config(static_cast<int>(m));
    for (const auto& t : job.tasks) {
      const PromptShape ps = estimate_prompt_shape(t);
      r.flops += 2.0 * job.seeds.size() * job.corruptions.size() * ps.n_prompts *
                 (2.0 * static_cast<double>(cfg.n_params_nonembed()) * ps.tokens);
    }
  }

  r.measured_gflops = measure_matmul_gflops(0.3);
  if (measure_unit && units_to_measure > 0 && grid.total_units() > 0) {
    // Skip the first unit: it pays for dataset and cache construction, which later units reuse.
    const std::uint64_t n = std::min<std::uint64_t>(grid.total_units(), static_cast<std::uint64_t>(units_to_measure) + 1);
    double total = 0;
    for (std::uint64_t id = 0; id < n; ++id) {
      const double s = measure_unit(grid.unit(id));
      if (id > 0 || n == 1) total += s;
    }
    r.measured_unit_s = total / static_cast<double>(n > 1 ? n - 1 : 1);
    r.estimated_seconds = r.measured_unit_s * static_cast<double>(r.units) / r.workers;
  } else {
    r.estimated_seconds = r.flops / (r.measured_gflops * 1e9) / r.workers;
  }
  return r;
}

std::string format_plan(const PlanReport& r) {
  std::string s;
  s += fmt::format("grid:          {} experiments, {} interventions ({} rows)\n", r.experiments,
                   r.interventions, r.rows);
  for (const auto& f : r.families)
    s += fmt::format("  family {:<20} {:<13} {} per experiment\n", f.name, f.kind, f.per_experiment);
  for (const auto& st : r.stages)
    s += fmt::format("  stage  {:<20} {:<13} {}{}\n", st.name, st.kind, st.source,
                     st.experiments ? fmt::format(", on {} experiments", st.experiments) : "");
  if (!r.stages.empty())
    s += fmt::format("               (stages run once the grid completes, from its tables; not in the estimate)\n");
  s += fmt::format("work units:    {}\n", r.units);
  if (r.pruning_runs > 0)
    s += fmt::format("pruning:       {} runs; candidate evaluations ~{} (3 passes over the pool per "
                     "threshold), at most {} (P(P+1)/2 + P per threshold: one removal per pass)\n",
                     r.pruning_runs, human(r.pruning_evaluations_estimate, ""),
                     human(r.pruning_evaluations_bound, ""));
  for (std::size_t m = 0; m < r.n_params_nonembed.size(); ++m)
    s += fmt::format("model {}:       {} non-embedding parameters\n", m, human(static_cast<double>(r.n_params_nonembed[m]), ""));
  s += fmt::format("FLOPs:         {} (2 * N_nonembed * tokens per prompt and intervention + unembedding)\n",
                   human(r.flops, "FLOP"));
  s += fmt::format("output size:   ~{} before compression\n", human(r.output_bytes, "B"));
  if (r.measured_unit_s >= 0)
    s += fmt::format("estimate:      {} with {} worker(s) ({:.3f} s per unit, measured with the engine)\n",
                     duration_text(r.estimated_seconds), r.workers, r.measured_unit_s);
  else
    s += fmt::format("estimate:      {} with {} worker(s) at this machine's measured {:.1f} GFLOP/s per core "
                     "(upper bound: ignores prefix reuse; --measure-units N times the real engine)\n",
                     duration_text(r.estimated_seconds), r.workers, r.measured_gflops);
  return s;
}

}  // namespace csweep::pipeline
