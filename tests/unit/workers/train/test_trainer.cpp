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

bool has_staging_sibling(const std::filesystem::path& out) {
  for (const auto& e : std::filesystem::directory_iterator(out.parent_path()))
    if (e.path().filename().string().rfind(out.filename().string() + ".", 0) == 0) return true;
  return false;
}

TEST(Trainer, ReplacesAnExistingFolderOnlyAfterSuccess) {
  namespace fs = std::filesystem;
  const fs::path root = fs::path(::testing::TempDir()) / "train_replace";
  fs::remove_all(root);
  const fs::path out = root / "model";
  fs::create_directories(out);
  csweep::write_file_atomic((out / "stale.txt").string(), "from an older run\n");
  csweep::write_file_atomic((out / "model.safetensors").string(), "old weights");

  // A run that fails mid-way (prompts longer than the context) leaves the old folder untouched
  // and no staging folder behind.
  auto failing = tiny(out.string() + "/");
  failing.n_ctx = 8;
  EXPECT_ANY_THROW(csweep::train::train_default_model(failing, "test"));
  EXPECT_EQ(csweep::read_file_text((out / "model.safetensors").string()), "old weights");
  EXPECT_TRUE(fs::exists(out / "stale.txt"));
  EXPECT_FALSE(has_staging_sibling(out));

  // A successful run replaces the folder whole: new files only, nothing of the old one.
  csweep::train::train_default_model(tiny(out.string()), "test");
  EXPECT_FALSE(fs::exists(out / "stale.txt"));
  for (const char* f : {"model.safetensors", "vocab.json", "merges.txt", "config.json", "README.md"})
    EXPECT_TRUE(fs::exists(out / f)) << f;
  EXPECT_NE(csweep::read_file_text((out / "model.safetensors").string()), "old weights");
  EXPECT_FALSE(has_staging_sibling(out));
  fs::remove_all(root);
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
