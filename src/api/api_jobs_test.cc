// The jobs routes over a real server, SQLite store and a fake backend.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <fstream>
#include <set>

#include "api/api_test_fixture.h"
#include "common/file_util.h"

namespace tandem::api {
namespace {

using ::testing::HasSubstr;

TEST_F(ApiTest, CreateJobReturns201AndLaunchesOnce) {
  Json job = CreateJob(ValidSpec());
  EXPECT_EQ(job["TrainingJobName"], "flights-1");
  EXPECT_EQ(job["TrainingJobStatus"], "InProgress");
  EXPECT_EQ(job["SecondaryStatus"], "Starting");
  EXPECT_EQ(job["Backend"]["Name"], "fake");
  EXPECT_EQ(job["Backend"]["NativeId"], "fake:1");

  auto launches = backend_.launches();
  ASSERT_EQ(launches.size(), 1u);
  EXPECT_EQ(launches[0].job_id, job["JobId"]);
  EXPECT_EQ(launches[0].job_dir, data_dir_ / "jobs" / job["JobId"].get<std::string>());
  EXPECT_EQ(launches[0].api_url, "http://127.0.0.1:1");
  EXPECT_EQ(launches[0].job_token.size(), 64u);
  // The job token never appears in the response.
  EXPECT_EQ(DumpJson(job).find(launches[0].job_token), std::string::npos);
}

TEST_F(ApiTest, ResubmitSameSpecReturns200WithoutSecondLaunch) {
  Json first = CreateJob(ValidSpec());
  http::Response again = Send("POST", "/api/v1/jobs", DumpJson(ValidSpec()));
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(BodyOf(again)["JobId"], first["JobId"]);
  EXPECT_EQ(backend_.launches().size(), 1u);
}

TEST_F(ApiTest, DifferentSpecSameNameReturns409) {
  CreateJob(ValidSpec());
  Json changed = ValidSpec();
  changed["HyperParameters"]["num_round"] = "20";
  http::Response response = Send("POST", "/api/v1/jobs", DumpJson(changed));
  EXPECT_EQ(response.status, 409) << response.body;
  EXPECT_EQ(BodyOf(response)["code"], "already_exists");
  EXPECT_THAT(BodyOf(response)["error"].get<std::string>(), HasSubstr("flights-1"));
  EXPECT_EQ(backend_.launches().size(), 1u);
}

TEST_F(ApiTest, MisspeltHyperparameterRejectedAtSubmit) {
  Json spec = ValidSpec();
  spec["HyperParameters"]["max_dpeth"] = "8";
  http::Response response = Send("POST", "/api/v1/jobs", DumpJson(spec));
  EXPECT_EQ(response.status, 400) << response.body;
  EXPECT_THAT(BodyOf(response)["error"].get<std::string>(),
              HasSubstr("HyperParameters: unknown hyperparameter \"max_dpeth\""));
  EXPECT_TRUE(backend_.launches().empty());
}

TEST_F(ApiTest, UnknownFeatureKindRejectedAtSubmit) {
  Json spec = ValidSpec();
  spec["FeaturePipeline"]["Features"][0]["Kind"] = "categorial";
  http::Response response = Send("POST", "/api/v1/jobs", DumpJson(spec));
  EXPECT_EQ(response.status, 400) << response.body;
  EXPECT_THAT(BodyOf(response)["error"].get<std::string>(),
              HasSubstr("FeaturePipeline.Features[0].Kind"));
  EXPECT_TRUE(backend_.launches().empty());
}

TEST_F(ApiTest, SubmitWithoutTokenReturns401) {
  http::Response response = Send("POST", "/api/v1/jobs", DumpJson(ValidSpec()), "");
  EXPECT_EQ(response.status, 401);
  EXPECT_EQ(BodyOf(response)["code"], "unauthenticated");
  EXPECT_THAT(BodyOf(response)["error"].get<std::string>(), HasSubstr("Authorization"));
  EXPECT_TRUE(backend_.launches().empty());
}

TEST_F(ApiTest, SubmitWithWrongTokenReturns401) {
  http::Response response = Send("POST", "/api/v1/jobs", DumpJson(ValidSpec()), "not-the-token");
  EXPECT_EQ(response.status, 401);
  EXPECT_EQ(BodyOf(response)["code"], "unauthenticated");
  EXPECT_EQ(response.body.find("not-the-token"), std::string::npos);
}

TEST_F(ApiTest, SubmitWithJobTokenReturns401) {
  Json job = CreateJob(ValidSpec());
  std::string job_token = JobTokenOf(job["JobId"]);
  http::Response response =
      Send("POST", "/api/v1/jobs", DumpJson(ValidSpec("flights-2")), job_token);
  EXPECT_EQ(response.status, 401);
}

TEST_F(ApiTest, SubmitWithMalformedAuthorizationReturns401) {
  http::HeaderList headers = {{"Authorization", "Basic abc"}};
  auto response = client_->Send("POST", "/api/v1/jobs", DumpJson(ValidSpec()), headers);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 401);
  EXPECT_THAT(BodyOf(*response)["error"].get<std::string>(), HasSubstr("Bearer"));
}

TEST_F(ApiTest, ChannelOutsideInputRootReturns403) {
  Json spec = ValidSpec();
  spec["InputDataConfig"][0]["DataSource"]["FileDataSource"]["Path"] = "/etc";
  http::Response response = Send("POST", "/api/v1/jobs", DumpJson(spec));
  EXPECT_EQ(response.status, 403) << response.body;
  EXPECT_EQ(BodyOf(response)["code"], "permission_denied");
  std::string message = BodyOf(response)["error"];
  EXPECT_THAT(message, HasSubstr("InputDataConfig[0].DataSource.FileDataSource.Path"));
  EXPECT_THAT(message, HasSubstr("/etc"));
  EXPECT_TRUE(backend_.launches().empty());
}

TEST_F(ApiTest, ChannelEscapingByDotDotReturns403) {
  Json spec = ValidSpec();
  spec["InputDataConfig"][0]["DataSource"]["FileDataSource"]["Path"] =
      (input_root_ / ".." / "data").string();
  http::Response response = Send("POST", "/api/v1/jobs", DumpJson(spec));
  EXPECT_EQ(response.status, 403) << response.body;
}

TEST_F(ApiTest, ChannelThroughSymlinkOutsideRootReturns403) {
  std::filesystem::create_directory_symlink("/etc", input_root_ / "link");
  Json spec = ValidSpec();
  spec["InputDataConfig"][0]["DataSource"]["FileDataSource"]["Path"] =
      (input_root_ / "link").string();
  http::Response response = Send("POST", "/api/v1/jobs", DumpJson(spec));
  EXPECT_EQ(response.status, 403) << response.body;
}

TEST_F(ApiTest, MalformedJsonReturns400WithBytePosition) {
  http::Response response = Send("POST", "/api/v1/jobs", R"({"TrainingJobName": x})");
  EXPECT_EQ(response.status, 400);
  EXPECT_EQ(BodyOf(response)["code"], "invalid_argument");
  EXPECT_THAT(BodyOf(response)["error"].get<std::string>(), HasSubstr("at byte 21"));
}

TEST_F(ApiTest, TruncatedJsonReturns400WithBytePosition) {
  std::string text = DumpJson(ValidSpec());
  text.resize(40);
  http::Response response = Send("POST", "/api/v1/jobs", text);
  EXPECT_EQ(response.status, 400);
  EXPECT_THAT(BodyOf(response)["error"].get<std::string>(), HasSubstr("at byte 41"));
}

TEST_F(ApiTest, InvalidSpecReturns400NamingField) {
  Json spec = ValidSpec();
  spec["ResourceConfig"] = {{"InstanceCount", "one"}};
  http::Response response = Send("POST", "/api/v1/jobs", DumpJson(spec));
  EXPECT_EQ(response.status, 400);
  EXPECT_THAT(BodyOf(response)["error"].get<std::string>(),
              HasSubstr("ResourceConfig.InstanceCount"));
}

TEST_F(ApiTest, LaunchFailureBecomesFailedJob) {
  backend_.FailLaunches(Error(ErrorCode::kResourceExhausted, "no room on this machine"));
  Json job = CreateJob(ValidSpec());
  EXPECT_EQ(job["TrainingJobStatus"], "Failed");
  EXPECT_THAT(job["FailureReason"].get<std::string>(), HasSubstr("no room on this machine"));
  EXPECT_THAT(job["FailureReason"].get<std::string>(), HasSubstr("launch failed"));
  http::Response fetched = Send("GET", "/api/v1/jobs/" + job["JobId"].get<std::string>());
  EXPECT_EQ(BodyOf(fetched)["TrainingJobStatus"], "Failed");
}

TEST_F(ApiTest, UnreachableBackendLeavesJobWaitingUntilRetried) {
  backend_.FailLaunches(Error(ErrorCode::kUnavailable, "slurmctld did not answer"));
  Json job = CreateJob(ValidSpec());
  std::string id = job["JobId"];
  EXPECT_EQ(job["TrainingJobStatus"], "InProgress");
  EXPECT_EQ(job["SecondaryStatus"], "Pending");
  EXPECT_TRUE(backend_.launches().empty());
  Json events = BodyOf(Send("GET", "/api/v1/jobs/" + id + "/events"));
  EXPECT_THAT(events.dump(), HasSubstr("slurmctld did not answer"));

  // Still unreachable: the retry changes nothing and adds no event.
  ASSERT_TRUE(plane_->AdmitWaitingJobs());
  EXPECT_EQ(BodyOf(Send("GET", "/api/v1/jobs/" + id))["SecondaryStatus"], "Pending");
  EXPECT_EQ(BodyOf(Send("GET", "/api/v1/jobs/" + id + "/events")), events);

  backend_.FailLaunches(std::nullopt);
  Result<int> launched = plane_->AdmitWaitingJobs();
  ASSERT_TRUE(launched) << launched.error().message();
  EXPECT_EQ(*launched, 1);
  Json fetched = BodyOf(Send("GET", "/api/v1/jobs/" + id));
  EXPECT_EQ(fetched["TrainingJobStatus"], "InProgress");
  EXPECT_EQ(backend_.launches().size(), 1u);
}

TEST_F(ApiTest, UnknownJobReturns404) {
  http::Response response = Send("GET", "/api/v1/jobs/job-000000000000");
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(BodyOf(response)["code"], "not_found");
  EXPECT_THAT(BodyOf(response)["error"].get<std::string>(), HasSubstr("job-000000000000"));
  EXPECT_EQ(Send("GET", "/api/v1/jobs/job-000000000000/logs").status, 404);
  EXPECT_EQ(Send("GET", "/api/v1/jobs/job-000000000000/events").status, 404);
  EXPECT_EQ(Send("POST", "/api/v1/jobs/job-000000000000/stop").status, 404);
}

TEST_F(ApiTest, GetJobNeedsNoToken) {
  Json job = CreateJob(ValidSpec());
  http::Response response = Send("GET", "/api/v1/jobs/" + job["JobId"].get<std::string>(), "", "");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(BodyOf(response)["JobId"], job["JobId"]);
}

TEST_F(ApiTest, StopMovesRunningJobToStopping) {
  Json job = CreateJob(ValidSpec());
  std::string id = job["JobId"];
  http::Response response = Send("POST", "/api/v1/jobs/" + id + "/stop");
  EXPECT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(BodyOf(response)["TrainingJobStatus"], "Stopping");
  auto stops = backend_.stops();
  ASSERT_EQ(stops.size(), 1u);
  EXPECT_EQ(stops[0].first, "fake:1");
  EXPECT_EQ(stops[0].second, std::chrono::seconds(7));
}

TEST_F(ApiTest, StopWithoutTokenReturns401) {
  Json job = CreateJob(ValidSpec());
  std::string id = job["JobId"];
  EXPECT_EQ(Send("POST", "/api/v1/jobs/" + id + "/stop", "", "").status, 401);
  EXPECT_EQ(Send("POST", "/api/v1/jobs/" + id + "/stop", "", JobTokenOf(id)).status, 401);
  EXPECT_TRUE(backend_.stops().empty());
}

TEST_F(ApiTest, StopOfTerminalJobReturns409) {
  backend_.FailLaunches(Error(ErrorCode::kResourceExhausted, "no room"));
  Json job = CreateJob(ValidSpec());
  ASSERT_EQ(job["TrainingJobStatus"], "Failed");
  http::Response response = Send("POST", "/api/v1/jobs/" + job["JobId"].get<std::string>() + "/stop");
  EXPECT_EQ(response.status, 409);
  EXPECT_EQ(BodyOf(response)["code"], "failed_precondition");
  EXPECT_THAT(BodyOf(response)["error"].get<std::string>(), HasSubstr("Failed"));
}

TEST_F(ApiTest, LogsArePagedByOffset) {
  Json job = CreateJob(ValidSpec());
  std::string id = job["JobId"];
  std::string text;
  for (int i = 0; i < 100; ++i) text += fmt::format("line {}\n", i);
  ASSERT_TRUE(CreateDirectories(data_dir_ / "jobs" / id));
  {
    std::ofstream log(data_dir_ / "jobs" / id / "job.log", std::ios::binary);
    log << text;
  }

  std::string collected;
  int64_t offset = 0;
  bool at_end = false;
  for (int page = 0; page < 100 && !at_end; ++page) {
    http::Response response =
        Send("GET", fmt::format("/api/v1/jobs/{}/logs?offset={}&limit=100", id, offset));
    ASSERT_EQ(response.status, 200) << response.body;
    Json body = BodyOf(response);
    std::string data = body["Data"];
    EXPECT_LE(data.size(), 100u);
    collected += data;
    offset = body["NextOffset"];
    EXPECT_FALSE(body["Complete"]) << "the job is still running";
    at_end = data.empty();
  }
  EXPECT_EQ(collected, text);
  EXPECT_EQ(offset, static_cast<int64_t>(text.size()));
}

TEST_F(ApiTest, LogsOfEndedJobAreCompleteAtEnd) {
  backend_.FailLaunches(Error(ErrorCode::kResourceExhausted, "no room"));
  Json job = CreateJob(ValidSpec());
  std::string id = job["JobId"];
  ASSERT_TRUE(CreateDirectories(data_dir_ / "jobs" / id));
  ASSERT_TRUE(WriteFileAtomic(data_dir_ / "jobs" / id / "job.log", "abcdef"));
  Json first = BodyOf(Send("GET", fmt::format("/api/v1/jobs/{}/logs?limit=4", id)));
  EXPECT_EQ(first["Data"], "abcd");
  EXPECT_EQ(first["Complete"], false);
  Json second = BodyOf(Send("GET", fmt::format("/api/v1/jobs/{}/logs?offset=4", id)));
  EXPECT_EQ(second["Data"], "ef");
  EXPECT_EQ(second["NextOffset"], 6);
  EXPECT_EQ(second["Complete"], true);
}

TEST_F(ApiTest, LogsWithoutFileAreEmpty) {
  Json job = CreateJob(ValidSpec());
  Json body = BodyOf(Send("GET", fmt::format("/api/v1/jobs/{}/logs", job["JobId"].get<std::string>())));
  EXPECT_EQ(body["Data"], "");
  EXPECT_EQ(body["NextOffset"], 0);
  EXPECT_EQ(body["Complete"], false);
}

TEST_F(ApiTest, LogsRejectInvalidOffset) {
  Json job = CreateJob(ValidSpec());
  http::Response response =
      Send("GET", fmt::format("/api/v1/jobs/{}/logs?offset=-1", job["JobId"].get<std::string>()));
  EXPECT_EQ(response.status, 400);
  EXPECT_THAT(BodyOf(response)["error"].get<std::string>(), HasSubstr("offset"));
}

TEST_F(ApiTest, ListJobsPagesNewestFirst) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(1000);
    ids.push_back(CreateJob(ValidSpec(fmt::format("job-{}", i)))["JobId"]);
  }
  std::vector<std::string> listed;
  std::string token;
  int pages = 0;
  for (; pages < 10; ++pages) {
    std::string target = "/api/v1/jobs?page_size=2";
    if (!token.empty()) target += "&page_token=" + http::PercentEncode(token);
    http::Response response = Send("GET", target);
    ASSERT_EQ(response.status, 200) << response.body;
    Json body = BodyOf(response);
    EXPECT_LE(body["Jobs"].size(), 2u);
    for (const Json& job : body["Jobs"]) listed.push_back(job["JobId"]);
    if (!body.contains("NextPageToken")) break;
    token = body["NextPageToken"];
  }
  EXPECT_EQ(pages, 2);
  std::vector<std::string> newest_first(ids.rbegin(), ids.rend());
  EXPECT_EQ(listed, newest_first);
}

