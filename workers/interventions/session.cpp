#include "workers/interventions/session.hpp"

#include <spdlog/spdlog.h>

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

TaskData build_task_data(const model::HookedTransformer& model, const tok::Tokenizer& tok,
                         const TaskRequest& req) {
  TaskData d;
  d.clean = tasks::make_dataset(req.task, req.params, tok, req.seed);
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
  return d;
}

}  // namespace csweep::interv
