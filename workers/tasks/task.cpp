// Task generators: sequence continuation, greater-than, IOI and custom JSONL.
// Every prompt is built from its fields through one template filler (fill_template), and its
// named token positions are found by encoding the text up to the end of each named slot, so the
// fields, the text, the tokens and the positions cannot disagree.
#include "workers/tasks/task.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <filesystem>
#include <set>
#include <sstream>

#include "core/error.hpp"
#include "core/files.hpp"
#include "core/paths.hpp"
#include "vocab/tasks.hpp"
#include "workers/tasks/rng.hpp"
#include "workers/tasks/task_internal.hpp"
#include "workers/tokenizer/tokenizer.hpp"

namespace csweep::tasks {

using nlohmann::json;

// ---- Data files --------------------------------------------------------------------------------

std::string data_dir() { return data_path("tasks"); }

const std::vector<std::string>& word_list(const std::string& name) {
  static std::mutex mu;
  static std::map<std::string, std::vector<std::string>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(name);
  if (it != cache.end()) return it->second;
  const std::string path = data_dir() + "/" + name + ".txt";
  std::istringstream in(read_file_text(path));
  std::vector<std::string> words;
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) words.push_back(line);
  }
  if (words.empty()) throw input_error(path, "word list is empty", "", "one word per line");
  return cache.emplace(name, std::move(words)).first->second;
}

const std::vector<std::string>& sequence_members(const std::string& kind) {
  if (!is_sequence_task(kind)) {
    throw input_error("sequence kind", "unknown kind", "'" + kind + "'",
                      "one of digits, numwords, months, days");
  }
  return word_list(kind);
}

std::vector<std::string> task_names() { return vocab::task_names(); }

bool is_sequence_task(const std::string& task) { return vocab::is_sequence_task(task); }

bool split_digits_from_space(const tok::Tokenizer& tok) {
  return !tok.single_token_id(" 5") && tok.single_token_id("5");
}

std::vector<std::string> corruption_names(const std::string& task) {
  return vocab::corruption_names(task);
}

// ---- Templates ---------------------------------------------------------------------------------

