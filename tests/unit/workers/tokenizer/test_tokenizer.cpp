// Expectations come from independent encoders: the shared GPT-2 vectors, tiktoken and HF
// `tokenizers` fixtures (tests/reference/generate_tokenizer_fixtures.py), and the vocabulary
// files themselves, read here with nlohmann::json.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/error.hpp"
#include "workers/tokenizer/tokenizer.hpp"

namespace csweep::tok {
namespace {

using nlohmann::json;

const std::string kSource = CSWEEP_SOURCE_DIR;
const std::string kFixtures = CSWEEP_FIXTURES_DIR;
const std::string kGpt2Dir = kSource + "/data/tokenizers/gpt2";

struct Vector {
  std::string text;
  std::vector<int> ids;
};

std::vector<Vector> read_vectors(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << "cannot open " << path;
  std::vector<Vector> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const json j = json::parse(line);
    out.push_back({j.at("text").get<std::string>(), j.at("ids").get<std::vector<int>>()});
  }
  return out;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// A fresh directory under the test temp dir, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = ::testing::TempDir() + "csweep_tok_XXXXXX";
    path_ = ::mkdtemp(tmpl.data()) ? tmpl : "";
  }
  ~TempDir() {
    if (!path_.empty()) std::system(("rm -rf '" + path_ + "'").c_str());
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// GPT-2's merges as a list of [left, right], read straight from vocab.bpe.
std::vector<std::pair<std::string, std::string>> gpt2_merges() {
  std::istringstream in(slurp(kGpt2Dir + "/vocab.bpe"));
  std::vector<std::pair<std::string, std::string>> merges;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line.rfind("#version", 0) == 0) continue;
    const auto sp = line.find(' ');
    merges.emplace_back(line.substr(0, sp), line.substr(sp + 1));
  }
  return merges;
}

json gpt2_vocab() { return json::parse(slurp(kGpt2Dir + "/encoder.json")); }

// An HF-style tokenizer.json holding GPT-2's tables with the given pre-tokenizer.
json gpt2_tokenizer_json(const json& pre_tokenizer, bool merges_as_pairs) {
  json merges = json::array();
  for (const auto& [a, b] : gpt2_merges()) {
    if (merges_as_pairs) {
      merges.push_back(json::array({a, b}));
    } else {
      merges.push_back(a + " " + b);
    }
  }
  json root;
  root["version"] = "1.0";
  root["added_tokens"] = json::array(
      {{{"id", 50256}, {"content", "<|endoftext|>"}, {"special", true}, {"normalized", false}}});
  root["normalizer"] = nullptr;
  root["pre_tokenizer"] = pre_tokenizer;
  root["post_processor"] = nullptr;
  root["model"] = {{"type", "BPE"}, {"vocab", gpt2_vocab()}, {"merges", merges}};
  return root;
}

json byte_level_pre() {
  return {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true},
          {"use_regex", true}};
}

json digits_then_byte_level_pre() {
  return {{"type", "Sequence"},
          {"pretokenizers",
           json::array({{{"type", "Digits"}, {"individual_digits", true}}, byte_level_pre()})}};
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "<no InputError thrown>";
}

void expect_vectors(const Tokenizer& tok, const std::vector<Vector>& vectors) {
  ASSERT_FALSE(vectors.empty());
  for (const auto& v : vectors) {
    EXPECT_EQ(tok.encode(v.text), v.ids) << "text: " << json(v.text).dump();
    EXPECT_EQ(tok.decode(v.ids), v.text) << "text: " << json(v.text).dump();
  }
}

const Tokenizer& gpt2() {
  static const Tokenizer tok = Tokenizer::load(kGpt2Dir);
  return tok;
}

TEST(Gpt2Tokenizer, ReproducesEverySharedVector) {
  expect_vectors(gpt2(), read_vectors(kFixtures + "/gpt2_bpe_vectors.jsonl"));
}

TEST(Gpt2Tokenizer, ReproducesTiktokenEdgeVectors) {
  // Unicode whitespace/numerals/marks, contractions and random mixed-script strings.
  expect_vectors(gpt2(), read_vectors(kFixtures + "/tokenizers/gpt2_edge_vectors.jsonl"));
}

TEST(Gpt2Tokenizer, VocabularyAndSpecials) {
  const auto& tok = gpt2();
  const json vocab = gpt2_vocab();
  EXPECT_EQ(tok.vocab_size(), static_cast<int>(vocab.size()));
  const int eot = vocab.at("<|endoftext|>").get<int>();
  EXPECT_EQ(tok.bos_id(), eot);
  EXPECT_EQ(tok.eos_id(), eot);
  EXPECT_EQ(tok.special_id("<|endoftext|>"), eot);
  EXPECT_EQ(tok.special_id("<|im_end|>"), std::nullopt);
  EXPECT_EQ(tok.decode_token(eot), "<|endoftext|>");
  EXPECT_EQ(tok.pre_tokenizer(), PreTokenizer::kGPT2);
  EXPECT_NE(tok.source().find("encoder.json"), std::string::npos);
}

