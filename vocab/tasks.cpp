#include "vocab/tasks.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.hpp"

namespace csweep::vocab {

namespace {

const std::vector<std::string> kSequenceCorruptions = {
    "randAll", "switchLastTwo", "repeatLastTwo", "repeatFirstAll", "repeatRand", "permutation"};

std::string join(const std::vector<std::string>& v) { return fmt::format("{}", fmt::join(v, ", ")); }

}  // namespace

const char* const kEndPosition = "end";

const std::vector<TaskInfo>& tasks() {
  static const std::vector<TaskInfo> t = {
      {"digits", true, kSequenceCorruptions, {}, "\"... in 3. ... in 4. ... in\" -> \" 5\""},
      {"numwords", true, kSequenceCorruptions, {}, "number words one..twelve"},
      {"months", true, kSequenceCorruptions, {}, "January..December"},
      {"days", true, kSequenceCorruptions, {}, "Monday..Sunday"},
      {"greater_than", false, {"XX01"}, {"NOUN", "XX1", "YY", "XX2"},
       "\"The war lasted from the year 1732 to the year 17\" -> a year > 32"},
      {"ioi", false, {"ABC"}, {"IO", "S1", "S2"}, "indirect object identification"},
      {"custom", false, {"custom"}, {}, "a JSONL file of {prompt, correct, incorrect[, corrupted]}"},
  };
  return t;
}

std::vector<std::string> task_names() {
  std::vector<std::string> out;
  for (const auto& t : tasks()) out.push_back(t.name);
  return out;
}

bool is_task(std::string_view name) {
  return std::any_of(tasks().begin(), tasks().end(), [&](const TaskInfo& t) { return t.name == name; });
}

bool is_sequence_task(std::string_view name) { return is_task(name) && task_info(name).sequence; }

const TaskInfo& task_info(std::string_view name, const std::string& where) {
  for (const auto& t : tasks())
    if (t.name == name) return t;
  throw input_error(where.empty() ? "task" : where, "unknown task generator",
                    "'" + std::string(name) + "'", "one of " + join(task_names()));
}

std::vector<std::string> all_corruption_names() {
  std::vector<std::string> out;
  for (const auto& t : tasks())
    for (const auto& c : t.corruptions)
      if (std::find(out.begin(), out.end(), c) == out.end()) out.push_back(c);
  return out;
}

std::vector<std::string> corruption_names(std::string_view task) {
  return is_task(task) ? task_info(task).corruptions : std::vector<std::string>{};
}

bool corruption_applies(std::string_view task, std::string_view corruption) {
  const auto c = corruption_names(task);
  return std::find(c.begin(), c.end(), corruption) != c.end();
}

void check_corruption(std::string_view task, std::string_view corruption, const std::string& where) {
  const std::string w = where.empty() ? "corruption" : where;
  const auto all = all_corruption_names();
  if (std::find(all.begin(), all.end(), corruption) == all.end())
    throw input_error(w, "unknown corruption", "'" + std::string(corruption) + "'", "one of " + join(all));
  const auto& info = task_info(task);
  if (!corruption_applies(task, corruption))
    throw input_error(w, fmt::format("corruption '{}' does not apply to task '{}'", corruption, task),
                      "'" + std::string(corruption) + "'",
                      fmt::format("for {}: {}", task, join(info.corruptions)));
}

std::vector<std::string> position_names(std::string_view task, int members) {
  const auto& info = task_info(task);
  std::vector<std::string> out;
  if (info.sequence)
    for (int i = 1; i <= members; ++i) out.push_back(fmt::format("S{}", i));
  out.insert(out.end(), info.positions.begin(), info.positions.end());
  out.push_back(kEndPosition);
  return out;
}

}  // namespace csweep::vocab
