#include "pipeline/run.hpp"

#include <mpi.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <tuple>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.hpp"
#include "csweep/version.hpp"
#include "pipeline/derived_tables.hpp"
#include "pipeline/scheduler.hpp"
#include "reducers/merge.hpp"
#include "reducers/writer.hpp"

namespace csweep::pipeline {
namespace {

double wall_now() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

std::string model_hash(const ModelSpec& m, bool tokenizer) {
  try {
    const std::string p = resolve_model_path(m);
    return tokenizer ? hash_tokenizer(p) : hash_weights(p);
  } catch (const InputError&) {
    return "";  // not found: the evaluator reports that; provenance stays empty
  }
}

// Provenance of this run layered over what the output already holds (a resume keeps the first
// start time, sums wall time and appends to the list of runs).
struct ModelHashes {
  nlohmann::json paths = nlohmann::json::array(), weights = nlohmann::json::array(),
                 tokenizers = nlohmann::json::array();
};

// Hashing multi-GB checkpoints takes seconds: once per run, on rank 0.
ModelHashes hash_models(const JobSpec& job) {
  ModelHashes h;
  for (const auto& m : job.models) {
    h.paths.push_back(m.path);
    h.weights.push_back(model_hash(m, false));
    h.tokenizers.push_back(model_hash(m, true));
  }
  return h;
}

reducers::FileMeta with_provenance(reducers::FileMeta meta, const reducers::FileMeta& stored,
                                   const JobSpec& job, const ModelHashes& hashes,
                                   const std::string& started, int ranks, double wall,
                                   const ScheduleStats* st,
                                   const std::vector<std::string>& placements = {}) {
  const auto& paths = hashes.paths;
  const auto& wsha = hashes.weights;
  const auto& tsha = hashes.tokenizers;
  auto& t = meta.text_attrs;
  t = stored.text_attrs;
  t["job_spec"] = job.text;
  t["job_spec_path"] = job.path;
  t["model_paths"] = paths.dump();
  t["model_sha256"] = wsha.dump();
  t["tokenizer_sha256"] = tsha.dump();
  t["csweep_version"] = kVersion;
  t["csweep_git_revision"] = kGitRevision;
  t["command_line"] = command_line();
  t["dtype"] = vocab::compute_dtypes().name(job.compute.dtype);
  if (!t.count("start_time")) t["start_time"] = started;
  t["end_time"] = utc_now();
  nlohmann::json runs = nlohmann::json::array();
  if (auto it = stored.text_attrs.find("runs"); it != stored.text_attrs.end()) {
    try {
      runs = nlohmann::json::parse(it->second);
    } catch (const nlohmann::json::exception&) {
      runs = nlohmann::json::array();
    }
  }
  if (st) {
    runs.push_back({{"start", started},
                    {"end", t["end_time"]},
                    {"ranks", ranks},
                    {"wall_seconds", wall},
                    {"units_done", st->units_done_now},
                    {"units_reissued", st->units_reissued},
                    {"units_by_rank", st->units_by_rank},
                    {"device_by_rank", placements},
                    {"interrupted", st->interrupted},
                    {"command_line", t["command_line"]}});
  }
  t["runs"] = runs.dump();
  meta.int_attrs = stored.int_attrs;
  meta.int_attrs["ranks"] = ranks;
  meta.real_attrs = stored.real_attrs;
  meta.real_attrs["wall_seconds"] = (stored.real_attrs.count("wall_seconds") ? stored.real_attrs.at("wall_seconds") : 0) + wall;
  return meta;
}

// Every rank's `mine`, on rank 0 (others get an empty list); a collective, called by all ranks.
std::vector<std::string> gather_strings(const std::string& mine, int rank, int size) {
  if (size == 1) return {mine};
  const int len = static_cast<int>(mine.size());
  std::vector<int> lens(static_cast<size_t>(size)), offs(static_cast<size_t>(size));
  MPI_Gather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
  std::string all;
  if (rank == 0) {
    int total = 0;
    for (int r = 0; r < size; ++r) {
      offs[static_cast<size_t>(r)] = total;
      total += lens[static_cast<size_t>(r)];
    }
    all.resize(static_cast<size_t>(total));
  }
  MPI_Gatherv(mine.data(), len, MPI_CHAR, all.data(), lens.data(), offs.data(), MPI_CHAR, 0, MPI_COMM_WORLD);
  std::vector<std::string> out;
  if (rank == 0)
    for (int r = 0; r < size; ++r)
      out.push_back(all.substr(static_cast<size_t>(offs[static_cast<size_t>(r)]), static_cast<size_t>(lens[static_cast<size_t>(r)])));
  return out;
}

std::string describe(const reducers::Row& r, const reducers::FamilyMeta& fam) {
  std::string s;
  s += vocab::components_name(r.components);
  if (r.position >= 0 && static_cast<std::size_t>(r.position) < fam.position_labels.size())
    s += "@" + fam.position_labels[static_cast<std::size_t>(r.position)];
  if (r.receiver_kind >= 0) {
    interv::Receiver rc;
    rc.kind = static_cast<interv::ReceiverKind>(r.receiver_kind);
    rc.layer = r.receiver_layer;
    rc.head = r.receiver_head;
    s += "->" + vocab::receiver_name(rc);
  }
  return s;
}

// The largest effect (lowest performance) of each family per (model, task, corruption, ablation):
// the first thing to look at after a sweep.
void print_summary(const std::string& path) {
  const reducers::Results r = reducers::read_results(path);
  std::fprintf(stderr, "csweep: largest effects (lowest performance %% = 100 * LD / LD_clean):\n");
  for (std::size_t f = 0; f < r.tables.size(); ++f) {
    if (r.meta.families[f].kind == "pruning") continue;  // circuits: below
    std::map<std::tuple<int, int, int, int>, const reducers::Row*> best;
    for (const auto& row : r.tables[f]) {
      const auto key = std::make_tuple(row.exp.model, row.exp.task, row.exp.corruption, row.exp.ablation);
      auto& b = best[key];
      if (!b || row.metrics.performance < b->metrics.performance) b = &row;
    }
    for (const auto& [key, row] : best) {
      const auto name = [](const std::vector<std::string>& v, int i) {
        return i >= 0 && static_cast<std::size_t>(i) < v.size() ? v[static_cast<std::size_t>(i)] : std::to_string(i);
      };
      std::fprintf(stderr, "  %-14s %-14s %-6s %-22s %-16s performance %7.1f %%  (LD %.3f)\n",
                   name(r.meta.task_names, std::get<1>(key)).c_str(),
                   name(r.meta.corruption_names, std::get<2>(key)).c_str(),
                   name(r.meta.ablation_names, std::get<3>(key)).c_str(), r.meta.families[f].name.c_str(),
                   describe(*row, r.meta.families[f]).c_str(), row->metrics.performance,
                   row->metrics.logit_diff);
    }
  }
  // Pruning: the reference order's circuit at each threshold (all orders: /circuits).
  bool header = false;
  for (const auto& c : r.circuits) {
    if (c.order_kind != static_cast<std::int8_t>(pruning::OrderKind::kReference)) continue;
    if (!header) {
      std::fprintf(stderr, "csweep: circuits (reference order; kept alone: performance %%; every order "
                           "in /circuits, trajectories in /pruning_steps, cross-task in /cross_task):\n");
      header = true;
    }
    int heads = 0, mlps = 0;
    for (const auto& x : c.components) (x.kind == interv::ComponentKind::kHead ? heads : mlps) += 1;
    const auto name = [](const std::vector<std::string>& v, int i) {
      return i >= 0 && static_cast<std::size_t>(i) < v.size() ? v[static_cast<std::size_t>(i)] : std::to_string(i);
    };
    std::fprintf(stderr, "  %-14s %-10s %-12s T = %-4g %2d heads %2d MLPs  performance %6.1f %%  %s\n",
                 name(r.meta.task_names, c.exp.task).c_str(), name(r.meta.corruption_names, c.exp.corruption).c_str(),
                 r.meta.families[static_cast<std::size_t>(c.family)].name.c_str(), c.threshold, heads, mlps,
                 c.metrics.performance, vocab::components_name(c.components).c_str());
  }
}

[[noreturn]] void abort_all(int rank, const char* kind, const std::string& what, int code) {
  std::fprintf(stderr, "csweep: %s (rank %d): %s\n", kind, rank, what.c_str());
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

}  // namespace

std::string command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (auto& c : all)
    if (c == '\0') c = ' ';
  while (!all.empty() && all.back() == ' ') all.pop_back();
  return all;
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm;
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string worker_timeout_problem(double s) {
  if (std::isfinite(s) && s > 0 && s <= kMaxWorkerTimeoutS) return "";
  return fmt::format("--worker-timeout: got {}, expected seconds in (0, {:.0f}] (the silence after which "
                     "a worker's units are re-issued; it must exceed the time of one unit)",
                     s, kMaxWorkerTimeoutS);
}

std::pair<int, int> parse_shard(const std::string& text) {
  const auto slash = text.find('/');
  int i = -1, n = -1;
  try {
    if (slash != std::string::npos) {
      std::size_t a = 0, b = 0;
      i = std::stoi(text.substr(0, slash), &a);
      n = std::stoi(text.substr(slash + 1), &b);
      if (a != slash || b != text.size() - slash - 1) i = n = -1;
    }
  } catch (const std::exception&) {
    i = n = -1;
  }
  if (n < 1 || i < 0 || i >= n)
    throw input_error("--shard", "invalid shard", "'" + text + "'", "i/N with 0 <= i < N, e.g. 0/4");
  return {i, n};
}

std::string shard_output_path(const std::string& base, int index, int count) {
  const std::string suffix = fmt::format(".shard{}of{}", index, count);
  const auto dot = base.rfind('.');
  const auto slash = base.rfind('/');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return base + suffix;
  return base.substr(0, dot) + suffix + base.substr(dot);
}

int run_main(const RunRequest& req, const EvaluatorFactory& make_evaluator) {
  if (const auto problem = worker_timeout_problem(req.worker_timeout_s); !problem.empty())
    throw InputError(problem);
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    int provided = 0;
    // FUNNELED: rank 0 evaluates on a second thread, but every MPI call stays on this one.
    if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
      throw InternalError("MPI_Init_thread failed");
    if (provided < MPI_THREAD_FUNNELED)
      throw InternalError(fmt::format("the MPI library provides thread level {} only; csweep run needs "
                                      "MPI_THREAD_FUNNELED (rank 0 evaluates on a second thread)",
                                      provided));
  }
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  spdlog::set_pattern(fmt::format("[%H:%M:%S.%e] [rank {}] [%^%l%$] %v", rank));
  install_stop_handlers();
  const std::string started = utc_now();
  const double t0 = wall_now();

