#pragma once
// Which rows each work unit holds, and the checks that a results file, a journal record or a
// merge holds exactly the rows of its ledger's units (torch-free).
//
// The grid (pipeline/grid.hpp) is a list of segments, one per (experiment, family): a segment's
// `size` interventions are cut into ceil(size / unit_size) consecutive units (unit_size: the
// segment's own, see Segment), unit
// first_unit + j holding interventions [j * unit_size, min(size, (j + 1) * unit_size)). The
// segments are stored in every results file (/ledger/segment_*), so a file can be checked
// against its own ledger without the job spec — by `csweep merge`, which has none — and a
// resume additionally compares them with the grid of its spec.
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "reducers/schema.hpp"

namespace csweep::reducers {

struct Segment {
  ExperimentIndex exp;
  std::int32_t family = 0;
  std::uint64_t first_unit = 0, n_units = 0, size = 0;
  // Interventions per unit of this segment; 0 = the layout's unit_size. Pruning families cut a
  // segment into runs (one unit = the circuits of one run) whatever batching.unit_size says.
  std::uint64_t unit_size = 0;
  bool operator==(const Segment& o) const {
    return exp == o.exp && family == o.family && first_unit == o.first_unit &&
           n_units == o.n_units && size == o.size && unit_size == o.unit_size;
  }
};

// What one unit must hold: the rows of family `family` in experiment `exp` with intervention
// indices [begin, end), and that experiment's baseline.
struct UnitSpan {
  ExperimentIndex exp;
  std::int32_t family = 0;
  std::uint64_t begin = 0, end = 0;
};

class UnitLayout {
 public:
  UnitLayout() = default;
  // Segments in unit order, contiguous from unit 0 (checked: InternalError otherwise). A segment
  // with unit_size 0 gets `unit_size` (the job's batching.unit_size).
  UnitLayout(std::uint64_t unit_size, std::vector<Segment> segments);

  std::uint64_t unit_size() const { return unit_size_; }
  const std::vector<Segment>& segments() const { return segments_; }
  std::uint64_t total_units() const;
  bool empty() const { return segments_.empty(); }
  bool operator==(const UnitLayout& o) const {
    return unit_size_ == o.unit_size_ && segments_ == o.segments_;
  }
  bool operator!=(const UnitLayout& o) const { return !(*this == o); }

  UnitSpan unit(std::uint64_t id) const;  // requires id < total_units()
  // The unit holding intervention `index` of `family` in `exp`; false when the grid has no
  // such row.
  bool unit_of(const ExperimentIndex& exp, std::int32_t family, std::uint64_t index,
               std::uint64_t* unit) const;

 private:
  std::uint64_t unit_size_ = 0;
  std::vector<Segment> segments_;
  std::map<std::pair<ExperimentIndex, std::int32_t>, std::size_t> by_key_;
};

// "model 0, seed 0, task 1, corruption 0, ablation 0, metric_set 0" (indices, for messages).
std::string describe(const ExperimentIndex& e);

// Checks a unit record (from the journal or a worker) against the grid: its grid fingerprint,
// unit id, family, experiment, and that its rows are exactly the unit's interventions, once
// each, in order. Throws InputError starting with `where` (e.g. "out.h5.journal, record 3 at
// byte 1234") naming the unit and what differs.
void verify_record(const UnitRecord& rec, const std::string& grid_fingerprint,
                   const UnitLayout& layout, const std::string& where);

// The tables of a file as the ledger sees them: one (family, rows) entry per intervention table.
struct TableView {
  std::string name;
  std::int32_t family = 0;
  const std::vector<Row>* rows = nullptr;
};

// Checks that the rows present are exactly those of the ledger's units: every row belongs to a
// unit of the layout that the ledger lists, every listed unit has as many rows as the grid gives
// it, no (experiment, intervention) key appears twice in a table, and /baselines holds one row
// for each experiment of the listed units and no other. Also checks the ledger itself (ids in
// the grid, no duplicates). Throws InputError naming `path`, the units (as ranges) and counts.
void verify_contents(const std::string& path, const UnitLayout& layout,
                     const std::vector<std::uint64_t>& ledger, const std::vector<TableView>& tables,
                     const std::vector<BaselineRow>& baselines);

// Ledger ids only (no rows): in the grid, no duplicates.
void verify_ledger(const std::string& path, const UnitLayout& layout,
                   const std::vector<std::uint64_t>& ledger);

// "0-4, 7, 9-12" — compact listing of sorted unit ids for error messages (at most `max_ranges`
// ranges, then "... (N more ranges)").
std::string format_ranges(const std::vector<std::uint64_t>& sorted_units,
                          std::size_t max_ranges = 20);

}  // namespace csweep::reducers
