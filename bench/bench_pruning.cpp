// bench_pruning: one iterative node-pruning run (workers/pruning) three ways on the same
// GPT-2-small-shaped random model (12 layers x 12 heads, d_model 768, d_mlp 3072, vocab 50257;
// --layers shrinks the depth) and the same prompts: 64 digit-sequence-like prompts of 11 tokens
// ("1 2 3 4 5" style: runs of consecutive ids from a 10-token block with a separator token),
// corrupted by random tokens everywhere (randAll), mean ablation, T = 20, the reference order,
// every head and MLP in the pool.
//
//   * fast:       the default pruner (batched executor, prefix reuse, speculative batching)
//   * sequential: the reference pruner, one hooked forward pass per candidate
//   * study:      the reference study's way, which recomputes the MLP means with the candidate
//                 attached: about three forward passes per candidate. A cost model, not run:
//                 3 x the sequential pruner's measured seconds, forwards and FLOPs per
//                 evaluation, times the evaluations (identical in all three).
//
// --sequential-sample runs the sequential pruner on the last layer's 13 components only (every
// sequential evaluation is one whole hooked forward whatever the candidate, so its seconds and
// FLOPs per evaluation do not depend on the pool) and models the full sequential run as those
// per-evaluation costs times the fast run's evaluations (equal to the sequential pruner's: the
// tests assert identical steps). For machines where the full sequential run (~1 h at 12 layers
// on 2 cores) does not fit; the table marks such rows "(model)".
//
// The answers: correct = the clean run's top token at the answer position, incorrect = the
// corrupted run's top token (another when equal), so the clean logit difference is large and
// positive like a task the model solves. Prints wall time, forward passes, FLOPs, GFLOP/s and
// the share of an fp32 matmul peak measured in the same run, the ratios, and the circuit.
//
//   bench_pruning [--layers N] [--prompts N] [--threads N] [--speculation N] [--no-sequential]
//                 [--sequential-sample]
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_common.hpp"
#include "workers/interventions/caches.hpp"
#include "workers/interventions/executor.hpp"
#include "workers/model/transformer.hpp"
#include "workers/model/weights.hpp"
#include "workers/pruning/pruner.hpp"

using namespace csweep;
using bench::Clock;
using bench::gpt2_small_random;
using bench::matmul_peak;
using bench::seconds_since;

