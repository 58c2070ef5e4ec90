#include "pipeline/slurm/run_record.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>

#include "core/error.hpp"
#include "core/files.hpp"

namespace csweep::slurm {
namespace {

using nlohmann::json;

json to_json(const SubmittedJob& j) {
  json o{{"job_id", j.job_id}, {"sbatch", j.sbatch}};
  if (j.base >= 0) {
    o["base"] = j.base;
    o["shards"] = j.shards;
  }
  return o;
}

SubmittedJob job_from(const json& o) {
  SubmittedJob j;
  j.job_id = o.at("job_id").get<std::string>();
  j.sbatch = o.at("sbatch").get<std::vector<std::string>>();
  j.base = o.value("base", -1);
  if (o.contains("shards")) j.shards = o.at("shards").get<std::vector<int>>();
  return j;
}

}  // namespace

std::string run_record_path(const std::string& run_dir) { return run_dir + "/run.json"; }
std::string shard_file_path(const std::string& run_dir, int shard, int shards) {
  return run_dir + "/shards/shard-" + std::to_string(shard) + "-of-" + std::to_string(shards) + ".h5";
}
std::string shard_log_path(const std::string& run_dir, int shard) {
  return run_dir + "/logs/shard-" + std::to_string(shard) + ".log";
}
std::string results_path(const std::string& run_dir) { return run_dir + "/results.h5"; }

void write_run_record(const std::string& run_dir, const RunRecord& r) {
  const ScriptParams& p = r.script;
  json attempts = json::array();
  for (const auto& a : r.attempts) {
    json arrays = json::array();
    for (const auto& j : a.arrays) arrays.push_back(to_json(j));
    attempts.push_back({{"kind", a.kind}, {"time", a.time}, {"arrays", arrays}, {"merge", to_json(a.merge)}});
  }
  const json doc{
      {"format", kRunRecordFormat},
      {"job_spec", "job.toml"},
      {"job_spec_source", r.job_spec_source},
      {"job_spec_sha256", r.job_spec_sha256},
      {"job_name", r.job_name},
      {"shards", p.shards},
      {"total_units", r.total_units},
      {"max_array_size", r.max_array_size},
      {"max_concurrent", r.max_concurrent},
      {"sbatch_options", r.sbatch_options},
      {"csweep", p.csweep_bin},
      {"workdir", p.workdir},
      {"resources",
       {{"ranks_per_shard", p.ranks_per_shard},
        {"gpus_per_rank", p.gpus_per_rank},
        {"cpus_per_rank", p.cpus_per_rank},
        {"partition", p.partition},
        {"account", p.account},
        {"time", p.time_limit},
        {"merge_time", p.merge_time_limit},
        {"signal_lead_seconds", p.signal_lead_s}}},
      {"attempts", attempts}};
  write_file_atomic(run_record_path(run_dir), doc.dump(2) + "\n");
}

RunRecord read_run_record(const std::string& run_dir) {
  const std::string path = run_record_path(run_dir);
  if (!std::filesystem::exists(path))
    throw input_error(path, "not a csweep run directory: run.json is missing", "",
                      "a directory written by `csweep submit`");
  json doc;
  try {
    doc = json::parse(read_file_text(path));
  } catch (const json::exception& e) {
    throw input_error(path, "not valid JSON", e.what(), "run.json as written by csweep submit");
  }
  RunRecord r;
  std::string key;
  try {
    key = "format";
    if (doc.at(key).get<int>() != kRunRecordFormat)
      throw input_error(path + ": format", "unsupported run.json format", doc.at(key).dump(),
                        std::to_string(kRunRecordFormat));
    key = "job_spec_source"; r.job_spec_source = doc.at(key).get<std::string>();
    key = "job_spec_sha256"; r.job_spec_sha256 = doc.at(key).get<std::string>();
    key = "job_name"; r.job_name = doc.at(key).get<std::string>();
    key = "total_units"; r.total_units = doc.at(key).get<std::uint64_t>();
    key = "max_array_size"; r.max_array_size = doc.at(key).get<std::int64_t>();
    key = "max_concurrent"; r.max_concurrent = doc.at(key).get<int>();
    key = "sbatch_options"; r.sbatch_options = doc.at(key).get<std::vector<std::string>>();
    ScriptParams& p = r.script;
    p.job_name = r.job_name;
    p.run_dir = run_dir;
    key = "shards"; p.shards = doc.at(key).get<int>();
    key = "csweep"; p.csweep_bin = doc.at(key).get<std::string>();
    key = "workdir"; p.workdir = doc.at(key).get<std::string>();
    p.spec_sha256 = r.job_spec_sha256;
    key = "resources";
    const json& res = doc.at(key);
    p.ranks_per_shard = res.at("ranks_per_shard").get<int>();
    p.gpus_per_rank = res.at("gpus_per_rank").get<int>();
    p.cpus_per_rank = res.at("cpus_per_rank").get<int>();
    p.partition = res.at("partition").get<std::string>();
    p.account = res.at("account").get<std::string>();
    p.time_limit = res.at("time").get<std::string>();
    p.merge_time_limit = res.at("merge_time").get<std::string>();
    p.signal_lead_s = res.at("signal_lead_seconds").get<int>();
    key = "attempts";
    for (const json& a : doc.at(key)) {
      Attempt at;
      at.kind = a.at("kind").get<std::string>();
      at.time = a.at("time").get<std::string>();
      for (const json& j : a.at("arrays")) at.arrays.push_back(job_from(j));
      at.merge = job_from(a.at("merge"));
      r.attempts.push_back(std::move(at));
    }
  } catch (const json::exception& e) {
    throw input_error(path + ": " + key, "missing or malformed", e.what(), "run.json as written by csweep submit");
  }
  if (r.script.shards < 1)
    throw input_error(path + ": shards", "invalid shard count", std::to_string(r.script.shards), ">= 1");
  return r;
}

const SubmittedJob* latest_array_of(const RunRecord& r, int shard) {
  for (auto a = r.attempts.rbegin(); a != r.attempts.rend(); ++a)
    for (const auto& j : a->arrays)
      for (int s : j.shards)
        if (s == shard) return &j;
  return nullptr;
}

}  // namespace csweep::slurm
