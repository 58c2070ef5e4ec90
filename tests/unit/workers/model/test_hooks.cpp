// Hook names against the lists TransformerLens wrote (tests/fixtures/reference/<name>.hooks.txt).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "core/error.hpp"
#include "reference_fixture.hpp"
#include "workers/model/hooks.hpp"
#include "workers/model/weights.hpp"

namespace csweep::model {
namespace {

using testing::fixture_model;
using testing::fixture_reference;
using testing::load_reference;
using testing::read_lines;

// TransformerLens 4's hook_dict also lists TransformerBridge-internal aliases of the same
// activations (a submodule's hook_in/hook_out, attn.q.hook_out, hook_unembed = logits, the
// rotary cos/sin tables, attn.hook_hidden_states) and the split-input hooks (hook_attn_in,
// hook_q_input, ...) that this model does not provide. Everything else it lists, if it fired,
// must be ours, in the same order.
bool is_bridge_only(const std::string& n) {
  for (const char* suffix : {".hook_in", ".hook_out", "hook_hidden_states", "hook_cos", "hook_sin",
                             "hook_attn_in", "hook_q_input", "hook_k_input", "hook_v_input"}) {
    const std::string s(suffix);
    if (n.size() >= s.size() && n.compare(n.size() - s.size(), s.size(), s) == 0) return true;
  }
  return n == "hook_unembed";
}

class HookListTest : public ::testing::TestWithParam<const char*> {};

TEST_P(HookListTest, EqualsTransformerLensHookDictOrder) {
  const std::string name = GetParam();
  const auto cfg = load_model(fixture_model(name)).cfg;
  const auto ref = load_reference(name);
  std::vector<std::string> expected;
  for (const auto& n : read_lines(fixture_reference(name, ".hooks.txt"))) {
    if (!is_bridge_only(n) && ref.has("hook." + n)) expected.push_back(n);
  }
  EXPECT_EQ(hook_names(cfg), expected);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, HookListTest,
                         ::testing::Values("gpt2_tiny", "gpt2_untied", "llama_gqa", "llama_l3",
                                           "qwen2_tiny", "neox_tiny", "gemma3_tiny",
                                           "gemma2_tiny"));

TEST(Hooks, ActNameMatchesTransformerLens) {
  EXPECT_EQ(act_name("z", 3), "blocks.3.attn.hook_z");
  EXPECT_EQ(act_name("resid_pre", 0), "blocks.0.hook_resid_pre");
  EXPECT_EQ(act_name("mlp_out", 11), "blocks.11.hook_mlp_out");
  EXPECT_EQ(act_name("pattern", 2), "blocks.2.attn.hook_pattern");
  EXPECT_EQ(act_name("scale2", 1), "blocks.1.ln2.hook_scale");
  EXPECT_EQ(act_name("normalized1", 1), "blocks.1.ln1.hook_normalized");
  EXPECT_EQ(act_name("pre_linear", 4), "blocks.4.mlp.hook_pre_linear");
  EXPECT_EQ(act_name("rot_k", 0), "blocks.0.attn.hook_rot_k");
  EXPECT_THROW(act_name("zz", 0), InputError);
  EXPECT_THROW(act_name("z", -1), InputError);
}

TEST(Hooks, GlobMatch) {
  EXPECT_TRUE(glob_match("blocks.*.attn.hook_z", "blocks.10.attn.hook_z"));
  EXPECT_FALSE(glob_match("blocks.*.attn.hook_z", "blocks.10.attn.hook_zz"));
  EXPECT_TRUE(glob_match("*", "hook_embed"));
  EXPECT_TRUE(glob_match("blocks.?.hook_resid_*", "blocks.3.hook_resid_mid"));
  EXPECT_FALSE(glob_match("blocks.?.hook_resid_*", "blocks.13.hook_resid_mid"));
  EXPECT_TRUE(glob_match("*hook_z", "blocks.1.attn.hook_z"));
  EXPECT_TRUE(glob_match("**a*", "a"));
  EXPECT_FALSE(glob_match("", "a"));
  EXPECT_TRUE(glob_match("", ""));
}

// The dims label every axis of the TransformerLens activation (shapes from the fixtures).
TEST(Hooks, DimsHaveOneLabelPerAxis) {
  for (const char* name : {"gpt2_tiny", "llama_gqa"}) {
    const auto cfg = load_model(fixture_model(name)).cfg;
    const auto ref = load_reference(name);
    for (const auto& n : hook_names(cfg)) {
      const auto dims = hook_dims(n);
      const auto& t = ref.at("hook." + n);
      const auto n_labels = 1 + std::count(dims.begin(), dims.end(), ' ');
      EXPECT_EQ(n_labels, t.dim()) << n << ": " << dims;
    }
  }
  EXPECT_EQ(hook_dims("blocks.0.attn.hook_z"), "batch pos head_index d_head");
  EXPECT_EQ(hook_dims("blocks.0.attn.hook_pattern"), "batch head_index query_pos key_pos");
  EXPECT_EQ(hook_dims("blocks.0.mlp.hook_post"), "batch pos d_mlp");
  EXPECT_EQ(hook_dims("ln_final.hook_normalized"), "batch pos d_model");
  EXPECT_THROW(hook_dims("blocks.0.attn.nothing"), InputError);
}

}  // namespace
}  // namespace csweep::model
