#include "pipeline/job_spec.hpp"

#include <fmt/ranges.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <sstream>
#include <toml++/toml.h>

#include "core/error.hpp"
#include "core/files.hpp"
#include "core/paths.hpp"
#include "vocab/model_families.hpp"
#include "vocab/names.hpp"
#include "vocab/tasks.hpp"
#include "workers/tasks/task.hpp"
#include "workers/io/hf_config.hpp"

namespace csweep::pipeline {
namespace {

// ---- Locations and values for error messages ------------------------------------------------------

class Spec {
 public:
  explicit Spec(std::string file) : file_(std::move(file)) {}

  std::string at(const toml::node& n, const std::string& key) const {
    const auto line = n.source().begin.line;
    return line ? fmt::format("{}:{}: {}", file_, line, key) : fmt::format("{}: {}", file_, key);
  }
  std::string at_line(std::size_t line, const std::string& key) const {
    return fmt::format("{}:{}: {}", file_, line, key);
  }
  const std::string& file() const { return file_; }

 private:
  std::string file_;
};

std::string show(const toml::node& n) {
  std::ostringstream ss;
  if (n.is_string()) {
    ss << '"' << *n.value<std::string>() << '"';
  } else if (n.is_table()) {
    ss << "a table";
  } else {
    n.visit([&](auto&& v) { ss << v; });
  }
  std::string s = ss.str();
  for (auto& c : s)
    if (c == '\n') c = ' ';
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}

const char* type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    default: return "a date/time";
  }
}

[[noreturn]] void fail(const Spec& s, const toml::node& n, const std::string& key,
                       const std::string& what, const std::string& expected) {
  throw input_error(s.at(n, key), what, show(n), expected);
}

void check_keys(const Spec& s, const toml::table& t, const std::string& prefix,
                std::initializer_list<const char*> allowed) {
  for (auto&& [k, v] : t) {
    const std::string key(k.str());
    if (std::find_if(allowed.begin(), allowed.end(), [&](const char* a) { return key == a; }) ==
        allowed.end()) {
      std::string list;
      for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      const std::string full = prefix.empty() ? key : prefix + "." + key;
      const auto line = k.source().begin.line ? k.source().begin.line : v.source().begin.line;
      throw input_error(s.at_line(line, full), "unknown key", "'" + key + "'",
                        "one of: " + list);
    }
  }
}

std::string key_of(const std::string& prefix, const char* key) {
  return prefix.empty() ? key : prefix + "." + key;
}

std::optional<std::string> get_string(const Spec& s, const toml::table& t, const std::string& prefix,
                                      const char* key) {
  const toml::node* n = t.get(key);
  if (!n) return std::nullopt;
  if (!n->is_string()) fail(s, *n, key_of(prefix, key), std::string("is ") + type_name(*n), "a string");
  return *n->value<std::string>();
}

std::string require_string(const Spec& s, const toml::table& t, const std::string& prefix,
                           const char* key, const toml::node& owner) {
  auto v = get_string(s, t, prefix, key);
  if (!v) throw input_error(s.at(owner, key_of(prefix, key)), "missing required key", "", "a string");
  if (v->empty()) fail(s, *t.get(key), key_of(prefix, key), "is empty", "a non-empty string");
  return *v;
}

std::optional<std::int64_t> get_int(const Spec& s, const toml::table& t, const std::string& prefix,
                                    const char* key, std::int64_t lo, std::int64_t hi) {
  const toml::node* n = t.get(key);
  if (!n) return std::nullopt;
  const std::string range = fmt::format("an integer in [{}, {}]", lo, hi);
  if (!n->is_integer()) fail(s, *n, key_of(prefix, key), std::string("is ") + type_name(*n), range);
  const auto v = *n->value<std::int64_t>();
  if (v < lo || v > hi) fail(s, *n, key_of(prefix, key), "out of range", range);
  return v;
}

std::optional<double> get_double(const Spec& s, const toml::table& t, const std::string& prefix,
                                 const char* key, double lo, double hi) {
  const toml::node* n = t.get(key);
  if (!n) return std::nullopt;
  const std::string range = fmt::format("a number in [{}, {}]", lo, hi);
  if (!n->is_number()) fail(s, *n, key_of(prefix, key), std::string("is ") + type_name(*n), range);
  const double v = *n->value<double>();
  if (!(v >= lo && v <= hi)) fail(s, *n, key_of(prefix, key), "out of range", range);
  return v;
}

std::optional<bool> get_bool(const Spec& s, const toml::table& t, const std::string& prefix,
                             const char* key) {
  const toml::node* n = t.get(key);
  if (!n) return std::nullopt;
  if (!n->is_boolean()) fail(s, *n, key_of(prefix, key), std::string("is ") + type_name(*n), "true or false");
  return *n->value<bool>();
}

const toml::array* get_array(const Spec& s, const toml::table& t, const std::string& prefix,
                             const char* key, const char* expected) {
  const toml::node* n = t.get(key);
  if (!n) return nullptr;
  if (!n->is_array()) fail(s, *n, key_of(prefix, key), std::string("is ") + type_name(*n), expected);
  return n->as_array();
}

std::vector<std::string> string_list(const Spec& s, const toml::table& t, const std::string& prefix,
                                     const char* key, bool required, const toml::node& owner) {
  std::vector<std::string> out;
  const toml::node* n = t.get(key);
  if (n && n->is_string()) {  // a single string stands for a one-element list
    out.push_back(*n->value<std::string>());
    return out;
  }
  const toml::array* a = get_array(s, t, prefix, key, "an array of strings");
  if (!a) {
    if (required)
      throw input_error(s.at(owner, key_of(prefix, key)), "missing required key", "",
                        "an array of strings");
    return out;
  }
  for (std::size_t i = 0; i < a->size(); ++i) {
    const toml::node& e = *a->get(i);
    const std::string k = fmt::format("{}[{}]", key_of(prefix, key), i);
    if (!e.is_string()) fail(s, e, k, std::string("is ") + type_name(e), "a string");
    out.push_back(*e.value<std::string>());
  }
  if (required && out.empty())
    fail(s, *n, key_of(prefix, key), "is empty", "at least one entry");
  return out;
}

std::vector<std::int64_t> int_list(const Spec& s, const toml::table& t, const std::string& prefix,
                                   const char* key, std::int64_t lo, std::int64_t hi) {
  std::vector<std::int64_t> out;
  const toml::array* a = get_array(s, t, prefix, key, "an array of integers");
  if (!a) return out;
  const std::string range = fmt::format("an integer in [{}, {}]", lo, hi);
  for (std::size_t i = 0; i < a->size(); ++i) {
    const toml::node& e = *a->get(i);
    const std::string k = fmt::format("{}[{}]", key_of(prefix, key), i);
    if (!e.is_integer()) fail(s, e, k, std::string("is ") + type_name(e), range);
    const auto v = *e.value<std::int64_t>();
    if (v < lo || v > hi) fail(s, e, k, "out of range", range);
    out.push_back(v);
  }
  return out;
}