TEST(Gpt2Tokenizer, SingleTokenIds) {
  const auto& tok = gpt2();
  const json vocab = gpt2_vocab();  // byte-level form: "Ġ" is the space
  EXPECT_EQ(tok.single_token_id(" 5"), vocab.at("Ġ5").get<int>());
  EXPECT_EQ(tok.single_token_id(" January"), vocab.at("ĠJanuary").get<int>());
  EXPECT_EQ(tok.single_token_id(" 12"), vocab.at("Ġ12").get<int>());
  EXPECT_EQ(tok.single_token_id("5"), vocab.at("5").get<int>());
  EXPECT_EQ(tok.single_token_id(" Ελληνικά"), std::nullopt);
  EXPECT_EQ(tok.single_token_id(""), std::nullopt);
  EXPECT_EQ(tok.single_token_id(" 5 6"), std::nullopt);
}

TEST(Gpt2Tokenizer, InvalidUtf8FallsBackToByteTokens) {
  const auto& tok = gpt2();
  const json vocab = gpt2_vocab();
  // Bytes 0xFF and 0xE4 map to "ÿ" and "ä" in GPT-2's byte-to-unicode table.
  const int ff = vocab.at("ÿ").get<int>();
  const int e4 = vocab.at("ä").get<int>();
  const int b8 = vocab.at("¸").get<int>();
  std::vector<int> expected = tok.encode("abc");
  expected.push_back(ff);
  for (int id : tok.encode("def")) expected.push_back(id);
  const std::string bad = "abc\xFF" "def";
  EXPECT_EQ(tok.encode(bad), expected);
  EXPECT_EQ(tok.decode(tok.encode(bad)), bad);
  // A truncated 3-byte sequence at the end: each byte stands alone.
  const std::string truncated = "x\xE4\xB8";
  std::vector<int> want = tok.encode("x");
  want.push_back(e4);
  want.push_back(b8);
  EXPECT_EQ(tok.encode(truncated), want);
  EXPECT_EQ(tok.decode(want), truncated);
}

TEST(Gpt2Tokenizer, DecodeRejectsUnknownIds) {
  EXPECT_NE(error_of([] { gpt2().decode({1, 50257}); }).find("50257"), std::string::npos);
  EXPECT_NE(error_of([] { gpt2().decode_token(-1); }).find("-1"), std::string::npos);
}

TEST(Gpt2Tokenizer, ConcurrentEncodingMatchesVectors) {
  const auto vectors = read_vectors(kFixtures + "/gpt2_bpe_vectors.jsonl");
  const Tokenizer tok = Tokenizer::load(kGpt2Dir);  // fresh: the word cache starts empty
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 3; ++rep)
        for (const auto& v : vectors) mismatches[t] += tok.encode(v.text) != v.ids;
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

TEST(TokenizerFormats, AllLayoutsGiveTheSameIds) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  std::vector<std::string> sources;
  // HF slow-tokenizer layout: the same tables under HF's names.
  ::mkdir(dir.file("hf_slow").c_str(), 0755);
  write(dir.file("hf_slow/vocab.json"), slurp(kGpt2Dir + "/encoder.json"));
  write(dir.file("hf_slow/merges.txt"), slurp(kGpt2Dir + "/vocab.bpe"));
  // tokenizer.json with merges as "a b" strings (tokenizers < 0.20) and as pairs (>= 0.20).
  ::mkdir(dir.file("strings").c_str(), 0755);
  write(dir.file("strings/tokenizer.json"), gpt2_tokenizer_json(byte_level_pre(), false).dump());
  write(dir.file("pairs.json"), gpt2_tokenizer_json(byte_level_pre(), true).dump());

  const auto vectors = read_vectors(kFixtures + "/gpt2_bpe_vectors.jsonl");
  for (const std::string& path :
       {dir.file("hf_slow"), dir.file("strings"), dir.file("pairs.json")}) {
    SCOPED_TRACE(path);
    const Tokenizer tok = Tokenizer::load(path);
    expect_vectors(tok, vectors);
    EXPECT_EQ(tok.vocab_size(), 50257);
    EXPECT_EQ(tok.eos_id(), 50256);
  }
  EXPECT_NE(Tokenizer::load(dir.file("hf_slow")).source().find("merges.txt"), std::string::npos);
}

