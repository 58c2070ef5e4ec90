// The training forward equals HookedTransformer on the same checkpoint written by
// write_safetensors and read back by the project's HF reader, and the committed default model
// equals Hugging Face transformers' GPT2LMHeadModel on fixture prompts
// (tests/fixtures/default_model_logits.json, written by tests/reference/default_model_logits.py).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/files.hpp"
#include "workers/model/transformer.hpp"
#include "workers/model/weights.hpp"
#include "workers/tokenizer/tokenizer.hpp"
#include "workers/train/bpe.hpp"
#include "workers/train/gpt2_train.hpp"

namespace {

using csweep::train::Gpt2Shape;

void write_config(const std::string& dir, const Gpt2Shape& s) {
  const nlohmann::json config = {{"model_type", "gpt2"}, {"vocab_size", s.d_vocab}, {"n_positions", s.n_ctx},
                                 {"n_embd", s.d_model},  {"n_layer", s.n_layers},   {"n_head", s.n_heads},
                                 {"n_inner", s.d_mlp},   {"activation_function", "gelu_new"},
                                 {"layer_norm_epsilon", s.eps}, {"tie_word_embeddings", true}};
  std::ofstream(dir + "/config.json") << config.dump(2);
}

TEST(Gpt2Train, ForwardEqualsHookedTransformerOnTheWrittenCheckpoint) {
  Gpt2Shape s;
  s.n_layers = 2;
  s.n_heads = 4;
  s.d_model = 32;
  s.d_mlp = 64;
  s.n_ctx = 16;
  s.d_vocab = 300;
  torch::manual_seed(3);
  auto params = csweep::train::init_gpt2_params(s);
  {
    // Non-trivial norms and biases so every parameter matters.
    torch::NoGradGuard g;
    for (auto& [name, t] : params) t.add_(torch::randn(t.sizes()) * 0.1);
  }
  const std::string dir = ::testing::TempDir() + "gpt2_train_ckpt";
  std::filesystem::create_directories(dir);
  csweep::train::write_safetensors(dir + "/model.safetensors", params);
  write_config(dir, s);

  const auto loaded = csweep::model::load_model(dir);
  EXPECT_EQ(loaded.cfg.n_layers, 2);
  EXPECT_EQ(loaded.cfg.d_head, 8);
  const csweep::model::HookedTransformer model(loaded);
  const auto tokens = torch::randint(0, s.d_vocab, {3, 11}, torch::kLong);
  const auto expected = model.forward(tokens);
  torch::NoGradGuard g;
  const auto got = csweep::train::gpt2_logits(params, s, tokens);
  EXPECT_TRUE(torch::allclose(got, expected, 1e-5, 1e-5)) << (got - expected).abs().max().item<float>();
}

TEST(Gpt2Train, GradientsReachEveryParameter) {
  Gpt2Shape s;
  s.n_layers = 1;
  s.n_heads = 2;
  s.d_model = 16;
  s.d_mlp = 32;
  s.n_ctx = 8;
  s.d_vocab = 50;
  torch::manual_seed(4);
  auto params = csweep::train::init_gpt2_params(s);
  const auto tokens = torch::randint(0, s.d_vocab, {2, 8}, torch::kLong);
  csweep::train::gpt2_logits(params, s, tokens).logsumexp(-1).sum().backward();
  for (const auto& [name, t] : params) {
    ASSERT_TRUE(t.grad().defined()) << name;
    EXPECT_GT(t.grad().abs().sum().item<float>(), 0) << name;
  }
}

// Default model vs Hugging Face transformers (fixture from tests/reference/default_model_logits.py).
TEST(DefaultModel, LogitsEqualHuggingFace) {
  const std::string fixture = std::string(CSWEEP_FIXTURES_DIR) + "/default_model_logits.json";
  ASSERT_TRUE(std::filesystem::exists(fixture)) << "missing committed fixture " << fixture;
  const auto j = nlohmann::json::parse(csweep::read_file_text(fixture));
  const std::string dir = std::string(CSWEEP_SOURCE_DIR) + "/models/default";
  const auto loaded = csweep::model::load_model(dir);
  const csweep::model::HookedTransformer model(loaded);
  const auto tok = csweep::tok::Tokenizer::load(dir);
  for (const auto& row : j.at("prompts")) {
    const auto ids = row.at("ids").get<std::vector<int64_t>>();
    std::vector<int> expected_ids(ids.begin(), ids.end());
    std::vector<int> ours = {*tok.bos_id()};
    for (int id : tok.encode(row.at("text").get<std::string>())) ours.push_back(id);
    EXPECT_EQ(ours, expected_ids) << row.at("text");
    const auto last = row.at("last_logits").get<std::vector<float>>();
    const auto tokens = torch::tensor(ids).view({1, -1});
    const auto got = model.forward(tokens)[0][-1];
    const auto want = torch::tensor(last);
    EXPECT_TRUE(torch::allclose(got, want, 1e-4, 1e-4)) << row.at("text") << " max diff "
                                                        << (got - want).abs().max().item<float>();
  }
}

}  // namespace
