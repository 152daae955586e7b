// The events and model-package routes, and the backend's exit reports.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "api/api_test_fixture.h"
#include "common/clock.h"

namespace tandem::api {
namespace {

using ::testing::HasSubstr;

// A stand-in tar archive: zero blocks with the ustar magic in the first header.
std::string FakeTarArchive(char fill) {
  std::string archive(2048, '\0');
  archive.replace(257, 6, std::string("ustar\0", 6));
  archive[0] = fill;
  return archive;
}

class ApiEventsTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    if (HasFatalFailure()) return;
    job_ = CreateJob(ValidSpec());
    job_id_ = job_["JobId"];
    job_token_ = JobTokenOf(job_id_);
  }

  http::Response PostEvent(const Json& event, std::string_view token) {
    return Send("POST", fmt::format("/api/v1/jobs/{}/events", job_id_), DumpJson(event), token);
  }

  Json UploadPackage(const std::string& archive) {
    http::Response response =
        Send("PUT", fmt::format("/api/v1/jobs/{}/model-package", job_id_), archive, job_token_,
             "application/x-tar");
    EXPECT_EQ(response.status, 201) << response.body;
    return BodyOf(response);
  }

  Json GetJob() { return BodyOf(Send("GET", "/api/v1/jobs/" + job_id_)); }

  Json job_;
  std::string job_id_;
  std::string job_token_;
};

TEST_F(ApiEventsTest, EventFlowRegistersVersionOnce) {
  int64_t t = kStartMillis;
  for (const char* phase : {"Downloading", "Training", "Uploading"}) {
    t += 1000;
    http::Response response = PostEvent(RuntimeEvent(phase, phase, t), job_token_);
    ASSERT_EQ(response.status, 202) << response.body;
    EXPECT_EQ(BodyOf(response)["Verdict"], "Accepted");
    EXPECT_EQ(BodyOf(response)["Duplicate"], false);
  }
  Json uploaded = UploadPackage(FakeTarArchive('a'));
  EXPECT_THAT(uploaded["Digest"].get<std::string>(), HasSubstr("sha256:"));
  EXPECT_EQ(uploaded["SizeBytes"], 2048);

  Json completed = RuntimeEvent("completed", "Completed", t + 1000,
                                {{"ModelPackage", {{"Digest", uploaded["Digest"]},
                                                   {"SizeBytes", uploaded["SizeBytes"]}}}});
  for (int i = 0; i < 3; ++i) {
    http::Response response = PostEvent(completed, job_token_);
    ASSERT_EQ(response.status, 202) << response.body;
    EXPECT_EQ(BodyOf(response)["Duplicate"], i > 0);
  }
  // A second Completed under another id is rejected: the job already ended.
  completed["EventId"] = "completed-again";
  EXPECT_EQ(BodyOf(PostEvent(completed, job_token_))["Verdict"], "Rejected");

  Json job = GetJob();
  EXPECT_EQ(job["TrainingJobStatus"], "Completed");
  EXPECT_EQ(job["ModelVersion"]["ModelName"], "flights-delay");
  EXPECT_EQ(job["ModelVersion"]["Version"], 1);
  Json model = BodyOf(Send("GET", "/api/v1/models/flights-delay"));
  ASSERT_EQ(model["Versions"].size(), 1u);
  EXPECT_EQ(model["Versions"][0]["PackageDigest"], uploaded["Digest"]);
  Json models = BodyOf(Send("GET", "/api/v1/models"));
  ASSERT_EQ(models["Models"].size(), 1u);
  EXPECT_EQ(models["Models"][0]["LatestVersion"], 1);
}

TEST_F(ApiEventsTest, EventsListingShowsRejectedEventWithReason) {
  ASSERT_EQ(PostEvent(RuntimeEvent("training", "Training", kStartMillis + 2000), job_token_).status,
            202);
  // Observed after Training yet earlier in the lifecycle: out of order.
  http::Response late = PostEvent(RuntimeEvent("late", "Downloading", kStartMillis + 3000),
                                  job_token_);
  ASSERT_EQ(late.status, 202);
  EXPECT_EQ(BodyOf(late)["Verdict"], "Rejected");
  EXPECT_FALSE(BodyOf(late)["Reason"].get<std::string>().empty());

  Json events = BodyOf(Send("GET", fmt::format("/api/v1/jobs/{}/events", job_id_)));
  ASSERT_EQ(events["Events"].size(), 2u);
  EXPECT_EQ(events["Events"][0]["EventId"], "training");
  EXPECT_EQ(events["Events"][0]["Verdict"], "Accepted");
  EXPECT_EQ(events["Events"][1]["EventId"], "late");
  EXPECT_EQ(events["Events"][1]["Verdict"], "Rejected");
  EXPECT_EQ(events["Events"][1]["Reason"], BodyOf(late)["Reason"]);
}

