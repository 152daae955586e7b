// `serve` following the registry: a real control plane (in process, on
// 127.0.0.1) registers versions and moves aliases, and a real `serve` process
// polls it every second. Every wait is bounded by kTimeout.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "api/api_test_fixture.h"
#include "common/file_util.h"
#include "common/http.h"
#include "model/package.h"
#include "serving/test_package.h"
#include "serving/test_server.h"

namespace tandem::serving {
namespace {

using ::testing::HasSubstr;
using testing::ScratchDir;

constexpr auto kTimeout = std::chrono::seconds(60);
constexpr std::string_view kInferBody =
    R"({"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP32", "data": [500, 1, 13, 2]}]})";

class RegistryFollowTest : public api::ApiTest {
 protected:
  // Builds a test package, uploads it as the package of a new completed job
  // and returns the version the registry gave it.
  int64_t RegisterVersion(const std::string& job_name, const testing::TestPackageOptions& options) {
    const std::filesystem::path dir = scratch_.path() / job_name;
    EXPECT_TRUE(testing::BuildTestPackage(dir, options).has_value());
    const std::filesystem::path archive = scratch_.path() / (job_name + ".tar");
    EXPECT_TRUE(model::ArchivePackage(dir, archive).has_value());
    Result<std::string> bytes = ReadFile(archive);
    EXPECT_TRUE(bytes.has_value());
    Result<std::string> manifest_text = ReadFile(dir / "manifest.json");
    EXPECT_TRUE(manifest_text.has_value());
    Result<Json> manifest = ParseJson(manifest_text.value_or("{}"), "manifest");

    Json job = CreateJob(ValidSpec(job_name));
    const std::string id = job["JobId"];
    const std::string token = JobTokenOf(id);
    http::Response uploaded = Send("PUT", fmt::format("/api/v1/jobs/{}/model-package", id),
                                   bytes.value_or(""), token, "application/x-tar");
    EXPECT_EQ(uploaded.status, 201) << uploaded.body;
    Json event = RuntimeEvent("completed", "Completed", kStartMillis + 1000,
                              {{"ModelPackage", {{"Digest", BodyOf(uploaded)["Digest"]},
                                                 {"SizeBytes", bytes.value_or("").size()},
                                                 {"Manifest", manifest.value_or(Json::object())}}}});
    http::Response posted =
        Send("POST", fmt::format("/api/v1/jobs/{}/events", id), DumpJson(event), token);
    EXPECT_EQ(posted.status, 202) << posted.body;
    Json job_after = BodyOf(Send("GET", fmt::format("/api/v1/jobs/{}", id)));
    return job_after["ModelVersion"].value("Version", int64_t{0});
  }

  void SetAlias(std::string_view alias, int64_t version) {
    http::Response response =
        Send("PUT", fmt::format("/api/v1/models/flights-delay/aliases/{}", alias),
             DumpJson(Json{{"Version", version}}));
    ASSERT_EQ(response.status, 200) << response.body;
  }

  // Starts `serve --model MODEL --registry URL --poll-seconds 1` and waits until it is ready.
  std::unique_ptr<testing::ServeProcess> StartServe(const std::string& model) {
    auto process = std::make_unique<testing::ServeProcess>(
        SERVE_TOOL_PATH,
        std::vector<std::string>{"--model", model, "--registry", url_, "--poll-seconds", "1",
                                 "--cache-dir", (scratch_.path() / "cache").string(), "--port",
                                 "0", "--threads", "2"},
        scratch_.path() / "serve.log");
    std::optional<uint16_t> port = process->WaitListening(kTimeout);
    EXPECT_TRUE(port.has_value()) << process->Log();
    serve_url_ = fmt::format("http://127.0.0.1:{}", port.value_or(0));
    EXPECT_TRUE(testing::WaitForStatus(serve_url_, "/v2/health/ready", 200, kTimeout))
        << process->Log();
    return process;
  }

