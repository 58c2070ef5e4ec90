// csweep inspect --model PATH [--json]: the model's configuration (as every other command logs
// it at load), its parameter counts and its hook points.
#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pipeline/cli/commands.hpp"
#include "workers/model/config.hpp"
#include "workers/model/hooks.hpp"
#include "workers/model/weights.hpp"

namespace csweep::cli {
namespace {

struct InspectOptions {
  std::string model;
  bool json = false;
};

nlohmann::ordered_json config_json(const model::ModelConfig& c) {
  nlohmann::ordered_json j;
  j["family"] = model::to_string(c.family);
  j["name"] = c.name;
  j["n_layers"] = c.n_layers;
  j["n_heads"] = c.n_heads;
  j["n_kv_heads"] = c.n_kv_heads;
  j["d_model"] = c.d_model;
  j["d_head"] = c.d_head;
  j["d_mlp"] = c.d_mlp;
  j["n_ctx"] = c.n_ctx;
  j["d_vocab"] = c.d_vocab;
  j["act_fn"] = model::to_string(c.act_fn);
  j["gated_mlp"] = c.gated_mlp;
  j["norm"] = model::to_string(c.norm);
  j["norm_eps"] = c.norm_eps;
  j["positional"] = model::to_string(c.positional);
  j["rotary_dim"] = c.rotary_dim;
  j["rotary_base"] = c.rotary_base;
  j["parallel_attn_mlp"] = c.parallel_attn_mlp;
  j["tied_embeddings"] = c.tied_embeddings;
  j["attn_bias"] = c.attn_bias;
  j["qkv_bias"] = c.qkv_bias;
  j["mlp_bias"] = c.mlp_bias;
  j["unembed_bias"] = c.unembed_bias;
  j["post_norms"] = c.post_norms;
  j["qk_norm"] = c.qk_norm;
  j["scale_embed"] = c.scale_embed;
  j["attn_scale"] = c.attn_scale;
  j["attn_softcap"] = c.attn_softcap;
  j["final_softcap"] = c.final_softcap;
  j["sliding_window"] = c.sliding_window;
  std::vector<std::string> types;
  for (int l = 0; l < c.n_layers; ++l) types.emplace_back(c.is_sliding(l) ? "sliding" : "full");
  j["layer_types"] = types;
  j["rotary_base_local"] = c.rotary_base_local;
  j["rotary_scale"] = c.rotary_scale;
  return j;
}

void run_inspect(const InspectOptions& opt) {
  const model::LoadedModel m = model::load_model(opt.model);
  std::int64_t loaded = 0;
  for (const auto& [name, t] : m.params) loaded += t.numel();
  const auto hooks = model::hook_names(m.cfg);

  std::string out;
  if (opt.json) {
    nlohmann::ordered_json j;
    j["source"] = m.source;
    j["weights_sha256"] = m.weights_sha256;
    j["tokenizer_path"] = m.tokenizer_path;
    j["config"] = config_json(m.cfg);
    j["n_params_total"] = m.cfg.n_params_total();
    j["n_params_nonembed"] = m.cfg.n_params_nonembed();
    j["n_params_loaded"] = loaded;  // tensors held, incl. a materialised tied unembedding
    j["n_tensors"] = m.params.size();
    j["hook_names"] = hooks;
    out = j.dump(2) + "\n";
  } else {
    out = fmt::format("source: {}\nweights_sha256: {}\ntokenizer_path: {}\n", m.source,
                      m.weights_sha256, m.tokenizer_path.empty() ? "(none)" : m.tokenizer_path);
    out += m.cfg.to_string();
    if (!out.empty() && out.back() != '\n') out += '\n';
    // to_string() already lists n_params_total / n_params_nonembed.
    out += fmt::format("n_params_loaded: {} in {} tensors\nhook_points: {} (e.g. {})\n", loaded,
                       m.params.size(), hooks.size(), model::act_name("z", 0));
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
}

}  // namespace

void add_inspect_command(CLI::App& app) {
  auto opt = std::make_shared<InspectOptions>();
  CLI::App* cmd = app.add_subcommand("inspect", "Print a model's configuration and parameter counts.");
  cmd->add_option("--model", opt->model, "Hugging Face model folder or .gguf file")->required();
  cmd->add_flag("--json", opt->json, "print one JSON object instead of key: value lines");
  cmd->callback([opt] { run_inspect(*opt); });
}

}  // namespace csweep::cli
