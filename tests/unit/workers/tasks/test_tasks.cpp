// Task generators and corruptions: every row of every dataset is checked for consistency between
// its fields, its text, its tokens and its named positions (with GPT-2's tokenizer from data/).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <set>
#include <string>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>
#include <utility>

#include "core/error.hpp"
#include "workers/tasks/task.hpp"
#include "workers/tokenizer/tokenizer.hpp"

namespace {

using csweep::tasks::Dataset;
using csweep::tasks::Prompt;
using nlohmann::json;

const csweep::tok::Tokenizer& gpt2() {
  static csweep::tok::Tokenizer t =
      csweep::tok::Tokenizer::load(std::string(CSWEEP_SOURCE_DIR) + "/data/tokenizers/gpt2");
  return t;
}

int tok1(const std::string& s) {
  auto id = gpt2().single_token_id(s);
  EXPECT_TRUE(id.has_value()) << "'" << s << "' is not one GPT-2 token";
  return id.value_or(-2);
}

// Everything a row must satisfy, whatever the task and corruption.
void check_row(const Dataset& ds, const Prompt& p, const csweep::tok::Tokenizer& tok) {
  SCOPED_TRACE(ds.task + "/" + ds.corruption + ": " + p.text);
  EXPECT_EQ(csweep::tasks::render(ds.task, p), p.text);
  std::vector<int> expected;
  if (ds.prepend_bos) expected.push_back(ds.bos_id);
  for (int id : tok.encode(p.text)) expected.push_back(id);
  EXPECT_EQ(p.tokens, expected);
  ASSERT_TRUE(p.positions.count("end"));
  EXPECT_EQ(p.answer_pos(), static_cast<int>(p.tokens.size()) - 1);
  EXPECT_EQ(tok.single_token_id(p.correct).value_or(-3), p.correct_id);
  EXPECT_EQ(tok.single_token_id(p.incorrect).value_or(-3), p.incorrect_id);
  EXPECT_GE(p.group, 0);
  EXPECT_LT(p.group, static_cast<int>(ds.group_names.size()));
  auto token_at = [&](const std::string& name) {
    EXPECT_TRUE(p.positions.count(name)) << name;
    const int pos = p.positions.count(name) ? p.positions.at(name) : 0;
    return p.tokens.at(pos);
  };
  if (csweep::tasks::is_sequence_task(ds.task)) {
    EXPECT_EQ(p.fillers.size(), p.members.size() + 1);
    // Each shown member's token: " x" as one token, or with a digit-splitting tokenizer the bare
    // "x" right after its own space token.
    const std::string lead = p.space_ends_text ? "" : " ";
    for (std::size_t i = 0; i < p.members.size(); ++i) {
      const std::string s = "S" + std::to_string(i + 1);
      EXPECT_EQ(token_at(s), tok.single_token_id(lead + p.members[i]).value_or(-4));
      if (p.space_ends_text) {
        EXPECT_EQ(p.tokens.at(p.positions.at(s) - 1), tok.single_token_id(" ").value_or(-5));
      }
    }
    EXPECT_EQ(p.text.back() == ' ', p.space_ends_text);
    // Either answer appended to the text is exactly the text's tokens plus the answer's token.
    for (const auto& [answer, id] : {std::make_pair(p.correct, p.correct_id), std::make_pair(p.incorrect, p.incorrect_id)}) {
      std::vector<int> head = tok.encode(p.text);
      head.push_back(id);
      EXPECT_EQ(tok.encode(p.text + answer), head) << answer;
    }
    // The text itself names the members in order: "... in {x}." for each.
    std::size_t at = 0;
    for (const auto& m : p.members) {
      at = p.text.find(" in " + m + ".", at);
      EXPECT_NE(at, std::string::npos) << m;
    }
  } else if (ds.task == "ioi") {
    ASSERT_EQ(p.members.size(), 3u);
    const bool abba = p.template_name.substr(p.template_name.size() - 4) == "ABBA";
    EXPECT_EQ(tok.decode({token_at("IO")}), " " + p.members[abba ? 0 : 1]);
    EXPECT_EQ(tok.decode({token_at("S1")}), " " + p.members[abba ? 1 : 0]);
    EXPECT_EQ(tok.decode({token_at("S2")}), " " + p.members[2]);
  } else if (ds.task == "greater_than") {
    EXPECT_EQ(tok.decode({token_at("XX1")}), " " + p.members[0]);
    EXPECT_EQ(tok.decode({token_at("YY")}), p.members[1]);
    EXPECT_EQ(tok.decode({token_at("XX2")}), " " + p.members[0]);
    EXPECT_EQ(token_at("XX2"), p.tokens.back());
  }
}

void check_dataset(const Dataset& ds, const csweep::tok::Tokenizer& tok = gpt2()) {
  ASSERT_FALSE(ds.prompts.empty());
  for (const auto& p : ds.prompts) check_row(ds, p, tok);
  bool uniform = true;
  for (const auto& p : ds.prompts) uniform = uniform && p.tokens.size() == ds.prompts[0].tokens.size();
  EXPECT_EQ(ds.uniform_length, uniform);
}

const std::vector<std::string> kKinds = {"digits", "numwords", "months", "days"};

int index_of(const std::vector<std::string>& all, const std::string& m) {
  return static_cast<int>(std::find(all.begin(), all.end(), m) - all.begin());
}

TEST(SequenceTask, DefaultReproducesReferenceForm) {
  const Dataset ds = csweep::tasks::make_dataset("digits", json::object(), gpt2(), 1);
  check_dataset(ds);
  ASSERT_EQ(ds.size(), 100u);
  EXPECT_TRUE(ds.uniform_length);
  EXPECT_TRUE(ds.prepend_bos);
  EXPECT_EQ(ds.bos_id, 50256);
  EXPECT_EQ(ds.group_names, std::vector<std::string>{"all"});
  std::set<int> starts;
  for (const auto& p : ds.prompts) {
    ASSERT_EQ(p.members.size(), 4u);
    const int x1 = std::stoi(p.members[0]);
    starts.insert(x1);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(p.members[i], std::to_string(x1 + i));
    EXPECT_EQ(p.correct, " " + std::to_string(x1 + 4));
    EXPECT_EQ(p.incorrect, " " + std::to_string(x1 + 3));
    EXPECT_EQ(p.correct_id, tok1(" " + std::to_string(x1 + 4)));
    EXPECT_TRUE(p.template_name == "done" || p.template_name == "lost" || p.template_name == "born");
    // "{W1} {verb} in {x1}. ... {W5} {verb} in"
    const std::string v = p.template_name;
    const std::string expected = p.fillers[0] + " " + v + " in " + p.members[0] + ". " + p.fillers[1] + " " + v +
                                 " in " + p.members[1] + ". " + p.fillers[2] + " " + v + " in " + p.members[2] +
                                 ". " + p.fillers[3] + " " + v + " in " + p.members[3] + ". " + p.fillers[4] +
                                 " " + v + " in";
    EXPECT_EQ(p.text, expected);
    EXPECT_EQ(p.positions.at("S1"), 4);  // [bos] W1 verb in x1
    EXPECT_EQ(p.positions.at("end"), static_cast<int>(p.tokens.size()) - 1);
  }
  EXPECT_EQ(*starts.begin(), 1);
  EXPECT_EQ(*starts.rbegin(), 8);  // starts 1..8 so the answer stays within 1..12
}

TEST(SequenceTask, EveryKindDirectionAndLength) {
  for (const auto& kind : kKinds) {
    const auto& all = csweep::tasks::sequence_members(kind);
    for (const std::string dir : {"increasing", "decreasing"}) {
      for (int k = 3; k <= 6; ++k) {
        if (k + 1 > static_cast<int>(all.size())) continue;
        for (const std::string fillers : {"objects", "names"}) {
          const json params = {{"n_prompts", 40}, {"members", k}, {"direction", dir},
                               {"fillers", fillers}, {"group_by_template", true}};
          const Dataset ds = csweep::tasks::make_dataset(kind, params, gpt2(), 7);
          SCOPED_TRACE(kind + " " + dir + " k=" + std::to_string(k));
          check_dataset(ds);
          EXPECT_EQ(ds.group_names.size(), 3u);
          const int step = dir == "increasing" ? 1 : -1;
          for (const auto& p : ds.prompts) {
            ASSERT_EQ(static_cast<int>(p.members.size()), k);
            const int x1 = index_of(all, p.members[0]);
            for (int i = 0; i < k; ++i) EXPECT_EQ(index_of(all, p.members[i]), x1 + step * i);
            EXPECT_EQ(p.correct, " " + all.at(x1 + step * k));
            EXPECT_EQ(p.incorrect, " " + p.members.back());
            EXPECT_EQ(ds.group_names[p.group], p.template_name);
            std::set<std::string> distinct(p.fillers.begin(), p.fillers.end());
            EXPECT_EQ(distinct.size(), p.fillers.size());
          }
        }
      }
    }
  }
}

TEST(SequenceTask, DeterministicFromSeed) {
  const json params = {{"n_prompts", 30}};
  const Dataset a = csweep::tasks::make_dataset("months", params, gpt2(), 42);
  const Dataset b = csweep::tasks::make_dataset("months", params, gpt2(), 42);
  const Dataset c = csweep::tasks::make_dataset("months", params, gpt2(), 43);
  int same = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a.prompts[i].text, b.prompts[i].text);
    EXPECT_EQ(a.prompts[i].tokens, b.prompts[i].tokens);
    same += a.prompts[i].text == c.prompts[i].text;
  }
  EXPECT_LT(same, 5);
  const Dataset ca = csweep::tasks::corrupt(a, "randAll", 3, gpt2());
  const Dataset cb = csweep::tasks::corrupt(b, "randAll", 3, gpt2());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(ca.prompts[i].text, cb.prompts[i].text);
}

