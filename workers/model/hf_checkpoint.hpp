#pragma once
// Hugging Face model folder reader: config.json + model.safetensors, or a sharded checkpoint
// (model.safetensors.index.json whose "weight_map" names a shard per tensor). F32/F16/BF16/F64
// tensors become float32 CPU tensors under canonical (TransformerLens) names.
//
// HF names are mapped by a per-family name table (hf_checkpoint.cpp) with a layout transform per
// row (GPT-2 Conv1D weights are [in, out] and c_attn holds Q|K|V; nn.Linear weights are
// [out, in]). Both the LM-head layout ("transformer.h.0...", "model.layers.0...") and the bare
// base-model layout ("h.0...", "layers.0...") are accepted; non-parameter buffers (GPT-2's
// attn.bias / attn.masked_bias, old Llama rotary inv_freq) are ignored. With tied embeddings
// the unembedding is embed.W_E^T, as in transformers (a stored lm_head.weight is then ignored).
//
// Every tensor is shape-checked before it is transformed; errors are InputError naming the file,
// the tensor, the expected and the actual shape. A tensor the config does not call for, or a
// required tensor that is missing, is an error (config/weights disagreement).
#include <string>

#include "workers/model/weights.hpp"

namespace csweep::model {

// `dir` is the model folder. Fills cfg (validated), params (check_params passes), source,
// weights_sha256 (of model.safetensors; for shards the per-shard hashes joined by ',' in file-name
// order) and tokenizer_path (= dir when it holds tokenizer.json, vocab.json + merges.txt, or
// encoder.json + vocab.bpe; else "").
LoadedModel load_hf_model(const std::string& dir);

}  // namespace csweep::model
