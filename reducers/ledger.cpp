#include "reducers/ledger.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <set>

#include "core/error.hpp"
#include "core/files.hpp"

namespace csweep::reducers {
namespace {

constexpr std::uint32_t kJournalMagic = 0x314a5343;  // "CSJ1"
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
    if (n < 0) {
      if (errno == EINTR) continue;
      throw input_error(path, std::string("journal write failed: ") + std::strerror(errno));
    }
    off += static_cast<std::size_t>(n);
  }
}

}  // namespace

std::vector<UnitRecord> read_journal(const std::string& journal_path, std::uint64_t* good_bytes) {
  std::vector<UnitRecord> out;
  std::uint64_t good = 0;
  if (file_exists(journal_path)) {
    const std::string data = read_file_text(journal_path);
    while (good + kFrameHeader <= data.size()) {
      std::uint32_t magic, crc;
      std::uint64_t len;
      std::memcpy(&magic, data.data() + good, 4);
      std::memcpy(&len, data.data() + good + 4, 8);
      std::memcpy(&crc, data.data() + good + 12, 4);
      if (magic != kJournalMagic || len > data.size() - good - kFrameHeader) break;
      const char* payload = data.data() + good + kFrameHeader;
      if (crc32(payload, len) != crc) break;
      try {
        out.push_back(deserialize(std::string(payload, len)));
      } catch (const InternalError&) {
        break;  // a CRC-valid but undecodable record: treat as the end of the usable journal
      }
      good += kFrameHeader + len;
    }
  }
  if (good_bytes) *good_bytes = good;
  return out;
}

Ledger::Ledger(std::string path, const FileMeta& meta) : path_(std::move(path)) {
  const std::string jpath = journal_path(path_);
  // Lock first: a second writer must fail before it touches anything.
  journal_fd_ = ::open(jpath.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (journal_fd_ < 0)
    throw input_error(jpath, std::string("cannot open journal: ") + std::strerror(errno));
  if (::flock(journal_fd_, LOCK_EX | LOCK_NB) != 0) {
    ::close(journal_fd_);
    journal_fd_ = -1;
    throw input_error(path_, "another csweep process is writing this output (journal locked)", "",
                      "one writer per output file");
  }
  try {
    if (file_exists(path_)) {
      Results existing = read_results_meta(path_);
      stored_ = existing.meta;
      if (stored_.grid_fingerprint != meta.grid_fingerprint || stored_.total_units != meta.total_units)
        throw input_error(path_, "was written for a different grid; refusing to resume into it",
                          "fingerprint " + stored_.grid_fingerprint + " with " +
                              std::to_string(stored_.total_units) + " units",
                          "fingerprint " + meta.grid_fingerprint + " with " +
                              std::to_string(meta.total_units) + " units (this job spec); use "
                              "another --output or the original spec");
      if (stored_.shard_index != meta.shard_index || stored_.shard_count != meta.shard_count)
        throw input_error(path_, "was written for another shard",
                          std::to_string(stored_.shard_index) + "/" +
                              std::to_string(stored_.shard_count),
                          std::to_string(meta.shard_index) + "/" + std::to_string(meta.shard_count));
      done_.assign(meta.total_units, false);
      for (auto u : existing.ledger) {
        CSWEEP_CHECK_INPUT(u < meta.total_units, "{}: ledger holds unit {} of a {}-unit grid",
                           path_, u, meta.total_units);
        if (!done_[u]) ++n_done_;
        done_[u] = true;
      }
    } else {
      Results fresh;
      fresh.meta = meta;
      fresh.tables.resize(meta.families.size());
      write_results(path_, fresh);
      stored_ = meta;
      done_.assign(meta.total_units, false);
    }
    pending_mask_.assign(meta.total_units, false);
    replay_journal();
  } catch (...) {
    ::close(journal_fd_);
    journal_fd_ = -1;
    throw;
  }
}

Ledger::~Ledger() {
  if (journal_fd_ >= 0) ::close(journal_fd_);
}

void Ledger::replay_journal() {
  const std::string jpath = journal_path(path_);
  std::uint64_t good = 0;
  auto records = read_journal(jpath, &good);
  struct stat st;
  CSWEEP_ASSERT(::fstat(journal_fd_, &st) == 0, "fstat journal");
  if (static_cast<std::uint64_t>(st.st_size) > good) {
    // A torn tail: the record being written when the process died. Cut it so appends continue
    // from a valid record boundary.
    n_torn_bytes_ = static_cast<std::uint64_t>(st.st_size) - good;
    if (::ftruncate(journal_fd_, static_cast<off_t>(good)) != 0 || ::fsync(journal_fd_) != 0)
      throw input_error(jpath, std::string("cannot truncate torn journal: ") + std::strerror(errno));
  }
  for (const auto& r : records) {
    CSWEEP_CHECK_INPUT(r.unit < done_.size(), "{}: journal holds unit {} of a {}-unit grid", jpath,
                       r.unit, done_.size());
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
  const std::string payload = serialize(record);
  std::string frame(kFrameHeader, '\0');
  const std::uint64_t len = payload.size();
  const std::uint32_t crc = crc32(payload.data(), payload.size());
  std::memcpy(frame.data(), &kJournalMagic, 4);
  std::memcpy(frame.data() + 4, &len, 8);
  std::memcpy(frame.data() + 12, &crc, 4);
  frame += payload;
  // One write() per record: with O_APPEND the record lands contiguously at the end.
  write_all(journal_fd_, frame, journal_path(path_));
  pending_mask_[record.unit] = true;
  pending_.push_back(record.unit);
  return true;
}

void Ledger::sync() {
  if (pending_.empty()) return;
  if (::fdatasync(journal_fd_) != 0)
    throw input_error(journal_path(path_), std::string("fdatasync failed: ") + std::strerror(errno));
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
  for (auto& rec : read_journal(journal_path(path_), nullptr)) {
    if (rec.unit >= have.size() || have[rec.unit]) continue;
    CSWEEP_ASSERT(rec.family >= 0 && static_cast<std::size_t>(rec.family) < r.tables.size(),
                  "unit {} names family {}", rec.unit, rec.family);
    have[rec.unit] = true;
    r.ledger.push_back(rec.unit);
    auto& table = r.tables[static_cast<std::size_t>(rec.family)];
    table.insert(table.end(), std::make_move_iterator(rec.rows.begin()),
                 std::make_move_iterator(rec.rows.end()));
    if (baseline_exps.insert(rec.baseline.exp).second) r.baselines.push_back(rec.baseline);
  }
  // Keep the grid description of the file; take provenance from the caller.
  r.meta.text_attrs = meta.text_attrs;
  r.meta.int_attrs = meta.int_attrs;
  r.meta.real_attrs = meta.real_attrs;
  write_results(path_, r);
  stored_ = r.meta;
  // The file now holds every journal unit; only then may the journal be emptied. A crash in
  // between leaves duplicates that the next open skips.
  if (::ftruncate(journal_fd_, 0) != 0 || ::fsync(journal_fd_) != 0)
    throw input_error(journal_path(path_), std::string("truncate failed: ") + std::strerror(errno));
}

void Ledger::finish(const FileMeta& meta) {
  compact(meta);
  ::unlink(journal_path(path_).c_str());
  ::close(journal_fd_);
  journal_fd_ = -1;
}

}  // namespace csweep::reducers
