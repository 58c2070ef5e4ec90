// pipeline/slurm/scripts: array splitting below MaxArraySize, index lists, time limits, the
// submission plan and the rendered scripts (expected values from Slurm's documented formats).
#include <gtest/gtest.h>

#include "core/error.hpp"
#include "pipeline/slurm/scripts.hpp"

namespace csweep::slurm {
namespace {

std::vector<int> iota(int n) {
  std::vector<int> v;
  for (int i = 0; i < n; ++i) v.push_back(i);
  return v;
}

TEST(SlurmArrays, FitInOneArrayWhenBelowMaxArraySize) {
  const auto a = split_into_arrays(iota(3), 1001);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].base, 0);
  EXPECT_EQ(a[0].task_spec(), "0-2");
}

TEST(SlurmArrays, SplitSoThatNoTaskIdReachesMaxArraySize) {
  // MaxArraySize 3 allows task ids 0..2 only (Slurm: "one less than MaxArraySize").
  const auto a = split_into_arrays(iota(5), 3);
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].base, 0);
  EXPECT_EQ(a[0].shards, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(a[0].task_spec(), "0-2");
  EXPECT_EQ(a[1].base, 3);
  EXPECT_EQ(a[1].shards, (std::vector<int>{3, 4}));
  EXPECT_EQ(a[1].task_spec(), "0-1");
  // 2500 shards on a default cluster: 1001 + 1001 + 498, every shard exactly once.
  const auto big = split_into_arrays(iota(2500), 1001);
  ASSERT_EQ(big.size(), 3u);
  EXPECT_EQ(big[2].base, 2002);
  EXPECT_EQ(big[2].task_spec(), "0-497");
  std::size_t n = 0;
  for (const auto& s : big) n += s.shards.size();
  EXPECT_EQ(n, 2500u);
}

TEST(SlurmArrays, ResubmittedSubsetsKeepTheirShardOffsets) {
  const auto a = split_into_arrays({7, 1, 4, 5}, 3);
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[0].base, 0);
  EXPECT_EQ(a[0].task_spec(), "1");
  EXPECT_EQ(a[1].base, 3);
  EXPECT_EQ(a[1].task_spec(), "1-2");
  EXPECT_EQ(a[2].base, 6);
  EXPECT_EQ(a[2].task_spec(), "1");
}

TEST(SlurmIndexLists, FormatAndParseSlurmsArrayTaskIdSyntax) {
  EXPECT_EQ(format_index_list({0, 1, 2, 5, 7, 8, 9}), "0-2,5,7-9");
  EXPECT_EQ(format_index_list({4}), "4");
  EXPECT_EQ(format_index_list({}), "");
  EXPECT_EQ(parse_index_list("0-2,5,7-9"), (std::vector<int>{0, 1, 2, 5, 7, 8, 9}));
  EXPECT_EQ(parse_index_list("1-2%2"), (std::vector<int>{1, 2}));  // pending rest of a capped array
  EXPECT_EQ(parse_index_list("3"), (std::vector<int>{3}));
  EXPECT_TRUE(parse_index_list("").empty());
  EXPECT_TRUE(parse_index_list("2-1").empty());
  EXPECT_TRUE(parse_index_list("a").empty());
  EXPECT_TRUE(parse_index_list("1-").empty());
}

TEST(SlurmTimeLimits, AcceptEverySbatchFormat) {
  // sbatch(1): "minutes", "minutes:seconds", "hours:minutes:seconds", "days-hours",
  // "days-hours:minutes" and "days-hours:minutes:seconds".
  EXPECT_EQ(parse_time_limit("30", "--time"), 1800);
  EXPECT_EQ(parse_time_limit("1:30", "--time"), 90);
  EXPECT_EQ(parse_time_limit("04:00:00", "--time"), 14400);
  EXPECT_EQ(parse_time_limit("2-12", "--time"), 2 * 86400 + 12 * 3600);
  EXPECT_EQ(parse_time_limit("1-00:30", "--time"), 86400 + 1800);
  EXPECT_EQ(parse_time_limit("1-2:3:4", "--time"), 86400 + 2 * 3600 + 3 * 60 + 4);
  for (const char* bad : {"", "UNLIMITED", "abc", "1:2:3:4", "-1", "1-", "1:", "1-2-3"}) {
    try {
      parse_time_limit(bad, "--time");
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("--time"), std::string::npos) << e.what();
    }
  }
}

