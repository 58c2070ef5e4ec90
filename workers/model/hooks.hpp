#pragma once
// TransformerLens hook-point names, built in one place. The ordered list for a config equals
// TransformerLens's `model.hook_dict` order (pinned by a test against a list TransformerLens wrote).
#include <string>
#include <vector>

#include "workers/model/config.hpp"

namespace csweep::model {

// Per-layer hook name, e.g. act_name("z", 3) == "blocks.3.attn.hook_z" (TransformerLens's
// get_act_name). Accepts: resid_pre, resid_mid, resid_post, attn_out, mlp_out, q, k, v, rot_q,
// rot_k, z, pattern, attn_scores, result, pre, pre_linear, post, scale1, normalized1, scale2,
// normalized2.
std::string act_name(const std::string& kind, int layer);

// Every hook point the model fires, in TransformerLens's hook_dict order (not forward order; see
// hooks.cpp). Split-input hooks (hook_attn_in, hook_q_input, ...) are not provided.
std::vector<std::string> hook_names(const ModelConfig& cfg);

// Shell-style glob ('*', '?') over hook names, e.g. "blocks.*.attn.hook_z".
bool glob_match(const std::string& pattern, const std::string& name);

// Labelled dimensions of a hook's activation, e.g. "batch pos head_index d_head" for hook_z.
std::string hook_dims(const std::string& hook_name);

}  // namespace csweep::model