TEST_F(ApiEventsTest, JobTokenOfAnotherJobReturns401) {
  Json other = CreateJob(ValidSpec("flights-2"));
  std::string other_token = JobTokenOf(other["JobId"]);
  http::Response response =
      PostEvent(RuntimeEvent("x", "Training", kStartMillis + 1000), other_token);
  EXPECT_EQ(response.status, 401);
  EXPECT_THAT(BodyOf(response)["error"].get<std::string>(), HasSubstr(job_id_));
  http::Response upload =
      Send("PUT", fmt::format("/api/v1/jobs/{}/model-package", job_id_), FakeTarArchive('b'),
           other_token, "application/x-tar");
  EXPECT_EQ(upload.status, 401);
}

TEST_F(ApiEventsTest, EventWithoutTokenReturns401) {
  EXPECT_EQ(PostEvent(RuntimeEvent("x", "Training", kStartMillis + 1000), "").status, 401);
}

TEST_F(ApiEventsTest, AdminTokenMayPostEvents) {
  http::Response response =
      PostEvent(RuntimeEvent("x", "Training", kStartMillis + 1000), kAdminToken);
  EXPECT_EQ(response.status, 202) << response.body;
}

TEST_F(ApiEventsTest, JobTokenCannotPostApiEvents) {
  Json event = RuntimeEvent("x", "Stopping", kStartMillis + 1000);
  event["Source"] = "api";
  http::Response response = PostEvent(event, job_token_);
  EXPECT_EQ(response.status, 403);
  EXPECT_THAT(BodyOf(response)["error"].get<std::string>(), HasSubstr("Source"));
  EXPECT_EQ(GetJob()["TrainingJobStatus"], "InProgress");
}

TEST_F(ApiEventsTest, MalformedEventReturns400NamingField) {
  Json event = RuntimeEvent("x", "Training", kStartMillis);
  event["ObservedAt"] = "yesterday";
  http::Response response = PostEvent(event, job_token_);
  EXPECT_EQ(response.status, 400);
  EXPECT_THAT(BodyOf(response)["error"].get<std::string>(), HasSubstr("ObservedAt"));
}

TEST_F(ApiEventsTest, CompletedWithUnknownPackageReturns400) {
  Json completed = RuntimeEvent(
      "completed", "Completed", kStartMillis + 1000,
      {{"ModelPackage", {{"Digest", "sha256:" + std::string(64, 'a')}, {"SizeBytes", 10}}}});
  http::Response response = PostEvent(completed, job_token_);
  EXPECT_EQ(response.status, 400);
  EXPECT_THAT(BodyOf(response)["error"].get<std::string>(), HasSubstr("Details.ModelPackage"));
  EXPECT_EQ(GetJob()["TrainingJobStatus"], "InProgress");
}

TEST_F(ApiEventsTest, CompletedWithWrongPackageSizeReturns400) {
  Json uploaded = UploadPackage(FakeTarArchive('c'));
  Json completed = RuntimeEvent(
      "completed", "Completed", kStartMillis + 1000,
      {{"ModelPackage", {{"Digest", uploaded["Digest"]}, {"SizeBytes", 5}}}});
  http::Response response = PostEvent(completed, job_token_);
  EXPECT_EQ(response.status, 400);
  EXPECT_THAT(BodyOf(response)["error"].get<std::string>(), HasSubstr("SizeBytes"));
}

TEST_F(ApiEventsTest, PackageWithWrongContentTypeReturns415) {
  http::Response response = Send("PUT", fmt::format("/api/v1/jobs/{}/model-package", job_id_),
                                 FakeTarArchive('d'), job_token_, "application/json");
  EXPECT_EQ(response.status, 415);
  EXPECT_EQ(BodyOf(response)["code"], "unsupported_media_type");
}

TEST_F(ApiEventsTest, PackageThatIsNotTarReturns400) {
  http::Response response = Send("PUT", fmt::format("/api/v1/jobs/{}/model-package", job_id_),
                                 std::string(600, 'x'), job_token_, "application/x-tar");
  EXPECT_EQ(response.status, 400);
  EXPECT_THAT(BodyOf(response)["error"].get<std::string>(), HasSubstr("not a tar archive"));
}

TEST_F(ApiEventsTest, PackageOverDefaultLimitIsAccepted) {
  std::string archive = FakeTarArchive('e');
  archive.resize(7 << 20, '\0');  // over the 6 MiB default body limit
  Json uploaded = UploadPackage(archive);
  EXPECT_EQ(uploaded["SizeBytes"], 7 << 20);
}

TEST_F(ApiEventsTest, BodyLimitIsLargeOnlyForPackages) {
  EXPECT_EQ(ControlPlane::BodyLimit("PUT", "/api/v1/jobs/job-1/model-package"),
            kMaxModelPackageBytes);
  EXPECT_EQ(ControlPlane::BodyLimit("POST", "/api/v1/jobs"), http::ServerOptions{}.max_body_bytes);
  EXPECT_EQ(ControlPlane::BodyLimit("POST", "/api/v1/jobs/job-1/events"),
            http::ServerOptions{}.max_body_bytes);
}

