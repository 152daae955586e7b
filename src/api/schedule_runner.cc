#include "api/schedule_runner.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>

#include "store/leader_lock.h"
#include "store/postgres_store.h"

namespace tandem::api {
namespace {

constexpr std::chrono::seconds kLeaderRetry{3};

constexpr ErrorCode kAllCodes[] = {
    ErrorCode::kInvalidArgument,  ErrorCode::kNotFound,          ErrorCode::kAlreadyExists,
    ErrorCode::kFailedPrecondition, ErrorCode::kUnauthenticated, ErrorCode::kPermissionDenied,
    ErrorCode::kPayloadTooLarge,  ErrorCode::kUnsupportedMediaType,
    ErrorCode::kResourceExhausted, ErrorCode::kUnavailable,      ErrorCode::kDeadlineExceeded,
    ErrorCode::kAborted,          ErrorCode::kInternal,
};

// Turns an API error body ({"error": ..., "code": "not_found"}) back into an Error.
Error ErrorFromBody(int status, const Json& body) {
  std::string message = fmt::format("HTTP status {}", status);
  std::string name;
  if (body.is_object() && body.contains("error") && body["error"].is_string()) {
    message = body["error"].get<std::string>();
  }
  if (body.is_object() && body.contains("code") && body["code"].is_string()) {
    name = body["code"].get<std::string>();
  }
  for (ErrorCode code : kAllCodes) {
    if (ErrorCodeName(code) == name) return Error(code, std::move(message));
  }
  return Error(ErrorCode::kInternal, std::move(message));
}

}  // namespace

ApiRunLauncher::ApiRunLauncher(const http::Router& router, std::string admin_token,
                               store::Store& store)
    : router_(router), admin_token_(std::move(admin_token)), store_(store) {}

Result<Json> ApiRunLauncher::Dispatch(const std::string& target, const Json& body, int* status) {
  http::Request request;
  request.method = "POST";
  request.target = target;
  request.path = target;
  request.body = DumpJson(body);
  request.headers.emplace_back("Authorization", fmt::format("Bearer {}", admin_token_));
  request.headers.emplace_back("Content-Type", "application/json");
  http::Response response = router_.Dispatch(request);
  *status = response.status;
  Result<Json> parsed = ParseJson(response.body, "API response");
  if (response.status >= 400) {
    return std::unexpected(ErrorFromBody(response.status, parsed.value_or(Json())));
  }
  return parsed;
}

Result<store::CreateJobResult> ApiRunLauncher::Submit(const jobs::JobSpec& spec) {
  int status = 0;
  TANDEM_ASSIGN_OR_RETURN(Json job, Dispatch("/api/v1/jobs", jobs::JobSpecToJson(spec), &status));
  if (!job.is_object() || !job.contains("JobId") || !job["JobId"].is_string()) {
    return Internal(fmt::format("submitting job {}: the API response has no JobId",
                                spec.training_job_name));
  }
  TANDEM_ASSIGN_OR_RETURN(store::Job stored, store_.GetJob(job["JobId"].get<std::string>()));
  return store::CreateJobResult{.job = std::move(stored), .created = status == 201};
}

Status ApiRunLauncher::Stop(const std::string& job_id) {
  int status = 0;
  TANDEM_RETURN_IF_ERROR(
      Dispatch(fmt::format("/api/v1/jobs/{}/stop", job_id), Json::object(), &status));
  return Ok();
}

schedules::Scheduler::LeaderCheck ScheduleLeaderCheck(const std::string& database) {
  if (!store::IsPostgresUri(database)) return nullptr;
  auto lock = std::make_shared<std::unique_ptr<store::LeaderLock>>();
  auto last_attempt = std::make_shared<std::chrono::steady_clock::time_point>();
  return [lock, last_attempt, database] {
    if (*lock && (*lock)->held()) return true;
    if (*lock) {
      spdlog::warn("scheduler leader lock lost; standing by");
      lock->reset();
    }

    // A standby tries the lock at most every kLeaderRetry, because each try
    // opens a connection.
    auto now = std::chrono::steady_clock::now();
    if (now - *last_attempt < kLeaderRetry) return false;
    *last_attempt = now;
    Result<std::unique_ptr<store::LeaderLock>> taken =
        store::TryAcquireLeaderLock(database, "scheduler");
    if (!taken) {
      spdlog::warn("scheduler leader lock attempt failed error={}", taken.error().message());
      return false;
    }
    if (!*taken) return false;
    spdlog::info("scheduler leader lock acquired; this process runs the scheduler");
    *lock = std::move(*taken);
    return true;
  };
}

}  // namespace tandem::api
