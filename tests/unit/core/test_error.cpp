#include <gtest/gtest.h>

#include "core/error.hpp"
#include "core/files.hpp"

namespace csweep {

TEST(InputError, NamesWhereWhatGotAndExpected) {
  const auto e = input_error("model/config.json", "field n_head", "0", "a positive integer");
  EXPECT_STREQ(e.what(), "model/config.json: field n_head (got 0, expected a positive integer)");
}

TEST(Sha256, MatchesFipsTestVector) {
  // FIPS 180-2 example "abc" (same digest as coreutils sha256sum).
  EXPECT_EQ(sha256_bytes("abc", 3),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(ReadFile, MissingFileNamesThePath) {
  try {
    read_file_bytes("/nonexistent/xyz.bin");
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/xyz.bin"), std::string::npos);
  }
}

}  // namespace csweep
