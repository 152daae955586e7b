#include "serving/model_source.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <system_error>

#include "common/crypto.h"
#include "common/file_util.h"
#include "common/http.h"
#include "common/json_util.h"
#include "model/package.h"

namespace tandem::serving {
namespace {

std::string TrimSlash(std::string_view url) {
  while (url.ends_with('/')) url.remove_suffix(1);
  return std::string(url);
}

Result<http::Response> Get(const std::string& url, std::chrono::milliseconds timeout) {
  Result<http::Response> response = http::Fetch("GET", url, "", {}, timeout);
  if (!response) {
    return std::unexpected(response.error().WithContext(fmt::format("registry GET {}", url)));
  }
  if (response->status == 404) {
    return NotFound(fmt::format("registry GET {}: not found: {}", url, response->body));
  }
  if (response->status / 100 != 2) {
    return Unavailable(
        fmt::format("registry GET {}: status {}: {}", url, response->status, response->body));
  }
  return response;
}

// Asks the registry for the version record; returns it parsed.
Result<Json> GetVersionRecord(const std::string& base, std::string_view name,
                              std::string_view version, std::chrono::milliseconds timeout) {
  const std::string url = fmt::format("{}/api/v1/models/{}/versions/{}", base, name, version);
  TANDEM_ASSIGN_OR_RETURN(http::Response response, Get(url, timeout));
  Result<Json> record = ParseJson(response.body, fmt::format("registry answer from {}", url));
  if (!record) return std::unexpected(record.error());
  TANDEM_RETURN_IF_ERROR(RequireObject(*record, url));
  return record;
}

// Writes `archive` into the cache and unpacks it as cache_dir/name/version.
Status UnpackIntoCache(const std::string& archive, const std::filesystem::path& model_dir,
                       const std::string& version) {
  TANDEM_RETURN_IF_ERROR(CreateDirectories(model_dir));
  const std::string suffix = RandomHex(6);
  const std::filesystem::path archive_path = model_dir / fmt::format(".{}-{}.tar", version, suffix);
  const std::filesystem::path staging = model_dir / fmt::format(".{}-{}", version, suffix);
  TANDEM_RETURN_IF_ERROR(WriteFileAtomic(archive_path, archive));
  Status extracted = model::ExtractPackage(archive_path, staging);
  std::error_code ignored;
  std::filesystem::remove(archive_path, ignored);
  if (!extracted) {
    std::filesystem::remove_all(staging, ignored);
    return extracted;
  }

  std::error_code error;
  std::filesystem::rename(staging, model_dir / version, error);
  if (error) {
    // Another fetch of the same version renamed its copy first; keep that one.
    std::filesystem::remove_all(staging, ignored);
    if (!std::filesystem::is_directory(model_dir / version)) {
      return Internal(fmt::format("cannot move package into {}: {}", (model_dir / version).string(),
                                  error.message()));
    }
  }
  return Ok();
}

// Reads "NAME@ALIAS"; `at` is the position of '@'.
Result<ModelSource> ParseAliasSource(std::string_view spec, size_t at) {
  ModelSource source{.kind = ModelSource::Kind::kRegistry,
                     .name = std::string(spec.substr(0, at)),
                     .version = std::string(spec.substr(at)),
                     .alias = std::string(spec.substr(at + 1)),
                     .policy = VersionPolicy::kAlias};
  if (!IsModelName(source.name)) {
    return InvalidArgument(fmt::format(
        "--model {}: model name \"{}\" must be 1-63 letters, digits or inner hyphens", spec,
        source.name));
  }
  if (!IsAliasName(source.alias)) {
    return InvalidArgument(fmt::format(
        "--model {}: alias \"{}\" must be 1-63 letters, digits or inner hyphens, start with a "
        "letter and not be \"latest\"",
        spec, source.alias));
  }
  return source;
}

}  // namespace

// Registered model names follow the training job name rule:
// [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}.
bool IsModelName(std::string_view name) {
  if (name.empty() || name.size() > 63 || name.front() == '-' || name.back() == '-') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-';
  });
}

bool IsAliasName(std::string_view alias) {
  return IsModelName(alias) && std::isalpha(static_cast<unsigned char>(alias.front())) != 0 &&
         alias != "latest";
}

