// Metric names: canonical spellings (HDF5 column names), aliases, errors.
#include <gtest/gtest.h>

#include <string>

#include "core/error.hpp"
#include "workers/metrics/metric_row.hpp"

namespace {

using csweep::metrics::Metric;

TEST(ParseMetric, CanonicalNamesRoundTrip) {
  const std::pair<const char*, Metric> expected[] = {
      {"logit_diff", Metric::kLogitDiff}, {"performance", Metric::kPerformance},
      {"normalized", Metric::kNormalized}, {"kl", Metric::kKL},
      {"prob_correct", Metric::kProbCorrect}, {"accuracy", Metric::kAccuracy},
      {"prob_diff", Metric::kProbDiff}};
  for (const auto& [name, m] : expected) {
    EXPECT_EQ(csweep::metrics::parse_metric(name), m) << name;
    EXPECT_STREQ(csweep::metrics::to_string(m), name);
  }
}

TEST(ParseMetric, Aliases) {
  EXPECT_EQ(csweep::metrics::parse_metric("ld"), Metric::kLogitDiff);
  EXPECT_EQ(csweep::metrics::parse_metric("normalised"), Metric::kNormalized);
  EXPECT_EQ(csweep::metrics::parse_metric("top1"), Metric::kAccuracy);
  EXPECT_STREQ(csweep::metrics::to_string(csweep::metrics::parse_metric("perf")), "performance");
}

TEST(ParseMetric, UnknownIsAnInputErrorListingChoices) {
  try {
    csweep::metrics::parse_metric("logitdiff");
    FAIL() << "expected InputError";
  } catch (const csweep::InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("'logitdiff'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("logit_diff"), std::string::npos) << msg;
    EXPECT_NE(msg.find("prob_diff"), std::string::npos) << msg;
  }
}

}  // namespace
