// The periodic reconciler against a scripted Backend: each answer of
// Describe becomes exactly one event (or none).
#include "api/reconciler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <map>

#include "api/api_test_fixture.h"

namespace tandem::api {
namespace {

using ::testing::HasSubstr;

// Describe answers per native id; an id without an answer is kUnavailable.
class ScriptedBackend final : public backends::Backend {
 public:
  std::string_view name() const override { return "scripted"; }
  Result<backends::LaunchInfo> Launch(const backends::LaunchRequest&) override {
    return Unavailable("scripted backend launches nothing");
  }
  Status Stop(std::string_view, std::chrono::seconds) override { return Ok(); }
  Result<backends::Observation> Describe(std::string_view native_id) override {
    ++describe_calls;
    auto it = answers.find(std::string(native_id));
    if (it == answers.end()) return Unavailable(fmt::format("cannot ask about {}", native_id));
    return it->second;
  }
  std::map<std::string, backends::Observation> answers;
  int describe_calls = 0;
};

std::string FakeTarArchive(char fill) {
  std::string archive(2048, '\0');
  archive.replace(257, 6, std::string("ustar\0", 6));
  archive[0] = fill;
  return archive;
}

class ReconcilerTest : public ApiTest {
 protected:
  static constexpr int64_t kQuietMillis = 30000;

  void SetUp() override {
    ApiTest::SetUp();
    if (HasFatalFailure()) return;
    CreateJob(ValidSpec());
    Result<store::JobPage> page = store_->ListJobs({});
    ASSERT_TRUE(page.has_value());
    ASSERT_EQ(page->jobs.size(), 1u);
    job_id_ = page->jobs[0].id;
    Result<store::Job> stored = store_->GetJob(job_id_);
    ASSERT_TRUE(stored.has_value());
    native_id_ = stored->native_id;
    ASSERT_FALSE(native_id_.empty());
    reconciler_ = std::make_unique<Reconciler>(ReconcilerOptions{}, *store_, scripted_, clock_);
  }

  void Answer(backends::ObservedState state, std::string reason = "",
              std::optional<int> exit_code = std::nullopt) {
    scripted_.answers[native_id_] = {.state = state, .reason = reason, .exit_code = exit_code};
  }
  ReconcilePass PassAfterQuiet() {
    clock_.Advance(kQuietMillis);
    Result<ReconcilePass> pass = reconciler_->RunOnce();
    EXPECT_TRUE(pass.has_value());
    return pass.value_or(ReconcilePass{});
  }
  store::Job Job() { return store_->GetJob(job_id_).value(); }
  std::vector<store::StoredEvent> ReconcilerEvents() {
    std::vector<store::StoredEvent> found;
    std::vector<store::StoredEvent> all = store_->ListEvents(job_id_).value();
    for (store::StoredEvent& event : all) {
      if (event.event.source == jobs::EventSource::kReconciler) found.push_back(event);
    }
    return found;
  }