namespace detail {

// IOI templates in one form; ABBA fills N0 = IO, N1 = S, N2 = S; BABA fills N0 = S, N1 = IO, N2 = S.
const std::vector<std::string>& ioi_templates() {
  static const std::vector<std::string> t = {
      "Then, {N0} and {N1} went to the {PLACE}. {N2} gave a {OBJECT} to",
      "Then, {N0} and {N1} had a lot of fun at the {PLACE}. {N2} gave a {OBJECT} to",
      "When {N0} and {N1} got a {OBJECT} at the {PLACE}, {N2} decided to give it to",
      "While {N0} and {N1} were working at the {PLACE}, {N2} gave a {OBJECT} to",
      "After {N0} and {N1} went to the {PLACE}, {N2} gave a {OBJECT} to",
      "Friends {N0} and {N1} found a {OBJECT} at the {PLACE}. {N2} gave it to",
  };
  return t;
}

// "{F0} done in{M0}. {F1} done in{M1}. ... {Fk} done in": member values carry their leading
// space (" 3", the token the model sees), fillers do not (F0 starts the text). With
// space_ends_text the answer's space closes the text ("... done in "), for tokenizers that
// split digits from the preceding space: the model then predicts the bare digit, exactly the
// token it would see after that space.
std::string sequence_template(const std::string& verb, int k, bool space_ends_text) {
  std::string t;
  for (int i = 0; i < k; ++i) {
    t += fmt::format("{}{{F{}}} {} in{{M{}}}.", i ? " " : "", i, verb, i);
  }
  t += fmt::format(" {{F{}}} {} in{}", k, verb, space_ends_text ? " " : "");
  return t;
}

// Slot values carry their own leading space (" 17"), so the template has none before a slot.
const char* kGreaterThanTemplate = "The{NOUN} lasted from the year{XX1}{YY} to the year{XX2}";

Filled fill_template(const std::string& tpl, const std::map<std::string, std::string>& values,
                     const std::map<std::string, std::string>& marks) {
  Filled out;
  std::size_t i = 0;
  while (i < tpl.size()) {
    if (tpl[i] == '{') {
      const std::size_t close = tpl.find('}', i);
      CSWEEP_ASSERT(close != std::string::npos, "unterminated slot in template '{}'", tpl);
      const std::string slot = tpl.substr(i + 1, close - i - 1);
      auto v = values.find(slot);
      CSWEEP_ASSERT(v != values.end(), "no value for slot {} of template '{}'", slot, tpl);
      out.text += v->second;
      auto m = marks.find(slot);
      if (m != marks.end()) out.marks.emplace_back(m->second, out.text.size());
      i = close + 1;
    } else {
      out.text += tpl[i++];
    }
  }
  return out;
}

Filled render_fields(const std::string& task, const Prompt& p) {
  std::map<std::string, std::string> values, marks;
  if (is_sequence_task(task)) {
    const int k = static_cast<int>(p.members.size());
    CSWEEP_ASSERT(static_cast<int>(p.fillers.size()) == k + 1, "{} fillers for {} members",
                  p.fillers.size(), k);
    for (int i = 0; i <= k; ++i) values["F" + std::to_string(i)] = p.fillers[i];
    for (int i = 0; i < k; ++i) {
      values["M" + std::to_string(i)] = " " + p.members[i];
      marks["M" + std::to_string(i)] = "S" + std::to_string(i + 1);
    }
    return fill_template(sequence_template(p.template_name, k, p.space_ends_text), values, marks);
  }
  if (task == "greater_than") {
    CSWEEP_ASSERT(p.fillers.size() == 1 && p.members.size() == 2, "bad greater-than fields");
    values = {{"NOUN", " " + p.fillers[0]}, {"XX1", " " + p.members[0]}, {"YY", p.members[1]},
              {"XX2", " " + p.members[0]}};
    marks = {{"NOUN", "NOUN"}, {"XX1", "XX1"}, {"YY", "YY"}, {"XX2", "XX2"}};
    return fill_template(kGreaterThanTemplate, values, marks);
  }
  if (task == "ioi") {
    CSWEEP_ASSERT(p.fillers.size() == 2 && p.members.size() == 3, "bad IOI fields");
    // template_name = "ioi_<index>_<ABBA|BABA>"
    const auto us = p.template_name.rfind('_');
    const int index = std::stoi(p.template_name.substr(4, us - 4));
    const bool abba = p.template_name.substr(us + 1) == "ABBA";
    values = {{"N0", " " + p.members[0]}, {"N1", " " + p.members[1]}, {"N2", " " + p.members[2]},
              {"PLACE", " " + p.fillers[0]}, {"OBJECT", " " + p.fillers[1]}};
    marks = {{"N0", abba ? "IO" : "S1"}, {"N1", abba ? "S1" : "IO"}, {"N2", "S2"}};
    // Templates start with a word, so the slots always follow a space in the template; the
    // values above carry that space themselves, hence strip it from the template.
    std::string tpl = ioi_templates().at(index);
    for (const char* slot : {" {N0}", " {N1}", " {N2}", " {PLACE}", " {OBJECT}"}) {
      for (std::size_t at; (at = tpl.find(slot)) != std::string::npos;) tpl.erase(at, 1);
    }
    return fill_template(tpl, values, marks);
  }
  if (task == "custom") {
    CSWEEP_ASSERT(p.fillers.size() == 1, "custom prompt without its text");
    return Filled{p.fillers[0], {}};
  }
  throw input_error("task", "unknown task", "'" + task + "'",
                    fmt::format("one of {}", fmt::join(task_names(), ", ")));
}

void finalize(Prompt& p, const std::string& task, const tok::Tokenizer& tok, int bos_id) {
  const Filled f = render_fields(task, p);
  p.text = f.text;
  p.tokens.clear();
  if (bos_id >= 0) p.tokens.push_back(bos_id);
  const std::size_t offset = p.tokens.size();
  const std::vector<int> ids = tok.encode(p.text);
  p.tokens.insert(p.tokens.end(), ids.begin(), ids.end());
  p.positions.clear();
  for (const auto& [name, end] : f.marks) {
    const std::vector<int> prefix = tok.encode(std::string_view(p.text).substr(0, end));
    // The pre-tokenizer splits at the slot boundaries, so the prefix's tokens are a prefix of the
    // whole text's tokens; a tokenizer for which this fails cannot give aligned positions.
    if (prefix.empty() || prefix.size() > ids.size() ||
        !std::equal(prefix.begin(), prefix.end(), ids.begin())) {
      throw input_error(tok.source(),
                        fmt::format("slot {} of prompt '{}' does not end on a token boundary",
                                    name, p.text));
    }
    p.positions[name] = static_cast<int>(offset + prefix.size() - 1);
  }
  p.positions["end"] = static_cast<int>(p.tokens.size()) - 1;
}

// Filler words must be one token where they appear; the others are dropped (and reported) so
// that every prompt of a template has the same length.
std::vector<std::string> single_token_words(const std::string& list, bool also_bare,
                                            const tok::Tokenizer& tok, std::size_t min_needed) {
  std::vector<std::string> ok, dropped;
  for (const auto& w : word_list(list)) {
    const bool good = tok.single_token_id(" " + w) && (!also_bare || tok.single_token_id(w));
    (good ? ok : dropped).push_back(w);
  }
  // Reported once per (list, tokenizer): sweeps build many datasets from the same lists.
  static std::mutex mu;
  static std::set<std::string> reported;
  bool first = false;
  {
    std::lock_guard<std::mutex> lock(mu);
    first = reported.insert(list + "\n" + tok.source()).second;
  }
  if (!dropped.empty() && first) {
    spdlog::info("word list '{}': {} words are not single tokens for {} and are not used: {}",
                 list, dropped.size(), tok.source(), fmt::join(dropped, ", "));
  }
  if (ok.size() < min_needed) {
    throw input_error(data_dir() + "/" + list + ".txt",
                      fmt::format("only {} words are single tokens for {} (not: {})", ok.size(),
                                  tok.source(), fmt::join(dropped, ", ")),
                      "", fmt::format("at least {}", min_needed));
  }
  return ok;
}

std::uint64_t name_stream(const std::string& s) {
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

}  // namespace detail

std::string render(const std::string& task, const Prompt& p) {
  return detail::render_fields(task, p).text;
}

// ---- Shared helpers ----------------------------------------------------------------------------

int Dataset::max_length() const {
  std::size_t n = 0;
  for (const auto& p : prompts) n = std::max(n, p.tokens.size());
  return static_cast<int>(n);
}

std::vector<int> Dataset::group_ids() const {
  std::vector<int> g;
  g.reserve(prompts.size());
  for (const auto& p : prompts) g.push_back(p.group);
  return g;
}

std::vector<std::string> single_token_offenders(const std::vector<std::string>& texts,
                                                const tok::Tokenizer& tok) {
  std::vector<std::string> bad;
  for (const auto& t : texts) {
    if (tok.single_token_id(t)) continue;
    std::vector<std::string> pieces;
    for (int id : tok.encode(t)) pieces.push_back(fmt::format("{}:'{}'", id, tok.decode_token(id)));
    bad.push_back(fmt::format("'{}' -> [{}]", t, fmt::join(pieces, ", ")));
  }
  return bad;
}

int keep_only(Dataset& ds, const std::vector<bool>& keep) {
  CSWEEP_ASSERT(keep.size() == ds.prompts.size(), "keep mask has {} entries for {} prompts",
                keep.size(), ds.prompts.size());
  std::vector<Prompt> kept;
  std::vector<std::string> kept_alt;
  for (std::size_t i = 0; i < keep.size(); ++i) {
    if (!keep[i]) continue;
    kept.push_back(std::move(ds.prompts[i]));
    if (!ds.alt_texts.empty()) kept_alt.push_back(std::move(ds.alt_texts[i]));
  }
  const int dropped = static_cast<int>(ds.prompts.size() - kept.size());
  ds.prompts = std::move(kept);
  ds.alt_texts = std::move(kept_alt);
  spdlog::info("dataset {}{}: clean-model filter dropped {} of {} prompts ({} kept)", ds.task,
               ds.corruption.empty() ? "" : "/" + ds.corruption, dropped,
               dropped + static_cast<int>(ds.prompts.size()), ds.prompts.size());
  return dropped;
}

PaddedTokens pad_right(const Dataset& ds, int pad_id) {
  PaddedTokens out;
  out.batch = static_cast<int>(ds.prompts.size());
  out.seq_len = ds.max_length();
  out.ids.assign(static_cast<std::size_t>(out.batch) * out.seq_len, pad_id);
  out.mask.assign(out.ids.size(), 0);
  for (int b = 0; b < out.batch; ++b) {
    const auto& p = ds.prompts[b];
    for (std::size_t t = 0; t < p.tokens.size(); ++t) {
      out.ids[b * out.seq_len + t] = p.tokens[t];
      out.mask[b * out.seq_len + t] = 1;
    }
    out.answer_pos.push_back(p.answer_pos());
  }
  return out;
}

// ---- Parameter validation ----------------------------------------------------------------------

namespace {

class Params {
 public:
  // `where` names a parameter in errors (ParamWhere); by default "task 'digits' parameter 'key'".
  Params(const std::string& task, const json& j, std::set<std::string> allowed, const ParamWhere& where = {})
      : task_(task), where_fn_(where), j_(j) {
    if (j.is_null()) return;
    if (!j.is_object()) {
      throw input_error(where_fn_ ? where_fn_("") : "task '" + task + "' parameters", "not an object", j.dump(),
                        "a JSON object such as {\"n_prompts\": 100}");
    }
    for (const auto& [key, value] : j.items()) {
      if (!allowed.count(key)) {
        std::vector<std::string> names(allowed.begin(), allowed.end());
        throw input_error(at(key), "unknown key", value.dump(),
                          fmt::format("one of {}", fmt::join(names, ", ")));
      }
    }
  }

