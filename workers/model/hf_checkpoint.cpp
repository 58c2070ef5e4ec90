#include "workers/model/hf_checkpoint.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <set>

#include "core/error.hpp"
#include "core/files.hpp"
#include "workers/io/hf_config.hpp"
#include "workers/io/safetensors.hpp"
#include "workers/model/param_layout.hpp"

namespace csweep::model {

namespace fs = std::filesystem;

namespace {

struct FamilyNames {
  Family family;
  const char* prefix;          // stripped in the bare base-model layout ("h.0..." vs "transformer.h.0...")
  const char* lm_head;         // top-level, never prefixed
  std::vector<LayoutRow> rows;       // stored = HF name in the LM-head layout
  std::vector<const char*> ignored;  // buffers that are not parameters
};

// Llama's HF layout; Qwen2 stores the same names (its q/k/v biases are rows Llama only uses with
// attention_bias=true), so both families share it.
std::vector<LayoutRow> llama_rows() {
  return {
           {"model.embed_tokens.weight", Layout::kCopy, {"embed.W_E"}},
           {"model.layers.{l}.input_layernorm.weight", Layout::kCopy, {"blocks.{l}.ln1.w"}},
           {"model.layers.{l}.self_attn.q_proj.weight", Layout::kLinearHeadsIn, {"blocks.{l}.attn.W_Q"}},
           {"model.layers.{l}.self_attn.k_proj.weight", Layout::kLinearHeadsIn, {"blocks.{l}.attn.W_K"}},
           {"model.layers.{l}.self_attn.v_proj.weight", Layout::kLinearHeadsIn, {"blocks.{l}.attn.W_V"}},
           {"model.layers.{l}.self_attn.o_proj.weight", Layout::kLinearHeadsOut, {"blocks.{l}.attn.W_O"}},
           {"model.layers.{l}.self_attn.q_proj.bias", Layout::kMergedHeads, {"blocks.{l}.attn.b_Q"}},
           {"model.layers.{l}.self_attn.k_proj.bias", Layout::kMergedHeads, {"blocks.{l}.attn.b_K"}},
           {"model.layers.{l}.self_attn.v_proj.bias", Layout::kMergedHeads, {"blocks.{l}.attn.b_V"}},
           {"model.layers.{l}.self_attn.o_proj.bias", Layout::kCopy, {"blocks.{l}.attn.b_O"}},
           {"model.layers.{l}.post_attention_layernorm.weight", Layout::kCopy, {"blocks.{l}.ln2.w"}},
           {"model.layers.{l}.mlp.gate_proj.weight", Layout::kTranspose, {"blocks.{l}.mlp.W_gate"}},
           {"model.layers.{l}.mlp.up_proj.weight", Layout::kTranspose, {"blocks.{l}.mlp.W_in"}},
           {"model.layers.{l}.mlp.down_proj.weight", Layout::kTranspose, {"blocks.{l}.mlp.W_out"}},
           {"model.layers.{l}.mlp.gate_proj.bias", Layout::kCopy, {"blocks.{l}.mlp.b_gate"}},
           {"model.layers.{l}.mlp.up_proj.bias", Layout::kCopy, {"blocks.{l}.mlp.b_in"}},
           {"model.layers.{l}.mlp.down_proj.bias", Layout::kCopy, {"blocks.{l}.mlp.b_out"}},
           {"model.norm.weight", Layout::kCopy, {"ln_final.w"}},
           {"lm_head.weight", Layout::kTranspose, {"unembed.W_U"}},
       };
}

// Gemma 2 / 3 (Gemma2ForCausalLM, Gemma3ForCausalLM). Every norm weight w is stored for HF's
// (1 + w) RMSNorm and becomes the canonical multiplier 1 + w (kPlusOne). Gemma's four block norms
// map onto TransformerLens's names: input_layernorm = ln1, post_attention_layernorm = ln1_post
// (on attention's output, not before the MLP as in Llama), pre_feedforward_layernorm = ln2,
// post_feedforward_layernorm = ln2_post; q_norm / k_norm (Gemma 3) = attn.q_norm / attn.k_norm.
std::vector<LayoutRow> gemma_rows() {
  return {
      {"model.embed_tokens.weight", Layout::kCopy, {"embed.W_E"}},
      {"model.layers.{l}.input_layernorm.weight", Layout::kPlusOne, {"blocks.{l}.ln1.w"}},
      {"model.layers.{l}.self_attn.q_proj.weight", Layout::kLinearHeadsIn, {"blocks.{l}.attn.W_Q"}},
      {"model.layers.{l}.self_attn.k_proj.weight", Layout::kLinearHeadsIn, {"blocks.{l}.attn.W_K"}},
      {"model.layers.{l}.self_attn.v_proj.weight", Layout::kLinearHeadsIn, {"blocks.{l}.attn.W_V"}},
      {"model.layers.{l}.self_attn.o_proj.weight", Layout::kLinearHeadsOut, {"blocks.{l}.attn.W_O"}},
      {"model.layers.{l}.self_attn.q_proj.bias", Layout::kMergedHeads, {"blocks.{l}.attn.b_Q"}},
      {"model.layers.{l}.self_attn.k_proj.bias", Layout::kMergedHeads, {"blocks.{l}.attn.b_K"}},
      {"model.layers.{l}.self_attn.v_proj.bias", Layout::kMergedHeads, {"blocks.{l}.attn.b_V"}},
      {"model.layers.{l}.self_attn.o_proj.bias", Layout::kCopy, {"blocks.{l}.attn.b_O"}},
      {"model.layers.{l}.self_attn.q_norm.weight", Layout::kPlusOne, {"blocks.{l}.attn.q_norm.w"}},
      {"model.layers.{l}.self_attn.k_norm.weight", Layout::kPlusOne, {"blocks.{l}.attn.k_norm.w"}},
      {"model.layers.{l}.post_attention_layernorm.weight", Layout::kPlusOne, {"blocks.{l}.ln1_post.w"}},
      {"model.layers.{l}.pre_feedforward_layernorm.weight", Layout::kPlusOne, {"blocks.{l}.ln2.w"}},
      {"model.layers.{l}.post_feedforward_layernorm.weight", Layout::kPlusOne, {"blocks.{l}.ln2_post.w"}},
      {"model.layers.{l}.mlp.gate_proj.weight", Layout::kTranspose, {"blocks.{l}.mlp.W_gate"}},
      {"model.layers.{l}.mlp.up_proj.weight", Layout::kTranspose, {"blocks.{l}.mlp.W_in"}},
      {"model.layers.{l}.mlp.down_proj.weight", Layout::kTranspose, {"blocks.{l}.mlp.W_out"}},
      {"model.norm.weight", Layout::kPlusOne, {"ln_final.w"}},
      {"lm_head.weight", Layout::kTranspose, {"unembed.W_U"}},
  };
}

const std::vector<FamilyNames>& name_tables() {
  static const std::vector<FamilyNames> t = {
      {Family::kGPT2,
       "transformer.",
       "lm_head.weight",
       {
           {"transformer.wte.weight", Layout::kCopy, {"embed.W_E"}},
           {"transformer.wpe.weight", Layout::kCopy, {"pos_embed.W_pos"}},
           {"transformer.h.{l}.ln_1.weight", Layout::kCopy, {"blocks.{l}.ln1.w"}},
           {"transformer.h.{l}.ln_1.bias", Layout::kCopy, {"blocks.{l}.ln1.b"}},
           {"transformer.h.{l}.attn.c_attn.weight", Layout::kQKVColumns,
            {"blocks.{l}.attn.W_Q", "blocks.{l}.attn.W_K", "blocks.{l}.attn.W_V"}},
           {"transformer.h.{l}.attn.c_attn.bias", Layout::kQKVBias,
            {"blocks.{l}.attn.b_Q", "blocks.{l}.attn.b_K", "blocks.{l}.attn.b_V"}},
           {"transformer.h.{l}.attn.c_proj.weight", Layout::kMergedHeads, {"blocks.{l}.attn.W_O"}},
           {"transformer.h.{l}.attn.c_proj.bias", Layout::kCopy, {"blocks.{l}.attn.b_O"}},
           {"transformer.h.{l}.ln_2.weight", Layout::kCopy, {"blocks.{l}.ln2.w"}},
           {"transformer.h.{l}.ln_2.bias", Layout::kCopy, {"blocks.{l}.ln2.b"}},
           {"transformer.h.{l}.mlp.c_fc.weight", Layout::kCopy, {"blocks.{l}.mlp.W_in"}},
           {"transformer.h.{l}.mlp.c_fc.bias", Layout::kCopy, {"blocks.{l}.mlp.b_in"}},
           {"transformer.h.{l}.mlp.c_proj.weight", Layout::kCopy, {"blocks.{l}.mlp.W_out"}},
           {"transformer.h.{l}.mlp.c_proj.bias", Layout::kCopy, {"blocks.{l}.mlp.b_out"}},
           {"transformer.ln_f.weight", Layout::kCopy, {"ln_final.w"}},
           {"transformer.ln_f.bias", Layout::kCopy, {"ln_final.b"}},
           {"lm_head.weight", Layout::kTranspose, {"unembed.W_U"}},
       },
       {"transformer.h.{l}.attn.bias", "transformer.h.{l}.attn.masked_bias"}},
      {Family::kLlama, "model.", "lm_head.weight", llama_rows(),
       {"model.layers.{l}.self_attn.rotary_emb.inv_freq"}},
      {Family::kQwen2, "model.", "lm_head.weight", llama_rows(),
       {"model.layers.{l}.self_attn.rotary_emb.inv_freq"}},
      {Family::kGPTNeoX,
       "gpt_neox.",
       "embed_out.weight",
       {
           {"gpt_neox.embed_in.weight", Layout::kCopy, {"embed.W_E"}},
           {"gpt_neox.layers.{l}.input_layernorm.weight", Layout::kCopy, {"blocks.{l}.ln1.w"}},
           {"gpt_neox.layers.{l}.input_layernorm.bias", Layout::kCopy, {"blocks.{l}.ln1.b"}},
           {"gpt_neox.layers.{l}.attention.query_key_value.weight", Layout::kQKVPerHead,
            {"blocks.{l}.attn.W_Q", "blocks.{l}.attn.W_K", "blocks.{l}.attn.W_V"}},
           {"gpt_neox.layers.{l}.attention.query_key_value.bias", Layout::kQKVPerHeadBias,
            {"blocks.{l}.attn.b_Q", "blocks.{l}.attn.b_K", "blocks.{l}.attn.b_V"}},
           {"gpt_neox.layers.{l}.attention.dense.weight", Layout::kLinearHeadsOut, {"blocks.{l}.attn.W_O"}},
           {"gpt_neox.layers.{l}.attention.dense.bias", Layout::kCopy, {"blocks.{l}.attn.b_O"}},
           {"gpt_neox.layers.{l}.post_attention_layernorm.weight", Layout::kCopy, {"blocks.{l}.ln2.w"}},
           {"gpt_neox.layers.{l}.post_attention_layernorm.bias", Layout::kCopy, {"blocks.{l}.ln2.b"}},
           {"gpt_neox.layers.{l}.mlp.dense_h_to_4h.weight", Layout::kTranspose, {"blocks.{l}.mlp.W_in"}},
           {"gpt_neox.layers.{l}.mlp.dense_h_to_4h.bias", Layout::kCopy, {"blocks.{l}.mlp.b_in"}},
           {"gpt_neox.layers.{l}.mlp.dense_4h_to_h.weight", Layout::kTranspose, {"blocks.{l}.mlp.W_out"}},
           {"gpt_neox.layers.{l}.mlp.dense_4h_to_h.bias", Layout::kCopy, {"blocks.{l}.mlp.b_out"}},
           {"gpt_neox.final_layer_norm.weight", Layout::kCopy, {"ln_final.w"}},
           {"gpt_neox.final_layer_norm.bias", Layout::kCopy, {"ln_final.b"}},
           {"embed_out.weight", Layout::kTranspose, {"unembed.W_U"}},
       },
       // Pythia checkpoints store the causal mask and RoPE frequencies as tensors.
       {"gpt_neox.layers.{l}.attention.bias", "gpt_neox.layers.{l}.attention.masked_bias",
        "gpt_neox.layers.{l}.attention.rotary_emb.inv_freq"}},
      {Family::kGemma2, "model.", "lm_head.weight", gemma_rows(), {}},
      {Family::kGemma3, "model.", "lm_head.weight", gemma_rows(), {}},
  };
  return t;
}

// Where each checkpoint tensor lives: the shard files opened once, and name -> (file, view).
struct WeightSource {
  std::string describe;  // the file errors about missing tensors name
  std::vector<io::SafetensorsFile> files;
  std::map<std::string, std::pair<const io::SafetensorsFile*, const io::TensorView*>> tensors;
  std::vector<std::string> paths;  // for hashing, in file-name order
};

WeightSource open_weights(const fs::path& dir) {
  WeightSource ws;
  const fs::path single = dir / "model.safetensors";
  const fs::path index = dir / "model.safetensors.index.json";
  if (fs::exists(single)) {
    ws.describe = single.string();
    ws.paths.push_back(single.string());
    ws.files.push_back(io::SafetensorsFile::open(single.string()));
    for (const auto& v : ws.files[0].tensors()) ws.tensors[v.name] = {&ws.files[0], &v};
    return ws;
  }
  if (!fs::exists(index)) {
    const bool has_bin = fs::exists(dir / "pytorch_model.bin");
    throw input_error(dir.string(),
                      has_bin ? "only pytorch_model.bin found; convert the checkpoint to safetensors"
                              : "no weights found",
                      {}, "model.safetensors or model.safetensors.index.json");
  }
  ws.describe = index.string();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file_text(index.string()));
  } catch (const nlohmann::json::exception& e) {
    throw input_error(index.string(), fmt::format("not valid JSON: {}", e.what()));
  }
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
    throw input_error(index.string(), "missing or non-object \"weight_map\"");
  std::map<std::string, std::string> name_to_file;
  std::set<std::string> shard_names;
  for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
    if (!it.value().is_string())
      throw input_error(index.string(), fmt::format("weight_map[\"{}\"] is not a string", it.key()),
                        it.value().dump());
    const std::string f = it.value().get<std::string>();
    // Shards live next to the index; a path component could escape the model folder.
    if (f.empty() || f.find('/') != std::string::npos || f == "." || f == "..")
      throw input_error(index.string(), fmt::format("weight_map[\"{}\"]: bad shard file name", it.key()),
                        "\"" + f + "\"", "a file name in the same folder");
    name_to_file[it.key()] = f;
    shard_names.insert(f);
  }
  ws.files.reserve(shard_names.size());  // pointers into files must stay valid
  std::map<std::string, const io::SafetensorsFile*> by_name;
  for (const auto& s : shard_names) {
    ws.paths.push_back((dir / s).string());
    ws.files.push_back(io::SafetensorsFile::open((dir / s).string()));
    by_name[s] = &ws.files.back();
  }
  for (const auto& [name, file] : name_to_file) {
    const io::SafetensorsFile* f = by_name.at(file);
    const io::TensorView* v = f->find(name);
    if (!v)
      throw input_error(f->source(), fmt::format("tensor \"{}\" listed in {} is missing", name,
                                                 index.string()));
    ws.tensors[name] = {f, v};
  }
  return ws;
}

