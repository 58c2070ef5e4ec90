// bench_engine: the batched intervention executor against the one-at-a-time hooked path on a
// GPT-2-small-shaped random model (12 layers x 12 heads, d_model 768, d_mlp 3072, vocab 50257),
// 16 prompts of 45 tokens (the reference study's prompt length; random ids).
//
// Workload (mean ablation, performance = 100 * LD / LD_clean):
//   * all 144 single heads + the 1,128 head pairs among the 48 heads of layers 8-11 (1,272)
//   * batched executor over all of them: two-column unembedding (LD metrics) and, separately,
//     full-vocabulary unembedding (every metric, KL included)
//   * one-at-a-time hooked path over a random sample of them (default 100)
// Prints interventions/s of each, their ratio, and achieved FLOP/s / the matmul peak (same dtype)
// measured in the same run.
//
//   bench_engine [--sample N] [--threads N] [--device cpu|cuda] [--dtype fp32|bf16|fp16]
//                [--prompts N] [--budget-mb MB] [--all-metrics] [--quick] [--triples N]
// --threads defaults to every hardware thread; --all-metrics adds the full-vocabulary pass;
// --prompts sets the batch of prompts (16 by default; the all-triples sweep uses 64).
// --triples N then times N head triples drawn uniformly from all C(144, 3) = 487,344 of the
// model and projects the all-triples sweep (487,344 triples x 3 tasks at this prompt count) from
// their rate: triples with an early layer cost more (less of the forward is shared), so pairs of
// late heads would flatter the projection.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_common.hpp"
#include "workers/interventions/caches.hpp"
#include "workers/interventions/executor.hpp"
#include "workers/interventions/reference_path.hpp"
#include "workers/model/transformer.hpp"
#include "workers/model/weights.hpp"

using namespace csweep;
using bench::Clock;
using bench::gpt2_small_random;
using bench::matmul_peak;
using bench::seconds_since;
using bench::sync;