TEST(SlurmPlan, CapsConcurrencyAcrossSplitArraysAndMergesAfterAll) {
  const auto plan = plan_submission("/r", iota(5), 3, 2, {"--qos=low"});
  ASSERT_EQ(plan.size(), 3u);
  EXPECT_EQ(sbatch_argv(plan[0], {}),
            (std::vector<std::string>{"sbatch", "--parsable", "--array=0-2%2", "--qos=low", "/r/shard.sbatch", "0"}));
  // The second array waits for the first, so at most 2 shards run in total.
  EXPECT_EQ(sbatch_argv(plan[1], {{"shards_1", "11"}}),
            (std::vector<std::string>{"sbatch", "--parsable", "--array=0-1%2", "--qos=low",
                                      "--dependency=afterany:11", "/r/shard.sbatch", "3"}));
  EXPECT_EQ(sbatch_argv(plan[2], {{"shards_1", "11"}, {"shards_2", "12"}}),
            (std::vector<std::string>{"sbatch", "--parsable", "--qos=low", "--dependency=afterok:11:12",
                                      "/r/merge.sbatch"}));
  EXPECT_EQ(format_submission(plan),
            "shards_1=$(sbatch --parsable --array=0-2%2 --qos=low /r/shard.sbatch 0)\n"
            "shards_2=$(sbatch --parsable --array=0-1%2 --qos=low \"--dependency=afterany:$shards_1\" /r/shard.sbatch 3)\n"
            "merge=$(sbatch --parsable --qos=low \"--dependency=afterok:$shards_1:$shards_2\" /r/merge.sbatch)\n");
}

TEST(SlurmPlan, WithoutACapSplitArraysRunSideBySide) {
  const auto plan = plan_submission("/r", iota(5), 3, 0, {});
  ASSERT_EQ(plan.size(), 3u);
  EXPECT_TRUE(plan[1].depends_on.empty());
  EXPECT_EQ(plan[1].options, (std::vector<std::string>{"--parsable", "--array=0-1"}));
  // Only the merge left to do (every shard complete): no dependency at all.
  const auto merge_only = plan_submission("/r", {}, 3, 0, {});
  ASSERT_EQ(merge_only.size(), 1u);
  EXPECT_EQ(sbatch_argv(merge_only[0], {}), (std::vector<std::string>{"sbatch", "--parsable", "/r/merge.sbatch"}));
}

TEST(SlurmScripts, ShardScriptCarriesTheRequeueAndSignalContract) {
  ScriptParams p;
  p.job_name = "qs";
  p.run_dir = "/runs/it's here";
  p.csweep_bin = "/opt/csweep";
  p.workdir = "/home/me";
  p.spec_sha256 = "abc";
  p.shards = 4;
  p.ranks_per_shard = 2;
  p.gpus_per_rank = 1;
  p.cpus_per_rank = 3;
  p.partition = "gpu";
  p.time_limit = "02:00:00";
  p.signal_lead_s = 300;
  const std::string s = render_shard_script(p);
  EXPECT_EQ(s.rfind("#!/usr/bin/env bash\n", 0), 0u);
  for (const char* line : {"#SBATCH --job-name=csweep-qs\n", "#SBATCH --ntasks=2\n", "#SBATCH --cpus-per-task=3\n",
                           "#SBATCH --gpus-per-task=1\n", "#SBATCH --partition=gpu\n", "#SBATCH --time=02:00:00\n",
                           "#SBATCH --requeue\n", "#SBATCH --open-mode=append\n", "#SBATCH --signal=B:USR1@300\n",
                           "#SBATCH --chdir=/home/me\n", "export CSWEEP_SHARDS=4\n", "export CSWEEP_RANKS=2\n",
                           "export CSWEEP_RUN_DIR='/runs/it'\\''s here'\n", "srun --mpi=pmix", "scontrol requeue",
                           "trap 'on_signal USR1' USR1"})
    EXPECT_NE(s.find(line), std::string::npos) << line;
  EXPECT_EQ(s.find("--account"), std::string::npos);
  const std::string m = render_merge_script(p);
  for (const char* line : {"#SBATCH --kill-on-invalid-dep=yes\n", "#SBATCH --job-name=csweep-qs-merge\n",
                           "\"$CSWEEP_BIN\" merge", "analyze( |$)"})
    EXPECT_NE(m.find(line), std::string::npos) << line;
  EXPECT_EQ(m.find("--requeue"), std::string::npos);
}

TEST(SlurmScripts, ShellQuoting) {
  EXPECT_EQ(shell_quote("/a/b-c_d.e"), "/a/b-c_d.e");
  EXPECT_EQ(shell_quote("a b"), "'a b'");
  EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
  EXPECT_EQ(shell_quote(""), "''");
  EXPECT_EQ(shell_quote("$x"), "'$x'");
}

}  // namespace
}  // namespace csweep::slurm
