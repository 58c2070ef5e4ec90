// Readers of the three on-disk tokenizer layouts: HF tokenizer.json, HF vocab.json + merges.txt,
// and OpenAI's encoder.json + vocab.bpe. Each turns a file into detail::Tables; every error
// names the file and the field or line.
#include <fmt/format.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include <array>
#include <string_view>

#include "core/error.hpp"
#include "core/files.hpp"
#include "workers/tokenizer/tables.hpp"

namespace csweep::tok::detail {
namespace {

using nlohmann::json;

bool is_file(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}
bool is_dir(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string join(const std::string& dir, const std::string& name) {
  if (dir.empty() || dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

json parse_json_file(const std::string& path) {
  const std::string text = read_file_text(path);
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    throw input_error(path, fmt::format("not valid JSON: {}", e.what()));
  }
}

std::string type_name(const json& j) { return j.type_name(); }

// {token: id, ...} -> id_to_token; `where` names the file and field for errors.
std::vector<std::string> vocab_from_json(const json& vocab, const std::string& where) {
  if (!vocab.is_object()) {
    throw input_error(where, "the vocabulary must be a JSON object of token -> id",
                      type_name(vocab), "object");
  }
  CSWEEP_CHECK_INPUT(!vocab.empty(), "{}: the vocabulary is empty", where);
  std::vector<std::string> id_to_token;
  for (const auto& [token, value] : vocab.items()) {
    if (!value.is_number_integer() || value.get<long long>() < 0 ||
        value.get<long long>() > (1 << 30)) {
      throw input_error(where, fmt::format("id of token {:?}", token), value.dump(),
                        "a non-negative integer id");
    }
    CSWEEP_CHECK_INPUT(!token.empty(), "{}: the vocabulary has an empty token (id {})", where,
                       value.dump());
    const auto id = static_cast<std::size_t>(value.get<long long>());
    if (id >= id_to_token.size()) id_to_token.resize(id + 1);
    if (!id_to_token[id].empty()) {
      throw input_error(where, fmt::format("id {} is given to two tokens", id),
                        fmt::format("{:?} and {:?}", id_to_token[id], token), "unique ids");
    }
    id_to_token[id] = token;
  }
  return id_to_token;
}

// merges.txt / vocab.bpe: an optional "#version" first line, then one "left right" per line.
void read_merges_txt(const std::string& path, Tables& t) {
  const std::string text = read_file_text(path);
  auto lines = std::make_shared<std::vector<std::size_t>>();  // line number of each merge
  std::size_t pos = 0;
  std::size_t line_no = 0;
  while (pos < text.size()) {
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    std::string_view line(text.data() + pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    if (line_no == 1 && line.substr(0, 8) == "#version") continue;
    const std::size_t sp = line.find(' ');
    if (sp == std::string_view::npos || sp == 0 || sp + 1 == line.size() ||
        line.find(' ', sp + 1) != std::string_view::npos) {
      throw input_error(fmt::format("{} line {}", path, line_no),
                        "expected two tokens separated by one space", fmt::format("{:?}", line),
                        "\"left right\"");
    }
    t.merges.emplace_back(std::string(line.substr(0, sp)), std::string(line.substr(sp + 1)));
    lines->push_back(line_no);
  }
  t.merge_where = [path, lines](std::size_t i) {
    return fmt::format("{} line {}", path, (*lines)[i]);
  };
}

// The OpenAI files carry no special-token list; "<|endoftext|>" is GPT-2's only special, used
// as both BOS and EOS.
Tables load_vocab_and_merges(const std::string& vocab_path, const std::string& merges_path) {
  Tables t;
  t.source = vocab_path + " + " + merges_path;
  t.id_to_token = vocab_from_json(parse_json_file(vocab_path), vocab_path);
  read_merges_txt(merges_path, t);
  for (std::size_t id = 0; id < t.id_to_token.size(); ++id) {
    if (t.id_to_token[id] == "<|endoftext|>") t.specials.emplace("<|endoftext|>", static_cast<int>(id));
  }
  return t;
}

bool is_null_or_absent(const json& root, const char* key) {
  return !root.contains(key) || root.at(key).is_null();
}

bool byte_level_uses_regex(const json& bl) {
  return !bl.contains("use_regex") || bl.at("use_regex").get<bool>();
}

// Maps the pre_tokenizer object onto the two splitting schemes we implement.
void read_pre_tokenizer(const json& root, const std::string& path, Tables& t) {
  const std::string where = path + ": pre_tokenizer";
  const auto unsupported = [&](const std::string& got) {
    return input_error(where, "unsupported pre-tokenizer", got,
                       "ByteLevel, or Sequence[Digits(individual_digits=true), ByteLevel]");
  };
  if (is_null_or_absent(root, "pre_tokenizer")) throw unsupported("null");
  const json& pre = root.at("pre_tokenizer");
  const std::string type = pre.value("type", "");
  try {
    if (type == "ByteLevel") {
      if (!byte_level_uses_regex(pre)) throw unsupported("ByteLevel(use_regex=false)");
      t.pre = PreTokenizer::kGPT2;
      t.add_prefix_space = pre.value("add_prefix_space", false);
      return;
    }
    if (type == "Sequence" && pre.contains("pretokenizers") && pre.at("pretokenizers").is_array()) {
      const json& seq = pre.at("pretokenizers");
      if (seq.size() == 2 && seq[0].value("type", "") == "Digits" &&
          seq[0].value("individual_digits", false) && seq[1].value("type", "") == "ByteLevel" &&
          byte_level_uses_regex(seq[1])) {
        // A prefix space would be added to every stretch between digits; no byte-level model we
        // know of does that, so it is refused rather than guessed.
        if (seq[1].value("add_prefix_space", false))
          throw unsupported("Sequence[Digits, ByteLevel(add_prefix_space=true)]");
        t.pre = PreTokenizer::kDigitsThenGPT2;
        return;
      }
    }
  } catch (const json::exception& e) {
    throw input_error(where, fmt::format("malformed: {}", e.what()));
  }
  throw unsupported(pre.dump().substr(0, 200));
}

std::optional<std::string> special_text(const json& cfg, const char* key) {
  if (!cfg.contains(key)) return std::nullopt;
  const json& v = cfg.at(key);
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v.at("content").is_string())
    return v.at("content").get<std::string>();
  return std::nullopt;
}

// bos/eos roles are not in tokenizer.json; HF keeps them in tokenizer_config.json next to it.
void read_tokenizer_config(const std::string& path, Tables& t) {
  if (!is_file(path)) return;
  const json cfg = parse_json_file(path);
  if (!cfg.is_object()) return;
  for (auto [key, slot] : {std::pair{"bos_token", &t.bos}, std::pair{"eos_token", &t.eos}}) {
    const auto text = special_text(cfg, key);
    if (!text) continue;
    const auto it = t.specials.find(*text);
    if (it != t.specials.end()) {
      *slot = it->second;
      continue;
    }
    for (std::size_t id = 0; id < t.id_to_token.size(); ++id) {
      if (t.id_to_token[id] == *text) *slot = static_cast<int>(id);
    }
  }
}

Tables load_tokenizer_json(const std::string& path) {
  const json root = parse_json_file(path);
  CSWEEP_CHECK_INPUT(root.is_object(), "{}: expected a JSON object at the top level (got {})",
                     path, type_name(root));
  Tables t;
  t.source = path;
  if (!is_null_or_absent(root, "normalizer")) {
    const json& n = root.at("normalizer");
    const bool empty_sequence = n.value("type", "") == "Sequence" &&
                                n.contains("normalizers") && n.at("normalizers").empty();
    if (!empty_sequence) {
      throw input_error(path + ": normalizer", "unsupported normalizer",
                        n.dump().substr(0, 200), "null (byte-level BPEs normalise nothing)");
    }
  }
  CSWEEP_CHECK_INPUT(root.contains("model") && root.at("model").is_object(),
                     "{}: field model: missing or not an object", path);
  const json& model = root.at("model");
  if (model.contains("type") && model.at("type") != "BPE") {
    throw input_error(path + ": model.type", "unsupported model", model.at("type").dump(),
                      "\"BPE\"");
  }
  if (model.contains("byte_fallback") && model.at("byte_fallback").is_boolean() &&
      model.at("byte_fallback").get<bool>()) {
    throw input_error(path + ": model.byte_fallback", "unsupported BPE option", "true",
                      "false (a byte-level BPE covers every byte already)");
  }
  for (const char* affix : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (model.contains(affix) && model.at(affix).is_string() &&
        !model.at(affix).get<std::string>().empty()) {
      throw input_error(fmt::format("{}: model.{}", path, affix), "unsupported BPE option",
                        model.at(affix).dump(), "null");
    }
  }
  if (model.contains("ignore_merges") && model.at("ignore_merges").is_boolean())
    t.ignore_merges = model.at("ignore_merges").get<bool>();

  CSWEEP_CHECK_INPUT(model.contains("vocab"), "{}: field model.vocab: missing", path);
  t.id_to_token = vocab_from_json(model.at("vocab"), path + ": model.vocab");

  CSWEEP_CHECK_INPUT(model.contains("merges") && model.at("merges").is_array(),
                     "{}: field model.merges: missing or not an array", path);
  const json& merges = model.at("merges");
  t.merges.reserve(merges.size());
  for (std::size_t i = 0; i < merges.size(); ++i) {
    const json& m = merges[i];
    const auto bad = [&] {
      return input_error(fmt::format("{}: model.merges[{}]", path, i), "malformed merge",
                         m.dump().substr(0, 100), "\"left right\" or [\"left\", \"right\"]");
    };
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const std::size_t sp = s.find(' ');
      if (sp == std::string::npos || sp == 0 || sp + 1 == s.size() ||
          s.find(' ', sp + 1) != std::string::npos)
        throw bad();
      t.merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string() &&
               !m[0].get<std::string>().empty() && !m[1].get<std::string>().empty()) {
      t.merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    } else {
      throw bad();
    }
  }
  t.merge_where = [path](std::size_t i) { return fmt::format("{}: model.merges[{}]", path, i); };

  read_pre_tokenizer(root, path, t);

  if (!is_null_or_absent(root, "added_tokens")) {
    const json& added = root.at("added_tokens");
    CSWEEP_CHECK_INPUT(added.is_array(), "{}: field added_tokens: expected an array (got {})",
                       path, type_name(added));
    for (std::size_t i = 0; i < added.size(); ++i) {
      const json& a = added[i];
      const std::string where = fmt::format("{}: added_tokens[{}]", path, i);
      if (!a.is_object() || !a.contains("id") || !a.at("id").is_number_integer() ||
          a.at("id").get<long long>() < 0 || a.at("id").get<long long>() > (1 << 30) ||
          !a.contains("content") || !a.at("content").is_string() ||
          a.at("content").get<std::string>().empty()) {
        throw input_error(where, "malformed added token", a.dump().substr(0, 100),
                          "{\"id\": <non-negative int>, \"content\": <non-empty string>, ...}");
      }
      const auto id = static_cast<std::size_t>(a.at("id").get<long long>());
      const std::string content = a.at("content").get<std::string>();
      if (id >= t.id_to_token.size()) t.id_to_token.resize(id + 1);
      if (t.id_to_token[id].empty()) {
        t.id_to_token[id] = content;
        t.verbatim_ids.insert(static_cast<int>(id));
      } else if (t.id_to_token[id] != content) {
        throw input_error(where, fmt::format("id {} already belongs to vocabulary token {:?}", id,
                                             t.id_to_token[id]),
                          fmt::format("{:?}", content), "the same text or an unused id");
      }
      // Non-special added tokens are not matched in ordinary text either (see tokenizer.hpp).
      if (a.value("special", false)) t.specials[content] = static_cast<int>(id);
    }
  }
  const std::size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  read_tokenizer_config(join(dir, "tokenizer_config.json"), t);
  return t;
}

}  // namespace

Tables load_tables(const std::string& path) {
  if (is_file(path)) return load_tokenizer_json(path);
  if (!is_dir(path)) throw input_error(path, "tokenizer path does not exist");
  if (is_file(join(path, "tokenizer.json"))) return load_tokenizer_json(join(path, "tokenizer.json"));
  const std::array<std::pair<const char*, const char*>, 2> pairs = {
      {{"vocab.json", "merges.txt"}, {"encoder.json", "vocab.bpe"}}};
  for (const auto& [vocab, merges] : pairs) {
    if (is_file(join(path, vocab)) && is_file(join(path, merges)))
      return load_vocab_and_merges(join(path, vocab), join(path, merges));
  }
  throw input_error(path, "no tokenizer files in this directory", "",
                    "tokenizer.json, or vocab.json + merges.txt, or encoder.json + vocab.bpe");
}

}  // namespace csweep::tok::detail
