// csweep eval: the metrics of one task/corruption on one model, optionally with components
// ablated, for quick interactive checks.
//
//   csweep eval [--model M] --task digits --corruption randAll [--ablate 9.1,4.4 --kind mean]
//               [--positions end,S1] [--seed N] [--n-prompts N] [--params JSON] [--filter]
//               [--device cpu|cuda] [--json]
//
// Without --model the embedded default model (models/default) is used. With --json one JSON
// object is printed: model, task, corruption, n_prompts, dropped_by_filter, clean_accuracy,
// corrupted_accuracy, clean_logit_diff, corrupted_logit_diff, clean_prob_correct, ablate, kind,
// logit_diff, performance, normalized, kl, prob_correct, accuracy (+ prob_diff for greater_than).
// Without --ablate the intervention is empty (performance 100 %, KL 0: the clean run).
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <unistd.h>

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/strings.hpp"
#include "pipeline/cli/commands.hpp"
#include "pipeline/job_spec.hpp"
#include "pipeline/eval_args.hpp"
#include "vocab/tasks.hpp"
#include "vocab/names.hpp"
#include "workers/interventions/executor.hpp"
#include "workers/interventions/session.hpp"
#include "workers/model/device_policy.hpp"
#include "workers/model/model_tokenizer.hpp"
#include "workers/model/transformer.hpp"
#include "workers/model/weights.hpp"
#include "workers/tokenizer/tokenizer.hpp"

namespace csweep::cli {
namespace {

struct EvalOptions {
  std::string model;  // empty = the default model
  std::string task = "digits";
  std::string corruption = "randAll";
  std::string ablate;
  std::string kind = "mean";
  std::string positions;
  std::string params = "{}";
  std::uint64_t seed = 0;
  int n_prompts = 0;  // 0 = the task's default
  bool filter = false;
  std::string mean_over = "corrupted";
  bool json = false;
  std::string device = "auto";
  std::string dtype = "float32";
  double max_gb = 0;  // 0 = 80 % of the machine's physical memory
};


void run_eval(const EvalOptions& opt) {
  pipeline::ModelSpec spec;
  spec.path = opt.model.empty() ? "default" : opt.model;
  spec.origin = "--model";
  const std::string model_path = pipeline::resolve_model_path(spec);
  // One device policy for every command (workers/model/device_policy.hpp).
  model::ComputeRequest creq;
  creq.device = vocab::parse_device_request(opt.device, "--device");
  creq.dtype = vocab::compute_dtypes().parse(opt.dtype, "--dtype");
  const model::Placement place = model::place_compute(creq);
  if (!place.warning.empty()) spdlog::warn("{}", place.warning);

  nlohmann::json params;
  try {
    params = nlohmann::json::parse(opt.params);
  } catch (const nlohmann::json::exception& e) {
    throw input_error("--params", "not valid JSON", opt.params, "a JSON object");
  }
  CSWEEP_CHECK_INPUT(params.is_object(), "--params: expected a JSON object (got {})", opt.params);
  if (opt.n_prompts > 0) params["n_prompts"] = opt.n_prompts;

  // Names are checked before the model loads, with the job spec's vocabulary.
  const pipeline::EvalSelection sel = pipeline::parse_eval_selection(opt.task, opt.corruption, opt.ablate, opt.kind, opt.positions);
  const interv::Intervention& iv = sel.intervention;
  const auto kind = sel.kind;

  const model::LoadedModel loaded = model::load_model(model_path);
  const model::HookedTransformer tm(loaded, place.device, place.dtype);
  const tok::Tokenizer tok = model::load_model_tokenizer(loaded);
  interv::TaskRequest req;
  req.task = opt.task;
  req.params = params;
  req.corruption = opt.corruption;
  req.seed = opt.seed;
  req.filter = opt.filter;
  req.mean_source = opt.mean_over == "clean" ? interv::MeanSource::kClean : interv::MeanSource::kCorrupted;
  // The caches of every prompt are held at once; refuse up front what would not fit.
  if (opt.max_gb > 0) {
    req.memory_budget_bytes = opt.max_gb * double(1ull << 30);
    req.memory_budget_source = fmt::format("--max-gb {}", opt.max_gb);
  } else if (const auto mem = model::device_memory(place.device)) {
    req.memory_budget_bytes = 0.9 * static_cast<double>(mem->free_bytes);
    req.memory_budget_source = fmt::format("90 % of the {:.1f} GB free on {} (--max-gb)", mem->free_bytes / 1e9,
                                           place.device.str());
  } else {
    const double phys = static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGESIZE));
    req.memory_budget_bytes = 0.8 * phys;
    req.memory_budget_source = fmt::format("80 % of this machine's {:.1f} GB (--max-gb)", phys / 1e9);
  }
  const auto data = interv::build_task_data(tm, tok, req);
  interv::Executor ex(tm);
  const auto row = ex.evaluate(*data.cache, kind, {iv}, {}).at(0);
  const auto& base = data.cache->baseline();
  const bool gt = data.cache->prompts().year_ids.defined();

