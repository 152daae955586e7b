// Test harness that runs the real `tandem` binary: a control plane on
// 127.0.0.1 with its own data directory, the client commands, and inference
// servers. Every process it starts is stopped when its owner is destroyed.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/http.h"
#include "common/json_util.h"
#include "common/process.h"

namespace tandem::e2e {

// A directory under the system temp directory, removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Returns a TCP port on 127.0.0.1 that was free a moment ago.
uint16_t PickFreePort();

struct CommandOutput {
  int exit_code = -1;
  std::string output;  // standard output and standard error, interleaved
};

// Runs `tandem ARGS...` to completion with `environment` added to a minimal one.
CommandOutput RunTandem(const std::vector<std::string>& args,
                        const std::map<std::string, std::string>& environment = {},
                        std::chrono::seconds timeout = std::chrono::seconds(300));

// Polls GET `url` until it answers 200 or `timeout` passes; returns whether it did.
bool WaitForOk(const std::string& url, std::chrono::seconds timeout);

// A `tandem server` process with a fresh data directory whose input root is the
// repository's tests/data and examples directories plus DATA_DIR/inputs.
class ControlPlane {
 public:
  ControlPlane() : ControlPlane(std::vector<std::string>{}) {}
  // Passes `extra_server_args` to `tandem server` after the harness's own
  // arguments, e.g. {"--config", path}.
  explicit ControlPlane(const std::vector<std::string>& extra_server_args);
  ~ControlPlane();

  const std::string& url() const { return url_; }
  const std::filesystem::path& data_dir() const { return data_dir_.path(); }
  const std::string& admin_token() const { return admin_token_; }
  bool started() const { return process_.has_value(); }
  std::string ServerLog() const;

  // Environment for client commands: TANDEM_URL and TANDEM_TOKEN.
  std::map<std::string, std::string> ClientEnvironment() const;

  // Sends a request to the API with the admin token.
  Result<http::Response> Call(std::string_view method, std::string_view target,
                              std::string_view body = "") const;

  // Polls the job until it is terminal; returns its last JSON.
  Json WaitForJob(const std::string& job_id, std::chrono::seconds timeout) const;

 private:
  TempDir data_dir_;
  std::string url_;
  std::string admin_token_;
  std::optional<ChildProcess> process_;
};

// A `tandem serve` process.
class InferenceServer {
 public:
  explicit InferenceServer(const std::vector<std::string>& model_args);
  ~InferenceServer();

  const std::string& url() const { return url_; }
  bool WaitReady(std::chrono::seconds timeout) const;
  std::string Log() const;

 private:
  TempDir work_dir_;
  std::string url_;
  std::optional<ChildProcess> process_;
};

}  // namespace tandem::e2e
