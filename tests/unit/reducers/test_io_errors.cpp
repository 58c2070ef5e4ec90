// A write that fails (disk full, quota, file size limit) is an IoError that leaves no stray .tmp
// and the previous output intact. The failure is forced with RLIMIT_FSIZE (writes past the limit
// fail with EFBIG once SIGXFSZ is ignored), which needs no privileges and no special file
// system; tests/mpi/store_suite.py does the same end to end on a real full tmpfs.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <csignal>
#include <fstream>
#include <iterator>

#include "core/error.hpp"
#include "reducers/ledger.hpp"
#include "reducers/merge.hpp"
#include "tests/unit/reducers/fixtures.hpp"

namespace csweep::reducers {
namespace {

std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Limits the size of files this process writes for its lifetime; the soft limit is restored
// afterwards (raising a soft limit up to the hard one needs no privilege).
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    old_handler_ = std::signal(SIGXFSZ, SIG_IGN);
    getrlimit(RLIMIT_FSIZE, &old_);
    rlimit lim = old_;
    lim.rlim_cur = bytes;
    EXPECT_EQ(setrlimit(RLIMIT_FSIZE, &lim), 0);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &old_);
    std::signal(SIGXFSZ, old_handler_);
  }

 private:
  rlimit old_{};
  void (*old_handler_)(int) = nullptr;
};

Results big_results(std::uint64_t units) {
  Results r;
  r.meta = meta(units);
  r.tables.resize(1);
  for (std::uint64_t u = 0; u < units; ++u) {
    auto rec = record(u, units);
    for (auto& row : rec.rows) r.tables[0].push_back(row);
    if (u == 0 || u == units / 2) r.baselines.push_back(rec.baseline);
    r.ledger.push_back(u);
  }
  return r;
}

TEST_F(TempDir, FailedWriteIsAnIoErrorAndLeavesThePreviousFile) {
  const std::string out = path("o.h5");
  Results small;
  small.meta = meta(400);
  small.tables.resize(1);
  write_results(out, small);
  const std::string before = slurp(out);
  const auto limit = static_cast<rlim_t>(before.size() + 4096);
  Results big = big_results(400);  // ~800 rows: larger than the limit
  try {
    FileSizeLimit lim(limit);
    write_results(out, big);
    FAIL() << "the write past the file size limit succeeded";
  } catch (const IoError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find(out + ".tmp: write failed: File too large; " + out + " is unchanged"),
              std::string::npos) << m;
  }
  EXPECT_FALSE(fs::exists(out + ".tmp"));
  EXPECT_EQ(slurp(out), before);
  EXPECT_EQ(read_results(out).ledger.size(), 0u);
}

TEST_F(TempDir, FailedMergeIsAnIoErrorWithoutOutput) {
  std::vector<std::string> shards;
  for (int i = 0; i < 2; ++i) {
    FileMeta m = meta(400);
    m.shard_index = i;
    m.shard_count = 2;
    const std::string s = path("s" + std::to_string(i) + ".h5");
    Ledger l(s, m);
    const auto [first, last] = shard_unit_range(400, i, 2);
    for (auto u = first; u < last; ++u) l.append(record(u, 400));
    l.finish(m);
    shards.push_back(s);
  }
  const std::string out = path("m.h5");
  EXPECT_THROW(
      {
        FileSizeLimit lim(16 << 10);
        merge_shards(out, shards, {});
      },
      IoError);
  EXPECT_FALSE(fs::exists(out));
  EXPECT_FALSE(fs::exists(out + ".tmp"));
}

TEST_F(TempDir, FailedJournalWriteIsAnIoError) {
  const std::string out = path("o.h5");
  Ledger l(out, meta(400));
  const auto journal_before = fs::file_size(Ledger::journal_path(out));
  {
    FileSizeLimit lim(static_cast<rlim_t>(journal_before + 64));  // less than one record
    EXPECT_THROW(l.append(record(0, 400)), IoError);
  }
}

// Issue 8, defect 9: `csweep merge OUT ...` with OUT one of the inputs would overwrite a shard.
TEST_F(TempDir, MergeIntoOneOfItsInputsIsRefused) {
  const std::string a = path("a.h5");
  {
    Ledger l(a, meta(6));
    for (std::uint64_t u = 0; u < 6; ++u) l.append(record(u, 6));
    l.finish(meta(6));
  }
  const std::string before = slurp(a);
  auto msg = [&](const std::string& out) {
    try {
      merge_shards(out, {a}, {});
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  EXPECT_NE(msg(a).find(a + ": the merge output is also one of its inputs"), std::string::npos);
  // The same file under another name: a path with "..", a hard link, a symbolic link.
  fs::create_directories(dir_ / "sub");
  EXPECT_NE(msg(path("sub/../a.h5")).find("also one of its inputs"), std::string::npos);
  fs::create_hard_link(a, path("hard.h5"));
  EXPECT_NE(msg(path("hard.h5")).find("also one of its inputs"), std::string::npos);
  fs::create_symlink(a, path("soft.h5"));
  EXPECT_NE(msg(path("soft.h5")).find("also one of its inputs"), std::string::npos);
  EXPECT_EQ(slurp(a), before);
}

// A compaction killed mid-write (SIGKILL, node loss) leaves "<out>.tmp": the next writer removes it.
TEST_F(TempDir, PartialTmpOfAKilledCompactionIsRemoved) {
  const std::string out = path("o.h5");
  { Ledger l(out, meta()); }
  std::ofstream(out + ".tmp") << "half a file";
  Ledger l(out, meta());
  EXPECT_FALSE(fs::exists(out + ".tmp"));
  ASSERT_EQ(l.warnings().size(), 1u);
  EXPECT_NE(l.warnings()[0].find("removed the partial file"), std::string::npos);
}

// Issue 8, defect 9: a rerun on a complete output leaves the file as it is, byte for byte.
TEST_F(TempDir, ReopeningACompleteOutputLeavesItUntouched) {
  const std::string out = path("o.h5");
  {
    Ledger l(out, meta());
    for (std::uint64_t u = 0; u < 10; ++u) l.append(record(u));
    l.finish(meta());
  }
  const std::string before = slurp(out);
  FileMeta other_provenance = meta();
  other_provenance.text_attrs["job_spec"] = "[job]\nname = 'changed comment'\n";
  {
    Ledger l(out, meta());
    EXPECT_FALSE(l.has_new_units());
    l.finish(other_provenance);
  }
  EXPECT_EQ(slurp(out), before);
  EXPECT_FALSE(fs::exists(Ledger::journal_path(out)));
}

}  // namespace
}  // namespace csweep::reducers
