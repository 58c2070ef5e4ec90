#pragma once
// Hugging Face config.json -> ModelConfig, torch-free (fuzzed by tests/fuzz/fuzz_config.cpp).
//
// Supported model_type values and the keys read:
//   gpt2:  n_layer, n_head, n_embd, n_positions (or n_ctx), vocab_size, layer_norm_epsilon,
//          activation_function, n_inner (null -> 4 * n_embd), tie_word_embeddings (default true)
//   llama: num_hidden_layers, num_attention_heads, num_key_value_heads, hidden_size,
//          intermediate_size, max_position_embeddings, rms_norm_eps, rope_theta (or
//          rope_parameters.rope_theta), vocab_size, tie_word_embeddings (default false),
//          head_dim, attention_bias, mlp_bias, hidden_act
// Features that would change the numerics but are not implemented (RoPE scaling, GPT-2's
// per-layer attention scaling) are rejected rather than ignored.
#include <string>

#include "workers/model/config.hpp"

namespace csweep::io {

// `source` names the file in errors. The result is validated (ModelConfig::validate).
// Throws InputError naming `source` and the field on malformed JSON, a missing or mistyped field,
// an unknown model_type or an unsupported feature.
model::ModelConfig parse_hf_config(const std::string& json_text, const std::string& source);

// Reads and parses the file at `path` (typically "<model dir>/config.json").
model::ModelConfig read_hf_config(const std::string& path);

}  // namespace csweep::io
