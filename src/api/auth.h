// Bearer-token checks for the control plane's mutating calls (docs/api.md,
// "Authentication").
//
// Two kinds of token exist: the admin token (DATA_DIR/admin.token), which may
// do everything, and a job token, created at submission and handed only to
// that job's `tandem train`, which may post that job's events and upload its
// model package. The store keeps only Sha256Hex(job token).
//
// A job token presented for another job gets 401 like any wrong token. The
// server cannot tell it from a random string without a lookup by token, and a
// different status would reveal to a caller that a token is valid elsewhere.
//
// Thread-safe (immutable after construction).
#pragma once

#include <string>
#include <string_view>

#include "common/http.h"
#include "common/status.h"
#include "store/store.h"

namespace tandem::api {

// The kind of token a request carried.
enum class Caller { kAdmin, kJob };

class Authenticator {
 public:
  explicit Authenticator(std::string admin_token);

  // Succeeds when the request carries the admin token.
  // Errors: kUnauthenticated for a missing or malformed Authorization header
  // or any other token.
  Status RequireAdmin(const http::Request& request) const;

  // Returns who made the request when it carries the admin token or the job
  // token of `job`. Errors: kUnauthenticated otherwise.
  Result<Caller> RequireAdminOrJob(const http::Request& request, const store::Job& job) const;

  // Returns the token of the job named `job_name` in `repository`: the
  // HMAC-SHA256 of both under the admin token, as 64 hex digits. A job name is
  // unique per repository, so every call for one job returns the same token,
  // and a restarted control plane that launches a stored job hands it the
  // token whose digest the store kept at submit. Replacing admin.token
  // changes the tokens of jobs launched afterwards.
  std::string JobToken(std::string_view repository, std::string_view job_name) const;

 private:
  std::string admin_token_;
};

// Returns a new job token: 64 random hex digits.
std::string NewJobToken();

// Returns the digest stored for `job_token`.
std::string JobTokenDigest(std::string_view job_token);

// Returns the token of an "Authorization: Bearer TOKEN" header.
// Errors: kUnauthenticated naming what is missing or malformed (never the token).
Result<std::string> BearerToken(const http::Request& request);

}  // namespace tandem::api