nlohmann::json to_json(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string: return *n.value<std::string>();
    case toml::node_type::integer: return *n.value<std::int64_t>();
    case toml::node_type::floating_point: return *n.value<double>();
    case toml::node_type::boolean: return *n.value<bool>();
    case toml::node_type::array: {
      nlohmann::json j = nlohmann::json::array();
      for (auto&& e : *n.as_array()) j.push_back(to_json(e));
      return j;
    }
    case toml::node_type::table: {
      nlohmann::json j = nlohmann::json::object();
      for (auto&& [k, v] : *n.as_table()) j[std::string(k.str())] = to_json(v);
      return j;
    }
    default: {
      std::ostringstream ss;
      n.visit([&](auto&& v) { ss << v; });
      return ss.str();
    }
  }
}

// ---- Names: vocab/names.hpp --------------------------------------------------------------------

using vocab::kComponentForms;
using vocab::kReceiverForms;

// ---- Sections ------------------------------------------------------------------------------------

model::ModelConfig parse_model_config(const Spec& s, const toml::table& t, const std::string& prefix,
                                      const std::string& model_name) {
  check_keys(s, t, prefix,
             {"family", "n_layers", "n_heads", "n_kv_heads", "d_model", "d_head", "d_mlp", "n_ctx",
              "d_vocab", "tied_embeddings"});
  auto req = [&](const char* key, int* field, std::int64_t lo, std::int64_t hi) {
    auto v = get_int(s, t, prefix, key, lo, hi);
    if (!v)
      throw input_error(s.at(t, key_of(prefix, key)), "missing required key", "",
                        fmt::format("an integer in [{}, {}]", lo, hi));
    *field = static_cast<int>(*v);
  };
  const auto family = get_string(s, t, prefix, "family").value_or("gpt2");
  const std::string family_where = t.get("family") ? s.at(*t.get("family"), key_of(prefix, "family"))
                                                   : s.at(t, key_of(prefix, "family"));
  // Keys left out mean what they mean in the family's Hugging Face config (vocab/model_families).
  model::ModelConfig c = vocab::model_preset(vocab::model_families().parse(family, family_where));
  c.name = model_name;
  req("n_layers", &c.n_layers, 1, 4096);
  req("n_heads", &c.n_heads, 1, 4096);
  req("d_model", &c.d_model, 1, 1 << 20);
  req("d_mlp", &c.d_mlp, 1, 1 << 24);
  c.n_kv_heads = static_cast<int>(get_int(s, t, prefix, "n_kv_heads", 1, 4096).value_or(c.n_heads));
  c.d_head = static_cast<int>(get_int(s, t, prefix, "d_head", 1, 1 << 16).value_or(c.d_model / c.n_heads));
  c.n_ctx = static_cast<int>(get_int(s, t, prefix, "n_ctx", 1, 1 << 24).value_or(c.n_ctx));
  c.d_vocab = static_cast<int>(get_int(s, t, prefix, "d_vocab", 1, 1 << 24).value_or(c.d_vocab));
  c.tied_embeddings = get_bool(s, t, prefix, "tied_embeddings").value_or(c.tied_embeddings);
  if (c.positional == model::PosKind::kRotary) c.rotary_dim = c.d_head;
  return c;
}

PoolSpec parse_component_list(const Spec& s, const toml::array& a, const std::string& key,
                              const std::string& origin) {
  PoolSpec p;
  p.kind = PoolSpec::Kind::kExplicit;
  p.origin = origin;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const toml::node& e = *a.get(i);
    const std::string k = fmt::format("{}[{}]", key, i);
    if (!e.is_string()) fail(s, e, k, std::string("is ") + type_name(e), kComponentForms);
    auto c = vocab::find_component(*e.value<std::string>());
    if (!c) fail(s, e, k, "cannot parse component", kComponentForms);
    if (std::find(p.components.begin(), p.components.end(), *c) != p.components.end())
      fail(s, e, k, "duplicate component", "each component once");
    p.components.push_back(*c);
  }
  if (p.components.empty()) fail(s, a, key, "is empty", "at least one component");
  std::sort(p.components.begin(), p.components.end());
  return p;
}

PoolSpec parse_pool(const Spec& s, const toml::table& t, const std::string& prefix,
                    const toml::node& owner, bool explicit_only,
                    const std::string& default_pool = "heads") {
  PoolSpec p;
  p.origin = s.at(owner, prefix);
  if (const toml::node* n = t.get("components")) {
    if (t.get("pool") || t.get("layers") || t.get("heads") || t.get("neurons"))
      fail(s, *n, key_of(prefix, "components"),
           "cannot be combined with pool/layers/heads/neurons", "either an explicit list or a pool");
    const toml::array* a = get_array(s, t, prefix, "components", "an array of component names");
    return parse_component_list(s, *a, key_of(prefix, "components"), p.origin);
  }
  if (explicit_only)
    throw input_error(s.at(owner, key_of(prefix, "components")), "missing required key", "",
                      "an array of component names (" + std::string(kComponentForms) + ")");
  const auto pool = get_string(s, t, prefix, "pool").value_or(default_pool);
  if (pool == "heads") p.kind = PoolSpec::Kind::kHeads;
  else if (pool == "mlps") p.kind = PoolSpec::Kind::kMlps;
  else if (pool == "neurons") p.kind = PoolSpec::Kind::kNeurons;
  else if (pool == "nodes") p.kind = PoolSpec::Kind::kNodes;
  else fail(s, *t.get("pool"), key_of(prefix, "pool"), "unknown pool",
            "heads, mlps, neurons or nodes (every head and every MLP)");
  if (const toml::node* n = t.get("layers")) {
    auto l = int_list(s, t, prefix, "layers", 0, 4095);
    if (l.size() != 2 || l[0] > l[1])
      fail(s, *n, key_of(prefix, "layers"), "not a layer range",
           "[first, last] with first <= last (inclusive)");
    p.layers_origin = s.at(*n, key_of(prefix, "layers"));
    p.layer_first = static_cast<int>(l[0]);
    p.layer_last = static_cast<int>(l[1]);
  }
  const char* idx_key = p.kind == PoolSpec::Kind::kNeurons ? "neurons" : "heads";
  const char* other_key = p.kind == PoolSpec::Kind::kNeurons ? "heads" : "neurons";
  if (const toml::node* n = t.get(other_key))
    fail(s, *n, key_of(prefix, other_key), "does not apply to pool '" + pool + "'",
         p.kind == PoolSpec::Kind::kNeurons ? "neurons = [...]" : "heads = [...] (pools heads and nodes)");
  if (p.kind == PoolSpec::Kind::kMlps && t.get("heads"))
    fail(s, *t.get("heads"), key_of(prefix, "heads"), "does not apply to pool 'mlps'", "no index list");
  p.layers_origin = p.layers_origin.empty() ? p.origin + ".layers" : p.layers_origin;
  p.indices_origin = t.get(idx_key) ? s.at(*t.get(idx_key), key_of(prefix, idx_key))
                                    : p.origin + "." + idx_key;
  for (auto v : int_list(s, t, prefix, idx_key, 0, (1 << 24) - 1)) {
    if (std::find(p.indices.begin(), p.indices.end(), v) != p.indices.end())
      fail(s, *t.get(idx_key), key_of(prefix, idx_key), "duplicate index " + std::to_string(v),
           "each index once");
    p.indices.push_back(static_cast<int>(v));
  }
  std::sort(p.indices.begin(), p.indices.end());
  return p;
}

