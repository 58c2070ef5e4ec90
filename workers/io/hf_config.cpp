#include "workers/io/hf_config.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
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

// The integer keys of LlamaConfig, which Qwen2Config, Gemma2Config and Gemma3TextConfig share.
std::vector<IntKey> llama_ints() {
  return {{"num_hidden_layers", &ModelConfig::n_layers, true},
          {"num_attention_heads", &ModelConfig::n_heads, true},
          {"num_key_value_heads", &ModelConfig::n_kv_heads, false},
          {"hidden_size", &ModelConfig::d_model, true},
          {"intermediate_size", &ModelConfig::d_mlp, true},
          {"max_position_embeddings", &ModelConfig::n_ctx, false},
          {"vocab_size", &ModelConfig::d_vocab, true},
          {"head_dim", &ModelConfig::d_head, false}};
}

template <class K>
std::vector<K> with_keys(std::vector<K> base, std::initializer_list<K> more) {
  base.insert(base.end(), more);
  return base;
}

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
       llama_ints(),
       {{"rms_norm_eps", &ModelConfig::norm_eps}, {"rope_theta", &ModelConfig::rotary_base}},
       {{"tie_word_embeddings", &ModelConfig::tied_embeddings},
        {"attention_bias", &ModelConfig::attn_bias},
        {"mlp_bias", &ModelConfig::mlp_bias}},
       "hidden_act"},
      // Qwen2Config has no attention_bias / mlp_bias keys: q/k/v biases are part of the family.
      {"qwen2",
       vocab::model_preset(model::Family::kQwen2),
       llama_ints(),
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
      // Gemma2Config / Gemma3TextConfig (Gemma3ForCausalLM's config; "gemma3" is the multimodal
      // wrapper). Soft-caps, query_pre_attn_scalar, layer types and RoPE are read by
      // read_gemma_keys: a null soft-cap means off, not the preset's value.
      {"gemma2",
       vocab::model_preset(model::Family::kGemma2),
       with_keys(llama_ints(), {{"sliding_window", &ModelConfig::sliding_window, false}}),
       {{"rms_norm_eps", &ModelConfig::norm_eps}, {"rope_theta", &ModelConfig::rotary_base}},
       {{"tie_word_embeddings", &ModelConfig::tied_embeddings},
        {"attention_bias", &ModelConfig::attn_bias}},
       "hidden_activation"},
      {"gemma3_text",
       vocab::model_preset(model::Family::kGemma3),
       with_keys(llama_ints(), {{"sliding_window", &ModelConfig::sliding_window, false}}),
       {{"rms_norm_eps", &ModelConfig::norm_eps},
        {"rope_theta", &ModelConfig::rotary_base},  // older configs; rope_parameters wins
        {"rope_local_base_freq", &ModelConfig::rotary_base_local}},
       {{"tie_word_embeddings", &ModelConfig::tied_embeddings},
        {"attention_bias", &ModelConfig::attn_bias}},
       "hidden_activation"},
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

bool is_gemma(model::Family f) { return f == model::Family::kGemma2 || f == model::Family::kGemma3; }

// One RoPE entry of Gemma 3's rope_parameters (or its older rope_scaling): theta if given, and
// the linear scaling factor, the only variant besides the plain one that is implemented.
void read_gemma_rope(const json& r, const std::string& key, const std::string& source, double* theta,
                     double* linear_factor) {
  if (!r.is_object()) throw input_error(field_where(source, key), "not an object", r.dump());
  std::string type = "default";
  for (const char* type_key : {"rope_type", "type"})
    if (const json* t = find_non_null(r, type_key)) {
      if (!t->is_string()) throw input_error(field_where(source, key + "." + type_key), "not a string", t->dump());
      type = t->get<std::string>();
    }
  if (type == "linear" && linear_factor) {
    const json* f = find_non_null(r, "factor");
    if (!f) throw input_error(field_where(source, key), "linear RoPE scaling without \"factor\"");
    *linear_factor = get_float(*f, key + ".factor", source);
  } else if (type != "default") {
    throw input_error(field_where(source, key), "unsupported RoPE scaling", "\"" + type + "\"",
                      linear_factor ? "\"default\" or \"linear\"" : "\"default\"");
  }
  if (theta)
    if (const json* th = find_non_null(r, "rope_theta")) *theta = get_float(*th, key + ".rope_theta", source);
}

// Gemma 2 / 3 keys that need more than a table entry.
void read_gemma_keys(const json& j, ModelConfig& c, const std::string& source) {
  const bool g3 = c.family == model::Family::kGemma3;
  // A soft-cap key present and null turns capping off (the config class's default applies only
  // when the key is absent). Gemma3Attention never passes attn_logit_softcapping to its attention
  // function, so for Gemma 3 only the final cap is read.
  auto softcap = [&](const char* key, double* field) {
    auto it = j.find(key);
    if (it == j.end()) return;
    *field = it->is_null() ? 0.0 : get_float(*it, key, source);
    if (*field < 0.0)
      throw input_error(field_where(source, key), "out of range", it->dump(), "a cap > 0, or null");
  };
  softcap("final_logit_softcapping", &c.final_softcap);
  if (!g3) softcap("attn_logit_softcapping", &c.attn_softcap);
  if (const json* q = find_non_null(j, "query_pre_attn_scalar")) {
    const double v = get_float(*q, "query_pre_attn_scalar", source);
    if (!(v > 0.0))
      throw input_error(field_where(source, "query_pre_attn_scalar"), "out of range", q->dump(), "> 0");
    c.attn_scale = std::sqrt(v);  // HF: scores * query_pre_attn_scalar ** -0.5
  }
  if (const json* b = find_non_null(j, "use_bidirectional_attention"))
    if (get_bool(*b, "use_bidirectional_attention", source))
      throw input_error(field_where(source, "use_bidirectional_attention"), "unsupported value",
                        "true", "false (only causal attention is implemented)");

  // Which layers are local: layer_types, else the config class's default pattern (Gemma 2:
  // even layers; Gemma 3: all but every sliding_window_pattern-th, default 6).
  c.sliding_layers.assign(static_cast<std::size_t>(std::max(c.n_layers, 0)), false);
  if (const json* lt = find_non_null(j, "layer_types")) {
    if (!lt->is_array() || static_cast<int>(lt->size()) != c.n_layers)
      throw input_error(field_where(source, "layer_types"), "not one entry per layer", lt->dump(),
                        fmt::format("an array of {} strings", c.n_layers));
    for (std::size_t i = 0; i < lt->size(); ++i) {
      const json& t = (*lt)[i];
      const std::string v = t.is_string() ? t.get<std::string>() : t.dump();
      if (v != "sliding_attention" && v != "full_attention")
        throw input_error(field_where(source, fmt::format("layer_types[{}]", i)), "unsupported layer type",
                          t.dump(), "\"sliding_attention\" or \"full_attention\"");
      c.sliding_layers[i] = v == "sliding_attention";
    }
  } else {
    int pattern = g3 ? 6 : 2;
    if (const json* p = find_non_null(j, "sliding_window_pattern")) pattern = get_int(*p, "sliding_window_pattern", source);
    if (pattern <= 0)
      throw input_error(field_where(source, "sliding_window_pattern"), "out of range",
                        std::to_string(pattern), ">= 1");
    for (int i = 0; i < c.n_layers; ++i) c.sliding_layers[static_cast<std::size_t>(i)] = (i + 1) % pattern != 0;
  }
  bool any_local = false;
  for (bool b : c.sliding_layers) any_local = any_local || b;
  if (any_local && c.sliding_window <= 0)
    throw input_error(field_where(source, "sliding_window"), "out of range",
                      std::to_string(c.sliding_window), "> 0 when some layer is sliding_attention");

  // RoPE. Gemma 2: one theta for every layer (the generic rope_theta / rope_parameters keys).
  // Gemma 3: rope_parameters {"full_attention": {...}, "sliding_attention": {...}}, or the older
  // rope_theta (global) + rope_local_base_freq (local) + rope_scaling (global only).
  c.rotary_dim = c.d_head;
  if (!g3) {
    check_rope_type(j, "rope_scaling", source);
    check_rope_type(j, "rope_parameters", source);
    if (const json* rp = find_non_null(j, "rope_parameters"))
      if (const json* th = find_non_null(*rp, "rope_theta"))
        c.rotary_base = get_float(*th, "rope_parameters.rope_theta", source);
    return;
  }
  if (const json* rs = find_non_null(j, "rope_scaling"))
    read_gemma_rope(*rs, "rope_scaling", source, nullptr, &c.rotary_scale);
  if (const json* rp = find_non_null(j, "rope_parameters")) {
    if (!rp->is_object()) throw input_error(field_where(source, "rope_parameters"), "not an object", rp->dump());
    if (const json* full = find_non_null(*rp, "full_attention"))
      read_gemma_rope(*full, "rope_parameters.full_attention", source, &c.rotary_base, &c.rotary_scale);
    if (const json* slide = find_non_null(*rp, "sliding_attention"))
      read_gemma_rope(*slide, "rope_parameters.sliding_attention", source, &c.rotary_base_local, nullptr);
    if (!rp->contains("full_attention") && !rp->contains("sliding_attention"))
      read_gemma_rope(*rp, "rope_parameters", source, &c.rotary_base, &c.rotary_scale);
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
    if (is_gemma(c.family)) {
      read_gemma_keys(j, c, source);
      c.validate(source);
      return c;
    }
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
