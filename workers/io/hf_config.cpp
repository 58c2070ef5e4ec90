#include "workers/io/hf_config.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "core/files.hpp"
#include "vocab/model_families.hpp"

namespace csweep::io {

using model::ModelConfig;
using nlohmann::json;

namespace {

// ---- Key tables: which config.json key fills which ModelConfig field, per model_type. ----------
struct IntKey {
  const char* key;
  int ModelConfig::*field;
  bool required;  // else the family preset's value stays when the key is absent or null
};
struct FloatKey {
  const char* key;
  double ModelConfig::*field;
};
struct BoolKey {
  const char* key;
  bool ModelConfig::*field;
};

struct FamilyKeys {
  const char* model_type;
  ModelConfig preset;  // vocab::model_preset: constants + defaults of the transformers config class
  std::vector<IntKey> ints;
  std::vector<FloatKey> floats;
  std::vector<BoolKey> bools;
  const char* act_key;
  // Fraction of each head that RoPE rotates when the config names none (GPTNeoXConfig: 0.25).
  double partial_rotary = 1.0;
};

const std::vector<FamilyKeys>& family_table() {
  static const std::vector<FamilyKeys> t = {
      {"gpt2",
       vocab::model_preset(model::Family::kGPT2),
       {{"n_layer", &ModelConfig::n_layers, true},
        {"n_head", &ModelConfig::n_heads, true},
        {"n_embd", &ModelConfig::d_model, true},
        {"n_ctx", &ModelConfig::n_ctx, false},  // older configs; n_positions wins when both exist
        {"n_positions", &ModelConfig::n_ctx, false},
        {"vocab_size", &ModelConfig::d_vocab, true},
        {"n_inner", &ModelConfig::d_mlp, false}},
       {{"layer_norm_epsilon", &ModelConfig::norm_eps}},
       {{"tie_word_embeddings", &ModelConfig::tied_embeddings}},
       "activation_function"},
      {"llama",
       vocab::model_preset(model::Family::kLlama),
       {{"num_hidden_layers", &ModelConfig::n_layers, true},
        {"num_attention_heads", &ModelConfig::n_heads, true},
        {"num_key_value_heads", &ModelConfig::n_kv_heads, false},
        {"hidden_size", &ModelConfig::d_model, true},
        {"intermediate_size", &ModelConfig::d_mlp, true},
        {"max_position_embeddings", &ModelConfig::n_ctx, false},
        {"vocab_size", &ModelConfig::d_vocab, true},
        {"head_dim", &ModelConfig::d_head, false}},
       {{"rms_norm_eps", &ModelConfig::norm_eps}, {"rope_theta", &ModelConfig::rotary_base}},
       {{"tie_word_embeddings", &ModelConfig::tied_embeddings},
        {"attention_bias", &ModelConfig::attn_bias},
        {"mlp_bias", &ModelConfig::mlp_bias}},
       "hidden_act"},
      // Qwen2Config has no attention_bias / mlp_bias keys: q/k/v biases are part of the family.
      {"qwen2",
       vocab::model_preset(model::Family::kQwen2),
       {{"num_hidden_layers", &ModelConfig::n_layers, true},
        {"num_attention_heads", &ModelConfig::n_heads, true},
        {"num_key_value_heads", &ModelConfig::n_kv_heads, false},
        {"hidden_size", &ModelConfig::d_model, true},
        {"intermediate_size", &ModelConfig::d_mlp, true},
        {"max_position_embeddings", &ModelConfig::n_ctx, false},
        {"vocab_size", &ModelConfig::d_vocab, true},
        {"head_dim", &ModelConfig::d_head, false}},
       {{"rms_norm_eps", &ModelConfig::norm_eps}, {"rope_theta", &ModelConfig::rotary_base}},
       {{"tie_word_embeddings", &ModelConfig::tied_embeddings}},
       "hidden_act"},
      {"gpt_neox",
       vocab::model_preset(model::Family::kGPTNeoX),
       {{"num_hidden_layers", &ModelConfig::n_layers, true},
        {"num_attention_heads", &ModelConfig::n_heads, true},
        {"hidden_size", &ModelConfig::d_model, true},
        {"intermediate_size", &ModelConfig::d_mlp, true},
        {"max_position_embeddings", &ModelConfig::n_ctx, false},
        {"vocab_size", &ModelConfig::d_vocab, true}},
       {{"layer_norm_eps", &ModelConfig::norm_eps},
        {"rotary_emb_base", &ModelConfig::rotary_base},  // older configs
        {"rope_theta", &ModelConfig::rotary_base}},
       {{"tie_word_embeddings", &ModelConfig::tied_embeddings},
        {"use_parallel_residual", &ModelConfig::parallel_attn_mlp},
        {"attention_bias", &ModelConfig::attn_bias}},
       "hidden_act",
       0.25},
  };
  return t;
}

// "\"gpt2\", \"llama\" or ...": every model_type of family_table(), for error messages.
std::string supported_model_types() {
  const auto& t = family_table();
  std::string s;
  for (std::size_t i = 0; i < t.size(); ++i)
    s += fmt::format("{}\"{}\"", i == 0 ? "" : (i + 1 == t.size() ? " or " : ", "), t[i].model_type);
  return s;
}


struct ActName {
  const char* name;
  model::ActFn act;
};
// gelu_pytorch_tanh is the same tanh approximation as gelu_new.
constexpr ActName kActNames[] = {{"gelu_new", model::ActFn::kGeluNew},
                                 {"gelu_pytorch_tanh", model::ActFn::kGeluNew},
                                 {"gelu", model::ActFn::kGelu},
                                 {"relu", model::ActFn::kRelu},
                                 {"silu", model::ActFn::kSilu},
                                 {"swish", model::ActFn::kSilu}};

std::string field_where(const std::string& source, const std::string& key) {
  return fmt::format("{}: field \"{}\"", source, key);
}

int get_int(const json& j, const std::string& key, const std::string& source) {
  if (!j.is_number_integer())
    throw input_error(field_where(source, key), "not an integer", j.dump(), "an integer");
  const auto v = j.get<std::int64_t>();
  if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max())
    throw input_error(field_where(source, key), "integer out of range", j.dump());
  return static_cast<int>(v);
}

double get_float(const json& j, const std::string& key, const std::string& source) {
  if (!j.is_number())
    throw input_error(field_where(source, key), "not a number", j.dump(), "a number");
  const double v = j.get<double>();
  if (!std::isfinite(v)) throw input_error(field_where(source, key), "not finite", j.dump());
  return v;
}

bool get_bool(const json& j, const std::string& key, const std::string& source) {
  if (!j.is_boolean())
    throw input_error(field_where(source, key), "not a boolean", j.dump(), "true or false");
  return j.get<bool>();
}

const json* find_non_null(const json& j, const char* key) {
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}

// Qwen2's sliding-window attention (use_sliding_window) masks keys beyond the window on some
// layers; only full causal attention is implemented, so a config that turns it on is refused.
void check_no_sliding_window(const json& j, const std::string& source) {
  const json* s = find_non_null(j, "use_sliding_window");
  if (s && s->is_boolean() && s->get<bool>())
    throw input_error(field_where(source, "use_sliding_window"), "unsupported value", "true",
                      "false (sliding-window attention is not implemented)");
}

// RoPE variants (llama3, linear, dynamic, yarn...) change the frequencies; only the plain one is
// implemented, so anything else is refused.
void check_rope_type(const json& j, const char* key, const std::string& source) {
  const json* r = find_non_null(j, key);
  if (!r) return;
  if (!r->is_object()) throw input_error(field_where(source, key), "not an object", r->dump());
  for (const char* type_key : {"rope_type", "type"}) {
    const json* t = find_non_null(*r, type_key);
    if (t && (!t->is_string() || t->get<std::string>() != "default"))
      throw input_error(field_where(source, key), "unsupported RoPE scaling", t->dump(),
                        "\"default\" (or no scaling)");
  }
}

}  // namespace

