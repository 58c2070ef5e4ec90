// `csweep plan JOB`: grid size, work units, FLOPs, an estimated time and the output size.
#include <chrono>
#include <cstdio>

#include "pipeline/cli/commands.hpp"
#include "pipeline/cli/engine_evaluator.hpp"
#include "pipeline/plan.hpp"

namespace csweep::cli {

void add_plan_command(CLI::App& app) {
  struct Options {
    std::string job;
    int workers = 1;
    int measure_units = 0;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("plan", "Print what a job spec will compute and cost, without running it.");
  cmd->add_option("job", o->job, "job spec (TOML)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--workers", o->workers, "worker ranks the estimate assumes")->capture_default_str();
  cmd->add_option("--measure-units", o->measure_units,
                  "time this many units with the engine (loads the model) instead of estimating from FLOPs")
      ->capture_default_str();
  cmd->callback([o] {
    const pipeline::JobSpec job = pipeline::load_job_spec(o->job);
    std::vector<model::ModelConfig> configs;
    for (const auto& m : job.models) configs.push_back(pipeline::model_config(m));
    const pipeline::Grid grid(job, configs);
    std::unique_ptr<pipeline::UnitEvaluator> engine;
    std::function<double(const pipeline::WorkUnit&)> measure;
    if (o->measure_units > 0) {
      engine = pipeline::make_engine_evaluator(job, 0, 1);
      measure = [&](const pipeline::WorkUnit& u) {
        const auto t0 = std::chrono::steady_clock::now();
        engine->baseline(u.key);
        if (grid.is_pruning(u)) engine->prune(u.key, grid.pruning_run(u));
        else engine->evaluate(u.key, grid.interventions(u));
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      };
    }
    const auto report = pipeline::make_plan(grid, o->workers, o->measure_units, measure);
    std::printf("%s: %s\n%s", job.path.c_str(), job.name.c_str(), pipeline::format_plan(report).c_str());
  });
}

}  // namespace csweep::cli