TEST_F(ApiTest, ListJobsFiltersByStatusAndRepository) {
  CreateJob(ValidSpec("running"));
  backend_.FailLaunches(Error(ErrorCode::kResourceExhausted, "no room"));
  CreateJob(ValidSpec("failed"));
  Json failed = BodyOf(Send("GET", "/api/v1/jobs?status=Failed"));
  ASSERT_EQ(failed["Jobs"].size(), 1u);
  EXPECT_EQ(failed["Jobs"][0]["TrainingJobName"], "failed");
  Json other = BodyOf(Send("GET", "/api/v1/jobs?repository=other"));
  EXPECT_TRUE(other["Jobs"].empty());
}

TEST_F(ApiTest, ListJobsRejectsBadQuery) {
  http::Response bad_status = Send("GET", "/api/v1/jobs?status=Running");
  EXPECT_EQ(bad_status.status, 400);
  EXPECT_THAT(BodyOf(bad_status)["error"].get<std::string>(), HasSubstr("status"));
  http::Response bad_size = Send("GET", "/api/v1/jobs?page_size=1001");
  EXPECT_EQ(bad_size.status, 400);
  EXPECT_THAT(BodyOf(bad_size)["error"].get<std::string>(), HasSubstr("page_size"));
}

TEST_F(ApiTest, HealthAnswersOk) {
  http::Response response = Send("GET", "/api/v1/health", "", "");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(BodyOf(response)["Status"], "ok");
}

}  // namespace
}  // namespace tandem::api