bool IsVersionNumber(std::string_view version) {
  if (version.empty() || version.size() > 18 || version.front() == '0') return false;
  return std::all_of(version.begin(), version.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool VersionLess(std::string_view a, std::string_view b) {
  if (IsVersionNumber(a) && IsVersionNumber(b) && a.size() != b.size()) {
    return a.size() < b.size();
  }
  return a < b;
}

std::string ModelSource::Describe() const {
  if (kind == Kind::kDirectory) return fmt::format("directory {}", dir.string());
  if (policy == VersionPolicy::kAlias) return fmt::format("model {} alias {}", name, alias);
  return fmt::format("model {} version {}", name, version);
}

Result<ModelSource> ParseModelSource(std::string_view spec) {
  if (spec.empty())
    return InvalidArgument("--model: empty; expected a package directory or NAME:VERSION");
  ModelSource source;
  std::error_code error;
  size_t colon = spec.rfind(':');
  size_t at = spec.find('@');
  if (spec.find('/') != std::string_view::npos ||
      (colon == std::string_view::npos && at == std::string_view::npos) ||
      std::filesystem::is_directory(std::filesystem::path(spec), error)) {
    source.dir = std::filesystem::path(spec);
    return source;
  }
  if (at != std::string_view::npos && (colon == std::string_view::npos || colon < at)) {
    return ParseAliasSource(spec, at);
  }
  source.kind = ModelSource::Kind::kRegistry;
  source.name = std::string(spec.substr(0, colon));
  source.version = std::string(spec.substr(colon + 1));
  if (!IsModelName(source.name)) {
    return InvalidArgument(
        fmt::format("--model {}: model name \"{}\" must be 1-63 letters, digits "
                    "or inner hyphens",
                    spec, source.name));
  }
  if (source.version == "latest") {
    source.policy = VersionPolicy::kLatest;
    return source;
  }
  std::string_view rest = source.version;
  while (true) {
    size_t comma = rest.find(',');
    std::string_view number = rest.substr(0, comma);
    if (!IsVersionNumber(number)) {
      return InvalidArgument(
          fmt::format("--model {}: version \"{}\" must be \"latest\", a positive integer or a "
                      "comma-separated list of them",
                      spec, source.version));
    }
    if (std::find(source.versions.begin(), source.versions.end(), number) !=
        source.versions.end()) {
      return InvalidArgument(fmt::format("--model {}: version {} is listed twice", spec, number));
    }
    source.versions.emplace_back(number);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  source.policy = source.versions.size() == 1 ? VersionPolicy::kSpecific : VersionPolicy::kPinned;
  return source;
}

Result<std::string> ResolveRegistryAlias(std::string_view registry_url, std::string_view name,
                                         std::string_view alias,
                                         std::chrono::milliseconds timeout) {
  if (!IsModelName(name)) return InvalidArgument(fmt::format("invalid model name \"{}\"", name));
  if (!IsAliasName(alias)) return InvalidArgument(fmt::format("invalid alias \"{}\"", alias));
  const std::string url =
      fmt::format("{}/api/v1/models/{}/aliases/{}", TrimSlash(registry_url), name, alias);
  TANDEM_ASSIGN_OR_RETURN(http::Response response, Get(url, timeout));
  TANDEM_ASSIGN_OR_RETURN(Json record,
                          ParseJson(response.body, fmt::format("registry answer from {}", url)));
  TANDEM_RETURN_IF_ERROR(RequireObject(record, url));
  TANDEM_ASSIGN_OR_RETURN(int64_t version, GetInt(record, "Version", "registry answer"));
  if (version < 1) {
    return InvalidArgument(fmt::format("registry answer from {}: Version {} is not positive", url,
                                       version));
  }
  return std::to_string(version);
}

Result<FetchedPackage> FetchRegistryPackage(std::string_view registry_url, std::string_view name,
                                            std::string_view version,
                                            const std::filesystem::path& cache_dir,
                                            std::chrono::milliseconds timeout) {
  if (!IsModelName(name)) return InvalidArgument(fmt::format("invalid model name \"{}\"", name));
  const std::string base = TrimSlash(registry_url);

  // Step 1: resolve the version ("latest" becomes a number) and the digest.
  TANDEM_ASSIGN_OR_RETURN(Json record, GetVersionRecord(base, name, version, timeout));
  TANDEM_ASSIGN_OR_RETURN(int64_t number, GetInt(record, "Version", "registry answer"));
  TANDEM_ASSIGN_OR_RETURN(std::string digest,
                          GetString(record, "PackageDigest", "registry answer"));
  FetchedPackage fetched;
  fetched.version = std::to_string(number);
  const std::filesystem::path model_dir = cache_dir / std::string(name);
  fetched.dir = model_dir / fetched.version;

  // Step 2: reuse a complete copy from an earlier fetch.
  std::error_code error;
  if (std::filesystem::is_directory(fetched.dir, error)) return fetched;

  // Step 3: download, verify and unpack.
  const std::string url =
      fmt::format("{}/api/v1/models/{}/versions/{}/package", base, name, fetched.version);
  TANDEM_ASSIGN_OR_RETURN(http::Response package, Get(url, timeout));
  const std::string actual = "sha256:" + Sha256Hex(package.body);
  if (actual != digest) {
    return InvalidArgument(
        fmt::format("registry GET {}: package digest {} differs from the "
                    "registered {}",
                    url, actual, digest));
  }
  TANDEM_RETURN_IF_ERROR_CTX(UnpackIntoCache(package.body, model_dir, fetched.version),
                             fmt::format("model {} version {}", name, fetched.version));
  return fetched;
}

}  // namespace tandem::serving
