#include "workers/pruning/pruner.hpp"

#include <algorithm>
#include <cmath>
#include <memory>

#include "core/error.hpp"
#include "workers/interventions/reference_path.hpp"
#include "workers/model/transformer.hpp"
#include "workers/pruning/orders.hpp"

namespace csweep::pruning {

using interv::AblationKind;
using interv::Component;
using interv::Intervention;

namespace {

// Performance = 100 * mean LD / mean LD_clean, whatever the caller's metric set asks.
const metrics::MetricSet kPerformanceOnly{{metrics::Metric::kPerformance}, false};

// Within this distance of the threshold (in percentage points of 100 - performance) a batched
// evaluation is redone alone, so a decision never depends on which other candidates shared its
// batch: batched and single rows agree to float32 rounding (about 1e-5 pp on the tested models,
// docs/PRUNING.md), two orders of magnitude inside this band.
constexpr double kTieBand = 1e-3;

Intervention ablation_of(const RunSpec& spec, const std::vector<std::uint8_t>& kept, int candidate) {
  Intervention iv;
  for (size_t i = 0; i < spec.pool.size(); ++i) {
    if (kept[i] == 0 || static_cast<int>(i) == candidate) iv.components.push_back(spec.pool[i]);
  }
  return iv;
}

// 2 x multiply-adds of one hooked forward pass over `batch` prompts of `pos` tokens: q/k/v, the
// attention scores and mixing, the output projection, the MLP and the unembedding of every position.
double hooked_forward_flops(const model::ModelConfig& c, double batch, double pos) {
  const double rows = batch * pos;
  const double D = c.d_model, H = c.n_heads, K = c.n_kv_heads, E = c.d_head, M = c.d_mlp;
  const double per_layer = 2.0 * rows * (D * (H + 2 * K) * E + H * E * D + D * M * (c.gated_mlp ? 2 : 1) + M * D) +
                           4.0 * batch * H * pos * pos * E;
  return c.n_layers * per_layer + 2.0 * rows * D * c.d_vocab;
}

// Evaluates removal sets: each row = the pool components kept == 0 plus one candidate.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::vector<double> performance(const std::vector<Intervention>& ivs) = 0;
  virtual metrics::MetricRow circuit_row(const Intervention& iv, const metrics::MetricSet& want) = 0;
  virtual void add_stats(PrunerStats& s) const = 0;
};

// The loop as written: one hooked forward pass per candidate.
class SequentialBackend final : public Backend {
 public:
  SequentialBackend(const interv::Executor& ex, const interv::DatasetCache& cache, AblationKind kind)
      : model_(ex.model()), cache_(cache), kind_(kind),
        ref_(ex.model(), cache.prompts(), cache.mean_source()) {}

  std::vector<double> performance(const std::vector<Intervention>& ivs) override {
    std::vector<double> out;
    for (const auto& iv : ivs) out.push_back(row(iv, kPerformanceOnly).performance);
    return out;
  }
  metrics::MetricRow circuit_row(const Intervention& iv, const metrics::MetricSet& want) override {
    return row(iv, want);
  }
  void add_stats(PrunerStats& s) const override {
    s.forwards += forwards_;
    s.flops += static_cast<double>(forwards_) *
               hooked_forward_flops(model_.cfg(), static_cast<double>(cache_.prompts().batch()),
                                    static_cast<double>(cache_.prompts().seq_len()));
  }

 private:
  metrics::MetricRow row(const Intervention& iv, const metrics::MetricSet& want) {
    const auto logits = ref_.answer_logits(kind_, iv);  // [batch, d_vocab]
    ++forwards_;
    return metrics::compute_rows(logits.unsqueeze(0), false, cache_.metric_context(), want).at(0);
  }

  const model::HookedTransformer& model_;
  const interv::DatasetCache& cache_;
  AblationKind kind_;
  interv::ReferencePath ref_;
  std::int64_t forwards_ = 0;
};

// The batched executor (prefix reuse: a row joins at its earliest ablated layer from the clean
// cache; the last layer at the answer position only; two unembedding columns per prompt).
class FastBackend final : public Backend {
 public:
  FastBackend(interv::Executor& ex, const interv::DatasetCache& cache, AblationKind kind)
      : ex_(ex), cache_(cache), kind_(kind), start_(ex.stats()) {}

  std::vector<double> performance(const std::vector<Intervention>& ivs) override {
    std::vector<double> out;
    for (const auto& r : ex_.evaluate(cache_, kind_, ivs, kPerformanceOnly)) out.push_back(r.performance);
    return out;
  }
  metrics::MetricRow circuit_row(const Intervention& iv, const metrics::MetricSet& want) override {
    return ex_.evaluate(cache_, kind_, {iv}, want).at(0);
  }
  void add_stats(PrunerStats& s) const override {
    s.forwards += ex_.stats().batches - start_.batches;
    s.flops += ex_.stats().flops - start_.flops;
  }

