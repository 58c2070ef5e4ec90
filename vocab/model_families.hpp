#pragma once
// Model families: their names (job spec `config.family`, `csweep inspect`) and their presets —
// the architecture constants of the family and the defaults its reference implementation uses
// for every value a checkpoint may omit. Every config reader (workers/io/hf_config.cpp, GGUF
// metadata in workers/model/gguf_checkpoint.cpp, the job spec's [models.config]) starts from
// model_preset(), so a key missing from one source means the same thing in all of them.
//
// Defaults follow the Hugging Face transformers config classes (GPT2Config, LlamaConfig), which
// define what an absent config.json key means:
//   gpt2:  LayerNorm eps 1e-5, n_ctx 1024, d_vocab 50257, gelu_new, learned positions, biases,
//          tied embeddings
//   llama: RMSNorm eps 1e-6, n_ctx 2048, d_vocab 32000, gated SiLU MLP, RoPE theta 10000 over the
//          whole head, no biases, untied embeddings
//   qwen2: as llama, plus q/k/v biases (no o bias); n_ctx 32768, d_vocab 151936
//   gpt_neox: LayerNorm eps 1e-5, n_ctx 2048, d_vocab 50432, exact gelu, RoPE theta 10000 over
//          rotary_pct 0.25 of the head, parallel attention + MLP, biases, untied embeddings
//   gemma2: RMSNorm (1 + w) eps 1e-6 before and after attention and MLP, n_ctx 8192, d_vocab
//          256000, d_head 256, GeGLU (gelu tanh), RoPE theta 10000, embeddings * sqrt(d_model),
//          scores / sqrt(256), attention / final soft-caps 50 / 30, sliding window 4096 on even
//          layers, no biases, tied embeddings
//   gemma3: as gemma2 without soft-capping, plus QK-norm; n_ctx 131072, d_vocab 262208, RoPE
//          theta 1e6 (global) / 10000 (local), local layers but every sixth
// A new family is one Term in model_families() plus its preset, then its key table in hf_config
// and gguf_checkpoint and its forward pass in workers/model.
#include "vocab/vocabulary.hpp"
#include "workers/model/config.hpp"

namespace csweep::vocab {

const Vocabulary<model::Family>& model_families();
// The family's preset: the fields above set, sizes (n_layers, n_heads, d_model, d_mlp, d_head,
// n_kv_heads, rotary_dim) left 0 for the reader to fill.
model::ModelConfig model_preset(model::Family f);

}  // namespace csweep::vocab
