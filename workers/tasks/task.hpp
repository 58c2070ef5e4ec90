#pragma once
// Task datasets (torch-free): prompts with every field an experiment needs, generated
// deterministically from a seed, and corruptions as pure functions of (clean dataset, seed).
//
// Tasks (make_dataset's `task`):
//   digits | numwords | months | days   sequence continuation (ARCHITECTURE §3):
//       "{W1} {verb} in {x1}. {W2} {verb} in {x2}. ... {Wk+1} {verb} in" -> " {x_k+1}"
//     Digit-splitting tokenizers (SmolLM2, llama.cpp "smollm": " 5" -> [" ", "5"]) never produce
//     a digit token with a leading space, so for them digit prompts end with "in " and the answers
//     are the bare digit tokens ("... in " -> "5"), as such models are evaluated; see make_dataset.
//   greater_than   "The {noun} lasted from the year {XX}{YY} to the year {XX}" -> "YY"-range years
//   ioi            "When Mary and John went to the store, John gave a drink to" -> " Mary"
//   custom         JSONL lines {"prompt", "correct", "incorrect"[, "corrupted"]}
//
// Token layout: tokens = [bos] + encode(text) when prepend_bos (default: when the tokenizer has a
// BOS/EOS token, as TransformerLens's to_tokens does); positions index into that vector.
// Named positions: sequence tasks "S1".."Sk" (each shown member), IOI "IO", "S1", "S2";
// greater-than "NOUN", "XX1", "YY", "XX2"; every task "end" (the last token = answer position).
//
// Corrupted datasets keep the clean prompt's correct/incorrect answers (the metric compares the
// same two tokens on clean and corrupted runs); their members, text, tokens and positions are
// the corrupted ones and always agree (render(prompt) == text, checked by the unit tests).
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace csweep::tok {
class Tokenizer;
}

namespace csweep::tasks {

struct Prompt {
  std::string text;                   // without BOS
  std::vector<int> tokens;            // [bos] + encode(text)
  std::string template_name;          // "done" / "lost" / "born", "ioi_0_ABBA", "lasted", "custom"
  int group = 0;                      // template group (means are taken per position and group)
  std::vector<std::string> fillers;   // sequence: W1..Wk+1; greater-than: {noun}; IOI: {place, object}
  std::vector<std::string> members;   // sequence: x1..xk (bare words, "3", "March");
                                      // greater-than: {XX, YY}; IOI: names in order of appearance
  std::string correct, incorrect;     // answer strings as appended to text, e.g. " 5"
  int correct_id = -1, incorrect_id = -1;
  std::map<std::string, int> positions;  // named token positions (see header comment)
  int answer_pos() const { return positions.at("end"); }
  int yy = -1;                        // greater-than: the start year's last two digits, else -1
  bool space_ends_text = false;       // sequence tasks: the answer's leading space is the text's
                                      // last character ("... in " -> "5"; digit-splitting tokenizers)
};

struct Dataset {
  std::string task;                   // "digits", "ioi", ...
  std::string corruption;             // "" for clean data, else the corruption's name
  std::vector<Prompt> prompts;
  std::vector<std::string> group_names;  // group id -> name ("all" when not grouped)
  bool uniform_length = true;         // every prompt has the same number of tokens
  bool prepend_bos = true;
  int bos_id = -1;                    // -1 when prepend_bos is false
  std::vector<int> year_ids;          // greater-than: id of "00".."99" (-1 if not one token)
  std::string tokenizer_source;       // provenance
  std::vector<std::string> alt_texts; // custom: each line's "corrupted" prompt (empty if none)
  std::vector<std::string> member_pool;  // sequence tasks: the members prompts and corruptions draw
                                         // from, in order (the kind's list less excluded members)

