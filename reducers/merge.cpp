#include "reducers/merge.hpp"

#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <set>

#include "core/error.hpp"
#include "reducers/ledger.hpp"

namespace csweep::reducers {

namespace {

// True when `a` and `b` name the same file (same device and inode), or the same path once
// symbolic links and "." / ".." are resolved, e.g. "m.h5" and "./dir/../m.h5".
bool same_file(const std::string& a, const std::string& b) {
  struct stat sa, sb;
  if (::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0)
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
  std::error_code ec1, ec2;
  const auto ca = std::filesystem::weakly_canonical(a, ec1);
  const auto cb = std::filesystem::weakly_canonical(b, ec2);
  return !ec1 && !ec2 && ca == cb;
}

}  // namespace

MergeSummary merge_shards(const std::string& out, const std::vector<std::string>& shards,
                          const FileMeta& merge_attrs) {
  CSWEEP_CHECK_INPUT(!shards.empty(), "csweep merge: no shard files given (expected at least one)");
  for (const auto& s : shards)
    if (same_file(out, s))
      throw input_error(out, "the merge output is also one of its inputs (" + s + ")", "",
                        "a new file name for OUT: merging into an input would overwrite that shard");
  // Cheap pass first: metadata and ledgers only, so a bad set of shards fails in seconds.
  std::vector<Results> metas;
  for (const auto& s : shards) {
    struct stat st;
    if (::stat(Ledger::journal_path(s).c_str(), &st) == 0 && st.st_size > 0)
      throw input_error(s, "has an unfinished journal (" + Ledger::journal_path(s) + ")", "",
                        "a finished shard: rerun `csweep run` with this --output to complete it");
    metas.push_back(read_results_meta(s));
  }
  const FileMeta& first = metas.front().meta;
  for (std::size_t i = 1; i < metas.size(); ++i) {
    const FileMeta& m = metas[i].meta;
    if (m.grid_fingerprint != first.grid_fingerprint || m.total_units != first.total_units)
      throw input_error(shards[i], "belongs to a different grid than " + shards[0],
                        "fingerprint " + m.grid_fingerprint,
                        "fingerprint " + first.grid_fingerprint);
    if (m.layout != first.layout)
      throw input_error(shards[i], "has another unit layout (/ledger/segments) than " + shards[0] +
                                       " although both carry grid fingerprint " +
                                       first.grid_fingerprint + "; one of them was modified");
  }
  std::vector<std::int32_t> owner(first.total_units, -1);
  std::map<std::uint64_t, std::set<std::size_t>> dups;
  for (std::size_t i = 0; i < metas.size(); ++i) {
    for (auto u : metas[i].ledger) {
      CSWEEP_CHECK_INPUT(u < first.total_units, "{}: ledger holds unit {} of a {}-unit grid",
                         shards[i], u, first.total_units);
      if (owner[u] >= 0) {
        dups[u].insert(static_cast<std::size_t>(owner[u]));
        dups[u].insert(i);
      } else {
        owner[u] = static_cast<std::int32_t>(i);
      }
    }
  }
  std::vector<std::uint64_t> missing;
  for (std::uint64_t u = 0; u < first.total_units; ++u)
    if (owner[u] < 0) missing.push_back(u);
  if (!missing.empty() || !dups.empty()) {
    // A shard whose rows do not match its own ledger (edited, damaged) explains a coverage
    // failure better than the coverage does: check the contents first (read_results throws).
    for (const auto& sh : shards) read_results(sh);
    std::string msg = "the shards do not cover the grid of " + std::to_string(first.total_units) +
                      " units exactly once:";
    if (!missing.empty())
      msg += "\n  missing " + std::to_string(missing.size()) + " units: " + format_ranges(missing);
    if (!dups.empty()) {
      msg += "\n  duplicated " + std::to_string(dups.size()) + " units:";
      std::size_t shown = 0;
      for (const auto& [u, files] : dups) {
        if (++shown > 20) {
          msg += "\n    ...";
          break;
        }
        msg += "\n    unit " + std::to_string(u) + " in";
        for (auto f : files) msg += " " + shards[f];
      }
    }
    throw InputError("csweep merge: " + msg);
  }

  Results merged;
  merged.meta = first;
  merged.meta.shard_index = 0;
  merged.meta.shard_count = 1;
  for (const auto& [k, v] : merge_attrs.text_attrs) merged.meta.text_attrs[k] = v;
  for (const auto& [k, v] : merge_attrs.int_attrs) merged.meta.int_attrs[k] = v;
  for (const auto& [k, v] : merge_attrs.real_attrs) merged.meta.real_attrs[k] = v;
  merged.tables.resize(first.families.size());
  std::set<ExperimentIndex> baseline_exps;
  MergeSummary summary;
  summary.total_units = first.total_units;
  for (const auto& s : shards) {
    Results r = read_results(s);  // checks the shard's rows against its ledger
    CSWEEP_CHECK_INPUT(r.tables.size() == merged.tables.size(),
                       "{}: {} families, expected {}", s, r.tables.size(), merged.tables.size());
    for (std::size_t f = 0; f < r.tables.size(); ++f) {
      CSWEEP_CHECK_INPUT(r.meta.families[f].name == first.families[f].name,
                         "{}: family {} is named {}, expected {}", s, f, r.meta.families[f].name,
                         first.families[f].name);
      summary.rows += r.tables[f].size();
      auto& t = merged.tables[f];
      t.insert(t.end(), std::make_move_iterator(r.tables[f].begin()),
               std::make_move_iterator(r.tables[f].end()));
    }
    for (auto& b : r.baselines)
      if (baseline_exps.insert(b.exp).second) merged.baselines.push_back(b);
    merged.ledger.insert(merged.ledger.end(), r.ledger.begin(), r.ledger.end());
    merged.circuits.insert(merged.circuits.end(), r.circuits.begin(), r.circuits.end());
    merged.steps.insert(merged.steps.end(), r.steps.begin(), r.steps.end());
    // Cross-task rows are derived from the whole grid's circuits: a shard has none (and any it
    // had would be another grid's); `csweep cross-task` computes them on the merged file.
  }
  write_results(out, merged);
  // Coverage was checked above, so the writer must have found the grid whole.
  CSWEEP_ASSERT(merged.meta.int_attrs.at("complete") == 1, "merged file {} is not complete", out);
  return summary;
}

}  // namespace csweep::reducers