namespace {

interv::PromptSet digit_prompts(const model::HookedTransformer& tm, int64_t B, int64_t P) {
  // Token ids 100..109 play the digits, 200 the separator: "d sep d+1 sep d+2 ..." of P tokens.
  torch::manual_seed(1);
  interv::PromptSet s;
  s.clean_tokens = torch::empty({B, P}, torch::kLong);
  for (int64_t b = 0; b < B; ++b) {
    const int64_t start = b % 10;
    for (int64_t p = 0; p < P; ++p) s.clean_tokens[b][p] = p % 2 == 1 ? 200 : 100 + (start + p / 2) % 10;
  }
  s.corrupted_tokens = torch::randint(0, tm.cfg().d_vocab, {B, P}, torch::kLong);
  s.answer_pos = torch::full({B}, P - 1, torch::kLong);
  s.group = torch::zeros({B}, torch::kLong);
  s.n_groups = 1;
  s.named_positions["end"] = s.answer_pos.clone();
  const auto clean = tm.forward(s.clean_tokens).select(1, P - 1);
  const auto bad = tm.forward(s.corrupted_tokens).select(1, P - 1);
  s.correct = clean.argmax(-1);
  auto alt = bad.argmax(-1);
  const auto second = std::get<1>(bad.topk(2, -1)).select(1, 1);
  s.incorrect = torch::where(alt.eq(s.correct), second, alt);
  return s;
}

struct Measured {
  double seconds = 0;
  pruning::PrunerStats stats;
  pruning::RunResult result;
};

Measured run(interv::Executor& ex, const interv::DatasetCache& cache, const pruning::RunSpec& spec,
             const pruning::PrunerOptions& opt) {
  Measured m;
  const auto t0 = Clock::now();
  m.result = pruning::run_pruning(ex, cache, interv::AblationKind::kMean, spec, {{metrics::Metric::kPerformance}, false},
                                  opt, &m.stats);
  m.seconds = seconds_since(t0);
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  int layers = 12, threads = 0, speculation = 0;
  int64_t prompts = 64;
  bool sequential = true, sample = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(64);
      }
      return argv[++i];
    };
    if (a == "--layers") layers = std::stoi(next());
    else if (a == "--prompts") prompts = std::stoll(next());
    else if (a == "--threads") threads = std::stoi(next());
    else if (a == "--speculation") speculation = std::stoi(next());
    else if (a == "--no-sequential") sequential = false;
    else if (a == "--sequential-sample") sample = true;
    else {
      std::fprintf(stderr, "usage: bench_pruning [--layers N] [--prompts N] [--threads N] [--speculation N] "
                           "[--no-sequential] [--sequential-sample]\n");
      return 64;
    }
  }
  torch::set_num_threads(threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  c10::InferenceMode guard;
  const int64_t P = 11;
  const auto loaded = gpt2_small_random(layers);
  const model::HookedTransformer tm(loaded);
  interv::DatasetCache cache(tm, digit_prompts(tm, prompts, P));
  interv::Executor ex(tm);

  pruning::RunSpec spec;
  for (int l = 0; l < layers; ++l) {
    for (int h = 0; h < 12; ++h) spec.pool.push_back({interv::ComponentKind::kHead, l, h});
    spec.pool.push_back({interv::ComponentKind::kMlp, l, 0});
  }
  spec.thresholds = {20};

  std::printf("# bench_pruning\n");
  std::printf("model: %d layers x 12 heads, d_model 768, d_mlp 3072, vocab 50257 (random); %lld prompts x %lld "
              "tokens; torch threads %d\n", layers, static_cast<long long>(prompts), static_cast<long long>(P),
              torch::get_num_threads());
  std::printf("clean LD %.4f, corrupted LD %.4f\n", cache.baseline().clean_logit_diff,
              cache.baseline().corrupted_logit_diff);
  double peak = matmul_peak();

  pruning::PrunerOptions fast_opt;
  fast_opt.max_speculation = speculation;
  const auto fast = run(ex, cache, spec, fast_opt);
  std::printf("fast pruner: %.1f s, %lld forwards, %.2f TFLOP, %lld evaluations\n", fast.seconds,
              static_cast<long long>(fast.stats.forwards), fast.stats.flops / 1e12,
              static_cast<long long>(fast.stats.evaluations));
  peak = std::max(peak, matmul_peak());
  Measured seq;
  if (sequential) {
    pruning::PrunerOptions seq_opt;
    seq_opt.sequential = true;
    if (sample) {
      auto last = spec;
      last.pool.assign(spec.pool.end() - 13, spec.pool.end());
      const auto part = run(ex, cache, last, seq_opt);
      const double n = static_cast<double>(part.stats.evaluations);
      const double per_s = part.seconds / n, per_flop = part.stats.flops / n;
      std::printf("sequential sample: %lld evaluations (last layer's pool) in %.1f s: %.2f s and %.1f GFLOP per "
                  "evaluation\n", static_cast<long long>(part.stats.evaluations), part.seconds, per_s, per_flop / 1e9);
      const auto evals = fast.stats.evaluations;
      seq.seconds = per_s * static_cast<double>(evals);
      seq.stats.evaluations = evals;
      seq.stats.forwards = evals;
      seq.stats.flops = per_flop * static_cast<double>(evals);
    } else {
      seq = run(ex, cache, spec, seq_opt);
      const bool same = seq.result.circuits[0].kept == fast.result.circuits[0].kept &&
                        seq.result.steps.size() == fast.result.steps.size();
      std::printf("sequential and fast circuits identical: %s\n", same ? "yes" : "NO");
    }
    peak = std::max(peak, matmul_peak());
  }

  const auto& c = fast.result.circuits[0];
  int heads = 0, mlps = 0;
  std::string names;
  for (size_t i = 0; i < spec.pool.size(); ++i) {
    if (c.kept[i] == 0) continue;
    const auto& comp = spec.pool[i];
    (comp.kind == interv::ComponentKind::kMlp ? mlps : heads) += 1;
    names += comp.kind == interv::ComponentKind::kMlp ? " mlp" + std::to_string(comp.layer)
                                                      : " " + std::to_string(comp.layer) + "." + std::to_string(comp.index);
  }
  std::printf("circuit at T = 20: %d heads, %d MLPs, performance %.2f %%, %d passes, %lld evaluations:%s\n", heads,
              mlps, c.metrics.performance, c.passes, static_cast<long long>(c.evaluations), names.c_str());
  std::printf("fast pruner: %lld speculative evaluations discarded\n", static_cast<long long>(fast.stats.discarded));
  std::printf("fp32 matmul peak (best of the run): %.1f GFLOP/s\n\n", peak / 1e9);

  std::printf("| pruner | seconds | forward passes | TFLOP | GFLOP/s | of peak | speed-up of fast |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|\n");
  auto row = [&](const char* name, double s, double fwd, double flops, bool measured) {
    std::printf("| %s | %.1f%s | %.0f | %.2f | %.1f | %.0f %% | %.1fx |\n", name, s, measured ? "" : " (model)", fwd,
                flops / 1e12, flops / s / 1e9, 100 * flops / s / peak, s / fast.seconds);
  };
  row("fast", fast.seconds, static_cast<double>(fast.stats.forwards), fast.stats.flops, true);
  if (sequential) {
    row("sequential", seq.seconds, static_cast<double>(seq.stats.forwards), seq.stats.flops, !sample);
    row("study (3 forwards per candidate)", 3 * seq.seconds, 3.0 * static_cast<double>(seq.stats.forwards),
        3 * seq.stats.flops, false);
    std::printf("\nFLOP ratio sequential / fast: %.1fx\n", seq.stats.flops / fast.stats.flops);
  }
  return 0;
}
