#include "pipeline/slurm/status.hpp"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <ctime>
#include <fstream>
#include <map>
#include <set>

#include "core/error.hpp"
#include "pipeline/slurm/cluster.hpp"
#include "reducers/ledger.hpp"
#include "reducers/writer.hpp"

namespace csweep::slurm {
namespace {

bool exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

// "2026-12-02T14:00:00Z" -> seconds since the epoch; -1 when malformed.
double parse_utc(const std::string& s) {
  std::tm tm{};
  if (!strptime(s.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm)) return -1;
  return static_cast<double>(timegm(&tm));
}

// What the script's own lines in a log say (slurm/templates/*.sh writes them).
struct LogSummary {
  int starts = 0;
  double last_start = -1;
  bool ended = false;   // the last start has an end line
  int end_rc = -1;
  bool checkpointed = false;
  std::string last_line;
};

LogSummary read_log(const std::string& path, const std::string& tag) {
  LogSummary s;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    s.last_line = line;
    const auto at = line.find("] " + tag);
    if (line.size() < 2 || line[0] != '[' || at == std::string::npos) continue;
    const std::string rest = line.substr(at + 2 + tag.size());
    if (rest.find(" start ") != std::string::npos || rest.rfind(" start", 0) == 0) {
      ++s.starts;
      s.last_start = parse_utc(line.substr(1, line.find(']') - 1));
      s.ended = false;
      s.checkpointed = false;
    } else if (const auto e = rest.find(" end rc="); e != std::string::npos) {
      s.ended = true;
      s.end_rc = std::atoi(rest.c_str() + e + 8);
      s.checkpointed = rest.find("checkpointed") != std::string::npos;
    }
  }
  if (s.last_line.size() > 120) s.last_line = s.last_line.substr(0, 117) + "...";
  return s;
}

bool active_state(const std::string& s) { return !s.empty() && !is_terminal_state(s); }

// Looks jobs up once per status call.
class Controller {
 public:
  // The record of task `task` of array `array_id` (task < 0: a plain job); nullptr if unknown.
  const JobRecord* find(const std::string& id, int task) {
    auto it = cache_.find(id);
    if (it == cache_.end()) {
      JobQuery q = show_job(id);
      reachable_ = reachable_ || q.reachable;
      it = cache_.emplace(id, std::move(q)).first;
    }
    for (const auto& r : it->second.records) {
      if (task < 0 && r.job_id == id) return &r;
      if (task >= 0 && std::find(r.array_tasks.begin(), r.array_tasks.end(), task) != r.array_tasks.end())
        return &r;
    }
    return nullptr;
  }
  bool reachable(const std::string& id) {
    find(id, -1);
    return cache_.at(id).reachable;
  }
  bool any_reachable() const { return reachable_; }

 private:
  std::map<std::string, JobQuery> cache_;
  bool reachable_ = false;
};

// The phase of a shard or merge job from its Slurm record (if any) and its log.
void judge(ShardStatus& s, const JobRecord* rec, bool reachable, const LogSummary& log) {
  if (rec) {
    s.state = rec->state;
    if (active_state(rec->state)) {
      s.phase = Phase::kActive;
      if (rec->state == "PENDING" && !rec->reason.empty() && rec->reason != "None")
        s.state += "(" + rec->reason + ")";
      return;
    }
    s.phase = Phase::kFailed;  // terminal but not complete (complete shards are decided earlier)
    if (rec->state == "COMPLETED") s.state = "ENDED-INCOMPLETE";
    return;
  }
  if (s.job.empty()) {
    s.state = "NOT-SUBMITTED";
    s.phase = Phase::kFailed;
  } else if (log.starts > 0 && log.ended && !log.checkpointed) {
    s.state = fmt::format("EXITED(rc={})", log.end_rc);
    s.phase = Phase::kFailed;
  } else if (reachable) {
    // The controller no longer knows the job (MinJobAge passed) and the log shows no clean end.
    s.state = log.starts > 0 ? "LOST" : "GONE";
    s.phase = Phase::kFailed;
  } else {
    s.state = "UNKNOWN";  // Slurm not reachable from here
    s.phase = Phase::kActive;
  }
}

std::string duration(double s) {
  if (s < 0) return "-";
  const auto t = static_cast<long long>(s + 0.5);
  if (t >= 86400) return fmt::format("{}-{:02}:{:02}:{:02}", t / 86400, t % 86400 / 3600, t % 3600 / 60, t % 60);
  return fmt::format("{:02}:{:02}:{:02}", t / 3600, t % 3600 / 60, t % 60);
}

const char* phase_name(Phase p) {
  return p == Phase::kComplete ? "complete" : p == Phase::kActive ? "running" : "failed";
}

}  // namespace

