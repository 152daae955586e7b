// The job queue through the API: admission limits, order, fairness, stops of
// waiting jobs and restarts, over a real server, SQLite store and a fake backend.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "api/api_test_fixture.h"
#include "api/auth.h"

namespace tandem::api {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class ApiQueueTest : public ApiTest {
 protected:
  ApiQueueTest() { admission_limits_ = {.max_running_jobs = 1}; }

  Json Submit(std::string_view name, std::string_view repository = "flights") {
    Json spec = ValidSpec(name);
    spec["Repository"] = repository;
    return CreateJob(spec);
  }

  // Ends a launched job the way the backend reports a failed process.
  void EndJob(const Json& job) {
    plane_->OnBackendExit(job["JobId"].get<std::string>(),
                          {.state = backends::ObservedState::kFailed,
                           .reason = "exit code 1",
                           .exit_code = 1});
  }

  Json Get(const Json& job) {
    return BodyOf(Send("GET", "/api/v1/jobs/" + job["JobId"].get<std::string>()));
  }

  std::vector<std::string> LaunchedNames() const {
    std::vector<std::string> names;
    for (const auto& launch : backend_.launches()) names.push_back(launch.job_name);
    return names;
  }
};

TEST_F(ApiQueueTest, JobOverLimitWaitsPending) {
  Json first = Submit("run-1");
  EXPECT_EQ(first["SecondaryStatus"], "Starting");
  EXPECT_EQ(first["Backend"]["NativeId"], "fake:1");

  Json second = Submit("run-2");
  EXPECT_EQ(second["TrainingJobStatus"], "InProgress");
  EXPECT_EQ(second["SecondaryStatus"], "Pending");
  EXPECT_EQ(second["Backend"]["NativeId"], "");
  const Json& history = second["SecondaryStatusTransitions"];
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[1]["Status"], "Pending");
  EXPECT_EQ(history[1]["StatusMessage"], "waiting to start: the limit of running jobs (1) is reached");
  EXPECT_THAT(LaunchedNames(), ElementsAre("run-1"));
}

TEST_F(ApiQueueTest, EndedJobAdmitsNextFirstInFirstOut) {
  Json first = Submit("run-1");
  Json second = Submit("run-2");
  Json third = Submit("run-3");
  EXPECT_THAT(LaunchedNames(), ElementsAre("run-1"));

  EndJob(first);
  EXPECT_THAT(LaunchedNames(), ElementsAre("run-1", "run-2"));
  EXPECT_EQ(Get(second)["Backend"]["NativeId"], "fake:2");
  EXPECT_EQ(Get(third)["SecondaryStatus"], "Pending");

  EndJob(second);
  EXPECT_THAT(LaunchedNames(), ElementsAre("run-1", "run-2", "run-3"));
}

TEST_F(ApiQueueTest, RepositoriesTakeTurns) {
  Json a1 = Submit("a-1", "repo-a");
  Json a2 = Submit("a-2", "repo-a");
  Json a3 = Submit("a-3", "repo-a");
  Json b1 = Submit("b-1", "repo-b");

  // repo-a had the last turn, so repo-b goes next although a-2 is older.
  EndJob(a1);
  EXPECT_THAT(LaunchedNames(), ElementsAre("a-1", "b-1"));
  EndJob(b1);
  EXPECT_THAT(LaunchedNames(), ElementsAre("a-1", "b-1", "a-2"));
  EndJob(a2);
  EXPECT_THAT(LaunchedNames(), ElementsAre("a-1", "b-1", "a-2", "a-3"));
}

TEST_F(ApiQueueTest, StopOfWaitingJobEndsItWithoutLaunch) {
  Json first = Submit("run-1");
  Json second = Submit("run-2");

  http::Response stopped =
      Send("POST", "/api/v1/jobs/" + second["JobId"].get<std::string>() + "/stop");
  ASSERT_EQ(stopped.status, 200) << stopped.body;
  EXPECT_EQ(BodyOf(stopped)["TrainingJobStatus"], "Stopped");

  EndJob(first);
  EXPECT_THAT(LaunchedNames(), ElementsAre("run-1"));
  EXPECT_TRUE(backend_.stops().empty());
}

TEST_F(ApiQueueTest, WaitingJobPostsEventsWithItsToken) {
  Json first = Submit("run-1");
  Json second = Submit("run-2");
  EndJob(first);

  std::string id = second["JobId"].get<std::string>();
  http::Response posted =
      Send("POST", "/api/v1/jobs/" + id + "/events",
           DumpJson(RuntimeEvent("e1", "Training", kStartMillis + 10)), JobTokenOf(id));
  EXPECT_EQ(posted.status, 202) << posted.body;
  EXPECT_EQ(Get(second)["SecondaryStatus"], "Training");
}

TEST_F(ApiQueueTest, RuntimeEndEventAdmitsNext) {
  Json first = Submit("run-1");
  Submit("run-2");
  std::string id = first["JobId"].get<std::string>();
  http::Response posted =
      Send("POST", "/api/v1/jobs/" + id + "/events",
           DumpJson(RuntimeEvent("e1", "Failed", kStartMillis + 10)), JobTokenOf(id));
  ASSERT_EQ(posted.status, 202) << posted.body;
  EXPECT_THAT(LaunchedNames(), ElementsAre("run-1", "run-2"));
}

