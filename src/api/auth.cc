#include "api/auth.h"

#include <fmt/format.h>

#include "common/crypto.h"

namespace tandem::api {

Authenticator::Authenticator(std::string admin_token) : admin_token_(std::move(admin_token)) {}

Result<std::string> BearerToken(const http::Request& request) {
  std::string header = request.Header("Authorization");
  if (header.empty()) {
    return Unauthenticated(
        "missing Authorization header; send \"Authorization: Bearer TOKEN\" with the admin "
        "token (DATA_DIR/admin.token)");
  }
  constexpr std::string_view kPrefix = "Bearer ";
  if (header.size() <= kPrefix.size() || header.compare(0, kPrefix.size(), kPrefix) != 0) {
    return Unauthenticated("malformed Authorization header, expected \"Bearer TOKEN\"");
  }
  return header.substr(kPrefix.size());
}

Status Authenticator::RequireAdmin(const http::Request& request) const {
  TANDEM_ASSIGN_OR_RETURN(std::string token, BearerToken(request));
  if (admin_token_.empty() || !ConstantTimeEquals(token, admin_token_)) {
    return Unauthenticated("invalid token; this call needs the admin token");
  }
  return Ok();
}

Result<Caller> Authenticator::RequireAdminOrJob(const http::Request& request,
                                                const store::Job& job) const {
  TANDEM_ASSIGN_OR_RETURN(std::string token, BearerToken(request));
  if (!admin_token_.empty() && ConstantTimeEquals(token, admin_token_)) return Caller::kAdmin;
  if (!job.job_token_digest.empty() &&
      ConstantTimeEquals(JobTokenDigest(token), job.job_token_digest)) {
    return Caller::kJob;
  }
  return Unauthenticated(
      fmt::format("invalid token for job {}; use the admin token or that job's token", job.id));
}

std::string Authenticator::JobToken(std::string_view repository,
                                    std::string_view job_name) const {
  // Neither part may contain a newline (both are resource names), so the
  // message names one job.
  return HmacSha256Hex(admin_token_, fmt::format("job-token\n{}\n{}", repository, job_name));
}

std::string NewJobToken() { return RandomHex(32); }

std::string JobTokenDigest(std::string_view job_token) { return Sha256Hex(job_token); }

}  // namespace tandem::api
