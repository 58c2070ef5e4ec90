#include <gtest/gtest.h>

#include "pipeline/grid.hpp"
#include "pipeline/job_spec.hpp"
#include "pipeline/plan.hpp"

namespace csweep::pipeline {
namespace {

std::string spec(const std::string& metrics) {
  return R"(
[[models]]
name = "m"
path = "x"
config = { n_layers = 1, n_heads = 2, d_model = 4, d_mlp = 8, d_vocab = 10 }
[[tasks]]
name = "digits"
params = { n_prompts = 10, members = 4 }
[experiments]
corruptions = ["randAll"]
ablations = ["mean"]
metrics = [)" + metrics + R"(]
[[families]]
name = "heads"
kind = "combinations"
k = [1]
[output]
path = "o.h5"
per_prompt = true
)";
}

TEST(Plan, PromptShapeFromTaskParameters) {
  TaskSpec t;
  t.generator = "digits";
  t.params = {{"n_prompts", 64}, {"members", 3}};
  const auto p = estimate_prompt_shape(t);
  EXPECT_EQ(p.n_prompts, 64);
  EXPECT_EQ(p.tokens, 5 * 3 + 4 + 1);
}

TEST(Plan, FlopsFollowTheForwardPassModel) {
  // Hand count for a 1-layer GPT-2 block with 2 heads, d_model 4, d_head 2, d_mlp 8:
  // ln1 8 + W_QKVO 64 + b_QKVO 16 + ln2 8 + MLP (32 + 8 + 32 + 4) + ln_final 8 = 180.
  // Per prompt forward: 2 * 180 * 25 tokens = 9000; LD-only unembedding 2 * 4 * 2 = 16,
  // full vocabulary (KL) 2 * 4 * 10 = 80. 2 interventions x 10 prompts, plus a clean and a
  // corrupted reference run of 10 prompts.
  for (auto [metrics, expected] : {std::pair<std::string, double>{"\"logit_diff\"", 2 * 10 * 9016.0 + 20 * 9000.0},
                                   std::pair<std::string, double>{"\"logit_diff\", \"kl\"", 2 * 10 * 9080.0 + 20 * 9000.0}}) {
    const JobSpec job = parse_job_spec(spec(metrics), "plan.toml");
    const Grid grid(job, {*job.models[0].config});
    const auto r = make_plan(grid, 2, 0, nullptr);
    EXPECT_EQ(r.n_params_nonembed.at(0), 180);
    EXPECT_DOUBLE_EQ(r.flops, expected) << metrics;
    EXPECT_EQ(r.interventions, 2u);
    EXPECT_GT(r.measured_gflops, 0);
    EXPECT_GT(r.estimated_seconds, 0);
    // Row bytes: 24 index + 8 id + 4 count + 9 component + 4 position + 9 receiver + 56 metrics
    // + 40 per-prompt floats.
    EXPECT_DOUBLE_EQ(r.output_bytes, 2 * 154.0);
    EXPECT_NE(format_plan(r).find("work units:    1"), std::string::npos) << format_plan(r);
  }
}

TEST(Plan, EngineMeasurementDrivesTheEstimate) {
  const JobSpec job = parse_job_spec(spec("\"logit_diff\""), "plan.toml");
  const Grid grid(job, {*job.models[0].config});
  int calls = 0;
  const auto r = make_plan(grid, 1, 3, [&](const WorkUnit&) {
    ++calls;
    return 0.5;
  });
  EXPECT_EQ(calls, 1);  // the grid has one unit
  EXPECT_DOUBLE_EQ(r.measured_unit_s, 0.5);
  EXPECT_DOUBLE_EQ(r.estimated_seconds, 0.5);
}

// Circuit stages are no work units: the plan names each with its source and, for an explicit
// circuit, the experiments it runs on (tasks x its corruptions x mean ablation), and says they
// are outside the estimate.
TEST(Plan, NamesTheCircuitStagesAndTheirSources) {
  std::string text = spec("\"logit_diff\"");
  text.replace(text.find("corruptions = [\"randAll\"]"), 25, "corruptions = [\"randAll\", \"switchLastTwo\"]");
  text.replace(text.find("[[tasks]]"), 0, "[[tasks]]\nname = \"months\"\n");
  text.replace(text.find("[output]"), 0, R"([[families]]
name = "prune"
kind = "pruning"
thresholds = [20, 10]
[[families]]
name = "edges"
kind = "edge_pruning"
from = "prune"
thresholds = [20]
[[families]]
name = "explicit"
kind = "edge_pruning"
circuit = ["0.1", "mlp0"]
corruptions = ["switchLastTwo"]
[[families]]
name = "curve"
kind = "faithfulness"
ranking = "heads"
)");
  const JobSpec job = parse_job_spec(text, "plan.toml");
  const Grid grid(job, {*job.models[0].config});
  const auto r = make_plan(grid, 1, 0, nullptr);
  ASSERT_EQ(r.stages.size(), 3u);
  EXPECT_EQ(r.stages[0].source, "circuits of 'prune' (thresholds 20, orders reference)");
  EXPECT_EQ(r.stages[0].kind, "edge_pruning");
  EXPECT_EQ(r.stages[1].source, "circuit 0.1+mlp0");
  EXPECT_EQ(r.stages[1].experiments, 2u);  // digits, months x switchLastTwo x mean
  EXPECT_EQ(r.stages[2].source, "single-component effects of 'heads'");
  EXPECT_EQ(r.stages[2].kind, "faithfulness");
  const auto text_out = format_plan(r);
  EXPECT_NE(text_out.find("stage  explicit"), std::string::npos) << text_out;
  EXPECT_NE(text_out.find("on 2 experiments"), std::string::npos) << text_out;
  EXPECT_NE(text_out.find("not in the estimate"), std::string::npos) << text_out;
  EXPECT_EQ(r.families.size(), 2u);  // heads, prune: stages are not grid families
}

}  // namespace
}  // namespace csweep::pipeline
