#pragma once
// The seam between the sweep machinery (grid, scheduler, reducers: torch-free) and the engine
// that turns interventions into metrics (workers/: LibTorch).
//
// Contract for implementations:
//  * One evaluator per rank, created once (load the model(s) once; keep caches resident).
//  * Results must be a function of (key, interventions) only — never of which rank ran them, of
//    what ran before, or of timing — so that any rank count, any resume point and any shard split
//    give identical tables. Batching inside evaluate() is the engine's business, but the batch
//    composition must depend only on the interventions passed (a unit's list is always the same).
//  * Use exactly JobSpec::batching.threads_per_rank CPU threads, torch's and the BLAS's (the
//    engine's factory calls model::pin_cpu_threads, workers/model/device_policy.hpp): fp32 sums
//    differ in the last bits between thread counts, and mpirun's core binding would otherwise
//    change the count between `-np 1` and `-np 2` runs, or between a rank and `csweep merge`.
//  * Consecutive calls usually share the key's dataset (model, seed, task, corruption): cache
//    per dataset what every intervention needs (clean/corrupted runs, means), and drop caches of
//    other datasets when memory (JobSpec::memory) demands.
//  * Errors: InputError for problems of the job (a task the tokenizer cannot handle, ...),
//    anything else is a bug. Either ends the whole MPI job (the output stays resumable).
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/grid.hpp"
#include "pipeline/job_spec.hpp"
#include "workers/circuit_results/curves.hpp"
#include "workers/circuit_results/edge_results.hpp"
#include "workers/interventions/intervention.hpp"
#include "workers/metrics/metric_row.hpp"
#include "workers/pruning/run_spec.hpp"

namespace csweep::pipeline {

class UnitEvaluator {
 public:
  virtual ~UnitEvaluator() = default;

  // Clean / corrupted reference values of the key's experiment (stored in /baselines).
  virtual metrics::Baseline baseline(const ExperimentKey& key) = 0;

  // One MetricRow per intervention, in the same order. Per-prompt logit differences are kept
  // only when the job asks for them (JobSpec::output.per_prompt).
  virtual std::vector<metrics::MetricRow> evaluate(const ExperimentKey& key,
                                                   const std::vector<interv::Intervention>& ivs) = 0;

  // Pruning units (family kind "pruning"): one pruning run on the key's dataset and ablation
  // (workers/pruning/pruner.hpp run_pruning). Same contract: a function of (key, run) only.
  // The default refuses (evaluators that only evaluate intervention lists).
  virtual pruning::RunResult prune(const ExperimentKey& key, const pruning::RunSpec& run);

  // Circuit stages (pipeline/circuit_stages.hpp), same contract. Edge pruning of `circuit` on the
  // key's dataset (workers/circuits/edge_pruning.hpp prune_edges; its outside mean-ablated when
  // opt.inside_circuit), and the faithfulness curve of a ranking (faithfulness.hpp; nodes are
  // removed with key.ablation_kind). The defaults refuse.
  virtual circuits::EdgePruningResult prune_edges(const ExperimentKey& key,
                                                  const std::vector<interv::Component>& circuit,
                                                  const circuits::EdgePruningOptions& opt);
  virtual circuits::Curve faithfulness(const ExperimentKey& key, const circuits::Ranking& ranking,
                                       const circuits::CurveOptions& opt);

  // Called once on a thread other than the one that built the evaluator, before it evaluates
  // there (rank 0 evaluates beside its coordinator): re-apply per-thread state, e.g. the
  // OpenMP thread count, which is per thread and must equal threads_per_rank (see above).
  virtual void enter_thread() {}

  // Architecture of job.models[model] once loaded (exact, from the checkpoint). The default
  // reads it without loading weights (pipeline/job_spec.hpp model_config()).
  virtual model::ModelConfig model_config(int model);

  // Provenance: where this rank computes and in what dtype, in words (model::Placement's
  // description, e.g. "cuda:1 (node-local rank 1 from SLURM_LOCALID; ...), float32"); the run
  // records every rank's in its "runs" entry. "" = not told.
  virtual std::string placement() const { return {}; }

  // Provenance: sha256 of the weight file(s) and tokenizer file(s) of job.models[model]
  // ("" when unknown). The default hashes the files of a Hugging Face folder / a GGUF file.
  virtual std::string weights_sha256(int model);
  virtual std::string tokenizer_sha256(int model);

 protected:
  explicit UnitEvaluator(const JobSpec& job) : job_(job) {}
  const JobSpec& job_;
};

// Builds the evaluator of this rank. `rank`/`n_ranks` let an implementation pick a device
// (e.g. GPU rank % n_gpus). Called on every rank (rank 0 evaluates too).
using EvaluatorFactory =
    std::function<std::unique_ptr<UnitEvaluator>(const JobSpec& job, int rank, int n_ranks)>;

// Hashes of the files of a model folder or file, shared by evaluators and `csweep plan`:
// weights = *.safetensors / *.gguf / *.bin (sorted, hashes concatenated then hashed when several),
// tokenizer = tokenizer.json, vocab.json, merges.txt, tokenizer.model when present.
std::string hash_weights(const std::string& model_path);
std::string hash_tokenizer(const std::string& model_path);

}  // namespace csweep::pipeline
