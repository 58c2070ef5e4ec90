// `csweep merge OUT SHARD...`: one results file from the shards of a grid.
// `csweep cross-task FILE`: (re)computes the cross-task scores of a complete file's circuits.
#include <spdlog/spdlog.h>

#include "core/error.hpp"
#include "pipeline/cli/commands.hpp"
#include "pipeline/cli/engine_evaluator.hpp"
#include "pipeline/cross_task.hpp"
#include "pipeline/grid.hpp"
#include "pipeline/job_spec.hpp"
#include "pipeline/run.hpp"
#include "reducers/writer.hpp"

namespace csweep::cli {
namespace {

// The job spec a results file was written from (its provenance), and its grid. The models are
// found where the spec says, relative to the working directory, as in the run that wrote it.
void cross_task_main(const std::string& path, bool only_if_pruning) {
  const auto meta = reducers::read_results_meta(path).meta;
  const auto text = meta.text_attrs.find("job_spec");
  if (text == meta.text_attrs.end())
    throw input_error(path, "has no job_spec attribute", "", "a file written by csweep run or merge");
  const auto spec_path = meta.text_attrs.count("job_spec_path") ? meta.text_attrs.at("job_spec_path")
                                                               : path + " (job_spec attribute)";
  const pipeline::JobSpec job = pipeline::parse_job_spec(text->second, spec_path);
  if (!pipeline::has_pruning_family(job)) {
    if (only_if_pruning) return;
    throw input_error(path, "has no pruning family", "", "a results file of a grid with kind = \"pruning\"");
  }
  std::vector<model::ModelConfig> configs;
  auto evaluator = pipeline::make_engine_evaluator(job, 0, 1);
  for (std::size_t m = 0; m < job.models.size(); ++m)
    configs.push_back(evaluator->model_config(static_cast<int>(m)));
  const pipeline::Grid grid(job, configs);
  const auto n = pipeline::add_cross_task(path, grid, *evaluator);
  std::fprintf(stderr, "csweep: %s: %zu cross-task scores (/cross_task)\n", path.c_str(), n);
}

}  // namespace

void add_merge_command(CLI::App& app) {
  auto out = std::make_shared<std::string>();
  auto shards = std::make_shared<std::vector<std::string>>();
  auto no_cross = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand(
      "merge", "Merge the shard files of one grid (csweep run --shard i/N) into OUT; fails, listing "
               "them, when units are missing or duplicated. A grid with pruning families then gets "
               "its cross-task scores (which load the models: see csweep cross-task).");
  cmd->add_option("out", *out, "merged results file")->required();
  cmd->add_option("shards", *shards, "shard files")->required()->check(CLI::ExistingFile);
  cmd->add_flag("--no-cross-task", *no_cross,
                "do not compute the cross-task scores of pruning circuits (csweep cross-task OUT later)");
  cmd->callback([out, shards, no_cross] {
    pipeline::merge_main(*out, *shards);
    if (!*no_cross) cross_task_main(*out, /*only_if_pruning=*/true);
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
  ct->callback([file] { cross_task_main(*file, /*only_if_pruning=*/false); });
}

}  // namespace csweep::cli
