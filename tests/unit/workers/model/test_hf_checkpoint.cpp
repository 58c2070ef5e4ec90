#include "workers/model/hf_checkpoint.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <random>

#include "core/error.hpp"
#include "core/files.hpp"
#include "tests/unit/workers/io/safetensors_writer.hpp"
#include "workers/io/safetensors.hpp"
#include "workers/model/weights.hpp"

namespace csweep::model {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path fixture_model(const std::string& name) {
  return fs::path(CSWEEP_FIXTURES_DIR) / "models" / name;
}

#define REQUIRE_FIXTURE(name)                                                          \
  do {                                                                                 \
    ASSERT_TRUE(fs::exists(fixture_model(name) / "config.json"))                      \
        << "missing committed fixture " << fixture_model(name);                        \
  } while (0)

// A scratch copy of a fixture model folder, removed at the end of the test.
class ScratchModel {
 public:
  explicit ScratchModel(const std::string& fixture) {
    static int counter = 0;
    dir_ = fs::temp_directory_path() /
           ("csweep_hf_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" + fixture);
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    for (const auto& e : fs::directory_iterator(fixture_model(fixture)))
      fs::copy_file(e.path(), dir_ / e.path().filename());
  }
  ~ScratchModel() { fs::remove_all(dir_); }
  std::string path() const { return dir_.string(); }
  fs::path file(const std::string& f) const { return dir_ / f; }

  // Rewrites a safetensors file's JSON header (data bytes untouched, so offsets stay valid).
  void edit_header(const std::string& f, const std::function<void(json&)>& edit) const {
    const std::string bytes = read_file_text(file(f).string());
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
    json h = json::parse(bytes.substr(8, n));
    edit(h);
    testing::write_binary(file(f).string(), testing::image_from_header(h.dump(), bytes.substr(8 + n)));
  }
  void edit_json(const std::string& f, const std::function<void(json&)>& edit) const {
    json j = json::parse(read_file_text(file(f).string()));
    edit(j);
    testing::write_binary(file(f).string(), j.dump(2));
  }

 private:
  fs::path dir_;
};

// Expects load_hf_model(dir) to throw InputError whose message names `file` and every needle.
void expect_load_error(const std::string& dir, const std::string& file,
                       std::initializer_list<std::string> needles) {
  try {
    load_hf_model(dir);
    ADD_FAILURE() << "no InputError";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(file), std::string::npos) << "file '" << file << "' not named in: " << msg;
    for (const auto& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "'" << n << "' not in: " << msg;
  }
}

// ---- Every fixture loads and passes check_params ----------------------------------------------

TEST(HfCheckpointFixtures, EveryFixtureModelLoads) {
  const fs::path models = fs::path(CSWEEP_FIXTURES_DIR) / "models";
  ASSERT_TRUE(fs::exists(models)) << "missing committed fixtures " << models;
  int n = 0;
  for (const auto& e : fs::directory_iterator(models)) {
    if (!fs::exists(e.path() / "config.json")) continue;
    SCOPED_TRACE(e.path().string());
    LoadedModel m;
    ASSERT_NO_THROW(m = load_hf_model(e.path().string()));
    EXPECT_NO_THROW(check_params(m.cfg, m.params, m.source));
    EXPECT_EQ(m.cfg.name, e.path().filename().string());
    EXPECT_EQ(m.source, e.path().string());
    EXPECT_GE(m.weights_sha256.size(), 64u);
    EXPECT_EQ(m.tokenizer_path, "");  // fixture folders carry no tokenizer files
    for (const auto& [name, t] : m.params) {
      EXPECT_EQ(t.scalar_type(), torch::kFloat32) << name;
      EXPECT_TRUE(t.is_contiguous()) << name;
      EXPECT_TRUE(torch::isfinite(t).all().item<bool>()) << name;
    }
    ++n;
  }
  EXPECT_GE(n, 1);
}

TEST(HfCheckpointFixtures, LoadModelDispatchesOnFolders) {
  REQUIRE_FIXTURE("gpt2_tiny");
  const auto m = load_model(fixture_model("gpt2_tiny").string());
  EXPECT_EQ(m.cfg.family, Family::kGPT2);
  EXPECT_EQ(m.params.size(), canonical_params(m.cfg).size() - 1);  // all but the optional b_U
}

// Every parameter of `b` equals the one of `a`, after rounding `a` to `narrow` when given (the
// half-precision fixtures hold exactly wide.to(narrow); torch's rounding is the reference).
void expect_same_params(const LoadedModel& a, const LoadedModel& b,
                        c10::optional<torch::ScalarType> narrow = c10::nullopt) {
  ASSERT_EQ(a.params.size(), b.params.size());
  for (const auto& [name, t] : a.params) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(b.params.count(name));
    const auto& u = b.params.at(name);
    ASSERT_EQ(t.sizes(), u.sizes());
    const torch::Tensor want = narrow ? t.to(*narrow).to(torch::kFloat32) : t;
    EXPECT_TRUE(torch::equal(want, u)) << "max abs diff " << (want - u).abs().max().item<double>();
  }
}

