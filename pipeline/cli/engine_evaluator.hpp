#pragma once
// The engine behind the sweep pipeline: a UnitEvaluator that loads each model of the job once,
// keeps the reference caches of the current dataset resident, and evaluates a unit's
// interventions with the batched executor (workers/interventions/executor.hpp).
//
// Dataset of a key: tasks::make_dataset(task generator, task params, model's tokenizer,
// seed = job.seeds[key.seed]); corrupted with seed + 1. Batch composition depends only on the
// interventions passed (the executor sorts and chunks them deterministically), so results do
// not depend on rank, resume point or shard split.
#include <memory>

#include "pipeline/evaluator.hpp"

namespace csweep::pipeline {

// Device: CUDA (GPU rank % device count) when LibTorch sees one, else the CPU.
std::unique_ptr<UnitEvaluator> make_engine_evaluator(const JobSpec& job, int rank, int n_ranks);

}  // namespace csweep::pipeline
