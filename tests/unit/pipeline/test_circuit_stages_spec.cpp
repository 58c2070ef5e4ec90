// Circuit stages (kind edge_pruning / faithfulness) in the job spec: sources, keep rules,
// cross-references to other families, and errors naming file:line, key, value and expectation.
// Their evaluation end to end (h5py checks of /edges, /faithfulness) is tests/pruning.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "core/error.hpp"
#include "pipeline/grid.hpp"
#include "pipeline/job_spec.hpp"

namespace csweep::pipeline {
namespace {

std::string spec(const std::string& stage) {
  return R"([[models]]
name = "a"
path = "x"
config = { n_layers = 2, n_heads = 2, d_model = 16, d_mlp = 8 }
[[tasks]]
name = "digits"
[[tasks]]
name = "months"
[experiments]
corruptions = ["randAll", "switchLastTwo"]
ablations = ["mean"]
metrics = ["logit_diff"]
[[families]]
name = "single"
kind = "combinations"
k = [1]
[[families]]
name = "prune"
kind = "pruning"
thresholds = [20, 10]
[[families]]
)" + stage + R"(
[output]
path = "o.h5"
)";
}

std::string error_of(const std::string& stage) {
  try {
    parse_job_spec(spec(stage), "s.toml");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(CircuitStageSpec, EdgePruningFromAPruningFamily) {
  const auto job = parse_job_spec(spec("name = \"e\"\nkind = \"edge_pruning\"\nfrom = \"prune\"\nthresholds = [20]"), "s.toml");
  ASSERT_EQ(job.families.size(), 2u);  // stages are not grid families
  ASSERT_EQ(job.stages.size(), 1u);
  const auto& st = job.stages[0];
  EXPECT_EQ(st.from, "prune");
  EXPECT_EQ(st.thresholds, std::vector<double>{20});
  ASSERT_EQ(st.orders.size(), 1u);  // reference by default
  EXPECT_EQ(st.orders[0].kind, pruning::OrderKind::kReference);
  EXPECT_DOUBLE_EQ(st.ratio, 0.8);
  EXPECT_TRUE(st.inside);
  // Stages add no units but change the fingerprint (they decide the derived tables).
  model::ModelConfig cfg = *job.models[0].config;
  const Grid with(job, {cfg});
  const auto plain = parse_job_spec(spec("name = \"s2\"\nkind = \"combinations\"\nk = [2]"), "s.toml");
  JobSpec no_stage = job;
  no_stage.stages.clear();
  const Grid without(no_stage, {cfg});
  EXPECT_EQ(with.total_units(), without.total_units());
  EXPECT_NE(with.fingerprint(), without.fingerprint());
  (void)plain;
}

TEST(CircuitStageSpec, ExplicitCircuitRunsOnEveryExperimentOfItsCorruptions) {
  const auto job = parse_job_spec(
      spec("name = \"e\"\nkind = \"edge_pruning\"\ncircuit = [\"1.0\", \"0.1\", \"mlp0\"]\ncorruptions = [\"switchLastTwo\"]\neffect = 0.1\nratio = 0"),
      "s.toml");
  const auto& st = job.stages[0];
  ASSERT_EQ(st.circuit.size(), 3u);
  EXPECT_EQ(st.circuit[0].layer, 0);  // sorted
  const Grid grid(job, {*job.models[0].config});
  const auto keys = grid.stage_experiments(st);
  ASSERT_EQ(keys.size(), 2u);  // 2 tasks x switchLastTwo x mean
  for (const auto& k : keys) EXPECT_EQ(job.corruptions[static_cast<size_t>(k.corruption)], "switchLastTwo");
}

TEST(CircuitStageSpec, CircuitFileGivesOneCircuitPerTask) {
  const std::string path = ::testing::TempDir() + "circuits_stage.json";
  std::ofstream(path) << R"({"digits": {"heads": ["0.1"], "mlps": [1]}, "months": {"heads": ["1.1", "0.0"]}})";
  const auto job = parse_job_spec(spec("name = \"e\"\nkind = \"edge_pruning\"\ncircuit_file = \"" + path + "\""), "s.toml");
  ASSERT_EQ(job.stages[0].task_circuits.size(), 2u);
  EXPECT_EQ(job.stages[0].task_circuits[1].size(), 2u);
  std::ofstream(path) << R"({"digits": {"heads": ["0.1"]}})";
  const auto msg = error_of("name = \"e\"\nkind = \"edge_pruning\"\ncircuit_file = \"" + path + "\"");
  EXPECT_NE(msg.find("has no circuit for task 'months'"), std::string::npos) << msg;
  std::remove(path.c_str());
}

TEST(CircuitStageSpec, FaithfulnessFromASingleAblationFamilyOrAScoresFile) {
  const auto job = parse_job_spec(spec("name = \"f\"\nkind = \"faithfulness\"\nranking = \"single\""), "s.toml");
  EXPECT_EQ(job.stages[0].ranking, "single");
  EXPECT_EQ(job.stages[0].fractions.size(), 10u);  // MIB's
  EXPECT_EQ(job.stages[0].integer_sizes_up_to, 64);
  const std::string path = ::testing::TempDir() + "scores_stage.json";
  std::ofstream(path) << R"({"edges": {"a0.h1->a1.h0<q>": {"score": 0.5}, "m0->logits": {"score": -2}}})";
  const auto j2 = parse_job_spec(spec("name = \"f\"\nkind = \"faithfulness\"\nscores_file = \"" + path + "\""), "s.toml");
  ASSERT_EQ(j2.stages[0].file_ranking.size(), 2u);
  EXPECT_EQ(j2.stages[0].file_ranking.scores[0], -2);  // |score| first
  std::remove(path.c_str());
}

TEST(CircuitStageSpec, ErrorsNameTheLineKeyValueAndExpectation) {
  struct Case {
    std::string stage, want;
  };
  const Case cases[] = {
      {"name = \"e\"\nkind = \"edge_pruning\"", "missing the stage's source"},
      {"name = \"e\"\nkind = \"edge_pruning\"\nfrom = \"prune\"\ncircuit = [\"0.1\"]", "conflicts with from"},
      {"name = \"e\"\nkind = \"edge_pruning\"\nfrom = \"single\"", "is not a pruning family"},
      {"name = \"e\"\nkind = \"edge_pruning\"\nfrom = \"nope\"", "names no family"},
      {"name = \"e\"\nkind = \"edge_pruning\"\nfrom = \"prune\"\nthresholds = [3]", "not a threshold of family 'prune'"},
      {"name = \"e\"\nkind = \"edge_pruning\"\nfrom = \"prune\"\norders = [\"reversed\"]", "not an order of family 'prune'"},
      {"name = \"e\"\nkind = \"edge_pruning\"\ncircuit = [\"n0.3\"]", "edges join heads and MLPs"},
      {"name = \"e\"\nkind = \"edge_pruning\"\ncircuit = [\"0.1\"]\nratio = 0", "no keep rule"},
      {"name = \"e\"\nkind = \"edge_pruning\"\ncircuit = [\"0.1\"]\nfoo = 1", "unknown key"},
      {"name = \"f\"\nkind = \"faithfulness\"\nranking = \"prune\"", "is not a combinations family with k = 1"},
      {"name = \"f\"\nkind = \"faithfulness\"\nranking = \"single\"\nfractions = [0.5, 0.2]", "invalid fraction"},
      {"name = \"f\"\nkind = \"faithfulness\"\nscores_file = \"/nonexistent/s.json\"", "path does not exist"},
      {"name = \"single\"\nkind = \"faithfulness\"\nranking = \"single\"", "duplicate family name"},
  };
  for (const auto& c : cases) {
    const auto msg = error_of(c.stage);
    EXPECT_NE(msg.find(c.want), std::string::npos) << c.stage << "\n-> " << msg;
    EXPECT_EQ(msg.rfind("s.toml:", 0), 0u) << msg;  // the file and line come first
  }
}

TEST(CircuitStageSpec, AGridOfStagesOnlyIsRefused) {
  const std::string text = R"([[models]]
name = "a"
path = "x"
config = { n_layers = 2, n_heads = 2, d_model = 16, d_mlp = 8 }
[[tasks]]
name = "digits"
[experiments]
corruptions = ["randAll"]
ablations = ["mean"]
metrics = ["logit_diff"]
[[families]]
name = "e"
kind = "edge_pruning"
circuit = ["0.1"]
[output]
path = "o.h5"
)";
  try {
    parse_job_spec(text, "s.toml");
    FAIL() << "accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("no family expands into work units"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace csweep::pipeline
