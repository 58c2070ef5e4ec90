#pragma once
// Task vocabulary: the generators of workers/tasks, the corruptions each one accepts, and the
// position names its prompts define. The task module generates the data; this table is what the
// job spec, `csweep eval` and `csweep plan` check names against before any model is loaded.
// A new task is one entry in tasks.cpp plus its generator in workers/tasks.
#include <string>
#include <string_view>
#include <vector>

namespace csweep::vocab {

struct TaskInfo {
  std::string name;                      // generator name, e.g. "digits"
  bool sequence = false;                 // sequence continuation (members, S1..Sk positions)
  std::vector<std::string> corruptions;  // accepted corruption names, the first is the default
  std::vector<std::string> positions;    // fixed position names besides "end" (sequence: none,
                                         // S1..Sk depend on `members`, see position_names)
  std::string doc;
};

const std::vector<TaskInfo>& tasks();
std::vector<std::string> task_names();
bool is_task(std::string_view name);
bool is_sequence_task(std::string_view name);
// The task's entry; throws InputError "<where>: unknown task generator (got 'x', expected one of
// digits, ...)".
const TaskInfo& task_info(std::string_view name, const std::string& where = {});

// Every corruption name of every task, in table order without repeats.
std::vector<std::string> all_corruption_names();
std::vector<std::string> corruption_names(std::string_view task);
bool corruption_applies(std::string_view task, std::string_view corruption);
// Throws InputError at `where` when `corruption` is unknown, or is not one of `task`'s, listing
// the task's corruptions.
void check_corruption(std::string_view task, std::string_view corruption, const std::string& where = {});

// The position name every task defines: the last token, where the answer is read.
extern const char* const kEndPosition;
// Named positions of `task`'s prompts: "end" plus S1..S<members> for sequence tasks (members =
// shown members, default 4), IO/S1/S2 for ioi, NOUN/XX1/YY/XX2 for greater_than.
std::vector<std::string> position_names(std::string_view task, int members = 4);

}  // namespace csweep::vocab