  std::string job_id_;
  std::string native_id_;
  ScriptedBackend scripted_;
  std::unique_ptr<Reconciler> reconciler_;
};

TEST_F(ReconcilerTest, RunningAndPendingRecordNothing) {
  for (auto state : {backends::ObservedState::kRunning, backends::ObservedState::kPending}) {
    Answer(state);
    ReconcilePass pass = PassAfterQuiet();
    EXPECT_EQ(pass.examined, 1);
    EXPECT_EQ(pass.ended, 0);
  }
  EXPECT_TRUE(ReconcilerEvents().empty());
  EXPECT_EQ(Job().state.status, jobs::JobStatus::kInProgress);
}

TEST_F(ReconcilerTest, UnavailableRecordsNothingAndIsCounted) {
  ReconcilePass pass = PassAfterQuiet();  // no answer scripted: kUnavailable
  EXPECT_EQ(pass.unavailable, 1);
  Answer(backends::ObservedState::kUnknown);
  pass = PassAfterQuiet();
  EXPECT_EQ(pass.unavailable, 1);
  EXPECT_EQ(reconciler_->unavailable_total(), 2);
  EXPECT_TRUE(ReconcilerEvents().empty());
  EXPECT_EQ(Job().state.status, jobs::JobStatus::kInProgress);
}

TEST_F(ReconcilerTest, JobsNotQuietLongEnoughAreNotAsked) {
  Answer(backends::ObservedState::kGone);
  clock_.Advance(kQuietMillis - 1);
  ReconcilePass pass = reconciler_->RunOnce().value();
  EXPECT_EQ(pass.examined, 0);
  EXPECT_EQ(scripted_.describe_calls, 0);
  EXPECT_EQ(Job().state.status, jobs::JobStatus::kInProgress);
}

TEST_F(ReconcilerTest, GoneEndsFailedProcessNoLongerRunning) {
  Answer(backends::ObservedState::kGone);
  EXPECT_EQ(PassAfterQuiet().ended, 1);
  store::Job job = Job();
  EXPECT_EQ(job.state.status, jobs::JobStatus::kFailed);
  EXPECT_EQ(job.state.failure_reason, "process no longer running");
  std::vector<store::StoredEvent> events = ReconcilerEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event.event_id, "reconciler-end");
  EXPECT_EQ(events[0].event.secondary_status, jobs::SecondaryStatus::kFailed);
  // A later pass leaves the ended job alone.
  EXPECT_EQ(PassAfterQuiet().examined, 0);
}

TEST_F(ReconcilerTest, FailedEndsFailedWithTheBackendReason) {
  Answer(backends::ObservedState::kFailed, "killed by signal 9");
  PassAfterQuiet();
  EXPECT_EQ(Job().state.status, jobs::JobStatus::kFailed);
  EXPECT_EQ(Job().state.failure_reason, "killed by signal 9");
}

TEST_F(ReconcilerTest, FailedWithoutReasonNamesTheExitCode) {
  Answer(backends::ObservedState::kFailed, "", 3);
  PassAfterQuiet();
  EXPECT_EQ(Job().state.failure_reason, "process exited with code 3");
}

TEST_F(ReconcilerTest, SucceededWithoutUploadEndsFailed) {
  Answer(backends::ObservedState::kSucceeded, "", 0);
  PassAfterQuiet();
  EXPECT_EQ(Job().state.status, jobs::JobStatus::kFailed);
  EXPECT_EQ(Job().state.failure_reason,
            "process exited with code 0 but never reported completion");
  EXPECT_FALSE(Job().model_version.has_value());
}

TEST_F(ReconcilerTest, SucceededWithUploadCompletesAndRegistersOnce) {
  std::string token = JobTokenOf(job_id_);
  http::Response uploaded = Send("PUT", fmt::format("/api/v1/jobs/{}/model-package", job_id_),
                                 FakeTarArchive('a'), token, "application/x-tar");
  ASSERT_EQ(uploaded.status, 201) << uploaded.body;
  Answer(backends::ObservedState::kSucceeded, "", 0);
  EXPECT_EQ(PassAfterQuiet().ended, 1);
  store::Job job = Job();
  EXPECT_EQ(job.state.status, jobs::JobStatus::kCompleted);
  ASSERT_TRUE(job.model_version.has_value());
  EXPECT_EQ(job.model_version->version, 1);
  // The Completed event arriving late is rejected and registers nothing more.
  Json late = RuntimeEvent("completed", "Completed", clock_.NowMillis(),
                           {{"ModelPackage", {{"Digest", BodyOf(uploaded)["Digest"]},
                                              {"SizeBytes", BodyOf(uploaded)["SizeBytes"]}}}});
  http::Response posted =
      Send("POST", fmt::format("/api/v1/jobs/{}/events", job_id_), late.dump(), token);
  ASSERT_EQ(posted.status, 202) << posted.body;
  EXPECT_EQ(BodyOf(posted)["Verdict"], "Rejected");
  PassAfterQuiet();
  EXPECT_EQ(store_->ListModelVersions(job.model_version->model_name).value().size(), 1u);
}

TEST_F(ReconcilerTest, StoppingJobWhoseProcessIsGoneEndsStopped) {
  ASSERT_EQ(Send("POST", fmt::format("/api/v1/jobs/{}/stop", job_id_)).status / 100, 2);
  ASSERT_EQ(Job().state.status, jobs::JobStatus::kStopping);
  Answer(backends::ObservedState::kGone);
  PassAfterQuiet();
  EXPECT_EQ(Job().state.status, jobs::JobStatus::kStopped);
  std::vector<store::StoredEvent> events = ReconcilerEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_THAT(events[0].event.message, HasSubstr("stopped"));
}

TEST(ReconcilerEventTest, EachAnswerGivesTheExactEvent) {
  store::Job job;
  job.id = "job-000000000001";
  job.state.status = jobs::JobStatus::kInProgress;
  using backends::ObservedState;
  EXPECT_FALSE(ReconcilerEvent(job, {.state = ObservedState::kRunning}, std::nullopt, 5));
  EXPECT_FALSE(ReconcilerEvent(job, {.state = ObservedState::kPending}, std::nullopt, 5));
  EXPECT_FALSE(ReconcilerEvent(job, {.state = ObservedState::kUnknown}, std::nullopt, 5));
  std::optional<jobs::Event> gone =
      ReconcilerEvent(job, {.state = ObservedState::kGone}, std::nullopt, 5);
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->source, jobs::EventSource::kReconciler);
  EXPECT_EQ(gone->observed_at_ms, 5);
  EXPECT_EQ(gone->status, jobs::JobStatus::kFailed);
  std::optional<jobs::Event> completed = ReconcilerEvent(
      job, {.state = ObservedState::kSucceeded},
      jobs::ModelPackageRef{.digest = "sha256:" + std::string(64, 'b'), .size_bytes = 7}, 5);
  ASSERT_TRUE(completed);
  EXPECT_EQ(completed->status, jobs::JobStatus::kCompleted);
  EXPECT_EQ(completed->details["ModelPackage"]["SizeBytes"], 7);
}

