#include "reducers/layout.hpp"

#include <algorithm>
#include <set>
#include <tuple>

#include "core/error.hpp"

namespace csweep::reducers {

UnitLayout::UnitLayout(std::uint64_t unit_size, std::vector<Segment> segments)
    : unit_size_(unit_size), segments_(std::move(segments)) {
  std::uint64_t next = 0;
  for (std::size_t i = 0; i < segments_.size(); ++i) {
    Segment& s = segments_[i];
    if (s.unit_size == 0) s.unit_size = unit_size_;
    CSWEEP_ASSERT(s.unit_size > 0, "unit_size 0");
    CSWEEP_ASSERT(s.first_unit == next, "segment {} starts at unit {}, expected {}", i,
                  s.first_unit, next);
    CSWEEP_ASSERT(s.n_units == s.size / s.unit_size + (s.size % s.unit_size ? 1 : 0),
                  "segment {}: {} units for {} interventions of unit size {}", i, s.n_units,
                  s.size, s.unit_size);
    next += s.n_units;
    by_key_[{s.exp, s.family}] = i;
  }
}

std::uint64_t UnitLayout::total_units() const {
  return segments_.empty() ? 0 : segments_.back().first_unit + segments_.back().n_units;
}

UnitSpan UnitLayout::unit(std::uint64_t id) const {
  CSWEEP_ASSERT(id < total_units(), "unit {} >= {}", id, total_units());
  const auto it = std::upper_bound(segments_.begin(), segments_.end(), id,
                                   [](std::uint64_t v, const Segment& s) { return v < s.first_unit; });
  const Segment& s = *(it - 1);
  UnitSpan u;
  u.exp = s.exp;
  u.family = s.family;
  u.begin = (id - s.first_unit) * s.unit_size;
  u.end = std::min(s.size, u.begin + s.unit_size);
  return u;
}

bool UnitLayout::unit_of(const ExperimentIndex& exp, std::int32_t family, std::uint64_t index,
                         std::uint64_t* unit) const {
  const auto it = by_key_.find({exp, family});
  if (it == by_key_.end()) return false;
  const Segment& s = segments_[it->second];
  if (index >= s.size) return false;
  *unit = s.first_unit + index / s.unit_size;
  return true;
}

std::string describe(const ExperimentIndex& e) {
  return "model " + std::to_string(e.model) + ", seed " + std::to_string(e.seed) + ", task " +
         std::to_string(e.task) + ", corruption " + std::to_string(e.corruption) + ", ablation " +
         std::to_string(e.ablation) + ", metric_set " + std::to_string(e.metric_set);
}

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

void verify_record(const UnitRecord& rec, const std::string& grid_fingerprint,
                   const UnitLayout& layout, const std::string& where) {
  const std::string unit = "unit " + std::to_string(rec.unit);
  if (rec.grid_fingerprint != grid_fingerprint)
    throw input_error(where, unit + " was computed for another grid", "fingerprint '" +
                      rec.grid_fingerprint + "'", "fingerprint '" + grid_fingerprint + "'");
  if (rec.unit >= layout.total_units())
    throw input_error(where, unit + " is outside the grid",
                      std::to_string(rec.unit), "< " + std::to_string(layout.total_units()));
  const UnitSpan span = layout.unit(rec.unit);
  if (rec.family != span.family || !(rec.baseline.exp == span.exp))
    throw input_error(where, unit + " does not match the grid's unit",
                      "family " + std::to_string(rec.family) + ", " + describe(rec.baseline.exp),
                      "family " + std::to_string(span.family) + ", " + describe(span.exp));
  if (rec.rows.size() != span.end - span.begin)
    throw input_error(where, unit + " has the wrong number of rows",
                      std::to_string(rec.rows.size()),
                      std::to_string(span.end - span.begin) + " (interventions " +
                          std::to_string(span.begin) + "-" + std::to_string(span.end - 1) + ")");
  for (std::size_t i = 0; i < rec.rows.size(); ++i) {
    const Row& r = rec.rows[i];
    if (!(r.exp == span.exp) || r.intervention != span.begin + i)
      throw input_error(where, unit + ": row " + std::to_string(i) + " is not the unit's",
                        "intervention " + std::to_string(r.intervention) + ", " + describe(r.exp),
                        "intervention " + std::to_string(span.begin + i) + ", " + describe(span.exp));
  }
  // Pruning units: one circuit per row, for the same experiment, family and index; steps only of
  // those circuits. (Which families are pruning ones the layout does not know; the writer checks
  // that every pruning row has its circuit before a file is written.)
  if (!rec.circuits.empty() && rec.circuits.size() != rec.rows.size())
    throw input_error(where, unit + " has the wrong number of circuits",
                      std::to_string(rec.circuits.size()), std::to_string(rec.rows.size()) + " (one per row)");
  for (std::size_t i = 0; i < rec.circuits.size(); ++i) {
    const auto& c = rec.circuits[i];
    if (!(c.exp == span.exp) || c.family != span.family || c.circuit != span.begin + i)
      throw input_error(where, unit + ": circuit " + std::to_string(i) + " is not the unit's",
                        "circuit " + std::to_string(c.circuit) + ", " + describe(c.exp),
                        "circuit " + std::to_string(span.begin + i) + ", " + describe(span.exp));
  }
  for (const auto& st : rec.steps)
    if (rec.circuits.empty() || !(st.exp == span.exp) || st.family != span.family ||
        st.circuit < span.begin || st.circuit >= span.end)
      throw input_error(where, unit + ": a pruning step is not of the unit's circuits",
                        "circuit " + std::to_string(st.circuit) + ", " + describe(st.exp),
                        "circuits " + std::to_string(span.begin) + "-" + std::to_string(span.end - 1) +
                            " of " + describe(span.exp));
}

void verify_ledger(const std::string& path, const UnitLayout& layout,
                   const std::vector<std::uint64_t>& ledger) {
  std::vector<std::uint64_t> ids = ledger;
  std::sort(ids.begin(), ids.end());
  std::vector<std::uint64_t> dup, outside;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i > 0 && ids[i] == ids[i - 1] && (dup.empty() || dup.back() != ids[i])) dup.push_back(ids[i]);
    if (ids[i] >= layout.total_units()) outside.push_back(ids[i]);
  }
  if (!outside.empty())
    throw input_error(path, "/ledger/unit lists " + std::to_string(outside.size()) +
                                " unit(s) outside the grid: " + format_ranges(outside),
                      "", "ids < " + std::to_string(layout.total_units()));
  if (!dup.empty())
    throw input_error(path, "/ledger/unit lists " + std::to_string(dup.size()) +
                                " unit(s) more than once: " + format_ranges(dup));
}

