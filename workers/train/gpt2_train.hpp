#pragma once
// A differentiable GPT-2 forward pass over parameters in Hugging Face layout, for training the
// default model. HookedTransformer runs under InferenceMode (no autograd), so training needs its
// own forward; a unit test checks that both give the same logits for the same checkpoint.
#include <torch/torch.h>

#include <map>
#include <string>

namespace csweep::train {

struct Gpt2Shape {
  int n_layers = 0, n_heads = 0, d_model = 0, d_mlp = 0, n_ctx = 0, d_vocab = 0;
  double eps = 1e-5;
};

// HF GPT-2 names ("transformer.h.0.attn.c_attn.weight" [d_model, 3 d_model], Conv1D [in, out];
// no lm_head: the unembedding is tied to transformer.wte.weight), initialised as GPT-2 does:
// N(0, 0.02), residual output projections N(0, 0.02 / sqrt(2 n_layers)), biases 0, norms 1.
// Every tensor is a leaf with requires_grad. Uses torch's global generator (seed it first).
std::map<std::string, torch::Tensor> init_gpt2_params(const Gpt2Shape& s);

// tokens [batch, pos] int64 -> logits [batch, pos, d_vocab] (causal attention; right padding
// needs no mask because no real token attends to a later position).
torch::Tensor gpt2_logits(const std::map<std::string, torch::Tensor>& p, const Gpt2Shape& s,
                          const torch::Tensor& tokens);

// Little-endian float32 safetensors file of `tensors` (names sorted), written atomically.
void write_safetensors(const std::string& path, const std::map<std::string, torch::Tensor>& tensors);

}  // namespace csweep::train
