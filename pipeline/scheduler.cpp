#include "pipeline/scheduler.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "core/error.hpp"

namespace csweep::pipeline {
namespace {

volatile std::sig_atomic_t g_stop = 0;
extern "C" void on_stop_signal(int) { g_stop = 1; }

enum Tag : int { kTagRequest = 101, kTagWork = 102, kTagStop = 103, kTagResult = 104, kTagLeaving = 105 };

double now_s() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

void mpi_check(int rc, const char* what) {
  if (rc != MPI_SUCCESS) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    throw InternalError(fmt::format("MPI call {} failed: {}", what, std::string(msg, static_cast<std::size_t>(len))));
  }
}

void send_bytes(const std::string& data, int dest, int tag, MPI_Comm comm) {
  mpi_check(MPI_Send(data.data(), static_cast<int>(data.size()), MPI_BYTE, dest, tag, comm), "MPI_Send");
}

std::string recv_bytes(const MPI_Status& probed, MPI_Comm comm) {
  int count = 0;
  mpi_check(MPI_Get_count(&probed, MPI_BYTE, &count), "MPI_Get_count");
  std::string data(static_cast<std::size_t>(count), '\0');
  mpi_check(MPI_Recv(data.data(), count, MPI_BYTE, probed.MPI_SOURCE, probed.MPI_TAG, comm,
                     MPI_STATUS_IGNORE),
            "MPI_Recv");
  return data;
}

std::string pack_units(const std::vector<std::uint64_t>& units) {
  return std::string(reinterpret_cast<const char*>(units.data()), units.size() * sizeof(std::uint64_t));
}
std::vector<std::uint64_t> unpack_units(const std::string& s) {
  std::vector<std::uint64_t> v(s.size() / sizeof(std::uint64_t));
  if (!v.empty()) std::memcpy(v.data(), s.data(), v.size() * sizeof(std::uint64_t));
  return v;
}

// Polls without spinning a core: ranks are often oversubscribed, and a blocking MPI_Recv in
// OpenMPI busy-waits.
class Backoff {
 public:
  void reset() { us_ = 20; }
  void wait() {
    std::this_thread::sleep_for(std::chrono::microseconds(us_));
    us_ = std::min(us_ * 2, 2000);
  }

 private:
  int us_ = 20;
};

reducers::UnitRecord evaluate_unit(const Grid& grid, UnitEvaluator& ev, std::uint64_t id) {
  const WorkUnit u = grid.unit(id);
  if (grid.is_pruning(u)) {
    const auto baseline = ev.baseline(u.key);
    return grid.make_pruning_record(u, baseline, ev.prune(u.key, grid.pruning_run(u)));
  }
  const auto ivs = grid.interventions(u);
  const auto baseline = ev.baseline(u.key);
  auto rows = ev.evaluate(u.key, ivs);
  return grid.make_record(u, ivs, baseline, std::move(rows));
}

std::string fmt_duration(double s) {
  if (!(s >= 0) || s > 1e8) return "?";
  const auto t = static_cast<long long>(s + 0.5);
  return fmt::format("{}:{:02}:{:02}", t / 3600, (t / 60) % 60, t % 60);
}

class Progress {
 public:
  Progress(std::uint64_t total, std::uint64_t done_before, double interval)
      : total_(total), before_(done_before), interval_(interval), start_(now_s()), last_(start_) {}
  void update(std::uint64_t done_now, std::uint64_t interventions_now, bool force) {
    const double t = now_s();
    if (!force && t - last_ < interval_) return;
    last_ = t;
    const double el = std::max(t - start_, 1e-9);
    std::fprintf(stderr, "csweep: %s\n",
                 progress_line(before_ + done_now, total_, done_now / el, interventions_now / el).c_str());
    std::fflush(stderr);
  }