TEST_F(ApiEventsTest, ProcessExitFailsRunningJob) {
  plane_->OnBackendExit(job_id_, {.state = backends::ObservedState::kFailed,
                                  .reason = "exit code 3",
                                  .exit_code = 3});
  Json job = GetJob();
  EXPECT_EQ(job["TrainingJobStatus"], "Failed");
  EXPECT_EQ(job["FailureReason"], "process exited with code 3 before reporting completion");
}

TEST_F(ApiEventsTest, ProcessKilledBySignalFailsJob) {
  plane_->OnBackendExit(job_id_, {.state = backends::ObservedState::kFailed,
                                  .reason = "killed by signal 9"});
  EXPECT_EQ(GetJob()["FailureReason"], "killed by signal 9");
}

TEST_F(ApiEventsTest, ProcessExitAfterStopEndsStopped) {
  ASSERT_EQ(Send("POST", fmt::format("/api/v1/jobs/{}/stop", job_id_)).status, 200);
  plane_->OnBackendExit(job_id_, {.state = backends::ObservedState::kFailed,
                                  .reason = "killed by signal 15"});
  Json job = GetJob();
  EXPECT_EQ(job["TrainingJobStatus"], "Stopped");
  Json events = BodyOf(Send("GET", fmt::format("/api/v1/jobs/{}/events", job_id_)));
  ASSERT_EQ(events["Events"].size(), 2u);
  EXPECT_EQ(events["Events"][0]["Source"], "api");
  EXPECT_EQ(events["Events"][1]["Source"], "backend");
  EXPECT_EQ(events["Events"][1]["Message"], "stopped: process exited");
}

TEST_F(ApiEventsTest, ProcessExitAfterCompletionChangesNothing) {
  Json uploaded = UploadPackage(FakeTarArchive('f'));
  Json completed = RuntimeEvent(
      "completed", "Completed", kStartMillis + 1000,
      {{"ModelPackage", {{"Digest", uploaded["Digest"]}, {"SizeBytes", uploaded["SizeBytes"]}}}});
  ASSERT_EQ(PostEvent(completed, job_token_).status, 202);
  plane_->OnBackendExit(job_id_, {.state = backends::ObservedState::kSucceeded, .exit_code = 0});
  EXPECT_EQ(GetJob()["TrainingJobStatus"], "Completed");
  // The upload's own "api" event and the Completed event; no exit event.
  Json events = BodyOf(Send("GET", fmt::format("/api/v1/jobs/{}/events", job_id_)));
  ASSERT_EQ(events["Events"].size(), 2u);
  EXPECT_EQ(events["Events"][0]["Message"], "model package uploaded");
  EXPECT_EQ(events["Events"][1]["EventId"], "completed");
}

TEST_F(ApiEventsTest, PackageUploadAfterJobEndedReturns409) {
  plane_->OnBackendExit(job_id_, {.state = backends::ObservedState::kFailed, .exit_code = 1});
  http::Response response = Send("PUT", fmt::format("/api/v1/jobs/{}/model-package", job_id_),
                                 FakeTarArchive('g'), job_token_, "application/x-tar");
  EXPECT_EQ(response.status, 409);
}

TEST_F(ApiEventsTest, StartupReconcileLeavesRunningJob) {
  auto ended = plane_->ReconcileAtStartup();
  ASSERT_TRUE(ended) << ended.error().message();
  EXPECT_EQ(*ended, 0);
  EXPECT_EQ(GetJob()["TrainingJobStatus"], "InProgress");
}

TEST_F(ApiEventsTest, StartupReconcileFailsVanishedJob) {
  backend_.SetObservation({.state = backends::ObservedState::kGone,
                           .reason = "process 12 is no longer running"});
  auto ended = plane_->ReconcileAtStartup();
  ASSERT_TRUE(ended) << ended.error().message();
  EXPECT_EQ(*ended, 1);
  Json job = GetJob();
  EXPECT_EQ(job["TrainingJobStatus"], "Failed");
  EXPECT_EQ(job["FailureReason"], "process 12 is no longer running");
}

TEST_F(ApiEventsTest, StartupReconcileStopsStoppingJob) {
  ASSERT_EQ(Send("POST", fmt::format("/api/v1/jobs/{}/stop", job_id_)).status, 200);
  backend_.SetObservation({.state = backends::ObservedState::kFailed,
                           .reason = "killed by signal 15"});
  ASSERT_TRUE(plane_->ReconcileAtStartup());
  EXPECT_EQ(GetJob()["TrainingJobStatus"], "Stopped");
}

}  // namespace
}  // namespace tandem::api