TEST(HfCheckpointFixtures, HubAndShardedLayoutsAreBitExact) {
  REQUIRE_FIXTURE("gpt2_tiny");
  const auto base = load_hf_model(fixture_model("gpt2_tiny").string());
  for (const char* v : {"gpt2_tiny_hub", "gpt2_tiny_sharded"}) {
    if (!fs::exists(fixture_model(v))) continue;
    SCOPED_TRACE(v);
    const auto m = load_hf_model(fixture_model(v).string());
    expect_same_params(base, m);
    EXPECT_EQ(m.cfg.n_params_total(), base.cfg.n_params_total());
  }
  if (fs::exists(fixture_model("gpt2_tiny_sharded"))) {
    const auto m = load_hf_model(fixture_model("gpt2_tiny_sharded").string());
    EXPECT_NE(m.weights_sha256.find(','), std::string::npos);  // one hash per shard
  }
}

TEST(HfCheckpointFixtures, HalfPrecisionVariantsEqualRoundedWeights) {
  struct Case { const char* narrow; const char* wide; const char* dtype; torch::ScalarType type; };
  for (const Case c : {Case{"gpt2_tiny_f16", "gpt2_tiny", "F16", torch::kFloat16},
                       Case{"llama_gqa_bf16", "llama_gqa", "BF16", torch::kBFloat16}}) {
    if (!fs::exists(fixture_model(c.narrow)) || !fs::exists(fixture_model(c.wide))) continue;
    SCOPED_TRACE(c.narrow);
    const auto st = io::SafetensorsFile::open((fixture_model(c.narrow) / "model.safetensors").string());
    ASSERT_FALSE(st.tensors().empty());
    EXPECT_STREQ(io::to_string(st.tensors()[0].dtype), c.dtype);
    expect_same_params(load_hf_model(fixture_model(c.wide).string()),
                       load_hf_model(fixture_model(c.narrow).string()), c.type);
  }
}

// ---- Layouts agree with TransformerLens ------------------------------------------------------
// The reference file holds TransformerLens activations; each check recomputes one activation
// from its recorded input and our loaded parameters, so a transposed, mis-split or mis-ordered
// parameter shows up as a mismatch.

torch::Tensor ref_tensor(const io::SafetensorsFile& f, const std::string& name) {
  const io::TensorView* v = f.find(name);
  if (!v) return {};
  if (v->dtype == io::DType::kI64) {
    auto t = torch::empty(v->shape, torch::kInt64);
    std::memcpy(t.data_ptr(), v->data, v->nbytes);
    return t;
  }
  auto t = torch::empty(v->shape, torch::kFloat32);
  io::decode_f32(*v, t.data_ptr<float>(), f.source());
  return t;
}

// Returns false (checks nothing) when the reference does not hold `want`: the half-precision
// fixtures store only a subset of the hooks.
bool expect_close(const torch::Tensor& got, const torch::Tensor& want, const std::string& what) {
  if (!want.defined()) return false;
  EXPECT_EQ(got.sizes(), want.sizes()) << what;
  if (got.sizes() != want.sizes()) return true;
  const double scale = want.abs().max().item<double>() + 1.0;
  const double err = (got - want).abs().max().item<double>();
  EXPECT_LE(err, 2e-5 * scale) << what << ": max abs error " << err << " (scale " << scale << ")";
  return true;
}

torch::Tensor opt(const LoadedModel& m, const std::string& name) {
  auto it = m.params.find(name);
  return it == m.params.end() ? torch::Tensor() : it->second;
}

torch::Tensor add_bias(torch::Tensor x, const torch::Tensor& b) { return b.defined() ? x + b : x; }