  int integer(const std::string& key, int def, int lo, int hi) const {
    if (!has(key)) return def;
    const json& v = j_.at(key);
    if (!v.is_number_integer() || v.get<long long>() < lo || v.get<long long>() > hi) {
      throw input_error(at(key), "invalid value", v.dump(),
                        fmt::format("an integer in [{}, {}]", lo, hi));
    }
    return v.get<int>();
  }

  bool boolean(const std::string& key, bool def) const {
    if (!has(key)) return def;
    const json& v = j_.at(key);
    if (!v.is_boolean()) throw input_error(at(key), "invalid value", v.dump(), "true or false");
    return v.get<bool>();
  }

  std::string choice(const std::string& key, const std::string& def,
                     const std::vector<std::string>& options) const {
    if (!has(key)) return def;
    const json& v = j_.at(key);
    if (!v.is_string() || std::find(options.begin(), options.end(), v.get<std::string>()) == options.end()) {
      throw input_error(at(key), "invalid value", v.dump(),
                        fmt::format("one of {}", fmt::join(options, ", ")));
    }
    return v.get<std::string>();
  }

  std::string string(const std::string& key) const {
    if (!has(key) || !j_.at(key).is_string() || j_.at(key).get<std::string>().empty()) {
      throw input_error(at(key), has(key) ? "invalid value" : "missing",
                        has(key) ? j_.at(key).dump() : "", "a non-empty string");
    }
    return j_.at(key).get<std::string>();
  }