std::vector<std::string> parse_positions(const Spec& s, const toml::table& t, const std::string& prefix,
                                         const std::vector<TaskSpec>& tasks) {
  std::vector<std::string> out;
  const toml::node* n = t.get("positions");
  if (!n) return out;
  const std::string expected = std::string("\"all\", or an array of positions: ") + vocab::kPositionForms;
  if (n->is_string()) {
    if (*n->value<std::string>() != "all") fail(s, *n, key_of(prefix, "positions"), "invalid", expected);
    return out;
  }
  if (!n->is_array()) fail(s, *n, key_of(prefix, "positions"), std::string("is ") + type_name(*n), expected);
  const toml::array& a = *n->as_array();
  for (std::size_t i = 0; i < a.size(); ++i) {
    const toml::node& e = *a.get(i);
    const std::string k = fmt::format("{}[{}]", key_of(prefix, "positions"), i);
    if (!e.is_integer() && !e.is_string())
      fail(s, e, k, std::string("is ") + type_name(e), vocab::kPositionForms);
    // Integers and strings go through the same parser as `csweep eval --positions`.
    const std::string label = vocab::position_label(
        e.is_integer() ? std::to_string(*e.value<std::int64_t>()) : *e.value<std::string>(), s.at(e, k));
    // A named position must be defined by every task the family runs on.
    if (!vocab::position_index(label))
      for (const auto& task : tasks)
        if (std::find(task.position_names.begin(), task.position_names.end(), label) == task.position_names.end())
          fail(s, e, k, fmt::format("position '{}' is not defined by task '{}'", label, task.name),
               fmt::format("a token index or one of {}", fmt::join(task.position_names, ", ")));
    if (std::find(out.begin(), out.end(), label) != out.end())
      fail(s, e, k, "duplicate position", "each position once");
    out.push_back(label);
  }
  if (out.empty()) fail(s, *n, key_of(prefix, "positions"), "is empty", expected);
  return out;
}

std::vector<interv::AblationKind> parse_ablations(const Spec& s, const toml::table& t,
                                                  const std::string& prefix, const toml::node& owner,
                                                  bool required) {
  std::vector<interv::AblationKind> out;
  const auto names = string_list(s, t, prefix, "ablations", required, owner);
  for (std::size_t i = 0; i < names.size(); ++i) {
    const toml::node& e = t.get("ablations")->is_array() ? *t.get("ablations")->as_array()->get(i)
                                                          : *t.get("ablations");
    const std::string k = fmt::format("{}[{}]", key_of(prefix, "ablations"), i);
    const auto kind = vocab::ablation_kinds().parse(names[i], s.at(e, k));
    if (std::find(out.begin(), out.end(), kind) != out.end())
      fail(s, e, k, "duplicate ablation kind", "each kind once");
    out.push_back(kind);
  }
  return out;
}

// Pruning keys: thresholds, orders, nested, one_iter (pool keys and ablations are parsed by the
// caller like every family's).
void parse_pruning(const Spec& s, const toml::table& t, const std::string& prefix,
                   const std::vector<double>& job_thresholds, FamilySpec* f) {
  if (const toml::array* a = get_array(s, t, prefix, "thresholds", "an array of percentages")) {
    for (std::size_t i = 0; i < a->size(); ++i) {
      const toml::node& e = *a->get(i);
      const std::string k = fmt::format("{}[{}]", key_of(prefix, "thresholds"), i);
      if (!e.is_number() || !(*e.value<double>() > 0 && *e.value<double>() < 100))
        fail(s, e, k, "invalid threshold",
             "a percentage T in (0, 100): a component is removed when 100 - performance < T "
             "(T = 20 gives the 80% circuit)");
      f->thresholds.push_back(*e.value<double>());
    }
    if (f->thresholds.empty())
      fail(s, *t.get("thresholds"), key_of(prefix, "thresholds"), "is empty", "e.g. [20, 10, 3]");
  } else if (!job_thresholds.empty()) {
    f->thresholds = job_thresholds;
  } else {
    throw input_error(s.at(t, key_of(prefix, "thresholds")), "missing required key", "",
                      "thresholds = [20, 10, 3] here or in [experiments] (percent: 100 - performance "
                      "below which a component is removed)");
  }
  std::sort(f->thresholds.begin(), f->thresholds.end());
  if (std::adjacent_find(f->thresholds.begin(), f->thresholds.end()) != f->thresholds.end())
    throw input_error(t.get("thresholds") ? s.at(*t.get("thresholds"), key_of(prefix, "thresholds"))
                                          : s.at(t, key_of(prefix, "thresholds")),
                      "duplicate threshold", "", "distinct thresholds");
  const auto names = string_list(s, t, prefix, "orders", false, t);
  for (std::size_t i = 0; i < names.size(); ++i) {
    const toml::node* n = t.get("orders");
    const toml::node& e = n->is_array() ? *n->as_array()->get(i) : *n;
    const std::string k = n->is_array() ? fmt::format("{}[{}]", key_of(prefix, "orders"), i)
                                        : key_of(prefix, "orders");
    for (const auto& o : vocab::parse_pruning_orders(names[i], s.at(e, k))) {
      for (const auto& seen : f->orders)
        if (seen.kind == o.kind && seen.seed == o.seed)
          fail(s, e, k, "order '" + vocab::pruning_order_name(o) + "' listed twice",
               "each order once (random:N already means seeds 0..N-1)");
      f->orders.push_back(o);
    }
  }
  if (f->orders.empty()) f->orders = {{pruning::OrderKind::kReference, 0}};
  f->nested = get_bool(s, t, prefix, "nested").value_or(false);
  f->one_iter = get_bool(s, t, prefix, "one_iter").value_or(false);
}

// ---- circuit stages (edge_pruning, faithfulness) --------------------------------------------------

