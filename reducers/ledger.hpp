#pragma once
// Crash-safe incremental results: an HDF5 file plus an fsync'd append-only journal (torch-free).
//
// Design (docs/SWEEPS.md, "Resume"): the HDF5 file `path` is only ever replaced whole (written to
// "<path>.tmp", fsync'd, renamed over). Finished units are appended to "<path>.journal" as
// length-prefixed, CRC-checked records; a unit counts as done once sync() has fsync'd its record.
// The journal starts with a header frame naming its grid (fingerprint, unit count, shard) and
// every record carries its grid fingerprint and unit id: a journal or a record of another grid
// is refused (InputError naming the journal and both fingerprints), never replayed, and every
// replayed record must hold exactly its unit's rows (layout.hpp verify_record).
// compact() folds the journal into a fresh HDF5 file and then empties the journal. A crash at any
// moment leaves (a) the old or the new HDF5 file, never a torn one, and (b) a journal whose
// complete records are all valid — a torn last record fails its CRC and is cut off on reopen.
// Units present both in the file's ledger and in the journal (crash between rename and journal
// truncation) are counted once. One process writes an output at a time: the journal is flock'd.
#include <cstdint>
#include <string>
#include <vector>

#include "reducers/writer.hpp"

namespace csweep::reducers {

class Ledger {
 public:
  // Opens `path` for writing. A missing file is created with `meta` and empty tables. An existing
  // one must have the same grid fingerprint, unit layout and shard (InputError naming both
  // otherwise) and hold exactly its ledger's rows; its provenance attributes are kept (see
  // stored_meta()). The journal must belong to the same grid; it is replayed and its torn or
  // corrupt tail, if any, truncated with a warning (warnings()).
  Ledger(std::string path, const FileMeta& meta);
  ~Ledger();
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  bool is_done(std::uint64_t unit) const { return unit < done_.size() && done_[unit]; }
  // Done, or appended and waiting for the next sync().
  bool is_recorded(std::uint64_t unit) const {
    return is_done(unit) || (unit < pending_mask_.size() && pending_mask_[unit]);
  }
  std::uint64_t n_recorded() const { return n_done_ + pending_.size(); }
  std::uint64_t n_done() const { return n_done_; }
  std::uint64_t total_units() const { return done_.size(); }
  const FileMeta& stored_meta() const { return stored_; }
  std::uint64_t n_replayed() const { return n_replayed_; }      // units found in the journal
  std::uint64_t n_torn_bytes() const { return n_torn_bytes_; }  // cut off the journal on open
  // What opening the output found worth telling the user (also logged as warnings).
  const std::vector<std::string>& warnings() const { return warnings_; }

  // Appends a finished unit to the journal. Returns false (and writes nothing) when the unit is
  // already done or pending — the first result of a unit wins, re-issued duplicates are dropped.
  bool append(const UnitRecord& record);
  // fsyncs the journal: every appended unit becomes done.
  void sync();
  // Folds the journal into a fresh HDF5 file carrying `meta`'s provenance attributes, renames it
  // over `path`, then empties the journal. Implies sync().
  void compact(const FileMeta& meta);
  // compact() and remove the (empty) journal: the output is one self-contained HDF5 file.
  // When this session added nothing (no journal units replayed, none appended: a rerun on a
  // complete output) the file is left untouched, byte for byte.
  void finish(const FileMeta& meta);
  // True when finish() would rewrite the file.
  bool has_new_units() const { return n_replayed_ > 0 || appended_; }

  static std::string journal_path(const std::string& path) { return path + ".journal"; }

 private:
  // Refuses a journal of another grid; true when the journal is empty and needs a header.
  bool check_journal_header(bool output_exists);
  void write_journal_header();
  void replay_journal();
  void warn(const std::string& text);

  std::string path_;
  FileMeta stored_;
  int journal_fd_ = -1;
  std::vector<bool> done_;
  std::vector<std::uint64_t> pending_;
  std::vector<bool> pending_mask_;
  std::uint64_t n_done_ = 0, n_replayed_ = 0, n_torn_bytes_ = 0;
  std::uint64_t header_bytes_ = 0;  // size of the journal's header frame
  bool appended_ = false;
  std::vector<std::string> warnings_;
};

// The journal's header: the grid its records belong to.
struct JournalHeader {
  std::string grid_fingerprint;
  std::uint64_t total_units = 0;
  std::int32_t shard_index = 0, shard_count = 1;
};

// What read_journal found.
struct JournalScan {
  bool has_header = false;        // a valid header frame at byte 0
  JournalHeader header;
  std::uint64_t good_bytes = 0;   // header + records up to the first torn or corrupt byte
  std::uint64_t file_bytes = 0;
  std::string bad_reason;         // why reading stopped before file_bytes ("" at a clean end)
  std::uint64_t records_after_bad = 0;  // CRC-valid records found after the bad spot (lost)
  std::vector<std::uint64_t> record_offsets;  // byte offset of each returned record
};

// Reads the header and every complete record of a journal file (for compaction and tests); stops
// at the first torn or corrupt record and describes it in *scan.
std::vector<UnitRecord> read_journal(const std::string& journal_path, JournalScan* scan = nullptr);

}  // namespace csweep::reducers
