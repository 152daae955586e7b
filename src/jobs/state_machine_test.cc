#include "jobs/state_machine.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <random>
#include <string>
#include <vector>

namespace tandem::jobs {
namespace {

using ::testing::HasSubstr;
using S = SecondaryStatus;

// An event for `secondary` (or a progress report when nullopt) at `time`.
Event MakeEvent(std::optional<SecondaryStatus> secondary, int64_t time,
                EventSource source = EventSource::kRuntime, Json details = Json::object()) {
  Event event;
  event.event_id = fmt::format("e-{}", time);
  event.job_id = "job-1";
  event.source = source;
  event.observed_at_ms = time;
  if (secondary) {
    event.status = StatusOf(*secondary);
    event.secondary_status = *secondary;
  }
  event.message = secondary ? fmt::format("{} at {}", Name(*secondary), time) : "progress";
  event.details = std::move(details);
  return event;
}

JobState ApplyAll(JobState state, const std::vector<Event>& events) {
  for (const Event& event : events) state = Apply(state, event).state;
  return state;
}

// Builds a job in `target` through a plausible history with times below 100.
JobState StateIn(SecondaryStatus target) {
  JobState state = InitialJobState(0);
  std::vector<Event> path;
  switch (target) {
    case S::kStarting: break;
    case S::kRestarting: {
      state = ApplyAll(state, {MakeEvent(S::kTraining, 20)});
      state = Apply(state, MakeEvent(S::kInterrupted, 50, EventSource::kBackend), 1).state;
      break;
    }
    case S::kPending: path = {MakeEvent(S::kPending, 10)}; break;
    case S::kDownloading: path = {MakeEvent(S::kDownloading, 10)}; break;
    case S::kTraining: path = {MakeEvent(S::kDownloading, 10), MakeEvent(S::kTraining, 20)}; break;
    case S::kUploading:
      path = {MakeEvent(S::kTraining, 20), MakeEvent(S::kUploading, 30)};
      break;
    case S::kStopping:
      path = {MakeEvent(S::kTraining, 20), MakeEvent(S::kStopping, 40, EventSource::kApi)};
      break;
    case S::kStopped:
      path = {MakeEvent(S::kTraining, 20), MakeEvent(S::kStopping, 40, EventSource::kApi),
              MakeEvent(S::kStopped, 50)};
      break;
    default: path = {MakeEvent(S::kTraining, 20), MakeEvent(target, 50)}; break;
  }
  state = ApplyAll(state, path);
  EXPECT_EQ(state.secondary_status, target) << "could not build state " << Name(target);
  return state;
}

constexpr std::array<S, 12> kAllSecondary = {
    S::kStarting, S::kRestarting, S::kPending,  S::kDownloading, S::kTraining,
    S::kUploading, S::kStopping, S::kCompleted,  S::kFailed,
    S::kStopped,  S::kMaxRuntimeExceeded, S::kInterrupted};

// Expected verdicts for an event observed after everything in the job's
// history. Columns: progress report, then each event secondary status in
// kEventColumns order. 'm': accepted, moves to the event's status;
// 'p': accepted, status unchanged; 'r': rejected, state unchanged.
constexpr std::array<S, 12> kEventColumns = {
    S::kStarting, S::kRestarting, S::kPending, S::kDownloading, S::kTraining, S::kUploading, S::kStopping,
    S::kCompleted, S::kFailed, S::kStopped, S::kMaxRuntimeExceeded, S::kInterrupted};

struct Row {
  S state;
  const char* from_runtime;  // 13 letters
  const char* from_api;      // 13 letters
};

// Without a RetryStrategy, so Interrupted ends the job from every source.
constexpr std::array<Row, 12> kExpected = {{
    //                      p S R P D T U Stp C F Std M I
    {S::kStarting,         "pprmmmmrmmmmm", "pprmmmmmmmmmm"},
    {S::kRestarting,       "prrmmmmrmmmmm", "prrmmmmmmmmmm"},
    {S::kPending,          "prrpmmmrmmmmm", "prrpmmmmmmmmm"},
    {S::kDownloading,      "prrrpmmrmmmmm", "prrrpmmmmmmmm"},
    {S::kTraining,         "prrrrpmrmmmmm", "prrrrpmmmmmmm"},
    {S::kUploading,        "prrrrrprmmmmm", "prrrrrpmmmmmm"},
    {S::kStopping,         "prrrrrrrmmmmm", "prrrrrrpmmmmm"},
    {S::kCompleted,        "rrrrrrrrrrrrr", "rrrrrrrrrrrrr"},
    {S::kFailed,           "rrrrrrrrrrrrr", "rrrrrrrrrrrrr"},
    {S::kStopped,          "rrrrrrrrrrrrr", "rrrrrrrrrrrrr"},
    {S::kMaxRuntimeExceeded, "rrrrrrrrrrrrr", "rrrrrrrrrrrrr"},
    {S::kInterrupted,      "rrrrrrrrrrrrr", "rrrrrrrrrrrrr"},
}};

void CheckOutcome(const JobState& before, const Event& event, char expected) {
  Transition result = Apply(before, event);
  switch (expected) {
    case 'm':
      ASSERT_EQ(result.verdict, Verdict::kAccepted) << result.reason;
      EXPECT_EQ(result.state.secondary_status, *event.secondary_status);
      EXPECT_EQ(result.state.status, StatusOf(*event.secondary_status));
      EXPECT_EQ(result.state.transitions.back().status, *event.secondary_status);
      EXPECT_EQ(result.state.transitions.back().start_ms, event.observed_at_ms);
      break;
    case 'p':
      ASSERT_EQ(result.verdict, Verdict::kAccepted) << result.reason;
      EXPECT_EQ(result.state.status, before.status);
      EXPECT_EQ(result.state.secondary_status, before.secondary_status);
      EXPECT_EQ(result.state.transitions, before.transitions);
      break;
    default:
      ASSERT_EQ(result.verdict, Verdict::kRejected);
      EXPECT_FALSE(result.reason.empty());
      EXPECT_EQ(result.state, before);
      break;
  }
}

TEST(StateMachine, EveryStateAndEventKind) {
  ASSERT_EQ(kExpected.size(), kAllSecondary.size());
  for (const Row& row : kExpected) {
    JobState before = StateIn(row.state);
    for (EventSource source : {EventSource::kRuntime, EventSource::kApi, EventSource::kBackend,
                               EventSource::kReconciler}) {
      const char* letters = source == EventSource::kApi ? row.from_api : row.from_runtime;
      ASSERT_EQ(std::string(letters).size(), 13u);
      SCOPED_TRACE(fmt::format("state {} source {}", Name(row.state), Name(source)));
      {
        SCOPED_TRACE("progress report");
        CheckOutcome(before, MakeEvent(std::nullopt, 100, source, {{"Round", 1}}), letters[0]);
      }
      for (size_t i = 0; i < kEventColumns.size(); ++i) {
        SCOPED_TRACE(fmt::format("event {}", Name(kEventColumns[i])));
        CheckOutcome(before, MakeEvent(kEventColumns[i], 100, source), letters[i + 1]);
      }
    }
  }
}

TEST(StateMachine, StatusAloneFillsSecondary) {
  Event event = MakeEvent(std::nullopt, 100);
  event.status = JobStatus::kFailed;
  Transition result = Apply(StateIn(S::kTraining), event);
  ASSERT_EQ(result.verdict, Verdict::kAccepted);
  EXPECT_EQ(result.state.secondary_status, S::kFailed);

  event.status = JobStatus::kInProgress;  // InProgress alone is a progress report
  result = Apply(StateIn(S::kTraining), event);
  ASSERT_EQ(result.verdict, Verdict::kAccepted);
  EXPECT_EQ(result.state.secondary_status, S::kTraining);
}

TEST(StateMachine, InconsistentPairRejected) {
  Event event = MakeEvent(S::kTraining, 100);
  event.status = JobStatus::kCompleted;
  Transition result = Apply(StateIn(S::kTraining), event);
  EXPECT_EQ(result.verdict, Verdict::kRejected);
  EXPECT_THAT(result.reason, HasSubstr("Training cannot occur with TrainingJobStatus Completed"));
}

TEST(StateMachine, StoppingOnlyByApi) {
  Transition result = Apply(StateIn(S::kTraining), MakeEvent(S::kStopping, 100));
  EXPECT_EQ(result.verdict, Verdict::kRejected);
  EXPECT_THAT(result.reason, HasSubstr("only a stop request (source api)"));
}

TEST(StateMachine, TerminalReasonNamesStatus) {
  Transition result = Apply(StateIn(S::kCompleted), MakeEvent(S::kTraining, 100));
  EXPECT_EQ(result.verdict, Verdict::kRejected);
  EXPECT_EQ(result.reason, "job is already Completed");
  result = Apply(StateIn(S::kStopping), MakeEvent(S::kTraining, 100));
  EXPECT_THAT(result.reason, HasSubstr("job is Stopping"));
}

TEST(StateMachine, FullLifecycleHistory) {
  JobState state = ApplyAll(InitialJobState(0),
                            {MakeEvent(S::kDownloading, 10), MakeEvent(S::kTraining, 20),
                             MakeEvent(S::kUploading, 30), MakeEvent(S::kCompleted, 40)});
  EXPECT_EQ(state.status, JobStatus::kCompleted);
  ASSERT_EQ(state.transitions.size(), 5u);
  std::vector<std::pair<int64_t, std::optional<int64_t>>> times;
  for (const auto& entry : state.transitions) times.emplace_back(entry.start_ms, entry.end_ms);
  EXPECT_EQ(times, (std::vector<std::pair<int64_t, std::optional<int64_t>>>{
                       {0, 10}, {10, 20}, {20, 30}, {30, 40}, {40, 40}}));
  EXPECT_EQ(state.transitions[2].message, "Training at 20");
  EXPECT_EQ(state.training_start_ms, 10);
  EXPECT_EQ(state.training_end_ms, 40);
  EXPECT_EQ(state.failure_reason, "");
}

TEST(StateMachine, SameStatusUpdatesProgressOnly) {
  JobState state = StateIn(S::kTraining);
  Transition result = Apply(state, MakeEvent(S::kTraining, 25, EventSource::kRuntime,
                                             {{"Round", 5}, {"TotalRounds", 10}}));
  ASSERT_EQ(result.verdict, Verdict::kAccepted);
  EXPECT_EQ(result.state.transitions, state.transitions);
  EXPECT_EQ(result.state.progress["Round"], 5);
  EXPECT_EQ(result.state.progress_observed_ms, 25);

  // An older progress report does not overwrite a newer one.
  Transition older = Apply(result.state, MakeEvent(S::kTraining, 22, EventSource::kRuntime,
                                                   {{"Round", 2}}));
  ASSERT_EQ(older.verdict, Verdict::kAccepted);
  EXPECT_EQ(older.state.progress["Round"], 5);
}

TEST(StateMachine, LateEventInsertedInOrder) {
  JobState state = ApplyAll(InitialJobState(0), {MakeEvent(S::kTraining, 20)});
  ASSERT_EQ(state.transitions.size(), 2u);
  EXPECT_EQ(state.transitions[0].end_ms, 20);

  Transition result = Apply(state, MakeEvent(S::kDownloading, 10));
  ASSERT_EQ(result.verdict, Verdict::kAccepted) << result.reason;
  EXPECT_EQ(result.state.secondary_status, S::kTraining);
  ASSERT_EQ(result.state.transitions.size(), 3u);
  EXPECT_EQ(result.state.transitions[1].status, S::kDownloading);
  EXPECT_EQ(result.state.transitions[0].end_ms, 10);
  EXPECT_EQ(result.state.transitions[1].end_ms, 20);
  EXPECT_EQ(result.state.training_start_ms, 10);
}

TEST(StateMachine, StaleLowerStatusRejected) {
  JobState state = StateIn(S::kTraining);  // Downloading at 10, Training at 20
  Transition result = Apply(state, MakeEvent(S::kDownloading, 25));
  EXPECT_EQ(result.verdict, Verdict::kRejected);
  EXPECT_THAT(result.reason, HasSubstr("Downloading observed at"));
  EXPECT_THAT(result.reason, HasSubstr("is behind Training"));
  EXPECT_EQ(result.state, state);
}

TEST(StateMachine, EarlierObservationMovesEntryStart) {
  JobState state = StateIn(S::kTraining);  // Training entry at 20
  Transition result = Apply(state, MakeEvent(S::kTraining, 15));
  ASSERT_EQ(result.verdict, Verdict::kAccepted) << result.reason;
  EXPECT_EQ(result.state.transitions.back().start_ms, 15);
  EXPECT_EQ(result.state.transitions[1].end_ms, 15);

  // Before Downloading began: out of order.
  Transition before_download = Apply(state, MakeEvent(S::kTraining, 5));
  EXPECT_EQ(before_download.verdict, Verdict::kRejected);
  EXPECT_THAT(before_download.reason, HasSubstr("is before Downloading began"));
}

TEST(StateMachine, LateEventAfterTerminalFoldedIntoHistory) {
  JobState state = ApplyAll(InitialJobState(0),
                            {MakeEvent(S::kTraining, 20), MakeEvent(S::kCompleted, 40)});
  Transition late = Apply(state, MakeEvent(S::kUploading, 30));
  ASSERT_EQ(late.verdict, Verdict::kAccepted) << late.reason;
  EXPECT_EQ(late.state.status, JobStatus::kCompleted);
  ASSERT_EQ(late.state.transitions.size(), 4u);
  EXPECT_EQ(late.state.transitions[2].status, S::kUploading);

  Transition after = Apply(state, MakeEvent(S::kUploading, 45));
  EXPECT_EQ(after.verdict, Verdict::kRejected);
  EXPECT_EQ(after.reason, "job is already Completed");

  Transition progress_after = Apply(state, MakeEvent(std::nullopt, 45));
  EXPECT_EQ(progress_after.verdict, Verdict::kRejected);
  Transition progress_before = Apply(state, MakeEvent(std::nullopt, 35));
  EXPECT_EQ(progress_before.verdict, Verdict::kAccepted);
}

TEST(StateMachine, FailureReasons) {
  Event failed = MakeEvent(S::kFailed, 100);
  failed.message = "AlgorithmError: label column delay not found";
  EXPECT_EQ(Apply(StateIn(S::kTraining), failed).state.failure_reason, failed.message);

  Event max_runtime = MakeEvent(S::kMaxRuntimeExceeded, 100);
  max_runtime.message = "";
  Transition result = Apply(StateIn(S::kTraining), max_runtime);
  EXPECT_EQ(result.state.status, JobStatus::kFailed);
  EXPECT_EQ(result.state.secondary_status, S::kMaxRuntimeExceeded);
  EXPECT_THAT(result.state.failure_reason, HasSubstr("MaxRuntimeInSeconds"));

  Event interrupted = MakeEvent(S::kInterrupted, 100);
  interrupted.message = "";
  result = Apply(StateIn(S::kTraining), interrupted);
  EXPECT_EQ(result.state.status, JobStatus::kFailed);
  EXPECT_EQ(result.state.failure_reason, "job was interrupted");

  EXPECT_EQ(Apply(StateIn(S::kStopping), MakeEvent(S::kStopped, 100)).state.failure_reason, "");
}

TEST(StateMachine, StopRacedByCompletion) {
  Transition result = Apply(StateIn(S::kStopping), MakeEvent(S::kCompleted, 100));
  ASSERT_EQ(result.verdict, Verdict::kAccepted);
  EXPECT_EQ(result.state.status, JobStatus::kCompleted);
  Transition stopped_after = Apply(result.state, MakeEvent(S::kStopped, 101));
  EXPECT_EQ(stopped_after.verdict, Verdict::kRejected);
}

TEST(StateMachine, SkewedForwardMoveStartsAfterPrevious) {
  JobState state = StateIn(S::kTraining);  // Training at 20
  Transition result = Apply(state, MakeEvent(S::kUploading, 18));
  ASSERT_EQ(result.verdict, Verdict::kAccepted);
  EXPECT_EQ(result.state.secondary_status, S::kUploading);
  EXPECT_EQ(result.state.transitions.back().start_ms, 20);
}

TEST(StateMachine, DuplicateEventChangesNothingTwice) {
  JobState state = StateIn(S::kDownloading);
  Event event = MakeEvent(S::kTraining, 30, EventSource::kRuntime, {{"Round", 1}});
  JobState once = Apply(state, event).state;
  Transition twice = Apply(once, event);
  EXPECT_EQ(twice.verdict, Verdict::kAccepted);
  EXPECT_EQ(twice.state, once);
}

// One job's true history: times rise with lifecycle rank, one ending event,
// progress reports in between.
std::vector<Event> TrueHistory(SecondaryStatus ending) {
  std::vector<Event> events = {
      MakeEvent(S::kPending, 10),
      MakeEvent(S::kDownloading, 20, EventSource::kRuntime, {{"RowsRead", 100}}),
      MakeEvent(std::nullopt, 25, EventSource::kRuntime, {{"RowsRead", 500}}),
      MakeEvent(S::kTraining, 30, EventSource::kRuntime, {{"Round", 0}}),
      MakeEvent(S::kTraining, 35, EventSource::kRuntime, {{"Round", 1}}),
      MakeEvent(std::nullopt, 37, EventSource::kRuntime, {{"Round", 2}}),
  };
  if (ending == S::kStopped) {
    events.push_back(MakeEvent(S::kStopping, 40, EventSource::kApi));
  } else {
    events.push_back(MakeEvent(S::kUploading, 40));
  }
  events.push_back(MakeEvent(ending, 50));
  return events;
}

TEST(StateMachine, ShuffledDeliveryConverges) {
  std::mt19937 random(20261204);
  for (S ending : {S::kCompleted, S::kFailed, S::kStopped, S::kMaxRuntimeExceeded}) {
    SCOPED_TRACE(Name(ending));
    std::vector<Event> events = TrueHistory(ending);
    JobState expected = ApplyAll(InitialJobState(0), events);
    EXPECT_EQ(expected.secondary_status, ending);
    EXPECT_EQ(expected.transitions.size(), 6u);  // Starting, Pending, ..., the ending

    for (int trial = 0; trial < 300; ++trial) {
      std::vector<Event> shuffled = events;
      // Deliver some events twice, as at-least-once delivery does.
      shuffled.push_back(events[trial % events.size()]);
      std::shuffle(shuffled.begin(), shuffled.end(), random);
      JobState state = ApplyAll(InitialJobState(0), shuffled);
      ASSERT_EQ(state, expected) << "trial " << trial;
    }
  }
}

// Attempts and retries.

Event OfAttempt(Event event, int64_t attempt) {
  event.attempt = attempt;
  return event;
}

// A job interrupted while Training at 50, retried once: attempt 2, Restarting.
JobState RetriedOnce(int64_t max_retry_attempts) {
  JobState state = StateIn(S::kTraining);
  Event interrupted = OfAttempt(MakeEvent(S::kInterrupted, 50, EventSource::kBackend), 1);
  interrupted.message = "node n1 failed";
  Transition result = Apply(state, interrupted, max_retry_attempts);
  EXPECT_EQ(result.verdict, Verdict::kAccepted) << result.reason;
  return result.state;
}

TEST(StateMachine, InterruptionRetriedWithAttemptsLeft) {
  JobState state = RetriedOnce(2);
  EXPECT_EQ(state.status, JobStatus::kInProgress);
  EXPECT_EQ(state.secondary_status, S::kRestarting);
  EXPECT_EQ(state.attempt, 2);
  EXPECT_EQ(state.failure_reason, "");
  EXPECT_EQ(state.training_end_ms, std::nullopt);
  ASSERT_EQ(state.transitions.size(), 5u);  // Starting, Downloading, Training, Interrupted, Restarting
  const StatusTransition& interrupted = state.transitions[3];
  EXPECT_EQ(interrupted.status, S::kInterrupted);
  EXPECT_EQ(interrupted.attempt, 1);
  EXPECT_EQ(interrupted.message, "node n1 failed");
  EXPECT_EQ(interrupted.end_ms, 50);
  const StatusTransition& restarting = state.transitions[4];
  EXPECT_EQ(restarting.status, S::kRestarting);
  EXPECT_EQ(restarting.attempt, 2);
  EXPECT_EQ(restarting.start_ms, 50);
  EXPECT_EQ(restarting.message, "attempt 2 of 3: retrying after an interruption");
}

TEST(StateMachine, RetriedAttemptRunsToCompletion) {
  JobState state = RetriedOnce(2);
  state = ApplyAll(state, {OfAttempt(MakeEvent(S::kPending, 60, EventSource::kBackend), 2),
                           OfAttempt(MakeEvent(S::kDownloading, 70), 2),
                           OfAttempt(MakeEvent(S::kTraining, 80), 2),
                           OfAttempt(MakeEvent(S::kCompleted, 90), 2)});
  EXPECT_EQ(state.status, JobStatus::kCompleted);
  EXPECT_EQ(state.attempt, 2);
  ASSERT_EQ(state.transitions.size(), 9u);
  for (size_t i = 4; i < state.transitions.size(); ++i) {
    EXPECT_EQ(state.transitions[i].attempt, 2) << "entry " << i;
  }
  EXPECT_EQ(state.training_start_ms, 10);  // the first attempt's Downloading
  EXPECT_EQ(state.training_end_ms, 90);
}

TEST(StateMachine, EventsWithoutAttemptApplyToCurrentOne) {
  JobState state = RetriedOnce(1);
  Transition result = Apply(state, MakeEvent(S::kTraining, 60));
  ASSERT_EQ(result.verdict, Verdict::kAccepted) << result.reason;
  EXPECT_EQ(result.state.transitions.back().attempt, 2);
  EXPECT_EQ(result.state.secondary_status, S::kTraining);
}

TEST(StateMachine, NoRetryWithoutAttemptsLeft) {
  JobState state = RetriedOnce(1);
  Event again = OfAttempt(MakeEvent(S::kInterrupted, 70, EventSource::kReconciler), 2);
  Transition result = Apply(state, again, 1);
  ASSERT_EQ(result.verdict, Verdict::kAccepted) << result.reason;
  EXPECT_EQ(result.state.status, JobStatus::kFailed);
  EXPECT_EQ(result.state.secondary_status, S::kInterrupted);
  EXPECT_EQ(result.state.attempt, 2);
  EXPECT_EQ(result.state.failure_reason, again.message);
  EXPECT_EQ(result.state.training_end_ms, 70);

  Transition never = Apply(StateIn(S::kTraining), MakeEvent(S::kInterrupted, 70,
                                                            EventSource::kBackend));
  EXPECT_EQ(never.state.status, JobStatus::kFailed);
  EXPECT_EQ(never.state.attempt, 1);
}

TEST(StateMachine, UserFailureNeverRetried) {
  for (S ending : {S::kFailed, S::kMaxRuntimeExceeded}) {
    SCOPED_TRACE(Name(ending));
    Transition result = Apply(StateIn(S::kTraining), MakeEvent(ending, 70, EventSource::kBackend), 3);
    EXPECT_EQ(result.state.status, JobStatus::kFailed);
    EXPECT_EQ(result.state.attempt, 1);
  }
  // The runtime shares its environment with user code, so its Interrupted is an end.
  Transition from_runtime = Apply(StateIn(S::kTraining), MakeEvent(S::kInterrupted, 70), 3);
  EXPECT_EQ(from_runtime.state.status, JobStatus::kFailed);
  EXPECT_EQ(from_runtime.state.secondary_status, S::kInterrupted);
  EXPECT_EQ(from_runtime.state.attempt, 1);
}

TEST(StateMachine, StoppingJobInterruptedNotRetried) {
  Transition result = Apply(StateIn(S::kStopping),
                            MakeEvent(S::kInterrupted, 70, EventSource::kBackend), 3);
  ASSERT_EQ(result.verdict, Verdict::kAccepted) << result.reason;
  EXPECT_EQ(result.state.status, JobStatus::kFailed);
  EXPECT_EQ(result.state.secondary_status, S::kInterrupted);
  EXPECT_EQ(result.state.attempt, 1);
}

TEST(StateMachine, LateEventsOfEarlierAttemptIgnored) {
  JobState state = RetriedOnce(2);
  for (S late : {S::kCompleted, S::kFailed, S::kUploading, S::kInterrupted}) {
    SCOPED_TRACE(Name(late));
    Transition result = Apply(state, OfAttempt(MakeEvent(late, 60, EventSource::kRuntime), 1), 2);
    EXPECT_EQ(result.verdict, Verdict::kRejected);
    EXPECT_EQ(result.reason, "event of attempt 1 ignored: the job is on attempt 2");
    EXPECT_EQ(result.state, state);
  }
  Transition progress = Apply(state, OfAttempt(MakeEvent(std::nullopt, 60, EventSource::kRuntime,
                                                         {{"Round", 9}}), 1));
  EXPECT_EQ(progress.verdict, Verdict::kRejected);
  EXPECT_EQ(progress.state, state);

  Transition future = Apply(state, OfAttempt(MakeEvent(S::kTraining, 60), 3));
  EXPECT_EQ(future.verdict, Verdict::kRejected);
  EXPECT_EQ(future.reason, "event of attempt 3 ignored: the job is on attempt 2");
}

TEST(StateMachine, RepeatedInterruptionRetriesOnce) {
  JobState state = StateIn(S::kTraining);
  Event interrupted = OfAttempt(MakeEvent(S::kInterrupted, 50, EventSource::kReconciler), 1);
  JobState once = Apply(state, interrupted, 5).state;
  Transition twice = Apply(once, interrupted, 5);
  EXPECT_EQ(twice.verdict, Verdict::kRejected);
  EXPECT_EQ(twice.state, once);
  EXPECT_EQ(twice.state.attempt, 2);
}

TEST(StateMachine, RestartingOnlyThroughRetry) {
  Transition result = Apply(StateIn(S::kTraining), MakeEvent(S::kRestarting, 60));
  EXPECT_EQ(result.verdict, Verdict::kRejected);
  EXPECT_EQ(result.reason, "only a retry of an interrupted job moves it to Restarting");

  Transition starting = Apply(RetriedOnce(1), MakeEvent(S::kStarting, 60));
  EXPECT_EQ(starting.verdict, Verdict::kRejected);
  EXPECT_EQ(starting.reason, "attempt 2 began in Restarting, not Starting");
}

TEST(StateMachine, RetriedJobStoppedBeforeRelaunch) {
  JobState state = RetriedOnce(1);
  state = ApplyAll(state, {MakeEvent(S::kStopping, 60, EventSource::kApi),
                           MakeEvent(S::kStopped, 61, EventSource::kApi)});
  EXPECT_EQ(state.status, JobStatus::kStopped);
  EXPECT_EQ(state.transitions.back().attempt, 2);
}

TEST(StateMachine, LateHistoryStaysInCurrentAttempt) {
  JobState state = RetriedOnce(1);
  state = ApplyAll(state, {OfAttempt(MakeEvent(S::kTraining, 80), 2)});
  // Downloading of attempt 2 arrives late: it lands in attempt 2, before Training.
  Transition result = Apply(state, OfAttempt(MakeEvent(S::kDownloading, 70), 2));
  ASSERT_EQ(result.verdict, Verdict::kAccepted) << result.reason;
  const auto& history = result.state.transitions;
  ASSERT_EQ(history.size(), 7u);
  EXPECT_EQ(history[5].status, S::kDownloading);
  EXPECT_EQ(history[5].attempt, 2);
  EXPECT_EQ(history[1].status, S::kDownloading);  // attempt 1's entry is unchanged
  EXPECT_EQ(history[1].start_ms, 10);
  // One observed before the retry contradicts the Restarting entry.
  Transition before_retry = Apply(state, OfAttempt(MakeEvent(S::kDownloading, 40), 2));
  EXPECT_EQ(before_retry.verdict, Verdict::kRejected);
}

TEST(StateMachine, VerdictNames) {
  EXPECT_EQ(Name(Verdict::kAccepted), "Accepted");
  EXPECT_EQ(ParseVerdict("Rejected"), Verdict::kRejected);
  EXPECT_FALSE(ParseVerdict("accepted"));
}

}  // namespace
}  // namespace tandem::jobs