TEST(TokenizerFormats, DirectoryPrefersTokenizerJson) {
  TempDir dir;
  write(dir.file("encoder.json"), slurp(kGpt2Dir + "/encoder.json"));
  write(dir.file("vocab.bpe"), slurp(kGpt2Dir + "/vocab.bpe"));
  EXPECT_NE(Tokenizer::load(dir.path()).source().find("vocab.bpe"), std::string::npos);
  write(dir.file("vocab.json"), slurp(kGpt2Dir + "/encoder.json"));
  write(dir.file("merges.txt"), slurp(kGpt2Dir + "/vocab.bpe"));
  EXPECT_NE(Tokenizer::load(dir.path()).source().find("merges.txt"), std::string::npos);
  write(dir.file("tokenizer.json"), gpt2_tokenizer_json(digits_then_byte_level_pre(), true).dump());
  const Tokenizer tok = Tokenizer::load(dir.path());
  EXPECT_NE(tok.source().find("tokenizer.json"), std::string::npos);
  EXPECT_EQ(tok.pre_tokenizer(), PreTokenizer::kDigitsThenGPT2);
}

TEST(DigitsPreTokenizer, MatchesHfTokenizersOnGpt2Tables) {
  TempDir dir;
  write(dir.file("tokenizer.json"), gpt2_tokenizer_json(digits_then_byte_level_pre(), true).dump());
  const Tokenizer tok = Tokenizer::load(dir.file("tokenizer.json"));
  const auto vectors = read_vectors(kFixtures + "/tokenizers/gpt2_digits_vectors.jsonl");
  expect_vectors(tok, vectors);
  // "12345" is five single-digit tokens.
  const json vocab = gpt2_vocab();
  std::vector<int> digits;
  for (const char* d : {"1", "2", "3", "4", "5"}) digits.push_back(vocab.at(d).get<int>());
  EXPECT_EQ(tok.encode("12345"), digits);
}

TEST(DigitsPreTokenizer, FromTablesMatchesHfTokenizers) {
  const json vocab = gpt2_vocab();
  std::vector<std::string> id_to_token(vocab.size());
  for (const auto& [text, id] : vocab.items()) id_to_token[id.get<int>()] = text;
  const Tokenizer digits = Tokenizer::from_tables(id_to_token, gpt2_merges(),
                                                  PreTokenizer::kDigitsThenGPT2,
                                                  {{"<|endoftext|>", 50256}}, "gguf-like");
  expect_vectors(digits, read_vectors(kFixtures + "/tokenizers/gpt2_digits_vectors.jsonl"));
  const Tokenizer plain = Tokenizer::from_tables(id_to_token, gpt2_merges(), PreTokenizer::kGPT2,
                                                 {{"<|endoftext|>", 50256}}, "gguf-like", 7, 8);
  expect_vectors(plain, read_vectors(kFixtures + "/gpt2_bpe_vectors.jsonl"));
  EXPECT_EQ(plain.bos_id(), 7);
  EXPECT_EQ(plain.eos_id(), 8);
  EXPECT_EQ(digits.eos_id(), 50256);
  EXPECT_EQ(plain.source(), "gguf-like");
}

TEST(HfTrainedTokenizers, ByteLevelMatchesHf) {
  const std::string dir = kFixtures + "/tokenizers/tiny_bytelevel";
  const Tokenizer tok = Tokenizer::load(dir);
  EXPECT_EQ(tok.pre_tokenizer(), PreTokenizer::kGPT2);
  expect_vectors(tok, read_vectors(dir + "/vectors.jsonl"));
}

TEST(HfTrainedTokenizers, DigitsMatchesHfAndReadsBosEos) {
  const std::string dir = kFixtures + "/tokenizers/tiny_digits";
  const Tokenizer tok = Tokenizer::load(dir);
  EXPECT_EQ(tok.pre_tokenizer(), PreTokenizer::kDigitsThenGPT2);
  expect_vectors(tok, read_vectors(dir + "/vectors.jsonl"));
  // Roles from tokenizer_config.json, ids from tokenizer.json's added_tokens.
  const json root = json::parse(slurp(dir + "/tokenizer.json"));
  std::map<std::string, int> added;
  for (const auto& a : root.at("added_tokens")) added[a.at("content")] = a.at("id");
  EXPECT_EQ(tok.bos_id(), added.at("<|im_start|>"));
  EXPECT_EQ(tok.eos_id(), added.at("<|im_end|>"));
  EXPECT_EQ(tok.special_id("<|endoftext|>"), added.at("<|endoftext|>"));
  EXPECT_EQ(tok.decode_token(added.at("<|im_end|>")), "<|im_end|>");
}

// ---- Malformed files: the error names the file and the line or field -------------------------

class MalformedFiles : public ::testing::Test {
 protected:
  TempDir dir;
  void write_pair(const std::string& vocab, const std::string& merges) {
    write(dir.file("vocab.json"), vocab);
    write(dir.file("merges.txt"), merges);
  }
};