// Every row of every corruption of every sequence kind.
TEST(Corruptions, EverySequenceCorruptionEveryRow) {
  for (const auto& kind : kKinds) {
    const auto& all = csweep::tasks::sequence_members(kind);
    for (const std::string dir : {"increasing", "decreasing"}) {
      const json params = {{"n_prompts", 60}, {"direction", dir}};
      const Dataset clean = csweep::tasks::make_dataset(kind, params, gpt2(), 11);
      for (const auto& name : csweep::tasks::corruption_names(kind)) {
        SCOPED_TRACE(kind + " " + dir + " " + name);
        const Dataset bad = csweep::tasks::corrupt(clean, name, 5, gpt2());
        EXPECT_EQ(bad.corruption, name);
        ASSERT_EQ(bad.size(), clean.size());
        check_dataset(bad);
        int changed = 0;
        for (std::size_t i = 0; i < clean.size(); ++i) {
          const Prompt& c = clean.prompts[i];
          const Prompt& p = bad.prompts[i];
          EXPECT_EQ(p.tokens.size(), c.tokens.size());
          EXPECT_EQ(p.fillers, c.fillers);
          EXPECT_EQ(p.template_name, c.template_name);
          EXPECT_EQ(p.group, c.group);
          EXPECT_EQ(p.correct_id, c.correct_id);
          EXPECT_EQ(p.incorrect_id, c.incorrect_id);
          EXPECT_EQ(p.positions, c.positions);
          changed += p.text != c.text;
          const auto& m = c.members;
          const auto& q = p.members;
          for (const auto& x : q) EXPECT_LT(index_of(all, x), static_cast<int>(all.size()));
          if (name == "switchLastTwo") {
            EXPECT_EQ(q, (std::vector<std::string>{m[0], m[1], m[3], m[2]}));
          } else if (name == "repeatLastTwo") {
            EXPECT_EQ(q, (std::vector<std::string>{m[2], m[3], m[2], m[3]}));
          } else if (name == "repeatFirstAll") {
            EXPECT_EQ(q, (std::vector<std::string>{m[0], m[0], m[0], m[0]}));
          } else if (name == "repeatRand") {
            EXPECT_TRUE(q[0] == q[1] && q[1] == q[2] && q[2] == q[3]);
          } else if (name == "permutation") {
            EXPECT_NE(q, m);
            EXPECT_TRUE(std::is_permutation(q.begin(), q.end(), m.begin()));
          }
        }
        if (name == "switchLastTwo" || name == "repeatLastTwo" || name == "repeatFirstAll" ||
            name == "permutation") {
          EXPECT_EQ(changed, static_cast<int>(clean.size()));
        } else {
          EXPECT_GT(changed, static_cast<int>(clean.size()) * 9 / 10);
        }
      }
    }
  }
}

