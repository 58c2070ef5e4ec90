#include <gtest/gtest.h>

#include <set>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "reducers/ledger.hpp"
#include "reducers/merge.hpp"
#include "reducers/writer.hpp"
#include "tests/unit/reducers/fixtures.hpp"

namespace csweep::reducers {
namespace {

TEST(Schema, SerializationRoundTrips) {
  const auto r = record(7);
  const auto back = deserialize(serialize(r));
  EXPECT_EQ(back.unit, 7u);
  EXPECT_EQ(back.grid_fingerprint, "abc");
  EXPECT_EQ(back.baseline.baseline.n_prompts, 2);
  EXPECT_EQ(back.baseline.baseline.n_dropped_by_filter, 1);
  ASSERT_EQ(back.rows.size(), 2u);
  EXPECT_EQ(back.rows[1].components.size(), 2u);
  EXPECT_EQ(back.rows[1].components[1].kind, interv::ComponentKind::kMlp);
  EXPECT_EQ(back.rows[1].metrics.logit_diff, 4.5);
  EXPECT_EQ(back.rows[0].metrics.per_prompt_logit_diff, (std::vector<float>{7.f, 0.25f}));
  std::string bad = serialize(r);
  bad.pop_back();
  EXPECT_THROW(deserialize(bad), InternalError);
}

TEST_F(TempDir, WriteReadRoundTripSortsCanonically) {
  Results r;
  r.meta = meta();
  r.tables.resize(1);
  for (std::uint64_t u : {5u, 1u, 3u}) {
    auto rec = record(u);
    for (auto& row : rec.rows) r.tables[0].push_back(row);
    if (u != 3) r.baselines.push_back(rec.baseline);  // units 1 and 3 share experiment task 0
    r.ledger.push_back(u);
  }
  write_results(path("r.h5"), r);
  const Results back = read_results(path("r.h5"));
  EXPECT_EQ(back.ledger, (std::vector<std::uint64_t>{1, 3, 5}));
  EXPECT_EQ(back.meta.grid_fingerprint, "abc");
  ASSERT_EQ(back.baselines.size(), 2u);
  std::multiset<int> drops;  // the baselines of units 5 and 1: u % 3 = 2 and 1 prompts dropped
  for (const auto& b : back.baselines) drops.insert(b.baseline.n_dropped_by_filter);
  EXPECT_EQ(drops, (std::multiset<int>{1, 2}));
  EXPECT_EQ(back.meta.task_names, r.meta.task_names);
  EXPECT_EQ(back.meta.text_attrs.at("job_spec"), "[job]\n");
  ASSERT_EQ(back.tables[0].size(), 6u);
  // Sorted by (experiment..., intervention): units 1 and 3 of task 0 (interventions 2-3, 6-7),
  // then unit 5, the first of task 1 (interventions 0-1).
  std::vector<std::uint64_t> ids;
  for (const auto& row : back.tables[0]) ids.push_back(row.intervention);
  EXPECT_EQ(ids, (std::vector<std::uint64_t>{2, 3, 6, 7, 0, 1}));
  EXPECT_EQ(back.tables[0][3].components.size(), 2u);
  EXPECT_EQ(back.tables[0][3].metrics.logit_diff, 2.5);
  EXPECT_EQ(back.tables[0][3].metrics.per_prompt_logit_diff, (std::vector<float>{3.f, 0.25f}));
  EXPECT_EQ(back.baselines.size(), 2u);  // one per experiment: tasks 0 and 1
}

TEST_F(TempDir, LedgerResumesFromJournalAndCutsATornTail) {
  const std::string out = path("o.h5");
  {
    Ledger l(out, meta());
    for (std::uint64_t u : {0u, 4u, 2u}) EXPECT_TRUE(l.append(record(u)));
    EXPECT_FALSE(l.append(record(4)));  // duplicate: first result wins
    EXPECT_EQ(l.n_done(), 0u);          // nothing counts before the fsync
    l.sync();
    EXPECT_EQ(l.n_done(), 3u);
  }  // "crash": no compaction
  // Tear the last record as a kill in the middle of write() would.
  const std::string journal = Ledger::journal_path(out);
  const auto size = fs::file_size(journal);
  fs::resize_file(journal, size - 7);
  {
    Ledger l(out, meta());
    EXPECT_EQ(l.n_done(), 2u);
    EXPECT_TRUE(l.is_done(0));
    EXPECT_TRUE(l.is_done(4));
    EXPECT_FALSE(l.is_done(2));
    EXPECT_GT(l.n_torn_bytes(), 0u);
    EXPECT_TRUE(l.append(record(2)));
    EXPECT_TRUE(l.append(record(9)));
    l.compact(meta());
    EXPECT_EQ(fs::file_size(journal), 16u + 8 + 3 + 16);  // back to its header
    EXPECT_TRUE(l.append(record(7)));
    l.finish(meta());
  }
  EXPECT_FALSE(fs::exists(journal));
  const Results r = read_results(out);
  EXPECT_EQ(r.ledger, (std::vector<std::uint64_t>{0, 2, 4, 7, 9}));
  EXPECT_EQ(r.tables[0].size(), 10u);
}

TEST_F(TempDir, JournalDuplicatesOfCompactedUnitsAreSkipped) {
  const std::string out = path("o.h5");
  {
    Ledger l(out, meta());
    l.append(record(1));
    l.append(record(3));
    l.sync();
  }
  // Simulate a crash between the rename of the compacted file and the journal truncation:
  // keep a copy of the journal, compact, put the copy back.
  const std::string journal = Ledger::journal_path(out);
  fs::copy_file(journal, path("j.bak"));
  {
    Ledger l(out, meta());
    l.compact(meta());
  }
  fs::copy_file(path("j.bak"), journal, fs::copy_options::overwrite_existing);
  {
    Ledger l(out, meta());
    EXPECT_EQ(l.n_done(), 2u);
    l.finish(meta());
  }
  EXPECT_EQ(read_results(out).tables[0].size(), 4u);
}

TEST_F(TempDir, LedgerRefusesAnotherGridAndASecondWriter) {
  const std::string out = path("o.h5");
  Ledger l(out, meta());
  try {
    Ledger second(out, meta());
    FAIL() << "second writer accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("another csweep process"), std::string::npos);
  }
  l.finish(meta());
  FileMeta other = meta(12);
  other.grid_fingerprint = "def";
  try {
    Ledger third(out, other);
    FAIL() << "different grid accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("fingerprint abc"), std::string::npos) << e.what();
  }
}

TEST(Merge, FormatRanges) {
  EXPECT_EQ(format_ranges({0, 1, 2, 5, 7, 8}), "0-2, 5, 7-8");
  EXPECT_EQ(format_ranges({}), "");
  EXPECT_EQ(format_ranges({1, 3, 5, 7}, 2), "1, 3, ... (2 more ranges)");
}

TEST_F(TempDir, MergeChecksCoverage) {
  auto shard = [&](const std::string& name, std::vector<std::uint64_t> units) {
    Ledger l(path(name), meta(6));
    for (auto u : units) l.append(record(u, 6));
    l.finish(meta(6));
    return path(name);
  };
  const auto a = shard("a.h5", {0, 1, 2});
  const auto b = shard("b.h5", {3, 5});
  const auto c = shard("c.h5", {2, 4});
  try {
    merge_shards(path("m.h5"), {a, b}, {});
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("missing 1 units: 4"), std::string::npos) << e.what();
  }
  try {
    merge_shards(path("m.h5"), {a, b, c}, {});
    FAIL();
  } catch (const InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("duplicated 1 units"), std::string::npos) << m;
    EXPECT_NE(m.find("unit 2 in " + a + " " + c), std::string::npos) << m;
  }
  EXPECT_FALSE(fs::exists(path("m.h5")));
  const auto d = shard("d.h5", {4});
  const auto s = merge_shards(path("m.h5"), {b, d, a}, {});
  EXPECT_EQ(s.rows, 12u);
  const Results r = read_results(path("m.h5"));
  EXPECT_EQ(r.ledger, (std::vector<std::uint64_t>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(r.meta.shard_count, 1);
  EXPECT_EQ(r.meta.int_attrs.at("complete"), 1);
}

TEST_F(TempDir, CompleteAttributeFollowsTheShardLedger) {
  // Shard 1/3 of a 10-unit grid is units [3, 6) (docs/SWEEPS.md: [T*i/N, T*(i+1)/N)).
  EXPECT_EQ(shard_unit_range(10, 1, 3), (std::pair<std::uint64_t, std::uint64_t>{3, 6}));
  FileMeta m = meta(10);
  m.shard_index = 1;
  m.shard_count = 3;
  m.int_attrs["complete"] = 1;  // a caller's claim is ignored: the writer derives it
  const std::string out = path("s.h5");
  {
    Ledger l(out, m);
    EXPECT_EQ(read_results_meta(out).meta.int_attrs.at("complete"), 0);
    l.append(record(3, 10));
    l.append(record(5, 10));
    l.finish(m);
  }
  Results r = read_results_meta(out);
  EXPECT_EQ(r.meta.int_attrs.at("complete"), 0);
  EXPECT_EQ(shard_coverage(r), (std::pair<std::uint64_t, std::uint64_t>{2, 3}));
  {
    Ledger l(out, m);
    l.append(record(4));
    l.finish(m);
  }
  EXPECT_EQ(read_results_meta(out).meta.int_attrs.at("complete"), 1);
}

}  // namespace
}  // namespace csweep::reducers