  std::vector<std::string> subset(const std::string& key, const std::vector<std::string>& def,
                                  const std::vector<std::string>& options) const {
    if (!has(key)) return def;
    const json& v = j_.at(key);
    const std::string expected = fmt::format("a non-empty list of distinct values from {}",
                                             fmt::join(options, ", "));
    if (!v.is_array() || v.empty()) throw input_error(at(key), "invalid value", v.dump(), expected);
    std::vector<std::string> out;
    for (const auto& e : v) {
      if (!e.is_string() || std::find(options.begin(), options.end(), e.get<std::string>()) == options.end() ||
          std::find(out.begin(), out.end(), e.get<std::string>()) != out.end()) {
        throw input_error(at(key), "invalid entry " + e.dump(), v.dump(), expected);
      }
      out.push_back(e.get<std::string>());
    }
    return out;
  }

  bool has(const std::string& key) const { return j_.is_object() && j_.contains(key); }

  std::string at(const std::string& key) const {
    return where_fn_ ? where_fn_(key) : "task '" + task_ + "' parameter '" + key + "'";
  }

 private:
  std::string task_;
  ParamWhere where_fn_;
  const json& j_;
};

constexpr int kMaxPrompts = 1 << 20;

// BOS policy shared by every task: TransformerLens prepends the BOS (GPT-2: <|endoftext|>) by
// default, and circuits found with and without it differ, so the default follows it.
int resolve_bos(const Params& params, const tok::Tokenizer& tok, Dataset& ds) {
  std::optional<int> bos = tok.bos_id();
  if (!bos) bos = tok.eos_id();
  ds.prepend_bos = params.boolean("prepend_bos", bos.has_value());
  if (ds.prepend_bos && !bos) {
    throw input_error("task '" + ds.task + "' parameter 'prepend_bos'",
                      "the tokenizer has no BOS/EOS token", "true", "false for " + tok.source());
  }
  ds.bos_id = ds.prepend_bos ? *bos : -1;
  return ds.bos_id;
}

void require_single_tokens(const std::string& task, const std::string& what,
                           const std::vector<std::string>& texts, const tok::Tokenizer& tok) {
  const auto bad = single_token_offenders(texts, tok);
  if (!bad.empty()) {
    throw input_error(fmt::format("task '{}' with tokenizer {}", task, tok.source()),
                      fmt::format("{} {} not single tokens: {}", bad.size(), what, fmt::join(bad, "; ")),
                      "", "every " + what + " to encode to exactly one token");
  }
}

void set_uniform(Dataset& ds) {
  ds.uniform_length = true;
  for (const auto& p : ds.prompts) {
    if (p.tokens.size() != ds.prompts.front().tokens.size()) ds.uniform_length = false;
  }
}

// A dataset of `task` with no prompts yet, its tokenizer recorded for provenance.
Dataset empty_dataset(const std::string& task, const tok::Tokenizer& tok) {
  Dataset ds;
  ds.task = task;
  ds.tokenizer_source = tok.source();
  return ds;
}

// Ids of the answers of a generated prompt, whose answer words were checked to be single tokens.
void set_answer_ids(Prompt& p, const tok::Tokenizer& tok) {
  p.correct_id = *tok.single_token_id(p.correct);
  p.incorrect_id = *tok.single_token_id(p.incorrect);
}

// A new prompt on a template drawn uniformly from `names`; its group is the template's index when
// grouping by template, else the one group 0.
Prompt draw_template(Rng& rng, const std::vector<std::string>& names, bool grouped) {
  Prompt p;
  const int t = rng.below(static_cast<int>(names.size()));
  p.template_name = names[t];
  p.group = grouped ? t : 0;
  return p;
}

// Renders and tokenizes a prompt whose fields are set, and appends it to the dataset.
void add_prompt(Dataset& ds, Prompt p, const tok::Tokenizer& tok, int bos) {
  detail::finalize(p, ds.task, tok, bos);
  ds.prompts.push_back(std::move(p));
}

// ---- Sequence continuation ---------------------------------------------------------------------

// The members a sequence dataset draws from: the kind's whole list, each " x" one token. With
// space_ends_text (digits, digit-splitting tokenizer) each shown member is [" ", "x"] and the
// answer is the bare "x", so "x" must be one token; the tail of the list that is not ("10" ->
// ["1", "0"]) is left out, reported once per tokenizer, so sequences stay contiguous. A member
// that is not one token while a later one is would leave a gap in the sequence: that throws.
std::vector<std::string> member_pool(const std::string& task, bool space_ends_text,
                                     const tok::Tokenizer& tok) {
  const auto& all = sequence_members(task);
  if (!space_ends_text) {
    std::vector<std::string> spaced;
    for (const auto& m : all) spaced.push_back(" " + m);
    require_single_tokens(task, "members", spaced, tok);
    return all;
  }
  std::size_t n_ok = 0;
  while (n_ok < all.size() && tok.single_token_id(all[n_ok])) ++n_ok;
  const std::vector<std::string> tail(all.begin() + n_ok, all.end());
  const std::vector<std::string> pool(all.begin(), all.begin() + n_ok);
  // Every member below the first offender is one token; the rest must all be offenders, and
  // enough must remain for the shortest sequence (3 shown + the answer).
  if (single_token_offenders(tail, tok).size() != tail.size() || pool.size() < 4) {
    require_single_tokens(task, "members", all, tok);
    throw input_error(fmt::format("task '{}' with tokenizer {}", task, tok.source()),
                      fmt::format("only {} members are single tokens", pool.size()), "",
                      "at least 4 (3 shown + the answer)");
  }
  static std::mutex mu;
  static std::set<std::string> reported;
  bool first = false;
  {
    std::lock_guard<std::mutex> lock(mu);
    first = reported.insert(task + "\n" + tok.source()).second;
  }
  if (!tail.empty() && first) {
    spdlog::warn("task '{}': {} splits digits from the preceding space (' 5' -> [' ', '5']), so "
                 "prompts end with 'in ' and the answers are bare digit tokens; members {} are "
                 "excluded because they are not single tokens ({}); members used: {}..{}",
                 task, tok.source(), fmt::join(tail, ", "),
                 fmt::join(single_token_offenders(tail, tok), "; "), pool.front(), pool.back());
  }
  return pool;
}

// The parameters of a sequence task, read (and range-checked) in one place for make_sequence and
// check_task_params. n_kind: members the prompts draw from (the kind's list, or the tokenizer's
// single-token part of it).
struct SequenceParams {
  int n = 0, k = 0;
  bool increasing = true;
  std::vector<std::string> templates;
  std::string filler_list;
  bool grouped = false;
};
const std::set<std::string> kSequenceKeys = {"n_prompts", "members", "direction", "templates", "fillers",
                                             "group_by_template", "prepend_bos"};

SequenceParams read_sequence_params(const Params& params, int n_kind) {
  SequenceParams p;
  p.n = params.integer("n_prompts", 100, 1, kMaxPrompts);
  // k shown + the answer must fit inside the kind without wrapping (days: 7 members).
  p.k = params.integer("members", 4, 3, std::min(6, n_kind - 1));
  p.increasing = params.choice("direction", "increasing", {"increasing", "decreasing"}) == "increasing";
  p.templates = params.subset("templates", {"done", "lost", "born"}, {"done", "lost", "born"});
  p.filler_list = params.choice("fillers", "objects", {"objects", "names"});
  p.grouped = params.boolean("group_by_template", false);
  return p;
}

Dataset make_sequence(const std::string& task, const json& j, const tok::Tokenizer& tok,
                      std::uint64_t seed) {
  const Params params(task, j, kSequenceKeys);
  Dataset ds = empty_dataset(task, tok);
  const bool space_ends_text = task == "digits" && split_digits_from_space(tok);
  ds.member_pool = member_pool(task, space_ends_text, tok);
  const auto& all = ds.member_pool;
  const int n_kind = static_cast<int>(all.size());
  const SequenceParams sp = read_sequence_params(params, n_kind);
  const int n = sp.n, k = sp.k;
  const bool increasing = sp.increasing;
  const auto& templates = sp.templates;
  const std::string& filler_list = sp.filler_list;
  const bool grouped = sp.grouped;
  const int bos = resolve_bos(params, tok, ds);

  const auto words = detail::single_token_words(filler_list, /*also_bare=*/true, tok, k + 1);
  ds.group_names = grouped ? templates : std::vector<std::string>{"all"};

  Rng rng(seed, detail::name_stream(task));
  for (int i = 0; i < n; ++i) {
    Prompt p = draw_template(rng, templates, grouped);
    // Start so that the answer (k steps on) stays inside the list: increasing starts at 1..n-k
    // (digits, 4 shown: 1..8 as in the reference study), decreasing at k+1..n.
    const int start = increasing ? rng.range(0, n_kind - k - 1) : rng.range(k, n_kind - 1);
    const int step = increasing ? 1 : -1;
    for (int m = 0; m < k; ++m) p.members.push_back(all[start + step * m]);
    for (int w : rng.distinct(static_cast<int>(words.size()), k + 1)) p.fillers.push_back(words[w]);
    const std::string space = space_ends_text ? "" : " ";
    p.space_ends_text = space_ends_text;
    p.correct = space + all[start + step * k];
    p.incorrect = space + p.members.back();
    set_answer_ids(p, tok);
    add_prompt(ds, std::move(p), tok, bos);
  }
  set_uniform(ds);
  return ds;
}

// ---- Greater-than ------------------------------------------------------------------------------

const std::set<std::string> kGreaterThanKeys = {"n_prompts", "prepend_bos"};

Dataset make_greater_than(const json& j, const tok::Tokenizer& tok, std::uint64_t seed) {
  const std::string task = "greater_than";
  const Params params(task, j, kGreaterThanKeys);
  Dataset ds = empty_dataset(task, tok);
  ds.group_names = {"all"};
  const int n = params.integer("n_prompts", 100, 1, kMaxPrompts);
  const int bos = resolve_bos(params, tok, ds);
  for (int y = 0; y < 100; ++y) {
    ds.year_ids.push_back(tok.single_token_id(fmt::format("{:02d}", y)).value_or(-1));
  }
  // Centuries 11..17 and years 02..98 (as the greater-than study): " XXYY" must split into
  // " XX" + "YY" so the model sees the century and the two-digit year as separate tokens.
  std::vector<std::pair<int, int>> valid;
  for (int xx = 11; xx <= 17; ++xx) {
    const auto xx_id = tok.single_token_id(fmt::format(" {}", xx));
    if (!xx_id) continue;
    for (int yy = 2; yy <= 98; ++yy) {
      if (ds.year_ids[yy] < 0 || ds.year_ids[yy + 1] < 0) continue;
      if (tok.encode(fmt::format(" {}{:02d}", xx, yy)) == std::vector<int>{*xx_id, ds.year_ids[yy]}) {
        valid.emplace_back(xx, yy);
      }
    }
  }
  if (valid.empty()) {
    throw input_error(fmt::format("task '{}' with tokenizer {}", task, tok.source()),
                      "no year XXYY (XX 11..17, YY 02..98) encodes as ' XX' + 'YY'", "",
                      "a GPT-2-style tokenizer with two-digit number tokens");
  }
  const auto nouns = detail::single_token_words("gt_nouns", false, tok, 1);
  Rng rng(seed, detail::name_stream(task));
  for (int i = 0; i < n; ++i) {
    const auto [xx, yy] = valid[rng.below(static_cast<int>(valid.size()))];
    Prompt p;
    p.template_name = "lasted";
    p.fillers = {nouns[rng.below(static_cast<int>(nouns.size()))]};
    p.members = {std::to_string(xx), fmt::format("{:02d}", yy)};
    p.yy = yy;
    // For the logit difference: the smallest valid year against the start year itself.
    p.correct = fmt::format("{:02d}", yy + 1);
    p.incorrect = fmt::format("{:02d}", yy);
    p.correct_id = ds.year_ids[yy + 1];
    p.incorrect_id = ds.year_ids[yy];
    add_prompt(ds, std::move(p), tok, bos);
  }
  set_uniform(ds);
  return ds;
}

// ---- IOI ---------------------------------------------------------------------------------------

const std::set<std::string> kIoiKeys = {"n_prompts", "templates", "group_by_template", "prepend_bos"};

struct IoiParams {
  int n = 0;
  std::string which;
  bool grouped = true;
};

IoiParams read_ioi_params(const Params& params) {
  IoiParams p;
  p.n = params.integer("n_prompts", 100, 1, kMaxPrompts);
  p.which = params.choice("templates", "both", {"both", "ABBA", "BABA"});
  // Templates differ in length, so means per position only make sense per template.
  p.grouped = params.boolean("group_by_template", true);
  return p;
}

Dataset make_ioi(const json& j, const tok::Tokenizer& tok, std::uint64_t seed) {
  const std::string task = "ioi";
  const Params params(task, j, kIoiKeys);
  Dataset ds = empty_dataset(task, tok);
  const IoiParams ip = read_ioi_params(params);
  const int n = ip.n;
  const std::string& which = ip.which;
  const bool grouped = ip.grouped;
  const int bos = resolve_bos(params, tok, ds);
  const auto names = detail::single_token_words("ioi_names", false, tok, 3);
  const auto places = detail::single_token_words("ioi_places", false, tok, 1);
  const auto objects = detail::single_token_words("ioi_objects", false, tok, 1);

  std::vector<std::string> forms;
  for (std::size_t t = 0; t < detail::ioi_templates().size(); ++t) {
    if (which != "BABA") forms.push_back(fmt::format("ioi_{}_ABBA", t));
    if (which != "ABBA") forms.push_back(fmt::format("ioi_{}_BABA", t));
  }
  ds.group_names = grouped ? forms : std::vector<std::string>{"all"};
  Rng rng(seed, detail::name_stream(task));
  for (int i = 0; i < n; ++i) {
    Prompt p = draw_template(rng, forms, grouped);
    const auto two = rng.distinct(static_cast<int>(names.size()), 2);
    const std::string& io = names[two[0]];
    const std::string& s = names[two[1]];
    const bool abba = p.template_name.compare(p.template_name.size() - 4, 4, "ABBA") == 0;
    p.members = abba ? std::vector<std::string>{io, s, s} : std::vector<std::string>{s, io, s};
    p.fillers = {places[rng.below(static_cast<int>(places.size()))],
                 objects[rng.below(static_cast<int>(objects.size()))]};
    p.correct = " " + io;
    p.incorrect = " " + s;
    set_answer_ids(p, tok);
    add_prompt(ds, std::move(p), tok, bos);
  }
  set_uniform(ds);
  return ds;
}

// ---- Custom JSONL ------------------------------------------------------------------------------

const std::set<std::string> kCustomKeys = {"path", "prepend_bos"};

Dataset make_custom(const json& j, const tok::Tokenizer& tok) {
  const std::string task = "custom";
  const Params params(task, j, kCustomKeys);
  const std::string path = params.string("path");
  Dataset ds = empty_dataset(task, tok);
  ds.group_names = {"all"};
  const int bos = resolve_bos(params, tok, ds);
  std::istringstream in(read_file_text(path));
  std::string line;
  int line_no = 0;
  bool any_corrupted = false, all_corrupted = true;
  std::vector<std::string> offenders;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = fmt::format("{}:{}", path, line_no);
    json row;
    try {
      row = json::parse(line);
    } catch (const json::exception& e) {
      throw input_error(where, "invalid JSON", e.what(), "one JSON object per line");
    }
    for (const char* key : {"prompt", "correct", "incorrect"}) {
      if (!row.is_object() || !row.contains(key) || !row.at(key).is_string() ||
          row.at(key).get<std::string>().empty()) {
        throw input_error(where + " field '" + key + "'", "missing or not a non-empty string",
                          row.is_object() && row.contains(key) ? row.at(key).dump() : "",
                          "{\"prompt\": ..., \"correct\": ..., \"incorrect\": ...}");
      }
    }
    Prompt p;
    p.template_name = "custom";
    p.fillers = {row.at("prompt").get<std::string>()};
    p.correct = row.at("correct").get<std::string>();
    p.incorrect = row.at("incorrect").get<std::string>();
    const auto c = tok.single_token_id(p.correct), ic = tok.single_token_id(p.incorrect);
    for (const auto& bad : single_token_offenders({p.correct, p.incorrect}, tok)) {
      offenders.push_back(where + ": " + bad);
    }
    p.correct_id = c.value_or(-1);
    p.incorrect_id = ic.value_or(-1);
    std::string alt;
    if (row.contains("corrupted")) {
      if (!row.at("corrupted").is_string()) {
        throw input_error(where + " field 'corrupted'", "not a string", row.at("corrupted").dump(), "a prompt");
      }
      alt = row.at("corrupted").get<std::string>();
      any_corrupted = true;
    } else {
      all_corrupted = false;
    }
    detail::finalize(p, task, tok, bos);
    if (!alt.empty() && tok.encode(alt).size() + (bos >= 0) != p.tokens.size()) {
      throw input_error(where + " field 'corrupted'", "token count differs from the prompt's",
                        std::to_string(tok.encode(alt).size() + (bos >= 0)),
                        std::to_string(p.tokens.size()) + " tokens, so positions align");
    }
    ds.prompts.push_back(std::move(p));
    ds.alt_texts.push_back(std::move(alt));
  }
  if (!offenders.empty()) {
    throw input_error(path, fmt::format("{} answers are not single tokens for {}: {}", offenders.size(),
                                        tok.source(), fmt::join(offenders, "; ")),
                      "", "every correct/incorrect answer to encode to one token");
  }
  if (ds.prompts.empty()) throw input_error(path, "no prompts", "", "JSONL lines with prompt/correct/incorrect");
  if (any_corrupted && !all_corrupted) {
    throw input_error(path, "only some lines have a 'corrupted' prompt", "", "all lines or none");
  }
  if (!any_corrupted) ds.alt_texts.clear();
  set_uniform(ds);
  return ds;
}

}  // namespace

