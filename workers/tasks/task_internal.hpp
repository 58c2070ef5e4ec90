#pragma once
// Internals shared by the task generators and the corruptions (not part of the module's API).
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "workers/tasks/task.hpp"

namespace csweep::tasks::detail {

// A template filled with values: the text and, for each marked slot, (position name, end offset
// of the slot's value in the text).
struct Filled {
  std::string text;
  std::vector<std::pair<std::string, std::size_t>> marks;
};

Filled fill_template(const std::string& tpl, const std::map<std::string, std::string>& values,
                     const std::map<std::string, std::string>& marks);
Filled render_fields(const std::string& task, const Prompt& p);

// Re-renders p.text from its fields and recomputes tokens and named positions.
void finalize(Prompt& p, const std::string& task, const tok::Tokenizer& tok, int bos_id);

const std::vector<std::string>& ioi_templates();

// The words of data/tasks/<list>.txt that are one token with a leading space (and, when
// also_bare, without); the others are logged and skipped. InputError when fewer than min_needed.
std::vector<std::string> single_token_words(const std::string& list, bool also_bare,
                                            const tok::Tokenizer& tok, std::size_t min_needed);

// Stream id of a name (FNV-1a), so each task and corruption draws from its own random stream.
std::uint64_t name_stream(const std::string& s);

}  // namespace csweep::tasks::detail