ModelConfig parse_hf_config(const std::string& json_text, const std::string& source) {
  json j;
  try {
    j = json::parse(json_text);
  } catch (const json::exception& e) {
    throw input_error(source, fmt::format("not valid JSON: {}", e.what()));
  }
  if (!j.is_object()) throw input_error(source, "not a JSON object", j.type_name(), "object");

  const json* mt = find_non_null(j, "model_type");
  if (!mt) throw input_error(source, "missing field \"model_type\"", {}, supported_model_types());
  if (!mt->is_string())
    throw input_error(field_where(source, "model_type"), "not a string", mt->dump());
  const std::string model_type = mt->get<std::string>();
  const FamilyKeys* fam = nullptr;
  for (const auto& f : family_table())
    if (model_type == f.model_type) fam = &f;
  if (!fam)
    throw input_error(field_where(source, "model_type"), "unsupported model_type",
                      "\"" + model_type + "\"", supported_model_types());

  ModelConfig c = fam->preset;
  for (const auto& k : fam->ints) {
    const json* v = find_non_null(j, k.key);
    if (v) c.*k.field = get_int(*v, k.key, source);
    else if (k.required) throw input_error(source, fmt::format("missing field \"{}\"", k.key));
  }
  for (const auto& k : fam->floats)
    if (const json* v = find_non_null(j, k.key)) c.*k.field = get_float(*v, k.key, source);
  for (const auto& k : fam->bools)
    if (const json* v = find_non_null(j, k.key)) c.*k.field = get_bool(*v, k.key, source);
  if (const json* v = find_non_null(j, fam->act_key)) {
    if (!v->is_string())
      throw input_error(field_where(source, fam->act_key), "not a string", v->dump());
    const std::string a = v->get<std::string>();
    bool found = false;
    for (const auto& n : kActNames)
      if (a == n.name) c.act_fn = n.act, found = true;
    if (!found)
      throw input_error(field_where(source, fam->act_key), "unsupported activation",
                        "\"" + a + "\"", "gelu_new, gelu_pytorch_tanh, gelu, relu or silu");
  }

  // Derived fields, per family.
  if (c.family == model::Family::kGPT2) {
    if (c.d_mlp == 0) c.d_mlp = 4 * c.d_model;  // n_inner null or absent
    c.n_kv_heads = c.n_heads;
    if (c.n_heads > 0 && c.d_model % c.n_heads != 0)
      throw input_error(source, "n_embd is not a multiple of n_head",
                        fmt::format("n_embd={}, n_head={}", c.d_model, c.n_heads));
    c.d_head = c.n_heads > 0 ? c.d_model / c.n_heads : 0;
    const json* s = find_non_null(j, "scale_attn_weights");
    if (s && s->is_boolean() && !s->get<bool>())
      throw input_error(field_where(source, "scale_attn_weights"), "unsupported value", "false",
                        "true");
    s = find_non_null(j, "scale_attn_by_inverse_layer_idx");
    if (s && s->is_boolean() && s->get<bool>())
      throw input_error(field_where(source, "scale_attn_by_inverse_layer_idx"),
                        "unsupported value", "true", "false");
  } else {
    if (c.n_kv_heads == 0) c.n_kv_heads = c.n_heads;
    if (c.d_head == 0) {
      if (c.n_heads > 0 && c.d_model % c.n_heads != 0)
        throw input_error(source, "hidden_size is not a multiple of num_attention_heads",
                          fmt::format("hidden_size={}, num_attention_heads={}", c.d_model,
                                      c.n_heads));
      c.d_head = c.n_heads > 0 ? c.d_model / c.n_heads : 0;
    }
    if (c.family == model::Family::kQwen2) check_no_sliding_window(j, source);
    // Newer transformers nest rope_theta (and the RoPE variant) in rope_parameters.
    check_rope_type(j, "rope_scaling", source);
    check_rope_type(j, "rope_parameters", source);
    if (const json* rp = find_non_null(j, "rope_parameters"))
      if (const json* th = find_non_null(*rp, "rope_theta"))
        c.rotary_base = get_float(*th, "rope_parameters.rope_theta", source);
    // The rotated fraction: partial_rotary_factor (top level or in rope_parameters), or GPT-NeoX's
    // older rotary_pct; the later key wins.
    double partial = fam->partial_rotary;
    if (const json* pf = find_non_null(j, "rotary_pct")) partial = get_float(*pf, "rotary_pct", source);
    if (const json* pf = find_non_null(j, "partial_rotary_factor"))
      partial = get_float(*pf, "partial_rotary_factor", source);
    if (const json* rp = find_non_null(j, "rope_parameters"))
      if (const json* pf = find_non_null(*rp, "partial_rotary_factor"))
        partial = get_float(*pf, "rope_parameters.partial_rotary_factor", source);
    if (!(partial > 0.0 && partial <= 1.0))
      throw input_error(field_where(source, "partial_rotary_factor"), "out of range",
                        fmt::format("{}", partial), "0 < factor <= 1");
    c.rotary_dim = static_cast<int>(c.d_head * partial);
  }
  c.validate(source);
  return c;
}

ModelConfig read_hf_config(const std::string& path) {
  return parse_hf_config(read_file_text(path), path);
}

}  // namespace csweep::io