// Each backend end cause through a full pass: the stored job's status,
// secondary status and failure reason.
class ReconcilerEndCauseTest : public ReconcilerTest {
 protected:
  void AnswerFailed(backends::EndCause cause, std::string reason) {
    scripted_.answers[native_id_] = {
        .state = backends::ObservedState::kFailed, .reason = std::move(reason), .cause = cause};
  }
};

TEST_F(ReconcilerEndCauseTest, TimeoutEndsMaxRuntimeExceeded) {
  AnswerFailed(backends::EndCause::kMaxRuntimeExceeded, "Slurm job 7 TIMEOUT");
  EXPECT_EQ(PassAfterQuiet().ended, 1);
  store::Job job = Job();
  EXPECT_EQ(job.state.status, jobs::JobStatus::kFailed);
  EXPECT_EQ(job.state.secondary_status, jobs::SecondaryStatus::kMaxRuntimeExceeded);
  EXPECT_THAT(job.state.failure_reason, HasSubstr("StoppingCondition.MaxRuntimeInSeconds"));
  EXPECT_THAT(job.state.failure_reason, HasSubstr("Slurm job 7 TIMEOUT"));
}

TEST_F(ReconcilerEndCauseTest, OutOfMemoryNamesMemory) {
  AnswerFailed(backends::EndCause::kOutOfMemory, "Slurm job 7 OUT_OF_MEMORY");
  PassAfterQuiet();
  store::Job job = Job();
  EXPECT_EQ(job.state.status, jobs::JobStatus::kFailed);
  EXPECT_EQ(job.state.secondary_status, jobs::SecondaryStatus::kFailed);
  EXPECT_THAT(job.state.failure_reason, HasSubstr("ran out of memory"));
  EXPECT_THAT(job.state.failure_reason, HasSubstr("Slurm job 7 OUT_OF_MEMORY"));
}

TEST_F(ReconcilerEndCauseTest, CancelledOutsideTandemEndsFailed) {
  AnswerFailed(backends::EndCause::kCancelled, "Slurm job 7 CANCELLED");
  PassAfterQuiet();
  store::Job job = Job();
  EXPECT_EQ(job.state.status, jobs::JobStatus::kFailed);
  EXPECT_EQ(job.state.secondary_status, jobs::SecondaryStatus::kFailed);
  EXPECT_THAT(job.state.failure_reason, HasSubstr("cancelled"));
  EXPECT_THAT(job.state.failure_reason, HasSubstr("not through tandem"));
}

TEST_F(ReconcilerEndCauseTest, CancelledWhileStoppingEndsStopped) {
  ASSERT_EQ(Send("POST", fmt::format("/api/v1/jobs/{}/stop", job_id_)).status / 100, 2);
  ASSERT_EQ(Job().state.status, jobs::JobStatus::kStopping);
  AnswerFailed(backends::EndCause::kCancelled, "Slurm job 7 CANCELLED");
  PassAfterQuiet();
  store::Job job = Job();
  EXPECT_EQ(job.state.status, jobs::JobStatus::kStopped);
  EXPECT_EQ(job.state.secondary_status, jobs::SecondaryStatus::kStopped);
  EXPECT_TRUE(job.state.failure_reason.empty());
}

TEST_F(ReconcilerEndCauseTest, NodeFailureEndsInterrupted) {
  AnswerFailed(backends::EndCause::kInterrupted, "Slurm job 7 NODE_FAIL");
  PassAfterQuiet();
  store::Job job = Job();
  EXPECT_EQ(job.state.status, jobs::JobStatus::kFailed);
  EXPECT_EQ(job.state.secondary_status, jobs::SecondaryStatus::kInterrupted);
  EXPECT_THAT(job.state.failure_reason, HasSubstr("node failure or preemption"));
  EXPECT_THAT(job.state.failure_reason, HasSubstr("Slurm job 7 NODE_FAIL"));
  // A later pass leaves the ended job alone.
  EXPECT_EQ(PassAfterQuiet().examined, 0);
}

