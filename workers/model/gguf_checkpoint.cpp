#include "workers/model/gguf_checkpoint.hpp"

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <climits>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include "core/error.hpp"
#include "core/files.hpp"
#include "vocab/model_families.hpp"
#include "workers/io/gguf.hpp"
#include "workers/io/safetensors.hpp"
#include "workers/model/param_layout.hpp"

namespace csweep::model {

namespace {

// Hyperparameter keys, relative to "<arch>."; nullptr where the architecture has none.
struct ArchSpec {
  const char* arch;  // general.architecture
  Family family;
  const char* norm_eps_key;
  std::vector<LayoutRow> rows;  // stored = llama.cpp tensor name
};

// Gemma 3: llama.cpp's names. attn_norm = input_layernorm (ln1), post_attention_norm = ln1_post,
// ffn_norm = pre_feedforward_layernorm (ln2), post_ffw_norm = ln2_post.
std::vector<LayoutRow> gemma_rows() {
  return {
      {"token_embd.weight", Layout::kCopy, {"embed.W_E"}},
      {"blk.{l}.attn_norm.weight", Layout::kCopy, {"blocks.{l}.ln1.w"}},
      {"blk.{l}.attn_q.weight", Layout::kLinearHeadsIn, {"blocks.{l}.attn.W_Q"}},
      {"blk.{l}.attn_k.weight", Layout::kLinearHeadsIn, {"blocks.{l}.attn.W_K"}},
      {"blk.{l}.attn_v.weight", Layout::kLinearHeadsIn, {"blocks.{l}.attn.W_V"}},
      {"blk.{l}.attn_output.weight", Layout::kLinearHeadsOut, {"blocks.{l}.attn.W_O"}},
      {"blk.{l}.attn_q_norm.weight", Layout::kCopy, {"blocks.{l}.attn.q_norm.w"}},
      {"blk.{l}.attn_k_norm.weight", Layout::kCopy, {"blocks.{l}.attn.k_norm.w"}},
      {"blk.{l}.post_attention_norm.weight", Layout::kCopy, {"blocks.{l}.ln1_post.w"}},
      {"blk.{l}.ffn_norm.weight", Layout::kCopy, {"blocks.{l}.ln2.w"}},
      {"blk.{l}.post_ffw_norm.weight", Layout::kCopy, {"blocks.{l}.ln2_post.w"}},
      {"blk.{l}.ffn_gate.weight", Layout::kTranspose, {"blocks.{l}.mlp.W_gate"}},
      {"blk.{l}.ffn_up.weight", Layout::kTranspose, {"blocks.{l}.mlp.W_in"}},
      {"blk.{l}.ffn_down.weight", Layout::kTranspose, {"blocks.{l}.mlp.W_out"}},
      {"output_norm.weight", Layout::kCopy, {"ln_final.w"}},
      {"output.weight", Layout::kTranspose, {"unembed.W_U"}},
  };
}

const std::vector<ArchSpec>& arch_specs() {
  static const std::vector<ArchSpec> t = {
      {"llama",
       Family::kLlama,
       "attention.layer_norm_rms_epsilon",
       {
           {"token_embd.weight", Layout::kCopy, {"embed.W_E"}},
           {"blk.{l}.attn_norm.weight", Layout::kCopy, {"blocks.{l}.ln1.w"}},
           {"blk.{l}.attn_q.weight", Layout::kRopeHeadsIn, {"blocks.{l}.attn.W_Q"}},
           {"blk.{l}.attn_k.weight", Layout::kRopeHeadsIn, {"blocks.{l}.attn.W_K"}},
           {"blk.{l}.attn_v.weight", Layout::kLinearHeadsIn, {"blocks.{l}.attn.W_V"}},
           {"blk.{l}.attn_output.weight", Layout::kLinearHeadsOut, {"blocks.{l}.attn.W_O"}},
           {"blk.{l}.attn_q.bias", Layout::kRopeMergedHeads, {"blocks.{l}.attn.b_Q"}},
           {"blk.{l}.attn_k.bias", Layout::kRopeMergedHeads, {"blocks.{l}.attn.b_K"}},
           {"blk.{l}.attn_v.bias", Layout::kMergedHeads, {"blocks.{l}.attn.b_V"}},
           {"blk.{l}.attn_output.bias", Layout::kCopy, {"blocks.{l}.attn.b_O"}},
           {"blk.{l}.ffn_norm.weight", Layout::kCopy, {"blocks.{l}.ln2.w"}},
           {"blk.{l}.ffn_gate.weight", Layout::kTranspose, {"blocks.{l}.mlp.W_gate"}},
           {"blk.{l}.ffn_up.weight", Layout::kTranspose, {"blocks.{l}.mlp.W_in"}},
           {"blk.{l}.ffn_down.weight", Layout::kTranspose, {"blocks.{l}.mlp.W_out"}},
           {"blk.{l}.ffn_gate.bias", Layout::kCopy, {"blocks.{l}.mlp.b_gate"}},
           {"blk.{l}.ffn_up.bias", Layout::kCopy, {"blocks.{l}.mlp.b_in"}},
           {"blk.{l}.ffn_down.bias", Layout::kCopy, {"blocks.{l}.mlp.b_out"}},
           {"output_norm.weight", Layout::kCopy, {"ln_final.w"}},
           {"output.weight", Layout::kTranspose, {"unembed.W_U"}},
           {"output.bias", Layout::kCopy, {"unembed.b_U"}},
       }},
      // llama.cpp's Gemma converters store every RMSNorm weight as the multiplier 1 + w (HF's
      // GGUF loader subtracts the 1 again, Gemma2TensorProcessor), which is already the canonical
      // form (config.hpp), so norms are copied. Q and K keep HF's row order: llama.cpp runs
      // Gemma's RoPE in the NEOX (half-split) layout and does not permute them.
      {"gemma3", Family::kGemma3, "attention.layer_norm_rms_epsilon", gemma_rows()},
      // Qwen2: Llama's names with q/k/v biases; llama.cpp runs its RoPE in the NEOX layout, so
      // Q and K (and their biases) keep HF's row order.
      {"qwen2",
       Family::kQwen2,
       "attention.layer_norm_rms_epsilon",
       {
           {"token_embd.weight", Layout::kCopy, {"embed.W_E"}},
           {"blk.{l}.attn_norm.weight", Layout::kCopy, {"blocks.{l}.ln1.w"}},
           {"blk.{l}.attn_q.weight", Layout::kLinearHeadsIn, {"blocks.{l}.attn.W_Q"}},
           {"blk.{l}.attn_k.weight", Layout::kLinearHeadsIn, {"blocks.{l}.attn.W_K"}},
           {"blk.{l}.attn_v.weight", Layout::kLinearHeadsIn, {"blocks.{l}.attn.W_V"}},
           {"blk.{l}.attn_output.weight", Layout::kLinearHeadsOut, {"blocks.{l}.attn.W_O"}},
           {"blk.{l}.attn_q.bias", Layout::kMergedHeads, {"blocks.{l}.attn.b_Q"}},
           {"blk.{l}.attn_k.bias", Layout::kMergedHeads, {"blocks.{l}.attn.b_K"}},
           {"blk.{l}.attn_v.bias", Layout::kMergedHeads, {"blocks.{l}.attn.b_V"}},
           {"blk.{l}.ffn_norm.weight", Layout::kCopy, {"blocks.{l}.ln2.w"}},
           {"blk.{l}.ffn_gate.weight", Layout::kTranspose, {"blocks.{l}.mlp.W_gate"}},
           {"blk.{l}.ffn_up.weight", Layout::kTranspose, {"blocks.{l}.mlp.W_in"}},
           {"blk.{l}.ffn_down.weight", Layout::kTranspose, {"blocks.{l}.mlp.W_out"}},
           {"output_norm.weight", Layout::kCopy, {"ln_final.w"}},
           {"output.weight", Layout::kTranspose, {"unembed.W_U"}},
       }},
      {"gpt2",
       Family::kGPT2,
       "attention.layer_norm_epsilon",
       {
           {"token_embd.weight", Layout::kCopy, {"embed.W_E"}},
           {"position_embd.weight", Layout::kCopy, {"pos_embed.W_pos"}},
           {"blk.{l}.attn_norm.weight", Layout::kCopy, {"blocks.{l}.ln1.w"}},
           {"blk.{l}.attn_norm.bias", Layout::kCopy, {"blocks.{l}.ln1.b"}},
           {"blk.{l}.attn_qkv.weight", Layout::kQKVRows,
            {"blocks.{l}.attn.W_Q", "blocks.{l}.attn.W_K", "blocks.{l}.attn.W_V"}},
           {"blk.{l}.attn_qkv.bias", Layout::kQKVBias,
            {"blocks.{l}.attn.b_Q", "blocks.{l}.attn.b_K", "blocks.{l}.attn.b_V"}},
           {"blk.{l}.attn_output.weight", Layout::kLinearHeadsOut, {"blocks.{l}.attn.W_O"}},
           {"blk.{l}.attn_output.bias", Layout::kCopy, {"blocks.{l}.attn.b_O"}},
           {"blk.{l}.ffn_norm.weight", Layout::kCopy, {"blocks.{l}.ln2.w"}},
           {"blk.{l}.ffn_norm.bias", Layout::kCopy, {"blocks.{l}.ln2.b"}},
           {"blk.{l}.ffn_up.weight", Layout::kTranspose, {"blocks.{l}.mlp.W_in"}},
           {"blk.{l}.ffn_up.bias", Layout::kCopy, {"blocks.{l}.mlp.b_in"}},
           {"blk.{l}.ffn_down.weight", Layout::kTranspose, {"blocks.{l}.mlp.W_out"}},
           {"blk.{l}.ffn_down.bias", Layout::kCopy, {"blocks.{l}.mlp.b_out"}},
           {"output_norm.weight", Layout::kCopy, {"ln_final.w"}},
           {"output_norm.bias", Layout::kCopy, {"ln_final.b"}},
           {"output.weight", Layout::kTranspose, {"unembed.W_U"}},
           {"output.bias", Layout::kCopy, {"unembed.b_U"}},
       }},
  };
  return t;
}

const ArchSpec& arch_spec(const io::GgufFile& f) {
  const std::string arch = f.get_string("general.architecture");
  for (const auto& a : arch_specs())
    if (arch == a.arch) return a;
  throw InputError(fmt::format("{}: metadata 'general.architecture': got \"{}\", expected one of "
                               "\"llama\", \"qwen2\", \"gemma3\", \"gpt2\"",
                               f.source(), arch));
}

// An integer hyperparameter that must fit an int; `fallback` when absent (nullopt = required).
int hparam(const io::GgufFile& f, const std::string& key, std::optional<int> fallback) {
  const auto v = f.get_int_opt(key);
  if (!v) {
    if (fallback) return *fallback;
    throw InputError(fmt::format("{}: metadata '{}': missing (required hyperparameter)",
                                 f.source(), key));
  }
  if (*v <= 0 || *v > INT_MAX)
    throw InputError(fmt::format("{}: metadata '{}': got {}, expected 1..{}", f.source(), key, *v,
                                 INT_MAX));
  return static_cast<int>(*v);
}

bool same_bytes(const io::GgufFile& f, const io::GgufTensorInfo& a, const io::GgufTensorInfo& b) {
  return a.type_id == b.type_id && a.dims == b.dims && a.n_bytes == b.n_bytes &&
         std::memcmp(f.tensor_data(a), f.tensor_data(b), a.n_bytes) == 0;
}

// output.weight absent, or a byte-identical copy of token_embd (GPT-2 converters write one).
bool tied_output(const io::GgufFile& f) {
  const io::GgufTensorInfo* out = f.find_tensor("output.weight");
  if (!out) return true;
  const io::GgufTensorInfo* emb = f.find_tensor("token_embd.weight");
  return emb && same_bytes(f, *out, *emb);
}

// Special-token roles from the metadata; nullopt when absent.
std::optional<int> token_role(const io::GgufFile& f, const char* key, std::size_t n_tokens) {
  const auto v = f.get_int_opt(key);
  if (!v) return std::nullopt;
  if (*v < 0 || static_cast<std::uint64_t>(*v) >= n_tokens)
    throw InputError(fmt::format("{}: metadata '{}': id {} outside the vocabulary [0, {})",
                                 f.source(), key, *v, n_tokens));
  return static_cast<int>(*v);
}

// A SentencePiece vocabulary (tokenizer.ggml.model "llama"). Only Gemma 3's files are accepted:
// its encoding is proven equal to Hugging Face's for them, while other families' files differ in
// prefix-space and merge-order rules (Llama 2: scores, a prefix space) that are not implemented.
tok::Tokenizer sentencepiece_tokenizer(const io::GgufFile& f) {
  const std::string& src = f.source();
  const std::string arch = f.get_string("general.architecture");
  if (arch != "gemma3")
    throw InputError(fmt::format("{}: metadata 'tokenizer.ggml.model': \"llama\" (SentencePiece) "
                                 "vocabularies are supported for general.architecture \"gemma3\" "
                                 "only; this file is \"{}\"",
                                 src, arch));
  if (f.get_bool_or("tokenizer.ggml.add_space_prefix", false))
    throw InputError(fmt::format("{}: metadata 'tokenizer.ggml.add_space_prefix': got true, "
                                 "expected false (Gemma's vocabulary adds no prefix space)",
                                 src));
  if (f.has("tokenizer.ggml.merges"))
    throw InputError(fmt::format("{}: metadata 'tokenizer.ggml.merges': present, expected none "
                                 "(Gemma's merges follow from the vocabulary order)",
                                 src));
  std::vector<std::string> tokens = f.get_string_array("tokenizer.ggml.tokens");
  if (tokens.empty() || tokens.size() > static_cast<std::size_t>(INT_MAX))
    throw InputError(fmt::format("{}: metadata 'tokenizer.ggml.tokens': {} tokens", src,
                                 tokens.size()));
  if (!f.has("tokenizer.ggml.token_type"))
    throw InputError(fmt::format("{}: metadata 'tokenizer.ggml.token_type': missing (needed to "
                                 "find the user-defined and control tokens)",
                                 src));
  const auto& raw = f.get_int_array("tokenizer.ggml.token_type");
  std::vector<int> types(raw.begin(), raw.end());
  const auto bos = token_role(f, "tokenizer.ggml.bos_token_id", tokens.size());
  const auto eos = token_role(f, "tokenizer.ggml.eos_token_id", tokens.size());
  return tok::Tokenizer::from_sentencepiece(std::move(tokens), types, src, bos, eos);
}

// Gemma 3 hyperparameters. The file holds what llama.cpp needs; the rest is the value
// transformers' Gemma3TextConfig defaults to, as its GGUF loader leaves them (the model preset
// holds those): query_pre_attn_scalar 256, local layers all but every sixth, local RoPE theta
// 10000 (unless the file has rope.freq_base_swa). Gemma 2 files are not read: transformers'
// loader ignores their soft-cap keys, so nothing independent confirms a reading of them.
void gemma_hparams(const io::GgufFile& f, const std::string& a, ModelConfig& c) {
  c.n_kv_heads = hparam(f, a + "attention.head_count_kv", c.n_heads);
  c.rotary_dim = c.d_head;
  c.rotary_base = f.get_float_opt(a + "rope.freq_base").value_or(c.rotary_base);
  if (const auto local = f.get_float_opt(a + "rope.freq_base_swa")) c.rotary_base_local = *local;
  c.sliding_window = hparam(f, a + "attention.sliding_window", c.sliding_window);
  // Linear scaling of the global layers (Gemma 3 4B and up) is what the original config holds.
  if (const auto st = f.get_string_opt(a + "rope.scaling.type"); st && *st != "none") {
    if (*st != "linear")
      throw InputError(fmt::format("{}: metadata '{}rope.scaling.type': \"{}\" is not supported "
                                   "(expected \"none\" or \"linear\")",
                                   f.source(), a, *st));
    c.rotary_scale = f.get_float_opt(a + "rope.scaling.factor").value_or(1.0);
  }
  c.attn_bias = c.mlp_bias = false;
  c.sliding_layers.assign(static_cast<std::size_t>(c.n_layers), false);
  for (int l = 0; l < c.n_layers; ++l) c.sliding_layers[static_cast<std::size_t>(l)] = (l + 1) % 6 != 0;
}

}  // namespace

ModelConfig gguf_config(const io::GgufFile& f) {
  const ArchSpec& spec = arch_spec(f);
  const std::string a = std::string(spec.arch) + ".";
  // Keys llama.cpp may omit mean what they mean for a Hugging Face config (vocab/model_families).
  ModelConfig c = vocab::model_preset(spec.family);
  c.name = std::filesystem::path(f.source()).stem().string();
  c.n_layers = hparam(f, a + "block_count", std::nullopt);
  c.d_model = hparam(f, a + "embedding_length", std::nullopt);
  c.n_heads = hparam(f, a + "attention.head_count", std::nullopt);
  c.n_ctx = hparam(f, a + "context_length", std::nullopt);
  c.d_mlp = hparam(f, a + "feed_forward_length", 4 * c.d_model);

  // d_vocab: the embedding's rows (vocab_size is optional metadata and may differ from the
  // tokenizer's list when the embedding is padded).
  const io::GgufTensorInfo* emb = f.find_tensor("token_embd.weight");
  if (!emb)
    throw InputError(fmt::format("{}: tensor 'token_embd.weight': missing (needed for the "
                                 "vocabulary size)",
                                 f.source()));
  if (emb->dims.size() != 2 || emb->dims[1] > static_cast<std::uint64_t>(INT_MAX) ||
      emb->dims[0] != static_cast<std::uint64_t>(c.d_model))
    throw InputError(fmt::format("{}: tensor 'token_embd.weight': dims [{}], expected "
                                 "[{}, d_vocab]",
                                 f.source(), fmt::join(emb->dims, ", "), c.d_model));
  c.d_vocab = static_cast<int>(emb->dims[1]);
  if (const auto vs = f.get_int_opt(a + "vocab_size"); vs && *vs != c.d_vocab)
    throw InputError(fmt::format("{}: metadata '{}vocab_size': got {}, but token_embd.weight has "
                                 "{} rows",
                                 f.source(), a, *vs, c.d_vocab));

  if (c.n_heads > 0 && c.d_model % c.n_heads != 0 && !f.has(a + "attention.key_length"))
    throw InputError(fmt::format("{}: metadata '{}attention.head_count': {} does not divide "
                                 "embedding_length {}",
                                 f.source(), a, c.n_heads, c.d_model));
  const int default_head = c.n_heads > 0 ? c.d_model / c.n_heads : 0;
  c.d_head = hparam(f, a + "attention.key_length", default_head);
  if (const auto vl = f.get_int_opt(a + "attention.value_length"); vl && *vl != c.d_head)
    throw InputError(fmt::format("{}: metadata '{}attention.value_length': got {}, expected "
                                 "key_length {} (different q/k and v head sizes are unsupported)",
                                 f.source(), a, *vl, c.d_head));
  c.norm_eps = f.get_float_opt(a + spec.norm_eps_key).value_or(c.norm_eps);
  c.tied_embeddings = tied_output(f);
  c.unembed_bias = f.find_tensor("output.bias") != nullptr;

  if (spec.family == Family::kLlama || spec.family == Family::kQwen2) {
    c.n_kv_heads = hparam(f, a + "attention.head_count_kv", c.n_heads);
    c.rotary_dim = hparam(f, a + "rope.dimension_count", c.d_head);
    c.rotary_base = f.get_float_opt(a + "rope.freq_base").value_or(c.rotary_base);
    if (spec.family == Family::kLlama) {
      c.attn_bias = f.find_tensor("blk.0.attn_q.bias") != nullptr;
      c.mlp_bias = f.find_tensor("blk.0.ffn_up.bias") != nullptr;
    }
    // RoPE scaling changes the frequencies; computing plain RoPE instead would be silently wrong.
    if (const auto st = f.get_string_opt(a + "rope.scaling.type"); st && *st != "none")
      throw InputError(fmt::format("{}: metadata '{}rope.scaling.type': \"{}\" is not supported "
                                   "(only unscaled RoPE)",
                                   f.source(), a, *st));
    if (f.find_tensor("rope_freqs.weight"))
      throw InputError(fmt::format("{}: tensor 'rope_freqs.weight': per-frequency RoPE scaling "
                                   "(Llama 3.1 style) is not supported",
                                   f.source()));
  } else if (spec.family == Family::kGemma3) {
    gemma_hparams(f, a, c);
  } else {
    c.n_kv_heads = c.n_heads;
  }
  c.validate(f.source());
  return c;
}

LoadedModel load_gguf_model(const std::string& path) {
  const io::GgufFile f = io::GgufFile::open(path);
  LoadedModel m;
  m.source = path;
  m.cfg = gguf_config(f);
  const ModelConfig& cfg = m.cfg;
  const ArchSpec& spec = arch_spec(f);

  // A tied unembedding is W_E^T; a stored copy of the embedding is not loaded twice.
  std::set<std::string> ignored;
  if (cfg.tied_embeddings) ignored.insert("output.weight");
  std::map<std::string, ExpectedTensor> expected = expand_rows(spec.rows, cfg, ignored);

  for (const auto& t : f.tensors()) {
    if (ignored.count(t.name)) continue;
    auto it = expected.find(t.name);
    if (it == expected.end())
      throw InputError(fmt::format("{}: tensor '{}': not part of a {} model with {} layers "
                                   "(unsupported variant, or metadata and tensors disagree)",
                                   path, t.name, spec.arch, cfg.n_layers));
    ExpectedTensor& e = it->second;
    e.seen = true;
    const Shape want = stored_shape(e.row->layout, e.shapes);
    const Shape got = t.shape();
    if (got != want)
      throw InputError(fmt::format("{}: tensor '{}': shape {} (GGUF dims [{}]), expected {} for "
                                   "{}",
                                   path, t.name, io::shape_to_string(got), fmt::join(t.dims, ", "),
                                   io::shape_to_string(want), fmt::join(e.targets, ", ")));
    const io::GgmlTypeTraits* traits = io::ggml_type_traits(t.type_id);
    CSWEEP_ASSERT(traits != nullptr, "parser accepted unknown type {}", t.type_id);
    if (!traits->dequantizable)
      throw InputError(fmt::format("{}: tensor '{}': ggml type {} cannot be dequantised "
                                   "(supported: {})",
                                   path, t.name, traits->name, io::ggml_dequantizable_names()));
    torch::Tensor x = torch::empty(got, torch::kFloat32);
    io::dequantize_row(t.type(), f.tensor_data(t), x.data_ptr<float>(),
                       static_cast<std::size_t>(t.n_elements));
    store_canonical(e, x, m.params);
  }

  for (const auto& [name, e] : expected)
    if (e.required && !e.seen)
      throw InputError(fmt::format("{}: tensor '{}': missing (needed for {}, shape {})", path,
                                   name, fmt::join(e.targets, ", "),
                                   io::shape_to_string(stored_shape(e.row->layout, e.shapes))));
  if (cfg.tied_embeddings) m.params["unembed.W_U"] = m.params.at("embed.W_E").t().contiguous();

  check_params(cfg, m.params, path);
  m.weights_sha256 = sha256_file(path);
  m.tokenizer_path = path;
  return m;
}

tok::Tokenizer gguf_tokenizer(const io::GgufFile& f) {
  const std::string& src = f.source();
  const std::string model = f.get_string("tokenizer.ggml.model");
  if (model == "llama") return sentencepiece_tokenizer(f);
  if (model != "gpt2")
    throw InputError(fmt::format("{}: metadata 'tokenizer.ggml.model': got \"{}\", expected "
                                 "\"gpt2\" (byte-level BPE) or \"llama\" (SentencePiece, Gemma 3 "
                                 "files)",
                                 src, model));
  // llama.cpp's pre-tokenizer names -> ours. Only splitters verified to be identical are listed.
  static const std::map<std::string, tok::PreTokenizer> kPre = {
      {"gpt-2", tok::PreTokenizer::kGPT2},
      {"gpt2", tok::PreTokenizer::kGPT2},
      {"smollm", tok::PreTokenizer::kDigitsThenGPT2},
  };
  tok::PreTokenizer pre = tok::PreTokenizer::kGPT2;
  if (const auto p = f.get_string_opt("tokenizer.ggml.pre")) {
    auto it = kPre.find(*p);
    if (it == kPre.end())
      throw InputError(fmt::format("{}: metadata 'tokenizer.ggml.pre': got \"{}\", expected one "
                                   "of \"gpt-2\", \"gpt2\", \"smollm\"",
                                   src, *p));
    pre = it->second;
  } else {
    spdlog::warn("{}: no tokenizer.ggml.pre; using the GPT-2 pre-tokenizer", src);
  }

  std::vector<std::string> tokens = f.get_string_array("tokenizer.ggml.tokens");
  if (tokens.empty() || tokens.size() > static_cast<std::size_t>(INT_MAX))
    throw InputError(fmt::format("{}: metadata 'tokenizer.ggml.tokens': {} tokens", src,
                                 tokens.size()));
  const auto& merge_strs = f.get_string_array("tokenizer.ggml.merges");
  std::vector<std::pair<std::string, std::string>> merges;
  merges.reserve(merge_strs.size());
  for (std::size_t k = 0; k < merge_strs.size(); ++k) {
    const std::string& s = merge_strs[k];
    const auto sp = s.find(' ');
    if (sp == std::string::npos || sp == 0 || sp + 1 == s.size() ||
        s.find(' ', sp + 1) != std::string::npos)
      throw InputError(fmt::format("{}: metadata 'tokenizer.ggml.merges'[{}]: got \"{}\", expected "
                                   "two tokens separated by one space",
                                   src, k, s));
    merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
  }

  std::map<std::string, int> specials;
  if (f.has("tokenizer.ggml.token_type")) {
    const auto& types = f.get_int_array("tokenizer.ggml.token_type");
    if (types.size() != tokens.size())
      throw InputError(fmt::format("{}: metadata 'tokenizer.ggml.token_type': {} entries, expected "
                                   "one per token ({})",
                                   src, types.size(), tokens.size()));
    for (std::size_t id = 0; id < types.size(); ++id)
      if (types[id] == 3) specials.emplace(tokens[id], static_cast<int>(id));  // CONTROL
  }
  const auto bos = token_role(f, "tokenizer.ggml.bos_token_id", tokens.size());
  const auto eos = token_role(f, "tokenizer.ggml.eos_token_id", tokens.size());
  return tok::Tokenizer::from_tables(std::move(tokens), std::move(merges), pre,
                                     std::move(specials), src, bos, eos);
}

}  // namespace csweep::model
