// Pruning families in the job spec and the grid: one unit per run, its rows, circuits and steps
// from a run's result, and the record's identity checks (reducers/layout.hpp verify_record).
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "core/error.hpp"
#include "pipeline/grid.hpp"
#include "pipeline/job_spec.hpp"
#include "reducers/layout.hpp"
#include "reducers/schema.hpp"
#include "vocab/names.hpp"

namespace csweep::pipeline {
namespace {

std::string spec(const std::string& family) {
  return R"(
[[models]]
name = "a"
path = "x"
config = { n_layers = 2, n_heads = 2, d_model = 16, d_mlp = 8 }
[[tasks]]
name = "digits"
[[tasks]]
name = "months"
[experiments]
corruptions = ["randAll"]
ablations = ["mean"]
metrics = ["logit_diff", "performance"]
[[families]]
name = "single"
kind = "combinations"
k = [1]
[[families]]
)" + family + R"(
[output]
path = "o.h5"
[batching]
unit_size = 4
)";
}

const char* kNested = R"(name = "prune"
kind = "pruning"
thresholds = [20, 3, 10]
orders = ["reference", "random:2"]
nested = true)";

std::string error_of(const std::string& family) {
  try {
    parse_job_spec(spec(family), "p.toml");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(PruningSpec, ParsesThresholdsOrdersAndTheNodePool) {
  const JobSpec job = parse_job_spec(spec(kNested), "p.toml");
  const FamilySpec& f = job.families[1];
  EXPECT_EQ(f.kind, FamilyKind::kPruning);
  EXPECT_EQ(f.thresholds, (std::vector<double>{3, 10, 20}));  // ascending: highest performance first
  ASSERT_EQ(f.orders.size(), 3u);
  EXPECT_EQ(vocab::pruning_order_name(f.orders[0]), "reference");
  EXPECT_EQ(vocab::pruning_order_name(f.orders[1]), "random#0");
  EXPECT_EQ(vocab::pruning_order_name(f.orders[2]), "random#1");
  EXPECT_TRUE(f.nested);
  EXPECT_FALSE(f.one_iter);
  EXPECT_EQ(f.pool.kind, PoolSpec::Kind::kNodes);
}

TEST(PruningSpec, BadKeysNameTheFieldTheValueAndWhatIsExpected) {
  auto e = error_of("name = \"p\"\nkind = \"pruning\"\nthresholds = [0]");
  EXPECT_NE(e.find("p.toml:"), std::string::npos) << e;
  EXPECT_NE(e.find("families[1].thresholds[0]"), std::string::npos) << e;
  EXPECT_NE(e.find("(0, 100)"), std::string::npos) << e;
  e = error_of("name = \"p\"\nkind = \"pruning\"\nthresholds = [20, 20]");
  EXPECT_NE(e.find("duplicate threshold"), std::string::npos) << e;
  e = error_of("name = \"p\"\nkind = \"pruning\"");
  EXPECT_NE(e.find("families[1].thresholds"), std::string::npos) << e;
  EXPECT_NE(e.find("missing required key"), std::string::npos) << e;
  e = error_of("name = \"p\"\nkind = \"pruning\"\nthresholds = [20]\norders = [\"random:2\", \"random#1\"]");
  EXPECT_NE(e.find("families[1].orders[1]"), std::string::npos) << e;
  EXPECT_NE(e.find("random#1"), std::string::npos) << e;
  e = error_of("name = \"p\"\nkind = \"pruning\"\nthresholds = [20]\norders = [\"sorted\"]");
  EXPECT_NE(e.find("unknown pruning order"), std::string::npos) << e;
  EXPECT_NE(e.find("'sorted'"), std::string::npos) << e;
  EXPECT_NE(e.find("random:N"), std::string::npos) << e;
  e = error_of("name = \"p\"\nkind = \"pruning\"\nthresholds = [20]\npool = \"neurons\"");
  EXPECT_NE(e.find("pruning removes heads and MLPs"), std::string::npos) << e;
  e = error_of("name = \"p\"\nkind = \"pruning\"\nthresholds = [20]\nk = [1]");
  EXPECT_NE(e.find("families[1].k"), std::string::npos) << e;
  e = error_of("name = \"p\"\nkind = \"pruning\"\nthresholds = [20]\nablations = [\"path_patch\"]");
  EXPECT_NE(e.find("path_patch"), std::string::npos) << e;
}

TEST(PruningSpec, ThresholdsDefaultToTheExperimentsList) {
  std::string text = spec("name = \"p\"\nkind = \"pruning\"");
  text.replace(text.find("metrics = "), 0, "thresholds = [10, 20]\n");
  const JobSpec job = parse_job_spec(text, "p.toml");
  EXPECT_EQ(job.families[1].thresholds, (std::vector<double>{10, 20}));
}

struct Nested {
  JobSpec job = parse_job_spec(spec(kNested), "p.toml");
  Grid grid{job, {*job.models[0].config}};
};

TEST(PruningGrid, NestedRunsAreOneUnitEachCoveringEveryThreshold) {
  Nested f;
  const Family& fam = f.grid.family(0, 1);
  // Pool: every head and MLP of 2 layers x 2 heads = 6 nodes; 3 orders x 3 thresholds.
  ASSERT_EQ(fam.pool().size(), 6u);
  EXPECT_EQ(fam.size(), 9u);
  EXPECT_EQ(fam.members_per_run(), 3u);
  int pruning_units = 0;
  for (std::uint64_t id = 0; id < f.grid.total_units(); ++id) {
    const WorkUnit u = f.grid.unit(id);
    if (!f.grid.is_pruning(u)) {
      EXPECT_LE(u.end - u.begin, 4u);  // batching.unit_size
      continue;
    }
    ++pruning_units;
    EXPECT_EQ(u.end - u.begin, 3u);
    EXPECT_EQ(u.begin % 3, 0u);
    const auto run = f.grid.pruning_run(u);
    EXPECT_EQ(run.thresholds, (std::vector<double>{3, 10, 20}));
    EXPECT_TRUE(run.nested);
    EXPECT_EQ(run.pool, fam.pool());
    EXPECT_EQ(vocab::pruning_order_name(run.order),
              vocab::pruning_order_name(f.job.families[1].orders[u.begin / 3]));
  }
  EXPECT_EQ(pruning_units, 2 * 3);  // 2 tasks x 3 orders
  // The stored layout agrees, unit by unit.
  const auto meta = f.grid.file_meta();
  for (std::uint64_t id = 0; id < f.grid.total_units(); ++id) {
    const auto span = meta.layout.unit(id);
    const auto u = f.grid.unit(id);
    EXPECT_EQ(span.begin, u.begin);
    EXPECT_EQ(span.end, u.end);
  }
}

TEST(PruningGrid, UnnestedRunsAreOnePerOrderAndThreshold) {
  std::string fam = kNested;
  fam.replace(fam.find("nested = true"), 13, "one_iter = true");
  const JobSpec job = parse_job_spec(spec(fam), "p.toml");
  const Grid grid(job, {*job.models[0].config});
  int n = 0;
  for (std::uint64_t id = 0; id < grid.total_units(); ++id) {
    const WorkUnit u = grid.unit(id);
    if (!grid.is_pruning(u)) continue;
    EXPECT_EQ(u.end - u.begin, 1u);
    const auto run = grid.pruning_run(u);
    ASSERT_EQ(run.thresholds.size(), 1u);
    EXPECT_EQ(run.thresholds[0], (std::vector<double>{3, 10, 20})[u.begin % 3]);
    EXPECT_TRUE(run.one_iter);
    EXPECT_FALSE(run.nested);
    ++n;
  }
  EXPECT_EQ(n, 2 * 9);
}

TEST(PruningGrid, TheFingerprintCoversThresholdsOrdersAndNesting) {
  Nested a;
  for (auto [from, to] : {std::pair<std::string, std::string>{"[20, 3, 10]", "[20, 3, 11]"},
                          {"\"random:2\"", "\"random:3\""},
                          {"nested = true", "nested = false"}}) {
    std::string fam = kNested;
    fam.replace(fam.find(from), from.size(), to);
    const JobSpec job = parse_job_spec(spec(fam), "p.toml");
    const Grid g(job, {*job.models[0].config});
    EXPECT_NE(g.fingerprint(), a.grid.fingerprint()) << to;
  }
}

// A hand-made run result (the pruner is tested in tests/unit/workers/pruning): the record holds
// one row per circuit ablating what was removed, the circuits and every step, passes the
// record check, survives the journal's encoding, and a record that lies about its circuits is
// refused.
TEST(PruningGrid, RecordsHoldRowsCircuitsAndStepsOfTheRun) {
  Nested f;
  std::uint64_t id = 0;
  while (!f.grid.is_pruning(f.grid.unit(id))) ++id;
  const WorkUnit u = f.grid.unit(id);
  const auto& pool = f.grid.family(0, 1).pool();  // 0.0 0.1 mlp0 1.0 1.1 mlp1
  ASSERT_EQ(vocab::components_name(pool), "0.0+0.1+mlp0+1.0+1.1+mlp1");
  pruning::RunResult res;
  const std::vector<std::vector<std::uint8_t>> kept = {
      {1, 1, 1, 1, 0, 1}, {1, 0, 1, 1, 0, 1}, {0, 0, 1, 1, 0, 0}};
  for (int t = 0; t < 3; ++t) {
    pruning::Circuit c;
    c.threshold = (std::vector<double>{3, 10, 20})[t];
    c.kept = kept[t];
    c.passes = 2;
    c.evaluations = 7 + t;
    c.metrics.logit_diff = 2.0 - t;
    c.metrics.performance = 99.0 - 5 * t;
    c.metrics.kl = 0.5;  // not requested: must become NaN
    res.circuits.push_back(c);
  }
  res.steps.push_back({0, 0, 0, pool[4], 98.5, true});
  res.steps.push_back({1, 0, 3, pool[1], 91.0, true});
  res.steps.push_back({2, 0, 0, pool[5], 85.0, true});
  const auto rec = f.grid.make_pruning_record(u, {}, res);
  ASSERT_EQ(rec.rows.size(), 3u);
  EXPECT_EQ(vocab::components_name(rec.rows[0].components), "1.1");
  EXPECT_EQ(vocab::components_name(rec.rows[1].components), "0.1+1.1");
  EXPECT_EQ(vocab::components_name(rec.rows[2].components), "0.0+0.1+1.1+mlp1");
  EXPECT_EQ(rec.rows[2].metrics.performance, 89.0);
  EXPECT_TRUE(std::isnan(rec.rows[2].metrics.kl));
  ASSERT_EQ(rec.circuits.size(), 3u);
  EXPECT_EQ(vocab::components_name(rec.circuits[2].components), "mlp0+1.0");
  EXPECT_EQ(rec.circuits[2].kept, (std::vector<std::int8_t>{0, 0, 1, 1, 0, 0}));
  EXPECT_EQ(rec.circuits[1].threshold, 10);
  EXPECT_EQ(rec.circuits[1].threshold_index, 1);
  EXPECT_EQ(rec.circuits[1].circuit, u.begin + 1);
  EXPECT_EQ(rec.circuits[1].evaluations, 8);
  EXPECT_TRUE(std::isnan(rec.circuits[0].metrics.kl));
  ASSERT_EQ(rec.steps.size(), 3u);
  EXPECT_EQ(rec.steps[1].circuit, u.begin + 1);
  EXPECT_EQ(rec.steps[2].step, 2);
  EXPECT_EQ(rec.steps[1].position, 3);

  const auto layout = f.grid.file_meta().layout;
  reducers::verify_record(rec, f.grid.fingerprint(), layout, "test");
  const auto back = reducers::deserialize(reducers::serialize(rec));
  ASSERT_EQ(back.circuits.size(), 3u);
  EXPECT_EQ(back.circuits[2].kept, rec.circuits[2].kept);
  EXPECT_EQ(back.circuits[2].components, rec.circuits[2].components);
  EXPECT_EQ(back.circuits[1].evaluations, 8);
  ASSERT_EQ(back.steps.size(), 3u);
  EXPECT_EQ(back.steps[1].component, pool[1]);
  EXPECT_EQ(back.steps[1].performance, 91.0);
  reducers::verify_record(back, f.grid.fingerprint(), layout, "journal");

  auto bad = rec;
  bad.circuits[1].circuit += 1;
  EXPECT_THROW(reducers::verify_record(bad, f.grid.fingerprint(), layout, "test"), InputError);
  bad = rec;
  bad.circuits.pop_back();
  EXPECT_THROW(reducers::verify_record(bad, f.grid.fingerprint(), layout, "test"), InputError);
  bad = rec;
  bad.steps[0].circuit = u.end;
  EXPECT_THROW(reducers::verify_record(bad, f.grid.fingerprint(), layout, "test"), InputError);

  // A result that does not fit the run is a bug of the pruner, not a row to store.
  auto short_res = res;
  short_res.circuits.pop_back();
  EXPECT_THROW(f.grid.make_pruning_record(u, {}, short_res), InternalError);
  auto bad_mask = res;
  bad_mask.circuits[0].kept.pop_back();
  EXPECT_THROW(f.grid.make_pruning_record(u, {}, bad_mask), InternalError);
}

TEST(PruningOrders, Spellings) {
  EXPECT_EQ(vocab::parse_pruning_orders("reference").size(), 1u);
  EXPECT_EQ(vocab::parse_pruning_orders("reversed")[0].kind, pruning::OrderKind::kReversed);
  const auto r = vocab::parse_pruning_orders("random:20");
  ASSERT_EQ(r.size(), 20u);
  EXPECT_EQ(r[19].seed, 19u);
  EXPECT_EQ(vocab::parse_pruning_orders("random#42")[0].seed, 42u);
  for (const char* bad : {"random:0", "random:", "random:x", "random#", "Reference", "random:-1"})
    EXPECT_THROW(vocab::parse_pruning_orders(bad, "orders[0]"), InputError) << bad;
}

}  // namespace
}  // namespace csweep::pipeline
