// The control-plane calls that `tandem train` makes with its job token:
// GET /api/v1/jobs/{id}, POST /api/v1/jobs/{id}/events and
// PUT /api/v1/jobs/{id}/model-package.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>

#include "common/http.h"
#include "common/json_util.h"
#include "common/status.h"

namespace tandem::runtime {

// How long to keep trying while the control plane is unreachable. The pause
// between attempts starts at initial_backoff and doubles up to max_backoff.
struct RetryPolicy {
  std::chrono::milliseconds window{std::chrono::minutes(2)};
  std::chrono::milliseconds initial_backoff{200};
  std::chrono::milliseconds max_backoff{std::chrono::seconds(10)};
};

// True for failures that a later attempt may not repeat: kUnavailable,
// kDeadlineExceeded, and HTTP 429 and 5xx responses.
bool IsRetryable(const Error& error);

// One job's view of the control plane. Not thread-safe: one per thread.
class ControlPlaneClient {
 public:
  // `api_url` is the server's base URL ("http://127.0.0.1:8500"); `token` is
  // the job token, sent as a Bearer token and never logged.
  ControlPlaneClient(std::string api_url, std::string job_id, std::string token);

  const std::string& job_id() const { return job_id_; }

  // Returns the job document. Errors: the HTTP error mapped to its ErrorCode
  // (404 -> kNotFound, 401 -> kUnauthenticated, 503 -> kUnavailable, ...)
  // with the server's message; transport errors of http::Client.
  Result<Json> GetJob();

  // Posts one event document. Errors as for GetJob.
  Status PostEvent(const Json& event);

  // Uploads a model package archive; returns the response body {"Digest", "SizeBytes"}.
  // Errors as for GetJob, and those of reading the archive.
  Result<Json> PutModelPackage(const std::filesystem::path& archive);

 private:
  Result<http::Response> Send(std::string_view method, std::string_view target,
                              std::string_view body, std::string_view content_type,
                              std::chrono::milliseconds timeout);

  http::Client http_;
  std::string job_id_;
  std::string token_;
};

// Runs `call` until it succeeds, fails with an error IsRetryable() rejects, or
// `policy.window` has passed; logs each retry at WARN with `what`.
Status RetryCall(const RetryPolicy& policy, std::string_view what, const std::function<Status()>& call);

}  // namespace tandem::runtime
