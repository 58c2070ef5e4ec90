#include "reducers/ledger.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <set>

#include <spdlog/spdlog.h>

#include "core/error.hpp"
#include "core/files.hpp"

namespace csweep::reducers {
namespace {

constexpr std::uint32_t kJournalMagic = 0x324a5343;  // "CSJ2": a unit record
constexpr std::uint32_t kHeaderMagic = 0x484a5343;   // "CSJH": the header (first frame)
constexpr std::uint32_t kOldJournalMagic = 0x314a5343;  // "CSJ1": journals before headers
constexpr std::uint32_t kHeaderVersion = 1;
constexpr std::size_t kFrameHeader = 4 + 8 + 4;      // magic, payload length, crc32

std::uint32_t crc32(const void* data, std::size_t n) {
  static const auto table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  std::uint32_t c = 0xFFFFFFFFu;
  const auto* p = static_cast<const std::uint8_t*>(data);
  for (std::size_t i = 0; i < n; ++i) c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

bool file_exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

void write_all(int fd, const std::string& data, const std::string& path) {
  std::size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      throw io_error(path, "journal write failed", std::strerror(n == 0 ? EIO : errno));
    off += static_cast<std::size_t>(n);
  }
}

std::string frame(std::uint32_t magic, const std::string& payload) {
  std::string f(kFrameHeader, '\0');
  const std::uint64_t len = payload.size();
  const std::uint32_t crc = crc32(payload.data(), payload.size());
  std::memcpy(f.data(), &magic, 4);
  std::memcpy(f.data() + 4, &len, 8);
  std::memcpy(f.data() + 12, &crc, 4);
  return f + payload;
}

// One frame at `off`: its magic and payload, when complete and CRC-valid.
bool read_frame(const std::string& data, std::uint64_t off, std::uint32_t* magic,
                std::string* payload) {
  if (off + kFrameHeader > data.size()) return false;
  std::uint64_t len;
  std::uint32_t crc;
  std::memcpy(magic, data.data() + off, 4);
  std::memcpy(&len, data.data() + off + 4, 8);
  std::memcpy(&crc, data.data() + off + 12, 4);
  if (len > data.size() - off - kFrameHeader) return false;
  const char* p = data.data() + off + kFrameHeader;
  if (crc32(p, len) != crc) return false;
  payload->assign(p, len);
  return true;
}

std::string encode_header(const JournalHeader& h) {
  std::string p;
  auto put = [&](const void* v, std::size_t n) { p.append(static_cast<const char*>(v), n); };
  const std::uint32_t version = kHeaderVersion;
  const auto flen = static_cast<std::uint32_t>(h.grid_fingerprint.size());
  put(&version, 4);
  put(&flen, 4);
  p += h.grid_fingerprint;
  put(&h.total_units, 8);
  put(&h.shard_index, 4);
  put(&h.shard_count, 4);
  return p;
}

bool decode_header(const std::string& p, JournalHeader* h) {
  std::uint32_t version = 0, flen = 0;
  if (p.size() < 8) return false;
  std::memcpy(&version, p.data(), 4);
  std::memcpy(&flen, p.data() + 4, 4);
  if (version != kHeaderVersion || p.size() != 8 + std::size_t{flen} + 16) return false;
  h->grid_fingerprint.assign(p.data() + 8, flen);
  std::memcpy(&h->total_units, p.data() + 8 + flen, 8);
  std::memcpy(&h->shard_index, p.data() + 16 + flen, 4);
  std::memcpy(&h->shard_count, p.data() + 20 + flen, 4);
  return true;
}

JournalHeader header_of(const FileMeta& m) {
  return {m.grid_fingerprint, m.total_units, m.shard_index, m.shard_count};
}

std::string describe_grid(const JournalHeader& h) {
  return "fingerprint " + h.grid_fingerprint + ", " + std::to_string(h.total_units) +
         " units, shard " + std::to_string(h.shard_index) + "/" + std::to_string(h.shard_count);
}

}  // namespace

std::vector<UnitRecord> read_journal(const std::string& journal_path, JournalScan* scan) {
  JournalScan local;
  JournalScan& sc = scan ? *scan : local;
  sc = JournalScan{};
  std::vector<UnitRecord> out;
  if (!file_exists(journal_path)) return out;
  const std::string data = read_file_text(journal_path);
  sc.file_bytes = data.size();
  std::uint64_t off = 0;
  std::uint32_t magic = 0;
  std::string payload;
  if (read_frame(data, 0, &magic, &payload) && magic == kHeaderMagic &&
      decode_header(payload, &sc.header)) {
    sc.has_header = true;
    off = kFrameHeader + payload.size();
  } else {
    return out;  // no header: the caller decides (empty, torn header, or a foreign file)
  }
  while (off < data.size()) {
    if (!read_frame(data, off, &magic, &payload)) {
      sc.bad_reason = off + kFrameHeader > data.size() ? "a record header cut short"
                                                       : "a record that is cut short or fails its CRC";
      break;
    }
    if (magic != kJournalMagic) {
      sc.bad_reason = "a frame that is not a unit record";
      break;
    }
    try {
      out.push_back(deserialize(payload));
    } catch (const InternalError&) {
      sc.bad_reason = "a CRC-valid record that does not decode";
      break;
    }
    sc.record_offsets.push_back(off);
    off += kFrameHeader + payload.size();
  }
  sc.good_bytes = off;
  if (!sc.bad_reason.empty()) {
    // How much is lost with the tail: CRC-valid records beyond the bad spot (found by trying
    // every byte offset; the journal is at most a few compaction intervals long).
    for (std::uint64_t o = off + 1; o + kFrameHeader <= data.size(); ++o) {
      std::uint32_t m2;
      if (std::memcmp(data.data() + o, &kJournalMagic, 4) != 0) continue;
      if (read_frame(data, o, &m2, &payload)) {
        ++sc.records_after_bad;
        o += kFrameHeader + payload.size() - 1;
      }
    }
  }
  return out;
}

Ledger::Ledger(std::string path, const FileMeta& meta) : path_(std::move(path)) {
  CSWEEP_ASSERT(meta.layout.total_units() == meta.total_units,
                "file meta without the grid's unit layout ({} vs {} units)",
                meta.layout.total_units(), meta.total_units);
  const std::string jpath = journal_path(path_);
  const bool journal_existed = file_exists(jpath);
  // Lock first: a second writer must fail before it touches anything.
  journal_fd_ = ::open(jpath.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (journal_fd_ < 0)
    throw io_error(jpath, "cannot open the journal", std::strerror(errno));
  if (::flock(journal_fd_, LOCK_EX | LOCK_NB) != 0) {
    ::close(journal_fd_);
    journal_fd_ = -1;
    throw input_error(path_, "another csweep process is writing this output (journal locked)", "",
                      "one writer per output file");
  }
  stored_ = meta;
  try {
    // A writer killed while compacting leaves its partial "<path>.tmp"; with the lock held no
    // one else is writing it, so it is only litter (the output itself is the old, whole file).
    const std::string tmp = path_ + ".tmp";
    if (file_exists(tmp)) {
      if (::unlink(tmp.c_str()) != 0)
        throw io_error(tmp, "cannot remove the partial file of an interrupted compaction",
                       std::strerror(errno));
      warn(tmp + ": removed the partial file of a compaction that was interrupted (" + path_ +
           " itself is whole)");
    }
    const bool output_exists = file_exists(path_);
    // The journal's grid is checked before anything is created or replayed: units of another
    // grid must never be counted as done.
    const bool needs_header = check_journal_header(output_exists);
    if (output_exists) {
      // read_results checks the tables against the ledger (verify_contents): a file whose rows
      // are not exactly its ledger's units is refused, not resumed into.
      const Results existing = read_results(path_);
      stored_ = existing.meta;
      if (stored_.grid_fingerprint != meta.grid_fingerprint || stored_.total_units != meta.total_units)
        throw input_error(path_, "was written for a different grid; refusing to resume into it",
                          "fingerprint " + stored_.grid_fingerprint + " with " +
                              std::to_string(stored_.total_units) + " units",
                          "fingerprint " + meta.grid_fingerprint + " with " +
                              std::to_string(meta.total_units) + " units (this job spec); use "
                              "another --output or the original spec");
      if (stored_.layout != meta.layout)
        throw input_error(path_, "its unit layout (/ledger/segments) is not the grid's although "
                                 "the fingerprints match; the file was modified",
                          "", "the layout of grid " + meta.grid_fingerprint);
      if (stored_.shard_index != meta.shard_index || stored_.shard_count != meta.shard_count)
        throw input_error(path_, "was written for another shard",
                          std::to_string(stored_.shard_index) + "/" +
                              std::to_string(stored_.shard_count),
                          std::to_string(meta.shard_index) + "/" + std::to_string(meta.shard_count));
      done_.assign(meta.total_units, false);
      for (auto u : existing.ledger) {
        if (!done_[u]) ++n_done_;
        done_[u] = true;
      }
    } else {
      Results fresh;
      fresh.meta = meta;
      fresh.tables.resize(meta.families.size());
      write_results(path_, fresh);
      stored_ = fresh.meta;
      done_.assign(meta.total_units, false);
    }
    pending_mask_.assign(meta.total_units, false);
    // Only now, with the output accepted, does an empty journal get this grid's header.
    if (needs_header) write_journal_header();
    replay_journal();
  } catch (...) {
    // Leave no empty journal behind for an output that was refused.
    struct stat st;
    if (!journal_existed && ::fstat(journal_fd_, &st) == 0 && st.st_size == 0)
      ::unlink(jpath.c_str());
    ::close(journal_fd_);
    journal_fd_ = -1;
    throw;
  }
}

Ledger::~Ledger() {
  if (journal_fd_ >= 0) ::close(journal_fd_);
}

void Ledger::warn(const std::string& text) {
  warnings_.push_back(text);
  spdlog::warn("{}", text);
}

void Ledger::write_journal_header() {
  const std::string h = frame(kHeaderMagic, encode_header(header_of(stored_)));
  write_all(journal_fd_, h, journal_path(path_));
  if (::fsync(journal_fd_) != 0)
    throw io_error(journal_path(path_), "fsync of the journal failed", std::strerror(errno));
  header_bytes_ = h.size();
}

bool Ledger::check_journal_header(bool output_exists) {
  const std::string jpath = journal_path(path_);
  struct stat st;
  CSWEEP_ASSERT(::fstat(journal_fd_, &st) == 0, "fstat journal");
  if (st.st_size == 0) return true;
  JournalScan scan;
  read_journal(jpath, &scan);
  const JournalHeader want = header_of(stored_);
  const std::string remedy =
      "To continue the run that wrote it, rerun with that run's job spec; to start this grid "
      "afresh, delete " + jpath + (output_exists ? " and " + path_ : std::string()) +
      " or choose another --output";
  if (!scan.has_header) {
    std::uint32_t magic = 0;
    const std::string data = read_file_text(jpath);
    if (data.size() >= 4) std::memcpy(&magic, data.data(), 4);
    if (magic == kHeaderMagic && data.size() < kFrameHeader + 8 + want.grid_fingerprint.size() + 16) {
      // A header cut short: the previous run died while creating the journal. Nothing was
      // journaled yet.
      warn(jpath + ": the journal's header is cut short (" + std::to_string(data.size()) +
           " bytes; the run that created it stopped at once); starting the journal afresh");
      if (::ftruncate(journal_fd_, 0) != 0)
        throw io_error(jpath, "cannot truncate the journal", std::strerror(errno));
      return true;
    }
    throw input_error(jpath, std::string("is not a journal of this csweep version: it has no grid "
                                         "header") +
                                 (magic == kOldJournalMagic ? " (written by an older csweep)" : "") +
                                 ", so its units cannot be checked against this grid and will not "
                                 "be used. " + remedy);
  }
  const JournalHeader& got = scan.header;
  if (got.grid_fingerprint != want.grid_fingerprint || got.total_units != want.total_units ||
      got.shard_index != want.shard_index || got.shard_count != want.shard_count)
    throw input_error(jpath, "is the journal of another grid: it was written for " +
                                 describe_grid(got) + ", this job spec's grid has " +
                                 describe_grid(want) + ". Its units will not be used. " + remedy);
  header_bytes_ = scan.record_offsets.empty() ? scan.good_bytes : scan.record_offsets.front();
  return false;
}

void Ledger::replay_journal() {
  const std::string jpath = journal_path(path_);
  JournalScan scan;
  auto records = read_journal(jpath, &scan);
  CSWEEP_ASSERT(scan.has_header, "{}: header vanished", jpath);
  if (scan.file_bytes > scan.good_bytes) {
    // A torn tail (the record being written when the process died) or a corrupt record: cut it
    // so appends continue from a valid record boundary; its units are simply recomputed.
    n_torn_bytes_ = scan.file_bytes - scan.good_bytes;
    std::string msg = jpath + ": discarded " + std::to_string(n_torn_bytes_) +
                      " byte(s) from byte " + std::to_string(scan.good_bytes) + " of " +
                      std::to_string(scan.file_bytes) + " (" + scan.bad_reason + ")";
    msg += scan.records_after_bad > 0
               ? "; " + std::to_string(scan.records_after_bad) +
                     " valid-looking record(s) after it are discarded with it"
               : "; nothing after it";
    msg += "; " + std::to_string(records.size()) + " record(s) before it are kept, the units of "
           "the discarded bytes will be recomputed";
    warn(msg);
    if (::ftruncate(journal_fd_, static_cast<off_t>(scan.good_bytes)) != 0 || ::fsync(journal_fd_) != 0)
      throw io_error(jpath, "cannot truncate the torn journal", std::strerror(errno));
  }
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto& r = records[i];
    // A record that is not exactly this grid's unit is refused, whatever its header said.
    verify_record(r, stored_.grid_fingerprint, stored_.layout,
                  jpath + ": record " + std::to_string(i) + " at byte " +
                      std::to_string(scan.record_offsets[i]));
    if (done_[r.unit]) continue;
    done_[r.unit] = true;
    ++n_done_;
    ++n_replayed_;
  }
}

bool Ledger::append(const UnitRecord& record) {
  CSWEEP_ASSERT(journal_fd_ >= 0, "append after finish()");
  CSWEEP_ASSERT(record.unit < done_.size(), "unit {} outside the {}-unit grid", record.unit,
                done_.size());
  if (done_[record.unit] || pending_mask_[record.unit]) return false;
  // What goes into the journal is exactly the unit the grid describes (a worker evaluating a
  // different spec, or a bug, is stopped here rather than found at the next resume).
  verify_record(record, stored_.grid_fingerprint, stored_.layout,
                "result of unit " + std::to_string(record.unit));
  // One write() per record: with O_APPEND the record lands contiguously at the end.
  write_all(journal_fd_, frame(kJournalMagic, serialize(record)), journal_path(path_));
  pending_mask_[record.unit] = true;
  pending_.push_back(record.unit);
  appended_ = true;
  return true;
}

void Ledger::sync() {
  if (pending_.empty()) return;
  if (::fdatasync(journal_fd_) != 0)
    throw io_error(journal_path(path_), "fdatasync of the journal failed", std::strerror(errno));
  for (auto u : pending_) {
    pending_mask_[u] = false;
    if (!done_[u]) ++n_done_;
    done_[u] = true;
  }
  pending_.clear();
}

void Ledger::compact(const FileMeta& meta) {
  CSWEEP_ASSERT(journal_fd_ >= 0, "compact after finish()");
  sync();
  Results r = read_results(path_);
  std::vector<bool> have(r.meta.total_units, false);
  for (auto u : r.ledger) have[u] = true;
  std::set<ExperimentIndex> baseline_exps;
  for (const auto& b : r.baselines) baseline_exps.insert(b.exp);
  const std::string jpath = journal_path(path_);
  JournalScan scan;
  auto records = read_journal(jpath, &scan);
  for (std::size_t i = 0; i < records.size(); ++i) {
    auto& rec = records[i];
    verify_record(rec, r.meta.grid_fingerprint, r.meta.layout,
                  jpath + ": record " + std::to_string(i) + " at byte " +
                      std::to_string(scan.record_offsets[i]));
    if (have[rec.unit]) continue;
    have[rec.unit] = true;
    r.ledger.push_back(rec.unit);
    auto& table = r.tables[static_cast<std::size_t>(rec.family)];
    table.insert(table.end(), std::make_move_iterator(rec.rows.begin()),
                 std::make_move_iterator(rec.rows.end()));
    r.circuits.insert(r.circuits.end(), std::make_move_iterator(rec.circuits.begin()),
                      std::make_move_iterator(rec.circuits.end()));
    r.steps.insert(r.steps.end(), std::make_move_iterator(rec.steps.begin()),
                   std::make_move_iterator(rec.steps.end()));
    if (baseline_exps.insert(rec.baseline.exp).second) r.baselines.push_back(rec.baseline);
  }
  // Keep the grid description of the file; take provenance from the caller.
  r.meta.text_attrs = meta.text_attrs;
  r.meta.int_attrs = meta.int_attrs;
  r.meta.real_attrs = meta.real_attrs;
  write_results(path_, r);
  stored_ = r.meta;
  // The file now holds every journal unit; only then may the journal be emptied (back to its
  // header). A crash in between leaves duplicates that the next open skips.
  if (::ftruncate(journal_fd_, static_cast<off_t>(header_bytes_)) != 0 || ::fsync(journal_fd_) != 0)
    throw io_error(jpath, "truncating the journal failed", std::strerror(errno));
}

void Ledger::finish(const FileMeta& meta) {
  CSWEEP_ASSERT(journal_fd_ >= 0, "finish() twice");
  sync();
  if (has_new_units()) compact(meta);
  ::unlink(journal_path(path_).c_str());
  ::close(journal_fd_);
  journal_fd_ = -1;
}

}  // namespace csweep::reducers
