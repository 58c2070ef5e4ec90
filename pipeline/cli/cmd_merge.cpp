// `csweep merge OUT SHARD...`: one results file from the shards of a grid.
// `csweep cross-task FILE`: (re)computes the cross-task scores of a complete file's circuits.
// `csweep circuits FILE`: (re)computes its circuit stages (edge pruning, faithfulness curves).
#include <spdlog/spdlog.h>

#include <memory>

#include "core/error.hpp"
#include "pipeline/cli/commands.hpp"
#include "pipeline/cli/engine_evaluator.hpp"
#include "pipeline/derived_tables.hpp"
#include "pipeline/grid.hpp"
#include "pipeline/job_spec.hpp"
#include "pipeline/run.hpp"
#include "reducers/writer.hpp"

namespace csweep::cli {
namespace {

// The job spec a results file was written from (its provenance), its evaluator and its grid. The
// models are found where the spec says, relative to the working directory, as in the run that
// wrote it.
struct FileGrid {
  std::unique_ptr<pipeline::JobSpec> job;
  std::unique_ptr<pipeline::UnitEvaluator> evaluator;
  std::unique_ptr<pipeline::Grid> grid;
};

std::unique_ptr<pipeline::JobSpec> job_of(const std::string& path) {
  const auto meta = reducers::read_results_meta(path).meta;
  const auto text = meta.text_attrs.find("job_spec");
  if (text == meta.text_attrs.end())
    throw input_error(path, "has no job_spec attribute", "", "a file written by csweep run or merge");
  const auto spec_path = meta.text_attrs.count("job_spec_path") ? meta.text_attrs.at("job_spec_path")
                                                               : path + " (job_spec attribute)";
  return std::make_unique<pipeline::JobSpec>(pipeline::parse_job_spec(text->second, spec_path));
}

FileGrid grid_of(std::unique_ptr<pipeline::JobSpec> job) {
  FileGrid g;
  g.job = std::move(job);
  g.evaluator = pipeline::make_engine_evaluator(*g.job, 0, 1);
  std::vector<model::ModelConfig> configs;
  for (std::size_t m = 0; m < g.job->models.size(); ++m)
    configs.push_back(g.evaluator->model_config(static_cast<int>(m)));
  g.grid = std::make_unique<pipeline::Grid>(*g.job, configs);
  return g;
}

// Cross-task scores and/or circuit stages of a complete file (pipeline/derived_tables.hpp);
// `required`: the file's grid must have what was asked for.
void derive_main(const std::string& path, bool cross_task, bool stages, bool required) {
  auto job = job_of(path);
  const pipeline::DerivedRequest want{cross_task, stages};
  const auto applies = pipeline::applicable(*job, want);
  if (!applies.cross_task && !applies.stages) {
    if (!required) return;
    throw input_error(path, stages ? "has no circuit stage" : "has no pruning family", "",
                      "a results file of a grid with a family of kind " +
                          std::string(stages ? "edge_pruning or faithfulness" : "pruning"));
  }
  FileGrid g = grid_of(std::move(job));
  const auto d = pipeline::add_derived_tables(path, *g.grid, *g.evaluator, want);
  if (d.cross_task)
    std::fprintf(stderr, "csweep: %s: %zu cross-task scores in %.1f s (/cross_task)\n", path.c_str(),
                 d.cross_task_rows, d.cross_task_s);
  if (d.stages)
    std::fprintf(stderr, "csweep: %s: %zu edge circuits and curves in %.1f s (/edge_circuits, "
                 "/faithfulness_curves)\n", path.c_str(), d.stage_rows, d.stages_s);
}

}  // namespace

void add_merge_command(CLI::App& app) {
  auto out = std::make_shared<std::string>();
  auto shards = std::make_shared<std::vector<std::string>>();
  auto no_cross = std::make_shared<bool>(false);
  auto no_stages = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand(
      "merge", "Merge the shard files of one grid (csweep run --shard i/N) into OUT; fails, listing "
               "them, when units are missing or duplicated. A grid with pruning families then gets "
               "its cross-task scores, one with edge_pruning / faithfulness families its circuit "
               "stages (both load the models: see csweep cross-task and csweep circuits).");
  cmd->add_option("out", *out, "merged results file")->required();
  cmd->add_option("shards", *shards, "shard files")->required()->check(CLI::ExistingFile);
  cmd->add_flag("--no-cross-task", *no_cross,
                "do not compute the cross-task scores of pruning circuits (csweep cross-task OUT later)");
  cmd->add_flag("--no-circuits", *no_stages,
                "do not compute the circuit stages (csweep circuits OUT later)");
  cmd->callback([out, shards, no_cross, no_stages] {
    pipeline::merge_main(*out, *shards);
    derive_main(*out, !*no_cross, !*no_stages, /*required=*/false);
  });

  auto file = std::make_shared<std::string>();
  CLI::App* ct = app.add_subcommand(
      "cross-task",
      "Score every pruning circuit of a complete results file on every task of its grid (plus the "
      "tasks' intersection and union) and store the table /cross_task in the file.\n"
      "Example: csweep cross-task results/quickstart.h5");
  ct->add_option("file", *file, "complete results file of a grid with a pruning family")
      ->required()
      ->check(CLI::ExistingFile);
  ct->callback([file] { derive_main(*file, true, false, /*required=*/true); });

  auto cfile = std::make_shared<std::string>();
  CLI::App* cs = app.add_subcommand(
      "circuits",
      "(Re)compute the circuit stages of a complete results file: edge pruning of node circuits "
      "(/edge_circuits, /edges) and faithfulness curves (/faithfulness_curves, /faithfulness, and "
      "FILE's .faithfulness.json in MIB's result layout).\n"
      "Example: csweep circuits results/quickstart.h5");
  cs->add_option("file", *cfile, "complete results file of a grid with edge_pruning / faithfulness families")
      ->required()
      ->check(CLI::ExistingFile);
  cs->callback([cfile] { derive_main(*cfile, false, true, /*required=*/true); });
}

}  // namespace csweep::cli
