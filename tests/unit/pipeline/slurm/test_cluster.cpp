// pipeline/slurm/cluster: parsing scontrol's records, on output captured from a real Slurm
// 22.05.8 (tests/fixtures/slurm/README.md); the expected values are read off that text.
#include <gtest/gtest.h>

#include "core/files.hpp"
#include "pipeline/slurm/cluster.hpp"

namespace csweep::slurm {
namespace {

std::vector<JobRecord> fixture(const char* name) {
  return parse_show_job(read_file_text(std::string(CSWEEP_FIXTURES_DIR) + "/slurm/" + name));
}

TEST(SlurmShowJob, PendingRestOfAThrottledArrayIsOneRecord) {
  const auto r = fixture("scontrol_show_job_pending_array.txt");
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].job_id, "7");
  EXPECT_EQ(r[0].array_job_id, "7");
  EXPECT_EQ(r[0].array_tasks, (std::vector<int>{1, 2}));
  EXPECT_EQ(r[0].state, "PENDING");
  EXPECT_EQ(r[0].reason, "JobArrayTaskLimit");
  EXPECT_EQ(r[1].job_id, "8");
  EXPECT_EQ(r[1].array_tasks, (std::vector<int>{0}));
  EXPECT_EQ(r[1].state, "RUNNING");
  EXPECT_EQ(r[1].restarts, 0);
}

TEST(SlurmShowJob, FinishedTasksCarryStateAndExitCode) {
  const auto r = fixture("scontrol_show_job_finished_array.txt");
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].array_tasks, (std::vector<int>{2}));
  EXPECT_EQ(r[0].state, "RUNNING");
  EXPECT_EQ(r[1].job_id, "9");
  EXPECT_EQ(r[1].array_tasks, (std::vector<int>{1}));
  EXPECT_EQ(r[1].state, "FAILED");
  EXPECT_EQ(r[1].reason, "NonZeroExitCode");
  EXPECT_EQ(r[1].exit_code, "3:0");
  EXPECT_TRUE(is_terminal_state(r[1].state));
  EXPECT_EQ(r[2].state, "COMPLETED");
  EXPECT_EQ(r[2].exit_code, "0:0");
  EXPECT_FALSE(is_terminal_state("PENDING"));
  EXPECT_FALSE(is_terminal_state("REQUEUED"));
}

TEST(SlurmCommands, MissingProgramIsReportedNotThrown) {
  const CommandResult r = run_command({"csweep-no-such-program-here"});
  EXPECT_EQ(r.status, -1);
  EXPECT_NE(r.err.find("csweep-no-such-program-here"), std::string::npos);
  const CommandResult ok = run_command({"sh", "-c", "echo out; echo err >&2; exit 3"});
  EXPECT_EQ(ok.status, 3);
  EXPECT_EQ(ok.out, "out\n");
  EXPECT_EQ(ok.err, "err\n");
}

}  // namespace
}  // namespace csweep::slurm
