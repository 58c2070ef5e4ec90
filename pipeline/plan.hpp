#pragma once
// `csweep plan`: what a job will cost before it runs (torch-free; the engine plugs in through a
// measurement callback).
//
// FLOPs follow ARCHITECTURE §5: a forward pass costs 2 * N_nonembed * tokens, plus the
// unembedding at the answer position only (2 * d_model * d_vocab per prompt when KL or accuracy
// is asked, else 2 * d_model * 2 for the two logit-difference columns). Every intervention is
// one forward over its experiment's prompts (an upper bound: prefix reuse starts later layers
// from cached residuals), plus a clean and a corrupted reference run per experiment.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "pipeline/grid.hpp"

namespace csweep::pipeline {

// Prompt count and length of a task, from its generator parameters (tokens are an estimate for
// GPT-2-style tokenizers until the task module reports exact lengths).
struct PromptShape {
  int n_prompts = 100;
  int tokens = 25;
};
PromptShape estimate_prompt_shape(const TaskSpec& task);

struct PlanReport {
  std::uint64_t experiments = 0, units = 0, interventions = 0, rows = 0;
  struct FamilyLine {
    std::string name, kind;
    std::uint64_t per_experiment = 0;  // for the first model
  };
  std::vector<FamilyLine> families;
  // Circuit stages (edge_pruning, faithfulness): derived from the finished tables when the grid
  // completes (pipeline/derived_tables.hpp), so not work units and not in the estimate.
  struct StageLine {
    std::string name, kind, source;
    std::uint64_t experiments = 0;  // explicit sources: experiments it runs on; 0 = per source row
  };
  std::vector<StageLine> stages;
  // Pruning runs (one unit each) and their candidate evaluations. A pass evaluates every
  // component still in the circuit and every pass but the last removes one or more, so a
  // threshold of a pool of P costs at most P * (P + 1) / 2 + P evaluations (one removal per pass,
  // then a pass that removes nothing) — the bound. The estimate assumes 3 passes of P (the
  // study's circuits need 2 to 3) and one forward per evaluation (an upper bound for the fast
  // pruner, whose prefix reuse and batching make many cheaper).
  std::uint64_t pruning_runs = 0;
  double pruning_evaluations_bound = 0, pruning_evaluations_estimate = 0;
  std::vector<std::int64_t> n_params_nonembed;  // per model
  double flops = 0;
  double output_bytes = 0;        // uncompressed table bytes (HDF5 deflate usually shrinks it)
  double measured_gflops = 0;     // dense matmul of this machine (one core)
  double measured_unit_s = -1;    // seconds per unit when the engine measured units, else -1
  int workers = 1;
  double estimated_seconds = 0;
};

// `measure_unit`: when set, evaluates one unit and returns its seconds (the engine's measurement,
// preferred); otherwise the estimate divides FLOPs by the measured matmul rate.
PlanReport make_plan(const Grid& grid, int workers, int units_to_measure,
                     const std::function<double(const WorkUnit&)>& measure_unit);
std::string format_plan(const PlanReport& r);

// GFLOP/s of a cache-blocked float matrix product on one core, timed for about `seconds`.
double measure_matmul_gflops(double seconds);

}  // namespace csweep::pipeline
