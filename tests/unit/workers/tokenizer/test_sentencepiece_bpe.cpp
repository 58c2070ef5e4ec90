// SentencePiece BPE (Tokenizer::from_sentencepiece) against Hugging Face transformers: a
// 1,608-token excerpt of Gemma 3's GGUF vocabulary in file order, written as a GGUF of its own and
// tokenised by transformers' GGUF tokenizer (tests/fixtures/tokenizers/sentencepiece_tiny.json,
// from tests/reference/generate_gemma3_reference.py --only tiny). The whole vocabulary is checked
// by the realmodel test tests/gemma3.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "workers/tokenizer/tokenizer.hpp"

namespace csweep::tok {
namespace {

using nlohmann::json;

const std::string kFixture =
    std::string(CSWEEP_FIXTURES_DIR) + "/tokenizers/sentencepiece_tiny.json";

const json& fixture() {
  static const json j = [] {
    std::ifstream in(kFixture);
    EXPECT_TRUE(in) << "cannot open " << kFixture;
    return json::parse(in);
  }();
  return j;
}

Tokenizer tiny() {
  const json& j = fixture();
  return Tokenizer::from_sentencepiece(j.at("tokens").get<std::vector<std::string>>(),
                                       j.at("token_types").get<std::vector<int>>(), kFixture,
                                       j.at("bos").get<int>(), j.at("eos").get<int>());
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "<no InputError thrown>";
}

TEST(SentencePieceBpe, ReproducesHfIds) {
  const Tokenizer tok = tiny();
  const json& vectors = fixture().at("vectors");
  ASSERT_GT(vectors.size(), 300u);
  for (const auto& v : vectors) {
    const std::string text = v.at("text").get<std::string>();
    EXPECT_EQ(tok.encode(text), v.at("ids").get<std::vector<int>>()) << json(text).dump();
  }
}

TEST(SentencePieceBpe, DecodesHfIdsBackToTheText) {
  const Tokenizer tok = tiny();
  for (const auto& v : fixture().at("vectors")) {
    const std::string text = v.at("text").get<std::string>();
    if (text.find("\xE2\x96\x81") != std::string::npos) continue;  // '▁' itself decodes to ' '
    EXPECT_EQ(tok.decode(v.at("ids").get<std::vector<int>>()), text) << json(text).dump();
  }
}

TEST(SentencePieceBpe, RolesAndSpecials) {
  const Tokenizer tok = tiny();
  const json& j = fixture();
  EXPECT_EQ(tok.vocab_size(), static_cast<int>(j.at("tokens").size()));
  EXPECT_EQ(tok.bos_id(), j.at("bos").get<int>());
  EXPECT_EQ(tok.special_id("<bos>"), j.at("bos").get<int>());  // control tokens are the specials
  EXPECT_FALSE(tok.special_id("\n"));                           // user-defined ones are not
  EXPECT_EQ(tok.pre_tokenizer(), PreTokenizer::kSentencePiece);
  EXPECT_NE(error_of([&] { tok.decode_token(tok.vocab_size()); }).find(kFixture),
            std::string::npos);
}

TEST(SentencePieceBpe, MalformedTables) {
  const json& j = fixture();
  auto tokens = j.at("tokens").get<std::vector<std::string>>();
  auto types = j.at("token_types").get<std::vector<int>>();
  std::string msg = error_of([&] {
    Tokenizer::from_sentencepiece(tokens, std::vector<int>(types.begin(), types.end() - 1), "t.gguf",
                                  std::nullopt, std::nullopt);
  });
  EXPECT_NE(msg.find("t.gguf"), std::string::npos) << msg;
  EXPECT_NE(msg.find("token_type"), std::string::npos) << msg;
  for (auto& t : tokens)
    if (t == "<0x41>") t = "<0x41>x";
  msg = error_of([&] {
    Tokenizer::from_sentencepiece(tokens, types, "t.gguf", std::nullopt, std::nullopt);
  });
  EXPECT_NE(msg.find("<0x41>"), std::string::npos) << msg;
  EXPECT_NE(msg.find("t.gguf"), std::string::npos) << msg;
}

}  // namespace
}  // namespace csweep::tok