// The node circuits of an edge-pruning stage from a circuits JSON file: one circuit per task of
// the grid ({"task": {"heads": ["1.2"], "mlps": [0]}}).
std::vector<std::vector<interv::Component>> read_task_circuits(const std::string& file,
                                                               const std::string& where,
                                                               const std::vector<TaskSpec>& tasks) {
  const char* layout = "{\"TASK\": {\"heads\": [\"1.2\", ...], \"mlps\": [0, ...]}, ...}";
  if (!std::filesystem::exists(file))
    throw input_error(where, "path does not exist", "'" + file + "'",
                      std::string("a circuits JSON file ") + layout + " (relative to the working directory)");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file_text(file));
  } catch (const nlohmann::json::parse_error& e) {
    throw input_error(file, std::string("invalid JSON: ") + e.what(), "", layout);
  }
  if (!j.is_object()) throw input_error(file, "is not a JSON object", "", layout);
  std::vector<std::vector<interv::Component>> out;
  for (const auto& task : tasks) {
    if (!j.contains(task.name))
      throw input_error(file, "has no circuit for task '" + task.name + "'", "",
                        "an entry \"" + task.name + "\": {\"heads\": [...], \"mlps\": [...]} (" + where + ")");
    const nlohmann::json& e = j[task.name];
    const std::string at = file + ": " + task.name;
    if (!e.is_object()) throw input_error(at, "is not an object", e.dump(), "{\"heads\": [...], \"mlps\": [...]}");
    for (const auto& [key, v] : e.items())
      if (key != "heads" && key != "mlps")
        throw input_error(at, "unknown key '" + key + "'", "", "heads, mlps");
    std::vector<interv::Component> c;
    if (e.contains("heads")) {
      if (!e["heads"].is_array()) throw input_error(at + ".heads", "is not an array", e["heads"].dump(), "[\"1.2\", ...]");
      for (const auto& h : e["heads"]) {
        auto comp = h.is_string() ? vocab::find_component(h.get<std::string>()) : std::nullopt;
        if (!comp || comp->kind != interv::ComponentKind::kHead)
          throw input_error(at + ".heads", "cannot parse head", h.dump(), "\"L.H\", e.g. \"1.2\"");
        c.push_back(*comp);
      }
    }
    if (e.contains("mlps")) {
      if (!e["mlps"].is_array()) throw input_error(at + ".mlps", "is not an array", e["mlps"].dump(), "[0, 3]");
      for (const auto& m : e["mlps"]) {
        if (!m.is_number_integer() || m.get<std::int64_t>() < 0 || m.get<std::int64_t>() > 1 << 20)
          throw input_error(at + ".mlps", "invalid MLP layer", m.dump(), "a layer index >= 0");
        c.push_back({interv::ComponentKind::kMlp, static_cast<int>(m.get<std::int64_t>()), 0});
      }
    }
    std::sort(c.begin(), c.end());
    if (std::adjacent_find(c.begin(), c.end()) != c.end())
      throw input_error(at, "component listed twice", "", "each head / MLP once");
    if (c.empty()) throw input_error(at, "circuit is empty", "", "at least one head or MLP");
    out.push_back(std::move(c));
  }
  return out;
}

// Exactly one of the keys `keys` is present; returns its index.
std::size_t one_of(const Spec& s, const toml::table& t, const std::string& prefix,
                   std::initializer_list<const char*> keys, const std::string& expected) {
  std::size_t found = keys.size(), i = 0;
  for (const char* k : keys) {
    if (t.get(k)) {
      if (found != keys.size())
        fail(s, *t.get(k), key_of(prefix, k), std::string("conflicts with ") + *(keys.begin() + found),
             expected + " (one of them)");
      found = i;
    }
    ++i;
  }
  if (found == keys.size()) throw input_error(s.at(t, prefix), "missing the stage's source", "", expected);
  return found;
}

CircuitStageSpec parse_stage(const Spec& s, const toml::table& t, const std::string& prefix,
                             FamilyKind kind, const JobSpec& job) {
  CircuitStageSpec st;
  st.origin = s.at(t, prefix);
  st.name = require_string(s, t, prefix, "name", t);
  st.kind = kind;
  if (kind == FamilyKind::kEdgePruning) {
    check_keys(s, t, prefix, {"name", "kind", "from", "thresholds", "orders", "circuit", "circuit_file",
                              "inside", "ratio", "effect", "corruptions"});
    const char* expected = "from = \"<pruning family>\", circuit = [\"0.1\", \"mlp0\", ...] or "
                           "circuit_file = \"circuits.json\"";
    const auto src = one_of(s, t, prefix, {"from", "circuit", "circuit_file"}, expected);
    if (src != 0 && (t.get("thresholds") || t.get("orders")))
      fail(s, t.get("thresholds") ? *t.get("thresholds") : *t.get("orders"), prefix,
           "thresholds / orders select circuits of a pruning family", "from = \"<pruning family>\"");
    if (src == 0) {
      st.from = require_string(s, t, prefix, "from", t);
      if (const toml::array* a = get_array(s, t, prefix, "thresholds", "an array of percentages"))
        for (std::size_t i = 0; i < a->size(); ++i) {
          const toml::node& e = *a->get(i);
          if (!e.is_number()) fail(s, e, fmt::format("{}[{}]", key_of(prefix, "thresholds"), i), "not a number",
                                   "a threshold of the pruning family, e.g. 20");
          st.thresholds.push_back(*e.value<double>());
        }
      for (const auto& name : string_list(s, t, prefix, "orders", false, t))
        for (const auto& o : vocab::parse_pruning_orders(name, s.at(*t.get("orders"), key_of(prefix, "orders"))))
          st.orders.push_back(o);
      if (st.orders.empty()) st.orders = {{pruning::OrderKind::kReference, 0}};
    } else if (src == 1) {
      const toml::node* c = t.get("circuit");
      if (!c->is_array()) fail(s, *c, key_of(prefix, "circuit"), std::string("is ") + type_name(*c), "an array of heads and MLPs");
      st.circuit = parse_component_list(s, *c->as_array(), key_of(prefix, "circuit"), s.at(*c, key_of(prefix, "circuit"))).components;
      for (const auto& comp : st.circuit)
        if (comp.kind == interv::ComponentKind::kNeuron)
          fail(s, *c, key_of(prefix, "circuit"), "edges join heads and MLPs, not neurons",
               "heads (\"1.2\") and MLPs (\"mlp3\")");
      std::sort(st.circuit.begin(), st.circuit.end());
      if (st.circuit.empty()) fail(s, *c, key_of(prefix, "circuit"), "is empty", "at least one head or MLP");
    } else {
      st.circuit_file = require_string(s, t, prefix, "circuit_file", t);
      st.task_circuits = read_task_circuits(st.circuit_file, s.at(*t.get("circuit_file"), key_of(prefix, "circuit_file")), job.tasks);
    }
    st.inside = get_bool(s, t, prefix, "inside").value_or(true);
    st.ratio = get_double(s, t, prefix, "ratio", 0, 1e6).value_or(0.8);
    st.effect = get_double(s, t, prefix, "effect", 0, 1e6).value_or(0.0);
    if (st.ratio <= 0 && st.effect <= 0)
      throw input_error(s.at(t, prefix), "no keep rule", "ratio = 0, effect = 0",
                        "ratio > 0 (keep when LD ratio < ratio; the study's 0.8) and/or effect > 0");
    st.ablations = {interv::AblationKind::kMean};  // the circuit's outside is mean-ablated
  } else {
    check_keys(s, t, prefix, {"name", "kind", "ranking", "scores_file", "absolute", "fractions",
                              "integer_sizes", "ablations", "corruptions"});
    const auto src = one_of(s, t, prefix, {"ranking", "scores_file"},
                            "ranking = \"<combinations family with k = 1>\" or scores_file = \"scores.json\" (MIB layout)");
    st.absolute = get_bool(s, t, prefix, "absolute").value_or(true);
    if (src == 0) {
      st.ranking = require_string(s, t, prefix, "ranking", t);
      if (t.get("ablations"))
        fail(s, *t.get("ablations"), key_of(prefix, "ablations"),
             "a ranking family's curves remove nodes with that family's ablation kinds", "no ablations key");
    } else {
      st.scores_file = require_string(s, t, prefix, "scores_file", t);
      const std::string where = s.at(*t.get("scores_file"), key_of(prefix, "scores_file"));
      if (!std::filesystem::exists(st.scores_file))
        throw input_error(where, "path does not exist", "'" + st.scores_file + "'",
                          "a MIB scores JSON file (relative to the working directory)");
      try {
        st.file_ranking = circuits::read_mib_scores(st.scores_file, st.absolute);
      } catch (const InputError& e) {
        throw InputError(where + ": " + e.what());
      }
      st.ablations = t.get("ablations") ? parse_ablations(s, t, prefix, t, true) : job.ablations;
      if (st.ablations.empty()) st.ablations = {interv::AblationKind::kMean};
    }
    if (const toml::array* a = get_array(s, t, prefix, "fractions", "an array of fractions in (0, 1]")) {
      for (std::size_t i = 0; i < a->size(); ++i) {
        const toml::node& e = *a->get(i);
        const std::string k = fmt::format("{}[{}]", key_of(prefix, "fractions"), i);
        if (!e.is_number() || !(*e.value<double>() > 0 && *e.value<double>() <= 1) ||
            (!st.fractions.empty() && *e.value<double>() <= st.fractions.back()))
          fail(s, e, k, "invalid fraction", "ascending fractions of the ranking's size in (0, 1]");
        st.fractions.push_back(*e.value<double>());
      }
      if (st.fractions.empty()) fail(s, *t.get("fractions"), key_of(prefix, "fractions"), "is empty", "e.g. [0.1, 0.5, 1]");
    } else {
      st.fractions = circuits::mib_fractions();
    }
    st.integer_sizes_up_to = static_cast<int>(get_int(s, t, prefix, "integer_sizes", 0, 4096).value_or(64));
  }
  return st;
}