 private:
  std::uint64_t total_, before_;
  double interval_, start_, last_;
};

// ---- one rank --------------------------------------------------------------------------------------

ScheduleStats run_single(const Grid& grid, reducers::Ledger& ledger, UnitEvaluator& ev,
                         const ScheduleOptions& opt, ScheduleStats st) {
  Progress progress(st.units_in_shard, st.units_done_before, opt.progress_interval_s);
  std::uint64_t interventions = 0;
  double last_sync = now_s();
  st.units_by_rank.assign(1, 0);
  for (std::uint64_t id = opt.first_unit; id < opt.last_unit; ++id) {
    if (stop_requested()) {
      st.interrupted = true;
      break;
    }
    if (ledger.is_recorded(id)) continue;
    const auto rec = evaluate_unit(grid, ev, id);
    interventions += rec.rows.size();
    ledger.append(rec);
    ++st.units_done_now;
    ++st.units_by_rank[0];
    // Batch fsyncs (a unit counts as done only after one): tiny units must not be fsync-bound.
    if (now_s() - last_sync > 0.2) {
      ledger.sync();
      last_sync = now_s();
    }
    progress.update(st.units_done_now, interventions, false);
  }
  ledger.sync();
  progress.update(st.units_done_now, interventions, true);
  return st;
}

// ---- workers ---------------------------------------------------------------------------------------
//
// Protocol (every message on the main thread, tag = meaning):
//   worker -> 0: Request (idle), Result (one finished unit), Leaving (units handed back; the
//                worker's last message, sent exactly once before it returns)
//   0 -> worker: Work (a chunk of unit ids), Stop (one byte: 1 = the run is interrupted)
// A worker answers Stop with Leaving, so rank 0 knows every worker is done with MPI before it
// finalizes, and a Leaving that was not asked for (the worker got SIGTERM/SIGINT) ends the run.

void leave(const std::vector<std::uint64_t>& unstarted, MPI_Comm comm) {
  send_bytes(pack_units(unstarted), 0, kTagLeaving, comm);
}

// A Stop from rank 0 waiting to be received (checked between units, so a stop of the run takes
// effect after the unit in hand rather than after the whole chunk).
bool stop_pending(MPI_Comm comm, bool* interrupted) {
  int flag = 0;
  MPI_Status status;
  mpi_check(MPI_Iprobe(0, kTagStop, comm, &flag, &status), "MPI_Iprobe");
  if (!flag) return false;
  const std::string msg = recv_bytes(status, comm);
  *interrupted = !msg.empty() && msg[0] != 0;
  return true;
}

ScheduleStats run_worker(const Grid& grid, UnitEvaluator& ev, MPI_Comm comm, ScheduleStats st) {
  Backoff backoff;
  for (;;) {
    if (stop_requested()) {
      leave({}, comm);
      st.interrupted = true;
      return st;
    }
    send_bytes({}, 0, kTagRequest, comm);
    MPI_Status status;
    int flag = 0;
    backoff.reset();
    for (;;) {
      mpi_check(MPI_Iprobe(0, MPI_ANY_TAG, comm, &flag, &status), "MPI_Iprobe");
      if (flag) break;
      if (stop_requested()) {
        // Rank 0 may be answering right now: it re-issues whatever it assigned to a worker that
        // left, so an unreceived Work message loses nothing.
        leave({}, comm);
        st.interrupted = true;
        return st;
      }
      backoff.wait();
    }
    const std::string msg = recv_bytes(status, comm);
    if (status.MPI_TAG == kTagStop) {
      st.interrupted = !msg.empty() && msg[0] != 0;
      leave({}, comm);
      return st;
    }
    CSWEEP_ASSERT(status.MPI_TAG == kTagWork, "worker got unexpected tag {}", status.MPI_TAG);
    const auto units = unpack_units(msg);
    for (std::size_t i = 0; i < units.size(); ++i) {
      bool interrupted = true;
      if (stop_requested() || stop_pending(comm, &interrupted)) {
        // Hand back what was not started: rank 0 stops the run (or re-issues them).
        leave(std::vector<std::uint64_t>(units.begin() + static_cast<std::ptrdiff_t>(i), units.end()), comm);
        st.interrupted = interrupted;
        return st;
      }
      send_bytes(reducers::serialize(evaluate_unit(grid, ev, units[i])), 0, kTagResult, comm);
      ++st.units_done_now;
    }
  }
}

// ---- rank 0's own evaluation ---------------------------------------------------------------------
//
// A thread beside the coordinator evaluates the chunks rank 0 assigns to itself. Every MPI call
// stays on the coordinator's (main) thread, so MPI_THREAD_FUNNELED is enough, and the coordinator
// answers workers within its polling interval however long rank 0's own unit takes. The two
// threads meet only in this mailbox.
class LocalWorker {
 public:
  LocalWorker(const Grid& grid, UnitEvaluator& ev) : grid_(grid), ev_(ev), thread_([this] { loop(); }) {}
  ~LocalWorker() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      quit_ = true;
      todo_.clear();
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();  // at most the unit in hand
  }
  LocalWorker(const LocalWorker&) = delete;
  LocalWorker& operator=(const LocalWorker&) = delete;