  int code = kExitOk;
  // An output this run created and that holds no unit yet is removed when the run fails (a spec
  // error found only by the engine, e.g. a member that is not one token), so that the corrected
  // spec is not refused as "written for a different grid". A worker's error under mpirun ends
  // every rank at once (MPI_Abort) and cannot clean up; the spec checks at load catch what they
  // can before any output exists.
  std::unique_ptr<reducers::Ledger> ledger;
  std::string out;
  bool fresh_output = false;
  auto discard_fresh_output = [&] {
    if (rank != 0 || !fresh_output || !ledger || ledger->n_recorded() != 0) return;
    ledger.reset();
    std::error_code ec;
    std::filesystem::remove(out, ec);
    std::filesystem::remove(reducers::Ledger::journal_path(out), ec);
  };
  try {
    JobSpec job = load_job_spec(req.job_path);
    if (!req.device.empty()) {
      job.compute.device = vocab::parse_device_request(req.device, "--device");
      job.compute.device_where = "--device";
    }
    std::vector<model::ModelConfig> configs;
    for (const auto& m : job.models) configs.push_back(model_config(m));
    const Grid grid(job, configs);
    auto [shard_index, shard_count] = req.shard.empty() ? std::pair<int, int>{0, 1} : parse_shard(req.shard);
    out = req.output.empty() ? job.output.path : req.output;
    if (req.output.empty() && shard_count > 1) out = shard_output_path(out, shard_index, shard_count);
    const auto [first, last] = grid.shard_range(shard_index, shard_count);

    ScheduleOptions opt;
    opt.first_unit = first;
    opt.last_unit = last;
    opt.worker_timeout_s = req.worker_timeout_s;
    opt.progress_interval_s = req.progress_interval_s;
    opt.stop_grace_s = req.stop_grace_s;
    opt.max_chunk = req.max_chunk;

    ModelHashes hashes;
    if (rank == 0) {
      std::error_code ec;
      fresh_output = !std::filesystem::exists(out, ec) &&
                     !std::filesystem::exists(reducers::Ledger::journal_path(out), ec);
      reducers::FileMeta meta = grid.file_meta();
      meta.shard_index = shard_index;
      meta.shard_count = shard_count;
      hashes = hash_models(job);
      meta = with_provenance(meta, reducers::FileMeta{}, job, hashes, started, size, 0, nullptr);
      ledger = std::make_unique<reducers::Ledger>(out, meta);
      std::fprintf(stderr,
                   "csweep: %s: %llu interventions in %llu units (%llu experiments x %zu families); "
                   "shard %d/%d = units [%llu, %llu); %llu already done%s; %d rank(s)\n",
                   out.c_str(), static_cast<unsigned long long>(grid.total_interventions()),
                   static_cast<unsigned long long>(grid.total_units()),
                   static_cast<unsigned long long>(grid.n_experiments()), job.families.size(),
                   shard_index, shard_count, static_cast<unsigned long long>(first),
                   static_cast<unsigned long long>(last),
                   static_cast<unsigned long long>(ledger->n_done()),
                   ledger->n_replayed() ? fmt::format(" ({} from the journal)", ledger->n_replayed()).c_str() : "",
                   size);
    }
    // Every rank evaluates (rank 0 on a thread beside its coordinator).
    const std::unique_ptr<UnitEvaluator> evaluator = make_evaluator(job, rank, size);
    const std::vector<std::string> placements = gather_strings(evaluator->placement(), rank, size);
    if (rank == 0) {
      for (int r = 0; r < size; ++r)
        if (!placements[static_cast<size_t>(r)].empty())
          std::fprintf(stderr, "csweep: rank %d computes on %s\n", r, placements[static_cast<size_t>(r)].c_str());
    }

    const ScheduleStats st = run_schedule(grid, ledger.get(), evaluator.get(), opt, MPI_COMM_WORLD);
    if (rank == 0) {
      const double wall = wall_now() - t0;
      auto meta = with_provenance(grid.file_meta(), ledger->stored_meta(), job, hashes, started,
                                  size, wall, &st, placements);
      meta.shard_index = shard_index;
      meta.shard_count = shard_count;
      ledger->finish(meta);
      // The writer derives "complete" from the compacted ledger; report exactly what the file says.
      const bool complete = ledger->stored_meta().int_attrs.at("complete") == 1;
      std::fprintf(stderr, "csweep: %s: %llu/%llu units done (%llu this run, %llu re-issued) in %.1f s%s\n",
                   out.c_str(), static_cast<unsigned long long>(ledger->n_done()),
                   static_cast<unsigned long long>(last - first),
                   static_cast<unsigned long long>(st.units_done_now),
                   static_cast<unsigned long long>(st.units_reissued), wall,
                   complete ? "" : "; interrupted: rerun the same command to resume");
      if (complete && shard_count == 1) {
        // Rank 0's evaluator is idle now (the schedule is over): score every pruning circuit on
        // the other tasks and run the circuit stages (derived_tables.hpp). A sharded grid gets
        // them when the shards are merged.
        const auto d = add_derived_tables(out, grid, *evaluator, {});
        if (d.cross_task)
          std::fprintf(stderr, "csweep: %s: %zu cross-task scores in %.1f s (/cross_task)\n", out.c_str(),
                       d.cross_task_rows, d.cross_task_s);
        if (d.stages)
          std::fprintf(stderr, "csweep: %s: %zu edge circuits and faithfulness curves in %.1f s "
                       "(/edge_circuits, /edges, /faithfulness_curves, /faithfulness)\n",
                       out.c_str(), d.stage_rows, d.stages_s);
      }
      if (complete && req.summary) print_summary(out);
      if (st.workers_lost > 0) {
        // A rank that never answered again may hang MPI_Finalize; the output is complete and
        // durable, so end the job here.
        std::fprintf(stderr, "csweep: %llu worker rank(s) lost; ending the MPI job\n",
                     static_cast<unsigned long long>(st.workers_lost));
        std::fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, st.interrupted ? kExitInterrupted : kExitOk);
      }
    }
    code = st.interrupted ? kExitInterrupted : kExitOk;
  } catch (const InputError& e) {
    discard_fresh_output();
    if (size > 1) abort_all(rank, "error", e.what(), kExitInput);
    MPI_Finalize();
    throw;
  } catch (const IoError& e) {
    if (size > 1) abort_all(rank, "I/O error", e.what(), kExitIo);
    MPI_Finalize();
    throw;
  } catch (const std::exception& e) {
    discard_fresh_output();
    if (size > 1) abort_all(rank, "internal error", e.what(), kExitInternal);
    MPI_Finalize();
    throw;
  }
  MPI_Finalize();
  return code;
}

void merge_main(const std::string& out, const std::vector<std::string>& shards) {
  const double t0 = wall_now();
  reducers::FileMeta attrs;
  attrs.text_attrs["command_line"] = command_line();
  attrs.text_attrs["end_time"] = utc_now();
  attrs.text_attrs["merged_from"] = nlohmann::json(shards).dump();
  attrs.text_attrs["csweep_version"] = kVersion;
  attrs.text_attrs["csweep_git_revision"] = kGitRevision;
  const auto summary = reducers::merge_shards(out, shards, attrs);
  std::fprintf(stderr, "csweep: merged %zu shard(s) into %s: %llu units, %llu rows in %.1f s\n",
               shards.size(), out.c_str(), static_cast<unsigned long long>(summary.total_units),
               static_cast<unsigned long long>(summary.rows), wall_now() - t0);
}

}  // namespace csweep::pipeline