// Cross-references of the stages, once every family is known.
void check_stages(const Spec& s, const JobSpec& job) {
  for (const auto& st : job.stages) {
    auto family = [&](const std::string& name) -> const FamilySpec* {
      for (const auto& f : job.families)
        if (f.name == name) return &f;
      return nullptr;
    };
    if (!st.from.empty()) {
      const FamilySpec* f = family(st.from);
      if (!f || f->kind != FamilyKind::kPruning)
        throw input_error(st.origin + ".from", f ? "is not a pruning family" : "names no family",
                          "'" + st.from + "'", "the name of a family of kind \"pruning\" in this spec");
      for (double th : st.thresholds)
        if (std::find(f->thresholds.begin(), f->thresholds.end(), th) == f->thresholds.end())
          throw input_error(st.origin + ".thresholds", "not a threshold of family '" + st.from + "'",
                            fmt::format("{}", th), fmt::format("one of {}", fmt::join(f->thresholds, ", ")));
      for (const auto& o : st.orders)
        if (std::find_if(f->orders.begin(), f->orders.end(), [&](const pruning::Order& x) {
              return x.kind == o.kind && x.seed == o.seed;
            }) == f->orders.end())
          throw input_error(st.origin + ".orders", "not an order of family '" + st.from + "'",
                            "'" + vocab::pruning_order_name(o) + "'", "one of the family's orders");
    }
    if (!st.ranking.empty()) {
      const FamilySpec* f = family(st.ranking);
      if (!f || f->kind != FamilyKind::kCombinations || std::find(f->k.begin(), f->k.end(), 1) == f->k.end())
        throw input_error(st.origin + ".ranking",
                          f ? "is not a combinations family with k = 1" : "names no family",
                          "'" + st.ranking + "'",
                          "the name of a family of kind \"combinations\" whose k includes 1 (its single-"
                          "component rows rank the components)");
    }
  }
  (void)s;
}