TaskParamsSummary check_task_params(const std::string& task, const json& j, const ParamWhere& where) {
  vocab::task_info(task);
  TaskParamsSummary out;
  int members = 4;
  if (is_sequence_task(task)) {
    const Params params(task, j, kSequenceKeys, where);
    const SequenceParams sp = read_sequence_params(params, static_cast<int>(sequence_members(task).size()));
    params.boolean("prepend_bos", true);
    out.n_prompts = sp.n;
    members = sp.k;
  } else if (task == "greater_than") {
    const Params params(task, j, kGreaterThanKeys, where);
    out.n_prompts = params.integer("n_prompts", 100, 1, kMaxPrompts);
    params.boolean("prepend_bos", true);
  } else if (task == "ioi") {
    const Params params(task, j, kIoiKeys, where);
    out.n_prompts = read_ioi_params(params).n;
    params.boolean("prepend_bos", true);
  } else if (task == "custom") {
    const Params params(task, j, kCustomKeys, where);
    const std::string path = params.string("path");
    params.boolean("prepend_bos", true);
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec))
      throw input_error(params.at("path"), "no such file", "\"" + path + "\"",
                        "a JSONL file of prompts (relative to the working directory " +
                            std::filesystem::current_path(ec).string() + ")");
    out.n_prompts = -1;
  }
  out.positions = vocab::position_names(task, members);
  return out;
}

Dataset make_dataset(const std::string& task, const json& params, const tok::Tokenizer& tok,
                     std::uint64_t seed) {
  if (is_sequence_task(task)) return make_sequence(task, params, tok, seed);
  if (task == "greater_than") return make_greater_than(params, tok, seed);
  if (task == "ioi") return make_ioi(params, tok, seed);
  if (task == "custom") return make_custom(params, tok);
  throw input_error("task", "unknown task", "'" + task + "'",
                    fmt::format("one of {}", fmt::join(task_names(), ", ")));
}

}  // namespace csweep::tasks