  std::size_t size() const { return prompts.size(); }
  int max_length() const;             // tokens of the longest prompt
  std::vector<int> group_ids() const; // per prompt
};

// Builds a clean dataset. `params` (an object, may be empty) is validated: an unknown key or a
// bad value throws InputError naming the key, the value and the expectation. Members and
// answers that are not single tokens for `tok` throw InputError listing every offender; filler
// words that are not single tokens are dropped (logged) so prompts keep equal lengths.
// Digits with a digit-splitting tokenizer (split_digits_from_space(tok)): prompts end with "in ",
// members and answers are bare digit tokens, and the members that are not one token ("10".."12")
// are left out of the member pool with one logged notice naming them; members that are not one
// token below a single-token one would break the sequence, so they still throw.
//   sequence tasks: n_prompts (100), members (4, 3..6), direction ("increasing"|"decreasing"),
//     templates (["done","lost","born"]), fillers ("objects"|"names"), group_by_template (false:
//     every prompt in one group, as the reference study), prepend_bos (auto)
//   greater_than: n_prompts, prepend_bos;  ioi: n_prompts, templates ("both"|"ABBA"|"BABA"),
//     group_by_template (true: its templates differ in length), prepend_bos;
//   custom: path (required), prepend_bos
Dataset make_dataset(const std::string& task, const nlohmann::json& params,
                     const tok::Tokenizer& tok, std::uint64_t seed);

// Names a task parameter in errors: key -> e.g. "jobs/x.toml:14: tasks[0].params.members"
// ("" = the parameter table itself).
using ParamWhere = std::function<std::string(const std::string& key)>;

// What a task's parameters imply, known without a tokenizer.
struct TaskParamsSummary {
  int n_prompts = 0;                   // -1 for custom (the file's line count, read at run time)
  std::vector<std::string> positions;  // named positions of its prompts (vocab::position_names)
};

// Checks `params` for `task` with the same rules (keys, types, ranges, choices) make_dataset
// applies, but without a tokenizer, so job specs are validated at load: unknown task, unknown
// key, wrong type, out of range, custom `path` not a file. Limits that depend on the tokenizer
// (single-token members and answers, digit-splitting tokenizers' shorter member pool) are still
// checked by make_dataset.
TaskParamsSummary check_task_params(const std::string& task, const nlohmann::json& params,
                                    const ParamWhere& where = {});

// Corrupted copy of `clean` (same size, same order, same groups). Names:
//   sequence tasks: randAll (each member := a random member of the dataset's member_pool), switchLastTwo
//     (swap the last two shown), repeatLastTwo (the last two shown repeated over all slots:
//     x3 x4 x3 x4), repeatFirstAll (every member := x1), repeatRand (every member := one random
//     member of the pool), permutation (a random non-identity order of the shown members);
//   greater_than: XX01 (YY := 01);  ioi: ABC (the three names := three distinct random names);
//   custom: custom (each line's "corrupted" prompt).
// A name that does not apply to the dataset's task throws InputError listing those that do.
Dataset corrupt(const Dataset& clean, const std::string& corruption, std::uint64_t seed,
                const tok::Tokenizer& tok);

// True when `tok` splits every digit from the preceding space: " 5" is not one token but "5" is
// (SmolLM2's Digits pre-tokenizer). Digit prompts then move the answer's space into the text.
bool split_digits_from_space(const tok::Tokenizer& tok);

// Names of the tasks and of each task's corruptions; the table is vocab/tasks.hpp.
std::vector<std::string> task_names();
std::vector<std::string> corruption_names(const std::string& task);
bool is_sequence_task(const std::string& task);

// The prompt's text re-rendered from its fields (template, fillers, members); tests check it
// equals `text` on every row of every dataset.
std::string render(const std::string& task, const Prompt& p);

// Clean-model filter hook: keeps prompts whose keep[i] is true; returns how many were dropped
// (and logs it). Apply the same mask to the clean and the corrupted dataset.
int keep_only(Dataset& ds, const std::vector<bool>& keep);

// Right-padded token matrix for datasets of unequal lengths.
struct PaddedTokens {
  int batch = 0, seq_len = 0;
  std::vector<std::int64_t> ids;        // [batch, seq_len], pad_id after each prompt's end
  std::vector<std::int64_t> mask;       // [batch, seq_len], 1 real token, 0 padding
  std::vector<std::int64_t> answer_pos; // [batch], the "end" position of each prompt
};
PaddedTokens pad_right(const Dataset& ds, int pad_id);

// Texts (members/answers) that do not encode to one token, with their encodings, e.g.
// {"' 11' -> [352, 352]"}. Empty when all are single tokens.
std::vector<std::string> single_token_offenders(const std::vector<std::string>& texts,
                                                const tok::Tokenizer& tok);

// Member lists of the sequence kinds, in order (data/tasks/<kind>.txt): digits "1".."12",
// numwords "one".."twelve", months "January".., days "Monday"..
const std::vector<std::string>& sequence_members(const std::string& kind);
// Word lists under data/tasks (objects, names, ioi_names, ioi_places, ioi_objects, gt_nouns).
const std::vector<std::string>& word_list(const std::string& name);
// Folder of the word lists: data_path("tasks") (core/paths.hpp: $CSWEEP_DATA_DIR, next to the
// executable, or installed).
std::string data_dir();

}  // namespace csweep::tasks