TEST(Corruptions, RandAllDrawsFromTheWholeKind) {
  const Dataset clean = csweep::tasks::make_dataset("digits", {{"n_prompts", 500}}, gpt2(), 2);
  const Dataset bad = csweep::tasks::corrupt(clean, "randAll", 9, gpt2());
  std::set<std::string> seen;
  for (const auto& p : bad.prompts) seen.insert(p.members.begin(), p.members.end());
  EXPECT_EQ(seen.size(), 12u);
}

TEST(Corruptions, UnknownOrInapplicableNamesAreInputErrors) {
  const Dataset clean = csweep::tasks::make_dataset("digits", {{"n_prompts", 3}}, gpt2(), 2);
  try {
    csweep::tasks::corrupt(clean, "ABC", 1, gpt2());
    FAIL() << "expected InputError";
  } catch (const csweep::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("randAll"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'ABC'"), std::string::npos) << e.what();
  }
  const Dataset bad = csweep::tasks::corrupt(clean, "randAll", 1, gpt2());
  EXPECT_THROW(csweep::tasks::corrupt(bad, "randAll", 1, gpt2()), csweep::InputError);
}

TEST(GreaterThan, PromptsAndXX01) {
  const Dataset clean = csweep::tasks::make_dataset("greater_than", {{"n_prompts", 80}}, gpt2(), 3);
  check_dataset(clean);
  EXPECT_TRUE(clean.uniform_length);
  ASSERT_EQ(clean.year_ids.size(), 100u);
  EXPECT_EQ(clean.year_ids[32], tok1("32"));
  EXPECT_EQ(clean.year_ids[5], tok1("05"));
  for (const auto& p : clean.prompts) {
    const int xx = std::stoi(p.members[0]);
    EXPECT_GE(xx, 11);
    EXPECT_LE(xx, 17);
    EXPECT_EQ(p.yy, std::stoi(p.members[1]));
    EXPECT_EQ(p.text, "The " + p.fillers[0] + " lasted from the year " + p.members[0] + p.members[1] +
                          " to the year " + p.members[0]);
  }
  const Dataset bad = csweep::tasks::corrupt(clean, "XX01", 0, gpt2());
  check_dataset(bad);
  for (std::size_t i = 0; i < bad.size(); ++i) {
    EXPECT_EQ(bad.prompts[i].members[1], "01");
    EXPECT_EQ(bad.prompts[i].members[0], clean.prompts[i].members[0]);
    EXPECT_EQ(bad.prompts[i].yy, clean.prompts[i].yy);
    EXPECT_NE(bad.prompts[i].text.find(clean.prompts[i].members[0] + "01 to"), std::string::npos);
  }
}

TEST(IOI, BothTemplateFamiliesAndABC) {
  const Dataset clean = csweep::tasks::make_dataset("ioi", {{"n_prompts", 120}}, gpt2(), 4);
  check_dataset(clean);
  int abba = 0;
  for (const auto& p : clean.prompts) {
    const int io = p.tokens[p.positions.at("IO")];
    EXPECT_EQ(io, p.correct_id);
    EXPECT_EQ(p.tokens[p.positions.at("S1")], p.incorrect_id);
    EXPECT_EQ(p.tokens[p.positions.at("S2")], p.incorrect_id);
    EXPECT_NE(p.correct_id, p.incorrect_id);
    EXPECT_LT(p.positions.at("S1"), p.positions.at("S2"));
    abba += p.template_name.substr(p.template_name.size() - 4) == "ABBA";
    EXPECT_EQ(clean.group_names[p.group], p.template_name);
  }
  EXPECT_GT(abba, 20);
  EXPECT_LT(abba, 100);
  // Within a template group the prompts align position by position.
  for (const auto& p : clean.prompts) {
    for (const auto& q : clean.prompts) {
      if (p.group == q.group) {
        EXPECT_EQ(p.tokens.size(), q.tokens.size());
        EXPECT_EQ(p.positions, q.positions);
      }
    }
  }
  const Dataset bad = csweep::tasks::corrupt(clean, "ABC", 8, gpt2());
  check_dataset(bad);
  for (std::size_t i = 0; i < bad.size(); ++i) {
    const auto& m = bad.prompts[i].members;
    EXPECT_EQ(std::set<std::string>(m.begin(), m.end()).size(), 3u);
    EXPECT_EQ(bad.prompts[i].correct_id, clean.prompts[i].correct_id);
    EXPECT_EQ(bad.prompts[i].positions, clean.prompts[i].positions);
  }
  const Dataset only = csweep::tasks::make_dataset("ioi", {{"n_prompts", 20}, {"templates", "BABA"}}, gpt2(), 4);
  for (const auto& p : only.prompts) EXPECT_EQ(p.template_name.substr(p.template_name.size() - 4), "BABA");
}

std::string write_temp(const std::string& name, const std::string& content) {
  const std::string path = ::testing::TempDir() + name;
  std::ofstream(path) << content;
  return path;
}

TEST(CustomTask, JsonlWithCorruptedPrompts) {
  const std::string path = write_temp(
      "custom_ok.jsonl",
      "{\"prompt\": \"The capital of France is\", \"correct\": \" Paris\", \"incorrect\": \" London\", "
      "\"corrupted\": \"The capital of Italy is\"}\n\n"
      "{\"prompt\": \"One, two, three,\", \"correct\": \" four\", \"incorrect\": \" three\", "
      "\"corrupted\": \"One, one, one,\"}\n");
  const Dataset ds = csweep::tasks::make_dataset("custom", {{"path", path}}, gpt2(), 0);
  ASSERT_EQ(ds.size(), 2u);
  check_dataset(ds);
  EXPECT_FALSE(ds.uniform_length);
  EXPECT_EQ(ds.prompts[0].correct_id, tok1(" Paris"));
  const Dataset bad = csweep::tasks::corrupt(ds, "custom", 0, gpt2());
  check_dataset(bad);
  EXPECT_EQ(bad.prompts[0].text, "The capital of Italy is");
  EXPECT_EQ(bad.prompts[1].correct_id, tok1(" four"));

  const auto padded = csweep::tasks::pad_right(ds, 0);
  EXPECT_EQ(padded.batch, 2);
  EXPECT_EQ(padded.seq_len, ds.max_length());
  for (int b = 0; b < 2; ++b) {
    const auto& toks = ds.prompts[b].tokens;
    EXPECT_EQ(padded.answer_pos[b], static_cast<int>(toks.size()) - 1);
    for (int t = 0; t < padded.seq_len; ++t) {
      const bool real = t < static_cast<int>(toks.size());
      EXPECT_EQ(padded.mask[b * padded.seq_len + t], real ? 1 : 0);
      EXPECT_EQ(padded.ids[b * padded.seq_len + t], real ? toks[t] : 0);
    }
  }
}

TEST(CustomTask, ErrorsNameLineFieldAndOffenders) {
  const std::string multi = write_temp(
      "custom_multi.jsonl",
      "{\"prompt\": \"a\", \"correct\": \" xylophonist\", \"incorrect\": \" b\"}\n");
  try {
    csweep::tasks::make_dataset("custom", {{"path", multi}}, gpt2(), 0);
    FAIL() << "expected InputError";
  } catch (const csweep::InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("custom_multi.jsonl:1"), std::string::npos) << msg;
    EXPECT_NE(msg.find("' xylophonist' -> ["), std::string::npos) << msg;
  }
  const std::string missing = write_temp("custom_missing.jsonl", "{\"prompt\": \"a\", \"correct\": \" b\"}\n");
  try {
    csweep::tasks::make_dataset("custom", {{"path", missing}}, gpt2(), 0);
    FAIL() << "expected InputError";
  } catch (const csweep::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("'incorrect'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(csweep::tasks::make_dataset("custom", json::object(), gpt2(), 0), csweep::InputError);
}

TEST(Params, ErrorsNameKeyValueAndExpectation) {
  auto message = [](const std::string& task, const json& params) -> std::string {
    try {
      csweep::tasks::make_dataset(task, params, gpt2(), 0);
    } catch (const csweep::InputError& e) {
      return e.what();
    }
    return "no error";
  };
  std::string m = message("digits", {{"members", 9}});
  EXPECT_NE(m.find("'members'"), std::string::npos) << m;
  EXPECT_NE(m.find("got 9"), std::string::npos) << m;
  EXPECT_NE(m.find("[3, 6]"), std::string::npos) << m;
  m = message("days", {{"members", 7}});
  EXPECT_NE(m.find("[3, 6]"), std::string::npos) << m;
  m = message("digits", {{"direction", "sideways"}});
  EXPECT_NE(m.find("'direction'"), std::string::npos) << m;
  EXPECT_NE(m.find("decreasing"), std::string::npos) << m;
  m = message("digits", {{"n_promts", 5}});
  EXPECT_NE(m.find("unknown key"), std::string::npos) << m;
  EXPECT_NE(m.find("n_prompts"), std::string::npos) << m;
  m = message("digits", {{"templates", json::array({"done", "ate"})}});
  EXPECT_NE(m.find("\"ate\""), std::string::npos) << m;
  m = message("fibonacci", json::object());
  EXPECT_NE(m.find("'fibonacci'"), std::string::npos) << m;
  EXPECT_NE(m.find("digits"), std::string::npos) << m;
  m = message("ioi", json::array());
  EXPECT_NE(m.find("not an object"), std::string::npos) << m;
}

TEST(SingleTokenCheck, ReportsOffendersWithTheirTokens) {
  const auto bad = csweep::tasks::single_token_offenders({" 7", " xylophonist", " March"}, gpt2());
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(bad[0].rfind("' xylophonist' -> [", 0), 0u) << bad[0];
}

TEST(KeepOnly, DropsMaskedPromptsAndCountsThem) {
  Dataset ds = csweep::tasks::make_dataset("numwords", {{"n_prompts", 10}}, gpt2(), 5);
  const Dataset copy = ds;
  std::vector<bool> keep(10, true);
  keep[2] = keep[7] = false;
  EXPECT_EQ(csweep::tasks::keep_only(ds, keep), 2);
  ASSERT_EQ(ds.size(), 8u);
  EXPECT_EQ(ds.prompts[2].text, copy.prompts[3].text);
  EXPECT_EQ(ds.prompts[6].text, copy.prompts[8].text);
}

TEST(NoBos, PositionsShiftWithoutBos) {
  const Dataset ds = csweep::tasks::make_dataset("digits", {{"n_prompts", 5}, {"prepend_bos", false}}, gpt2(), 5);
  check_dataset(ds);
  EXPECT_EQ(ds.prompts[0].positions.at("S1"), 3);
}

// ---- Digit-splitting tokenizers (SmolLM2: " 5" -> [" ", "5"]) -----------------------------------

// GPT-2's vocabulary and merges under the Digits+ByteLevel pre-tokenizer: the tokenizer that
// tests/fixtures/tokenizers/gpt2_digits_vectors.jsonl pins against HF tokenizers.
json gpt2_vocab() {
  std::ifstream in(std::string(CSWEEP_SOURCE_DIR) + "/data/tokenizers/gpt2/encoder.json");
  return json::parse(in);
}

csweep::tok::Tokenizer gpt2_digits(const std::string& source) {
  const json vocab = gpt2_vocab();
  std::vector<std::string> id_to_token(vocab.size());
  for (const auto& [text, id] : vocab.items()) id_to_token[id.get<int>()] = text;
  std::ifstream in(std::string(CSWEEP_SOURCE_DIR) + "/data/tokenizers/gpt2/vocab.bpe");
  std::vector<std::pair<std::string, std::string>> merges;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line.rfind("#version", 0) == 0) continue;
    const auto sp = line.find(' ');
    merges.emplace_back(line.substr(0, sp), line.substr(sp + 1));
  }
  return csweep::tok::Tokenizer::from_tables(id_to_token, merges, csweep::tok::PreTokenizer::kDigitsThenGPT2,
                                             {{"<|endoftext|>", 50256}}, source);
}

