// Metric names as written in job specs, CLI flags and HDF5 column names.
#include "workers/metrics/metric_row.hpp"

#include <utility>

#include "core/error.hpp"

namespace csweep::metrics {

namespace {

// Canonical spelling first (it names the HDF5 column), then accepted aliases.
const std::pair<const char*, Metric> kMetricNames[] = {
    {"logit_diff", Metric::kLogitDiff},     {"performance", Metric::kPerformance},
    {"normalized", Metric::kNormalized},    {"kl", Metric::kKL},
    {"prob_correct", Metric::kProbCorrect}, {"accuracy", Metric::kAccuracy},
    {"prob_diff", Metric::kProbDiff},       {"ld", Metric::kLogitDiff},
    {"perf", Metric::kPerformance},         {"normalised", Metric::kNormalized},
    {"p_correct", Metric::kProbCorrect},    {"top1", Metric::kAccuracy},
    {"acc", Metric::kAccuracy},
};

}  // namespace

Metric parse_metric(const std::string& text) {
  for (const auto& [name, m] : kMetricNames) {
    if (text == name) return m;
  }
  throw input_error("metric", "unknown metric", "'" + text + "'",
                    "one of logit_diff, performance, normalized, kl, prob_correct, accuracy, prob_diff");
}

const char* to_string(Metric m) {
  for (const auto& [name, metric] : kMetricNames) {
    if (metric == m) return name;
  }
  CSWEEP_ASSERT(false, "unknown metric {}", static_cast<int>(m));
  return "";
}

}  // namespace csweep::metrics
