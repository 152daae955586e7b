#include "runtime/train_command.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <mutex>
#include <vector>

#include "common/crypto.h"
#include "common/http.h"
#include "common/json_util.h"
#include "jobs/job_spec.h"
#include "runtime/runtime_test_util.h"
#include "runtime/trainer.h"

namespace tandem::runtime {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::EntryPointSpec;
using testing::ReadText;
using testing::TempDir;
using testing::WriteText;

// A fake control plane for one job: serves the job, records events and
// stores the uploaded package. The first event post gets a 503 response.
class FakeControlPlane {
 public:
  FakeControlPlane(std::string job_id, Json spec) : job_id_(std::move(job_id)), spec_(std::move(spec)) {
    router_.Add("GET", "/api/v1/jobs/{id}", [this](http::Request& request) {
      if (!Authorized(request)) return Unauthorized();
      return http::Response::Json(200, {{"JobId", job_id_}, {"Spec", spec_}});
    });
    router_.Add("POST", "/api/v1/jobs/{id}/events", [this](http::Request& request) {
      if (!Authorized(request)) return Unauthorized();
      std::lock_guard lock(mutex_);
      if (!failed_once_) {
        failed_once_ = true;
        return http::Response::Json(503, {{"error", "busy"}, {"code", "unavailable"}});
      }
      events_.push_back(*ParseJson(request.body, "event"));
      return http::Response::Json(202, {{"Verdict", "Accepted"}, {"Duplicate", false}});
    });
    router_.Add("PUT", "/api/v1/jobs/{id}/model-package", [this](http::Request& request) {
      if (!Authorized(request)) return Unauthorized();
      std::lock_guard lock(mutex_);
      package_ = request.body;
      content_type_ = request.Header("Content-Type");
      return http::Response::Json(201, {{"Digest", "sha256:" + Sha256Hex(request.body)},
                                        {"SizeBytes", request.body.size()}});
    });
    server_ = std::make_unique<http::Server>(http::ServerOptions{}, router_.AsHandler());
    auto port = server_->Start();
    EXPECT_TRUE(port);
    url_ = "http://127.0.0.1:" + std::to_string(port.value_or(0));
  }

  const std::string& url() const { return url_; }
  std::vector<Json> events() {
    std::lock_guard lock(mutex_);
    return events_;
  }
  std::string package() {
    std::lock_guard lock(mutex_);
    return package_;
  }
  std::string content_type() {
    std::lock_guard lock(mutex_);
    return content_type_;
  }

 private:
  bool Authorized(const http::Request& request) {
    return request.Header("Authorization") == "Bearer token-1" &&
           request.PathParam("id") == job_id_;
  }
  static http::Response Unauthorized() {
    return http::Response::Json(401, {{"error", "bad job token"}, {"code", "unauthenticated"}});
  }

  std::string job_id_;
  Json spec_;
  std::mutex mutex_;
  bool failed_once_ = false;
  std::vector<Json> events_;
  std::string package_;
  std::string content_type_;
  http::Router router_;
  std::unique_ptr<http::Server> server_;
  std::string url_;
};

TrainSettings Settings(const std::string& url, const fs::path& root) {
  return TrainSettings{
      .job_root = root.string(),
      .api_url = url,
      .job_id = "job-1",
      .job_token = "token-1",
      .stop_grace = seconds(5),
      .retry = RetryPolicy{.window = seconds(10), .initial_backoff = milliseconds(10),
                           .max_backoff = milliseconds(50)},
  };
}

TEST(TrainCommandTest, ControlPlaneModeReportsAndUploads) {
  TempDir dir;
  jobs::JobSpec spec = EntryPointSpec(dir.path(), "succeed");
  FakeControlPlane control_plane("job-1", jobs::JobSpecToJson(spec));
  StopController stop;
  ASSERT_EQ(RunTrain(Settings(control_plane.url(), dir.path() / "root"), stop), kExitCompleted);

  std::vector<Json> events = control_plane.events();
  std::vector<std::string> trail;
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i]["Sequence"], static_cast<int64_t>(i));
    trail.push_back(events[i].value("SecondaryStatus", "progress"));
  }
  EXPECT_EQ(trail, (std::vector<std::string>{"Downloading", "Training", "Uploading", "Completed"}));

  std::string package = control_plane.package();
  ASSERT_FALSE(package.empty());
  EXPECT_EQ(control_plane.content_type(), "application/x-tar");
  EXPECT_EQ(package, ReadText(dir.path() / "root" / "output" / "model-package.tar"));
  Json completed = events.back()["Details"]["ModelPackage"];
  EXPECT_EQ(completed["Digest"], "sha256:" + Sha256Hex(package));
  EXPECT_EQ(completed["SizeBytes"], package.size());
  EXPECT_EQ(completed["Manifest"]["ModelName"], "test-model");

  // The entry point got the job's TANDEM_* variables.
  std::string env = ReadText(dir.path() / "root" / "output" / "data" / "env.txt");
  EXPECT_NE(env.find("TANDEM_JOB_ID=job-1\n"), std::string::npos);
  EXPECT_NE(env.find("TANDEM_API_URL=" + control_plane.url() + "\n"), std::string::npos);
  EXPECT_NE(env.find("TANDEM_JOB_ROOT=" + (dir.path() / "root").string() + "\n"), std::string::npos);
}

