#pragma once
// Models with planted circuits: GPT-2-family transformers whose weights are set analytically
// (no training), so the circuit that solves their task is known by construction. They are the
// ground truth for circuit finders (node pruning, edge pruning, faithfulness curves); the
// construction is documented in docs/PLANTED.md.
//
//  * induction_model: 2 layers, attention-only in effect (MLP weights zero). Head 0.1 is a
//    previous-token head (writes the previous token into a "prev" subspace), head 1.2 an
//    induction head (query = current token, key = prev subspace: K-composition; value = the
//    attended token, written into an "out" subspace the unembedding reads). The other six heads
//    are distractors writing token-dependent junk into subspaces nothing reads. Task: BOS, 8
//    distinct random tokens, then the first 4 repeated; predict the 5th. Corrupted: 12 distinct
//    random tokens (nothing repeats, so induction has nothing to find).
//    Circuit: {0.1, 1.2}; edges: a0.h1->a1.h2<k>, a1.h2->logits.
//  * and_model: 2 layers. Head 0.0 reports "token A at position 1", head 0.2 "token B at
//    position 2"; MLP 0 fires only when both are present (a ReLU with a threshold between one and
//    two inputs) and writes the answer direction. Either head alone recovers nothing, so
//    single-head patching (denoising) tables miss the pair; pair tables and ablation-based
//    pruning find it. Distractors as above; MLP 1 is zero.
//    Circuit: {0.0, 0.2, mlp0}; edges: a0.h0->m0, a0.h2->m0, m0->logits.
//
// Every written vector lies in an orthonormal set of mean-zero directions (rows of a Sylvester
// Hadamard matrix without its all-ones row), so LayerNorm only rescales and subspaces never mix.
#include <cstdint>
#include <string>
#include <vector>

#include "workers/interventions/edges.hpp"
#include "workers/interventions/prompt_set.hpp"
#include "workers/model/weights.hpp"

namespace csweep::planted {

struct PlantedModel {
  model::LoadedModel model;
  interv::PromptSet prompts;                // clean and corrupted prompts of the task
  std::vector<interv::Component> circuit;   // the planted nodes
  std::vector<interv::Edge> edges;          // the planted edges among them
  std::string name;                         // "induction" / "and"
};

PlantedModel induction_model(int n_prompts = 32, std::uint64_t seed = 1);
PlantedModel and_model(int n_prompts = 32, std::uint64_t seed = 1);

// By name ("induction", "and"); InputError listing the names otherwise.
PlantedModel planted_model(const std::string& name, int n_prompts = 32, std::uint64_t seed = 1);
const std::vector<std::string>& planted_model_names();

}  // namespace csweep::planted