FamilySpec parse_family(const Spec& s, const toml::table& t, const std::string& prefix,
                        const std::vector<interv::AblationKind>& job_ablations,
                        const std::vector<double>& job_thresholds,
                        const std::vector<TaskSpec>& tasks) {
  FamilySpec f;
  f.origin = s.at(t, prefix);
  f.name = require_string(s, t, prefix, "name", t);
  for (char c : f.name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'))
      fail(s, *t.get("name"), key_of(prefix, "name"), "invalid family name",
           "letters, digits, '_' and '-' (it names an HDF5 group)");
  const auto kind = require_string(s, t, prefix, "kind", t);
  f.kind = vocab::family_kinds().parse(kind, s.at(*t.get("kind"), key_of(prefix, "kind")));
  if (f.kind == FamilyKind::kCombinations) {
    check_keys(s, t, prefix,
               {"name", "kind", "k", "pool", "layers", "heads", "neurons", "components", "positions",
                "ablations", "corruptions"});
    if (!t.get("k"))
      throw input_error(s.at(t, key_of(prefix, "k")), "missing required key", "",
                        "an array of combination sizes, e.g. [1, 2]");
    for (auto v : int_list(s, t, prefix, "k", 1, 64)) f.k.push_back(static_cast<int>(v));
    if (f.k.empty()) fail(s, *t.get("k"), key_of(prefix, "k"), "is empty", "e.g. [1, 2]");
    std::sort(f.k.begin(), f.k.end());
    if (std::adjacent_find(f.k.begin(), f.k.end()) != f.k.end())
      fail(s, *t.get("k"), key_of(prefix, "k"), "has duplicates", "distinct sizes");
    f.pool = parse_pool(s, t, prefix, t, false);
  } else if (f.kind == FamilyKind::kSubsets) {
    check_keys(s, t, prefix, {"name", "kind", "components", "include_empty", "positions", "ablations", "corruptions"});
    f.pool = parse_pool(s, t, prefix, t, true);
    f.include_empty = get_bool(s, t, prefix, "include_empty").value_or(false);
    if (f.pool.components.size() > 40)
      fail(s, *t.get("components"), key_of(prefix, "components"),
           fmt::format("{} components give 2^{} subsets", f.pool.components.size(),
                       f.pool.components.size()),
           "at most 40 components");
  } else if (f.kind == FamilyKind::kPositions) {
    check_keys(s, t, prefix,
               {"name", "kind", "pool", "layers", "heads", "neurons", "components", "positions",
                "ablations", "corruptions"});
    f.pool = parse_pool(s, t, prefix, t, false);
    if (!t.get("positions") || !t.get("positions")->is_array())
      throw input_error(s.at(t, key_of(prefix, "positions")), "missing required key", "",
                        "an array of token indices and/or named positions");
  } else if (f.kind == FamilyKind::kPaths) {
    check_keys(s, t, prefix, {"name", "kind", "senders", "receivers", "positions", "ablations", "corruptions"});
    const toml::node* sn = t.get("senders");
    if (!sn)
      throw input_error(s.at(t, key_of(prefix, "senders")), "missing required key", "",
                        "an array of components or a pool table {pool, layers, heads}");
    const std::string sp = key_of(prefix, "senders");
    if (sn->is_array()) {
      f.pool = parse_component_list(s, *sn->as_array(), sp, s.at(*sn, sp));
    } else if (sn->is_table()) {
      check_keys(s, *sn->as_table(), sp, {"pool", "layers", "heads", "components"});
      f.pool = parse_pool(s, *sn->as_table(), sp, *sn, false);
      if (f.pool.kind == PoolSpec::Kind::kNeurons)
        fail(s, *sn, sp, "neurons cannot be path-patching senders", "heads or mlps");
    } else {
      fail(s, *sn, sp, std::string("is ") + type_name(*sn), "an array of components or a table");
    }
    for (const auto& c : f.pool.components)
      if (c.kind == interv::ComponentKind::kNeuron)
        fail(s, *sn, sp, "neurons cannot be path-patching senders", "heads or mlps");
    const toml::node* rn = t.get("receivers");
    if (!rn)
      throw input_error(s.at(t, key_of(prefix, "receivers")), "missing required key", "",
                        std::string("\"all\" or an array of ") + kReceiverForms);
    if (rn->is_string() && *rn->value<std::string>() == "all") {
      f.all_receivers = true;
    } else {
      const auto names = string_list(s, t, prefix, "receivers", true, t);
      for (std::size_t i = 0; i < names.size(); ++i) {
        const toml::node& e = rn->is_array() ? *rn->as_array()->get(i) : *rn;
        auto r = vocab::find_receiver(names[i]);
        if (!r) fail(s, e, fmt::format("{}[{}]", key_of(prefix, "receivers"), i), "cannot parse receiver",
                     kReceiverForms);
        f.receivers.push_back(*r);
      }
    }
  } else if (f.kind == FamilyKind::kPruning) {
    check_keys(s, t, prefix,
               {"name", "kind", "pool", "layers", "heads", "components", "thresholds", "orders",
                "nested", "one_iter", "ablations", "corruptions"});
    f.pool = parse_pool(s, t, prefix, t, false, "nodes");
    if (f.pool.kind == PoolSpec::Kind::kNeurons)
      fail(s, *t.get("pool"), key_of(prefix, "pool"), "pruning removes heads and MLPs",
           "pool = \"nodes\" (default), \"heads\" or \"mlps\", or components = [...]");
    for (const auto& c : f.pool.components)
      if (c.kind == interv::ComponentKind::kNeuron)
        fail(s, *t.get("components"), key_of(prefix, "components"),
             "pruning removes heads and MLPs, not neurons", "heads (\"9.1\") and MLPs (\"mlp3\")");
    parse_pruning(s, t, prefix, job_thresholds, &f);
  } else {
    CSWEEP_ASSERT(false, "family kind '{}' has no parser", kind);
  }
  f.position_labels = parse_positions(s, t, prefix, tasks);
  f.ablations = t.get("ablations") ? parse_ablations(s, t, prefix, t, true) : job_ablations;
  if (f.kind == FamilyKind::kPaths && !t.get("ablations"))
    f.ablations = {interv::AblationKind::kPathPatch};
  const toml::node& abl_node = t.get("ablations") ? *t.get("ablations") : static_cast<const toml::node&>(t);
  for (auto a : f.ablations) {
    if ((a == interv::AblationKind::kPathPatch) != (f.kind == FamilyKind::kPaths))
      throw input_error(s.at(abl_node, key_of(prefix, "ablations")),
                        f.kind == FamilyKind::kPaths ? "a paths family takes only path_patch"
                                                     : "path_patch needs a family of kind paths",
                        "'" + vocab::ablation_kinds().name(a) + "'",
                        f.kind == FamilyKind::kPaths ? "ablations = [\"path_patch\"]"
                                                     : "zero, mean, resample or patch_*");
  }
  if (f.ablations.empty())
    throw input_error(s.at(t, key_of(prefix, "ablations")), "no ablation kind for this family", "",
                      "[experiments] ablations or the family's own ablations");
  return f;
}

}  // namespace