const csweep::tok::Tokenizer& digits_tok() {
  static csweep::tok::Tokenizer t = gpt2_digits("gpt2 tables + digits pre-tokenizer");
  return t;
}

const std::vector<std::string> kOneToNine = {"1", "2", "3", "4", "5", "6", "7", "8", "9"};

TEST(DigitSplitting, DetectedFromTheTokenizer) {
  EXPECT_TRUE(csweep::tasks::split_digits_from_space(digits_tok()));
  EXPECT_FALSE(csweep::tasks::split_digits_from_space(gpt2()));
  const auto tiny = csweep::tok::Tokenizer::load(std::string(CSWEEP_FIXTURES_DIR) + "/tokenizers/tiny_digits");
  EXPECT_TRUE(csweep::tasks::split_digits_from_space(tiny));
}

TEST(DigitSplitting, PromptsEndWithTheSpaceAndAnswersAreBareDigits) {
  const json vocab = gpt2_vocab();
  const Dataset ds = csweep::tasks::make_dataset("digits", json::object(), digits_tok(), 1);
  check_dataset(ds, digits_tok());
  ASSERT_EQ(ds.size(), 100u);
  EXPECT_TRUE(ds.uniform_length);
  EXPECT_EQ(ds.member_pool, kOneToNine);
  std::set<int> starts;
  for (const auto& p : ds.prompts) {
    EXPECT_TRUE(p.space_ends_text);
    ASSERT_EQ(p.members.size(), 4u);
    const int x1 = std::stoi(p.members[0]);
    starts.insert(x1);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(p.members[i], std::to_string(x1 + i));
    EXPECT_EQ(p.correct, std::to_string(x1 + 4));
    EXPECT_EQ(p.incorrect, std::to_string(x1 + 3));
    // Ids straight from GPT-2's encoder.json: "Ġ" is the space, "5" the bare digit.
    EXPECT_EQ(p.correct_id, vocab.at(std::to_string(x1 + 4)).get<int>());
    EXPECT_EQ(p.incorrect_id, vocab.at(std::to_string(x1 + 3)).get<int>());
    EXPECT_EQ(p.tokens.back(), vocab.at("\u0120").get<int>());
    const std::string v = p.template_name;
    std::string expected;
    for (int i = 0; i < 4; ++i) expected += p.fillers[i] + " " + v + " in " + p.members[i] + ". ";
    expected += p.fillers[4] + " " + v + " in ";
    EXPECT_EQ(p.text, expected);
    EXPECT_EQ(p.positions.at("S1"), 5);  // [bos] W1 verb in " " x1
    EXPECT_EQ(p.tokens.at(5), vocab.at(p.members[0]).get<int>());
  }
  // Answers 5..9: the members 10..12 are two digit tokens and are excluded.
  EXPECT_EQ(*starts.begin(), 1);
  EXPECT_EQ(*starts.rbegin(), 5);
}

