#pragma once
// GGUF checkpoint reader: metadata -> ModelConfig, tensors dequantised to float32 under canonical
// names (Llama q/k rows un-permuted from llama.cpp's RoPE layout), tokenizer from metadata.
//
// Architectures are data: a per-architecture table maps llama.cpp tensor names ("blk.{l}.attn_q.
// weight") onto canonical (TransformerLens) parameters with a layout transform per row, and a
// per-architecture key list gives the hyperparameters ("llama.block_count", ...). Supported:
// general.architecture "llama" (RMSNorm, RoPE, SwiGLU, GQA) and "gpt2".
//
// Layout facts the transforms undo:
//  * GGUF dims are fastest-varying first, so a linear weight listed [in, out] is the row-major
//    [out, in] matrix of nn.Linear.
//  * llama.cpp's converter permutes the rows of attn_q / attn_k (weights and biases) within each
//    head from HF's "rotate halves" order into the interleaved pairs its RoPE kernel expects:
//    GGUF row 2*i + j of a head holds HF row j*(d_head/2) + i. The reader applies the inverse (as
//    transformers' GGUF loader does), per query head for attn_q and per key/value head for attn_k.
//  * A missing output.weight means tied embeddings (W_U = W_E^T). GPT-2 converters write a copy of
//    token_embd as output.weight; a byte-identical copy is also treated as tied.
#include <string>

#include "workers/model/weights.hpp"
#include "workers/tokenizer/tokenizer.hpp"

namespace csweep::io {
class GgufFile;
}

namespace csweep::model {

// Loads a *.gguf model. Fills cfg (validated), params (check_params passes), source = path,
// weights_sha256 = SHA-256 of the file, tokenizer_path = path (the tokenizer is in its metadata).
// Throws InputError naming the file, and the tensor or key, on malformed or unsupported input.
LoadedModel load_gguf_model(const std::string& path);

// The model description in a parsed GGUF's metadata (and token_embd's shape for d_vocab).
ModelConfig gguf_config(const io::GgufFile& f);

// Byte-level BPE tokenizer from metadata: tokenizer.ggml.model must be "gpt2"; tokens, merges
// ("a b" pairs in rank order), token_type (3 = control → special token), bos/eos ids, and
// tokenizer.ggml.pre choosing the pre-tokenizer: "gpt-2"/"gpt2" (or absent) → kGPT2, "smollm" →
// kDigitsThenGPT2 (llama.cpp splits \p{N} one by one before the GPT-2 regex, as SmolLM2's
// tokenizer.json does with Digits(individual_digits) then ByteLevel). Other values are rejected
// rather than approximated.
tok::Tokenizer gguf_tokenizer(const io::GgufFile& f);

}  // namespace csweep::model