JobSpec parse_job_spec(const std::string& text, const std::string& path) {
  Spec s(path);
  toml::table root;
  try {
    root = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    throw input_error(fmt::format("{}:{}:{}", path, e.source().begin.line, e.source().begin.column),
                      std::string("TOML syntax error: ") + std::string(e.description()));
  }
  JobSpec job;
  job.path = path;
  job.text = text;
  check_keys(s, root, "",
             {"job", "models", "tasks", "experiments", "families", "output", "batching", "memory", "compute"});

  // [job]
  if (const toml::node* n = root.get("job")) {
    if (!n->is_table()) fail(s, *n, "job", std::string("is ") + type_name(*n), "a table [job]");
    const auto& t = *n->as_table();
    check_keys(s, t, "job", {"name", "description"});
    job.name = get_string(s, t, "job", "name").value_or("");
    get_string(s, t, "job", "description");
  }
  if (job.name.empty()) {
    auto slash = path.find_last_of('/');
    job.name = path.substr(slash == std::string::npos ? 0 : slash + 1);
    if (job.name.size() > 5 && job.name.substr(job.name.size() - 5) == ".toml")
      job.name.resize(job.name.size() - 5);
  }

  auto array_of_tables = [&](const char* key, const char* expected) -> const toml::array* {
    const toml::node* n = root.get(key);
    if (!n) throw input_error(path + ": " + key, "missing required section", "", expected);
    if (!n->is_array_of_tables() || n->as_array()->empty())
      fail(s, *n, key, std::string("is ") + type_name(*n), expected);
    return n->as_array();
  };

  // [[models]]
  const toml::array* models = array_of_tables("models", "[[models]] tables with name and path");
  std::set<std::string> names;
  for (std::size_t i = 0; i < models->size(); ++i) {
    const auto& t = *models->get(i)->as_table();
    const std::string prefix = fmt::format("models[{}]", i);
    check_keys(s, t, prefix, {"name", "path", "config"});
    ModelSpec m;
    m.origin = s.at(t, prefix);
    m.path = require_string(s, t, prefix, "path", t);
    m.path_origin = s.at(*t.get("path"), prefix + ".path");
    m.name = get_string(s, t, prefix, "name").value_or(m.path);
    if (!names.insert(m.name).second)
      fail(s, t.get("name") ? *t.get("name") : static_cast<const toml::node&>(t), prefix + ".name",
           "duplicate model name", "distinct names");
    if (const toml::node* c = t.get("config")) {
      if (!c->is_table()) fail(s, *c, prefix + ".config", std::string("is ") + type_name(*c), "a table");
      m.config = parse_model_config(s, *c->as_table(), prefix + ".config", m.name);
    }
    job.models.push_back(std::move(m));
  }

  // [[tasks]]
  const toml::array* tasks = array_of_tables("tasks", "[[tasks]] tables with a name");
  names.clear();
  for (std::size_t i = 0; i < tasks->size(); ++i) {
    const auto& t = *tasks->get(i)->as_table();
    const std::string prefix = fmt::format("tasks[{}]", i);
    check_keys(s, t, prefix, {"name", "generator", "params", "filter"});
    TaskSpec task;
    task.origin = s.at(t, prefix);
    task.name = require_string(s, t, prefix, "name", t);
    task.generator = get_string(s, t, prefix, "generator").value_or(task.name);
    // The generator (or, without one, the task's name) must name a task module; an unknown one
    // never falls back to another.
    vocab::task_info(task.generator,
                     t.get("generator")
                         ? s.at(*t.get("generator"), prefix + ".generator")
                         : s.at(*t.get("name"), prefix + ".name") + " (no generator given; the name is used)");
    if (!names.insert(task.name).second)
      fail(s, *t.get("name"), prefix + ".name", "duplicate task name", "distinct names");
    task.params = nlohmann::json::object();
    const toml::node* p = t.get("params");
    if (p) {
      if (!p->is_table()) fail(s, *p, prefix + ".params", std::string("is ") + type_name(*p), "a table");
      task.params = to_json(*p);
    }
    // The task module's own rules, without a tokenizer: a bad parameter fails here, with its line,
    // not when the first dataset is built.
    const auto summary = tasks::check_task_params(task.generator, task.params, [&](const std::string& key) {
      const toml::node* kn = p && !key.empty() ? p->as_table()->get(key) : nullptr;
      const std::string k = key.empty() ? prefix + ".params" : prefix + ".params." + key;
      return (kn ? s.at(*kn, k) : s.at(p ? *p : static_cast<const toml::node&>(t), k)) +
             " (task '" + task.name + "')";
    });
    task.position_names = summary.positions;
    task.filter = get_bool(s, t, prefix, "filter").value_or(false);
    task.n_prompts = summary.n_prompts;
    job.tasks.push_back(std::move(task));
  }

  // [experiments]
  const toml::node* en = root.get("experiments");
  if (!en) throw input_error(path + ": experiments", "missing required section", "",
                             "[experiments] with corruptions, ablations and metrics");
  if (!en->is_table()) fail(s, *en, "experiments", std::string("is ") + type_name(*en), "a table");
  {
    const auto& t = *en->as_table();
    const std::string prefix = "experiments";
    check_keys(s, t, prefix, {"corruptions", "ablations", "metrics", "seeds", "thresholds", "mean_over"});
    if (auto m = get_string(s, t, prefix, "mean_over")) {
      if (*m != "corrupted" && *m != "clean")
        fail(s, *t.get("mean_over"), "experiments.mean_over", "unknown mean dataset",
             "\"corrupted\" (the reference study's choice) or \"clean\"");
      job.mean_over = *m;
    }
    job.corruptions = string_list(s, t, prefix, "corruptions", true, t);
    for (std::size_t i = 0; i < job.corruptions.size(); ++i) {
      const auto& c = job.corruptions[i];
      const toml::node& e = t.get("corruptions")->is_array()
                                ? *t.get("corruptions")->as_array()->get(i)
                                : *t.get("corruptions");
      // Every task is run with every corruption, so each must apply to each task.
      for (const auto& task : job.tasks)
        vocab::check_corruption(task.generator, c,
                                s.at(e, fmt::format("experiments.corruptions[{}]", i)) +
                                    " (task '" + task.name + "')");
      if (std::count(job.corruptions.begin(), job.corruptions.end(), c) > 1)
        fail(s, e, fmt::format("experiments.corruptions[{}]", i), "duplicate corruption",
             "each corruption once");
    }
    job.ablations = parse_ablations(s, t, prefix, t, false);
    std::vector<metrics::Metric> set;
    const auto mnames = string_list(s, t, prefix, "metrics", true, t);
    for (std::size_t i = 0; i < mnames.size(); ++i) {
      const toml::node& e = t.get("metrics")->is_array() ? *t.get("metrics")->as_array()->get(i)
                                                         : *t.get("metrics");
      const std::string k = fmt::format("experiments.metrics[{}]", i);
      const auto m = vocab::metrics().parse(mnames[i], s.at(e, k));
      if (std::find(set.begin(), set.end(), m) != set.end())
        fail(s, e, k, "duplicate metric", "each metric once");
      set.push_back(m);
    }
    job.metric_sets.push_back(set);
    job.seeds = int_list(s, t, prefix, "seeds", 0, std::numeric_limits<std::int32_t>::max());
    if (job.seeds.empty()) job.seeds = {0};
    for (std::size_t i = 1; i < job.seeds.size(); ++i)
      if (std::count(job.seeds.begin(), job.seeds.end(), job.seeds[i]) > 1)
        fail(s, *t.get("seeds"), "experiments.seeds", "duplicate seed", "distinct seeds");
    if (const toml::array* a = get_array(s, t, prefix, "thresholds", "an array of percentages")) {
      for (std::size_t i = 0; i < a->size(); ++i) {
        const toml::node& e = *a->get(i);
        const std::string k = fmt::format("experiments.thresholds[{}]", i);
        if (!e.is_number() || !(*e.value<double>() > 0 && *e.value<double>() < 100))
          fail(s, e, k, "invalid threshold", "a percentage in (0, 100), e.g. 20 for the 80% circuit");
        job.thresholds.push_back(*e.value<double>());
      }
    }
  }

  // [[families]]
  const toml::array* fams = array_of_tables("families", "[[families]] tables (name, kind, ...)");
  names.clear();
  for (std::size_t i = 0; i < fams->size(); ++i) {
    const auto& t = *fams->get(i)->as_table();
    if (const toml::node* kn = t.get("kind"); kn && kn->is_string()) {
      const std::string pre = fmt::format("families[{}]", i);
      const auto kind = vocab::family_kinds().parse(*kn->value<std::string>(), s.at(*kn, pre + ".kind"));
      if (vocab::is_circuit_stage(kind)) {
        auto st = parse_stage(s, t, pre, kind, job);
        if (t.get("corruptions")) {
          for (const auto& c : string_list(s, t, pre, "corruptions", true, t))
            if (std::find(job.corruptions.begin(), job.corruptions.end(), c) == job.corruptions.end())
              fail(s, *t.get("corruptions"), pre + ".corruptions", "corruption '" + c + "' not in [experiments] corruptions",
                   "some of " + fmt::format("{}", fmt::join(job.corruptions, ", ")));
            else
              st.corruptions.push_back(c);
        }
        if (!names.insert(st.name).second)
          fail(s, *t.get("name"), pre + ".name", "duplicate family name", "distinct names");
        job.stages.push_back(std::move(st));
        continue;
      }
    }
    auto f = parse_family(s, t, fmt::format("families[{}]", i), job.ablations, job.thresholds, job.tasks);
    // A family may run on some of the experiments' corruptions only (e.g. pruning on randAll
    // while the ablation tables cover every corruption).
    if (t.get("corruptions")) {
      const std::string prefix = fmt::format("families[{}]", i);
      const auto list = string_list(s, t, prefix, "corruptions", true, t);
      const toml::node* n = t.get("corruptions");
      for (std::size_t c = 0; c < list.size(); ++c) {
        const toml::node& e = n->is_array() ? *n->as_array()->get(c) : *n;
        const std::string k = fmt::format("{}.corruptions[{}]", prefix, c);
        if (std::find(job.corruptions.begin(), job.corruptions.end(), list[c]) == job.corruptions.end())
          fail(s, e, k, "corruption not in [experiments] corruptions",
               "one of the experiments' corruptions (" + fmt::format("{}", fmt::join(job.corruptions, ", ")) + ")");
        if (std::count(list.begin(), list.end(), list[c]) > 1)
          fail(s, e, k, "duplicate corruption", "each corruption once");
      }
      f.corruptions = list;
    }
    if (!names.insert(f.name).second)
      fail(s, *t.get("name"), fmt::format("families[{}].name", i), "duplicate family name",
           "distinct names");
    job.families.push_back(std::move(f));
  }

  if (job.families.empty())
    throw input_error(path + ": families", "no family expands into work units",
                      fmt::format("{} circuit stage(s) only", job.stages.size()),
                      "at least one family of kind combinations, subsets, positions, paths or pruning");
  check_stages(s, job);

  // [output]
  const toml::node* on = root.get("output");
  if (!on) throw input_error(path + ": output", "missing required section", "", "[output] with path");
  if (!on->is_table()) fail(s, *on, "output", std::string("is ") + type_name(*on), "a table");
  {
    const auto& t = *on->as_table();
    check_keys(s, t, "output", {"path", "per_prompt"});
    job.output.path = require_string(s, t, "output", "path", t);
    job.output.per_prompt = get_bool(s, t, "output", "per_prompt").value_or(false);
  }
  if (const toml::node* n = root.get("batching")) {
    if (!n->is_table()) fail(s, *n, "batching", std::string("is ") + type_name(*n), "a table");
    const auto& t = *n->as_table();
    check_keys(s, t, "batching", {"unit_size", "max_interventions_per_forward", "threads_per_rank"});
    job.batching.threads_per_rank =
        static_cast<int>(get_int(s, t, "batching", "threads_per_rank", 1, 1024).value_or(1));
    job.batching.unit_size = static_cast<std::uint64_t>(
        get_int(s, t, "batching", "unit_size", 1, 1 << 24).value_or(static_cast<std::int64_t>(job.batching.unit_size)));
    job.batching.max_interventions_per_forward = static_cast<std::uint64_t>(
        get_int(s, t, "batching", "max_interventions_per_forward", 1, 1 << 20)
            .value_or(static_cast<std::int64_t>(job.batching.max_interventions_per_forward)));
  }
  if (const toml::node* n = root.get("memory")) {
    if (!n->is_table()) fail(s, *n, "memory", std::string("is ") + type_name(*n), "a table");
    const auto& t = *n->as_table();
    check_keys(s, t, "memory", {"max_gb_per_rank"});
    job.memory.max_gb_per_rank = get_double(s, t, "memory", "max_gb_per_rank", 0, 1e6).value_or(0);
  }
  if (const toml::node* n = root.get("compute")) {
    if (!n->is_table()) fail(s, *n, "compute", std::string("is ") + type_name(*n), "a table");
    const auto& t = *n->as_table();
    check_keys(s, t, "compute", {"device", "dtype"});
    if (auto d = get_string(s, t, "compute", "device")) {
      job.compute.device_where = s.at(*t.get("device"), "compute.device");
      job.compute.device = vocab::parse_device_request(*d, job.compute.device_where);
    }
    if (auto d = get_string(s, t, "compute", "dtype")) {
      job.compute.dtype_where = s.at(*t.get("dtype"), "compute.dtype");
      job.compute.dtype = vocab::compute_dtypes().parse(*d, job.compute.dtype_where);
    }
  }
  return job;
}