TEST_F(ReconcilerEndCauseTest, UnspecifiedKeepsTheBackendReason) {
  AnswerFailed(backends::EndCause::kUnspecified, "Slurm job 7 FAILED, exit code 2");
  PassAfterQuiet();
  EXPECT_EQ(Job().state.secondary_status, jobs::SecondaryStatus::kFailed);
  EXPECT_EQ(Job().state.failure_reason, "Slurm job 7 FAILED, exit code 2");
}

// A job whose spec allows one retry: interruptions observed by the reconciler
// or reported by the backend start its next attempt, which the admission
// controller launches.
class RetryTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    if (HasFatalFailure()) return;
    Json spec = ValidSpec();
    spec["RetryStrategy"] = {{"MaximumRetryAttempts", 1}};
    job_id_ = CreateJob(spec)["JobId"].get<std::string>();
    reconciler_ = std::make_unique<Reconciler>(ReconcilerOptions{}, *store_, scripted_, clock_);
  }

  void Interrupt(const std::string& native_id, std::string reason) {
    scripted_.answers[native_id] = {.state = backends::ObservedState::kFailed,
                                    .reason = std::move(reason),
                                    .cause = backends::EndCause::kInterrupted};
  }
  void PassAfterQuiet() {
    clock_.Advance(30000);
    ASSERT_TRUE(reconciler_->RunOnce().has_value());
  }
  store::Job Job() { return store_->GetJob(job_id_).value(); }

  std::string job_id_;
  ScriptedBackend scripted_;
  std::unique_ptr<Reconciler> reconciler_;
};

TEST_F(RetryTest, InterruptedAttemptRelaunched) {
  ASSERT_EQ(backend_.launches().size(), 1u);
  EXPECT_EQ(backend_.launches()[0].attempt, 1);
  EXPECT_EQ(backend_.launches()[0].job_dir, data_dir_ / "jobs" / job_id_);
  ASSERT_EQ(Job().native_id, "fake:1");

  Interrupt("fake:1", "Slurm job 7 NODE_FAIL");
  PassAfterQuiet();
  store::Job retried = Job();
  EXPECT_EQ(retried.state.status, jobs::JobStatus::kInProgress);
  EXPECT_EQ(retried.state.secondary_status, jobs::SecondaryStatus::kRestarting);
  EXPECT_EQ(retried.state.attempt, 2);
  EXPECT_EQ(retried.native_id, "");

  ASSERT_TRUE(plane_->AdmitWaitingJobs().has_value());
  std::vector<backends::LaunchRequest> launches = backend_.launches();
  ASSERT_EQ(launches.size(), 2u);
  EXPECT_EQ(launches[1].attempt, 2);
  EXPECT_EQ(launches[1].job_dir, data_dir_ / "jobs" / job_id_ / "attempt-2");
  EXPECT_EQ(Job().native_id, "fake:2");
  EXPECT_EQ(BodyOf(Send("GET", "/api/v1/jobs/" + job_id_))["AttemptCount"], 2);
}

TEST_F(RetryTest, LateReportOfFirstAttemptRejected) {
  Interrupt("fake:1", "Slurm job 7 PREEMPTED");
  PassAfterQuiet();
  ASSERT_TRUE(plane_->AdmitWaitingJobs().has_value());

  Json late = RuntimeEvent("late-training", "Training", clock_.NowMillis());
  late["Attempt"] = 1;
  http::Response response = Send("POST", fmt::format("/api/v1/jobs/{}/events", job_id_),
                                 late.dump(), JobTokenOf(job_id_));
  ASSERT_EQ(response.status / 100, 2) << response.body;
  Json body = BodyOf(response);
  EXPECT_EQ(body["Verdict"], "Rejected");
  EXPECT_EQ(body["Reason"], "event of attempt 1 ignored: the job is on attempt 2");
  EXPECT_EQ(Job().state.secondary_status, jobs::SecondaryStatus::kRestarting);

  Json current = RuntimeEvent("training", "Training", clock_.NowMillis());
  current["Attempt"] = 2;
  response = Send("POST", fmt::format("/api/v1/jobs/{}/events", job_id_), current.dump(),
                  JobTokenOf(job_id_));
  ASSERT_EQ(response.status / 100, 2) << response.body;
  EXPECT_EQ(BodyOf(response)["Verdict"], "Accepted");
  EXPECT_EQ(Job().state.secondary_status, jobs::SecondaryStatus::kTraining);
}

