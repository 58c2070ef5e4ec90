#include "workers/interventions/session.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "core/error.hpp"
#include "workers/interventions/tensor_util.hpp"
#include "workers/model/transformer.hpp"
#include "workers/tokenizer/tokenizer.hpp"

namespace csweep::interv {

std::vector<bool> clean_model_filter(const model::HookedTransformer& model, const PromptSet& prompts) {
  c10::InferenceMode guard;
  auto resid = model.run_blocks(model.embed(prompts.clean_tokens), 0, model.cfg().n_layers);
  const auto at = gather_pos(resid, prompts.answer_pos.to(resid.device()), 1).squeeze(1);
  const auto logp = torch::log_softmax(model.unembed(model.final_norm(at)), -1).cpu();
  const auto top = logp.argmax(-1);
  std::vector<bool> keep(static_cast<size_t>(prompts.batch()));
  for (int64_t b = 0; b < prompts.batch(); ++b) {
    const int64_t c = prompts.correct[b].item<int64_t>(), i = prompts.incorrect[b].item<int64_t>();
    const double pc = std::exp(logp[b][c].item<double>()), pi = std::exp(logp[b][i].item<double>());
    keep[static_cast<size_t>(b)] = top[b].item<int64_t>() == c && pc > 2 * pi;
  }
  return keep;
}

double estimate_cache_bytes(const model::ModelConfig& c, double n, double seq_len, double elem) {
  const double L = c.n_layers, D = c.d_model, HD = static_cast<double>(c.n_heads) * c.d_head;
  const double per_run = (L + 1) * D + L * HD + 2 * L * D;
  const double means = L * HD + L * D;
  const double transient = c.d_mlp + static_cast<double>(c.n_heads) * seq_len + 3 * D;
  return n * seq_len * (2 * per_run + means + transient) * elem;
}

namespace {

// Refuses a dataset whose caches would not fit, before anything large is allocated.
void check_fits(const model::HookedTransformer& model, const TaskRequest& req, int n, int seq_len) {
  if (req.memory_budget_bytes <= 0) return;
  const double elem = static_cast<double>(c10::elementSize(model.dtype()));
  const double need = estimate_cache_bytes(model.cfg(), n, seq_len, elem);
  if (need <= req.memory_budget_bytes) return;
  const double per_prompt = estimate_cache_bytes(model.cfg(), 1, seq_len, elem);
  const auto fit = static_cast<long long>(req.memory_budget_bytes / per_prompt);
  throw input_error(fmt::format("task '{}'", req.task),
                    fmt::format("{} prompts of {} tokens need about {:.1f} GB of reference caches "
                                "(activations of the clean and corrupted runs at every layer), more "
                                "than {} ({:.1f} GB)",
                                n, seq_len, need / 1e9, req.memory_budget_source,
                                req.memory_budget_bytes / 1e9),
                    "", fmt::format("at most {} prompts for this model and task, or a larger budget", fit));
}

}  // namespace

TaskData build_task_data(const model::HookedTransformer& model, const tok::Tokenizer& tok,
                         const TaskRequest& req) {
  TaskData d;
  if (req.memory_budget_bytes > 0 && req.task != "custom") {
    // The prompt length from a few prompts of the same parameters; the count from the parameters.
    const int n = tasks::check_task_params(req.task, req.params).n_prompts;
    nlohmann::json few = req.params.is_object() ? req.params : nlohmann::json::object();
    few["n_prompts"] = std::min(n, 16);
    check_fits(model, req, n, tasks::make_dataset(req.task, few, tok, req.seed).max_length());
  }
  d.clean = tasks::make_dataset(req.task, req.params, tok, req.seed);
  check_fits(model, req, static_cast<int>(d.clean.size()), d.clean.max_length());
  d.corrupted = tasks::corrupt(d.clean, req.corruption, req.seed + 1, tok);
  const int pad = tok.eos_id().value_or(0);
  if (req.filter) {
    const auto keep = clean_model_filter(model, PromptSet::from_datasets(d.clean, d.corrupted, pad));
    d.dropped_by_filter = tasks::keep_only(d.clean, keep);
    tasks::keep_only(d.corrupted, keep);
    CSWEEP_CHECK_INPUT(!d.clean.prompts.empty(),
                       "task '{}': the clean-model filter dropped every prompt ({}); the model does "
                       "not solve this task", req.task, d.dropped_by_filter);
  }
  d.cache = std::make_unique<DatasetCache>(model, PromptSet::from_datasets(d.clean, d.corrupted, pad),
                                           req.mean_source);
  d.cache->set_dropped_by_filter(d.dropped_by_filter);
  return d;
}

}  // namespace csweep::interv
