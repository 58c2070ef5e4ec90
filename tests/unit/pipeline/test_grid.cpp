#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>

#include "core/error.hpp"
#include "pipeline/grid.hpp"
#include "pipeline/job_spec.hpp"

namespace csweep::pipeline {
namespace {

TEST(Binomial, KnownValuesAndOverflow) {
  // Values from tables of binomial coefficients (and Python's math.comb).
  std::uint64_t v = 0;
  ASSERT_TRUE(binomial(144, 2, &v));
  EXPECT_EQ(v, 10296u);
  ASSERT_TRUE(binomial(144, 1, &v));
  EXPECT_EQ(v, 144u);
  ASSERT_TRUE(binomial(5, 7, &v));
  EXPECT_EQ(v, 0u);
  ASSERT_TRUE(binomial(64, 32, &v));
  EXPECT_EQ(v, 1832624140942590534ull);
  ASSERT_TRUE(binomial(67, 33, &v));
  EXPECT_EQ(v, 14226520737620288370ull);  // the largest C(n, n/2) below 2^64
  EXPECT_FALSE(binomial(68, 34, &v));     // 28453041475240576740 > 2^64
  EXPECT_FALSE(binomial(144, 30, &v));
  EXPECT_EQ(binomial_saturated(144, 30), ~std::uint64_t{0});
}

// Independent definition of colex order: compare the reversed tuples lexicographically.
std::vector<std::vector<int>> all_combinations_colex(int n, int k) {
  std::vector<std::vector<int>> out;
  std::vector<int> mask(static_cast<std::size_t>(n), 0);
  std::fill(mask.end() - k, mask.end(), 1);
  do {
    std::vector<int> c;
    for (int i = 0; i < n; ++i)
      if (mask[static_cast<std::size_t>(i)]) c.push_back(i);
    out.push_back(c);
  } while (std::next_permutation(mask.begin(), mask.end()));
  std::sort(out.begin(), out.end(), [](auto a, auto b) {
    return std::lexicographical_compare(a.rbegin(), a.rend(), b.rbegin(), b.rend());
  });
  return out;
}

TEST(Combinations, UnrankEnumeratesColexOrderExactlyOnce) {
  for (int n : {1, 5, 9}) {
    for (int k = 1; k <= n; ++k) {
      const auto expected = all_combinations_colex(n, k);
      std::vector<int> c, succ;
      for (std::uint64_t r = 0; r < expected.size(); ++r) {
        unrank_combination(r, n, k, &c);
        ASSERT_EQ(c, expected[r]) << "n=" << n << " k=" << k << " r=" << r;
        EXPECT_EQ(rank_combination(c), r);
        if (r == 0) succ = c;
        EXPECT_EQ(succ, c);
        const bool more = next_combination(&succ, n);
        EXPECT_EQ(more, r + 1 < expected.size());
      }
    }
  }
}

TEST(Combinations, RoundTripsNearTheTopOfLargeSpaces) {
  std::mt19937_64 rng(7);
  for (auto [n, k] : {std::pair{144, 4}, std::pair{67, 33}, std::pair{200, 2}}) {
    const auto total = binomial_saturated(static_cast<std::uint64_t>(n), static_cast<std::uint64_t>(k));
    for (std::uint64_t r : {std::uint64_t{0}, total - 1, rng() % total, rng() % total}) {
      std::vector<int> c;
      unrank_combination(r, n, k, &c);
      ASSERT_EQ(c.size(), static_cast<std::size_t>(k));
      EXPECT_TRUE(std::is_sorted(c.begin(), c.end()));
      EXPECT_LT(c.back(), n);
      EXPECT_EQ(rank_combination(c), r);
    }
  }
}

const char* kSpec = R"(
[[models]]
name = "a"
path = "x"
config = { n_layers = 3, n_heads = 4, d_model = 16, d_mlp = 8 }
[[models]]
name = "b"
path = "y"
config = { n_layers = 2, n_heads = 2, d_model = 16, d_mlp = 8 }
[[tasks]]
name = "digits"
[[tasks]]
name = "months"
[experiments]
corruptions = ["randAll"]
ablations = ["mean", "zero"]
metrics = ["logit_diff"]
[[families]]
name = "heads"
kind = "combinations"
k = [1, 2, 3]
[[families]]
name = "subsets"
kind = "subsets"
components = ["0.1", "1.1", "mlp0"]
[[families]]
name = "pos"
kind = "positions"
pool = "mlps"
positions = ["end", 4, "S1"]
[[families]]
name = "paths"
kind = "paths"
senders = { pool = "heads", layers = [0, 0] }
receivers = ["resid_final", "1.0q", "0.1k", "mlp0", "1.1v"]
[output]
path = "o.h5"
[batching]
unit_size = 4
)";

struct Fixture {
  JobSpec job = parse_job_spec(kSpec, "grid.toml");
  Grid grid{job, {*job.models[0].config, *job.models[1].config}};
};

TEST(Grid, FamilySizesMatchClosedForms) {
  Fixture f;
  // Model a: 12 heads -> C(12,1)+C(12,2)+C(12,3); subsets of 3 -> 7; 3 MLPs x 3 positions.
  EXPECT_EQ(f.grid.family(0, 0).size(), 12u + 66u + 220u);
  EXPECT_EQ(f.grid.family(1, 0).size(), 4u + 6u + 4u);
  EXPECT_EQ(f.grid.family(0, 1).size(), 7u);
  EXPECT_EQ(f.grid.family(0, 2).size(), 9u);
  // Paths: senders 0.0..0.3 (time 0) reach resid_final, 1.0q, mlp0, 1.1v but not 0.1k.
  EXPECT_EQ(f.grid.family(0, 3).size(), 4u * 4u);
  EXPECT_EQ(f.grid.ablations().size(), 3u);  // mean, zero, path_patch
}

TEST(Grid, UnitsCoverEveryInterventionExactlyOnceInOrder) {
  Fixture f;
  std::map<std::tuple<int, int, int, int, int, int>, std::uint64_t> next;  // (exp..., family) -> next index
  std::uint64_t interventions = 0;
  ExperimentKey prev;
  for (std::uint64_t id = 0; id < f.grid.total_units(); ++id) {
    const WorkUnit u = f.grid.unit(id);
    EXPECT_EQ(u.id, id);
    EXPECT_LT(u.begin, u.end);
    EXPECT_LE(u.end - u.begin, 4u);
    const auto key = std::make_tuple(u.key.model, u.key.seed, u.key.task, u.key.corruption,
                                     u.key.ablation, u.family);
    EXPECT_EQ(next[key], u.begin) << "unit " << id;  // contiguous, no gap, no overlap
    next[key] = u.end;
    interventions += u.end - u.begin;
    EXPECT_EQ(f.grid.ablations()[static_cast<std::size_t>(u.key.ablation)], u.key.ablation_kind);
    // Dataset-major order: the model never goes back.
    if (id > 0) {
      EXPECT_GE(u.key.model, prev.model);
    }
    prev = u.key;
    const auto ivs = f.grid.interventions(u);
    ASSERT_EQ(ivs.size(), u.end - u.begin);
    for (std::size_t i = 0; i < ivs.size(); ++i) {
      const auto at = f.grid.family(u.key.model, u.family).at(u.begin + i);
      EXPECT_EQ(at.components, ivs[i].components);
    }
  }
  EXPECT_EQ(interventions, f.grid.total_interventions());
  for (const auto& [key, end] : next)
    EXPECT_EQ(end, f.grid.family(std::get<0>(key), std::get<5>(key)).size());
}

// The unit layout stored in results files (reducers/layout.hpp) describes the same units.
TEST(Grid, FileLayoutDescribesEveryUnit) {
  Fixture f;
  const auto meta = f.grid.file_meta();
  ASSERT_EQ(meta.layout.total_units(), f.grid.total_units());
  for (std::uint64_t id = 0; id < f.grid.total_units(); ++id) {
    const WorkUnit u = f.grid.unit(id);
    const auto span = meta.layout.unit(id);
    EXPECT_EQ(span.exp, Grid::experiment_index(u.key)) << id;
    EXPECT_EQ(span.family, u.family) << id;
    EXPECT_EQ(span.begin, u.begin) << id;
    EXPECT_EQ(span.end, u.end) << id;
  }
}

// Issue 8, defect 5: a metric the experiment did not request is stored as NaN, not as whatever
// the evaluator left in the row (0 looked like a measured accuracy of 0).
TEST(Grid, RecordsCarryTheirIdentityAndNaNForMetricsNotRequested) {
  Fixture f;  // metrics = ["logit_diff"]
  const WorkUnit u = f.grid.unit(3);
  const auto ivs = f.grid.interventions(u);
  std::vector<metrics::MetricRow> rows(ivs.size());
  for (auto& r : rows) {
    r.logit_diff = 1.5;
    r.performance = 50;
    r.kl = 0.25;
    r.accuracy = 0;
    r.prob_correct = 0;
  }
  const auto rec = f.grid.make_record(u, ivs, {}, rows);
  EXPECT_EQ(rec.grid_fingerprint, f.grid.fingerprint());
  EXPECT_EQ(rec.unit, 3u);
  ASSERT_EQ(rec.rows.size(), ivs.size());
  for (const auto& r : rec.rows) {
    EXPECT_EQ(r.metrics.logit_diff, 1.5);
    EXPECT_TRUE(std::isnan(r.metrics.performance));
    EXPECT_TRUE(std::isnan(r.metrics.normalized));
    EXPECT_TRUE(std::isnan(r.metrics.kl));
    EXPECT_TRUE(std::isnan(r.metrics.accuracy));
    EXPECT_TRUE(std::isnan(r.metrics.prob_correct));
    EXPECT_TRUE(std::isnan(r.metrics.prob_diff));
  }
}

TEST(Grid, CombinationMembersAreDistinctAndGroupedByEarliestComponent) {
  Fixture f;
  const Family& fam = f.grid.family(0, 0);
  std::set<std::vector<std::pair<int, int>>> seen;
  const auto all = fam.range(0, fam.size());
  for (std::uint64_t i = 0; i < fam.size(); ++i) {
    std::vector<std::pair<int, int>> c;
    for (const auto& x : all[i].components) c.emplace_back(x.layer, x.index);
    EXPECT_TRUE(std::is_sorted(c.begin(), c.end()));
    EXPECT_TRUE(seen.insert(c).second) << "duplicate member at " << i;
  }
  EXPECT_EQ(seen.size(), fam.size());
  // Within one k, the earliest component changes only rarely (runs share prefix layers).
  int changes = 0;
  for (std::uint64_t i = 12 + 1; i < 12 + 66; ++i)
    changes += !(all[i].components.front() == all[i - 1].components.front());
  EXPECT_EQ(changes, 10);  // 11 distinct earliest heads among the pairs of 12
}

TEST(Grid, PositionsAndPathsRows) {
  Fixture f;
  const Family& pos = f.grid.family(0, 2);
  const auto iv = pos.at(4);  // mlp1 at the second position, index 4
  ASSERT_EQ(iv.components.size(), 1u);
  EXPECT_EQ(iv.components[0].kind, interv::ComponentKind::kMlp);
  EXPECT_EQ(iv.components[0].layer, 1);
  EXPECT_EQ(iv.positions.indices, std::vector<int>{4});
  EXPECT_EQ(pos.row(4).position, 1);
  EXPECT_EQ(pos.at(5).positions.names, std::vector<std::string>{"S1"});
  const Family& paths = f.grid.family(0, 3);
  for (std::uint64_t i = 0; i < paths.size(); ++i) {
    const auto p = paths.at(i);
    ASSERT_EQ(p.receivers.size(), 1u);
    EXPECT_FALSE(p.receivers[0].kind == interv::ReceiverKind::kHeadK);  // 0.1k is never later
  }
  EXPECT_EQ(paths.row(paths.size() - 1).receiver_kind, static_cast<std::int8_t>(interv::ReceiverKind::kResidFinal));
}

TEST(Grid, ShardsPartitionTheUnits) {
  Fixture f;
  for (int n : {1, 2, 3, 7}) {
    std::uint64_t expect_first = 0;
    for (int i = 0; i < n; ++i) {
      const auto [a, b] = f.grid.shard_range(i, n);
      EXPECT_EQ(a, expect_first);
      EXPECT_LE(b - a, f.grid.total_units() / static_cast<std::uint64_t>(n) + 1);
      expect_first = b;
    }
    EXPECT_EQ(expect_first, f.grid.total_units());
  }
}

TEST(Grid, FingerprintTracksWhatDecidesTheRows) {
  Fixture a, b;
  EXPECT_EQ(a.grid.fingerprint(), b.grid.fingerprint());
  std::string text = kSpec;
  text.replace(text.find("unit_size = 4"), 13, "unit_size = 5");
  const JobSpec job = parse_job_spec(text, "grid.toml");
  const Grid g(job, {*job.models[0].config, *job.models[1].config});
  EXPECT_NE(g.fingerprint(), a.grid.fingerprint());
}

TEST(Grid, TooLargeFamiliesAreInputErrors) {
  std::string text = kSpec;
  text.replace(text.find("k = [1, 2, 3]"), 13, "k = [1, 13]");
  const JobSpec job = parse_job_spec(text, "grid.toml");
  EXPECT_THROW(Grid(job, {*job.models[0].config, *job.models[1].config}), InputError);
}

}  // namespace
}  // namespace csweep::pipeline
