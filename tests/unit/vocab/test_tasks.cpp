// Task vocabulary: generator names, each task's corruptions and position names. The expected
// names are those documented in docs/TASKS.md (the reference study's corruptions).
#include <gtest/gtest.h>

#include <string>

#include "core/error.hpp"
#include "vocab/tasks.hpp"

namespace csweep::vocab {
namespace {

using Names = std::vector<std::string>;

TEST(Tasks, Names) {
  EXPECT_EQ(task_names(), (Names{"digits", "numwords", "months", "days", "greater_than", "ioi", "custom"}));
  for (const auto& t : task_names()) {
    EXPECT_TRUE(is_task(t));
    EXPECT_EQ(task_info(t).name, t);
    EXPECT_FALSE(task_info(t).corruptions.empty()) << t;
  }
  for (const std::string t : {"digits", "numwords", "months", "days"}) EXPECT_TRUE(is_sequence_task(t));
  for (const std::string t : {"greater_than", "ioi", "custom", "digitz", ""}) EXPECT_FALSE(is_sequence_task(t));
}

TEST(Tasks, UnknownGeneratorListsTheTasks) {
  try {
    task_info("digitz", "job.toml:12: tasks[0].generator");
    FAIL() << "accepted digitz";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind("job.toml:12: tasks[0].generator: unknown task generator (got 'digitz'", 0), 0u) << msg;
    for (const auto& t : task_names()) EXPECT_NE(msg.find(t), std::string::npos) << msg;
  }
}

TEST(Tasks, CorruptionsPerTask) {
  const Names seq = {"randAll", "switchLastTwo", "repeatLastTwo", "repeatFirstAll", "repeatRand", "permutation"};
  for (const std::string t : {"digits", "numwords", "months", "days"}) EXPECT_EQ(corruption_names(t), seq);
  EXPECT_EQ(corruption_names("greater_than"), Names{"XX01"});
  EXPECT_EQ(corruption_names("ioi"), Names{"ABC"});
  EXPECT_EQ(corruption_names("custom"), Names{"custom"});
  EXPECT_EQ(all_corruption_names().size(), seq.size() + 3);
  for (const auto& t : task_names())
    for (const auto& c : all_corruption_names()) {
      const bool applies = corruption_applies(t, c);
      if (applies) {
        EXPECT_NO_THROW(check_corruption(t, c));
      } else {
        EXPECT_THROW(check_corruption(t, c), InputError) << t << " " << c;
      }
    }
}

TEST(Tasks, CorruptionErrorsSayWhichApply) {
  try {
    check_corruption("digits", "XX01", "job.toml:20: experiments.corruptions[0]");
    FAIL();
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("job.toml:20: experiments.corruptions[0]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("does not apply to task 'digits'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("randAll"), std::string::npos) << msg;
  }
  try {
    check_corruption("digits", "randall");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown corruption (got 'randall'"), std::string::npos) << e.what();
  }
}

TEST(Tasks, PositionNames) {
  EXPECT_EQ(position_names("digits"), (Names{"S1", "S2", "S3", "S4", "end"}));
  EXPECT_EQ(position_names("days", 3), (Names{"S1", "S2", "S3", "end"}));
  EXPECT_EQ(position_names("ioi"), (Names{"IO", "S1", "S2", "end"}));
  EXPECT_EQ(position_names("greater_than"), (Names{"NOUN", "XX1", "YY", "XX2", "end"}));
  EXPECT_EQ(position_names("custom"), (Names{"end"}));
}

}  // namespace
}  // namespace csweep::vocab
