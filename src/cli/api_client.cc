#include "cli/api_client.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "common/file_util.h"

namespace tandem::cli {
namespace {

constexpr ErrorCode kAllCodes[] = {
    ErrorCode::kInvalidArgument,    ErrorCode::kNotFound,
    ErrorCode::kAlreadyExists,      ErrorCode::kFailedPrecondition,
    ErrorCode::kUnauthenticated,    ErrorCode::kPermissionDenied,
    ErrorCode::kPayloadTooLarge,    ErrorCode::kUnsupportedMediaType,
    ErrorCode::kResourceExhausted,  ErrorCode::kUnavailable,
    ErrorCode::kDeadlineExceeded,   ErrorCode::kAborted,
    ErrorCode::kInternal,
};

std::string EnvOr(const char* name, std::string fallback) {
  const char* value = std::getenv(name);
  return (value != nullptr && *value != '\0') ? std::string(value) : std::move(fallback);
}

// Strips surrounding whitespace, so a token file may end with a newline.
std::string Trim(std::string text) {
  size_t begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  size_t end = text.find_last_not_of(" \t\r\n");
  return text.substr(begin, end - begin + 1);
}

Result<std::string> ResolveToken(const ClientOptions& options) {
  if (!options.token.empty()) return options.token;
  std::string from_env = EnvOr("TANDEM_TOKEN", "");
  if (!from_env.empty()) return from_env;
  std::filesystem::path file = options.token_file;
  if (file.empty() && !options.data_dir.empty()) {
    file = std::filesystem::path(options.data_dir) / "admin.token";
  }
  if (file.empty()) return std::string();
  TANDEM_ASSIGN_OR_RETURN(std::string contents, ReadFile(file));
  return Trim(std::move(contents));
}

// Turns a non-2xx response into an Error carrying the server's code and message.
Error ErrorFromResponse(const http::Response& response) {
  Result<Json> body = ParseJson(response.body, "error body");
  if (body && body->is_object() && body->contains("error") && (*body)["error"].is_string()) {
    std::string code = body->value("code", "");
    return Error(ErrorCodeFromName(code), (*body)["error"].get<std::string>());
  }
  return Error(ErrorCode::kInternal,
               fmt::format("the control plane answered HTTP {} with a body that is not an "
                           "error object",
                           response.status));
}

std::string WithoutTrailingSlash(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

}  // namespace

void AddClientOptions(CLI::App& command, ClientOptions& options) {
  command.add_option("--url", options.url,
                     "control plane URL (default: $TANDEM_URL, else http://127.0.0.1:8500)");
  command.add_option("--token", options.token, "API token (default: $TANDEM_TOKEN)");
  command.add_option("--token-file", options.token_file, "file holding the API token");
  command.add_option("--data-dir", options.data_dir,
                     "the server's data directory; its admin.token is the default token file");
}

ErrorCode ErrorCodeFromName(std::string_view name) {
  for (ErrorCode code : kAllCodes) {
    if (ErrorCodeName(code) == name) return code;
  }
  return ErrorCode::kInternal;
}

ApiClient::ApiClient(std::string base_url, std::string token)
    : base_url_(WithoutTrailingSlash(std::move(base_url))),
      token_(std::move(token)),
      client_(base_url_) {}

Result<ApiClient> ApiClient::FromOptions(const ClientOptions& options) {
  std::string url = options.url.empty() ? EnvOr("TANDEM_URL", std::string(kDefaultUrl))
                                        : options.url;
  TANDEM_ASSIGN_OR_RETURN(std::string token, ResolveToken(options));
  return ApiClient(std::move(url), std::move(token));
}

Result<http::Response> ApiClient::Send(std::string_view method, std::string_view target,
                                       std::string_view body) {
  http::HeaderList headers;
  if (!token_.empty()) headers.emplace_back("Authorization", "Bearer " + token_);
  Result<http::Response> response =
      client_.Send(method, fmt::format("/api/v1{}", target), body, headers);
  if (!response && response.error().code() == ErrorCode::kUnavailable) {
    spdlog::debug("request failed url={} error={}", base_url_, response.error().message());
    return Unavailable(
        fmt::format("cannot reach the control plane at {}: is `tandem server` running?", base_url_));
  }
  if (!response) return std::unexpected(response.error());
  if (response->status == 401 && token_.empty()) {
    return Unauthenticated(
        "this call needs the admin token: pass --token, set TANDEM_TOKEN, or give --token-file "
        "or --data-dir (the server's data directory, which holds admin.token)");
  }
  if (response->status < 200 || response->status >= 300) {
    return std::unexpected(ErrorFromResponse(*response));
  }
  return response;
}

Result<ApiResponse> ApiClient::Call(std::string_view method, std::string_view target,
                                    std::string_view body) {
  TANDEM_ASSIGN_OR_RETURN(http::Response response, Send(method, target, body));
  TANDEM_ASSIGN_OR_RETURN(Json parsed, ParseJson(response.body, "control plane answer"));
  return ApiResponse{response.status, std::move(parsed)};
}

Result<std::string> ApiClient::Download(std::string_view target) {
  TANDEM_ASSIGN_OR_RETURN(http::Response response, Send("GET", target, ""));
  return std::move(response.body);
}

int RunClientCommand(const std::function<Result<int>()>& body) {
  Result<int> code = body();
  if (!code) {
    std::fprintf(stderr, "error: %s\n", code.error().message().c_str());
    return 1;
  }
  return *code;
}

}  // namespace tandem::cli