bool has_tokenizer_files(const fs::path& dir) {
  auto has = [&](const char* f) { return fs::exists(dir / f); };
  return has("tokenizer.json") || (has("vocab.json") && has("merges.txt")) ||
         (has("encoder.json") && has("vocab.bpe"));
}

}  // namespace

LoadedModel load_hf_model(const std::string& dir_str) {
  const fs::path dir(dir_str);
  if (!fs::is_directory(dir)) throw input_error(dir_str, "not a directory");
  const fs::path config_path = dir / "config.json";
  if (!fs::exists(config_path))
    throw input_error(dir_str, "no config.json in the model folder");

  LoadedModel m;
  m.source = dir_str;
  m.cfg = io::read_hf_config(config_path.string());
  m.cfg.name = dir.filename().empty() ? dir.parent_path().filename().string()
                                      : dir.filename().string();
  const ModelConfig& cfg = m.cfg;

  const FamilyNames* names = nullptr;
  for (const auto& f : name_tables())
    if (f.family == cfg.family) names = &f;
  CSWEEP_ASSERT(names, "no name table for family {}", to_string(cfg.family));

  std::set<std::string> ignored;
  for (int l = 0; l < cfg.n_layers; ++l)
    for (const char* ig : names->ignored) ignored.insert(expand_layer(ig, l));
  // A tied unembedding is W_E^T, whatever lm_head.weight holds (transformers ties them at load).
  if (cfg.tied_embeddings) ignored.insert(names->lm_head);
  std::map<std::string, ExpectedTensor> expected = expand_rows(names->rows, cfg, ignored);

  WeightSource ws = open_weights(dir);
  const std::string prefix = names->prefix;
  for (const auto& [raw_name, loc] : ws.tensors) {
    const auto& [file, view] = loc;
    const std::string& src = file->source();
    const std::string name = (raw_name.rfind(prefix, 0) == 0 || raw_name == names->lm_head)
                                 ? raw_name
                                 : prefix + raw_name;
    if (ignored.count(name)) continue;
    auto it = expected.find(name);
    if (it == expected.end())
      throw input_error(fmt::format("{}: tensor \"{}\"", src, raw_name),
                        fmt::format("not expected by {} (config and weights disagree, or the "
                                    "checkpoint is not a {} model)",
                                    config_path.string(), to_string(cfg.family)));
    ExpectedTensor& e = it->second;
    if (e.seen)
      throw input_error(fmt::format("{}: tensor \"{}\"", src, raw_name),
                        "stored twice (with and without the \"" + prefix + "\" prefix)");
    e.seen = true;
    const Shape want = stored_shape(e.row->layout, e.shapes);
    if (view->shape != want)
      throw input_error(fmt::format("{}: tensor \"{}\"", src, raw_name),
                        fmt::format("shape mismatch with {}", config_path.string()),
                        io::shape_to_string(view->shape), io::shape_to_string(want));
    if (!io::is_float(view->dtype))
      throw input_error(fmt::format("{}: tensor \"{}\"", src, raw_name), "unsupported dtype",
                        io::to_string(view->dtype), "F32, F16, BF16 or F64");
    torch::Tensor t = torch::empty(view->shape, torch::kFloat32);
    io::decode_f32(*view, t.data_ptr<float>(), src);
    store_canonical(e, t, m.params);
  }

  for (const auto& [hf, e] : expected)
    if (e.required && !e.seen)
      throw input_error(ws.describe,
                        fmt::format("missing tensor \"{}\" (for {})", hf, e.targets[0]), {},
                        fmt::format("shape {} as {} describes", io::shape_to_string(stored_shape(e.row->layout, e.shapes)),
                                    config_path.string()));
  if (cfg.tied_embeddings) m.params["unembed.W_U"] = m.params.at("embed.W_E").t().contiguous();

  check_params(cfg, m.params, ws.describe);

  std::string hashes;
  for (const auto& p : ws.paths) hashes += (hashes.empty() ? "" : ",") + sha256_file(p);
  m.weights_sha256 = hashes;
  m.tokenizer_path = has_tokenizer_files(dir) ? dir_str : "";
  return m;
}

}  // namespace csweep::model
