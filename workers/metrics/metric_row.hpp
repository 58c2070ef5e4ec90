#pragma once
// The metrics of one evaluated intervention (torch-free): what the reducers store per row.
// Means are over the prompts of the dataset; per-prompt logit differences are optional.
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace csweep::metrics {

enum class Metric : std::uint8_t {
  kLogitDiff,    // LD = logit(correct) - logit(incorrect) at the answer position, mean
  kPerformance,  // 100 * LD / LD_clean
  kNormalized,   // (LD - LD_corrupt) / (LD_clean - LD_corrupt)
  kKL,           // KL(clean || intervened) at the answer position, mean over prompts
  kProbCorrect,  // p(correct), mean
  kAccuracy,     // top-1 == correct, mean
  kProbDiff,     // greater-than: sum p(years > YY) - sum p(years <= YY), mean
};
// Names ("logit_diff", "performance", ...; the HDF5 column names): vocab::metrics() in
// vocab/names.hpp.

// A metric that was not computed (not requested, or not defined for the task: prob_diff outside
// greater_than) stays NaN, so no reader can take it for a measured 0.
struct MetricRow {
  static constexpr double kNotComputed = std::numeric_limits<double>::quiet_NaN();
  double logit_diff = kNotComputed, performance = kNotComputed, normalized = kNotComputed,
         kl = kNotComputed, prob_correct = kNotComputed, accuracy = kNotComputed,
         prob_diff = kNotComputed;
  std::vector<float> per_prompt_logit_diff;  // empty unless requested
};

// The field of each metric (header-only, so torch-free code can map a metric set to fields).
inline constexpr std::pair<Metric, double MetricRow::*> kMetricFields[] = {
    {Metric::kLogitDiff, &MetricRow::logit_diff},     {Metric::kPerformance, &MetricRow::performance},
    {Metric::kNormalized, &MetricRow::normalized},    {Metric::kKL, &MetricRow::kl},
    {Metric::kProbCorrect, &MetricRow::prob_correct}, {Metric::kAccuracy, &MetricRow::accuracy},
    {Metric::kProbDiff, &MetricRow::prob_diff},
};

// Reference values of one (model, task, corruption) that every intervention is measured against.
struct Baseline {
  double clean_logit_diff = 0, corrupted_logit_diff = 0, clean_accuracy = 0, corrupted_accuracy = 0,
         clean_prob_correct = 0;
  int n_prompts = 0;            // prompts measured (after the clean-model filter)
  int n_dropped_by_filter = 0;  // prompts the clean-model filter removed (0 without the filter)
};

}  // namespace csweep::metrics
