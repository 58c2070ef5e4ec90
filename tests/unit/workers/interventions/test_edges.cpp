// Edge-set interventions: graph enumeration, and the batched edge executor against the
// one-at-a-time hooked reference (fp32, within fp32_bound) and against three-pass path patching.
#include <gtest/gtest.h>

#include <random>

#include "engine_fixture.hpp"
#include "core/error.hpp"
#include "vocab/edges.hpp"
#include "workers/interventions/caches.hpp"
#include "workers/interventions/edges.hpp"
#include "workers/interventions/executor.hpp"
#include "workers/interventions/reference_path.hpp"
#include "workers/model/transformer.hpp"

namespace csweep::interv {
namespace {

using testing::gpt2_config;
using testing::llama_config;
using testing::random_model;
using testing::random_prompts;

// Tolerance: fp32_bound (engine_fixture.hpp), the rounding bound of two fp32 evaluations of the
// same model in other summation orders; 12 = the prompts' positions.
using testing::fp32_bound;

TEST(EdgeGraph, EdgesAmongNodes) {
  // Heads 0.1, 1.2 and MLPs 0, 1 in a 4-head MHA model: 0.1 -> {1.2 q k v, m0, m1, logits},
  // m0 -> {1.2 q k v, m1, logits}, 1.2 -> {m1, logits}, m1 -> {logits}.
  const std::vector<Component> nodes = {{ComponentKind::kHead, 1, 2}, {ComponentKind::kMlp, 0, 0},
                                        {ComponentKind::kHead, 0, 1}, {ComponentKind::kMlp, 1, 0}};
  const auto edges = edges_among(nodes, 4, 4);
  std::vector<std::string> names;
  for (const auto& e : edges) names.push_back(vocab::edge_name(e));
  const std::vector<std::string> expect = {
      "a0.h1->m0", "a0.h1->a1.h2<q>", "a0.h1->a1.h2<k>", "a0.h1->a1.h2<v>", "a0.h1->m1", "a0.h1->logits",
      "m0->a1.h2<q>", "m0->a1.h2<k>", "m0->a1.h2<v>", "m0->m1", "m0->logits",
      "a1.h2->m1", "a1.h2->logits", "m1->logits"};
  EXPECT_EQ(names, expect);
  // Grouped-query attention: query heads 1.0 and 1.1 share key-value head 0 (4 heads, 2 kv heads).
  const auto gqa = edges_among({{ComponentKind::kHead, 0, 0}, {ComponentKind::kHead, 1, 0}, {ComponentKind::kHead, 1, 1}}, 4, 2);
  std::vector<std::string> gnames;
  for (const auto& e : gqa) gnames.push_back(vocab::edge_name(e));
  const std::vector<std::string> gexpect = {"a0.h0->a1.h0<q>", "a0.h0->a1.h0<k>", "a0.h0->a1.h0<v>",
                                            "a0.h0->a1.h1<q>", "a0.h0->logits", "a1.h0->logits", "a1.h1->logits"};
  EXPECT_EQ(gnames, gexpect);
}

TEST(EdgeGraph, InvalidEdgesAreRejectedWithTheEdgeNamed) {
  const auto cfg = gpt2_config();
  auto check = [&](const EdgeIntervention& iv, const std::string& needle) {
    try {
      validate_edge_intervention(iv, cfg.n_layers, cfg.n_heads, cfg.n_kv_heads);
      ADD_FAILURE() << "accepted: " << needle;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  EdgeIntervention backwards;
  backwards.edges.push_back(vocab::parse_edge("a1.h0->a1.h2<q>"));
  check(backwards, "a1.h0->a1.h2<q>");
  EdgeIntervention mlp_same_layer;
  mlp_same_layer.edges.push_back(vocab::parse_edge("m1->a1.h0<k>"));
  check(mlp_same_layer, "m1->a1.h0<k>");
  EdgeIntervention out_of_range;
  out_of_range.edges.push_back(vocab::parse_edge("a0.h9->logits"));
  check(out_of_range, "head 9");
  EdgeIntervention ablated_sender;
  ablated_sender.ablated.push_back({ComponentKind::kHead, 0, 1});
  ablated_sender.edges.push_back(vocab::parse_edge("a0.h1->logits"));
  check(ablated_sender, "mean-ablated");
}

Positions random_positions(std::mt19937& rng) {
  Positions p;
  switch (rng() % 3) {
    case 0: break;
    case 1: p.indices = {1, -1}; break;
    default: p.names = {"S1", "end"}; break;
  }
  return p;
}

Component random_node(std::mt19937& rng, const model::ModelConfig& c) {
  Component comp;
  comp.layer = static_cast<int>(rng() % c.n_layers);
  if (rng() % 3 == 0) {
    comp.kind = ComponentKind::kMlp;
  } else {
    comp.kind = ComponentKind::kHead;
    comp.index = static_cast<int>(rng() % c.n_heads);
  }
  return comp;
}

std::vector<EdgeIntervention> random_edge_sets(const model::ModelConfig& c, int n, uint32_t seed) {
  std::mt19937 rng(seed);
  // Every edge of the whole model; rows draw subsets, some inside a random context.
  std::vector<Component> all;
  for (int l = 0; l < c.n_layers; ++l) {
    for (int h = 0; h < c.n_heads; ++h) all.push_back({ComponentKind::kHead, l, h});
    all.push_back({ComponentKind::kMlp, l, 0});
  }
  const auto graph = edges_among(all, c.n_heads, c.n_kv_heads);
  std::vector<EdgeIntervention> out;
  out.push_back({});  // nothing patched = the clean run
  for (int i = 0; i < n; ++i) {
    EdgeIntervention iv;
    if (rng() % 2 == 0) {
      for (int k = 0; k < 2; ++k) iv.ablated.push_back(random_node(rng, c));
    }
    const int n_edges = 1 + static_cast<int>(rng() % (i % 3 == 0 ? 40 : 5));
    for (int k = 0; k < n_edges; ++k) {
      const auto& e = graph[rng() % graph.size()];
      const bool hits_ablated = std::find(iv.ablated.begin(), iv.ablated.end(), e.sender) != iv.ablated.end() ||
          std::any_of(iv.ablated.begin(), iv.ablated.end(), [&](const Component& a) {
            return (e.receiver.kind == ReceiverKind::kMlpIn && a.kind == ComponentKind::kMlp && a.layer == e.receiver.layer) ||
                   (e.receiver.kind == ReceiverKind::kHeadQ && a.kind == ComponentKind::kHead &&
                    a.layer == e.receiver.layer && a.index == e.receiver.head);
          });
      if (!hits_ablated) iv.edges.push_back(e);
    }
    iv.positions = random_positions(rng);
    out.push_back(iv);
  }
  return out;
}

class EdgeSetsEqualReference : public ::testing::TestWithParam<int> {};

TEST_P(EdgeSetsEqualReference, AnswerLogitsMatch) {
  const int model_idx = GetParam();
  const auto cfg = model_idx == 0 ? gpt2_config() : llama_config();
  const model::HookedTransformer tm(random_model(cfg, 41 + model_idx));
  const auto prompts = random_prompts(cfg, 6, 12, 15);
  DatasetCache cache(tm, prompts);
  ReferencePath ref(tm, prompts);
  ExecutorOptions opt;
  opt.max_interventions_per_batch = 4;  // several batches with different start layers
  Executor ex(tm, opt);
  const auto ivs = random_edge_sets(cfg, 12, 500 + model_idx);
  const auto batched = ex.edge_answer_logits(cache, ivs, true);
  ASSERT_EQ(batched.size(0), static_cast<int64_t>(ivs.size()));
  for (size_t i = 0; i < ivs.size(); ++i) {
    const auto expect = ref.edge_answer_logits(ivs[i]);
    EXPECT_LE((batched[static_cast<int64_t>(i)] - expect).abs().max().item<double>(), fp32_bound(cfg, 12, expect))
        << "edge set " << i << " (" << ivs[i].edges.size() << " edges)";
  }
  const double tol = fp32_bound(cfg, 12, batched);
  EXPECT_LE((batched[0] - cache.clean().answer_logits).abs().max().item<double>(), tol);
  // Not vacuous: the edge sets move the logits.
  const auto moved = (batched - cache.clean().answer_logits.unsqueeze(0)).abs().amax({1, 2});
  EXPECT_GT(moved.gt(1e-3).sum().item<int64_t>(), static_cast<int64_t>(ivs.size()) / 2);
  // All rows in one batch give the same numbers as small batches.
  Executor one_batch(tm);
  EXPECT_LE((one_batch.edge_answer_logits(cache, ivs, true) - batched).abs().max().item<double>(), tol);
}

INSTANTIATE_TEST_SUITE_P(Gpt2AndLlama, EdgeSetsEqualReference, ::testing::Values(0, 1));

// One edge s -> r equals three-pass path patching of sender s into receiver r with every other
// head and every other MLP frozen to its clean value (the existing path-patching reference).
TEST(EdgeSets, SingleEdgeEqualsFrozenPathPatching) {
  for (int model_idx : {0, 1}) {
    const auto cfg = model_idx == 0 ? gpt2_config() : llama_config();
    const model::HookedTransformer tm(random_model(cfg, 51 + model_idx));
    const auto prompts = random_prompts(cfg, 6, 12, 16);
    DatasetCache cache(tm, prompts);
    ReferencePath ref(tm, prompts);
    Executor ex(tm);
    std::vector<Component> all;
    for (int l = 0; l < cfg.n_layers; ++l) {
      for (int h = 0; h < cfg.n_heads; ++h) all.push_back({ComponentKind::kHead, l, h});
      all.push_back({ComponentKind::kMlp, l, 0});
    }
    const auto graph = edges_among(all, cfg.n_heads, cfg.n_kv_heads);
    std::mt19937 rng(60 + model_idx);
    std::vector<EdgeIntervention> ivs;
    for (int i = 0; i < 16; ++i) {
      EdgeIntervention iv;
      iv.edges.push_back(graph[rng() % graph.size()]);
      iv.positions = random_positions(rng);
      ivs.push_back(iv);
    }
    const auto batched = ex.edge_answer_logits(cache, ivs, true);
    for (size_t i = 0; i < ivs.size(); ++i) {
      Intervention pp;
      pp.components = {ivs[i].edges[0].sender};
      pp.receivers = {ivs[i].edges[0].receiver};
      pp.positions = ivs[i].positions;
      const auto expect = ref.answer_logits(AblationKind::kPathPatch, pp, /*recompute_mlps=*/false);
      EXPECT_LE((batched[static_cast<int64_t>(i)] - expect).abs().max().item<double>(), fp32_bound(cfg, 12, expect))
          << "model " << model_idx << " edge " << vocab::edge_name(ivs[i].edges[0]);
    }
  }
}

// Where MLPs write nothing, the study's path patching (MLPs recomputed) and edge patching agree:
// the batched path-patching executor, written independently, equals the edge executor.
TEST(EdgeSets, SingleEdgeEqualsStudyPathPatchingWhenMlpsAreSilent) {
  const auto cfg = gpt2_config();
  auto loaded = random_model(cfg, 71);
  for (int l = 0; l < cfg.n_layers; ++l) {
    loaded.params["blocks." + std::to_string(l) + ".mlp.W_out"].zero_();
    loaded.params["blocks." + std::to_string(l) + ".mlp.b_out"].zero_();
  }
  const model::HookedTransformer tm(loaded);
  DatasetCache cache(tm, random_prompts(cfg, 6, 12, 17));
  Executor ex(tm);
  std::vector<EdgeIntervention> edge_ivs;
  std::vector<Intervention> path_ivs;
  for (const char* name : {"a0.h1->a1.h2<q>", "a0.h3->a2.h0<k>", "a1.h1->a2.h3<v>", "a0.h2->logits",
                           "a1.h0->m2", "a2.h2->logits"}) {
    EdgeIntervention e;
    e.edges.push_back(vocab::parse_edge(name));
    edge_ivs.push_back(e);
    Intervention p;
    p.components = {e.edges[0].sender};
    p.receivers = {e.edges[0].receiver};
    path_ivs.push_back(p);
  }
  const auto a = ex.edge_answer_logits(cache, edge_ivs, true);
  const auto b = ex.answer_logits(cache, AblationKind::kPathPatch, path_ivs, true);
  EXPECT_LE((a - b).abs().max().item<double>(), fp32_bound(cfg, 12, b));
  EXPECT_GT((a - cache.clean().answer_logits.unsqueeze(0)).abs().max().item<double>(), 1e-3);
}

}  // namespace
}  // namespace csweep::interv