class ApiQueuePerRepositoryTest : public ApiQueueTest {
 protected:
  ApiQueuePerRepositoryTest() { admission_limits_ = {.max_running_jobs_per_repository = 1}; }
};

TEST_F(ApiQueuePerRepositoryTest, FullRepositoryDoesNotBlockOthers) {
  Submit("a-1", "repo-a");
  Json a2 = Submit("a-2", "repo-a");
  Submit("b-1", "repo-b");
  EXPECT_THAT(LaunchedNames(), ElementsAre("a-1", "b-1"));
  EXPECT_EQ(Get(a2)["SecondaryStatusTransitions"][1]["StatusMessage"],
            "waiting to start: repository repo-a is at its limit of running jobs (1)");
}

// A second ControlPlane over the same store stands for a restarted server.
class ApiQueueRestartTest : public ApiQueueTest {
 protected:
  std::unique_ptr<ControlPlane> Restart(AdmissionLimits limits) {
    ControlPlaneOptions options{.data_dir = data_dir_,
                                .input_roots = {input_root_},
                                .api_url = "http://127.0.0.1:2",
                                .admin_token = std::string(kAdminToken),
                                .admission_limits = limits};
    auto plane = std::make_unique<ControlPlane>(options, *store_, *artifacts_, clock_);
    plane->SetBackend(&restarted_backend_);
    return plane;
  }

  FakeBackend restarted_backend_;
};

TEST_F(ApiQueueRestartTest, WaitingJobLaunchedAfterRestart) {
  Submit("run-1");
  Json second = Submit("run-2");
  std::string id = second["JobId"].get<std::string>();

  std::unique_ptr<ControlPlane> restarted = Restart({.max_running_jobs = 2});
  ASSERT_TRUE(restarted->ReconcileAtStartup());
  Result<int> launched = restarted->AdmitWaitingJobs();
  ASSERT_TRUE(launched) << launched.error().message();
  EXPECT_EQ(*launched, 1);

  auto launches = restarted_backend_.launches();
  ASSERT_EQ(launches.size(), 1u);
  EXPECT_EQ(launches[0].job_id, id);
  EXPECT_EQ(launches[0].api_url, "http://127.0.0.1:2");
  Result<store::Job> stored = store_->GetJob(id);
  ASSERT_TRUE(stored);
  Authenticator auth{std::string(kAdminToken)};
  EXPECT_EQ(launches[0].job_token, auth.JobToken("flights", "run-2"));
  EXPECT_EQ(stored->job_token_digest, JobTokenDigest(launches[0].job_token));
  EXPECT_EQ(stored->native_id, "fake:1");
}

TEST_F(ApiQueueRestartTest, WaitingJobStaysQueuedWhileLimitReached) {
  Submit("run-1");
  Json second = Submit("run-2");

  std::unique_ptr<ControlPlane> restarted = Restart({.max_running_jobs = 1});
  ASSERT_TRUE(restarted->ReconcileAtStartup());
  Result<int> launched = restarted->AdmitWaitingJobs();
  ASSERT_TRUE(launched) << launched.error().message();
  EXPECT_EQ(*launched, 0);
  EXPECT_TRUE(restarted_backend_.launches().empty());
  EXPECT_EQ(Get(second)["SecondaryStatus"], "Pending");
}

TEST_F(ApiQueueRestartTest, NeverLaunchedJobIsLaunched) {
  // The previous server stopped between storing the job and routing it, and
  // the job's token digest is not the one this admin token derives.
  Result<jobs::JobSpec> spec = jobs::ParseJobSpec(ValidSpec("orphan"));
  ASSERT_TRUE(spec) << spec.error().message();
  Result<store::CreateJobResult> created =
      store_->CreateJob(*spec, JobTokenDigest("lost-token"), kStartMillis);
  ASSERT_TRUE(created) << created.error().message();
  std::string id = created->job.id;

  std::unique_ptr<ControlPlane> restarted = Restart({});
  Result<int> ended = restarted->ReconcileAtStartup();
  ASSERT_TRUE(ended) << ended.error().message();
  EXPECT_EQ(*ended, 0);
  ASSERT_TRUE(restarted->AdmitWaitingJobs());
  // A second pass finds nothing left to launch: Launch happens once.
  ASSERT_TRUE(restarted->AdmitWaitingJobs());

  auto launches = restarted_backend_.launches();
  ASSERT_EQ(launches.size(), 1u);
  EXPECT_EQ(launches[0].job_id, id);
  Result<store::Job> stored = store_->GetJob(id);
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->state.status, jobs::JobStatus::kInProgress);
  EXPECT_EQ(stored->backend, "fake");
  EXPECT_EQ(stored->job_token_digest, JobTokenDigest(launches[0].job_token));
}

TEST_F(ApiQueueRestartTest, BackgroundThreadLaunchesWaitingJob) {
  Submit("run-1");
  Json second = Submit("run-2");

  std::unique_ptr<ControlPlane> restarted = Restart({.max_running_jobs = 2});
  restarted->StartAdmission(nullptr, std::chrono::milliseconds(10));
  for (int attempt = 0; attempt < 500 && restarted_backend_.launches().empty(); ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(restarted_backend_.launches().size(), 1u);
  EXPECT_EQ(restarted_backend_.launches()[0].job_id, second["JobId"]);
}

}  // namespace
}  // namespace tandem::api