  // Nothing in hand: the last chunk is done (its results may still wait in collect()).
  bool idle() {
    std::lock_guard<std::mutex> lk(mu_);
    return todo_.empty() && !busy_;
  }
  void assign(const std::vector<std::uint64_t>& units) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      todo_.insert(todo_.end(), units.begin(), units.end());
    }
    cv_.notify_all();
  }
  // Gives back the units not started; the one in hand finishes and is collected as usual.
  std::vector<std::uint64_t> take_unstarted() {
    std::lock_guard<std::mutex> lk(mu_);
    std::vector<std::uint64_t> v(todo_.begin(), todo_.end());
    todo_.clear();
    return v;
  }
  // Results finished since the last call; rethrows the thread's error (the run ends with it).
  std::vector<reducers::UnitRecord> collect() {
    std::lock_guard<std::mutex> lk(mu_);
    if (error_) std::rethrow_exception(error_);
    std::vector<reducers::UnitRecord> out;
    out.swap(done_);
    return out;
  }

 private:
  void loop() {
    try {
      ev_.enter_thread();
    } catch (...) {
      std::lock_guard<std::mutex> lk(mu_);
      error_ = std::current_exception();
      return;
    }
    for (;;) {
      std::uint64_t id = 0;
      {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return quit_ || !todo_.empty(); });
        if (quit_) return;
        id = todo_.front();
        todo_.pop_front();
        busy_ = true;
      }
      try {
        auto rec = evaluate_unit(grid_, ev_, id);
        std::lock_guard<std::mutex> lk(mu_);
        done_.push_back(std::move(rec));
        busy_ = false;
      } catch (...) {
        std::lock_guard<std::mutex> lk(mu_);
        error_ = std::current_exception();
        busy_ = false;
        todo_.clear();
        return;
      }
    }
  }

  const Grid& grid_;
  UnitEvaluator& ev_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::uint64_t> todo_;
  std::vector<reducers::UnitRecord> done_;
  std::exception_ptr error_;
  bool busy_ = false, quit_ = false;
  std::thread thread_;  // last: starts once everything above exists
};

// ---- coordinator -----------------------------------------------------------------------------------

