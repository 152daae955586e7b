#include "backends/slurm_states.h"

#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

namespace tandem::backends {
namespace {

// Captured from Slurm 22.05.8 (`scontrol show job -o 1`), shortened after Partition.
constexpr std::string_view kFailedJob =
    "JobId=1 JobName=tandem-x UserId=root(0) GroupId=root(0) MCS_label=N/A Priority=4294901759 "
    "Nice=0 Account=(null) QOS=(null) JobState=FAILED Reason=NonZeroExitCode Dependency=(null) "
    "Requeue=0 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=3:0 RunTime=00:00:02 TimeLimit=00:01:00 "
    "TimeMin=N/A SubmitTime=2026-12-04T22:56:45 Partition=debug\n";

struct StateCase {
  std::string slurm_state;
  ObservedState state;
  EndCause cause;
};

TEST(SlurmStateRule, EveryStateOfSlurm) {
  std::vector<StateCase> cases = {
      {"PENDING", ObservedState::kPending, EndCause::kUnspecified},
      {"CONFIGURING", ObservedState::kPending, EndCause::kUnspecified},
      {"REQUEUED", ObservedState::kPending, EndCause::kUnspecified},
      {"REQUEUE_HOLD", ObservedState::kPending, EndCause::kUnspecified},
      {"REQUEUE_FED", ObservedState::kPending, EndCause::kUnspecified},
      {"RESV_DEL_HOLD", ObservedState::kPending, EndCause::kUnspecified},
      {"RUNNING", ObservedState::kRunning, EndCause::kUnspecified},
      {"SUSPENDED", ObservedState::kRunning, EndCause::kUnspecified},
      {"STOPPED", ObservedState::kRunning, EndCause::kUnspecified},
      {"COMPLETING", ObservedState::kRunning, EndCause::kUnspecified},
      {"SIGNALING", ObservedState::kRunning, EndCause::kUnspecified},
      {"STAGE_OUT", ObservedState::kRunning, EndCause::kUnspecified},
      {"RESIZING", ObservedState::kRunning, EndCause::kUnspecified},
      {"COMPLETED", ObservedState::kSucceeded, EndCause::kUnspecified},
      {"FAILED", ObservedState::kFailed, EndCause::kUnspecified},
      {"SPECIAL_EXIT", ObservedState::kFailed, EndCause::kUnspecified},
      {"CANCELLED", ObservedState::kFailed, EndCause::kCancelled},
      {"TIMEOUT", ObservedState::kFailed, EndCause::kMaxRuntimeExceeded},
      {"DEADLINE", ObservedState::kFailed, EndCause::kMaxRuntimeExceeded},
      {"NODE_FAIL", ObservedState::kFailed, EndCause::kInterrupted},
      {"PREEMPTED", ObservedState::kFailed, EndCause::kInterrupted},
      {"BOOT_FAIL", ObservedState::kFailed, EndCause::kInterrupted},
      {"OUT_OF_MEMORY", ObservedState::kFailed, EndCause::kOutOfMemory},
      {"REVOKED", ObservedState::kGone, EndCause::kUnspecified},
      {"CANCELLED by 0", ObservedState::kFailed, EndCause::kCancelled},
      {"NO_SUCH_STATE", ObservedState::kUnknown, EndCause::kUnspecified},
      {"", ObservedState::kUnknown, EndCause::kUnspecified},
      {"pending", ObservedState::kUnknown, EndCause::kUnspecified},
  };
  for (const StateCase& c : cases) {
    SlurmStateRule rule = SlurmStateRuleFor(c.slurm_state);
    EXPECT_EQ(rule.state, c.state) << c.slurm_state;
    EXPECT_EQ(rule.cause, c.cause) << c.slurm_state;
  }
}

TEST(ParseScontrolShowJob, FailedJob) {
  Result<SlurmJobInfo> info = ParseScontrolShowJob(kFailedJob);
  ASSERT_TRUE(info) << info.error().message();
  EXPECT_EQ(info->job_id, "1");
  EXPECT_EQ(info->job_name, "tandem-x");
  EXPECT_EQ(info->job_state, "FAILED");
  EXPECT_EQ(info->reason, "NonZeroExitCode");
  EXPECT_EQ(info->exit_code, 3);
  EXPECT_FALSE(info->exit_signal);
}

TEST(ParseScontrolShowJob, SignalAndWarningLine) {
  std::string output = "scontrol: warning: something odd\n"
                       "JobId=7 JobName=a JobState=CANCELLED Reason=None ExitCode=0:15\n";
  Result<SlurmJobInfo> info = ParseScontrolShowJob(output);
  ASSERT_TRUE(info) << info.error().message();
  EXPECT_EQ(info->job_id, "7");
  EXPECT_EQ(info->exit_code, 0);
  EXPECT_EQ(info->exit_signal, 15);
}

TEST(ParseScontrolShowJob, RejectsErrorOutput) {
  Result<SlurmJobInfo> info =
      ParseScontrolShowJob("slurm_load_jobs error: Unable to contact slurm controller\n");
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(info.error().message().find("Unable to contact slurm controller"), std::string::npos);
}

TEST(ParseScontrolShowJob, RejectsLineWithoutState) {
  EXPECT_FALSE(ParseScontrolShowJob("JobId=3 JobName=x\n"));
  EXPECT_FALSE(ParseScontrolShowJob(""));
}

TEST(SaysInvalidJobId, CapturedOutput) {
  EXPECT_TRUE(SaysInvalidJobId("slurm_load_jobs error: Invalid job id specified\n"));
  EXPECT_FALSE(SaysInvalidJobId("slurm_load_jobs error: Unable to contact slurm controller\n"));
}

TEST(ParseSbatchJobId, PlainAndCluster) {
  EXPECT_EQ(ParseSbatchJobId("42\n").value_or(""), "42");
  EXPECT_EQ(ParseSbatchJobId("42;tandem-test\n").value_or(""), "42");
  EXPECT_EQ(ParseSbatchJobId("sbatch: warning: odd\n43\n").value_or(""), "43");
}

TEST(ParseSbatchJobId, RejectsErrorOutput) {
  Result<std::string> id = ParseSbatchJobId(
      "sbatch: error: Batch job submission failed: Invalid partition name specified\n");
  ASSERT_FALSE(id);
  EXPECT_NE(id.error().message().find("Invalid partition name"), std::string::npos);
}

TEST(ParseSqueueLines, Entries) {
  Result<std::vector<SqueueEntry>> entries = ParseSqueueLines("3|CANCELLED\n\n2|COMPLETED\n");
  ASSERT_TRUE(entries) << entries.error().message();
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[0].job_id, "3");
  EXPECT_EQ((*entries)[0].job_state, "CANCELLED");
  EXPECT_EQ((*entries)[1].job_id, "2");
  EXPECT_TRUE(ParseSqueueLines("").value().empty());
}

TEST(ParseSqueueLines, RejectsMalformedLine) {
  EXPECT_FALSE(ParseSqueueLines("3 RUNNING\n"));
  EXPECT_FALSE(ParseSqueueLines("3_1|RUNNING\n"));
  EXPECT_FALSE(ParseSqueueLines("3|\n"));
  EXPECT_FALSE(ParseSqueueLines("slurm_load_jobs error: Invalid job id specified\n"));
}

TEST(ClassifySbatchFailure, CapturedMessages) {
  std::vector<std::pair<std::string, ErrorCode>> cases = {
      {"sbatch: error: Batch job submission failed: Unable to contact slurm controller (connect "
       "failure)",
       ErrorCode::kUnavailable},
      {"sbatch: error: Batch job submission failed: More processors requested than permitted",
       ErrorCode::kInvalidArgument},
      {"sbatch: error: Memory specification can not be satisfied\nsbatch: error: Batch job "
       "submission failed: Requested node configuration is not available",
       ErrorCode::kInvalidArgument},
      {"sbatch: error: invalid partition specified: nope\nsbatch: error: Batch job submission "
       "failed: Invalid partition name specified",
       ErrorCode::kInvalidArgument},
      {"sbatch: error: Batch job submission failed: Job violates accounting/QOS policy (job "
       "submit limit, user's size and/or time limits)",
       ErrorCode::kResourceExhausted},
      {"sbatch: error: something new", ErrorCode::kInternal},
  };
  for (const auto& [output, code] : cases) {
    EXPECT_EQ(ClassifySbatchFailure(output), code) << output;
  }
}

TEST(ObservationFor, FailedWithExitCode) {
  Observation observation = ObservationFor(*ParseScontrolShowJob(kFailedJob));
  EXPECT_EQ(observation.state, ObservedState::kFailed);
  EXPECT_EQ(observation.exit_code, 3);
  EXPECT_EQ(observation.cause, EndCause::kUnspecified);
  EXPECT_EQ(observation.reason, "Slurm job 1 FAILED, reason NonZeroExitCode, exit code 3");
}

TEST(ObservationFor, TimeoutAndSignal) {
  Observation observation = ObservationFor(
      {.job_id = "5", .job_state = "TIMEOUT", .reason = "TimeLimit", .exit_code = 0,
       .exit_signal = 15});
  EXPECT_EQ(observation.state, ObservedState::kFailed);
  EXPECT_EQ(observation.cause, EndCause::kMaxRuntimeExceeded);
  EXPECT_FALSE(observation.exit_code);
  EXPECT_EQ(observation.reason, "Slurm job 5 TIMEOUT, reason TimeLimit, killed by signal 15");
}

TEST(ObservationFor, RunningHasNoExitCode) {
  Observation observation =
      ObservationFor({.job_id = "6", .job_state = "RUNNING", .reason = "None", .exit_code = 0});
  EXPECT_EQ(observation.state, ObservedState::kRunning);
  EXPECT_FALSE(observation.exit_code);
  EXPECT_EQ(observation.reason, "Slurm job 6 RUNNING");
}

TEST(ObservationFor, UnknownState) {
  Observation observation = ObservationFor({.job_id = "6", .job_state = "WEIRD"});
  EXPECT_EQ(observation.state, ObservedState::kUnknown);
  EXPECT_EQ(observation.reason, "unrecognized Slurm job state WEIRD");
}

TEST(SlurmTimeLimit, RoundsUpToMinutes) {
  EXPECT_EQ(SlurmTimeLimit(1, 0), "1");
  EXPECT_EQ(SlurmTimeLimit(60, 0), "1");
  EXPECT_EQ(SlurmTimeLimit(61, 0), "2");
  EXPECT_EQ(SlurmTimeLimit(3600, 300), "65");
  EXPECT_EQ(SlurmTimeLimit(0, 0), "1");
  EXPECT_EQ(SlurmTimeLimit(86400, 300), "1445");
}

}  // namespace
}  // namespace tandem::backends
