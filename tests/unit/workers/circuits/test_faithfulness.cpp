// Faithfulness curves: exact ends, CPR / CMD as MIB defines them (recomputed here by hand from
// the curve), rankings read from MIB-layout score files, and the planted induction circuit
// reaching full faithfulness at its own size.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "vocab/edges.hpp"
#include "vocab/names.hpp"
#include "workers/circuits/edge_pruning.hpp"
#include "workers/circuits/faithfulness.hpp"
#include "workers/interventions/caches.hpp"
#include "workers/interventions/executor.hpp"
#include "workers/interventions/session.hpp"
#include "workers/model/model_tokenizer.hpp"
#include "workers/model/transformer.hpp"
#include "workers/model/weights.hpp"
#include "workers/planted/planted.hpp"
#include "workers/tokenizer/tokenizer.hpp"

namespace csweep::circuits {
namespace {

using interv::Component;
using interv::ComponentKind;

std::string write_temp(const std::string& name, const std::string& text) {
  const auto p = std::filesystem::temp_directory_path() / ("csweep_test_" + name);
  std::ofstream(p) << text;
  return p.string();
}

// MIB: area_under = sum over consecutive percentages of (x2 - x1) (f1 + f2) / 2, area_from_1 the
// same with |1 - f|; written out term by term.
void check_areas(const Curve& c) {
  std::vector<double> x, f;
  for (const auto& p : c.points) {
    if (p.mib) {
      x.push_back(p.fraction);
      f.push_back(p.faithfulness);
    }
  }
  ASSERT_EQ(x.size(), 10u);
  double under = 0, from1 = 0;
  for (size_t i = 1; i < x.size(); ++i) {
    under += (x[i] - x[i - 1]) * 0.5 * (f[i] + f[i - 1]);
    from1 += (x[i] - x[i - 1]) * 0.5 * (std::fabs(1 - f[i]) + std::fabs(1 - f[i - 1]));
  }
  EXPECT_NEAR(c.cpr, under, 1e-12);
  EXPECT_NEAR(c.cmd, from1, 1e-12);
}

struct Induction {
  planted::PlantedModel pm = planted::induction_model();
  model::HookedTransformer tm{pm.model};
  interv::DatasetCache cache{tm, pm.prompts};
};

TEST(Faithfulness, NodeCurveOfSingleHeadEffectsIsExactAtTheEndsAndFindsThePlantedPair) {
  Induction m;
  interv::Executor ex(m.tm);
  const auto& cfg = m.pm.model.cfg;
  std::vector<Component> heads;
  for (int l = 0; l < cfg.n_layers; ++l) {
    for (int h = 0; h < cfg.n_heads; ++h) heads.push_back({ComponentKind::kHead, l, h});
  }
  std::vector<interv::Intervention> singles;
  for (const auto& c : heads) singles.push_back({{c}, {}, {}});
  const auto rows = ex.evaluate(m.cache, interv::AblationKind::kMean, singles, {});
  std::vector<double> effect;
  for (const auto& r : rows) effect.push_back(m.cache.baseline().clean_logit_diff - r.logit_diff);
  const auto ranking = rank_nodes(heads, effect, /*absolute=*/true);
  ASSERT_EQ(ranking.nodes.size(), 8u);
  const auto before = ex.stats().batches;
  const auto curve = faithfulness_curve(ex, m.cache, ranking, {});
  EXPECT_EQ(ex.stats().batches - before, 1);  // the whole curve is one batched evaluation
  EXPECT_EQ(curve.total, 8);
  bool saw_full = false, saw_empty = false;
  for (const auto& p : curve.points) {
    if (p.size == 8) {
      EXPECT_EQ(p.faithfulness, 1.0);
      saw_full = true;
    }
    if (p.size == 0) {
      EXPECT_EQ(p.faithfulness, 0.0);
      saw_empty = true;
    }
    if (p.size == 2) EXPECT_GT(p.faithfulness, 0.8);  // {0.1, 1.2}: the planted circuit
  }
  EXPECT_TRUE(saw_full && saw_empty);
  check_areas(curve);
  // Integer sizes 0..8 are all there (8 <= 64).
  int integers = 0;
  for (const auto& p : curve.points) integers += !p.mib;
  EXPECT_EQ(integers, 9);
}

TEST(Faithfulness, EdgeCurveFromAnMibScoreFile) {
  Induction m;
  interv::Executor ex(m.tm);
  // Every edge of the model; the planted ones score highest.
  std::vector<Component> all;
  for (int l = 0; l < 2; ++l) {
    for (int h = 0; h < 4; ++h) all.push_back({ComponentKind::kHead, l, h});
    all.push_back({ComponentKind::kMlp, l, 0});
  }
  std::string json = "{\"edges\": {";
  const auto edges = interv::edges_among(all, 4, 4);
  for (size_t i = 0; i < edges.size(); ++i) {
    const auto name = vocab::edge_name(edges[i]);
    const bool planted = name == "a0.h1->a1.h2<k>" || name == "a1.h2->logits";
    json += (i ? ", " : "") + ("\"" + name + "\": {\"score\": ") + (planted ? "-5.0" : "0.01") + "}";
  }
  json += "}}";
  const auto ranking = read_mib_scores(write_temp("mib_edges.json", json));
  ASSERT_EQ(ranking.edges.size(), edges.size());
  EXPECT_EQ(ranking.level, RankingLevel::kEdges);
  EXPECT_EQ(std::fabs(ranking.scores[0]), 5.0);  // absolute ranking
  const auto curve = faithfulness_curve(ex, m.cache, ranking, {});
  for (const auto& p : curve.points) {
    EXPECT_TRUE(p.mib);  // edge curves have no integer sizes
    if (p.size == curve.total) EXPECT_EQ(p.faithfulness, 1.0);
    if (p.size == 0) EXPECT_EQ(p.faithfulness, 0.0);
  }
  check_areas(curve);
  // Top 2 edges alone: the planted circuit carries the task.
  CurveOptions two;
  two.fractions = {2.0 / static_cast<double>(edges.size()), 1.0};
  const auto c2 = faithfulness_curve(ex, m.cache, ranking, two);
  EXPECT_EQ(c2.points[0].size, 2);
  EXPECT_GT(c2.points[0].faithfulness, 0.8);
  const auto j = curve_json(curve);
  EXPECT_NE(j.find("\"area_under\""), std::string::npos);
}

TEST(Faithfulness, BadScoreFilesNameTheProblem) {
  auto expect_error = [](const std::string& text, const std::string& needle) {
    const auto path = write_temp("bad_scores.json", text);
    try {
      read_mib_scores(path);
      ADD_FAILURE() << "accepted " << text;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  };
  expect_error("{\"edges\": {\"a0.h1->a2.h3<x>\": {\"score\": 1}}}", "a0.h1->a2.h3<x>");
  expect_error("{\"edges\": {\"a0.h1->logits\": {\"value\": 1}}}", "score");
  expect_error("[1, 2]", "exactly one of");
  expect_error("{\"nodes\": {\"a0.h1\": {\"score\": 1}, \"0.1\": {\"score\": 2}}}", "twice");
  expect_error("{not json", "not valid JSON");
}

// The embedded default model on the three sequence tasks: node curves of two single-effect
// rankings (heads; heads and MLPs) and the edge curve of the full graph ranked by the senders'
// effects, each one batched evaluation, exact at the ends, CPR/CMD recomputed; and edge pruning
// of the components whose single ablation costs >= 20 pp (a stand-in for the pruned 80 %
// circuit, which the node pruner computes). Prints the numbers it measured.
TEST(Faithfulness, DefaultModelCurvesAreOneBatchEach) {
  const auto loaded = model::load_model(std::string(CSWEEP_SOURCE_DIR) + "/models/default");
  const model::HookedTransformer tm(loaded);
  const auto tok = model::load_model_tokenizer(loaded);
  const auto& cfg = loaded.cfg;
  for (const char* task : {"digits", "numwords", "months"}) {
    interv::TaskRequest req;
    req.task = task;
    req.params = {{"n_prompts", 32}, {"members", 4}};
    req.corruption = "randAll";
    const auto data = interv::build_task_data(tm, tok, req);
    const auto& cache = *data.cache;
    interv::Executor ex(tm);
    std::vector<Component> heads, nodes;
    for (int l = 0; l < cfg.n_layers; ++l) {
      for (int h = 0; h < cfg.n_heads; ++h) heads.push_back({ComponentKind::kHead, l, h});
    }
    for (int l = 0; l < cfg.n_layers; ++l) {
      for (int h = 0; h < cfg.n_heads; ++h) nodes.push_back({ComponentKind::kHead, l, h});
      nodes.push_back({ComponentKind::kMlp, l, 0});
    }
    std::vector<interv::Intervention> singles;
    for (const auto& c : nodes) singles.push_back({{c}, {}, {}});
    const auto rows = ex.evaluate(cache, interv::AblationKind::kMean, singles, {});
    std::vector<double> head_effect, node_effect;
    std::vector<Component> needed;
    for (size_t i = 0; i < nodes.size(); ++i) {
      const double e = cache.baseline().clean_logit_diff - rows[i].logit_diff;
      node_effect.push_back(e);
      if (nodes[i].kind == ComponentKind::kHead) head_effect.push_back(e);
      if (rows[i].performance <= 80.0) needed.push_back(nodes[i]);
    }
    for (const auto& [name, rk] : {std::pair{"heads", rank_nodes(heads, head_effect, true)},
                                   std::pair{"nodes", rank_nodes(nodes, node_effect, true)}}) {
      const auto b0 = ex.stats().batches;
      const auto t0 = std::chrono::steady_clock::now();
      const auto c = faithfulness_curve(ex, cache, rk, {});
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      EXPECT_EQ(ex.stats().batches - b0, 1) << task << " " << name;
      EXPECT_NE(c.m_full, c.m_empty);
      for (const auto& p : c.points) {
        if (p.size == c.total) EXPECT_EQ(p.faithfulness, 1.0);
        if (p.size == 0) EXPECT_EQ(p.faithfulness, 0.0);
      }
      check_areas(c);
      std::printf("[default model] %-8s %-5s ranking (N = %lld): CPR %.4f CMD %.4f  m(M) %.3f m(0) %.3f  %.3f s\n",
                  task, name, static_cast<long long>(c.total), c.cpr, c.cmd, c.m_full, c.m_empty, secs);
    }
    // Every edge of the model ranked by its sender's single-ablation effect (a cheap ranking; the
    // curve, not the ranking, is under test here), then its curve.
    {
      const auto graph = interv::edges_among(nodes, cfg.n_heads, cfg.n_kv_heads);
      std::vector<double> eff;
      for (const auto& e : graph) {
        eff.push_back(node_effect[static_cast<size_t>(std::find(nodes.begin(), nodes.end(), e.sender) - nodes.begin())]);
      }
      const auto rk = rank_edges(graph, eff, true);
      const auto b0 = ex.stats().batches;
      const auto t0 = std::chrono::steady_clock::now();
      const auto c = faithfulness_curve(ex, cache, rk, {});
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      EXPECT_NE(c.m_full, c.m_empty);
      for (const auto& p : c.points) {
        if (p.size == c.total) EXPECT_EQ(p.faithfulness, 1.0);
        if (p.size == 0) EXPECT_EQ(p.faithfulness, 0.0);
      }
      check_areas(c);
      std::printf("[default model] %-8s edges ranking (N = %lld): CPR %.4f CMD %.4f  m(M) %.3f m(0) %.3f  %lld batch(es), %.3f s\n",
                  task, static_cast<long long>(c.total), c.cpr, c.cmd, c.m_full, c.m_empty,
                  static_cast<long long>(ex.stats().batches - b0), secs);
    }
    // Edge pruning of the single-ablation stand-in circuit, inside the circuit.
    if (needed.size() >= 2) {
      const auto t0 = std::chrono::steady_clock::now();
      const auto res = prune_edges(ex, cache, needed, {}, {});
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      EXPECT_EQ(res.edges.size(), interv::edges_among(needed, cfg.n_heads, cfg.n_kv_heads).size());
      std::printf("[default model] %-8s circuit %s: %zu edges -> %d kept; circuit %.1f %%, re-check %.1f %%  %.3f s\n",
                  task, vocab::components_name(needed).c_str(), res.edges.size(), res.kept(),
                  res.circuit_row.performance, res.recheck.performance, secs);
    }
  }
}

}  // namespace
}  // namespace csweep::circuits