TEST(HfCheckpointFixtures, ParametersReproduceTransformerLensActivations) {
  int checked = 0;
  for (const char* name : {"gpt2_tiny", "gpt2_untied", "gpt2_tiny_f16", "llama_gqa", "llama_l3",
                           "llama_gqa_bf16", "qwen2_tiny", "neox_tiny", "gemma3_tiny", "gemma2_tiny"}) {
    const fs::path ref_path = fs::path(CSWEEP_FIXTURES_DIR) / "reference" / (std::string(name) + ".safetensors");
    if (!fs::exists(ref_path) || !fs::exists(fixture_model(name))) continue;
    SCOPED_TRACE(name);
    const auto m = load_hf_model(fixture_model(name).string());
    const auto ref = io::SafetensorsFile::open(ref_path.string());
    const auto P = [&](const std::string& p) { return m.params.at(p); };

    // Recomputes reference tensor `want` from reference tensors `inputs` with `fn`; counts the
    // checks actually made (the half-precision fixtures hold a subset of the hooks).
    int n_checks = 0;
    auto check = [&](const std::string& want, std::vector<std::string> inputs,
                     const std::function<torch::Tensor(const std::vector<torch::Tensor>&)>& fn) {
      std::vector<torch::Tensor> in;
      for (const auto& i : inputs) {
        in.push_back(ref_tensor(ref, i));
        if (!in.back().defined()) return;
      }
      if (expect_close(fn(in), ref_tensor(ref, want), want)) ++n_checks;
    };
    const std::int64_t n_pos = ref_tensor(ref, "tokens").size(1);
    // Gemma scales the embeddings by sqrt(d_model) (in float32 here).
    const double embed_scale = m.cfg.scale_embed ? std::sqrt(static_cast<double>(m.cfg.d_model)) : 1.0;
    check("hook.hook_embed", {"tokens"},
          [&](auto& in) { return P("embed.W_E").index({in[0]}) * embed_scale; });
    if (m.cfg.positional == PosKind::kLearned)
      check("hook.hook_pos_embed", {"tokens"}, [&](auto& in) {
        return P("pos_embed.W_pos").slice(0, 0, n_pos).unsqueeze(0).expand({in[0].size(0), -1, -1});
      });
    for (int l = 0; l < m.cfg.n_layers; ++l) {
      const std::string b = "blocks." + std::to_string(l) + ".";
      const std::string hb = "hook." + b;
      for (const char* qkv : {"Q", "K", "V"}) {
        const std::string lower = std::string(1, static_cast<char>(std::tolower(qkv[0])));
        check(hb + "attn.hook_" + lower, {hb + "ln1.hook_out"}, [&](auto& in) {
          return add_bias(torch::einsum("bpd,hde->bphe", {in[0], P(b + "attn.W_" + qkv)}),
                          opt(m, b + "attn.b_" + qkv));
        });
      }
      // Gemma's norm weights: the canonical weight is the multiplier, HF's 1 + w.
      if (m.cfg.post_norms) {
        for (const char* ln : {"ln1", "ln1_post", "ln2", "ln2_post"}) {
          check(hb + ln + ".hook_out", {hb + ln + ".hook_normalized"},
                [&](auto& in) { return in[0] * P(b + ln + ".w"); });
        }
      }
      if (m.cfg.qk_norm) {  // [batch, head, pos, d_head]
        check(hb + "attn.hook_q_normed", {hb + "attn.q_norm.hook_normalized"},
              [&](auto& in) { return in[0] * P(b + "attn.q_norm.w"); });
        check(hb + "attn.hook_k_normed", {hb + "attn.k_norm.hook_normalized"},
              [&](auto& in) { return in[0] * P(b + "attn.k_norm.w"); });
      }
      // With post-norms, the output projection's result is ln1_post's input (hook_attn_out is
      // after ln1_post); likewise for the MLP and ln2_post.
      check(hb + (m.cfg.post_norms ? "ln1_post.hook_in" : "hook_attn_out"), {hb + "attn.hook_z"}, [&](auto& in) {
        return add_bias(torch::einsum("bphe,hed->bpd", {in[0], P(b + "attn.W_O")}), opt(m, b + "attn.b_O"));
      });
      if (m.cfg.gated_mlp) {
        check(hb + "mlp.hook_pre", {hb + "ln2.hook_out"},
              [&](auto& in) { return torch::matmul(in[0], P(b + "mlp.W_gate")); });
        check(hb + "mlp.hook_pre_linear", {hb + "ln2.hook_out"},
              [&](auto& in) { return torch::matmul(in[0], P(b + "mlp.W_in")); });
      } else {
        check(hb + "mlp.hook_pre", {hb + "ln2.hook_out"}, [&](auto& in) {
          return add_bias(torch::matmul(in[0], P(b + "mlp.W_in")), opt(m, b + "mlp.b_in"));
        });
      }
      check(hb + (m.cfg.post_norms ? "ln2_post.hook_in" : "hook_mlp_out"), {hb + "mlp.hook_post"}, [&](auto& in) {
        return add_bias(torch::matmul(in[0], P(b + "mlp.W_out")), opt(m, b + "mlp.b_out"));
      });
    }
    // HF transformers' logits from the final normalised residual and our unembedding.
    check("logits", {"hook.ln_final.hook_out"}, [&](auto& in) {
      auto logits = add_bias(torch::matmul(in[0], P("unembed.W_U")), opt(m, "unembed.b_U"));
      const double cap = m.cfg.final_softcap;  // Gemma 2
      return cap > 0.0 ? torch::tanh(logits / cap) * cap : logits;
    });
    EXPECT_GT(n_checks, 0);
    std::printf("[ info     ] %s: %d activations reproduced\n", name, n_checks);
    ++checked;
  }
  ASSERT_GT(checked, 0) << "no reference fixtures found";
}