std::uint64_t shard_units(std::uint64_t total_units, int shard, int shards) {
  const auto [a, b] = reducers::shard_unit_range(total_units, shard, shards);
  return b - a;
}

RunStatus collect_status(const std::string& run_dir) {
  RunStatus st;
  st.run_dir = run_dir;
  st.record = read_run_record(run_dir);
  const RunRecord& rec = st.record;
  const int n = rec.script.shards;
  const double now = static_cast<double>(std::time(nullptr));
  Controller ctl;
  for (int i = 0; i < n; ++i) {
    ShardStatus s;
    s.index = i;
    const auto [first, last] = reducers::shard_unit_range(rec.total_units, i, n);
    s.total = last - first;
    const std::string file = shard_file_path(run_dir, i, n);
    bool file_complete = false;
    std::set<std::uint64_t> units;
    try {
      if (exists(file)) {
        const reducers::Results meta = reducers::read_results_meta(file);
        if (meta.meta.total_units != rec.total_units || meta.meta.shard_index != i || meta.meta.shard_count != n)
          throw input_error(file, "shard file of another grid or split",
                            fmt::format("{} units, shard {}/{}", meta.meta.total_units, meta.meta.shard_index,
                                        meta.meta.shard_count),
                            fmt::format("{} units, shard {}/{} (run.json)", rec.total_units, i, n));
        for (auto u : meta.ledger)
          if (u >= first && u < last) units.insert(u);
        const auto c = meta.meta.int_attrs.find("complete");
        file_complete = c != meta.meta.int_attrs.end() && c->second == 1;
      }
    } catch (const Error& e) {
      s.problem = e.what();  // reported, and the shard is not complete
      file_complete = false;
    }
    std::uint64_t journaled = 0;
    const std::string journal = reducers::Ledger::journal_path(file);
    if (s.problem.empty() && exists(journal)) {
      for (const auto& r : reducers::read_journal(journal, nullptr)) {
        if (r.unit >= first && r.unit < last && units.insert(r.unit).second) ++journaled;
      }
    }
    s.done = units.size();
    const LogSummary log = read_log(shard_log_path(run_dir, i), fmt::format("csweep-shard {}/{}", i, n));
    s.restarts = std::max(0, log.starts - 1);
    s.last_line = log.last_line;
    const SubmittedJob* arr = latest_array_of(rec, i);
    const JobRecord* jr = nullptr;
    bool reachable = false;
    if (arr) {
      s.job = fmt::format("{}_{}", arr->job_id, i - arr->base);
      jr = ctl.find(arr->job_id, i - arr->base);
      reachable = ctl.reachable(arr->job_id);
    }
    if (file_complete && !exists(journal)) {
      s.phase = Phase::kComplete;
      s.state = "COMPLETED";
    } else {
      judge(s, jr, reachable, log);
      if (jr && jr->state == "RUNNING" && log.last_start > 0 && !log.ended && now > log.last_start)
        s.rate = static_cast<double>(journaled) / (now - log.last_start);
    }
    st.done += s.done;
    st.total += s.total;
    st.rate += s.rate;
    st.shards.push_back(std::move(s));
  }
  if (st.rate > 0) st.eta_s = static_cast<double>(st.total - st.done) / st.rate;

  // The merge job of the latest attempt.
  ShardStatus& m = st.merge;
  m.index = -1;
  const std::string results = results_path(run_dir);
  if (exists(results)) {
    const reducers::Results meta = reducers::read_results_meta(results);
    const auto c = meta.meta.int_attrs.find("complete");
    st.results_complete = c != meta.meta.int_attrs.end() && c->second == 1;
  }
  const LogSummary mlog = read_log(run_dir + "/logs/merge.log", "csweep-merge");
  m.last_line = mlog.last_line;
  m.restarts = std::max(0, mlog.starts - 1);
  const JobRecord* mr = nullptr;
  bool mreach = false;
  if (!rec.attempts.empty()) {
    m.job = rec.attempts.back().merge.job_id;
    mr = ctl.find(m.job, -1);
    mreach = ctl.reachable(m.job);
  }
  if (mr && mr->state == "COMPLETED") {
    m.phase = st.results_complete ? Phase::kComplete : Phase::kFailed;
    m.state = "COMPLETED";
  } else if (!mr && mlog.ended && mlog.end_rc == 0 && st.results_complete) {
    m.phase = Phase::kComplete;
    m.state = "COMPLETED";
  } else {
    judge(m, mr, mreach, mlog);
  }
  st.slurm_reachable = ctl.any_reachable();

  const bool shard_failed = std::any_of(st.shards.begin(), st.shards.end(),
                                        [](const ShardStatus& s) { return s.phase == Phase::kFailed; });
  if (m.phase == Phase::kComplete)
    st.phase = Phase::kComplete;
  else if (shard_failed || m.phase == Phase::kFailed)
    st.phase = Phase::kFailed;
  else
    st.phase = Phase::kActive;
  return st;
}

