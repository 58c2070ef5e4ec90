#pragma once
// From (model, task, corruption, seed) to a ready DatasetCache: generates the clean dataset,
// corrupts it, optionally keeps only prompts the clean model gets right, and computes the caches.
// Shared by `csweep eval` and the sweep evaluator so both measure exactly the same thing.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>

#include "workers/interventions/caches.hpp"
#include "workers/interventions/prompt_set.hpp"
#include "workers/model/config.hpp"
#include "workers/tasks/task.hpp"

namespace csweep::tok {
class Tokenizer;
}
namespace csweep::model {
class HookedTransformer;
}

namespace csweep::interv {

struct TaskRequest {
  std::string task = "digits";       // tasks::make_dataset name
  nlohmann::json params = nlohmann::json::object();
  std::string corruption = "randAll";
  std::uint64_t seed = 0;            // dataset seed; the corruption uses seed + 1
  bool filter = false;               // keep prompts with clean top-1 correct and p(c) > 2 p(i)
  MeanSource mean_source = MeanSource::kCorrupted;
  // Memory the reference caches may take (0 = unchecked). Over it, build_task_data refuses before
  // allocating, with the estimate and the number of prompts that would fit.
  double memory_budget_bytes = 0;
  std::string memory_budget_source = "the memory budget";  // named in that error, e.g. "--max-gb 4"
};

struct TaskData {
  tasks::Dataset clean, corrupted;
  int dropped_by_filter = 0;
  std::unique_ptr<DatasetCache> cache;
};

TaskData build_task_data(const model::HookedTransformer& model, const tok::Tokenizer& tok,
                         const TaskRequest& req);

// Bytes a DatasetCache of n prompts of seq_len tokens takes, plus the transient activations of
// the forward passes that fill it: per run (clean, corrupted) the residual stream before every
// layer and after the last, hook_z, hook_attn_out and hook_mlp_out of every layer; the
// per-position means of z and mlp_out; one layer's MLP hidden layer and attention scores.
// `elem` = bytes per activation element (4 for float32).
double estimate_cache_bytes(const model::ModelConfig& cfg, double n_prompts, double seq_len, double elem);

// Per prompt: clean top-1 == correct and p(correct) > 2 p(incorrect) (the reference study's filter).
std::vector<bool> clean_model_filter(const model::HookedTransformer& model, const PromptSet& prompts);

}  // namespace csweep::interv
