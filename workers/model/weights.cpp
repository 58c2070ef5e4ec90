#include "workers/model/weights.hpp"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <set>

#include "core/error.hpp"
#include "workers/io/safetensors.hpp"
#include "workers/model/gguf_checkpoint.hpp"
#include "workers/model/hf_checkpoint.hpp"

namespace csweep::model {

namespace fs = std::filesystem;

LoadedModel load_model(const std::string& path) {
  LoadedModel m;
  const bool is_gguf = path.size() >= 5 && path.compare(path.size() - 5, 5, ".gguf") == 0;
  if (fs::is_directory(path) && fs::exists(fs::path(path) / "config.json")) {
    m = load_hf_model(path);
  } else if (is_gguf && fs::is_regular_file(path)) {
    m = load_gguf_model(path);
  } else if (fs::is_directory(path)) {
    throw input_error(path, "model folder has no config.json", {},
                      "a Hugging Face folder (config.json + model.safetensors) or a .gguf file");
  } else if (!fs::exists(path)) {
    throw input_error(path, "model path does not exist");
  } else {
    throw input_error(path, "unrecognised model path", {},
                      "a Hugging Face folder (config.json + model.safetensors) or a .gguf file");
  }
  // One line at info (a sweep loads a model on every rank); the full config at debug.
  spdlog::info("loaded model '{}' ({}, {} layers x {} heads, d_model {}, {} parameters) from {}",
               m.cfg.name, to_string(m.cfg.family), m.cfg.n_layers, m.cfg.n_heads, m.cfg.d_model,
               m.cfg.n_params_total(), m.source);
  spdlog::debug("model config of {} (weights sha256 {}):\n{}", m.source, m.weights_sha256,
                m.cfg.to_string());
  return m;
}

void check_params(const ModelConfig& cfg, const std::map<std::string, torch::Tensor>& params,
                  const std::string& source) {
  std::set<std::string> known;
  for (const auto& spec : canonical_params(cfg)) {
    known.insert(spec.name);
    auto it = params.find(spec.name);
    if (it == params.end()) {
      if (spec.optional) continue;
      throw input_error(source, fmt::format("missing parameter \"{}\"", spec.name), {},
                        "shape " + io::shape_to_string(spec.shape));
    }
    const torch::Tensor& t = it->second;
    const std::vector<std::int64_t> got(t.sizes().begin(), t.sizes().end());
    if (got != spec.shape)
      throw input_error(fmt::format("{}: parameter \"{}\"", source, spec.name), "shape mismatch",
                        io::shape_to_string(got), io::shape_to_string(spec.shape));
    if (t.scalar_type() != torch::kFloat32 || !t.device().is_cpu())
      throw input_error(fmt::format("{}: parameter \"{}\"", source, spec.name),
                        "not a float32 CPU tensor", std::string(c10::toString(t.scalar_type())),
                        "Float");
  }
  for (const auto& [name, t] : params)
    if (!known.count(name))
      throw input_error(fmt::format("{}: parameter \"{}\"", source, name),
                        fmt::format("not part of a {} model with this config", to_string(cfg.family)));
}

}  // namespace csweep::model