 private:
  interv::Executor& ex_;
  const interv::DatasetCache& cache_;
  AblationKind kind_;
  interv::ExecutorStats start_;
};

bool removes(double performance, double threshold) { return 100.0 - performance < threshold; }

}  // namespace

RunResult run_pruning(interv::Executor& executor, const interv::DatasetCache& cache, AblationKind kind,
                      const RunSpec& spec, const metrics::MetricSet& want, const PrunerOptions& options,
                      PrunerStats* stats) {
  const auto& cfg = executor.model().cfg();
  validate_run_spec(spec, kind, cfg.n_layers, cfg.n_heads);
  CSWEEP_CHECK_INPUT(options.max_speculation >= 0,
                     "pruning: max_speculation {} is negative (expected 0 = automatic, or a batch size)",
                     options.max_speculation);

  std::unique_ptr<Backend> backend;
  if (options.sequential) {
    backend = std::make_unique<SequentialBackend>(executor, cache, kind);
  } else {
    backend = std::make_unique<FastBackend>(executor, cache, kind);
  }
  // Speculation window: at most `cap` candidates per batch. The window adapts (doubles after a
  // fully correct prediction, halves after a miss); that only changes how much work is thrown
  // away, never a decision. The sequential pruner evaluates one candidate at a time.
  const int cap = options.sequential ? 1 : options.max_speculation > 0 ? options.max_speculation : 64;
  int window = std::min(cap, 4);

  const size_t n = spec.pool.size();
  std::vector<std::uint8_t> kept(n, 1);
  // The last performance measured with each candidate removed (NaN = never evaluated): predicts
  // the next decision on it. Never evaluated: predicted removed (removals dominate the first pass).
  std::vector<double> last(n, std::nan(""));
  RunResult result;
  std::int64_t discarded = 0;

  for (size_t ti = 0; ti < spec.thresholds.size(); ++ti) {
    const double T = spec.thresholds[ti];
    Circuit circuit;
    circuit.threshold = T;
    for (int pass = 0;; ++pass) {
      const auto seq = pass_sequence(spec, kept);
      bool removed_any = false;
      size_t pos = 0;
      while (pos < seq.size()) {
        if (kept[static_cast<size_t>(seq[pos])] == 0) {  // removed earlier in this pass
          ++pos;
          continue;
        }
        // The next candidates under the predicted decisions of the earlier ones.
        struct Guess {
          size_t pos;
          int idx;
          bool removed;
        };
        std::vector<Guess> guesses;
        std::vector<Intervention> ivs;
        auto assumed = kept;
        for (size_t p = pos; p < seq.size() && static_cast<int>(guesses.size()) < window; ++p) {
          const int idx = seq[p];
          if (assumed[static_cast<size_t>(idx)] == 0) continue;
          const double lp = last[static_cast<size_t>(idx)];
          const bool predicted = std::isnan(lp) || removes(lp, T);
          guesses.push_back({p, idx, predicted});
          ivs.push_back(ablation_of(spec, assumed, idx));
          if (predicted) assumed[static_cast<size_t>(idx)] = 0;
        }
        auto perf = backend->performance(ivs);
        // Keep evaluations while the assumed prefix matches the actual decisions; the first
        // mismatch is itself valid (its prefix matched), everything after it is redone.
        size_t used = 0;
        for (; used < guesses.size(); ++used) {
          const auto& g = guesses[used];
          double p = perf[used];
          if (ivs.size() > 1 && std::fabs((100.0 - p) - T) < kTieBand) {
            p = backend->performance({ivs[used]}).at(0);
          }
          const bool removed = removes(p, T);
          Step st;
          st.threshold_index = static_cast<std::int32_t>(ti);
          st.pass = pass;
          st.position = static_cast<std::int32_t>(g.pos);
          st.component = spec.pool[static_cast<size_t>(g.idx)];
          st.performance = p;
          st.removed = removed;
          result.steps.push_back(st);
          ++circuit.evaluations;
          last[static_cast<size_t>(g.idx)] = p;
          if (removed) {
            kept[static_cast<size_t>(g.idx)] = 0;
            removed_any = true;
          }
          pos = g.pos + 1;
          if (removed != g.removed) {
            ++used;
            break;
          }
        }
        discarded += static_cast<std::int64_t>(guesses.size() - used);
        window = used == guesses.size() ? std::min(cap, 2 * window) : std::max(1, window / 2);
      }
      circuit.passes = pass + 1;
      if (!removed_any || spec.one_iter) break;
    }
    circuit.kept = kept;
    Intervention alone;
    for (size_t i = 0; i < n; ++i) {
      if (kept[i] == 0) alone.components.push_back(spec.pool[i]);
    }
    circuit.metrics = backend->circuit_row(alone, want);
    result.circuits.push_back(std::move(circuit));
  }

  if (stats != nullptr) {
    *stats = {};
    backend->add_stats(*stats);
    stats->evaluations = static_cast<std::int64_t>(result.steps.size());
    stats->discarded = discarded;
  }
  return result;
}

}  // namespace csweep::pruning