JobSpec load_job_spec(const std::string& path) { return parse_job_spec(read_file_text(path), path); }

namespace {

std::string path_where(const ModelSpec& m) {
  return m.path_origin.empty() ? m.origin + ".path" : m.path_origin;
}

std::string canonical_path(const std::string& p) {
  std::error_code ec;
  const auto c = std::filesystem::weakly_canonical(p, ec);
  return ec ? p : c.string();
}

}  // namespace

std::string resolve_model_path(const ModelSpec& m) {
  const std::string where = path_where(m);
  struct stat st;
  if (m.path != "default") {
    if (::stat(m.path.c_str(), &st) != 0) {
      std::error_code ec;
      const auto cwd = std::filesystem::current_path(ec);
      throw input_error(where, "path does not exist", "\"" + m.path + "\"",
                        "a Hugging Face folder or a .gguf file" +
                            (m.path.empty() || m.path[0] == '/'
                                 ? std::string()
                                 : " (relative to the working directory " + cwd.string() + ")"));
    }
    return canonical_path(m.path);
  }
  // The embedded default model ships in models/default of the source tree and of an install.
  if (const char* env = std::getenv("CSWEEP_DEFAULT_MODEL"); env && *env) {
    if (::stat(env, &st) != 0)
      throw input_error(where, "path does not exist",
                        "\"default\" = $CSWEEP_DEFAULT_MODEL = \"" + std::string(env) + "\"",
                        "$CSWEEP_DEFAULT_MODEL naming the default model's folder, or unset");
    return canonical_path(env);
  }
  std::vector<std::string> tried;
  const std::string exe = executable_dir();
  for (const char* rel : {"/../models/default", "/../../models/default",
                          "/../share/circuitsweep/models/default"}) {
    if (exe.empty()) break;
    const std::string p = exe + rel;
    if (::stat(p.c_str(), &st) == 0) return canonical_path(p);
    tried.push_back(p);
  }
  std::string list;
  for (const auto& t : tried) list += (list.empty() ? "" : ", ") + t;
  throw input_error(where, "the default model was not found", "\"default\"",
                    "models/default next to the csweep build or install (tried " + list +
                        "), or $CSWEEP_DEFAULT_MODEL");
}

model::ModelConfig model_config(const ModelSpec& m) {
  if (m.config) return *m.config;
  const std::string dir = resolve_model_path(m);
  struct stat st;
  const std::string cfg = dir + "/config.json";
  if (::stat(cfg.c_str(), &st) == 0) return io::read_hf_config(cfg);
  throw input_error(path_where(m), "cannot read the model's architecture without loading it",
                    "'" + m.path + "'",
                    "a Hugging Face folder with config.json, or a [models.config] table "
                    "(n_layers, n_heads, d_model, d_mlp)");
}

}  // namespace csweep::pipeline
