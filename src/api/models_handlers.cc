// Routes of the model registry: models and versions (read-only) and aliases
// (set and deleted with the admin token).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cctype>
#include <charconv>

#include "api/api_context.h"
#include "jobs/job_spec.h"
#include "store/api_json.h"

namespace tandem::api {
namespace {

// Parses the {v} path segment: a positive integer or "latest".
Result<int64_t> ParseVersion(std::string_view text) {
  if (text == "latest") return store::kLatestVersion;
  int64_t version = 0;
  const char* end = text.data() + text.size();
  auto [ptr, error] = std::from_chars(text.data(), end, version);
  if (error != std::errc() || ptr != end || version < 1) {
    return InvalidArgument(fmt::format(
        "model version \"{}\" is invalid, expected a positive integer or \"latest\"", text));
  }
  return version;
}

// Checks an alias name: the model name rule (1-63 letters, digits and inner
// hyphens), starting with a letter so that it never reads as a version
// number, and not "latest", which the version routes reserve.
Status ValidateAliasName(std::string_view alias) {
  TANDEM_RETURN_IF_ERROR(jobs::ValidateResourceName(alias, "alias"));
  if (!std::isalpha(static_cast<unsigned char>(alias.front()))) {
    return InvalidArgument(fmt::format(
        "alias: \"{}\" must start with a letter, so that it cannot be read as a version", alias));
  }
  if (alias == "latest") {
    return InvalidArgument("alias: \"latest\" is reserved for the newest version; pick another name");
  }
  return Ok();
}

Result<store::ModelVersion> FindVersion(ApiContext& context, const http::Request& request) {
  TANDEM_ASSIGN_OR_RETURN(int64_t version, ParseVersion(request.PathParam("v")));
  return context.store.GetModelVersion(request.PathParam("name"), version);
}

Result<http::Response> ListModels(ApiContext& context, http::Request&) {
  TANDEM_ASSIGN_OR_RETURN(std::vector<store::ModelSummary> models, context.store.ListModels());
  Json list = Json::array();
  for (const store::ModelSummary& model : models) list.push_back(store::ModelSummaryToJson(model));
  return http::Response::Json(200, {{"Models", std::move(list)}});
}

Result<http::Response> GetModel(ApiContext& context, http::Request& request) {
  std::string name = request.PathParam("name");
  TANDEM_ASSIGN_OR_RETURN(std::vector<store::ModelVersion> versions,
                          context.store.ListModelVersions(name));
  Json list = Json::array();
  for (const store::ModelVersion& version : versions) {
    list.push_back(store::ModelVersionToJson(version, /*with_manifest=*/false));
  }
  TANDEM_ASSIGN_OR_RETURN(std::vector<store::ModelAlias> aliases,
                          context.store.ListModelAliases(name));
  Json alias_list = Json::array();
  for (const store::ModelAlias& alias : aliases) {
    alias_list.push_back(store::ModelAliasToJson(alias));
  }
  return http::Response::Json(
      200, {{"ModelName", name}, {"Versions", std::move(list)}, {"Aliases", std::move(alias_list)}});
}

Result<http::Response> GetModelVersion(ApiContext& context, http::Request& request) {
  TANDEM_ASSIGN_OR_RETURN(store::ModelVersion version, FindVersion(context, request));
  return http::Response::Json(200, store::ModelVersionToJson(version, /*with_manifest=*/true));
}

// NOTE: the whole archive is read into memory (up to the 1 GiB upload limit);
// streaming it needs a file-body response in common/http.h.
Result<http::Response> GetModelPackage(ApiContext& context, http::Request& request) {
  TANDEM_ASSIGN_OR_RETURN(store::ModelVersion version, FindVersion(context, request));
  Result<std::string> archive = context.artifacts.Get(version.package_digest);
  if (!archive) {
    return std::unexpected(archive.error().WithContext(
        fmt::format("model {} version {}", version.model_name, version.version)));
  }
  http::Response response =
      http::Response::Text(200, std::move(*archive), "application/x-tar");
  response.headers.emplace_back("X-Tandem-Package-Digest", version.package_digest);
  return response;
}

Result<http::Response> GetModelAlias(ApiContext& context, http::Request& request) {
  TANDEM_ASSIGN_OR_RETURN(store::ModelAlias alias,
                          context.store.GetModelAlias(request.PathParam("name"),
                                                      request.PathParam("alias")));
  return http::Response::Json(200, store::ModelAliasToJson(alias));
}

// PUT /models/{name}/aliases/{alias} with {"Version": N}: creates or moves the alias.
Result<http::Response> SetModelAlias(ApiContext& context, http::Request& request) {
  TANDEM_RETURN_IF_ERROR(context.auth.RequireAdmin(request));
  const std::string name = request.PathParam("name");
  const std::string alias = request.PathParam("alias");
  TANDEM_RETURN_IF_ERROR(ValidateAliasName(alias));
  TANDEM_ASSIGN_OR_RETURN(Json document, ParseJson(request.body, "request body"));
  TANDEM_RETURN_IF_ERROR(RequireObject(document, "request body"));
  TANDEM_RETURN_IF_ERROR(RejectUnknownFields(document, "request body", {"Version"}));
  TANDEM_ASSIGN_OR_RETURN(int64_t version, GetInt(document, "Version", "request body"));
  if (version < 1) {
    return InvalidArgument(
        fmt::format("request body.Version: {} is invalid, expected a positive integer", version));
  }
  TANDEM_ASSIGN_OR_RETURN(store::ModelAlias set, context.store.SetModelAlias(
                                                     name, alias, version,
                                                     context.clock.NowMillis()));
  spdlog::info("model alias set model={} alias={} version={}", name, alias, version);
  return http::Response::Json(200, store::ModelAliasToJson(set));
}

Result<http::Response> DeleteModelAlias(ApiContext& context, http::Request& request) {
  TANDEM_RETURN_IF_ERROR(context.auth.RequireAdmin(request));
  const std::string name = request.PathParam("name");
  const std::string alias = request.PathParam("alias");
  TANDEM_RETURN_IF_ERROR(context.store.DeleteModelAlias(name, alias));
  spdlog::info("model alias deleted model={} alias={}", name, alias);
  return http::Response::Json(200, {{"ModelName", name}, {"Alias", alias}});
}

}  // namespace

void AddModelRoutes(http::Router& router, ApiContext& context) {
  router.Add("GET", "/api/v1/models", BindRoute(context, ListModels));
  router.Add("GET", "/api/v1/models/{name}", BindRoute(context, GetModel));
  router.Add("GET", "/api/v1/models/{name}/versions/{v}", BindRoute(context, GetModelVersion));
  router.Add("GET", "/api/v1/models/{name}/versions/{v}/package",
             BindRoute(context, GetModelPackage));
  router.Add("GET", "/api/v1/models/{name}/aliases/{alias}", BindRoute(context, GetModelAlias));
  router.Add("PUT", "/api/v1/models/{name}/aliases/{alias}", BindRoute(context, SetModelAlias));
  router.Add("DELETE", "/api/v1/models/{name}/aliases/{alias}",
             BindRoute(context, DeleteModelAlias));
}

}  // namespace tandem::api
