// `csweep merge OUT SHARD...`: one results file from the shards of a grid.
#include "pipeline/cli/commands.hpp"
#include "pipeline/run.hpp"

namespace csweep::cli {

void add_merge_command(CLI::App& app) {
  auto out = std::make_shared<std::string>();
  auto shards = std::make_shared<std::vector<std::string>>();
  CLI::App* cmd = app.add_subcommand(
      "merge", "Merge the shard files of one grid (csweep run --shard i/N) into OUT; fails, listing "
               "them, when units are missing or duplicated.");
  cmd->add_option("out", *out, "merged results file")->required();
  cmd->add_option("shards", *shards, "shard files")->required()->check(CLI::ExistingFile);
  cmd->callback([out, shards] { pipeline::merge_main(*out, *shards); });
}

}  // namespace csweep::cli