// Rank 0: hands out units, journals results and, when it has an evaluator, evaluates its own share
// on a LocalWorker thread (slot 0 of the worker table; it is never declared lost: it is this
// process).
ScheduleStats run_coordinator(const Grid& grid, reducers::Ledger& ledger, UnitEvaluator* evaluator,
                              const ScheduleOptions& opt, MPI_Comm comm, int n_ranks, ScheduleStats st) {
  struct Worker {
    bool live = true;       // heard from within the timeout (or never yet due)
    bool left = false;      // its Leaving arrived: it sends nothing more
    bool stop_sent = false;
    bool waiting = false;   // asked for work and got no answer yet
    double last_heard = 0;
    std::set<std::uint64_t> inflight;
  };
  std::vector<Worker> workers(static_cast<std::size_t>(n_ranks));
  const double t0 = now_s();
  for (auto& w : workers) w.last_heard = t0;
  std::unique_ptr<LocalWorker> local;
  if (evaluator) local = std::make_unique<LocalWorker>(grid, *evaluator);
  Worker& self = workers[0];
  std::map<std::uint64_t, int> owner;  // in-flight unit -> rank
  std::deque<std::uint64_t> reissue;
  std::uint64_t cursor = opt.first_unit;
  std::uint64_t interventions = 0;
  Progress progress(st.units_in_shard, st.units_done_before, opt.progress_interval_s);
  const int n_workers = n_ranks - 1 + (local ? 1 : 0);
  st.units_by_rank.assign(static_cast<std::size_t>(n_ranks), 0);
  bool stopping = false;
  double stop_deadline = 0, finish_deadline = 0;

  auto next_unit = [&](std::uint64_t* out) {
    while (!reissue.empty()) {
      const auto u = reissue.front();
      reissue.pop_front();
      if (!ledger.is_recorded(u) && !owner.count(u)) {
        *out = u;
        return true;
      }
    }
    while (cursor < opt.last_unit && (ledger.is_recorded(cursor) || owner.count(cursor))) ++cursor;
    if (cursor < opt.last_unit) {
      *out = cursor++;
      return true;
    }
    return false;
  };
  auto all_recorded = [&] {
    return reissue.empty() && owner.empty() &&
           [&] {
             while (cursor < opt.last_unit && ledger.is_recorded(cursor)) ++cursor;
             return cursor >= opt.last_unit;
           }();
  };
  auto next_chunk = [&] {
    const std::uint64_t pending = st.units_in_shard - std::min(st.units_in_shard, ledger.n_recorded() + owner.size());
    const std::uint64_t chunk = std::max<std::uint64_t>(
        1, std::min<std::uint64_t>(opt.max_chunk, (pending + 2 * n_workers - 1) / (2 * n_workers)));
    std::vector<std::uint64_t> units;
    std::uint64_t u;
    while (units.size() < chunk && next_unit(&u)) units.push_back(u);
    return units;
  };
  auto record = [&](int r, const reducers::UnitRecord& rec) {
    CSWEEP_ASSERT(rec.unit >= opt.first_unit && rec.unit < opt.last_unit,
                  "rank {} returned unit {} outside the shard", r, rec.unit);
    workers[static_cast<std::size_t>(r)].inflight.erase(rec.unit);
    if (auto it = owner.find(rec.unit); it != owner.end()) {
      workers[static_cast<std::size_t>(it->second)].inflight.erase(rec.unit);
      owner.erase(it);
    }
    if (ledger.append(rec)) {  // false: a late duplicate of a re-issued unit (first result wins)
      ++st.units_done_now;
      ++st.units_by_rank[static_cast<std::size_t>(r)];
      interventions += rec.rows.size();
    }
  };
  auto hand_back = [&](Worker& w, const std::vector<std::uint64_t>& units) {
    for (auto u : units) {
      owner.erase(u);
      w.inflight.erase(u);
      reissue.push_back(u);
    }
  };
  auto send_stop = [&](int r, bool interrupted) {
    Worker& w = workers[static_cast<std::size_t>(r)];
    send_bytes(std::string(1, interrupted ? '\1' : '\0'), r, kTagStop, comm);
    w.stop_sent = true;
    w.waiting = false;
    w.last_heard = now_s();  // the timeout for its answer counts from here
  };
  auto begin_stop = [&](double t, const std::string& why) {
    if (stopping) return;
    stopping = true;
    stop_deadline = t + opt.stop_grace_s;
    std::fprintf(stderr, "csweep: %s: finishing the units in hand, then exiting (rerun the same command to resume)\n",
                 why.c_str());
    std::fflush(stderr);
    if (local) hand_back(self, local->take_unstarted());
    for (int r = 1; r < n_ranks; ++r) {
      const Worker& w = workers[static_cast<std::size_t>(r)];
      if (!w.left && !w.stop_sent) send_stop(r, true);
    }
  };
  auto serve = [&](int r) {
    Worker& w = workers[static_cast<std::size_t>(r)];
    if (!w.waiting || w.left) return;
    if (w.stop_sent) {  // its Request crossed our Stop; the Stop answers it
      w.waiting = false;
      return;
    }
    if (stopping) {
      send_stop(r, true);
      return;
    }
    const auto units = next_chunk();
    if (!units.empty()) {
      for (auto x : units) {
        owner[x] = r;
        w.inflight.insert(x);
      }
      send_bytes(pack_units(units), r, kTagWork, comm);
      w.waiting = false;
      w.last_heard = now_s();  // the timeout counts from the assignment
    } else if (all_recorded()) {
      send_stop(r, false);
    }
    // else: everything left is in flight elsewhere; keep this worker waiting in case a unit is
    // re-issued.
  };
  // Rank 0's own share: a new chunk whenever its thread has finished the last one (results are
  // collected before this runs, so an empty in-flight set means really idle).
  auto serve_self = [&] {
    if (!local || stopping || !self.inflight.empty() || !local->idle()) return;
    const auto units = next_chunk();
    for (auto x : units) {
      owner[x] = 0;
      self.inflight.insert(x);
    }
    if (!units.empty()) local->assign(units);
  };

  Backoff backoff;
  double last_sync = now_s();
  for (;;) {
    bool got_any = false;
    if (local) {
      for (const auto& rec : local->collect()) {
        record(0, rec);
        got_any = true;
      }
    }
    // Drain every message that is ready, then make what arrived durable with one fsync.
    for (;;) {
      int flag = 0;
      MPI_Status status;
      mpi_check(MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, comm, &flag, &status), "MPI_Iprobe");
      if (!flag) break;
      got_any = true;
      const int r = status.MPI_SOURCE;
      Worker& w = workers[static_cast<std::size_t>(r)];
      const std::string msg = recv_bytes(status, comm);
      w.last_heard = now_s();
      if (!w.live) {
        spdlog::warn("rank {} is responding again; its re-issued units keep their first result", r);
        w.live = true;
        --st.workers_lost;
      }
      switch (status.MPI_TAG) {
        case kTagResult:
          record(r, reducers::deserialize(msg));
          break;
        case kTagRequest:
          w.waiting = true;
          break;
        case kTagLeaving: {
          hand_back(w, unpack_units(msg));
          hand_back(w, std::vector<std::uint64_t>(w.inflight.begin(), w.inflight.end()));
          w.left = true;
          w.waiting = false;
          // Not asked to stop: the rank got SIGTERM/SIGINT (from a user or a scheduler that is
          // ending the job). Its process now waits in MPI_Finalize for the others, and a job
          // that lost a rank does not finish as planned, so the whole run stops.
          if (!w.stop_sent) begin_stop(now_s(), fmt::format("rank {} was stopped", r));
          break;
        }
        default:
          CSWEEP_ASSERT(false, "coordinator got unexpected tag {} from rank {}", status.MPI_TAG, r);
      }
    }
    // Group fsyncs: one per 100 ms at most (a unit counts as done once synced; its record is
    // already in the journal file, so a crash of this process alone loses nothing).
    const double t = now_s();
    if (t - last_sync > 0.1) {
      ledger.sync();
      last_sync = t;
    }

    if (stop_requested()) begin_stop(t, "stop requested");
    // Workers silent past the timeout while rank 0 waits for them (units in flight, or the answer
    // to a Stop): lost; their units are re-issued.
    for (int r = 1; r < n_ranks; ++r) {
      Worker& w = workers[static_cast<std::size_t>(r)];
      if (!w.live || w.left || (w.inflight.empty() && !w.stop_sent) || t - w.last_heard < opt.worker_timeout_s)
        continue;
      if (w.inflight.empty())
        spdlog::warn("rank {} silent for {:.0f} s since it was told to stop", r, t - w.last_heard);
      else
        spdlog::warn("rank {} silent for {:.0f} s: re-issuing its {} unit(s)", r, t - w.last_heard,
                     w.inflight.size());
      w.live = false;
      ++st.workers_lost;
      st.units_reissued += w.inflight.size();
      hand_back(w, std::vector<std::uint64_t>(w.inflight.begin(), w.inflight.end()));
    }
    serve_self();
    for (int r = 1; r < n_ranks; ++r) serve(r);
    progress.update(st.units_done_now, interventions, false);

    bool all_left = true, none_working = true;
    for (int r = 1; r < n_ranks; ++r) {
      const Worker& w = workers[static_cast<std::size_t>(r)];
      all_left = all_left && w.left;
      none_working = none_working && (w.left || !w.live);
    }
    // Rank 0's own unit in hand always finishes (it is one unit, and its thread must be joined
    // before the evaluator goes away); the grace period is for the other ranks.
    const bool self_done = !local || (self.inflight.empty() && local->idle());
    if (stopping) {
      if (self_done && (none_working || t > stop_deadline)) break;
    } else if (all_recorded() && self_done) {
      // Done: every worker is told so, also those that have not asked yet (one still starting
      // up, or stopped by a debugger), so that each either answers or times out.
      for (int r = 1; r < n_ranks; ++r) {
        const Worker& w = workers[static_cast<std::size_t>(r)];
        if (!w.left && !w.stop_sent) send_stop(r, false);
      }
      if (all_left) break;
      // Lost workers: give them a short while to come back (so MPI_Finalize can be clean).
      if (none_working) {
        if (finish_deadline == 0) finish_deadline = t + std::min(opt.worker_timeout_s, 10.0);
        if (t > finish_deadline) break;
      }
    } else if (none_working && !local) {
      // Work is left and no rank can do it (every worker lost): waiting could last forever.
      begin_stop(t, "no worker rank is responding");
    }
    if (got_any)
      backoff.reset();
    else
      backoff.wait();
  }
  ledger.sync();
  st.interrupted = stopping && !all_recorded();
  // Ranks that never said they are done may hang MPI_Finalize: the caller ends the job instead.
  st.workers_lost = 0;
  for (int r = 1; r < n_ranks; ++r) st.workers_lost += !workers[static_cast<std::size_t>(r)].left;
  progress.update(st.units_done_now, interventions, true);
  return st;
}

}  // namespace

