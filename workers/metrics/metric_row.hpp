#pragma once
// The metrics of one evaluated intervention (torch-free): what the reducers store per row.
// Means are over the prompts of the dataset; per-prompt logit differences are optional.
#include <cstdint>
#include <string>
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
Metric parse_metric(const std::string& text);  // "logit_diff", "performance", "normalized", "kl", ...
const char* to_string(Metric m);

struct MetricRow {
  double logit_diff = 0, performance = 0, normalized = 0, kl = 0, prob_correct = 0, accuracy = 0,
         prob_diff = 0;
  std::vector<float> per_prompt_logit_diff;  // empty unless requested
};

// Reference values of one (model, task, corruption) that every intervention is measured against.
struct Baseline {
  double clean_logit_diff = 0, corrupted_logit_diff = 0, clean_accuracy = 0, corrupted_accuracy = 0,
         clean_prob_correct = 0;
  int n_prompts = 0;
};

}  // namespace csweep::metrics
