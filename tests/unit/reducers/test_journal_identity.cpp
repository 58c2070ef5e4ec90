// A journal belongs to one grid: its header names the grid, every record its unit and grid.
// Journals of another grid, and records that are not this grid's units, are refused; a corrupt
// tail is cut with a warning that says how much was discarded and where.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "core/error.hpp"
#include "reducers/ledger.hpp"
#include "tests/unit/reducers/fixtures.hpp"

namespace csweep::reducers {
namespace {

std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}
void spit(const std::string& p, const std::string& data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << data;
}
std::string what(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no InputError)";
}

// Issue 8, defect 1: a run is killed, its output removed, and a different spec run into the same
// --output. The journal's units must not count as done for the new grid.
TEST_F(TempDir, JournalOfAnotherGridIsRefusedNotReplayed) {
  const std::string out = path("p.h5");
  {
    Ledger l(out, meta());
    for (std::uint64_t u : {0u, 1u, 2u}) l.append(record(u));
    l.sync();
  }  // killed: no compaction
  fs::remove(out);
  FileMeta other = meta();
  other.grid_fingerprint = "zzz";  // e.g. the mean ablation replaced by zero
  const std::string msg = what([&] { Ledger l(out, other); });
  const std::string journal = Ledger::journal_path(out);
  EXPECT_NE(msg.find(journal + ": is the journal of another grid"), std::string::npos) << msg;
  EXPECT_NE(msg.find("fingerprint abc"), std::string::npos) << msg;
  EXPECT_NE(msg.find("fingerprint zzz"), std::string::npos) << msg;
  EXPECT_NE(msg.find("delete " + journal), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(out)) << "a refused run must not create its output";
  // The journal is untouched: the original spec still resumes from it.
  Ledger l(out, meta());
  EXPECT_EQ(l.n_replayed(), 3u);
}

TEST_F(TempDir, JournalOfAnotherShardIsRefused) {
  const std::string out = path("s.h5");
  FileMeta a = meta();
  a.shard_count = 2;
  {
    Ledger l(out, a);
    l.append(record(0));
    l.sync();
  }
  fs::remove(out);
  FileMeta b = a;
  b.shard_index = 1;
  const std::string msg = what([&] { Ledger l(out, b); });
  EXPECT_NE(msg.find("shard 0/2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("shard 1/2"), std::string::npos) << msg;
}

TEST_F(TempDir, JournalWithoutHeaderIsRefused) {
  const std::string out = path("o.h5");
  spit(Ledger::journal_path(out), std::string("CSJ1") + std::string(40, '\x01'));
  const std::string msg = what([&] { Ledger l(out, meta()); });
  EXPECT_NE(msg.find("no grid header (written by an older csweep)"), std::string::npos) << msg;
}

// A record carrying another grid's fingerprint behind a header of this grid (journals spliced or
// damaged): refused, naming the record.
TEST_F(TempDir, RecordOfAnotherGridIsRefused) {
  const std::string a = path("a.h5"), b = path("b.h5");
  {
    Ledger la(a, meta());
    la.append(record(0));
    la.sync();
    FileMeta mb = meta();
    mb.grid_fingerprint = "zzz";  // same length: the two headers have the same size
    Ledger lb(b, mb);
    lb.append(record(0, 10, "zzz"));
    lb.sync();
  }
  const std::string ja = slurp(Ledger::journal_path(a)), jb = slurp(Ledger::journal_path(b));
  const std::size_t header = 16 + 8 + 3 + 16;  // frame header + version, length, "abc", units, shard
  ASSERT_GT(ja.size(), header);
  spit(Ledger::journal_path(a), ja.substr(0, header) + jb.substr(header));
  const std::string msg = what([&] { Ledger l(a, meta()); });
  EXPECT_NE(msg.find("record 0 at byte 43: unit 0 was computed for another grid"),
            std::string::npos) << msg;
  EXPECT_NE(msg.find("'zzz'"), std::string::npos) << msg;
}

// A record whose rows are not its unit's (here: the same unit id under another unit layout).
TEST_F(TempDir, RecordThatIsNotItsUnitIsRefused) {
  FileMeta m = meta();
  const std::string out = path("o.h5");
  Ledger l(out, m);
  UnitRecord r = record(3);
  r.rows.pop_back();
  std::string msg = what([&] { l.append(r); });
  EXPECT_NE(msg.find("unit 3 has the wrong number of rows (got 1, expected 2"), std::string::npos)
      << msg;
  r = record(3);
  r.rows[1].intervention = 99;
  msg = what([&] { l.append(r); });
  EXPECT_NE(msg.find("row 1 is not the unit's"), std::string::npos) << msg;
  r = record(3);
  r.baseline.exp.task = 1;
  msg = what([&] { l.append(r); });
  EXPECT_NE(msg.find("does not match the grid's unit"), std::string::npos) << msg;
  EXPECT_EQ(l.n_recorded(), 0u);
}

// Issue 8, defect 9: a corrupt record in the middle is not dropped silently.
TEST_F(TempDir, CorruptRecordIsDiscardedWithAWarning) {
  const std::string out = path("o.h5");
  std::vector<std::uint64_t> offsets;
  {
    Ledger l(out, meta());
    for (std::uint64_t u : {0u, 1u, 2u, 3u}) l.append(record(u));
    l.sync();
  }
  const std::string journal = Ledger::journal_path(out);
  JournalScan scan;
  ASSERT_EQ(read_journal(journal, &scan).size(), 4u);
  std::string data = slurp(journal);
  const std::uint64_t second = scan.record_offsets[1];
  data[second + 40] ^= 0x5a;  // inside the payload of record 1: its CRC fails
  spit(journal, data);
  Ledger l(out, meta());
  EXPECT_EQ(l.n_done(), 1u);  // unit 0 only; 1 is corrupt, 2 and 3 follow it
  ASSERT_EQ(l.warnings().size(), 1u);
  const std::string& w = l.warnings()[0];
  EXPECT_NE(w.find(journal + ": discarded " + std::to_string(data.size() - second) +
                   " byte(s) from byte " + std::to_string(second)),
            std::string::npos) << w;
  EXPECT_NE(w.find("fails its CRC"), std::string::npos) << w;
  EXPECT_NE(w.find("2 valid-looking record(s) after it"), std::string::npos) << w;
  EXPECT_EQ(fs::file_size(journal), second);
}

}  // namespace
}  // namespace csweep::reducers
