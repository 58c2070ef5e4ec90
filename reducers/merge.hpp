#pragma once
// Shard merge (torch-free): N shard files of one grid -> one results file.
#include <cstdint>
#include <string>
#include <vector>

#include "reducers/writer.hpp"

namespace csweep::reducers {

struct MergeSummary {
  std::uint64_t total_units = 0;
  std::uint64_t rows = 0;
};

// Checks that the shards belong to one grid (same fingerprint and unit count), have no pending
// journal, and together hold every unit exactly once; an InputError lists the missing units (as
// ranges) and the duplicated ones with the shards that hold them. Then writes `out` atomically
// with the shards' rows sorted canonically; provenance comes from the first shard plus the
// `merge_attrs` given (they overwrite same-named attributes).
MergeSummary merge_shards(const std::string& out, const std::vector<std::string>& shards,
                          const FileMeta& merge_attrs);

// "0-4, 7, 9-12" — compact listing of sorted unit ids for error messages (at most `max_ranges`
// ranges, then "... (N more)").
std::string format_ranges(const std::vector<std::uint64_t>& sorted_units, std::size_t max_ranges = 20);

}  // namespace csweep::reducers
