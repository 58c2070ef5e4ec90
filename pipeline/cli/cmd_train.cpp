// csweep train: trains the embedded default model (a small GPT-2 on the sequence-continuation
// family) and writes it as a Hugging Face folder, deterministically. The committed
// models/default was made by exactly:
//   csweep train --out models/default
#include <memory>
#include <string>

#include "pipeline/cli/commands.hpp"
#include "workers/train/trainer.hpp"

namespace csweep::cli {

void add_train_command(CLI::App& app) {
  auto opt = std::make_shared<train::TrainOptions>();
  CLI::App* cmd = app.add_subcommand(
      "train", "Train the default model (GPT-2 architecture, sequence-continuation tasks) into an "
               "HF-style folder: config.json, model.safetensors, vocab.json, merges.txt, README.md.");
  cmd->add_option("--out", opt->out_dir, "output folder")->capture_default_str();
  cmd->add_option("--seed", opt->seed, "seed of the data stream and the initial weights")->capture_default_str();
  cmd->add_option("--layers", opt->n_layers, "transformer blocks")->capture_default_str()->check(CLI::Range(1, 48));
  cmd->add_option("--heads", opt->n_heads, "attention heads per block")->capture_default_str()->check(CLI::Range(1, 64));
  cmd->add_option("--d-model", opt->d_model, "residual width")->capture_default_str()->check(CLI::Range(8, 4096));
  cmd->add_option("--d-mlp", opt->d_mlp, "MLP width")->capture_default_str()->check(CLI::Range(8, 16384));
  cmd->add_option("--steps", opt->steps, "optimiser steps")->capture_default_str()->check(CLI::Range(1, 1000000));
  cmd->add_option("--batch", opt->batch, "prompts per step")->capture_default_str()->check(CLI::Range(1, 65536));
  cmd->add_option("--lr", opt->lr, "peak learning rate")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--threads", opt->threads,
                  "compute threads (the result is reproducible for a fixed thread count)")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  cmd->add_option("--eval-prompts", opt->eval_prompts, "held-out prompts per kind and direction")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  cmd->callback([opt, cmd] {
    // The reproduce command recorded in the model's README: the options as given.
    std::string line = "csweep train";
    for (const auto* o : cmd->get_options()) {
      if (o->count() == 0 || o->get_name() == "--help") continue;
      for (const auto& v : o->results()) line += " " + o->get_name() + " " + v;
    }
    train::train_default_model(*opt, line);
  });
}

}  // namespace csweep::cli
