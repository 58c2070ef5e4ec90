// check_task_params (the tokenizer-free check job specs run at load) against make_dataset: the
// same parameter objects are accepted or refused by both, and the position names the task
// vocabulary announces are exactly those of the generated prompts.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <set>
#include <string>

#include "core/error.hpp"
#include "vocab/tasks.hpp"
#include "workers/tasks/task.hpp"
#include "workers/tokenizer/tokenizer.hpp"

namespace {

using nlohmann::json;

const csweep::tok::Tokenizer& gpt2() {
  static csweep::tok::Tokenizer t =
      csweep::tok::Tokenizer::load(std::string(CSWEEP_SOURCE_DIR) + "/data/tokenizers/gpt2");
  return t;
}

std::string custom_file() {
  static const std::string p = [] {
    const std::string path = ::testing::TempDir() + "/check_params.jsonl";
    std::ofstream(path) << R"({"prompt": "When Mary and John went to the store, John gave a drink to", "correct": " Mary", "incorrect": " John"})"
                        << "\n";
    return path;
  }();
  return p;
}

bool accepted_by_check(const std::string& task, const json& p) {
  try {
    csweep::tasks::check_task_params(task, p);
    return true;
  } catch (const csweep::InputError&) {
    return false;
  }
}

bool accepted_by_generator(const std::string& task, const json& p) {
  try {
    csweep::tasks::make_dataset(task, p, gpt2(), 0);
    return true;
  } catch (const csweep::InputError&) {
    return false;
  }
}

TEST(CheckTaskParams, AgreesWithTheGenerator) {
  const std::vector<std::pair<std::string, json>> cases = {
      {"digits", json::object()},
      {"digits", {{"n_prompts", 8}}},
      {"digits", {{"n_prompts", "8"}}},
      {"digits", {{"n_prompts", 0}}},
      {"digits", {{"n_prompts", 1048577}}},
      {"digits", {{"n_prompts", 8}, {"members", 6}}},
      {"digits", {{"n_prompts", 8}, {"members", 7}}},
      {"digits", {{"n_prompts", 8}, {"members", 2}}},
      {"days", {{"n_prompts", 8}, {"members", 6}}},
      {"days", {{"n_prompts", 8}, {"members", 7}}},
      {"months", {{"n_prompts", 8}, {"direction", "decreasing"}}},
      {"months", {{"n_prompts", 8}, {"direction", "down"}}},
      {"numwords", {{"n_prompts", 8}, {"templates", {"done"}}}},
      {"numwords", {{"n_prompts", 8}, {"templates", {"made"}}}},
      {"numwords", {{"n_prompts", 8}, {"templates", json::array()}}},
      {"digits", {{"n_prompts", 8}, {"fillers", "names"}}},
      {"digits", {{"n_prompts", 8}, {"fillers", 3}}},
      {"digits", {{"n_prompts", 8}, {"group_by_template", "yes"}}},
      {"digits", {{"n_prompts", 8}, {"prepend_bos", false}}},
      {"digits", {{"n_prompts", 8}, {"prepend_bos", 1}}},
      {"digits", {{"kind", "digits"}}},
      {"digits", json::array()},
      {"greater_than", {{"n_prompts", 8}}},
      {"greater_than", {{"n_prompts", 8}, {"members", 4}}},
      {"ioi", {{"n_prompts", 8}, {"templates", "ABBA"}}},
      {"ioi", {{"n_prompts", 8}, {"templates", "ABC"}}},
      {"ioi", {{"n_prompts", 8}, {"group_by_template", false}}},
      {"custom", {{"path", custom_file()}}},
      {"custom", json::object()},
      {"custom", {{"path", ""}}},
      {"custom", {{"path", custom_file()}, {"n_prompts", 3}}},
      {"custom", {{"path", "/nonexistent/prompts.jsonl"}}},
      {"digitz", json::object()},
  };
  for (const auto& [task, p] : cases)
    EXPECT_EQ(accepted_by_check(task, p), accepted_by_generator(task, p)) << task << " " << p.dump();
}

TEST(CheckTaskParams, ErrorsNameTheKeyThroughTheCallersLocation) {
  try {
    csweep::tasks::check_task_params("digits", {{"members", 7}}, [](const std::string& key) {
      return "spec.toml:9: tasks[0].params." + key;
    });
    FAIL();
  } catch (const csweep::InputError& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind("spec.toml:9: tasks[0].params.members: invalid value (got 7, expected an integer in [3, 6])", 0), 0u)
        << msg;
  }
}

TEST(CheckTaskParams, PositionNamesAreThoseOfTheGeneratedPrompts) {
  const std::vector<std::pair<std::string, json>> cases = {
      {"digits", {{"n_prompts", 4}}},          {"digits", {{"n_prompts", 4}, {"members", 6}}},
      {"days", {{"n_prompts", 4}, {"members", 3}}}, {"greater_than", {{"n_prompts", 4}}},
      {"ioi", {{"n_prompts", 4}}},             {"custom", {{"path", custom_file()}}}};
  for (const auto& [task, p] : cases) {
    const auto summary = csweep::tasks::check_task_params(task, p);
    const auto ds = csweep::tasks::make_dataset(task, p, gpt2(), 0);
    const std::set<std::string> announced(summary.positions.begin(), summary.positions.end());
    for (const auto& prompt : ds.prompts) {
      std::set<std::string> got;
      for (const auto& kv : prompt.positions) got.insert(kv.first);
      EXPECT_EQ(got, announced) << task << " " << p.dump();
    }
    if (task != "custom") {
      EXPECT_EQ(summary.n_prompts, static_cast<int>(ds.size())) << task;
    }
  }
}

}  // namespace
