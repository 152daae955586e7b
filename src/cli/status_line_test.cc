#include "cli/status_line.h"

#include <gtest/gtest.h>

#include "common/clock.h"

namespace tandem::cli {
namespace {

constexpr int64_t kCreated = 1796000000000;

TEST(FormatDurationTest, PicksUnits) {
  EXPECT_EQ(FormatDuration(0), "0s");
  EXPECT_EQ(FormatDuration(45'999), "45s");
  EXPECT_EQ(FormatDuration(187'000), "3m07s");
  EXPECT_EQ(FormatDuration(7'389'000), "2h03m09s");
  EXPECT_EQ(FormatDuration(-5), "0s");
}

TEST(FormatCountTest, GroupsThousands) {
  EXPECT_EQ(FormatCount(0), "0");
  EXPECT_EQ(FormatCount(999), "999");
  EXPECT_EQ(FormatCount(1000), "1,000");
  EXPECT_EQ(FormatCount(2700000), "2,700,000");
  EXPECT_EQ(FormatCount(-1234), "-1,234");
}

TEST(FormatStatusLineTest, ShowsEveryPart) {
  Json job = {{"TrainingJobStatus", "InProgress"},
              {"SecondaryStatus", "Training"},
              {"CreationTime", FormatTimestamp(kCreated)},
              {"Progress", {{"RowsRead", 2700000}, {"Round", 57}, {"TotalRounds", 200}}}};
  EXPECT_EQ(FormatStatusLine(job, kCreated + 83'000),
            "InProgress  Training  elapsed 1m23s  rows 2,700,000  round 57/200");
}

TEST(FormatStatusLineTest, LeavesOutAbsentParts) {
  Json job = {{"TrainingJobStatus", "InProgress"}, {"SecondaryStatus", "Starting"},
              {"Progress", Json::object()}};
  EXPECT_EQ(FormatStatusLine(job, kCreated), "InProgress  Starting");
  job["Progress"] = {{"Round", 3}};
  EXPECT_EQ(FormatStatusLine(job, kCreated), "InProgress  Starting  round 3");
  job["Progress"] = {{"Round", 0}, {"TotalRounds", 0}, {"RowsRead", 0}};
  EXPECT_EQ(FormatStatusLine(job, kCreated), "InProgress  Starting  rows 0");
}

TEST(FormatStatusLineTest, EndedJobStopsTheClock) {
  Json job = {{"TrainingJobStatus", "Completed"},
              {"SecondaryStatus", "Completed"},
              {"CreationTime", FormatTimestamp(kCreated)},
              {"TrainingEndTime", FormatTimestamp(kCreated + 10'000)}};
  EXPECT_EQ(FormatStatusLine(job, kCreated + 999'000), "Completed  Completed  elapsed 10s");
}

TEST(IsTerminalJobTest, KnowsTheEndStates) {
  for (const char* status : {"Completed", "Failed", "Stopped"}) {
    EXPECT_TRUE(IsTerminalJob({{"TrainingJobStatus", status}})) << status;
  }
  for (const char* status : {"InProgress", "Stopping", ""}) {
    EXPECT_FALSE(IsTerminalJob({{"TrainingJobStatus", status}})) << status;
  }
  EXPECT_FALSE(IsTerminalJob(Json::array()));
}

}  // namespace
}  // namespace tandem::cli
