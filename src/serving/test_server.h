// Test harnesses for the serving tests: an in-process server on 127.0.0.1
// with its own port, and a `serve` child process.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/http.h"
#include "serving/inference_service.h"
#include "serving/metrics.h"
#include "serving/model_manager.h"
#include "serving/repository_service.h"
#include "serving/traffic.h"

namespace tandem::serving::testing {

inline constexpr auto kLoadTimeout = std::chrono::seconds(60);

struct TestServerOptions {
  ModelManagerOptions manager;  // its model_options.metrics is set to the server's
  std::vector<CanaryRule> canaries;
  std::vector<ShadowRule> shadows;
  size_t shadow_queue = 1000;
  std::string admin_token;  // empty: repository routes disabled
  int threads = 2;
  size_t max_body_bytes = 6 * 1024 * 1024;
};

// ModelManager, metrics, shadow mirror, services and http::Server wired as
// `tandem serve` wires them. Loading starts in the constructor.
class TestServer {
 public:
  explicit TestServer(std::vector<ModelSource> sources, TestServerOptions options = {});
  ~TestServer();
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  bool WaitLoaded() { return models_->WaitUntilSettled(kLoadTimeout); }
  // Sends on this thread's keep-alive connection; status -1 when sending failed.
  http::Response Send(std::string_view method, std::string_view target, std::string_view body = "",
                      const http::HeaderList& headers = {});
  std::string url() const;
  ModelManager& models() { return *models_; }
  ServingMetrics& metrics() { return metrics_; }
  ShadowMirror* shadow() { return shadow_.get(); }
  InferenceService& service() { return *service_; }

 private:
  ServingMetrics metrics_;
  std::unique_ptr<ModelManager> models_;
  std::unique_ptr<ShadowMirror> shadow_;
  std::unique_ptr<InferenceService> service_;
  std::unique_ptr<RepositoryService> repository_;
  http::Router router_;
  std::unique_ptr<http::Server> server_;
  uint16_t port_ = 0;
};

// Returns the value of the series written exactly as `series` (name and
// labels in alphabetical order, e.g. `x_total{code="200",model="m"}`) in
// Prometheus text, or nullopt when absent.
std::optional<double> MetricValue(const std::string& text, std::string_view series);

// A `serve` child process whose stdout and stderr go to `log`; killed with
// SIGKILL when the object is destroyed before it exited.
class ServeProcess {
 public:
  ServeProcess(const std::string& tool, std::vector<std::string> args,
               const std::filesystem::path& log, std::vector<std::string> extra_env = {});
  ~ServeProcess();
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  // Waits up to `timeout` for the exit; returns the exit code (128 + signal when killed).
  std::optional<int> WaitExit(std::chrono::seconds timeout);
  // Waits up to `timeout` for the "listening" log line and returns its port.
  std::optional<uint16_t> WaitListening(std::chrono::seconds timeout);
  void Signal(int signal);
  std::string Log() const;

 private:
  std::filesystem::path log_;
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
};

// Polls GET url+target until it returns `status`, for at most `timeout`.
bool WaitForStatus(const std::string& url, std::string_view target, int status,
                   std::chrono::seconds timeout);

}  // namespace tandem::serving::testing