// ---- Malformed input: every case is an InputError naming the offending file -------------------

TEST(HfCheckpointMalformed, TruncatedWeights) {
  REQUIRE_FIXTURE("gpt2_tiny");
  ScratchModel s("gpt2_tiny");
  const auto f = s.file("model.safetensors");
  fs::resize_file(f, fs::file_size(f) / 2);
  expect_load_error(s.path(), f.string(), {"out of range"});
}

TEST(HfCheckpointMalformed, BadHeaderLength) {
  REQUIRE_FIXTURE("gpt2_tiny");
  ScratchModel s("gpt2_tiny");
  std::string bytes = read_file_text(s.file("model.safetensors").string());
  bytes.replace(0, 8, std::string("\x00\x00\x00\x00\x01\x00\x00\x00", 8));  // 2^32
  testing::write_binary(s.file("model.safetensors").string(), bytes);
  expect_load_error(s.path(), s.file("model.safetensors").string(), {"header length"});
}

TEST(HfCheckpointMalformed, OverlappingOffsets) {
  REQUIRE_FIXTURE("gpt2_tiny");
  ScratchModel s("gpt2_tiny");
  s.edit_header("model.safetensors", [](json& h) {
    // Make ln_f.weight start 4 bytes into ln_f.bias's range (same size, so still in range).
    const auto off = h["transformer.ln_f.bias"]["data_offsets"];
    const std::uint64_t begin = off[0].get<std::uint64_t>() + 4;
    h["transformer.ln_f.weight"]["data_offsets"] = {begin, begin + 64 * 4};
  });
  expect_load_error(s.path(), s.file("model.safetensors").string(), {"overlapping"});
}

TEST(HfCheckpointMalformed, OutOfRangeOffsets) {
  REQUIRE_FIXTURE("gpt2_tiny");
  ScratchModel s("gpt2_tiny");
  s.edit_header("model.safetensors", [](json& h) {
    h["transformer.ln_f.bias"]["data_offsets"] = {std::uint64_t{1} << 40, (std::uint64_t{1} << 40) + 256};
  });
  expect_load_error(s.path(), s.file("model.safetensors").string(),
                    {"transformer.ln_f.bias", "out of range"});
}

TEST(HfCheckpointMalformed, WrongDtype) {
  REQUIRE_FIXTURE("gpt2_tiny");
  ScratchModel s("gpt2_tiny");
  s.edit_header("model.safetensors", [](json& h) { h["transformer.wte.weight"]["dtype"] = "I32"; });
  expect_load_error(s.path(), s.file("model.safetensors").string(),
                    {"transformer.wte.weight", "dtype", "I32"});
}

TEST(HfCheckpointMalformed, MissingTensor) {
  REQUIRE_FIXTURE("gpt2_tiny");
  ScratchModel s("gpt2_tiny");
  s.edit_header("model.safetensors", [](json& h) { h.erase("transformer.h.1.mlp.c_fc.bias"); });
  expect_load_error(s.path(), s.file("model.safetensors").string(),
                    {"missing tensor", "transformer.h.1.mlp.c_fc.bias"});
}

