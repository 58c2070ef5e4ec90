// TransformerLens hook-point names. The order of hook_names() follows TransformerLens's
// `hook_dict` (pinned by a test against lists written by TransformerLens itself).
#include "workers/model/hooks.hpp"

#include <array>
#include <utility>

#include "core/error.hpp"

namespace csweep::model {

namespace {

// get_act_name shorthand -> name relative to "blocks.{l}.".
constexpr std::array<std::pair<const char*, const char*>, 26> kActNames{{
    {"resid_pre", "hook_resid_pre"},
    {"resid_mid", "hook_resid_mid"},
    {"resid_post", "hook_resid_post"},
    {"attn_out", "hook_attn_out"},
    {"mlp_out", "hook_mlp_out"},
    {"attn_in", "hook_attn_in"},
    {"q_input", "hook_q_input"},
    {"k_input", "hook_k_input"},
    {"v_input", "hook_v_input"},
    {"mlp_in", "hook_mlp_in"},
    {"q", "attn.hook_q"},
    {"k", "attn.hook_k"},
    {"v", "attn.hook_v"},
    {"rot_q", "attn.hook_rot_q"},
    {"rot_k", "attn.hook_rot_k"},
    {"z", "attn.hook_z"},
    {"pattern", "attn.hook_pattern"},
    {"attn_scores", "attn.hook_attn_scores"},
    {"result", "attn.hook_result"},
    {"pre", "mlp.hook_pre"},
    {"pre_linear", "mlp.hook_pre_linear"},
    {"post", "mlp.hook_post"},
    {"scale1", "ln1.hook_scale"},
    {"normalized1", "ln1.hook_normalized"},
    {"scale2", "ln2.hook_scale"},
    {"normalized2", "ln2.hook_normalized"},
}};

bool ends_with(const std::string& s, const char* suffix) {
  const std::string suf(suffix);
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

}  // namespace

std::string act_name(const std::string& kind, int layer) {
  CSWEEP_CHECK_INPUT(layer >= 0, "hook name: layer {} for '{}' is negative", layer, kind);
  for (const auto& [short_name, rel] : kActNames) {
    if (kind == short_name) return "blocks." + std::to_string(layer) + "." + rel;
  }
  std::string known;
  for (const auto& entry : kActNames) known += std::string(known.empty() ? "" : ", ") + entry.first;
  throw input_error("hook name", "unknown activation kind", "'" + kind + "'", "one of " + known);
}

std::vector<std::string> hook_names(const ModelConfig& cfg) {
  // TransformerLens 4 (TransformerBridge in compatibility mode) lists a block's own hook points
  // first, then its submodules in the order the architecture adapter maps them: for Llama (and Qwen2)
  // the two norms precede attention, for GPT-2 ln2 follows it. Bridge-internal aliases (hook_in/hook_out
  // of submodules, attn.q.hook_out, ...) and the split-input hooks (hook_attn_in, hook_q_input,
  // ...) are not hook points of this model.
  // Gemma's post-norms add ln1_post / ln2_post; its QK-norm (Gemma 3) adds attn.hook_q_normed /
  // hook_k_normed and the q_norm / k_norm norms' own hooks, all in HF's [batch, head, pos, ...]
  // layout (hook_dims).
  // A parallel (GPT-NeoX) block has no resid_mid; TransformerLens's NeoX adapter fires no
  // hook_rot_q / hook_rot_k (its rotary is applied inside the fused-QKV attention).
  const bool rotary = cfg.positional == PosKind::kRotary;
  const bool norms_first = cfg.family != Family::kGPT2;
  const bool rot_hooks = rotary && cfg.family != Family::kGPTNeoX;
  std::vector<std::string> names;
  names.emplace_back("hook_embed");
  if (!rotary) names.emplace_back("hook_pos_embed");
  for (int l = 0; l < cfg.n_layers; ++l) {
    const std::string b = "blocks." + std::to_string(l) + ".";
    for (const char* h : {"hook_mlp_in", "hook_resid_pre", "hook_resid_mid", "hook_resid_post",
                          "hook_attn_out", "hook_mlp_out", "ln1.hook_normalized", "ln1.hook_scale"}) {
      if (cfg.parallel_attn_mlp && std::string(h) == "hook_resid_mid") continue;
      names.push_back(b + h);
    }
    const auto ln2 = [&] {
      names.push_back(b + "ln2.hook_normalized");
      names.push_back(b + "ln2.hook_scale");
    };
    if (cfg.post_norms) {
      // Gemma (TransformerLens's ln1_post / ln2_post), listed in block order.
      for (const char* h : {"ln1_post.hook_normalized", "ln1_post.hook_scale", "ln2.hook_normalized",
                            "ln2.hook_scale", "ln2_post.hook_normalized", "ln2_post.hook_scale"}) {
        names.push_back(b + h);
      }
    } else if (norms_first) {
      ln2();
    }
    for (const char* h : {"attn.hook_attn_scores", "attn.hook_pattern", "attn.hook_result"}) {
      names.push_back(b + h);
    }
    if (rot_hooks) {
      names.push_back(b + "attn.hook_rot_k");
      names.push_back(b + "attn.hook_rot_q");
    }
    if (cfg.qk_norm) {
      names.push_back(b + "attn.hook_q_normed");
      names.push_back(b + "attn.hook_k_normed");
    }
    for (const char* h : {"attn.hook_q", "attn.hook_k", "attn.hook_v", "attn.hook_z"}) {
      names.push_back(b + h);
    }
    if (cfg.qk_norm) {
      for (const char* h : {"attn.q_norm.hook_normalized", "attn.q_norm.hook_scale",
                            "attn.k_norm.hook_normalized", "attn.k_norm.hook_scale"}) {
        names.push_back(b + h);
      }
    }
    if (!norms_first) ln2();
    names.push_back(b + "mlp.hook_pre");
    if (cfg.gated_mlp) names.push_back(b + "mlp.hook_pre_linear");
    names.push_back(b + "mlp.hook_post");
  }
  names.emplace_back("ln_final.hook_normalized");
  names.emplace_back("ln_final.hook_scale");
  return names;
}

bool glob_match(const std::string& pattern, const std::string& name) {
  // Iterative matcher with single-star backtracking: linear in practice, no recursion.
  std::size_t p = 0, n = 0, star = std::string::npos, mark = 0;
  while (n < name.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == name[n])) {
      ++p;
      ++n;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = n;
    } else if (star != std::string::npos) {
      p = star + 1;
      n = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

std::string hook_dims(const std::string& hook_name) {
  if (hook_name == "logits") return "batch pos d_vocab";
  // Gemma 3's QK-norm hooks see the heads before the positions (TransformerLens's layout).
  if (ends_with(hook_name, "attn.q_norm.hook_scale") || ends_with(hook_name, "attn.k_norm.hook_scale"))
    return "batch head_index pos 1";
  for (const char* h : {"attn.q_norm.hook_normalized", "attn.k_norm.hook_normalized",
                        "attn.hook_q_normed", "attn.hook_k_normed"}) {
    if (ends_with(hook_name, h)) return "batch head_index pos d_head";
  }
  if (ends_with(hook_name, ".hook_scale")) return "batch pos 1";
  if (ends_with(hook_name, "attn.hook_attn_scores") || ends_with(hook_name, "attn.hook_pattern")) {
    return "batch head_index query_pos key_pos";
  }
  if (ends_with(hook_name, "attn.hook_result") || ends_with(hook_name, "hook_attn_in") ||
      ends_with(hook_name, "hook_q_input") || ends_with(hook_name, "hook_k_input") ||
      ends_with(hook_name, "hook_v_input")) {
    return "batch pos head_index d_model";
  }
  for (const char* h : {"attn.hook_q", "attn.hook_k", "attn.hook_v", "attn.hook_z",
                        "attn.hook_rot_q", "attn.hook_rot_k"}) {
    if (ends_with(hook_name, h)) return "batch pos head_index d_head";
  }
  for (const char* h : {"mlp.hook_pre", "mlp.hook_pre_linear", "mlp.hook_post"}) {
    if (ends_with(hook_name, h)) return "batch pos d_mlp";
  }
  for (const char* h : {"hook_embed", "hook_pos_embed", "hook_resid_pre", "hook_resid_mid",
                        "hook_resid_post", "hook_attn_out", "hook_mlp_out", "hook_mlp_in",
                        ".hook_normalized"}) {
    if (ends_with(hook_name, h)) return "batch pos d_model";
  }
  throw input_error("hook name", "unknown hook point", "'" + hook_name + "'",
                    "a TransformerLens hook name such as blocks.0.attn.hook_z");
}

}  // namespace csweep::model
