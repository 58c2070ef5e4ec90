// BPE training: every training word becomes one token for the project's tokenizer, and the
// files load as GPT-2-layout vocab.json + merges.txt.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "workers/tokenizer/tokenizer.hpp"
#include "workers/train/bpe.hpp"

namespace {

TEST(TrainBpe, EveryWordBecomesOneToken) {
  const std::map<std::string, long> words = {{" January", 1}, {" June", 3}, {" July", 2},  {"apple", 1},
                                             {" apple", 1},   {" 12", 1},   {" 1", 1},     {".", 5},
                                             {" in", 4},      {" done", 2}, {"ÿé", 1},     {"\n", 1}};
  const auto v = csweep::train::train_bpe(words, {"<|endoftext|>"});
  EXPECT_EQ(v.id_to_token.size(), 256 + v.merges.size() + 1);
  EXPECT_EQ(v.id_to_token[0], "!");  // GPT-2's byte order: printable ASCII first
  EXPECT_EQ(v.id_to_token.back(), "<|endoftext|>");
  const std::string dir = ::testing::TempDir() + "bpe_words";
  std::filesystem::create_directories(dir);
  csweep::train::write_bpe(v, dir);
  const auto tok = csweep::tok::Tokenizer::load(dir);
  EXPECT_EQ(tok.vocab_size(), static_cast<int>(v.id_to_token.size()));
  for (const auto& [w, n] : words) {
    EXPECT_TRUE(tok.single_token_id(w).has_value()) << "'" << w << "'";
  }
  // Text made of the words encodes word by word; other text falls back to bytes and round-trips.
  const auto ids = tok.encode("apple done in 12. July");
  ASSERT_EQ(ids.size(), 6u);
  EXPECT_EQ(tok.decode({ids[3]}), " 12");
  EXPECT_EQ(tok.decode(tok.encode("zebra 99")), "zebra 99");
  ASSERT_TRUE(tok.eos_id().has_value());
  EXPECT_EQ(*tok.eos_id(), static_cast<int>(v.id_to_token.size()) - 1);
}

TEST(TrainBpe, DeterministicAndByteLevelForm) {
  const std::map<std::string, long> words = {{" one", 1}, {" two", 1}, {" twelve", 1}};
  const auto a = csweep::train::train_bpe(words, {});
  const auto b = csweep::train::train_bpe(words, {});
  EXPECT_EQ(a.merges, b.merges);
  EXPECT_EQ(a.id_to_token, b.id_to_token);
  EXPECT_EQ(csweep::train::byte_level_text(" one"), "\xC4\xA0one");  // "Ġone"
  EXPECT_EQ(csweep::train::byte_level_text("\n"), "\xC4\x8A");       // "Ċ"
  // ("Ġ", "t") and ("t", "w") both occur twice; ties go to the byte-wise smaller pair, and "t"
  // (0x74) sorts before "Ġ" (0xC4 0xA0).
  ASSERT_FALSE(a.merges.empty());
  EXPECT_EQ(a.merges[0].first + a.merges[0].second, std::string("t") + "w");
}

}  // namespace
