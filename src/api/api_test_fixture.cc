#include "api/api_test_fixture.h"

#include <fmt/format.h>

#include "common/clock.h"
#include "common/crypto.h"
#include "common/file_util.h"
#include "registry/artifact_store.h"
#include "store/sqlite_store.h"

namespace tandem::api {

Result<backends::LaunchInfo> FakeBackend::Launch(const backends::LaunchRequest& request) {
  std::lock_guard lock(mutex_);
  if (launch_error_) return std::unexpected(*launch_error_);
  launches_.push_back(request);
  return backends::LaunchInfo{.native_id = fmt::format("fake:{}", launches_.size())};
}

Status FakeBackend::Stop(std::string_view native_id, std::chrono::seconds grace) {
  std::lock_guard lock(mutex_);
  stops_.emplace_back(std::string(native_id), grace);
  return Ok();
}

Result<backends::Observation> FakeBackend::Describe(std::string_view) {
  std::lock_guard lock(mutex_);
  return observation_;
}

void FakeBackend::SetObservation(backends::Observation observation) {
  std::lock_guard lock(mutex_);
  observation_ = std::move(observation);
}

std::vector<backends::LaunchRequest> FakeBackend::launches() const {
  std::lock_guard lock(mutex_);
  return launches_;
}

std::vector<std::pair<std::string, std::chrono::seconds>> FakeBackend::stops() const {
  std::lock_guard lock(mutex_);
  return stops_;
}

void FakeBackend::FailLaunches(std::optional<Error> error) {
  std::lock_guard lock(mutex_);
  launch_error_ = std::move(error);
}

void ApiTest::SetUp() {
  temp_dir_ = std::filesystem::temp_directory_path() /
              fmt::format("tandem-api-test-{}", RandomHex(6));
  data_dir_ = temp_dir_ / "data";
  input_root_ = temp_dir_ / "inputs";
  ASSERT_TRUE(CreateDirectories(input_root_ / "flights" / "train"));
  ASSERT_TRUE(CreateDirectories(data_dir_));

  auto store = store::OpenSqliteStore(data_dir_ / "tandem.db");
  ASSERT_TRUE(store) << store.error().message();
  store_ = std::move(*store);
  auto artifacts = registry::OpenLocalArtifactStore(data_dir_ / "artifacts");
  ASSERT_TRUE(artifacts) << artifacts.error().message();
  artifacts_ = std::move(*artifacts);

  ControlPlaneOptions options{.data_dir = data_dir_,
                              .input_roots = {input_root_},
                              .api_url = "http://127.0.0.1:1",
                              .admin_token = std::string(kAdminToken),
                              .stop_grace = std::chrono::seconds(7),
                              .admission_limits = admission_limits_};
  plane_ = std::make_unique<ControlPlane>(options, *store_, *artifacts_, clock_);
  plane_->SetBackend(&backend_);
  router_ = std::make_unique<http::Router>();
  plane_->AddRoutes(*router_);
  server_ = std::make_unique<http::Server>(
      http::ServerOptions{.port = 0, .body_limit = &ControlPlane::BodyLimit},
      router_->AsHandler());
  auto port = server_->Start();
  ASSERT_TRUE(port) << port.error().message();
  url_ = fmt::format("http://127.0.0.1:{}", *port);
  client_ = std::make_unique<http::Client>(url_);
}

void ApiTest::TearDown() {
  client_.reset();
  if (server_) server_->Stop();
  server_.reset();
  plane_.reset();
  std::error_code error;
  std::filesystem::remove_all(temp_dir_, error);
}

http::Response ApiTest::Send(std::string_view method, std::string_view target,
                             std::string_view body, std::string_view token,
                             std::string_view content_type) {
  http::HeaderList headers;
  if (!token.empty()) headers.emplace_back("Authorization", fmt::format("Bearer {}", token));
  if (!body.empty()) headers.emplace_back("Content-Type", std::string(content_type));
  auto response = client_->Send(method, target, body, headers, std::chrono::seconds(10));
  EXPECT_TRUE(response) << response.error().message();
  if (!response) return http::Response{.status = 0};
  return *response;
}

Json ApiTest::BodyOf(const http::Response& response) {
  auto body = ParseJson(response.body, "response body");
  EXPECT_TRUE(body) << response.body;
  return body ? *body : Json();
}

Json ApiTest::ValidSpec(std::string_view name) const {
  return {
      {"TrainingJobName", name},
      {"Repository", "flights"},
      {"AlgorithmSpecification", {{"AlgorithmName", "xgboost"}}},
      {"FeaturePipeline",
       {{"Label", "delay"}, {"Features", {{{"Field", "distance"}, {"Kind", "numeric"}}}}}},
      {"HyperParameters", {{"num_round", "10"}}},
      {"InputDataConfig",
       {{{"ChannelName", "train"},
         {"DataSource",
          {{"FileDataSource", {{"Path", (input_root_ / "flights" / "train").string()}}}}}}}},
      {"OutputDataConfig", {{"ModelName", "flights-delay"}}},
  };
}

Json ApiTest::CreateJob(const Json& spec) {
  http::Response response = Send("POST", "/api/v1/jobs", DumpJson(spec));
  EXPECT_EQ(response.status, 201) << response.body;
  return BodyOf(response);
}

std::string ApiTest::JobTokenOf(const std::string& job_id) const {
  for (const auto& launch : backend_.launches()) {
    if (launch.job_id == job_id) return launch.job_token;
  }
  ADD_FAILURE() << "job " << job_id << " was never launched";
  return "";
}

Json ApiTest::RuntimeEvent(std::string id, std::string secondary, int64_t observed_ms,
                           Json details) {
  return {{"EventId", std::move(id)},
          {"Source", "runtime"},
          {"ObservedAt", FormatTimestamp(observed_ms)},
          {"SecondaryStatus", std::move(secondary)},
          {"Details", std::move(details)}};
}

}  // namespace tandem::api
