#pragma once
// Whole-file HDF5 writer and reader for the layout of reducers/schema.hpp (torch-free).
//
// Files are never modified in place: write_results() writes "<path>.tmp", fsyncs it, renames it
// over <path> and fsyncs the directory, so a reader (or a crash) only ever sees the old or the new
// complete file. The ledger (reducers/ledger.hpp) builds crash-safe incremental runs on top.
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "reducers/layout.hpp"
#include "reducers/schema.hpp"

namespace csweep::reducers {

struct FamilyMeta {
  std::string name;                          // group name under /tables
  std::string kind;                          // "combinations", "subsets", "positions", "paths"
  std::string spec_json;                     // the family's resolved definition
  std::vector<std::string> position_labels;  // what "position" indexes
  std::int32_t max_components = 1;           // width of the component_* columns
};

struct FileMeta {
  // Name lists the experiment index columns point into.
  std::vector<std::string> model_names, task_names, corruption_names, ablation_names;
  std::vector<std::string> metric_sets;  // one JSON list of metric names per set
  std::vector<std::int64_t> seeds;
  std::vector<FamilyMeta> families;
  // Grid identity: a resumed or merged file must match it exactly.
  std::uint64_t total_units = 0;
  std::string grid_fingerprint;
  std::int32_t shard_index = 0, shard_count = 1;
  UnitLayout layout;  // which rows each unit holds (layout.hpp); total_units() == total_units
  // Provenance (schema.hpp kProvenanceAttributes): strings, integers, reals.
  std::map<std::string, std::string> text_attrs;
  std::map<std::string, std::int64_t> int_attrs;
  std::map<std::string, double> real_attrs;
};

struct Results {
  FileMeta meta;
  std::vector<BaselineRow> baselines;
  std::vector<std::vector<Row>> tables;  // one per meta.families, same order
  std::vector<std::uint64_t> ledger;     // finished unit ids
  // Pruning families (schema.hpp kCircuitColumns ...): written when a family is of kind pruning.
  std::vector<CircuitRow> circuits;
  std::vector<StepRow> steps;
  std::vector<CrossTaskRow> cross_task;  // derived once complete (csweep cross-task)
  // Circuit stages (schema.hpp kEdgeCircuitColumns ...), derived once complete
  // (pipeline/circuit_stages.hpp). `stages_json`: the stages' canonical definitions (JSON list).
  std::string stages_json;
  std::vector<EdgeCircuitRow> edge_circuits;
  std::vector<EdgeRow> edges;
  std::vector<CurveRow> curves;
  std::vector<CurvePointRow> curve_points;
};

// Units [T*i/N, T*(i+1)/N) of shard i of N of a grid of T units (the one definition of a shard).
std::pair<std::uint64_t, std::uint64_t> shard_unit_range(std::uint64_t total_units, int index,
                                                         int count);

// Units of the file's shard (shard_unit_range of its meta) that its ledger holds, and how many
// the shard has.
std::pair<std::uint64_t, std::uint64_t> shard_coverage(const Results& results);

// Sorts every table canonically and writes `path` atomically (tmp + fsync + rename + dir fsync).
// Sets the root attribute "complete" (int 0/1, also into results.meta.int_attrs) from the ledger:
// 1 only when every unit of the file's shard is in it, whatever the caller's attributes say.
// A write that fails (disk full, quota, file size limit) throws IoError, removes "<path>.tmp"
// and leaves `path` as it was.
void write_results(const std::string& path, Results& results);

// Reads a file written by write_results. Throws InputError naming the path and the object when
// the file is not a csweep results file of a supported format version, when a checksum fails,
// or when its tables do not hold exactly the rows of its ledger's units (verify_contents).
Results read_results(const std::string& path);

// Reads only the metadata and the ledger (no table rows): cheap checks before a resume or merge
// (the ledger is checked against the layout; the rows are not read).
Results read_results_meta(const std::string& path);

}  // namespace csweep::reducers