std::string format_status(const RunStatus& s) {
  const RunRecord& r = s.record;
  std::string out = fmt::format("run {}: job '{}', {} shards, {} units, {} attempt(s){}\n", s.run_dir,
                                r.job_name, r.script.shards, r.total_units, r.attempts.size(),
                                s.slurm_reachable ? "" : "; Slurm not reachable: states from the logs only");
  out += fmt::format("{:>5}  {:>17}  {:<14}  {:<26}  {:>8}  {}\n", "shard", "units", "job", "state",
                     "restarts", "last log line");
  for (const auto& sh : s.shards) {
    const double pct = sh.total ? 100.0 * static_cast<double>(sh.done) / static_cast<double>(sh.total) : 100.0;
    out += fmt::format("{:>5}  {:>17}  {:<14}  {:<26}  {:>8}  {}\n", sh.index,
                       fmt::format("{}/{} {:5.1f}%", sh.done, sh.total, pct), sh.job.empty() ? "-" : sh.job,
                       sh.state, sh.restarts, sh.last_line);
  }
  const double pct = s.total ? 100.0 * static_cast<double>(s.done) / static_cast<double>(s.total) : 100.0;
  for (const auto& sh : s.shards)
    if (!sh.problem.empty()) out += fmt::format("shard {}: {}\n", sh.index, sh.problem);
  out += fmt::format("total  {}/{} units ({:.1f}%), rate {}, ETA {}\n", s.done, s.total, pct,
                     s.rate > 0 ? fmt::format("{:.2f} units/s", s.rate) : std::string("-"), duration(s.eta_s));
  out += fmt::format("merge  job {}: {}{}; results {}\n", s.merge.job.empty() ? "-" : s.merge.job,
                     s.merge.state, s.merge.last_line.empty() ? "" : " | " + s.merge.last_line,
                     s.results_complete ? results_path(s.run_dir) + " (complete)" : "not written yet");
  out += fmt::format("status: {}", phase_name(s.phase));
  if (s.phase == Phase::kFailed) out += fmt::format(" (csweep resubmit {} runs the unfinished shards again)", s.run_dir);
  return out + "\n";
}

int status_exit_code(const RunStatus& s) {
  return s.phase == Phase::kComplete ? kExitOk : s.phase == Phase::kActive ? kExitStatusActive : kExitStatusFailed;
}

}  // namespace csweep::slurm
