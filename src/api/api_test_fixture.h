// Shared setup of the api_* tests: the real handlers over http::Server on
// 127.0.0.1, a SQLite store and a local artifact store in a temporary
// directory, a FakeClock, and a fake Backend that records launches and stops.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "api/control_plane.h"
#include "common/http.h"
#include "common/json_util.h"

namespace tandem::api {

// A Backend that runs nothing: it records what it was asked.
class FakeBackend final : public backends::Backend {
 public:
  std::string_view name() const override { return "fake"; }
  Result<backends::LaunchInfo> Launch(const backends::LaunchRequest& request) override;
  Status Stop(std::string_view native_id, std::chrono::seconds grace) override;
  Result<backends::Observation> Describe(std::string_view native_id) override;

  std::vector<backends::LaunchRequest> launches() const;
  std::vector<std::pair<std::string, std::chrono::seconds>> stops() const;
  // Sets what Describe returns for every native id (kRunning by default).
  void SetObservation(backends::Observation observation);
  // Makes later launches fail with `error`; std::nullopt lets them succeed again.
  void FailLaunches(std::optional<Error> error);

 private:
  mutable std::mutex mutex_;
  std::vector<backends::LaunchRequest> launches_;
  std::vector<std::pair<std::string, std::chrono::seconds>> stops_;
  std::optional<Error> launch_error_;
  backends::Observation observation_{.state = backends::ObservedState::kRunning};
};

class ApiTest : public ::testing::Test {
 protected:
  static constexpr int64_t kStartMillis = 1796000000000;  // 2026-11-29
  static constexpr std::string_view kAdminToken = "admin-token-for-tests";

  void SetUp() override;
  void TearDown() override;

  // Sends a request; `token` empty sends no Authorization header.
  http::Response Send(std::string_view method, std::string_view target, std::string_view body = "",
                      std::string_view token = kAdminToken,
                      std::string_view content_type = "application/json");
  // Parses a response body, failing the test when it is not JSON.
  static Json BodyOf(const http::Response& response);

  // A valid job spec whose channels lie under the input root.
  Json ValidSpec(std::string_view name = "flights-1") const;
  // Submits `spec` with the admin token; expects 201 and returns the job.
  Json CreateJob(const Json& spec);
  // The job token the fake backend received for `job_id`.
  std::string JobTokenOf(const std::string& job_id) const;
  // Returns a runtime event document.
  static Json RuntimeEvent(std::string id, std::string secondary, int64_t observed_ms,
                           Json details = Json::object());

  std::filesystem::path temp_dir_;
  std::filesystem::path data_dir_;
  std::filesystem::path input_root_;
  FakeClock clock_{kStartMillis};
  // Passed to the ControlPlane by SetUp; a test fixture may set it in its constructor.
  AdmissionLimits admission_limits_;
  FakeBackend backend_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<registry::ArtifactStore> artifacts_;
  std::unique_ptr<ControlPlane> plane_;
  std::unique_ptr<http::Router> router_;
  std::unique_ptr<http::Server> server_;
  std::unique_ptr<http::Client> client_;
  std::string url_;  // the control plane's base URL, "http://127.0.0.1:PORT"
};

}  // namespace tandem::api
