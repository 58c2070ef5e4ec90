#pragma once
// PromptSet: the clean and corrupted prompts of one (task, corruption) as tensors, the form the
// engine consumes. Prompts are right-padded: with causal attention a real token never attends to
// a later (padding) token, so no attention mask is needed and each prompt is read at its own
// answer position. Prompts of one template group have equal length, so per-position means
// within a group compare like with like.
#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "workers/interventions/intervention.hpp"

namespace csweep::tasks {
struct Dataset;
}

namespace csweep::interv {

struct PromptSet {
  torch::Tensor clean_tokens;      // [batch, pos] int64, right-padded
  torch::Tensor corrupted_tokens;  // [batch, pos] int64, right-padded
  torch::Tensor answer_pos;        // [batch] int64: position whose logits predict the answer
  torch::Tensor correct;           // [batch] int64 token id of the correct answer
  torch::Tensor incorrect;         // [batch] int64
  torch::Tensor group;             // [batch] int64 template group 0..n_groups-1
  int n_groups = 1;
  std::map<std::string, torch::Tensor> named_positions;  // "end", "S1", ... -> [batch] int64
  // Greater-than only (undefined otherwise): year tokens "00".."99" and each prompt's YY.
  torch::Tensor year_ids, year_values, yy;

  int64_t batch() const { return clean_tokens.size(0); }
  int64_t seq_len() const { return clean_tokens.size(1); }

  // From a clean dataset and its corruption (same prompts, same order). `pad_id` fills the
  // tail of shorter prompts. Throws InputError when the two datasets do not match.
  static PromptSet from_datasets(const tasks::Dataset& clean, const tasks::Dataset& corrupted,
                                 int pad_id = 0);

  // Checks shapes and ranges (InternalError on a malformed set built in code).
  void validate() const;
};

// Which (prompt, position) cells an intervention touches: undefined = every position, else a
// bool mask [batch, pos] (CPU). Indices >= 0 are absolute token positions, negative ones count
// back from each prompt's answer position (-1 = the answer position itself); names come from
// `named_positions`. An unknown name or an index outside every prompt throws InputError.
torch::Tensor resolve_positions(const Positions& pos, const PromptSet& set);

}  // namespace csweep::interv
