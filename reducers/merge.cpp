#include "reducers/merge.hpp"

#include <sys/stat.h>

#include <map>
#include <set>

#include "core/error.hpp"
#include "reducers/ledger.hpp"

namespace csweep::reducers {

std::string format_ranges(const std::vector<std::uint64_t>& units, std::size_t max_ranges) {
  std::string out;
  std::size_t ranges = 0, i = 0;
  while (i < units.size()) {
    std::size_t j = i;
    while (j + 1 < units.size() && units[j + 1] == units[j] + 1) ++j;
    if (ranges == max_ranges) {
      std::size_t rest = 0;
      for (std::size_t k = i; k < units.size(); ++k) rest += (k == i || units[k] != units[k - 1] + 1);
      out += ", ... (" + std::to_string(rest) + " more ranges)";
      break;
    }
    if (!out.empty()) out += ", ";
    out += std::to_string(units[i]);
    if (j > i) out += "-" + std::to_string(units[j]);
    ++ranges;
    i = j + 1;
  }
  return out;
}

MergeSummary merge_shards(const std::string& out, const std::vector<std::string>& shards,
                          const FileMeta& merge_attrs) {
  CSWEEP_CHECK_INPUT(!shards.empty(), "csweep merge: no shard files given (expected at least one)");
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
    Results r = read_results(s);
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
  }
  write_results(out, merged);
  // Coverage was checked above, so the writer must have found the grid whole.
  CSWEEP_ASSERT(merged.meta.int_attrs.at("complete") == 1, "merged file {} is not complete", out);
  return summary;
}

}  // namespace csweep::reducers
