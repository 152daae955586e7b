#include "serving/repository_service.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/crypto.h"
#include "common/file_util.h"
#include "common/json_util.h"

namespace tandem::serving {
namespace {

constexpr std::string_view kBearerPrefix = "Bearer ";

http::Response ErrorResponse(const http::Request& request, const Error& error) {
  spdlog::info("repository request rejected method={} path={} code={} error=\"{}\"", request.method,
               request.path, ErrorCodeName(error.code()), error.message());
  return http::Response::FromError(error);
}

// Reads the optional JSON object body; an empty body is an empty object.
Result<Json> ParseBody(const http::Request& request) {
  if (request.body.find_first_not_of(" \t\r\n") == std::string::npos) return Json::object();
  TANDEM_ASSIGN_OR_RETURN(Json body, ParseJson(request.body, "request body"));
  TANDEM_RETURN_IF_ERROR(RequireObject(body, "request body"));
  return body;
}

// Reads parameters.version and parameters.path, each optional.
Result<LoadRequest> ParseLoadParameters(const Json& body, std::string name) {
  LoadRequest load{.name = std::move(name)};
  auto parameters = body.find("parameters");
  if (parameters == body.end() || parameters->is_null()) return load;
  TANDEM_RETURN_IF_ERROR(RequireObject(*parameters, "parameters"));
  TANDEM_ASSIGN_OR_RETURN(std::optional<std::string> version,
                          GetOptionalString(*parameters, "version", "parameters"));
  TANDEM_ASSIGN_OR_RETURN(std::optional<std::string> path,
                          GetOptionalString(*parameters, "path", "parameters"));
  load.version = version.value_or("");
  load.path = path.value_or("");
  return load;
}

}  // namespace

Result<std::string> ReadAdminToken(const std::string& path) {
  TANDEM_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) {
    return InvalidArgument(fmt::format("--admin-token-file {} is empty", path));
  }
  const size_t last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

void RepositoryService::AddRoutes(http::Router& router) {
  auto bind = [this](http::Response (RepositoryService::*method)(const http::Request&) const) {
    return [this, method](http::Request& request) {
      Status allowed = Authorize(request);
      if (!allowed) return ErrorResponse(request, allowed.error());
      return (this->*method)(request);
    };
  };
  router.Add("POST", "/v2/repository/index", bind(&RepositoryService::Index));
  router.Add("POST", "/v2/repository/models/{model}/load", bind(&RepositoryService::Load));
  router.Add("POST", "/v2/repository/models/{model}/unload", bind(&RepositoryService::Unload));
}

Status RepositoryService::Authorize(const http::Request& request) const {
  if (admin_token_.empty()) {
    return PermissionDenied(
        "the model repository routes are disabled; start tandem serve with --admin-token-file "
        "FILE and send \"Authorization: Bearer TOKEN\" with the token in FILE");
  }
  const std::string header = request.Header("Authorization");
  if (!header.starts_with(kBearerPrefix)) {
    return Unauthenticated("missing \"Authorization: Bearer TOKEN\" header");
  }
  if (!ConstantTimeEquals(std::string_view(header).substr(kBearerPrefix.size()), admin_token_)) {
    return Unauthenticated("the bearer token does not match --admin-token-file");
  }
  return Ok();
}

http::Response RepositoryService::Index(const http::Request& request) const {
  Result<Json> body = ParseBody(request);
  if (!body) return ErrorResponse(request, body.error());
  Result<std::optional<bool>> ready_only = GetOptionalBool(*body, "ready", "request body");
  if (!ready_only) return ErrorResponse(request, ready_only.error());

  Json entries = Json::array();
  for (const RepositoryEntry& entry : models_.Index()) {
    if (ready_only->value_or(false) && entry.state != "READY") continue;
    Json json = {{"name", entry.name}, {"state", entry.state}};
    if (!entry.version.empty()) json["version"] = entry.version;
    if (!entry.reason.empty()) json["reason"] = entry.reason;
    entries.push_back(std::move(json));
  }
  return http::Response::Json(200, entries);
}

http::Response RepositoryService::Load(const http::Request& request) const {
  Result<Json> body = ParseBody(request);
  if (!body) return ErrorResponse(request, body.error());
  Result<LoadRequest> load = ParseLoadParameters(*body, request.PathParam("model"));
  if (!load) return ErrorResponse(request, load.error());
  Result<std::shared_ptr<const ServedModel>> model = models_.Load(*load);
  if (!model) {
    // A package that fails to load or test is the request's fault, not the server's.
    Error error = model.error();
    if (error.code() == ErrorCode::kInternal || error.code() == ErrorCode::kFailedPrecondition) {
      error = Error(ErrorCode::kInvalidArgument, error.message());
    }
    return ErrorResponse(request, error);
  }
  return http::Response::Json(200, {{"name", (*model)->name()},
                                    {"version", (*model)->version()},
                                    {"predictor", (*model)->predictor_name()}});
}

http::Response RepositoryService::Unload(const http::Request& request) const {
  Result<Json> body = ParseBody(request);
  if (!body) return ErrorResponse(request, body.error());
  Result<LoadRequest> unload = ParseLoadParameters(*body, request.PathParam("model"));
  if (!unload) return ErrorResponse(request, unload.error());
  if (!unload->path.empty()) {
    return ErrorResponse(request, Error(ErrorCode::kInvalidArgument,
                                        "parameters.path: unload takes only parameters.version"));
  }
  Status unloaded = models_.Unload(unload->name, unload->version);
  if (!unloaded) return ErrorResponse(request, unloaded.error());
  return http::Response::Json(200, Json::object());
}

}  // namespace tandem::serving
