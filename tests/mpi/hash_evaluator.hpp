#pragma once
// A deterministic stand-in for the engine, for testing scheduling, resume and merge: every metric
// is a pure function (FNV-1a 64 of a canonical text) of the experiment and of the intervention's
// components, positions and receiver. tests/mpi/check_tables.py recomputes the same values from
// its own enumeration of the grid (itertools), independently of our grid code.
//
// Canonical text of an intervention row:
//   "<model>|<seed>|<task>|<corruption>|<ablation>|<metric_set>|<components>|<positions>|<receiver>"
// indices as decimal; components = names ("9.1", "mlp3", "n3.117") in ascending (layer, kind,
// index) order joined by ","; positions = "all" or the labels joined by ","; receiver = its name
// ("9.1q", "mlp5", "resid_final") or "".
// Baseline text: "baseline|<model>|<seed>|<task>|<corruption>".
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "pipeline/evaluator.hpp"

namespace csweep::testing {

inline std::uint64_t fnv1a64(const std::string& s) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

class HashEvaluator : public pipeline::UnitEvaluator {
 public:
  explicit HashEvaluator(const pipeline::JobSpec& job) : UnitEvaluator(job) {
    if (const char* d = std::getenv("CSWEEP_TEST_UNIT_DELAY_MS")) delay_ms_ = std::atoi(d);
  }

  metrics::Baseline baseline(const pipeline::ExperimentKey& k) override {
    const auto h = fnv1a64("baseline|" + std::to_string(k.model) + "|" + std::to_string(k.seed) +
                           "|" + std::to_string(k.task) + "|" + std::to_string(k.corruption));
    metrics::Baseline b;
    b.clean_logit_diff = 3.0 + static_cast<double>(h % 1000) / 1000.0;
    b.corrupted_logit_diff = static_cast<double>((h >> 16) % 1000) / 1000.0 - 0.5;
    b.clean_accuracy = 1.0;
    b.corrupted_accuracy = 0.25;
    b.clean_prob_correct = static_cast<double>((h >> 32) % 1000) / 1000.0;
    b.n_prompts = 4;
    return b;
  }

  std::vector<metrics::MetricRow> evaluate(const pipeline::ExperimentKey& k,
                                           const std::vector<interv::Intervention>& ivs) override {
    if (delay_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_));
    const auto b = baseline(k);
    const std::string prefix = std::to_string(k.model) + "|" + std::to_string(k.seed) + "|" +
                               std::to_string(k.task) + "|" + std::to_string(k.corruption) + "|" +
                               std::to_string(k.ablation) + "|" + std::to_string(k.metric_set) + "|";
    std::vector<metrics::MetricRow> rows;
    for (const auto& iv : ivs) {
      std::string comps, pos, rec;
      for (const auto& c : iv.components) comps += (comps.empty() ? "" : ",") + vocab::component_name(c);
      if (iv.positions.all()) {
        pos = "all";
      } else {
        for (int i : iv.positions.indices) pos += (pos.empty() ? "" : ",") + std::to_string(i);
        for (const auto& n : iv.positions.names) pos += (pos.empty() ? "" : ",") + n;
      }
      if (!iv.receivers.empty()) rec = vocab::receiver_name(iv.receivers.front());
      const auto h = fnv1a64(prefix + comps + "|" + pos + "|" + rec);
      metrics::MetricRow r;
      r.logit_diff = static_cast<double>(h % 100000) / 1000.0 - 50.0;
      r.performance = 100.0 * r.logit_diff / b.clean_logit_diff;
      r.normalized = (r.logit_diff - b.corrupted_logit_diff) / (b.clean_logit_diff - b.corrupted_logit_diff);
      r.kl = static_cast<double>((h >> 20) % 1000) / 1000.0;
      r.prob_correct = static_cast<double>((h >> 30) % 1000) / 1000.0;
      r.accuracy = static_cast<double>((h >> 40) % 2);
      r.prob_diff = 0.0;
      if (job_.output.per_prompt)
        for (int p = 0; p < b.n_prompts; ++p)
          r.per_prompt_logit_diff.push_back(static_cast<float>(r.logit_diff + 0.25 * p));
      rows.push_back(std::move(r));
    }
    return rows;
  }

 private:
  int delay_ms_ = 0;
};

}  // namespace csweep::testing
