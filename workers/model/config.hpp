#pragma once
// ModelConfig: the one description of a model's architecture. Every checkpoint reader fills it,
// the transformer reads it, and `csweep inspect` prints it. Field comments give GPT-2 small's value.
#include <cstdint>
#include <string>
#include <vector>

namespace csweep::model {

enum class Family { kGPT2, kLlama, kQwen2, kGPTNeoX, kGemma2, kGemma3 };
enum class NormKind { kLayerNorm, kRMSNorm };
enum class PosKind { kLearned, kRotary };
enum class ActFn { kGeluNew, kGelu, kSilu, kRelu };

struct ModelConfig {
  Family family = Family::kGPT2;
  std::string name;                 // e.g. "gpt2" (from the folder or metadata)
  int n_layers = 0;                 // e.g. 12
  int n_heads = 0;                  // e.g. 12 (query heads)
  int n_kv_heads = 0;               // e.g. 12 (== n_heads unless grouped-query attention)
  int d_model = 0;                  // e.g. 768
  int d_head = 0;                   // e.g. 64
  int d_mlp = 0;                    // e.g. 3072
  int n_ctx = 0;                    // e.g. 1024 (max positions)
  int d_vocab = 0;                  // e.g. 50257
  ActFn act_fn = ActFn::kGeluNew;   // gelu_new for GPT-2, silu (gated) for Llama
  bool gated_mlp = false;           // SwiGLU: W_gate alongside W_in
  NormKind norm = NormKind::kLayerNorm;
  double norm_eps = 1e-5;           // LayerNorm / RMSNorm epsilon
  PosKind positional = PosKind::kLearned;
  int rotary_dim = 0;               // e.g. d_head for Llama; 0 when not rotary
  double rotary_base = 10000.0;     // RoPE theta
  bool parallel_attn_mlp = false;   // GPT-NeoX: attention and MLP both read resid_pre
  bool tied_embeddings = true;      // unembedding == embedding^T in the checkpoint
  bool attn_bias = true;            // q/k/v/o biases present (GPT-2) or zero (Llama)
  bool qkv_bias = false;            // q/k/v biases present without an o bias (Qwen2)
  bool mlp_bias = true;
  bool unembed_bias = false;        // b_U present in the checkpoint

  // Gemma 2 / 3 (all off for the other families). Gemma's RMSNorm multiplies by (1 + w): the
  // canonical norm weights (ln1.w, ln1_post.w, ln2.w, ln2_post.w, attn.q_norm.w, attn.k_norm.w,
  // ln_final.w) hold that effective multiplier 1 + w, as TransformerLens's converted state dict
  // and llama.cpp's GGUF files (convert_hf_to_gguf adds the 1) store them.
  bool post_norms = false;          // ln1_post on attention's output, ln2_post on the MLP's
  bool qk_norm = false;             // Gemma 3: RMSNorm over d_head on q and k, before RoPE
  bool scale_embed = false;         // embeddings * sqrt(d_model), rounded to the compute dtype
  double attn_scale = 0.0;          // scores divided by this; 0 = sqrt(d_head)
                                    // (Gemma: sqrt(query_pre_attn_scalar))
  double attn_softcap = 0.0;        // scores -> cap * tanh(scores / cap) before masking; 0 = off
  double final_softcap = 0.0;       // logits -> cap * tanh(logits / cap); 0 = off
  int sliding_window = 0;           // local layers: query q sees keys k with q - k < window
  std::vector<bool> sliding_layers; // per layer, true = local (sliding-window); empty = all global
  double rotary_base_local = 0.0;   // RoPE theta of local layers; 0 = rotary_base
  double rotary_scale = 1.0;        // linear RoPE scaling of global layers (angles / factor)

  bool is_sliding(int layer) const {
    return sliding_window > 0 && layer >= 0 && layer < static_cast<int>(sliding_layers.size()) &&
           sliding_layers[static_cast<std::size_t>(layer)];
  }

  // Derived, validated once: throws InputError naming `source` when fields are inconsistent.
  void validate(const std::string& source) const;
  std::int64_t n_params_nonembed() const;  // weights in blocks + final norm
  std::int64_t n_params_total() const;
  std::string to_string() const;           // multi-line, "key: value" per field
};

const char* to_string(Family f);
const char* to_string(NormKind k);
const char* to_string(PosKind k);
const char* to_string(ActFn a);

// Canonical parameter table: TransformerLens state-dict names and shapes for this config
// (e.g. "blocks.0.attn.W_Q" [n_heads, d_model, d_head]). Every reader maps its checkpoint's names
// onto this list and checks each tensor's shape against it; optional entries may be absent
// (biases of a bias-free family are then zero). One source of truth for the model's structure.
struct ParamSpec {
  std::string name;
  std::vector<std::int64_t> shape;
  bool optional = false;
};
std::vector<ParamSpec> canonical_params(const ModelConfig& cfg);

}  // namespace csweep::model