namespace {

// FLOPs of one full hooked forward pass (what the one-at-a-time path runs per intervention):
// every block at every position, the unembedding at every position.
double full_forward_flops(const model::ModelConfig& c, int64_t B, int64_t P) {
  const double T = static_cast<double>(B * P);
  const double D = c.d_model, H = c.n_heads, E = c.d_head, M = c.d_mlp;
  const double per_layer = 2 * T * D * (3 * H * E) + 2 * T * H * E * D + 2 * 2 * T * D * M +
                           4 * static_cast<double>(B) * H * P * P * E;
  return c.n_layers * per_layer + 2 * T * D * c.d_vocab;
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  int sample = 100, threads = 0, triples = 0;
  int64_t n_prompts = 16;
  std::string device = "cpu", dtype_name = "fp32";
  double budget_mb = 768;
  bool quick = false, all_metrics = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(64);
      }
      return argv[++i];
    };
    if (a == "--sample") sample = std::stoi(next());
    else if (a == "--threads") threads = std::stoi(next());
    else if (a == "--device") device = next();
    else if (a == "--dtype") dtype_name = next();
    else if (a == "--prompts") n_prompts = std::stoll(next());
    else if (a == "--triples") triples = std::stoi(next());
    else if (a == "--budget-mb") budget_mb = std::stod(next());
    else if (a == "--quick") quick = true;
    else if (a == "--all-metrics") all_metrics = true;
    else {
      std::fprintf(stderr, "usage: bench_engine [--sample N] [--threads N] [--device cpu|cuda] "
                           "[--dtype fp32|bf16|fp16] [--prompts N] [--budget-mb MB] [--all-metrics] "
                           "[--quick] [--triples N]\n");
      return 64;
    }
  }
  torch::ScalarType dtype = torch::kFloat32;
  if (dtype_name == "bf16") dtype = torch::kBFloat16;
  else if (dtype_name == "fp16") dtype = torch::kHalf;
  else if (dtype_name != "fp32") {
    std::fprintf(stderr, "--dtype: '%s' is not one of fp32, bf16, fp16\n", dtype_name.c_str());
    return 64;
  }
  if (n_prompts < 1 || triples < 0) {
    std::fprintf(stderr, "--prompts must be >= 1 and --triples >= 0\n");
    return 64;
  }
  // LibTorch's default intra-op pool may be a single thread; the element-wise kernels between
  // the GEMMs (norms, GELU, softmax, where) need every core too.
  torch::set_num_threads(threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  const torch::Device dev(device);
  c10::InferenceMode guard;

  std::printf("# bench_engine\n");
  std::printf("torch threads: %d, device: %s, dtype: %s, prompts: %lld\n", torch::get_num_threads(),
              device.c_str(), dtype_name.c_str(), static_cast<long long>(n_prompts));
  double peak = matmul_peak(dev, dtype);

  const auto loaded = gpt2_small_random();
  const model::HookedTransformer tm(loaded, dev, dtype);
  const auto& cfg = tm.cfg();
  const int64_t B = n_prompts, P = 45;
  interv::PromptSet set;
  torch::manual_seed(1);
  set.clean_tokens = torch::randint(0, cfg.d_vocab, {B, P}, torch::kLong);
  set.corrupted_tokens = torch::randint(0, cfg.d_vocab, {B, P}, torch::kLong);
  set.answer_pos = torch::full({B}, P - 1, torch::kLong);
  set.group = torch::zeros({B}, torch::kLong);
  {
    // Answers: the clean run's top-1 and a random other token, so LD_clean > 0 as on a real task.
    auto logits = tm.forward(set.clean_tokens);
    set.correct = logits.select(1, P - 1).argmax(-1).cpu();
    set.incorrect = (set.correct + 1 + torch::randint(0, cfg.d_vocab - 1, {B}, torch::kLong)) % cfg.d_vocab;
  }
  auto t0 = Clock::now();
  interv::DatasetCache cache(tm, set);
  sync(dev);
  std::printf("caches (clean + corrupted runs, means): %.2f s\n", seconds_since(t0));

  std::vector<interv::Intervention> ivs;
  for (int l = 0; l < 12; ++l)
    for (int h = 0; h < 12; ++h) ivs.push_back({{{interv::ComponentKind::kHead, l, h}}, {}, {}});
  std::vector<interv::Component> late;
  for (int l = 8; l < 12; ++l)
    for (int h = 0; h < 12; ++h) late.push_back({interv::ComponentKind::kHead, l, h});
  for (size_t i = 0; i < late.size(); ++i)
    for (size_t j = i + 1; j < late.size(); ++j) ivs.push_back({{late[i], late[j]}, {}, {}});
  if (quick) {
    ivs.resize(200);
    sample = std::min(sample, 10);
  }
  std::printf("interventions: %zu (144 single heads + 1128 pairs in layers 8-11)\n", ivs.size());

  interv::ExecutorOptions opt;
  opt.memory_budget_bytes = static_cast<std::size_t>(budget_mb * 1024 * 1024);
  interv::Executor ex(tm, opt);
  metrics::MetricSet ld_only;
  ld_only.metrics = {metrics::Metric::kLogitDiff, metrics::Metric::kPerformance};
  // Warm-up (allocator, thread pool) on a few interventions.
  ex.evaluate(cache, interv::AblationKind::kMean, {ivs.begin(), ivs.begin() + 4}, ld_only);
  ex.reset_stats();

  std::mt19937 rng(7);
  std::vector<size_t> pick(ivs.size());
  for (size_t i = 0; i < pick.size(); ++i) pick[i] = i;
  std::shuffle(pick.begin(), pick.end(), rng);
  pick.resize(std::min<size_t>(static_cast<size_t>(sample), pick.size()));
  interv::ReferencePath ref(tm, set);
  ref.answer_logits(interv::AblationKind::kMean, ivs[pick[0]]);  // warm-up

  // The two paths run interleaved in rounds (a slice of the batched workload, then a slice of
  // the one-at-a-time sample, then a fresh matmul-peak measurement), so that load from other
  // processes on a shared machine affects both alike; the peak is the best one observed.
  const int rounds = quick ? 2 : 10;
  std::vector<metrics::MetricRow> rows(ivs.size());
  std::vector<double> ref_ld(pick.size());
  double t_batched = 0, flops_batched = 0, t_full = 0, flops_full = 0, t_ref = 0;
  std::int64_t batches = 0;
  for (int k = 0; k < rounds; ++k) {
    const size_t lo = ivs.size() * k / rounds, hi = ivs.size() * (k + 1) / rounds;
    const std::vector<interv::Intervention> sub(ivs.begin() + static_cast<std::ptrdiff_t>(lo),
                                                ivs.begin() + static_cast<std::ptrdiff_t>(hi));
    ex.reset_stats();
    t0 = Clock::now();
    auto part = ex.evaluate(cache, interv::AblationKind::kMean, sub, ld_only);
    sync(dev);
    t_batched += seconds_since(t0);
    flops_batched += ex.stats().flops;
    batches += ex.stats().batches;
    for (size_t i = lo; i < hi; ++i) rows[i] = std::move(part[i - lo]);
    if (all_metrics) {
      ex.reset_stats();
      t0 = Clock::now();
      ex.evaluate(cache, interv::AblationKind::kMean, sub, {});
      sync(dev);
      t_full += seconds_since(t0);
      flops_full += ex.stats().flops;
    }
    const size_t plo = pick.size() * k / rounds, phi = pick.size() * (k + 1) / rounds;
    t0 = Clock::now();
    for (size_t j = plo; j < phi; ++j) {
      const auto logits = ref.answer_logits(interv::AblationKind::kMean, ivs[pick[j]]);
      ref_ld[j] = metrics::logit_diff(logits, cache.metric_context(), false).mean().item<double>();
    }
    sync(dev);
    t_ref += seconds_since(t0);
    peak = std::max(peak, matmul_peak(dev, dtype));
    std::fprintf(stderr, "round %d/%d: batched %.1f s, one-at-a-time %.1f s so far\n", k + 1, rounds,
                 t_batched, t_ref);
  }
  double max_diff = 0;
  for (size_t j = 0; j < pick.size(); ++j) max_diff = std::max(max_diff, std::abs(ref_ld[j] - rows[pick[j]].logit_diff));
  const double flops_ref = static_cast<double>(pick.size()) * full_forward_flops(cfg, B, P);

  const double n = static_cast<double>(ivs.size());
  const double rate_b = n / t_batched, rate_f = all_metrics ? n / t_full : 0, rate_r = pick.size() / t_ref;
  std::printf("%s matmul peak (best of %d measurements in the run): %.1f GFLOP/s\n", dtype_name.c_str(),
              rounds + 1, peak / 1e9);
  std::printf("\n| path | interventions | seconds | interventions/s | GFLOP/s | of peak |\n");
  std::printf("|---|---:|---:|---:|---:|---:|\n");
  std::printf("| batched, LD metrics (2-column unembed) | %zu | %.2f | %.1f | %.1f | %.0f %% |\n", ivs.size(),
              t_batched, rate_b, flops_batched / t_batched / 1e9, 100 * flops_batched / t_batched / peak);
  if (all_metrics) {
    std::printf("| batched, all metrics (full-vocab unembed) | %zu | %.2f | %.1f | %.1f | %.0f %% |\n",
                ivs.size(), t_full, rate_f, flops_full / t_full / 1e9, 100 * flops_full / t_full / peak);
  }
  std::printf("| one-at-a-time hooked forward | %zu | %.2f | %.2f | %.1f | %.0f %% |\n", pick.size(), t_ref,
              rate_r, flops_ref / t_ref / 1e9, 100 * flops_ref / t_ref / peak);
  std::printf("\nbatched / one-at-a-time: %.1fx (LD metrics)", rate_b / rate_r);
  if (all_metrics) std::printf(", %.1fx (all metrics)", rate_f / rate_r);
  std::printf("\n");
  std::printf("FLOPs per intervention: batched %.2f GFLOP, one-at-a-time %.2f GFLOP (%.1fx less work)\n",
              flops_batched / n / 1e9, full_forward_flops(cfg, B, P) / 1e9,
              full_forward_flops(cfg, B, P) / (flops_batched / n));
  std::printf("batches: %lld; LD_clean %.3f; max |LD batched - LD one-at-a-time| over the sample: %.2e\n",
              static_cast<long long>(batches), cache.baseline().clean_logit_diff, max_diff);

  if (triples > 0) {
    // Uniform triples of distinct heads (rejection of repeats), in the executor's usual batches.
    std::vector<interv::Component> heads;
    for (int l = 0; l < 12; ++l)
      for (int h = 0; h < 12; ++h) heads.push_back({interv::ComponentKind::kHead, l, h});
    std::uniform_int_distribution<int> any(0, static_cast<int>(heads.size()) - 1);
    std::vector<interv::Intervention> tri;
    while (static_cast<int>(tri.size()) < triples) {
      const int a = any(rng), b = any(rng), c = any(rng);
      if (a == b || b == c || a == c) continue;
      tri.push_back({{heads[static_cast<size_t>(a)], heads[static_cast<size_t>(b)], heads[static_cast<size_t>(c)]}, {}, {}});
    }
    ex.reset_stats();
    t0 = Clock::now();
    ex.evaluate(cache, interv::AblationKind::kMean, tri, ld_only);
    sync(dev);
    const double t_tri = seconds_since(t0);
    const double rate_t = static_cast<double>(tri.size()) / t_tri;
    const double all = 487344.0 * 3;
    std::printf("\nhead triples (uniform over all 487,344): %zu in %.2f s = %.1f interventions/s, %.1f GFLOP/s "
                "(%.0f %% of peak)\n",
                tri.size(), t_tri, rate_t, ex.stats().flops / t_tri / 1e9, 100 * ex.stats().flops / t_tri / peak);
    std::printf("projected all-triples sweep (487,344 triples x 3 tasks x %lld prompts, one device): %.0f s = %.2f h\n",
                static_cast<long long>(B), all / rate_t, all / rate_t / 3600);
  }
  return 0;
}
