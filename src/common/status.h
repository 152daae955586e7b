// Errors as values.
//
// Every fallible function returns Result<T> (std::expected<T, Error>) or Status
// (Result<void>). An Error carries the most specific ErrorCode that applies and
// a message in plain words that names the value at fault. Each layer that
// passes an error up prefixes its own context with WithContext(), so a message
// reads from the outside in: "job flights-1: channel train: file not found".
//
// ErrorCode maps to HTTP in exactly one place, HttpStatusFor().
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace tandem {

enum class ErrorCode {
  kInvalidArgument,     // the caller's input is wrong; retrying it unchanged fails again
  kNotFound,            // a named job, model, version or file does not exist
  kAlreadyExists,       // a unique name is taken by something different
  kFailedPrecondition,  // the request is valid but the target's state forbids it
  kUnauthenticated,     // no token or a wrong token for a mutating call
  kPermissionDenied,    // a path or action outside what the caller may touch
  kPayloadTooLarge,     // a body over the configured limit
  kUnsupportedMediaType,
  kResourceExhausted,   // a limit or a quota is reached
  kUnavailable,         // a dependency could not be reached; retrying may work
  kDeadlineExceeded,
  kAborted,             // a concurrent change won; retrying may work
  kInternal,            // a bug or a broken invariant
};

// Returns the stable lower_snake name used in JSON error bodies ("not_found").
std::string_view ErrorCodeName(ErrorCode code);

// Returns the HTTP status code for `code` (400, 404, 409, 503, ...).
int HttpStatusFor(ErrorCode code);

class Error {
 public:
  Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Returns a copy whose message is "<context>: <message>".
  Error WithContext(std::string_view context) const;

 private:
  ErrorCode code_;
  std::string message_;
};

template <typename T>
using Result = std::expected<T, Error>;
using Status = Result<void>;

inline Status Ok() { return {}; }

inline std::unexpected<Error> InvalidArgument(std::string m) { return std::unexpected(Error(ErrorCode::kInvalidArgument, std::move(m))); }
inline std::unexpected<Error> NotFound(std::string m) { return std::unexpected(Error(ErrorCode::kNotFound, std::move(m))); }
inline std::unexpected<Error> AlreadyExists(std::string m) { return std::unexpected(Error(ErrorCode::kAlreadyExists, std::move(m))); }
inline std::unexpected<Error> FailedPrecondition(std::string m) { return std::unexpected(Error(ErrorCode::kFailedPrecondition, std::move(m))); }
inline std::unexpected<Error> Unauthenticated(std::string m) { return std::unexpected(Error(ErrorCode::kUnauthenticated, std::move(m))); }
inline std::unexpected<Error> PermissionDenied(std::string m) { return std::unexpected(Error(ErrorCode::kPermissionDenied, std::move(m))); }
inline std::unexpected<Error> PayloadTooLarge(std::string m) { return std::unexpected(Error(ErrorCode::kPayloadTooLarge, std::move(m))); }
inline std::unexpected<Error> UnsupportedMediaType(std::string m) { return std::unexpected(Error(ErrorCode::kUnsupportedMediaType, std::move(m))); }
inline std::unexpected<Error> ResourceExhausted(std::string m) { return std::unexpected(Error(ErrorCode::kResourceExhausted, std::move(m))); }
inline std::unexpected<Error> Unavailable(std::string m) { return std::unexpected(Error(ErrorCode::kUnavailable, std::move(m))); }
inline std::unexpected<Error> DeadlineExceeded(std::string m) { return std::unexpected(Error(ErrorCode::kDeadlineExceeded, std::move(m))); }
inline std::unexpected<Error> Aborted(std::string m) { return std::unexpected(Error(ErrorCode::kAborted, std::move(m))); }
inline std::unexpected<Error> Internal(std::string m) { return std::unexpected(Error(ErrorCode::kInternal, std::move(m))); }

}  // namespace tandem

// Returns early from the enclosing function with the error of `expr`, a Status
// or Result<T>, after prefixing `context` (a string) to its message.
#define TANDEM_RETURN_IF_ERROR_CTX(expr, context)                       \
  do {                                                                  \
    auto&& tandem_status_ = (expr);                                     \
    if (!tandem_status_) {                                              \
      return std::unexpected(tandem_status_.error().WithContext(context)); \
    }                                                                   \
  } while (false)

#define TANDEM_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    auto&& tandem_status_ = (expr);                  \
    if (!tandem_status_) {                           \
      return std::unexpected(tandem_status_.error()); \
    }                                                \
  } while (false)

#define TANDEM_CONCAT_INNER_(a, b) a##b
#define TANDEM_CONCAT_(a, b) TANDEM_CONCAT_INNER_(a, b)

// Declares `lhs` from the value of a Result<T> or returns its error early.
//   TANDEM_ASSIGN_OR_RETURN(auto job, store.GetJob(id));
#define TANDEM_ASSIGN_OR_RETURN(lhs, expr) \
  TANDEM_ASSIGN_OR_RETURN_IMPL_(TANDEM_CONCAT_(tandem_result_, __LINE__), lhs, expr)
#define TANDEM_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp) return std::unexpected(tmp.error());      \
  lhs = std::move(*tmp)