TEST_F(MalformedFiles, MergeLineWithOneToken) {
  write_pair(R"({"a": 0, "b": 1, "ab": 2, "c": 3})", "#version: 0.2\na b\nabc\n");
  const std::string msg = error_of([&] { Tokenizer::load(dir.path()); });
  EXPECT_NE(msg.find("merges.txt line 3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("expected two tokens"), std::string::npos) << msg;
  EXPECT_NE(msg.find("abc"), std::string::npos) << msg;
}

TEST_F(MalformedFiles, MergeUsingUnknownToken) {
  write_pair(R"({"a": 0, "b": 1, "ab": 2, "c": 3})", "a b\nab x\n");
  const std::string msg = error_of([&] { Tokenizer::load(dir.path()); });
  EXPECT_NE(msg.find("merges.txt line 2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("\"x\""), std::string::npos) << msg;
}

TEST_F(MalformedFiles, VocabNotJson) {
  write_pair(R"({"a": 0, "b": )", "a b\n");
  const std::string msg = error_of([&] { Tokenizer::load(dir.path()); });
  EXPECT_NE(msg.find("vocab.json"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not valid JSON"), std::string::npos) << msg;
}

TEST_F(MalformedFiles, VocabBadIdAndDuplicateId) {
  write_pair(R"({"a": 0, "b": "one"})", "");
  std::string msg = error_of([&] { Tokenizer::load(dir.path()); });
  EXPECT_NE(msg.find("vocab.json"), std::string::npos) << msg;
  EXPECT_NE(msg.find("\"b\""), std::string::npos) << msg;
  write_pair(R"({"a": 0, "b": 0})", "");
  msg = error_of([&] { Tokenizer::load(dir.path()); });
  EXPECT_NE(msg.find("id 0 is given to two tokens"), std::string::npos) << msg;
  write_pair(R"([1, 2])", "");
  msg = error_of([&] { Tokenizer::load(dir.path()); });
  EXPECT_NE(msg.find("JSON object"), std::string::npos) << msg;
}

TEST_F(MalformedFiles, TokenizerJsonFields) {
  const std::string path = dir.file("tokenizer.json");
  json root = {{"model", {{"type", "BPE"}, {"merges", json::array()}}},
               {"pre_tokenizer", byte_level_pre()}};
  write(path, root.dump());
  std::string msg = error_of([&] { Tokenizer::load(path); });
  EXPECT_NE(msg.find("model.vocab"), std::string::npos) << msg;

  root["model"]["vocab"] = {{"a", 0}, {"b", 1}, {"ab", 2}};
  root["model"]["merges"] = json::array({"a b", json::array({"a"})});
  write(path, root.dump());
  msg = error_of([&] { Tokenizer::load(path); });
  EXPECT_NE(msg.find("model.merges[1]"), std::string::npos) << msg;

  root["model"]["merges"] = json::array({"a b"});
  root["pre_tokenizer"] = {{"type", "Whitespace"}};
  write(path, root.dump());
  msg = error_of([&] { Tokenizer::load(path); });
  EXPECT_NE(msg.find("pre_tokenizer"), std::string::npos) << msg;
  EXPECT_NE(msg.find("Whitespace"), std::string::npos) << msg;

  root["pre_tokenizer"] = byte_level_pre();
  root["normalizer"] = {{"type", "NFC"}};
  write(path, root.dump());
  msg = error_of([&] { Tokenizer::load(path); });
  EXPECT_NE(msg.find("normalizer"), std::string::npos) << msg;

  root["normalizer"] = nullptr;
  root["added_tokens"] = json::array({{{"id", 1}, {"content", "<x>"}, {"special", true}}});
  write(path, root.dump());
  msg = error_of([&] { Tokenizer::load(path); });
  EXPECT_NE(msg.find("added_tokens[0]"), std::string::npos) << msg;

  root["added_tokens"] = json::array({{{"id", 3}, {"content", "<x>"}, {"special", true}}});
  write(path, root.dump());
  const Tokenizer tok = Tokenizer::load(path);  // now well-formed
  EXPECT_EQ(tok.special_id("<x>"), 3);
  EXPECT_EQ(tok.vocab_size(), 4);
}

TEST_F(MalformedFiles, MissingFilesAreListed) {
  std::string msg = error_of([&] { Tokenizer::load(dir.path()); });
  EXPECT_NE(msg.find(dir.path()), std::string::npos) << msg;
  EXPECT_NE(msg.find("tokenizer.json"), std::string::npos) << msg;
  EXPECT_NE(msg.find("encoder.json + vocab.bpe"), std::string::npos) << msg;
  msg = error_of([&] { Tokenizer::load(dir.file("nope")); });
  EXPECT_NE(msg.find("nope"), std::string::npos) << msg;
  EXPECT_NE(msg.find("does not exist"), std::string::npos) << msg;
}

}  // namespace
}  // namespace csweep::tok