TEST_F(RetryTest, SecondInterruptionEndsJob) {
  Interrupt("fake:1", "Slurm job 7 NODE_FAIL");
  PassAfterQuiet();
  ASSERT_TRUE(plane_->AdmitWaitingJobs().has_value());
  ASSERT_EQ(Job().native_id, "fake:2");

  Interrupt("fake:2", "Slurm job 8 NODE_FAIL");
  PassAfterQuiet();
  store::Job job = Job();
  EXPECT_EQ(job.state.status, jobs::JobStatus::kFailed);
  EXPECT_EQ(job.state.secondary_status, jobs::SecondaryStatus::kInterrupted);
  EXPECT_EQ(job.state.attempt, 2);
  EXPECT_THAT(job.state.failure_reason, HasSubstr("Slurm job 8 NODE_FAIL"));
  EXPECT_EQ(backend_.launches().size(), 2u);

  std::vector<std::string> ids;
  std::vector<store::StoredEvent> events = store_->ListEvents(job_id_).value();
  for (const store::StoredEvent& stored : events) {
    if (stored.event.source == jobs::EventSource::kReconciler) ids.push_back(stored.event.event_id);
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"reconciler-end", "reconciler-end-attempt-2"}));
}

TEST_F(RetryTest, ExitReportRetriesAndRelaunches) {
  backends::ExitCallback report = plane_->ExitCallback();
  backends::Observation interrupted{.state = backends::ObservedState::kFailed,
                                    .reason = "Slurm job 7 PREEMPTED",
                                    .cause = backends::EndCause::kInterrupted,
                                    .attempt = 1};
  report(job_id_, interrupted);
  // The retry itself runs an admission pass, so attempt 2 is launched at once.
  ASSERT_EQ(backend_.launches().size(), 2u);
  EXPECT_EQ(backend_.launches()[1].attempt, 2);
  EXPECT_EQ(Job().state.attempt, 2);
  EXPECT_EQ(Job().native_id, "fake:2");

  // The same report again is a duplicate and launches nothing more.
  report(job_id_, interrupted);
  EXPECT_EQ(backend_.launches().size(), 2u);
  EXPECT_EQ(Job().state.attempt, 2);
  EXPECT_EQ(Job().state.status, jobs::JobStatus::kInProgress);
}

TEST_F(RetryTest, RelaunchWaitsForUnreachableBackend) {
  Interrupt("fake:1", "Slurm job 7 NODE_FAIL");
  PassAfterQuiet();
  ASSERT_EQ(Job().state.attempt, 2);

  backend_.FailLaunches(Error(ErrorCode::kUnavailable, "slurmctld cannot be reached"));
  ASSERT_TRUE(plane_->AdmitWaitingJobs().has_value());
  store::Job waiting = Job();
  EXPECT_EQ(waiting.state.status, jobs::JobStatus::kInProgress);
  EXPECT_EQ(waiting.state.secondary_status, jobs::SecondaryStatus::kPending);
  EXPECT_EQ(waiting.native_id, "");
  std::vector<store::StoredEvent> events = store_->ListEvents(job_id_).value();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().event.event_id, "launch-unavailable-attempt-2");
  EXPECT_EQ(events.back().event.attempt, 2);
  EXPECT_EQ(events.back().verdict, jobs::Verdict::kAccepted);

  // Once the backend is reachable again, one pass launches attempt 2, and later passes
  // find it launched.
  backend_.FailLaunches(std::nullopt);
  ASSERT_TRUE(plane_->AdmitWaitingJobs().has_value());
  ASSERT_TRUE(plane_->AdmitWaitingJobs().has_value());
  ASSERT_EQ(backend_.launches().size(), 2u);
  EXPECT_EQ(backend_.launches()[1].attempt, 2);
  EXPECT_EQ(Job().native_id, "fake:2");
}

TEST_F(RetryTest, UserFailureNotRetried) {
  scripted_.answers["fake:1"] = {.state = backends::ObservedState::kFailed,
                                 .reason = "Slurm job 7 FAILED, exit code 1"};
  PassAfterQuiet();
  store::Job job = Job();
  EXPECT_EQ(job.state.status, jobs::JobStatus::kFailed);
  EXPECT_EQ(job.state.secondary_status, jobs::SecondaryStatus::kFailed);
  EXPECT_EQ(job.state.attempt, 1);
  ASSERT_TRUE(plane_->AdmitWaitingJobs().has_value());
  EXPECT_EQ(backend_.launches().size(), 1u);
}

}  // namespace
}  // namespace tandem::api