TEST(DigitSplitting, EveryDirectionLengthAndCorruption) {
  for (const std::string dir : {"increasing", "decreasing"}) {
    for (int k = 3; k <= 6; ++k) {
      const json params = {{"n_prompts", 40}, {"members", k}, {"direction", dir}};
      const Dataset clean = csweep::tasks::make_dataset("digits", params, digits_tok(), 3);
      SCOPED_TRACE(dir + " k=" + std::to_string(k));
      check_dataset(clean, digits_tok());
      const int step = dir == "increasing" ? 1 : -1;
      for (const auto& p : clean.prompts) {
        const int x1 = std::stoi(p.members[0]);
        for (int i = 0; i < k; ++i) EXPECT_EQ(p.members[i], std::to_string(x1 + step * i));
        const int answer = std::stoi(p.correct);
        EXPECT_EQ(answer, x1 + step * k);
        EXPECT_GE(answer, 1);
        EXPECT_LE(answer, 9);
      }
      for (const auto& name : csweep::tasks::corruption_names("digits")) {
        SCOPED_TRACE(name);
        const Dataset bad = csweep::tasks::corrupt(clean, name, 5, digits_tok());
        check_dataset(bad, digits_tok());
        for (std::size_t i = 0; i < bad.size(); ++i) {
          EXPECT_EQ(bad.prompts[i].positions, clean.prompts[i].positions);
          EXPECT_EQ(bad.prompts[i].correct_id, clean.prompts[i].correct_id);
          EXPECT_TRUE(bad.prompts[i].space_ends_text);
        }
      }
    }
  }
}