TEST(HfCheckpointMalformed, MissingLmHeadWhenUntied) {
  REQUIRE_FIXTURE("gpt2_tiny");
  ScratchModel s("gpt2_tiny");
  s.edit_json("config.json", [](json& j) { j["tie_word_embeddings"] = false; });
  expect_load_error(s.path(), s.file("model.safetensors").string(), {"missing tensor", "lm_head.weight"});
}

TEST(HfCheckpointMalformed, BadConfigJson) {
  REQUIRE_FIXTURE("gpt2_tiny");
  ScratchModel s("gpt2_tiny");
  const std::string text = read_file_text(s.file("config.json").string());
  testing::write_binary(s.file("config.json").string(), text.substr(0, text.size() / 2));
  expect_load_error(s.path(), s.file("config.json").string(), {"JSON"});
}

TEST(HfCheckpointMalformed, UnknownModelType) {
  REQUIRE_FIXTURE("gpt2_tiny");
  ScratchModel s("gpt2_tiny");
  s.edit_json("config.json", [](json& j) { j["model_type"] = "bert"; });
  expect_load_error(s.path(), s.file("config.json").string(), {"model_type", "bert"});
}

TEST(HfCheckpointMalformed, ConfigWeightsDisagreeOnShape) {
  REQUIRE_FIXTURE("gpt2_tiny");
  ScratchModel s("gpt2_tiny");
  int vocab = 0, d_model = 0;
  s.edit_json("config.json", [&](json& j) {
    vocab = j["vocab_size"].get<int>();
    d_model = j["n_embd"].get<int>();
    j["vocab_size"] = vocab / 2;
  });
  expect_load_error(s.path(), s.file("model.safetensors").string(),
                    {"transformer.wte.weight", "shape",
                     "got [" + std::to_string(vocab) + ", " + std::to_string(d_model) + "]",
                     "expected [" + std::to_string(vocab / 2) + ", " + std::to_string(d_model) + "]"});
}

TEST(HfCheckpointMalformed, ConfigWeightsDisagreeOnLayers) {
  REQUIRE_FIXTURE("gpt2_tiny");
  {
    ScratchModel s("gpt2_tiny");
    s.edit_json("config.json", [](json& j) { j["n_layer"] = 3; });
    expect_load_error(s.path(), s.file("model.safetensors").string(),
                      {"missing tensor", "transformer.h.2."});
  }
  {
    ScratchModel s("gpt2_tiny");
    s.edit_json("config.json", [](json& j) { j["n_layer"] = 1; });
    expect_load_error(s.path(), s.file("model.safetensors").string(), {"transformer.h.1.", "not expected"});
  }
}

TEST(HfCheckpointMalformed, LlamaGqaHeadCountDisagrees) {
  REQUIRE_FIXTURE("llama_gqa");
  ScratchModel s("llama_gqa");
  s.edit_json("config.json", [](json& j) { j["num_key_value_heads"] = 4; });
  expect_load_error(s.path(), s.file("model.safetensors").string(),
                    {"self_attn.k_proj.weight", "got [32, 64]", "expected [64, 64]"});
}

TEST(HfCheckpointMalformed, ShardedIndexProblems) {
  REQUIRE_FIXTURE("gpt2_tiny_sharded");
  const std::string index = "model.safetensors.index.json";
  {
    ScratchModel s("gpt2_tiny_sharded");
    fs::remove(s.file("model-00002-of-00003.safetensors"));
    expect_load_error(s.path(), s.file("model-00002-of-00003.safetensors").string(), {"cannot open"});
  }
  {
    ScratchModel s("gpt2_tiny_sharded");
    s.edit_json(index, [](json& j) {
      j["weight_map"]["transformer.wte.weight"] = "model-00001-of-00003.safetensors";
    });
    // Either the shard it now points to lacks it, or it is where it always was: both are fine
    // unless it moved; only a real disagreement must fail.
    const auto map = json::parse(read_file_text((fixture_model("gpt2_tiny_sharded") / index).string()));
    if (map["weight_map"]["transformer.wte.weight"] != "model-00001-of-00003.safetensors")
      expect_load_error(s.path(), s.file("model-00001-of-00003.safetensors").string(),
                        {"transformer.wte.weight", "missing"});
  }
  {
    ScratchModel s("gpt2_tiny_sharded");
    testing::write_binary(s.file(index).string(), "{\"weight_map\": {");
    expect_load_error(s.path(), s.file(index).string(), {"JSON"});
  }
  {
    ScratchModel s("gpt2_tiny_sharded");
    s.edit_json(index, [](json& j) { j["weight_map"]["transformer.wte.weight"] = "../../etc/passwd"; });
    expect_load_error(s.path(), s.file(index).string(), {"shard file name"});
  }
  {
    ScratchModel s("gpt2_tiny_sharded");
    s.edit_json(index, [](json& j) { j["weight_map"].erase("transformer.ln_f.weight"); });
    expect_load_error(s.path(), s.file(index).string(), {"missing tensor", "transformer.ln_f.weight"});
  }
}

