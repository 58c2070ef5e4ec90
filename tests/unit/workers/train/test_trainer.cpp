// The trainer is deterministic: the same options write the same weights and tokenizer files.
// (The quality of the committed default model is checked in test_default_model.cpp.)
#include <gtest/gtest.h>

#include <filesystem>

#include "core/files.hpp"
#include "workers/tokenizer/tokenizer.hpp"
#include "workers/tasks/task.hpp"
#include "workers/train/trainer.hpp"

namespace {

csweep::train::TrainOptions tiny(const std::string& out) {
  csweep::train::TrainOptions o;
  o.out_dir = out;
  o.n_layers = 1;
  o.n_heads = 2;
  o.d_model = 16;
  o.d_mlp = 32;
  o.steps = 3;
  o.batch = 16;
  o.eval_prompts = 8;
  return o;
}

TEST(Trainer, SameOptionsSameFiles) {
  const std::string a = ::testing::TempDir() + "train_a", b = ::testing::TempDir() + "train_b";
  const auto ra = csweep::train::train_default_model(tiny(a), "test");
  const auto rb = csweep::train::train_default_model(tiny(b), "test");
  for (const char* f : {"model.safetensors", "vocab.json", "merges.txt", "config.json"}) {
    EXPECT_EQ(csweep::sha256_file(a + "/" + f), csweep::sha256_file(b + "/" + f)) << f;
  }
  EXPECT_EQ(ra.final_loss, rb.final_loss);
  EXPECT_EQ(ra.eval.size(), 8u);  // 4 kinds x 2 directions
  auto other = tiny(::testing::TempDir() + "train_c");
  other.seed = 99;
  const auto rc = csweep::train::train_default_model(other, "test");
  EXPECT_NE(csweep::sha256_file(a + "/model.safetensors"),
            csweep::sha256_file(other.out_dir + "/model.safetensors"));
  (void)rc;
}

TEST(Trainer, TokenizerMakesEveryTaskWordOneToken) {
  const std::string dir = ::testing::TempDir() + "train_a";
  if (!std::filesystem::exists(dir + "/vocab.json")) csweep::train::train_default_model(tiny(dir), "test");
  const auto tok = csweep::tok::Tokenizer::load(dir);
  for (const std::string kind : {"digits", "numwords", "months", "days"}) {
    for (const auto& m : csweep::tasks::sequence_members(kind)) {
      EXPECT_TRUE(tok.single_token_id(" " + m)) << m;
    }
  }
  for (const std::string list : {"objects", "names"}) {
    for (const auto& w : csweep::tasks::word_list(list)) {
      EXPECT_TRUE(tok.single_token_id(w)) << w;
      EXPECT_TRUE(tok.single_token_id(" " + w)) << w;
    }
  }
  for (const std::string w : {" done", " lost", " born", " in", "."}) EXPECT_TRUE(tok.single_token_id(w)) << w;
}

}  // namespace
