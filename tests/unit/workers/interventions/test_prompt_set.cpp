// PromptSet from task datasets (the default model's tokenizer, a digits dataset and its randAll
// corruption): tokens, answers, groups and named positions carried over field by field, and
// position selections resolved per prompt.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "workers/interventions/prompt_set.hpp"
#include "workers/tasks/task.hpp"
#include "workers/tokenizer/tokenizer.hpp"

namespace csweep::interv {
namespace {

const std::string kModelDir = std::string(CSWEEP_SOURCE_DIR) + "/models/default";

TEST(PromptSet, FromDigitsDatasets) {
  if (!std::filesystem::exists(kModelDir + "/vocab.json")) GTEST_SKIP() << "no " << kModelDir;
  const auto tok = tok::Tokenizer::load(kModelDir);
  const auto clean = tasks::make_dataset("digits", {{"n_prompts", 12}}, tok, 3);
  const auto corrupt = tasks::corrupt(clean, "randAll", 4, tok);
  const auto set = PromptSet::from_datasets(clean, corrupt, 0);
  ASSERT_EQ(set.batch(), 12);
  for (int64_t b = 0; b < set.batch(); ++b) {
    const auto& p = clean.prompts[static_cast<size_t>(b)];
    const auto& c = corrupt.prompts[static_cast<size_t>(b)];
    for (size_t i = 0; i < p.tokens.size(); ++i) {
      EXPECT_EQ(set.clean_tokens[b][static_cast<int64_t>(i)].item<int64_t>(), p.tokens[i]);
      EXPECT_EQ(set.corrupted_tokens[b][static_cast<int64_t>(i)].item<int64_t>(), c.tokens[i]);
    }
    EXPECT_EQ(set.answer_pos[b].item<int64_t>(), static_cast<int64_t>(p.tokens.size()) - 1);
    EXPECT_EQ(set.correct[b].item<int64_t>(), p.correct_id);
    EXPECT_EQ(set.incorrect[b].item<int64_t>(), p.incorrect_id);
    EXPECT_EQ(set.group[b].item<int64_t>(), p.group);
    for (const auto& [name, pos] : p.positions) EXPECT_EQ(set.named_positions.at(name)[b].item<int64_t>(), pos);
  }
  EXPECT_FALSE(set.year_ids.defined());

  Positions pos;
  pos.names = {"S1"};
  pos.indices = {-1};
  const auto mask = resolve_positions(pos, set);
  for (int64_t b = 0; b < set.batch(); ++b) {
    const auto& p = clean.prompts[static_cast<size_t>(b)];
    EXPECT_EQ(mask[b].sum().item<int64_t>(), 2);
    EXPECT_TRUE(mask[b][p.positions.at("S1")].item<bool>());
    EXPECT_TRUE(mask[b][p.answer_pos()].item<bool>());
  }
  EXPECT_FALSE(resolve_positions(Positions{}, set).defined());
  Positions unknown;
  unknown.names = {"S7"};
  EXPECT_THROW(resolve_positions(unknown, set), InputError);
}

}  // namespace
}  // namespace csweep::interv
