#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>

#include "core/error.hpp"
#include "core/paths.hpp"

namespace csweep {
namespace {

TEST(DataPath, FindsRepoDataRelativeToTheExecutable) {
  ::unsetenv("CSWEEP_DATA_DIR");
  // Test binaries live in <repo>/<build>/tests/, so <exe_dir>/../../data is the repo's data/.
  const std::string p = data_path("tokenizers/gpt2");
  EXPECT_EQ(p, std::string(CSWEEP_SOURCE_DIR) + "/data/tokenizers/gpt2");
}

TEST(DataPath, EnvironmentVariableComesFirst) {
  const std::string fixtures = CSWEEP_FIXTURES_DIR;
  ::setenv("CSWEEP_DATA_DIR", fixtures.c_str(), 1);
  EXPECT_EQ(data_path("gpt2_bpe_vectors.jsonl"), fixtures + "/gpt2_bpe_vectors.jsonl");
  ::unsetenv("CSWEEP_DATA_DIR");
}

TEST(DataPath, MissingFileListsThePlacesTried) {
  ::setenv("CSWEEP_DATA_DIR", "/nonexistent-data-dir", 1);
  try {
    data_path("tokenizers/none");
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("/nonexistent-data-dir/tokenizers/none"), std::string::npos) << msg;
    EXPECT_NE(msg.find("/../data/tokenizers/none"), std::string::npos) << msg;
    EXPECT_NE(msg.find("CSWEEP_DATA_DIR"), std::string::npos) << msg;
  }
  ::unsetenv("CSWEEP_DATA_DIR");
}

}  // namespace
}  // namespace csweep