  if (opt.json) {
    nlohmann::json j;
    j["model"] = model_path;
    j["device"] = place.device.str();
    j["dtype"] = vocab::compute_dtypes().name(creq.dtype);
    j["task"] = opt.task;
    j["corruption"] = opt.corruption;
    j["seed"] = opt.seed;
    j["n_prompts"] = base.n_prompts;
    j["dropped_by_filter"] = data.dropped_by_filter;
    j["clean_accuracy"] = base.clean_accuracy;
    j["corrupted_accuracy"] = base.corrupted_accuracy;
    j["clean_logit_diff"] = base.clean_logit_diff;
    j["corrupted_logit_diff"] = base.corrupted_logit_diff;
    j["clean_prob_correct"] = base.clean_prob_correct;
    j["ablate"] = split_list(opt.ablate);
    j["kind"] = vocab::ablation_kinds().name(kind);
    j["mean_over"] = opt.mean_over;
    j["logit_diff"] = row.logit_diff;
    j["performance"] = row.performance;
    j["normalized"] = row.normalized;
    j["kl"] = row.kl;
    j["prob_correct"] = row.prob_correct;
    j["accuracy"] = row.accuracy;
    if (gt) j["prob_diff"] = row.prob_diff;
    std::printf("%s\n", j.dump().c_str());
    return;
  }
  std::printf("model       %s\n", model_path.c_str());
  std::printf("device      %s\n", place.description.c_str());
  std::printf("task        %s / %s, %d prompts (seed %llu%s)\n", opt.task.c_str(), opt.corruption.c_str(),
              base.n_prompts, static_cast<unsigned long long>(opt.seed),
              opt.filter ? fmt::format(", {} dropped by the clean-model filter", data.dropped_by_filter).c_str() : "");
  std::printf("clean       LD %.4f   accuracy %.1f %%   p(correct) %.4f\n", base.clean_logit_diff,
              100 * base.clean_accuracy, base.clean_prob_correct);
  std::printf("corrupted   LD %.4f   accuracy %.1f %%   (%.1f %% of clean LD)\n", base.corrupted_logit_diff,
              100 * base.corrupted_accuracy, 100 * base.corrupted_logit_diff / base.clean_logit_diff);
  std::printf("intervened  %s %s\n", opt.ablate.empty() ? "(none)" : opt.ablate.c_str(),
              opt.ablate.empty() ? "" : vocab::ablation_kinds().name(kind).c_str());
  std::printf("            LD %.4f   performance %.2f %%   normalized %.4f   KL %.5f\n", row.logit_diff,
              row.performance, row.normalized, row.kl);
  std::printf("            p(correct) %.4f   accuracy %.1f %%", row.prob_correct, 100 * row.accuracy);
  if (gt) std::printf("   prob diff %.4f", row.prob_diff);
  std::printf("\n");
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto opt = std::make_shared<EvalOptions>();
  CLI::App* cmd = app.add_subcommand(
      "eval", "Metrics of a task/corruption on a model, optionally with components ablated.");
  cmd->add_option("--model", opt->model, "Hugging Face folder or .gguf (default: the embedded model)");
  cmd->add_option("--task", opt->task, fmt::format("{}", fmt::join(vocab::task_names(), ", ")))
      ->capture_default_str();
  cmd->add_option("--corruption", opt->corruption,
                  fmt::format("one of the task's: {}", fmt::join(vocab::all_corruption_names(), ", ")))
      ->capture_default_str();
  cmd->add_option("--ablate", opt->ablate, std::string("components, comma-separated: ") + vocab::kComponentForms);
  cmd->add_option("--kind", opt->kind, vocab::ablation_kinds().expected() + " (path_patch needs a job spec)")
      ->capture_default_str();
  cmd->add_option("--positions", opt->positions, std::string("positions to ablate, comma-separated: ") +
                                                     vocab::kPositionForms + "; default all");
  cmd->add_option("--params", opt->params, "task parameters as a JSON object")->capture_default_str();
  cmd->add_option("--seed", opt->seed, "dataset seed")->capture_default_str();
  cmd->add_option("--n-prompts", opt->n_prompts, "prompts to generate (0 = the task's default)");
  cmd->add_flag("--filter", opt->filter, "keep prompts whose clean top-1 is correct and "
                                         "p(correct) > 2 p(incorrect)");
  cmd->add_option("--mean-over", opt->mean_over,
                  "dataset whose per-position means replace ablated activations (--kind mean)")
      ->check(CLI::IsMember({"corrupted", "clean"}))
      ->capture_default_str();
  cmd->add_option("--device", opt->device, "auto (a GPU when one is visible), cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_option("--dtype", opt->dtype, "compute dtype: float32 (default), bfloat16 or float16 (GPU)")
      ->capture_default_str();
  cmd->add_option("--max-gb", opt->max_gb, "memory the reference caches may take, in GiB "
                                           "(default: 80 % of physical memory); more prompts are refused up front")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--json", opt->json, "print one JSON object");
  cmd->callback([opt] { run_eval(*opt); });
}

}  // namespace csweep::cli
