#include "pipeline/slurm/submit.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <string_view>
#include <filesystem>

#include "core/error.hpp"
#include "core/files.hpp"
#include "pipeline/grid.hpp"
#include "pipeline/job_spec.hpp"
#include "pipeline/run.hpp"
#include "pipeline/slurm/cluster.hpp"
#include "pipeline/slurm/run_record.hpp"
#include "pipeline/slurm/scripts.hpp"
#include "pipeline/slurm/status.hpp"

namespace fs = std::filesystem;

namespace csweep::slurm {
namespace {

// Slurm's default MaxArraySize, assumed by a dry run on a machine without Slurm.
constexpr int kDefaultMaxArraySize = 1001;

void write_script(const std::string& path, const std::string& text) {
  write_file_atomic(path, text);
  if (::chmod(path.c_str(), 0755) != 0) throw input_error(path, "cannot make the script executable");
}

// Submits the planned jobs in order; cancels what it submitted when a later call is refused, so
// no array is left without its merge.
Attempt submit_planned(const std::vector<PlannedJob>& jobs, const std::string& kind) {
  Attempt at;
  at.kind = kind;
  at.time = pipeline::utc_now();
  std::vector<std::pair<std::string, std::string>> ids;
  try {
    for (const auto& j : jobs) {
      SubmittedJob s;
      s.sbatch = sbatch_argv(j, ids);
      s.job_id = sbatch(s.sbatch);
      s.base = j.base;
      s.shards = j.shards;
      ids.emplace_back(j.name, s.job_id);
      if (j.base >= 0)
        at.arrays.push_back(std::move(s));
      else
        at.merge = std::move(s);
    }
  } catch (const Error&) {
    for (const auto& [name, id] : ids) {
      std::fprintf(stderr, "csweep: cancelling job %s (%s) of the failed submission\n", id.c_str(), name.c_str());
      scancel(id);
    }
    throw;
  }
  return at;
}

void print_submitted(const Attempt& at, const std::string& run_dir) {
  for (const auto& a : at.arrays)
    std::printf("submitted shards %s as array job %s\n", format_index_list(a.shards).c_str(), a.job_id.c_str());
  std::printf("submitted merge as job %s (after every shard succeeded)\n", at.merge.job_id.c_str());
  std::printf("progress: csweep status %s\n", run_dir.c_str());
}

std::string abs_path(const std::string& p) { return fs::weakly_canonical(fs::absolute(p)).string(); }

// Values that go into #SBATCH lines: one word of Slurm's name characters (a space or newline
// would change the script).
void check_word(const std::string& value, const std::string& option) {
  const bool ok = std::all_of(value.begin(), value.end(), [](unsigned char c) {
    return std::isalnum(c) || std::string_view("_.,:@+-").find(static_cast<char>(c)) != std::string_view::npos;
  });
  if (!ok) throw input_error(option, "not a Slurm name", "'" + value + "'", "letters, digits and _.,:@+-");
}

// The spec's job name as a Slurm job name and directory name.
std::string safe_name(const std::string& name) {
  std::string s;
  for (unsigned char c : name) s += std::isalnum(c) || c == '_' || c == '-' || c == '.' ? static_cast<char>(c) : '_';
  return s.empty() ? std::string("sweep") : s;
}

}  // namespace

int submit_main(const SubmitRequest& req) {
  if (req.shards < 1)
    throw input_error("--shards", "invalid shard count", std::to_string(req.shards), "a positive integer");
  if (req.ranks_per_shard < 1)
    throw input_error("--ranks-per-shard", "invalid rank count", std::to_string(req.ranks_per_shard), ">= 1");
  if (req.gpus_per_rank < 0)
    throw input_error("--gpus-per-rank", "invalid GPU count", std::to_string(req.gpus_per_rank), ">= 0");
  if (req.max_concurrent < 0)
    throw input_error("--max-concurrent", "invalid cap", std::to_string(req.max_concurrent), ">= 0 (0 = no cap)");
  const std::int64_t limit = parse_time_limit(req.time_limit, "--time");
  parse_time_limit(req.merge_time_limit, "--merge-time");
  if (req.signal_lead_s < 1 || req.signal_lead_s >= limit)
    throw input_error("--signal-lead", "the checkpoint signal must come inside the time limit",
                      fmt::format("{} s with --time {} ({} s)", req.signal_lead_s, req.time_limit, limit),
                      "1 <= seconds < the time limit");

  // The spec and its grid are checked here, so a bad spec never reaches the queue.
  const pipeline::JobSpec job = pipeline::load_job_spec(req.job_path);
  std::vector<model::ModelConfig> configs;
  for (const auto& m : job.models) configs.push_back(pipeline::model_config(m));
  const pipeline::Grid grid(job, configs);
  if (static_cast<std::uint64_t>(req.shards) > grid.total_units())
    throw input_error("--shards", "more shards than work units", std::to_string(req.shards),
                      fmt::format("at most {} (the grid's units; see csweep plan)", grid.total_units()));

  ScriptParams p;
  check_word(req.partition, "--partition");
  check_word(req.account, "--account");
  p.job_name = safe_name(job.name);
  p.run_dir = abs_path(req.run_dir.empty() ? "runs/" + p.job_name : req.run_dir);
  // #SBATCH lines end at white space: the run directory (--output) and the working directory
  // (--chdir) must have none.
  for (const auto& [path, what] : {std::pair<std::string, const char*>{p.run_dir, "--run-dir"},
                                   {fs::current_path().string(), "the working directory"}})
    if (std::any_of(path.begin(), path.end(), [](unsigned char c) { return std::isspace(c); }))
      throw input_error(what, "a path with white space cannot go into #SBATCH lines", "'" + path + "'",
                        "a path without spaces");
  p.csweep_bin = abs_path(req.csweep_bin.empty() ? fs::read_symlink("/proc/self/exe").string() : req.csweep_bin);
  if (!req.csweep_bin.empty() && ::access(p.csweep_bin.c_str(), X_OK) != 0)
    throw input_error("--csweep", "not an executable file", "'" + req.csweep_bin + "'", "a csweep binary");
  p.workdir = fs::current_path().string();
  p.spec_sha256 = sha256_bytes(job.text.data(), job.text.size());
  p.shards = req.shards;
  p.ranks_per_shard = req.ranks_per_shard;
  p.gpus_per_rank = req.gpus_per_rank;
  p.cpus_per_rank = req.cpus_per_rank > 0 ? req.cpus_per_rank : job.batching.threads_per_rank;
  p.partition = req.partition;
  p.account = req.account;
  p.time_limit = req.time_limit;
  p.merge_time_limit = req.merge_time_limit;
  p.signal_lead_s = req.signal_lead_s;
  if (req.cpus_per_rank > 0 && req.cpus_per_rank < job.batching.threads_per_rank)
    std::fprintf(stderr, "csweep: warning: --cpus-per-rank %d < the spec's batching.threads_per_rank %d\n",
                 req.cpus_per_rank, job.batching.threads_per_rank);

  if (fs::exists(run_record_path(p.run_dir)))
    throw input_error(p.run_dir, "already a run directory (it has run.json)", "",
                      "a new --run-dir, or `csweep resubmit " + p.run_dir + "` to continue that run");

  const std::optional<int> cluster_max = max_array_size();
  if (!cluster_max && !req.dry_run)
    throw input_error("scontrol show config", "cannot reach the Slurm controller", "",
                      "a host where sbatch/scontrol work (SLURM_CONF, munge)");
  const int max_array = cluster_max.value_or(kDefaultMaxArraySize);
  if (!cluster_max)
    std::fprintf(stderr, "csweep: Slurm not reachable: assuming MaxArraySize=%d\n", kDefaultMaxArraySize);

  std::vector<int> all(static_cast<std::size_t>(req.shards));
  for (int i = 0; i < req.shards; ++i) all[static_cast<std::size_t>(i)] = i;
  const auto plan = plan_submission(p.run_dir, all, max_array, req.max_concurrent, req.sbatch_options);
  const std::string shard_script = render_shard_script(p), merge_script = render_merge_script(p);

  if (req.dry_run) {
    const std::size_t arrays = plan.size() - 1;
    std::printf("# csweep submit --dry-run: nothing was written or submitted.\n");
    std::printf("# %d shards of %s (%llu units) in %zu array(s)%s; then the merge job.\n", req.shards,
                job.name.c_str(), static_cast<unsigned long long>(grid.total_units()), arrays,
                arrays > 1 ? fmt::format(" (MaxArraySize {})", max_array).c_str() : "");
    std::printf("# ---- %s\n%s", shard_script_path(p.run_dir).c_str(), shard_script.c_str());
    std::printf("# ---- %s\n%s", merge_script_path(p.run_dir).c_str(), merge_script.c_str());
    std::printf("# ---- submission\n%s", format_submission(plan).c_str());
    return kExitOk;
  }

  for (const char* sub : {"", "/shards", "/logs"}) fs::create_directories(p.run_dir + sub);
  write_file_atomic(p.run_dir + "/job.toml", job.text);
  write_script(shard_script_path(p.run_dir), shard_script);
  write_script(merge_script_path(p.run_dir), merge_script);
  RunRecord rec;
  rec.job_spec_source = abs_path(req.job_path);
  rec.job_spec_sha256 = p.spec_sha256;
  rec.job_name = job.name;
  rec.total_units = grid.total_units();
  rec.max_array_size = max_array;
  rec.max_concurrent = req.max_concurrent;
  rec.sbatch_options = req.sbatch_options;
  rec.script = p;
  write_run_record(p.run_dir, rec);  // before sbatch: a directory that has jobs always has its record
  rec.attempts.push_back(submit_planned(plan, "submit"));
  write_run_record(p.run_dir, rec);
  print_submitted(rec.attempts.back(), p.run_dir);
  return kExitOk;
}

int resubmit_main(const ResubmitRequest& req) {
  const std::string run_dir = abs_path(req.run_dir);
  RunRecord rec = read_run_record(run_dir);
  const std::string spec = run_dir + "/job.toml";
  const std::string sha = sha256_file(spec);
  if (sha != rec.job_spec_sha256)
    throw input_error(spec, "the job spec copy was changed after submission", "sha256 " + sha,
                      "sha256 " + rec.job_spec_sha256 + " (run.json); a new sweep needs a new run directory");
  const RunStatus st = collect_status(run_dir);
  if (!st.slurm_reachable && !req.dry_run)
    throw input_error("scontrol", "cannot reach the Slurm controller", "", "a host where sbatch/scontrol work");
  if (st.phase == Phase::kComplete) {
    std::printf("%s is complete; nothing to resubmit\n", run_dir.c_str());
    return kExitOk;
  }
  std::vector<int> todo, busy;
  for (const auto& s : st.shards) {
    if (s.phase == Phase::kFailed) todo.push_back(s.index);
    if (s.phase == Phase::kActive) busy.push_back(s.index);
  }
  if (!busy.empty())
    throw input_error(run_dir, "shards are still pending or running", format_index_list(busy),
                      "no active shard: wait for them, or scancel them, then resubmit");
  if (st.merge.phase == Phase::kActive) {
    if (todo.empty())
      throw input_error(run_dir, "the merge job is still pending or running", "job " + st.merge.job,
                        "wait for it (csweep status)");
    // It waits on shards that failed: it can never run.
    std::printf("cancelling merge job %s (its shards failed)\n", st.merge.job.c_str());
    if (!req.dry_run) scancel(st.merge.job);
  }
  std::vector<std::string> extra = rec.sbatch_options;
  if (!req.time_limit.empty()) {
    const std::int64_t limit = parse_time_limit(req.time_limit, "--time");
    if (rec.script.signal_lead_s >= limit)
      throw input_error("--time", "the time limit must exceed the checkpoint lead", req.time_limit,
                        fmt::format("more than {} s", rec.script.signal_lead_s));
  }
  auto plan = plan_submission(run_dir, todo, static_cast<int>(rec.max_array_size), rec.max_concurrent, extra);
  if (!req.time_limit.empty())
    for (auto& j : plan)
      if (j.base >= 0) j.options.push_back("--time=" + req.time_limit);
  std::printf("resubmitting shards %s (not complete); %zu shard(s) complete are kept\n",
              todo.empty() ? "none" : format_index_list(todo).c_str(), st.shards.size() - todo.size());
  if (req.dry_run) {
    std::printf("# ---- submission (dry run: nothing submitted)\n%s", format_submission(plan).c_str());
    return kExitOk;
  }
  rec.attempts.push_back(submit_planned(plan, "resubmit"));
  write_run_record(run_dir, rec);
  print_submitted(rec.attempts.back(), run_dir);
  return kExitOk;
}

}  // namespace csweep::slurm