  // Returns the model_version of one infer response, or the error.
  std::string ServedVersion() {
    Result<http::Response> response =
        http::Fetch("POST", serve_url_ + "/v2/models/flights-delay/infer", kInferBody, {},
                    std::chrono::seconds(5));
    if (!response) return "error: " + response.error().message();
    if (response->status != 200) return fmt::format("status {}", response->status);
    Result<Json> body = ParseJson(response->body, "infer response");
    if (!body) return "error: " + body.error().message();
    return body->value("model_version", std::string("none"));
  }

  // Waits until infer responds with `version`. Returns the last response seen.
  std::string WaitForVersion(std::string_view version) {
    const auto deadline = std::chrono::steady_clock::now() + kTimeout;
    std::string seen = ServedVersion();
    while (seen != version && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      seen = ServedVersion();
    }
    return seen;
  }

  ScratchDir scratch_;
  std::string serve_url_;
};

TEST_F(RegistryFollowTest, LatestPollSwapsToNewVersion) {
  ASSERT_EQ(RegisterVersion("run-1", {.rounds = 10}), 1);
  auto serve = StartServe("flights-delay:latest");
  EXPECT_EQ(ServedVersion(), "1") << serve->Log();

  ASSERT_EQ(RegisterVersion("run-2", {.rounds = 12}), 2);
  EXPECT_EQ(WaitForVersion("2"), "2") << serve->Log();
  EXPECT_THAT(serve->Log(), HasSubstr("model poll found a new version model=flights-delay"));
}

TEST_F(RegistryFollowTest, AliasMovesForwardAndBack) {
  ASSERT_EQ(RegisterVersion("run-1", {.rounds = 10}), 1);
  ASSERT_EQ(RegisterVersion("run-2", {.rounds = 12}), 2);
  SetAlias("production", 1);
  auto serve = StartServe("flights-delay@production");
  EXPECT_EQ(ServedVersion(), "1") << serve->Log();

  SetAlias("production", 2);
  EXPECT_EQ(WaitForVersion("2"), "2") << serve->Log();
  // A rollback: the alias moves to a lower version, and serve follows it.
  SetAlias("production", 1);
  EXPECT_EQ(WaitForVersion("1"), "1") << serve->Log();
  EXPECT_TRUE(testing::WaitForStatus(serve_url_, "/v2/health/ready", 200, kTimeout));
}

TEST_F(RegistryFollowTest, FailedLoadKeepsAliasedVersion) {
  ASSERT_EQ(RegisterVersion("run-1", {.rounds = 10}), 1);
  ASSERT_EQ(RegisterVersion("run-2", {.wrong_self_test = true, .rounds = 12}), 2);
  SetAlias("production", 1);
  auto serve = StartServe("flights-delay@production");
  EXPECT_EQ(ServedVersion(), "1") << serve->Log();

  SetAlias("production", 2);
  const auto deadline = std::chrono::steady_clock::now() + kTimeout;
  while (serve->Log().find("previous version keeps serving") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_THAT(serve->Log(), HasSubstr("result=self_test_failed"));
  EXPECT_EQ(ServedVersion(), "1") << serve->Log();
  EXPECT_TRUE(testing::WaitForStatus(serve_url_, "/v2/health/ready", 200, kTimeout));
}

TEST_F(RegistryFollowTest, UnknownAliasIsNotReady) {
  ASSERT_EQ(RegisterVersion("run-1", {.rounds = 10}), 1);
  testing::ServeProcess serve(
      SERVE_TOOL_PATH,
      {"--model", "flights-delay@staging", "--registry", url_, "--cache-dir",
       (scratch_.path() / "cache").string(), "--port", "0"},
      scratch_.path() / "serve.log");
  std::optional<uint16_t> port = serve.WaitListening(kTimeout);
  ASSERT_TRUE(port.has_value()) << serve.Log();
  const std::string url = fmt::format("http://127.0.0.1:{}", *port);
  ASSERT_TRUE(testing::WaitForStatus(url, "/v2/health/ready", 503, kTimeout));
  const auto deadline = std::chrono::steady_clock::now() + kTimeout;
  while (serve.Log().find("model load failed") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_THAT(serve.Log(), HasSubstr("model load failed model=flights-delay"));
  EXPECT_THAT(serve.Log(), HasSubstr("/api/v1/models/flights-delay/aliases/staging"));
}

}  // namespace
}  // namespace tandem::serving
