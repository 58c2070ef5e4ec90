// estimate_cache_bytes against the tensors a DatasetCache really holds: the estimate (which also
// counts one layer's transient forward activations) bounds the cached bytes from above, and
// not by much, so `csweep eval` refuses what would not fit without refusing what would.
#include <gtest/gtest.h>

#include "engine_fixture.hpp"
#include "workers/interventions/caches.hpp"
#include "workers/interventions/session.hpp"
#include "workers/model/transformer.hpp"

namespace csweep::interv {
namespace {

double bytes(const torch::Tensor& t) { return t.defined() ? static_cast<double>(t.nbytes()) : 0.0; }
double bytes(const std::vector<torch::Tensor>& v) {
  double s = 0;
  for (const auto& t : v) s += bytes(t);
  return s;
}
double bytes(const RunCache& r) {
  return bytes(r.resid_pre) + bytes(r.z) + bytes(r.attn_out) + bytes(r.mlp_out) + bytes(r.final_answer) +
         bytes(r.answer_logits);
}

TEST(CacheEstimate, BoundsTheCachedTensors) {
  for (const auto& cfg : {testing::gpt2_config(), testing::llama_config()}) {
    const auto loaded = testing::random_model(cfg, 1);
    const model::HookedTransformer m(loaded);
    const int64_t B = 24, P = 12;
    const DatasetCache cache(m, testing::random_prompts(cfg, B, P, 2));
    double held = bytes(cache.clean()) + bytes(cache.corrupted());
    for (int l = 0; l < cfg.n_layers; ++l) held += bytes(cache.mean_z(l)) + bytes(cache.mean_mlp_out(l));
    const double est = estimate_cache_bytes(cfg, B, P, 4);
    EXPECT_GE(est, held) << cfg.name;
    EXPECT_LE(est, 1.5 * held) << cfg.name;  // the transient term is one layer's worth
    EXPECT_DOUBLE_EQ(estimate_cache_bytes(cfg, 2 * B, P, 4), 2 * est);
  }
}

}  // namespace
}  // namespace csweep::interv