TEST(DigitSplitting, RandAllDrawsFromTheAllowedMembersOnly) {
  const Dataset clean = csweep::tasks::make_dataset("digits", {{"n_prompts", 500}}, digits_tok(), 2);
  for (const std::string name : {"randAll", "repeatRand"}) {
    const Dataset bad = csweep::tasks::corrupt(clean, name, 9, digits_tok());
    std::set<std::string> seen;
    for (const auto& p : bad.prompts) seen.insert(p.members.begin(), p.members.end());
    EXPECT_EQ(seen, std::set<std::string>(kOneToNine.begin(), kOneToNine.end())) << name;
  }
}

TEST(DigitSplitting, WordKindsKeepTheSpacedForm) {
  for (const std::string kind : {"numwords", "months", "days"}) {
    const Dataset ds = csweep::tasks::make_dataset(kind, {{"n_prompts", 30}}, digits_tok(), 4);
    check_dataset(ds, digits_tok());
    EXPECT_EQ(ds.member_pool, csweep::tasks::sequence_members(kind));
    for (const auto& p : ds.prompts) {
      EXPECT_FALSE(p.space_ends_text);
      EXPECT_EQ(p.correct.front(), ' ');
    }
  }
}

TEST(DigitSplitting, SingleTokenCheckStillReportsOffenders) {
  const auto bad = csweep::tasks::single_token_offenders({"5", " 5", "10"}, digits_tok());
  ASSERT_EQ(bad.size(), 2u);
  EXPECT_EQ(bad[0].rfind("' 5' -> [", 0), 0u) << bad[0];
  EXPECT_EQ(bad[1].rfind("'10' -> [", 0), 0u) << bad[1];
}

TEST(DigitSplitting, OneNoticeNamesTheExcludedMembers) {
  std::ostringstream log;
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
      "capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(log)));
  const auto tok = gpt2_digits("gpt2 tables + digits pre-tokenizer (notice)");
  csweep::tasks::make_dataset("digits", {{"n_prompts", 5}}, tok, 1);
  csweep::tasks::make_dataset("digits", {{"n_prompts", 5}, {"direction", "decreasing"}}, tok, 2);
  spdlog::set_default_logger(previous);
  const std::string text = log.str();
  std::size_t notices = 0;
  for (std::size_t at = 0; (at = text.find("splits digits from the preceding space", at)) != std::string::npos; ++at) {
    ++notices;
  }
  EXPECT_EQ(notices, 1u) << text;
  EXPECT_NE(text.find("members 10, 11, 12 are excluded"), std::string::npos) << text;
  EXPECT_NE(text.find("'10' -> ["), std::string::npos) << text;
}

}  // namespace
