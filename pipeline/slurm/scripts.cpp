#include "pipeline/slurm/scripts.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "core/error.hpp"
#include "csweep/slurm_templates.hpp"  // generated from slurm/templates/*.sh (CMakeLists.txt)

namespace csweep::slurm {
namespace {

std::string sbatch_line(const std::string& option) { return "#SBATCH " + option + "\n"; }

// Variables every body reads; exported so that srun'd ranks see them too.
std::string variables(const ScriptParams& p) {
  std::string s;
  s += "export CSWEEP_BIN=" + shell_quote(p.csweep_bin) + "\n";
  s += "export CSWEEP_RUN_DIR=" + shell_quote(p.run_dir) + "\n";
  s += fmt::format("export CSWEEP_SHARDS={}\n", p.shards);
  s += fmt::format("export CSWEEP_RANKS={}\n", p.ranks_per_shard);
  return s;
}

std::string common_header(const ScriptParams& p, const std::string& time_limit) {
  std::string s;
  if (!p.partition.empty()) s += sbatch_line("--partition=" + p.partition);
  if (!p.account.empty()) s += sbatch_line("--account=" + p.account);
  s += sbatch_line("--time=" + time_limit);
  s += sbatch_line("--chdir=" + p.workdir);
  return s;
}

}  // namespace

std::string shell_quote(const std::string& w) {
  const bool plain = !w.empty() && std::all_of(w.begin(), w.end(), [](unsigned char c) {
    return std::isalnum(c) || std::string_view("/._-+=:,@%").find(static_cast<char>(c)) != std::string_view::npos;
  });
  if (plain) return w;
  std::string q = "'";
  for (char c : w) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string shard_script_path(const std::string& run_dir) { return run_dir + "/shard.sbatch"; }
std::string merge_script_path(const std::string& run_dir) { return run_dir + "/merge.sbatch"; }

std::string render_shard_script(const ScriptParams& p) {
  std::string s = "#!/usr/bin/env bash\n";
  s += sbatch_line("--job-name=csweep-" + p.job_name);
  s += sbatch_line(fmt::format("--ntasks={}", p.ranks_per_shard));
  s += sbatch_line(fmt::format("--cpus-per-task={}", p.cpus_per_rank));
  if (p.gpus_per_rank > 0) s += sbatch_line(fmt::format("--gpus-per-task={}", p.gpus_per_rank));
  s += common_header(p, p.time_limit);
  s += sbatch_line("--requeue");
  s += sbatch_line("--open-mode=append");
  s += sbatch_line(fmt::format("--signal=B:USR1@{}", p.signal_lead_s));
  s += sbatch_line("--output=" + p.run_dir + "/logs/slurm-%A_%a.out");
  s += fmt::format("# Written by csweep submit: one shard of {} of {}/job.toml (sha256 {}).\n",
                   p.shards, p.run_dir, p.spec_sha256);
  s += "set -euo pipefail\n";
  s += variables(p);
  s += kShardScriptBody;
  return s;
}

std::string render_merge_script(const ScriptParams& p) {
  std::string s = "#!/usr/bin/env bash\n";
  s += sbatch_line("--job-name=csweep-" + p.job_name + "-merge");
  s += sbatch_line("--ntasks=1");
  s += common_header(p, p.merge_time_limit);
  s += sbatch_line("--kill-on-invalid-dep=yes");
  s += sbatch_line("--open-mode=append");
  s += sbatch_line("--output=" + p.run_dir + "/logs/slurm-%j.out");
  s += fmt::format("# Written by csweep submit: merges the {} shards of {}/job.toml (sha256 {}).\n",
                   p.shards, p.run_dir, p.spec_sha256);
  s += "set -euo pipefail\n";
  s += variables(p);
  s += kMergeScriptBody;
  return s;
}

std::string format_index_list(const std::vector<int>& v) {
  std::string s;
  for (std::size_t i = 0; i < v.size();) {
    std::size_t j = i;
    while (j + 1 < v.size() && v[j + 1] == v[j] + 1) ++j;
    if (!s.empty()) s += ",";
    s += j == i ? std::to_string(v[i]) : fmt::format("{}-{}", v[i], v[j]);
    i = j + 1;
  }
  return s;
}

std::vector<int> parse_index_list(const std::string& text) {
  std::vector<int> out;
  const std::string t = text.substr(0, text.find('%'));
  std::size_t pos = 0;
  while (pos <= t.size()) {
    const std::size_t comma = std::min(t.find(',', pos), t.size());
    const std::string item = t.substr(pos, comma - pos);
    const std::size_t dash = item.find('-');
    try {
      std::size_t n = 0;
      if (dash == std::string::npos) {
        const int v = std::stoi(item, &n);
        if (n != item.size() || v < 0) return {};
        out.push_back(v);
      } else {
        std::size_t m = 0;
        const int a = std::stoi(item.substr(0, dash), &n);
        const int b = std::stoi(item.substr(dash + 1), &m);
        if (n != dash || m != item.size() - dash - 1 || a < 0 || b < a) return {};
        for (int v = a; v <= b; ++v) out.push_back(v);
      }
    } catch (const std::exception&) {
      return {};
    }
    pos = comma + 1;
  }
  return out;
}

std::string ArraySlice::task_spec() const {
  std::vector<int> tasks;
  for (int s : shards) tasks.push_back(s - base);
  return format_index_list(tasks);
}

std::vector<ArraySlice> split_into_arrays(std::vector<int> shards, int max_array_size) {
  CSWEEP_ASSERT(max_array_size >= 1, "MaxArraySize {}", max_array_size);
  std::sort(shards.begin(), shards.end());
  shards.erase(std::unique(shards.begin(), shards.end()), shards.end());
  std::vector<ArraySlice> out;
  for (int s : shards) {
    const int base = s / max_array_size * max_array_size;
    if (out.empty() || out.back().base != base) out.push_back(ArraySlice{base, {}});
    out.back().shards.push_back(s);
  }
  return out;
}

std::vector<PlannedJob> plan_submission(const std::string& run_dir, const std::vector<int>& shards,
                                        int max_array_size, int max_concurrent,
                                        const std::vector<std::string>& extra_options) {
  std::vector<PlannedJob> jobs;
  std::vector<std::string> arrays;
  for (const ArraySlice& a : split_into_arrays(shards, max_array_size)) {
    PlannedJob j;
    j.name = fmt::format("shards_{}", jobs.size() + 1);
    std::string spec = a.task_spec();
    if (max_concurrent > 0) spec += fmt::format("%{}", max_concurrent);
    j.options = {"--parsable", "--array=" + spec};
    j.options.insert(j.options.end(), extra_options.begin(), extra_options.end());
    if (max_concurrent > 0 && !arrays.empty()) {
      j.dependency_kind = "afterany";
      j.depends_on = {arrays.back()};
    }
    j.script = shard_script_path(run_dir);
    j.script_args = {std::to_string(a.base)};
    j.base = a.base;
    j.shards = a.shards;
    arrays.push_back(j.name);
    jobs.push_back(std::move(j));
  }
  PlannedJob m;
  m.name = "merge";
  m.options = {"--parsable"};
  m.options.insert(m.options.end(), extra_options.begin(), extra_options.end());
  if (!arrays.empty()) {
    m.dependency_kind = "afterok";
    m.depends_on = arrays;
  }
  m.script = merge_script_path(run_dir);
  jobs.push_back(std::move(m));
  return jobs;
}

std::vector<std::string> sbatch_argv(const PlannedJob& job,
                                     const std::vector<std::pair<std::string, std::string>>& ids) {
  std::vector<std::string> argv{"sbatch"};
  argv.insert(argv.end(), job.options.begin(), job.options.end());
  if (!job.depends_on.empty()) {
    std::string dep = "--dependency=" + job.dependency_kind;
    for (const auto& name : job.depends_on) {
      std::string id = "$" + name;
      for (const auto& [n, v] : ids)
        if (n == name) id = v;
      dep += ":" + id;
    }
    argv.push_back(dep);
  }
  argv.push_back(job.script);
  argv.insert(argv.end(), job.script_args.begin(), job.script_args.end());
  return argv;
}

std::string format_submission(const std::vector<PlannedJob>& jobs) {
  std::string s;
  for (const auto& j : jobs) {
    s += j.name + "=$(";
    bool first = true;
    for (const auto& w : sbatch_argv(j, {})) {
      // Dependencies name shell variables: keep them expandable (double quotes).
      const bool dep = w.rfind("--dependency=", 0) == 0;
      s += (first ? "" : " ") + (dep ? "\"" + w + "\"" : shell_quote(w));
      first = false;
    }
    s += ")\n";
  }
  return s;
}

std::int64_t parse_time_limit(const std::string& text, const std::string& what) {
  const auto bad = [&] {
    return input_error(what, "invalid Slurm time limit", "'" + text + "'",
                       "MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS (a finite limit)");
  };
  if (text.empty()) throw bad();
  std::int64_t days = 0;
  std::string rest = text;
  const auto dash = text.find('-');
  std::vector<std::int64_t> parts;
  const auto numbers = [&](const std::string& s) {
    std::vector<std::int64_t> v;
    std::size_t pos = 0;
    while (pos <= s.size()) {
      const std::size_t colon = std::min(s.find(':', pos), s.size());
      const std::string item = s.substr(pos, colon - pos);
      if (item.empty() || item.size() > 9 ||
          !std::all_of(item.begin(), item.end(), [](unsigned char c) { return std::isdigit(c); }))
        throw bad();
      v.push_back(std::stoll(item));
      pos = colon + 1;
    }
    return v;
  };
  if (dash != std::string::npos) {
    const auto d = numbers(text.substr(0, dash));
    if (d.size() != 1) throw bad();
    days = d[0];
    parts = numbers(text.substr(dash + 1));
    if (parts.size() > 3) throw bad();
    while (parts.size() < 3) parts.push_back(0);  // D-HH, D-HH:MM
    return ((days * 24 + parts[0]) * 60 + parts[1]) * 60 + parts[2];
  }
  parts = numbers(rest);
  if (parts.size() == 1) return parts[0] * 60;                       // MM
  if (parts.size() == 2) return parts[0] * 60 + parts[1];            // MM:SS
  if (parts.size() == 3) return (parts[0] * 60 + parts[1]) * 60 + parts[2];  // HH:MM:SS
  throw bad();
}

}  // namespace csweep::slurm