void verify_contents(const std::string& path, const UnitLayout& layout,
                     const std::vector<std::uint64_t>& ledger, const std::vector<TableView>& tables,
                     const std::vector<BaselineRow>& baselines) {
  verify_ledger(path, layout, ledger);
  std::vector<std::uint64_t> units = ledger;
  std::sort(units.begin(), units.end());
  std::vector<std::uint64_t> count(units.size(), 0);
  const std::string advice =
      "; the file was modified or damaged after csweep wrote it: restore it, or rerun into a new "
      "--output";

  for (const auto& t : tables) {
    const std::string where = path + ": /tables/" + t.name;
    // Rows not in any unit of the grid, or in a unit the ledger does not list.
    std::map<std::uint64_t, std::uint64_t> unlisted;  // unit -> rows
    std::uint64_t off_grid = 0;
    std::string first_off_grid;
    std::vector<std::tuple<ExperimentIndex, std::uint64_t>> keys;
    keys.reserve(t.rows->size());
    for (const Row& r : *t.rows) {
      keys.emplace_back(r.exp, r.intervention);
      std::uint64_t u = 0;
      if (!layout.unit_of(r.exp, t.family, r.intervention, &u)) {
        if (off_grid++ == 0)
          first_off_grid = "intervention " + std::to_string(r.intervention) + " of " + describe(r.exp);
        continue;
      }
      const auto it = std::lower_bound(units.begin(), units.end(), u);
      if (it == units.end() || *it != u) {
        ++unlisted[u];
        continue;
      }
      ++count[static_cast<std::size_t>(it - units.begin())];
    }
    if (off_grid > 0)
      throw input_error(where, std::to_string(off_grid) + " row(s) are not part of the grid (first: " +
                                   first_off_grid + ")" + advice);
    if (!unlisted.empty()) {
      std::vector<std::uint64_t> ids;
      std::uint64_t rows = 0;
      for (const auto& [u, n] : unlisted) {
        ids.push_back(u);
        rows += n;
      }
      throw input_error(where, std::to_string(rows) + " row(s) belong to " +
                                   std::to_string(ids.size()) +
                                   " unit(s) that /ledger/unit does not list: " + format_ranges(ids) +
                                   advice);
    }
    std::sort(keys.begin(), keys.end());
    std::uint64_t dups = 0;
    std::string first_dup;
    for (std::size_t i = 1; i < keys.size(); ++i)
      if (keys[i] == keys[i - 1] && dups++ == 0)
        first_dup = "intervention " + std::to_string(std::get<1>(keys[i])) + " of " +
                    describe(std::get<0>(keys[i]));
    if (dups > 0)
      throw input_error(where, std::to_string(dups) + " duplicated row(s) (first: " + first_dup + ")" +
                                   advice);
  }

  // Every listed unit has exactly its rows. (Duplicates were refused above, so with the count
  // right every intervention of the unit is present once.)
  std::vector<std::uint64_t> wrong;
  std::string first_wrong;
  for (std::size_t i = 0; i < units.size(); ++i) {
    const UnitSpan s = layout.unit(units[i]);
    const std::uint64_t expected = s.end - s.begin;
    bool has_table = false;
    for (const auto& t : tables) has_table |= t.family == s.family;
    if (!has_table) continue;  // a reader that loaded only some tables
    if (count[i] != expected) {
      if (wrong.empty())
        first_wrong = "unit " + std::to_string(units[i]) + " has " + std::to_string(count[i]) +
                      " row(s), the grid gives it " + std::to_string(expected);
      wrong.push_back(units[i]);
    }
  }
  if (!wrong.empty())
    throw input_error(path, std::to_string(wrong.size()) +
                                " unit(s) listed in /ledger/unit do not have their rows (" +
                                first_wrong + "): " + format_ranges(wrong) + advice);

  // Baselines: one per experiment of the listed units, none for other experiments.
  std::set<ExperimentIndex> want;
  for (auto u : units) want.insert(layout.unit(u).exp);
  std::map<ExperimentIndex, int> have;
  for (const auto& b : baselines) ++have[b.exp];
  for (const auto& [e, n] : have) {
    if (n > 1)
      throw input_error(path, "/baselines holds " + std::to_string(n) + " rows for " + describe(e) +
                                  advice, "", "one per experiment");
    if (!want.count(e))
      throw input_error(path, "/baselines holds a row for " + describe(e) +
                                  ", which has no unit in /ledger/unit" + advice);
  }
  for (const auto& e : want)
    if (!have.count(e))
      throw input_error(path, "/baselines has no row for " + describe(e) +
                                  ", whose units /ledger/unit lists" + advice);
}

}  // namespace csweep::reducers
