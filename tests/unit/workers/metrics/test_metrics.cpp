// Metrics from answer-position logits, checked against the definitions evaluated by hand in
// plain double arithmetic (loops over a tiny vocabulary).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "workers/metrics/metrics.hpp"

namespace csweep::metrics {
namespace {

// 2 prompts, vocabulary of 5; tokens 1..4 stand for years 0..3 in the greater-than metric.
const std::vector<std::vector<double>> kClean = {{0.5, 2.0, -1.0, 0.0, 1.0}, {1.0, 0.0, 3.0, -2.0, 0.5}};
const std::vector<std::vector<double>> kCorrupt = {{0.5, 0.0, 1.0, 0.0, 1.0}, {1.0, 1.0, 1.5, -2.0, 0.5}};
const std::vector<std::vector<double>> kInter = {{0.0, 1.0, 0.0, 0.5, 1.0}, {2.0, 0.0, 1.0, -1.0, 0.0}};
const std::vector<int64_t> kCorrect = {1, 2}, kIncorrect = {2, 4}, kYY = {1, 2};

torch::Tensor tensor(const std::vector<std::vector<double>>& v) {
  auto t = torch::empty({static_cast<int64_t>(v.size()), static_cast<int64_t>(v[0].size())}, torch::kFloat32);
  for (size_t i = 0; i < v.size(); ++i)
    for (size_t j = 0; j < v[i].size(); ++j) t[static_cast<int64_t>(i)][static_cast<int64_t>(j)] = v[i][j];
  return t;
}

std::vector<double> probs(const std::vector<double>& l) {
  double z = 0;
  for (double x : l) z += std::exp(x);
  std::vector<double> p;
  for (double x : l) p.push_back(std::exp(x) / z);
  return p;
}

MetricContext context(Baseline* base) {
  const auto ids = torch::tensor(std::vector<int64_t>{1, 2, 3, 4});
  const auto years = torch::tensor(std::vector<int64_t>{0, 1, 2, 3});
  return make_context(tensor(kClean), tensor(kCorrupt), torch::tensor(kCorrect), torch::tensor(kIncorrect),
                      ids, years, torch::tensor(kYY), base);
}

TEST(Metrics, BaselineFromCleanAndCorrupted) {
  Baseline b;
  const auto ctx = context(&b);
  const double ld_clean = ((2.0 - -1.0) + (3.0 - 0.5)) / 2;
  const double ld_corrupt = ((0.0 - 1.0) + (1.5 - 0.5)) / 2;
  EXPECT_NEAR(ctx.clean_logit_diff, ld_clean, 1e-6);
  EXPECT_NEAR(ctx.corrupted_logit_diff, ld_corrupt, 1e-6);
  EXPECT_DOUBLE_EQ(b.clean_accuracy, 1.0);     // argmax 1 and 2: both correct
  EXPECT_DOUBLE_EQ(b.corrupted_accuracy, 0.5);  // argmax 2 (wrong), 2 (right)
  EXPECT_NEAR(b.clean_prob_correct, (probs(kClean[0])[1] + probs(kClean[1])[2]) / 2, 1e-6);
  EXPECT_EQ(b.n_prompts, 2);
}

TEST(Metrics, RowsMatchTheDefinitions) {
  const auto ctx = context(nullptr);
  const auto logits = torch::stack({tensor(kInter), tensor(kClean)});  // n = 2
  const auto rows = compute_rows(logits, false, ctx, {});
  ASSERT_EQ(rows.size(), 2u);
  const double ld_clean = 2.75, ld_corrupt = 0.0;
  double ld = 0, kl = 0, pc = 0, acc = 0, pdiff = 0;
  for (size_t b = 0; b < 2; ++b) {
    ld += (kInter[b][kCorrect[b]] - kInter[b][kIncorrect[b]]) / 2;
    const auto p = probs(kClean[b]), q = probs(kInter[b]);
    for (size_t v = 0; v < p.size(); ++v) kl += p[v] * std::log(p[v] / q[v]) / 2;
    pc += q[kCorrect[b]] / 2;
    size_t arg = 0;
    for (size_t v = 1; v < q.size(); ++v) arg = q[v] > q[arg] ? v : arg;
    acc += (static_cast<int64_t>(arg) == kCorrect[b]) / 2.0;
    for (int64_t y = 0; y < 4; ++y) pdiff += (y > kYY[b] ? 1 : -1) * q[static_cast<size_t>(y + 1)] / 2;
  }
  const auto& r = rows[0];
  EXPECT_NEAR(r.logit_diff, ld, 1e-6);
  EXPECT_NEAR(r.performance, 100 * ld / ld_clean, 1e-4);
  EXPECT_NEAR(r.normalized, (ld - ld_corrupt) / (ld_clean - ld_corrupt), 1e-6);
  EXPECT_NEAR(r.kl, kl, 1e-6);
  EXPECT_NEAR(r.prob_correct, pc, 1e-6);
  EXPECT_NEAR(r.accuracy, acc, 1e-12);
  EXPECT_NEAR(r.prob_diff, pdiff, 1e-6);
  // The clean logits themselves: 100 %, normalised 1, KL 0.
  EXPECT_NEAR(rows[1].performance, 100.0, 1e-4);
  EXPECT_NEAR(rows[1].normalized, 1.0, 1e-6);
  EXPECT_NEAR(rows[1].kl, 0.0, 1e-7);
}

TEST(Metrics, TwoColumnLogitsGiveTheLogitDifferenceFamily) {
  const auto ctx = context(nullptr);
  MetricSet want;
  want.metrics = {Metric::kLogitDiff, Metric::kPerformance};
  want.per_prompt_logit_diff = true;
  EXPECT_FALSE(want.needs_full_vocab());
  // Columns (correct, incorrect) of kInter.
  auto two = torch::tensor(std::vector<float>{1.0f, 0.0f, 1.0f, 0.0f}).view({1, 2, 2});
  const auto rows = compute_rows(two, true, ctx, want);
  EXPECT_NEAR(rows[0].logit_diff, 1.0, 1e-6);
  EXPECT_NEAR(rows[0].performance, 100.0 / 2.75, 1e-4);
  ASSERT_EQ(rows[0].per_prompt_logit_diff.size(), 2u);
  EXPECT_FLOAT_EQ(rows[0].per_prompt_logit_diff[0], 1.0f);
  // Metrics not computed are NaN, never a plausible-looking 0.
  EXPECT_TRUE(std::isnan(rows[0].kl));
  EXPECT_TRUE(std::isnan(rows[0].accuracy));
  EXPECT_TRUE(std::isnan(rows[0].prob_correct));
  EXPECT_TRUE(std::isnan(rows[0].prob_diff));
  MetricSet kl;
  kl.metrics = {Metric::kKL};
  EXPECT_TRUE(kl.needs_full_vocab());
}

TEST(Metrics, MetricsNotRequestedStayNaN) {
  const auto ctx = context(nullptr);
  MetricSet want;
  want.metrics = {Metric::kLogitDiff, Metric::kKL};
  const auto rows = compute_rows(torch::stack({tensor(kInter)}), false, ctx, want);
  EXPECT_FALSE(std::isnan(rows[0].kl));
  EXPECT_TRUE(std::isnan(rows[0].accuracy));
  EXPECT_TRUE(std::isnan(rows[0].prob_correct));
  EXPECT_TRUE(std::isnan(rows[0].prob_diff));
}

}  // namespace
}  // namespace csweep::metrics
