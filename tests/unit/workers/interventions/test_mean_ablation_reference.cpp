// Per-head and per-MLP mean ablation on random-init checkpoints against the tables TransformerLens
// computed (tests/fixtures/reference/<name>.mean_ablation.safetensors, see
// tests/reference/README.md): the per-position means over the corrupted prompts, the logit
// differences per prompt, and performance.
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/unit/workers/model/reference_fixture.hpp"
#include "workers/interventions/caches.hpp"
#include "workers/interventions/executor.hpp"
#include "workers/interventions/reference_path.hpp"
#include "workers/model/transformer.hpp"
#include "workers/model/weights.hpp"

namespace csweep::interv {
namespace {

namespace mt = csweep::model::testing;

class MeanAblationTable : public ::testing::TestWithParam<std::string> {};

TEST_P(MeanAblationTable, MatchesTransformerLens) {
  const std::string name = GetParam();
  const std::string table_path = mt::fixture_reference(name, ".mean_ablation.safetensors");
  ASSERT_TRUE(std::filesystem::exists(table_path)) << "missing committed fixture " << table_path;
  const auto ref = mt::load_reference(name + ".mean_ablation");
  const auto loaded = model::load_model(mt::fixture_model(name));
  const model::HookedTransformer tm(loaded);
  const auto& cfg = tm.cfg();

  PromptSet set;
  set.clean_tokens = ref.at("clean_tokens");
  set.corrupted_tokens = ref.at("corrupt_tokens");
  const int64_t B = set.clean_tokens.size(0), P = set.clean_tokens.size(1);
  set.answer_pos = torch::full({B}, P - 1, torch::kLong);
  set.correct = ref.at("correct_ids");
  set.incorrect = ref.at("incorrect_ids");
  set.group = torch::zeros({B}, torch::kLong);  // one group: means pool every prompt per position
  DatasetCache cache(tm, set);

  EXPECT_NEAR(cache.baseline().clean_logit_diff, ref.at("clean_logit_diff").item<double>(), 1e-4);
  EXPECT_NEAR(cache.baseline().corrupted_logit_diff, ref.at("corrupt_logit_diff").item<double>(), 1e-4);
  for (int l = 0; l < cfg.n_layers; ++l) {
    EXPECT_LE(mt::max_abs_diff(cache.mean_z(l)[0], ref.at("z_mean")[l]), 1e-5) << "layer " << l;
    EXPECT_LE(mt::max_abs_diff(cache.mean_mlp_out(l)[0], ref.at("mlp_out_mean")[l]), 1e-5) << "layer " << l;
  }

  std::vector<Intervention> heads, mlps;
  for (int l = 0; l < cfg.n_layers; ++l) {
    for (int h = 0; h < cfg.n_heads; ++h) heads.push_back({{{ComponentKind::kHead, l, h}}, {}, {}});
    mlps.push_back({{{ComponentKind::kMlp, l, 0}}, {}, {}});
  }
  metrics::MetricSet want;
  want.metrics = {metrics::Metric::kLogitDiff, metrics::Metric::kPerformance};
  want.per_prompt_logit_diff = true;
  Executor ex(tm);
  const auto head_rows = ex.evaluate(cache, AblationKind::kMean, heads, want);
  const auto mlp_rows = ex.evaluate(cache, AblationKind::kMean, mlps, want);
  const auto& head_ld = ref.at("head_logit_diff");
  const auto& head_perf = ref.at("head_performance");
  const auto& head_pp = ref.at("head_logit_diff_per_prompt");
  for (int l = 0; l < cfg.n_layers; ++l) {
    for (int h = 0; h < cfg.n_heads; ++h) {
      const auto& r = head_rows[static_cast<size_t>(l * cfg.n_heads + h)];
      EXPECT_NEAR(r.logit_diff, head_ld[l][h].item<double>(), 1e-4) << l << "." << h;
      EXPECT_NEAR(r.performance, head_perf[l][h].item<double>(), 1e-3) << l << "." << h;
      const auto pp = torch::tensor(r.per_prompt_logit_diff);
      EXPECT_LE(mt::max_abs_diff(pp, head_pp[l][h]), 1e-4) << l << "." << h;
    }
    EXPECT_NEAR(mlp_rows[static_cast<size_t>(l)].logit_diff, ref.at("mlp_logit_diff")[l].item<double>(), 1e-4);
    EXPECT_NEAR(mlp_rows[static_cast<size_t>(l)].performance, ref.at("mlp_performance")[l].item<double>(), 1e-3);
  }
  // The hooked one-at-a-time path reproduces the table too.
  ReferencePath one(tm, set);
  for (size_t i = 0; i < heads.size(); i += 5) {
    const auto logits = one.answer_logits(AblationKind::kMean, heads[i]);
    const auto ld = metrics::logit_diff(logits, cache.metric_context(), false).mean().item<double>();
    EXPECT_NEAR(ld, head_ld.view({-1})[static_cast<int64_t>(i)].item<double>(), 1e-4) << "head " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, MeanAblationTable, ::testing::Values("gpt2_tiny", "llama_gqa"));

}  // namespace
}  // namespace csweep::interv