TEST(TrainCommandTest, ControlPlaneModeReportsFailure) {
  TempDir dir;
  jobs::JobSpec spec = EntryPointSpec(dir.path(), "exit-2");
  FakeControlPlane control_plane("job-1", jobs::JobSpecToJson(spec));
  StopController stop;
  ASSERT_EQ(RunTrain(Settings(control_plane.url(), dir.path() / "root"), stop), kExitFailed);
  std::vector<Json> events = control_plane.events();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back()["TrainingJobStatus"], "Failed");
  EXPECT_EQ(events.back()["Message"], "entry point exited with code 2");
  EXPECT_TRUE(control_plane.package().empty());
}

TEST(TrainCommandTest, WrongTokenCannotReadJob) {
  TempDir dir;
  FakeControlPlane control_plane("job-1", jobs::JobSpecToJson(EntryPointSpec(dir.path(), "succeed")));
  TrainSettings settings = Settings(control_plane.url(), dir.path() / "root");
  settings.job_token = "wrong";
  StopController stop;
  EXPECT_EQ(RunTrain(settings, stop), 2);
  EXPECT_TRUE(control_plane.events().empty());
}

TEST(TrainCommandTest, InvalidSpecFromControlPlaneFailsJob) {
  TempDir dir;
  Json spec = jobs::JobSpecToJson(EntryPointSpec(dir.path(), "succeed"));
  spec["Bogus"] = 1;
  FakeControlPlane control_plane("job-1", spec);
  StopController stop;
  EXPECT_EQ(RunTrain(Settings(control_plane.url(), dir.path() / "root"), stop), kExitFailed);
  std::vector<Json> events = control_plane.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["TrainingJobStatus"], "Failed");
  EXPECT_NE(events[0]["Message"].get<std::string>().find("Bogus"), std::string::npos);
}

TEST(TrainCommandTest, StandAloneModeRunsSpecFile) {
  TempDir dir;
  jobs::JobSpec spec = EntryPointSpec(dir.path(), "succeed");
  WriteText(dir.path() / "spec.json", jobs::JobSpecToJson(spec).dump());
  TrainSettings settings{.job_root = (dir.path() / "root").string(),
                         .spec_file = (dir.path() / "spec.json").string()};
  StopController stop;
  EXPECT_EQ(RunTrain(settings, stop), kExitCompleted);
  EXPECT_TRUE(fs::exists(dir.path() / "root" / "model" / "manifest.json"));
  EXPECT_TRUE(fs::exists(dir.path() / "root" / "output" / "model-package.tar"));
}

TEST(TrainCommandTest, StandAloneWithoutSpecIsBadJob) {
  TempDir dir;
  TrainSettings settings{.job_root = (dir.path() / "root").string()};
  StopController stop;
  EXPECT_EQ(RunTrain(settings, stop), 2);
}

TEST(TrainCommandTest, BadStopGraceIsInvalid) {
  ::setenv("TANDEM_STOP_GRACE_SECONDS", "soon", 1);
  TrainSettings settings;
  Status applied = ApplyEnvironment(settings);
  ::unsetenv("TANDEM_STOP_GRACE_SECONDS");
  ASSERT_FALSE(applied);
  EXPECT_EQ(applied.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(applied.error().message(),
            "TANDEM_STOP_GRACE_SECONDS: expected a whole number of seconds, got \"soon\"");
}

TEST(TrainCommandTest, AttemptReadFromEnvironment) {
  ::setenv("TANDEM_JOB_ATTEMPT", "3", 1);
  TrainSettings settings;
  Status applied = ApplyEnvironment(settings);
  ::unsetenv("TANDEM_JOB_ATTEMPT");
  ASSERT_TRUE(applied) << applied.error().message();
  EXPECT_EQ(settings.attempt, 3);

  TrainSettings unset;
  ASSERT_TRUE(ApplyEnvironment(unset));
  EXPECT_EQ(unset.attempt, std::nullopt);
}

TEST(TrainCommandTest, BadAttemptIsInvalid) {
  for (const char* bad : {"0", "-1", "two", "2x"}) {
    SCOPED_TRACE(bad);
    ::setenv("TANDEM_JOB_ATTEMPT", bad, 1);
    TrainSettings settings;
    Status applied = ApplyEnvironment(settings);
    ::unsetenv("TANDEM_JOB_ATTEMPT");
    ASSERT_FALSE(applied);
    EXPECT_EQ(applied.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(applied.error().message(),
              fmt::format("TANDEM_JOB_ATTEMPT: expected an attempt number of 1 or more, got \"{}\"",
                          bad));
  }
}

}  // namespace
}  // namespace tandem::runtime
