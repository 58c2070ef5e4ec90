#pragma once
// A loaded checkpoint: config + parameters under canonical (TransformerLens) names and shapes,
// float32 on the CPU. Produced by the readers (hf_checkpoint, gguf_checkpoint), consumed by
// HookedTransformer. Readers shape-check every tensor against canonical_params(cfg).
#include <torch/torch.h>

#include <map>
#include <string>

#include "workers/model/config.hpp"

namespace csweep::model {

struct LoadedModel {
  ModelConfig cfg;
  std::map<std::string, torch::Tensor> params;  // canonical name -> float32 CPU tensor
  std::string source;          // path it was loaded from
  std::string weights_sha256;  // of the weights file(s) (concatenated hashes for shards)
  std::string tokenizer_path;  // the model's own tokenizer files, "" if none
};

// Loads a model by path: a directory with config.json (Hugging Face) or a *.gguf file.
// Throws InputError naming the file on any malformed input.
LoadedModel load_model(const std::string& path);

// Checks `params` against canonical_params(cfg): every required name present, every shape
// exact, nothing unknown. `source` names the checkpoint in errors.
void check_params(const ModelConfig& cfg, const std::map<std::string, torch::Tensor>& params,
                  const std::string& source);

}  // namespace csweep::model