TEST(HfCheckpointMalformed, NoWeightsOrNoConfig) {
  REQUIRE_FIXTURE("gpt2_tiny");
  {
    ScratchModel s("gpt2_tiny");
    fs::remove(s.file("model.safetensors"));
    expect_load_error(s.path(), s.path(), {"no weights"});
  }
  {
    ScratchModel s("gpt2_tiny");
    fs::remove(s.file("config.json"));
    expect_load_error(s.path(), s.path(), {"config.json"});
    EXPECT_THROW(load_model(s.path()), InputError);
  }
  EXPECT_THROW(load_model("/nonexistent/csweep/model"), InputError);
}

TEST(HfCheckpoint, TokenizerPathAndWeightsHash) {
  REQUIRE_FIXTURE("gpt2_tiny");
  ScratchModel s("gpt2_tiny");
  testing::write_binary(s.file("vocab.json").string(), "{}");
  testing::write_binary(s.file("merges.txt").string(), "#version: 0.2\n");
  const auto m = load_hf_model(s.path());
  EXPECT_EQ(m.tokenizer_path, s.path());
  EXPECT_EQ(m.weights_sha256, sha256_file(s.file("model.safetensors").string()));
}

// ---- check_params ----------------------------------------------------------------------------

TEST(CheckParams, NamesMissingMisshapenAndUnknownParameters) {
  ModelConfig c;
  c.family = Family::kLlama;
  c.n_layers = 1;
  c.n_heads = 2;
  c.n_kv_heads = 1;
  c.d_model = 8;
  c.d_head = 4;
  c.d_mlp = 16;
  c.n_ctx = 8;
  c.d_vocab = 10;
  c.act_fn = ActFn::kSilu;
  c.gated_mlp = true;
  c.norm = NormKind::kRMSNorm;
  c.positional = PosKind::kRotary;
  c.rotary_dim = 4;
  c.attn_bias = c.mlp_bias = false;
  std::map<std::string, torch::Tensor> p;
  for (const auto& s : canonical_params(c))
    if (!s.optional) p[s.name] = torch::zeros(s.shape);
  EXPECT_NO_THROW(check_params(c, p, "ckpt.bin"));
  p["blocks.0.attn.b_Q"] = torch::zeros({2, 4});  // optional and correctly shaped: accepted
  EXPECT_NO_THROW(check_params(c, p, "ckpt.bin"));

  auto expect_msg = [&](std::map<std::string, torch::Tensor> q, std::initializer_list<std::string> needles) {
    try {
      check_params(c, q, "ckpt.bin");
      ADD_FAILURE();
    } catch (const InputError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("ckpt.bin"), std::string::npos) << msg;
      for (const auto& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << n << " not in " << msg;
    }
  };
  auto q = p;
  q.erase("blocks.0.attn.W_K");
  expect_msg(q, {"missing", "blocks.0.attn.W_K", "[1, 8, 4]"});
  q = p;
  q["blocks.0.attn.W_K"] = torch::zeros({2, 8, 4});
  expect_msg(q, {"blocks.0.attn.W_K", "got [2, 8, 4]", "expected [1, 8, 4]"});
  q = p;
  q["blocks.0.attn.b_Q"] = torch::zeros({8});
  expect_msg(q, {"blocks.0.attn.b_Q", "got [8]"});
  q = p;
  q["blocks.1.attn.W_Q"] = torch::zeros({2, 8, 4});
  expect_msg(q, {"blocks.1.attn.W_Q", "not part"});
  q = p;
  q["embed.W_E"] = torch::zeros({10, 8}, torch::kFloat64);
  expect_msg(q, {"embed.W_E", "float32"});
}

}  // namespace
}  // namespace csweep::model
