// Acceptance of the committed default model (models/default), through the project's own loader,
// tokenizer, task generators and HookedTransformer: >= 95 % top-1 on held-out prompts of every
// sequence kind, and randAll corruption leaves less than 20 % of the clean logit difference.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "workers/model/transformer.hpp"
#include "workers/model/weights.hpp"
#include "workers/tasks/task.hpp"
#include "workers/tokenizer/tokenizer.hpp"

namespace {

struct Fixture {
  csweep::model::LoadedModel loaded;
  csweep::tok::Tokenizer tok;
  csweep::model::HookedTransformer model;
  static Fixture& get() {
    static Fixture f = [] {
      const std::string dir = std::string(CSWEEP_SOURCE_DIR) + "/models/default";
      auto loaded = csweep::model::load_model(dir);
      auto tok = csweep::tok::Tokenizer::load(dir);
      csweep::model::HookedTransformer model(loaded);
      return Fixture{std::move(loaded), std::move(tok), std::move(model)};
    }();
    return f;
  }
};

// Mean LD (with each clean prompt's answers) and top-1 accuracy at the answer position.
std::pair<double, double> ld_and_accuracy(const csweep::tasks::Dataset& ds, const csweep::tasks::Dataset& answers) {
  auto& f = Fixture::get();
  const auto padded = csweep::tasks::pad_right(ds, *f.tok.eos_id());
  const auto ids = torch::tensor(padded.ids).view({padded.batch, padded.seq_len});
  const auto logits = f.model.forward(ids);
  double ld = 0, acc = 0;
  for (int b = 0; b < padded.batch; ++b) {
    const auto row = logits[b][padded.answer_pos[b]];
    const auto& p = answers.prompts[b];
    ld += (row[p.correct_id] - row[p.incorrect_id]).item<double>();
    acc += row.argmax().item<int64_t>() == p.correct_id;
  }
  return {ld / padded.batch, acc / padded.batch};
}

TEST(DefaultModel, HeldOutAccuracyAndRandAllEffectPerKind) {
  for (const std::string kind : {"digits", "numwords", "months", "days"}) {
    SCOPED_TRACE(kind);
    auto& f = Fixture::get();
    // Seeds unlike any of the training stream's (which draws dataset seeds from a 64-bit RNG).
    const auto clean = csweep::tasks::make_dataset(kind, {{"n_prompts", 200}}, f.tok, 20240001);
    const auto bad = csweep::tasks::corrupt(clean, "randAll", 7, f.tok);
    const auto [ld_clean, acc] = ld_and_accuracy(clean, clean);
    const auto [ld_bad, acc_bad] = ld_and_accuracy(bad, clean);
    EXPECT_GE(acc, 0.95);
    EXPECT_GT(ld_clean, 0);
    EXPECT_LT(ld_bad, 0.2 * ld_clean) << "clean LD " << ld_clean << ", randAll LD " << ld_bad;
    (void)acc_bad;
  }
}

}  // namespace
