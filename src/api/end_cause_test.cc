// EndingForCause and the backend exit event for each backends::EndCause.
#include "api/end_cause.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "api/job_lifecycle.h"
#include "api/reconciler.h"
#include "backends/slurm_states.h"

namespace tandem::api {
namespace {

using backends::EndCause;
using backends::ObservedState;
using ::testing::HasSubstr;

store::Job RunningJob() {
  store::Job job;
  job.id = "job-000000000001";
  job.backend = "slurm";
  job.spec.max_runtime_s = 600;
  job.state.status = jobs::JobStatus::kInProgress;
  job.state.secondary_status = jobs::SecondaryStatus::kTraining;
  return job;
}

backends::Observation Failed(EndCause cause) {
  return {.state = ObservedState::kFailed, .reason = "Slurm job 7 X", .cause = cause};
}

TEST(EndingForCauseTest, NoCauseGivesNothing) {
  EXPECT_FALSE(EndingForCause(RunningJob(), Failed(EndCause::kUnspecified)));
  backends::Observation succeeded{.state = ObservedState::kSucceeded,
                                  .cause = EndCause::kCancelled};
  EXPECT_FALSE(EndingForCause(RunningJob(), succeeded));
  backends::Observation gone{.state = ObservedState::kGone, .cause = EndCause::kInterrupted};
  EXPECT_FALSE(EndingForCause(RunningJob(), gone));
}

TEST(EndingForCauseTest, MaxRuntimeNamesTheLimit) {
  std::optional<CauseEnding> ending =
      EndingForCause(RunningJob(), Failed(EndCause::kMaxRuntimeExceeded));
  ASSERT_TRUE(ending);
  EXPECT_EQ(ending->secondary, jobs::SecondaryStatus::kMaxRuntimeExceeded);
  EXPECT_THAT(ending->message, HasSubstr("MaxRuntimeInSeconds 600"));
  EXPECT_THAT(ending->message, HasSubstr("(Slurm job 7 X)"));
}

TEST(EndingForCauseTest, OutOfMemoryNamesTheLimitWhenSet) {
  store::Job job = RunningJob();
  std::optional<CauseEnding> without = EndingForCause(job, Failed(EndCause::kOutOfMemory));
  ASSERT_TRUE(without);
  EXPECT_EQ(without->secondary, jobs::SecondaryStatus::kFailed);
  EXPECT_THAT(without->message, HasSubstr("ran out of memory"));
  EXPECT_THAT(without->message, HasSubstr("default memory limit"));

  job.spec.resources.memory_mib = 2048;
  std::optional<CauseEnding> with = EndingForCause(job, Failed(EndCause::kOutOfMemory));
  ASSERT_TRUE(with);
  EXPECT_THAT(with->message, HasSubstr("ResourceConfig.MemoryMiB 2048"));
}

TEST(EndingForCauseTest, CancelledNamesTheBackend) {
  std::optional<CauseEnding> ending = EndingForCause(RunningJob(), Failed(EndCause::kCancelled));
  ASSERT_TRUE(ending);
  EXPECT_EQ(ending->secondary, jobs::SecondaryStatus::kFailed);
  EXPECT_THAT(ending->message, HasSubstr("cancelled on backend slurm, not through tandem"));
}

TEST(EndingForCauseTest, InterruptedIsFinal) {
  std::optional<CauseEnding> ending =
      EndingForCause(RunningJob(), Failed(EndCause::kInterrupted));
  ASSERT_TRUE(ending);
  EXPECT_EQ(ending->secondary, jobs::SecondaryStatus::kInterrupted);
  EXPECT_THAT(ending->message, HasSubstr("node failure or preemption on backend slurm"));
}

TEST(EndingForCauseTest, EmptyReasonAddsNoBrackets) {
  backends::Observation observation = Failed(EndCause::kInterrupted);
  observation.reason.clear();
  std::optional<CauseEnding> ending = EndingForCause(RunningJob(), observation);
  ASSERT_TRUE(ending);
  EXPECT_THAT(ending->message, ::testing::Not(HasSubstr("(")));
}

TEST(ExitEventTest, CausesSetTheSecondaryStatus) {
  struct Case {
    EndCause cause;
    jobs::SecondaryStatus secondary;
  };
  for (Case c : {Case{EndCause::kUnspecified, jobs::SecondaryStatus::kFailed},
                 Case{EndCause::kMaxRuntimeExceeded, jobs::SecondaryStatus::kMaxRuntimeExceeded},
                 Case{EndCause::kOutOfMemory, jobs::SecondaryStatus::kFailed},
                 Case{EndCause::kCancelled, jobs::SecondaryStatus::kFailed},
                 Case{EndCause::kInterrupted, jobs::SecondaryStatus::kInterrupted}}) {
    jobs::Event event = ExitEvent(RunningJob(), Failed(c.cause), 5);
    EXPECT_EQ(event.event_id, "backend-exit") << backends::Name(c.cause);
    EXPECT_EQ(event.secondary_status, c.secondary) << backends::Name(c.cause);
    EXPECT_EQ(event.status, jobs::JobStatus::kFailed) << backends::Name(c.cause);
    EXPECT_THAT(event.message, HasSubstr("Slurm job 7 X")) << backends::Name(c.cause);
  }
}

TEST(ExitEventTest, StoppingJobEndsStoppedWhateverTheCause) {
  store::Job job = RunningJob();
  job.state.status = jobs::JobStatus::kStopping;
  jobs::Event event = ExitEvent(job, Failed(EndCause::kCancelled), 5);
  EXPECT_EQ(event.secondary_status, jobs::SecondaryStatus::kStopped);
}

// From Slurm's JobState to the reconciler's event, through the Slurm
// backend's own mapping (backends/slurm_states.h).
TEST(SlurmEndStateTest, EachStateGivesItsSecondaryStatus) {
  struct Case {
    std::string slurm_state;
    jobs::SecondaryStatus secondary;
    std::string reason_part;
  };
  for (const Case& c : {
           Case{"FAILED", jobs::SecondaryStatus::kFailed, "Slurm job 7 FAILED"},
           Case{"TIMEOUT", jobs::SecondaryStatus::kMaxRuntimeExceeded, "MaxRuntimeInSeconds"},
           Case{"DEADLINE", jobs::SecondaryStatus::kMaxRuntimeExceeded, "MaxRuntimeInSeconds"},
           Case{"OUT_OF_MEMORY", jobs::SecondaryStatus::kFailed, "ran out of memory"},
           Case{"CANCELLED", jobs::SecondaryStatus::kFailed, "not through tandem"},
           Case{"NODE_FAIL", jobs::SecondaryStatus::kInterrupted, "node failure or preemption"},
           Case{"PREEMPTED", jobs::SecondaryStatus::kInterrupted, "node failure or preemption"},
           Case{"BOOT_FAIL", jobs::SecondaryStatus::kInterrupted, "node failure or preemption"},
       }) {
    backends::SlurmJobInfo info{.job_id = "7", .job_state = c.slurm_state, .exit_code = 0};
    backends::Observation observation = backends::ObservationFor(info);
    std::optional<jobs::Event> event = ReconcilerEvent(RunningJob(), observation, std::nullopt, 5);
    ASSERT_TRUE(event) << c.slurm_state;
    EXPECT_EQ(event->secondary_status, c.secondary) << c.slurm_state;
    EXPECT_EQ(event->status, jobs::JobStatus::kFailed) << c.slurm_state;
    EXPECT_THAT(event->message, HasSubstr(c.reason_part)) << c.slurm_state;
    EXPECT_THAT(event->message, HasSubstr(c.slurm_state)) << c.slurm_state;
  }
}

}  // namespace
}  // namespace tandem::api
