#include "api/admission.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tandem::api {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::vector<std::string> Ids(const AdmissionDecision& decision) {
  std::vector<std::string> ids;
  for (const WaitingJob& job : decision.admitted) ids.push_back(job.job_id);
  return ids;
}

TEST(AdmissionTest, UnlimitedAdmitsEveryJobInOrder) {
  std::vector<WaitingJob> waiting = {{"a1", "a"}, {"b1", "b"}, {"a2", "a"}};
  AdmissionDecision decision = DecideAdmissions({}, {}, waiting, "");
  EXPECT_THAT(Ids(decision), ElementsAre("a1", "b1", "a2"));
}

TEST(AdmissionTest, OverallLimitCountsRunningJobs) {
  RunningJobs running;
  running.Add("a");
  running.Add("b");
  std::vector<WaitingJob> waiting = {{"a1", "a"}, {"a2", "a"}, {"a3", "a"}};
  AdmissionDecision decision = DecideAdmissions({.max_running_jobs = 3}, running, waiting, "");
  EXPECT_THAT(Ids(decision), ElementsAre("a1"));
}

TEST(AdmissionTest, OverallLimitReachedAdmitsNothing) {
  RunningJobs running;
  running.Add("a");
  AdmissionDecision decision =
      DecideAdmissions({.max_running_jobs = 1}, running, {{"b1", "b"}}, "a");
  EXPECT_THAT(Ids(decision), IsEmpty());
  EXPECT_EQ(decision.cursor, "a");
}

TEST(AdmissionTest, FirstInFirstOutWithinRepository) {
  std::vector<WaitingJob> waiting = {{"a1", "a"}, {"a2", "a"}, {"a3", "a"}};
  AdmissionDecision decision = DecideAdmissions({.max_running_jobs = 2}, {}, waiting, "");
  EXPECT_THAT(Ids(decision), ElementsAre("a1", "a2"));
}

TEST(AdmissionTest, RoundRobinBetweenRepositories) {
  // Repository a submitted everything first; b and c still get alternate turns.
  std::vector<WaitingJob> waiting = {{"a1", "a"}, {"a2", "a"}, {"a3", "a"},
                                     {"b1", "b"}, {"c1", "c"}, {"b2", "b"}};
  AdmissionDecision decision = DecideAdmissions({}, {}, waiting, "");
  EXPECT_THAT(Ids(decision), ElementsAre("a1", "b1", "c1", "a2", "b2", "a3"));
  EXPECT_EQ(decision.cursor, "a");
}

TEST(AdmissionTest, CursorGivesNextTurnToFollowingRepository) {
  std::vector<WaitingJob> waiting = {{"a1", "a"}, {"a2", "a"}, {"b1", "b"}};
  AdmissionDecision first = DecideAdmissions({.max_running_jobs = 1}, {}, waiting, "");
  EXPECT_THAT(Ids(first), ElementsAre("a1"));
  EXPECT_EQ(first.cursor, "a");

  // a1 ended; the turn passes to b although a2 is older than b1.
  std::vector<WaitingJob> rest = {{"a2", "a"}, {"b1", "b"}};
  AdmissionDecision second = DecideAdmissions({.max_running_jobs = 1}, {}, rest, first.cursor);
  EXPECT_THAT(Ids(second), ElementsAre("b1"));
  EXPECT_EQ(second.cursor, "b");

  AdmissionDecision third =
      DecideAdmissions({.max_running_jobs = 1}, {}, {{"a2", "a"}}, second.cursor);
  EXPECT_THAT(Ids(third), ElementsAre("a2"));
}

TEST(AdmissionTest, CursorPastLastNameWrapsAround) {
  std::vector<WaitingJob> waiting = {{"a1", "a"}, {"b1", "b"}};
  AdmissionDecision decision = DecideAdmissions({.max_running_jobs = 1}, {}, waiting, "zz");
  EXPECT_THAT(Ids(decision), ElementsAre("a1"));
}

TEST(AdmissionTest, PerRepositoryLimitSkipsFullRepository) {
  RunningJobs running;
  running.Add("a");
  std::vector<WaitingJob> waiting = {{"a1", "a"}, {"a2", "a"}, {"b1", "b"}, {"b2", "b"}};
  AdmissionDecision decision =
      DecideAdmissions({.max_running_jobs_per_repository = 1}, running, waiting, "");
  EXPECT_THAT(Ids(decision), ElementsAre("b1"));
}

TEST(AdmissionTest, BothLimitsApplyTogether) {
  std::vector<WaitingJob> waiting = {{"a1", "a"}, {"a2", "a"}, {"a3", "a"}, {"b1", "b"}};
  AdmissionDecision decision = DecideAdmissions(
      {.max_running_jobs = 3, .max_running_jobs_per_repository = 2}, {}, waiting, "");
  EXPECT_THAT(Ids(decision), ElementsAre("a1", "b1", "a2"));
}

TEST(AdmissionTest, NoWaitingJobsKeepsCursor) {
  AdmissionDecision decision = DecideAdmissions({.max_running_jobs = 1}, {}, {}, "b");
  EXPECT_THAT(Ids(decision), IsEmpty());
  EXPECT_EQ(decision.cursor, "b");
}

TEST(AdmissionTest, WaitReasonNamesOverallLimit) {
  RunningJobs running;
  running.Add("a");
  running.Add("b");
  EXPECT_EQ(WaitReason({.max_running_jobs = 2}, running, "c"),
            "the limit of running jobs (2) is reached");
}

TEST(AdmissionTest, WaitReasonNamesRepositoryLimit) {
  RunningJobs running;
  running.Add("a");
  EXPECT_EQ(WaitReason({.max_running_jobs_per_repository = 1}, running, "a"),
            "repository a is at its limit of running jobs (1)");
  EXPECT_EQ(WaitReason({.max_running_jobs_per_repository = 1}, running, "b"), "");
}

TEST(AdmissionTest, NegativeLimitsRejected) {
  Status overall = ValidateAdmissionLimits({.max_running_jobs = -1});
  ASSERT_FALSE(overall);
  EXPECT_EQ(overall.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(overall.error().message(), HasSubstr("--max-running-jobs -1 is invalid"));

  Status per_repository = ValidateAdmissionLimits({.max_running_jobs_per_repository = -2});
  ASSERT_FALSE(per_repository);
  EXPECT_THAT(per_repository.error().message(),
              HasSubstr("--max-running-jobs-per-repository -2 is invalid"));

  EXPECT_TRUE(ValidateAdmissionLimits({.max_running_jobs = 0}));
}

}  // namespace
}  // namespace tandem::api
