#include "runtime/control_plane.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

#include "common/file_util.h"

namespace tandem::runtime {
namespace {

// Turns a non-2xx response into its error kind, keeping the
// server's own message when the body has one.
Error ErrorFromResponse(const http::Response& response, std::string_view what) {
  std::string detail = response.body.substr(0, 512);
  auto parsed = ParseJson(response.body, "error body");
  if (parsed && parsed->is_object() && parsed->contains("error") && (*parsed)["error"].is_string()) {
    detail = (*parsed)["error"].get<std::string>();
  }
  std::string message =
      fmt::format("{}: control plane answered HTTP {}: {}", what, response.status, detail);
  switch (response.status) {
    case 400: return Error(ErrorCode::kInvalidArgument, message);
    case 401: return Error(ErrorCode::kUnauthenticated, message);
    case 403: return Error(ErrorCode::kPermissionDenied, message);
    case 404: return Error(ErrorCode::kNotFound, message);
    case 409: return Error(ErrorCode::kFailedPrecondition, message);
    case 413: return Error(ErrorCode::kPayloadTooLarge, message);
    case 415: return Error(ErrorCode::kUnsupportedMediaType, message);
    default: break;
  }
  if (response.status == 429 || response.status >= 500) {
    return Error(ErrorCode::kUnavailable, message);
  }
  return Error(ErrorCode::kInternal, message);
}

}  // namespace

bool IsRetryable(const Error& error) {
  return error.code() == ErrorCode::kUnavailable || error.code() == ErrorCode::kDeadlineExceeded;
}

ControlPlaneClient::ControlPlaneClient(std::string api_url, std::string job_id, std::string token)
    : http_(std::move(api_url)), job_id_(std::move(job_id)), token_(std::move(token)) {}

Result<http::Response> ControlPlaneClient::Send(std::string_view method, std::string_view target,
                                                std::string_view body,
                                                std::string_view content_type,
                                                std::chrono::milliseconds timeout) {
  http::HeaderList headers = {{"Authorization", "Bearer " + token_}};
  if (!content_type.empty()) headers.emplace_back("Content-Type", std::string(content_type));
  std::string what = fmt::format("{} {}", method, target);
  auto response = http_.Send(method, target, body, headers, timeout);
  if (!response) return std::unexpected(response.error().WithContext(what));
  if (response->status < 200 || response->status >= 300) {
    return std::unexpected(ErrorFromResponse(*response, what));
  }
  return response;
}

Result<Json> ControlPlaneClient::GetJob() {
  std::string target = "/api/v1/jobs/" + http::PercentEncode(job_id_);
  TANDEM_ASSIGN_OR_RETURN(http::Response response,
                          Send("GET", target, "", "", std::chrono::seconds(30)));
  return ParseJson(response.body, fmt::format("job {} from the control plane", job_id_));
}

Status ControlPlaneClient::PostEvent(const Json& event) {
  std::string target = fmt::format("/api/v1/jobs/{}/events", http::PercentEncode(job_id_));
  TANDEM_RETURN_IF_ERROR(
      Send("POST", target, DumpJson(event), "application/json", std::chrono::seconds(30)));
  return Ok();
}

Result<Json> ControlPlaneClient::PutModelPackage(const std::filesystem::path& archive) {
  // NOTE: the whole archive is held in memory while it is sent; packages of
  // several GiB would need a streaming body in http::Client.
  TANDEM_ASSIGN_OR_RETURN(std::string body, ReadFile(archive));
  std::string target = fmt::format("/api/v1/jobs/{}/model-package", http::PercentEncode(job_id_));
  TANDEM_ASSIGN_OR_RETURN(http::Response response,
                          Send("PUT", target, body, "application/x-tar", std::chrono::minutes(10)));
  return ParseJson(response.body, "model package upload answer");
}

Status RetryCall(const RetryPolicy& policy, std::string_view what,
                 const std::function<Status()>& call) {
  auto deadline = std::chrono::steady_clock::now() + policy.window;
  auto backoff = policy.initial_backoff;
  for (int attempt = 1;; ++attempt) {
    Status status = call();
    if (status || !IsRetryable(status.error())) return status;
    auto now = std::chrono::steady_clock::now();
    if (now + backoff > deadline) {
      return std::unexpected(status.error().WithContext(
          fmt::format("{}: gave up after {} attempts", what, attempt)));
    }
    spdlog::warn("control plane call failed, retrying call=\"{}\" attempt={} retry_in_ms={} error=\"{}\"",
                 what, attempt, backoff.count(), status.error().message());
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, policy.max_backoff);
  }
}

}  // namespace tandem::runtime
