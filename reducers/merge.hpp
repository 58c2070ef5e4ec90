#pragma once
// Shard merge (torch-free): N shard files of one grid -> one results file.
#include <cstdint>
#include <string>
#include <vector>

#include "reducers/layout.hpp"
#include "reducers/writer.hpp"

namespace csweep::reducers {

struct MergeSummary {
  std::uint64_t total_units = 0;
  std::uint64_t rows = 0;
};

// Checks that `out` is none of the shards (by path or by inode), that the shards belong to one
// grid (same fingerprint, unit count and unit layout), have no pending journal, hold exactly
// the rows of their ledgers (read_results), and together hold every unit exactly once; an
// InputError lists the missing units (as ranges) and the duplicated ones with the shards that
// hold them. Then writes `out` atomically with the shards' rows sorted canonically (IoError and
// `out` unchanged when that write fails); provenance comes from the first shard plus the
// `merge_attrs` given (they overwrite same-named attributes).
MergeSummary merge_shards(const std::string& out, const std::vector<std::string>& shards,
                          const FileMeta& merge_attrs);

}  // namespace csweep::reducers
