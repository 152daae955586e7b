// Routes of the model registry (read-only).
#include <fmt/format.h>

#include <charconv>

#include "api/api_context.h"
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
  return http::Response::Json(200, {{"ModelName", name}, {"Versions", std::move(list)}});
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

}  // namespace

void AddModelRoutes(http::Router& router, ApiContext& context) {
  router.Add("GET", "/api/v1/models", BindRoute(context, ListModels));
  router.Add("GET", "/api/v1/models/{name}", BindRoute(context, GetModel));
  router.Add("GET", "/api/v1/models/{name}/versions/{v}", BindRoute(context, GetModelVersion));
  router.Add("GET", "/api/v1/models/{name}/versions/{v}/package",
             BindRoute(context, GetModelPackage));
}

}  // namespace tandem::api