void install_stop_handlers() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
}
bool stop_requested() { return g_stop != 0; }
void request_stop() { g_stop = 1; }

std::string progress_line(std::uint64_t done, std::uint64_t total, double rate, double ivs_rate) {
  const double pct = total ? 100.0 * static_cast<double>(done) / static_cast<double>(total) : 100.0;
  const double eta = rate > 0 ? static_cast<double>(total - std::min(done, total)) / rate : -1;
  return fmt::format("units {}/{} ({:.1f}%) | {:.2f} units/s | {:.1f} interventions/s | ETA {}", done,
                     total, pct, rate, ivs_rate, fmt_duration(eta));
}

ScheduleStats run_schedule(const Grid& grid, reducers::Ledger* ledger, UnitEvaluator* evaluator,
                           const ScheduleOptions& opt, MPI_Comm comm) {
  int rank = 0, size = 1;
  mpi_check(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
  mpi_check(MPI_Comm_size(comm, &size), "MPI_Comm_size");
  ScheduleStats st;
  st.units_in_shard = opt.last_unit - opt.first_unit;
  const double t0 = now_s();
  if (rank == 0) {
    CSWEEP_ASSERT(ledger, "rank 0 needs the ledger");
    st.units_done_before = ledger->n_done();
    if (size == 1) {
      CSWEEP_ASSERT(evaluator, "a single rank needs an evaluator");
      st = run_single(grid, *ledger, *evaluator, opt, st);
    } else {
      st = run_coordinator(grid, *ledger, evaluator, opt, comm, size, st);
    }
  } else {
    CSWEEP_ASSERT(evaluator, "worker rank {} needs an evaluator", rank);
    st = run_worker(grid, *evaluator, comm, st);
  }
  st.seconds = now_s() - t0;
  return st;
}

}  // namespace csweep::pipeline
