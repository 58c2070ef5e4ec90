// The batched executor against the one-at-a-time hooked path (fp32, within fp32_bound of
// engine_fixture.hpp) on random
// intervention sets of every kind, for a GPT-2-style and a Llama-style random model; plus the
// invariants every intervention engine must satisfy.
#include <gtest/gtest.h>

#include <random>

#include "core/error.hpp"
#include "vocab/names.hpp"
#include "engine_fixture.hpp"
#include "workers/interventions/caches.hpp"
#include "workers/interventions/executor.hpp"
#include "workers/interventions/reference_path.hpp"
#include "workers/model/transformer.hpp"

namespace csweep::interv {
namespace {

using testing::gpt2_config;
using testing::llama_config;
using testing::random_model;
using testing::random_prompts;

using testing::fp32_bound;

Positions random_positions(std::mt19937& rng) {
  Positions p;
  switch (rng() % 4) {
    case 0: break;                                   // all
    case 1: p.indices = {1, -1}; break;              // absolute + from the end
    case 2: p.names = {"S1", "end"}; break;
    default: p.indices = {2}; p.names = {"S2"}; break;
  }
  return p;
}

std::vector<Intervention> random_interventions(AblationKind kind, const model::ModelConfig& c, int n,
                                               uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<Intervention> out;
  out.push_back({});  // the empty intervention is always part of the set
  if (kind == AblationKind::kPathPatch) out.back().receivers.push_back({ReceiverKind::kResidFinal, 0, 0});
  for (int i = 0; i < n; ++i) {
    Intervention iv;
    const int n_comp = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < n_comp; ++k) {
      Component comp;
      comp.layer = static_cast<int>(rng() % c.n_layers);
      const int what = static_cast<int>(rng() % (kind == AblationKind::kPathPatch ? 2 : 3));
      if (what == 0) {
        comp.kind = ComponentKind::kHead;
        comp.index = static_cast<int>(rng() % c.n_heads);
      } else if (what == 1) {
        comp.kind = ComponentKind::kMlp;
      } else {
        comp.kind = ComponentKind::kNeuron;
        comp.index = static_cast<int>(rng() % c.d_mlp);
      }
      iv.components.push_back(comp);
    }
    iv.positions = random_positions(rng);
    if (kind == AblationKind::kPathPatch) {
      const int n_recv = 1 + static_cast<int>(rng() % 2);
      for (int k = 0; k < n_recv; ++k) {
        Receiver r;
        r.kind = static_cast<ReceiverKind>(rng() % 5);
        r.layer = static_cast<int>(rng() % c.n_layers);
        r.head = static_cast<int>(rng() % (r.kind == ReceiverKind::kHeadQ ? c.n_heads : c.n_kv_heads));
        iv.receivers.push_back(r);
      }
    }
    out.push_back(iv);
  }
  return out;
}

class BatchedEqualsReference : public ::testing::TestWithParam<std::tuple<int, int>> {};

TEST_P(BatchedEqualsReference, AnswerLogitsMatch) {
  const auto [model_idx, kind_idx] = GetParam();
  const auto cfg = model_idx == 0 ? gpt2_config() : llama_config();
  const auto kind = static_cast<AblationKind>(kind_idx);
  const auto loaded = random_model(cfg, 11 + model_idx);
  const model::HookedTransformer tm(loaded);
  const auto prompts = random_prompts(cfg, 6, 12, 5);
  DatasetCache cache(tm, prompts);
  ReferencePath ref(tm, prompts);
  ExecutorOptions opt;
  opt.max_interventions_per_batch = 5;  // several batches, joiners at several layers
  Executor ex(tm, opt);

  const auto ivs = random_interventions(kind, cfg, 14, 100 + 7 * kind_idx + model_idx);
  const auto batched = ex.answer_logits(cache, kind, ivs, true);
  ASSERT_EQ(batched.size(0), static_cast<int64_t>(ivs.size()));
  for (size_t i = 0; i < ivs.size(); ++i) {
    const auto expect = ref.answer_logits(kind, ivs[i]);
    const double diff = (batched[static_cast<int64_t>(i)] - expect).abs().max().item<double>();
    EXPECT_LE(diff, fp32_bound(cfg, 12, expect)) << csweep::vocab::ablation_kinds().name(kind) << " intervention " << i;
  }
  // Not vacuous: the interventions do move the logits away from the clean run's.
  const auto moved = (batched - cache.clean().answer_logits.unsqueeze(0)).abs().amax({1, 2});
  EXPECT_GT(moved.gt(1e-3).sum().item<int64_t>(), static_cast<int64_t>(ivs.size()) / 2);
  // Two-column mode reads the same numbers.
  const auto two = ex.answer_logits(cache, kind, ivs, false);
  const auto c = prompts.correct.view({1, -1, 1}).expand({two.size(0), -1, 1});
  const auto w = prompts.incorrect.view({1, -1, 1}).expand({two.size(0), -1, 1});
  const double tol = fp32_bound(cfg, 12, batched);
  EXPECT_LE((two.select(2, 0) - batched.gather(2, c).squeeze(2)).abs().max().item<double>(), tol);
  EXPECT_LE((two.select(2, 1) - batched.gather(2, w).squeeze(2)).abs().max().item<double>(), tol);
}

INSTANTIATE_TEST_SUITE_P(AllKinds, BatchedEqualsReference,
                         ::testing::Combine(::testing::Values(0, 1), ::testing::Range(0, 6)));

// Mean ablation with the means taken over the clean prompts instead of the corrupted ones: the
// batched executor equals the hooked one-at-a-time path, and the two mean sources differ.
TEST(BatchedEqualsReference, MeanOverCleanSetMatches) {
  for (int model_idx : {0, 1}) {
    const auto cfg = model_idx == 0 ? gpt2_config() : llama_config();
    const auto loaded = random_model(cfg, 31 + model_idx);
    const model::HookedTransformer tm(loaded);
    const auto prompts = random_prompts(cfg, 6, 12, 8);
    DatasetCache clean_means(tm, prompts, MeanSource::kClean);
    DatasetCache corrupt_means(tm, prompts, MeanSource::kCorrupted);
    ReferencePath ref(tm, prompts, MeanSource::kClean);
    ExecutorOptions opt;
    opt.max_interventions_per_batch = 4;
    Executor ex(tm, opt);
    const auto ivs = random_interventions(AblationKind::kMean, cfg, 10, 300 + model_idx);
    const auto batched = ex.answer_logits(clean_means, AblationKind::kMean, ivs, true);
    for (size_t i = 0; i < ivs.size(); ++i) {
      const auto expect = ref.answer_logits(AblationKind::kMean, ivs[i]);
      EXPECT_LE((batched[static_cast<int64_t>(i)] - expect).abs().max().item<double>(), fp32_bound(cfg, 12, expect))
          << "model " << model_idx << " intervention " << i;
    }
    const auto other = ex.answer_logits(corrupt_means, AblationKind::kMean, ivs, true);
    EXPECT_GT((batched - other).abs().max().item<double>(), 1e-3) << "mean sources coincide";
  }
}

TEST(ExecutorInvariants, EmptyInterventionIsTheCleanRun) {
  const auto cfg = gpt2_config();
  const model::HookedTransformer tm(random_model(cfg, 3));
  DatasetCache cache(tm, random_prompts(cfg, 8, 10, 9));
  Executor ex(tm);
  for (auto kind : {AblationKind::kZero, AblationKind::kMean, AblationKind::kResample,
                    AblationKind::kPatchCorruptIntoClean}) {
    const auto rows = ex.evaluate(cache, kind, {Intervention{}}, {});
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_NEAR(rows[0].performance, 100.0, 1e-4);
    EXPECT_NEAR(rows[0].kl, 0.0, 1e-6);
    EXPECT_NEAR(rows[0].logit_diff, cache.baseline().clean_logit_diff, 1e-5);
    EXPECT_NEAR(rows[0].normalized, 1.0, 1e-5);
  }
}

TEST(ExecutorInvariants, PatchingCleanIntoCleanChangesNothing) {
  const auto cfg = gpt2_config();
  const model::HookedTransformer tm(random_model(cfg, 4));
  auto prompts = random_prompts(cfg, 6, 10, 10);
  prompts.corrupted_tokens = prompts.clean_tokens.clone();
  DatasetCache cache(tm, prompts);
  Executor ex(tm);
  for (auto kind : {AblationKind::kPatchCorruptIntoClean, AblationKind::kPatchCleanIntoCorrupt,
                    AblationKind::kResample, AblationKind::kPathPatch}) {
    const auto ivs = random_interventions(kind, cfg, 10, 77);
    for (const auto& r : ex.evaluate(cache, kind, ivs, {})) {
      EXPECT_NEAR(r.performance, 100.0, 1e-3) << csweep::vocab::ablation_kinds().name(kind);
      EXPECT_NEAR(r.kl, 0.0, 1e-6) << csweep::vocab::ablation_kinds().name(kind);
    }
  }
}

TEST(ExecutorInvariants, PathPatchingASenderWithoutEffectChangesNothing) {
  // Head 0.1 reads nothing (W_V = 0, b_V = 0): its z is zero on clean and corrupted prompts alike,
  // so path patching it into any receiver must leave the clean run untouched.
  const auto cfg = gpt2_config();
  auto loaded = random_model(cfg, 6);
  loaded.params["blocks.0.attn.W_V"][1].zero_();
  loaded.params["blocks.0.attn.b_V"][1].zero_();
  const model::HookedTransformer tm(loaded);
  DatasetCache cache(tm, random_prompts(cfg, 6, 10, 12));
  Executor ex(tm);
  std::vector<Intervention> ivs;
  for (auto rk : {ReceiverKind::kHeadQ, ReceiverKind::kHeadK, ReceiverKind::kHeadV,
                  ReceiverKind::kMlpIn, ReceiverKind::kResidFinal}) {
    Intervention iv;
    iv.components.push_back({ComponentKind::kHead, 0, 1});
    iv.receivers.push_back({rk, 2, 3});
    ivs.push_back(iv);
  }
  // A sender that does matter, as a control: the invariant is not vacuous.
  Intervention control;
  control.components.push_back({ComponentKind::kHead, 0, 2});
  control.receivers.push_back({ReceiverKind::kResidFinal, 0, 0});
  ivs.push_back(control);
  const auto rows = ex.evaluate(cache, AblationKind::kPathPatch, ivs, {});
  for (size_t i = 0; i + 1 < rows.size(); ++i) {
    EXPECT_NEAR(rows[i].performance, 100.0, 1e-3) << "receiver kind " << i;
    EXPECT_NEAR(rows[i].kl, 0.0, 1e-6) << "receiver kind " << i;
  }
  EXPECT_GT(rows.back().kl, 1e-6);
}

TEST(ExecutorErrors, RejectsOutOfRangeComponents) {
  const auto cfg = gpt2_config();
  const model::HookedTransformer tm(random_model(cfg, 7));
  DatasetCache cache(tm, random_prompts(cfg, 4, 8, 1));
  Executor ex(tm);
  Intervention bad;
  bad.components.push_back({ComponentKind::kHead, 3, 0});
  EXPECT_THROW(ex.evaluate(cache, AblationKind::kMean, {bad}, {}), InputError);
  Intervention no_recv;
  no_recv.components.push_back({ComponentKind::kHead, 0, 0});
  EXPECT_THROW(ex.evaluate(cache, AblationKind::kPathPatch, {no_recv}, {}), InputError);
  Intervention bad_name;
  bad_name.components.push_back({ComponentKind::kHead, 0, 0});
  bad_name.positions.names = {"S9"};
  EXPECT_THROW(ex.evaluate(cache, AblationKind::kZero, {bad_name}, {}), InputError);
}

// The batched blocks do not implement Gemma's: an intervention that re-runs one is refused, while
// the empty intervention (a baseline, `csweep eval` without --ablate) still reads the hooked
// model's clean run.
TEST(ExecutorErrors, RefusesGemmaBlocksButRunsTheBaseline) {
  const auto cfg = testing::gemma3_config();
  const model::HookedTransformer tm(random_model(cfg, 11));
  DatasetCache cache(tm, random_prompts(cfg, 4, 8, 2));
  Executor ex(tm);
  const auto rows = ex.evaluate(cache, AblationKind::kZero, {Intervention{}}, {});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_NEAR(rows[0].logit_diff, cache.baseline().clean_logit_diff, 1e-5);
  Intervention head;
  head.components.push_back({ComponentKind::kHead, 0, 1});
  try {
    (void)ex.evaluate(cache, AblationKind::kZero, {head}, {});
    ADD_FAILURE() << "a Gemma head ablation was not refused";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("Gemma"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("random-gemma3"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace csweep::interv
