#include "api/routing_config.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <set>

#include "common/file_util.h"
#include "jobs/job_spec.h"

namespace tandem::api {
namespace {

bool IsRepositoryCharacter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '.' || c == '_' || c == '/' || c == '-';
}

// Returns the index just past the class that starts at pattern[start] ('['),
// or an error naming the problem.
Result<size_t> ScanClass(std::string_view pattern, size_t start, std::string_view where) {
  size_t i = start + 1;
  if (i < pattern.size() && pattern[i] == '!') ++i;
  size_t first = i;
  while (i < pattern.size() && pattern[i] != ']') {
    char low = pattern[i];
    if (!IsRepositoryCharacter(low)) {
      return InvalidArgument(fmt::format("{}: \"{}\" has '{}' in a [...] class; use only "
                                         "letters, digits and . _ / -",
                                         where, pattern, low));
    }
    if (i + 2 < pattern.size() && pattern[i + 1] == '-' && pattern[i + 2] != ']') {
      char high = pattern[i + 2];
      if (!IsRepositoryCharacter(high) || high < low) {
        return InvalidArgument(fmt::format("{}: \"{}\" has the invalid range {}-{}", where,
                                           pattern, low, high));
      }
      i += 3;
    } else {
      ++i;
    }
  }
  if (i >= pattern.size()) {
    return InvalidArgument(fmt::format("{}: \"{}\" has a '[' without a closing ']'", where,
                                       pattern));
  }
  if (i == first) {
    return InvalidArgument(fmt::format("{}: \"{}\" has an empty [] class", where, pattern));
  }
  return i + 1;
}

// Returns true when `c` is in the class pattern[start..end) ('[' to ']').
bool ClassContains(std::string_view pattern, size_t start, size_t end, char c) {
  size_t i = start + 1;
  bool negated = pattern[i] == '!';
  if (negated) ++i;
  bool found = false;
  while (i < end - 1) {
    if (i + 2 < end - 1 && pattern[i + 1] == '-') {
      found = found || (c >= pattern[i] && c <= pattern[i + 2]);
      i += 3;
    } else {
      found = found || c == pattern[i];
      ++i;
    }
  }
  return found != negated;
}

Result<std::string> ParseBackendName(const Json& value, std::string_view path) {
  if (!value.is_string()) {
    return InvalidArgument(
        fmt::format("{}: expected a backend name (string), got {}", path, JsonTypeName(value)));
  }
  return value.get<std::string>();
}

Status RequireKnownBackend(const RoutingConfig& config, const std::string& name,
                           std::string_view path) {
  if (config.backends.contains(name)) return Ok();
  std::vector<std::string> names;
  for (const auto& [known, unused] : config.backends) names.push_back(known);
  return InvalidArgument(fmt::format("{}: backend \"{}\" is not defined in \"Backends\" ({})",
                                     path, name, fmt::join(names, ", ")));
}

Result<std::map<std::string, BackendConfig>> ParseBackends(
    const Json& document, const BackendOptionsValidator& validate_options) {
  auto it = document.find("Backends");
  if (it == document.end() || !it->is_object() || it->empty()) {
    return InvalidArgument(
        "Backends: missing or empty; define at least one, e.g. {\"local\": {\"Type\": \"local\"}}");
  }
  std::map<std::string, BackendConfig> backends;
  for (const auto& [name, entry] : it->items()) {
    std::string path = JoinPath("Backends", name);
    TANDEM_RETURN_IF_ERROR(jobs::ValidateResourceName(name, path));
    TANDEM_RETURN_IF_ERROR(RequireObject(entry, path));
    BackendConfig config;
    TANDEM_ASSIGN_OR_RETURN(config.type, GetString(entry, "Type", path));
    if (config.type != kLocalBackendType && config.type != kSlurmBackendType) {
      return InvalidArgument(fmt::format("{}.Type: \"{}\" is not a backend type; use \"{}\" or "
                                         "\"{}\"",
                                         path, config.type, kLocalBackendType,
                                         kSlurmBackendType));
    }
    config.options = entry;
    config.options.erase("Type");
    if (validate_options) TANDEM_RETURN_IF_ERROR(validate_options(config, path));
    backends.emplace(name, std::move(config));
  }
  return backends;
}

// Parses one route object; `with_pattern` is false for "Default".
Result<Route> ParseRoute(const RoutingConfig& config, const Json& entry, std::string where,
                         bool with_pattern) {
  TANDEM_RETURN_IF_ERROR(RequireObject(entry, where));
  if (with_pattern) {
    TANDEM_RETURN_IF_ERROR(
        RejectUnknownFields(entry, where, {"Repository", "Backend", "AllowedBackends"}));
  } else {
    TANDEM_RETURN_IF_ERROR(RejectUnknownFields(entry, where, {"Backend", "AllowedBackends"}));
  }
  Route route;
  route.where = where;
  if (with_pattern) {
    TANDEM_ASSIGN_OR_RETURN(route.pattern, GetString(entry, "Repository", where));
    TANDEM_RETURN_IF_ERROR(ValidateRepositoryGlob(route.pattern, JoinPath(where, "Repository")));
  }
  TANDEM_ASSIGN_OR_RETURN(route.backend, GetString(entry, "Backend", where));
  TANDEM_RETURN_IF_ERROR(RequireKnownBackend(config, route.backend, JoinPath(where, "Backend")));

  auto allowed = entry.find("AllowedBackends");
  if (allowed == entry.end() || allowed->is_null()) return route;
  std::string allowed_path = JoinPath(where, "AllowedBackends");
  if (!allowed->is_array()) {
    return InvalidArgument(fmt::format("{}: expected an array of backend names, got {}",
                                       allowed_path, JsonTypeName(*allowed)));
  }
  for (size_t i = 0; i < allowed->size(); ++i) {
    std::string path = fmt::format("{}[{}]", allowed_path, i);
    TANDEM_ASSIGN_OR_RETURN(std::string name, ParseBackendName((*allowed)[i], path));
    TANDEM_RETURN_IF_ERROR(RequireKnownBackend(config, name, path));
    route.allowed_backends.push_back(std::move(name));
  }
  return route;
}

Status ParseRoutes(const Json& document, RoutingConfig& config) {
  auto it = document.find("Routes");
  if (it == document.end() || it->is_null()) return Ok();
  if (!it->is_array()) {
    return InvalidArgument(
        fmt::format("Routes: expected an array of routes, got {}", JsonTypeName(*it)));
  }
  std::map<std::string, std::string> seen;  // pattern -> where
  for (size_t i = 0; i < it->size(); ++i) {
    TANDEM_ASSIGN_OR_RETURN(
        Route route, ParseRoute(config, (*it)[i], fmt::format("Routes[{}]", i), true));
    auto [earlier, inserted] = seen.emplace(route.pattern, route.where);
    if (!inserted) {
      return InvalidArgument(fmt::format("{}.Repository: \"{}\" repeats {}, so this route never "
                                         "matches; remove one",
                                         route.where, route.pattern, earlier->second));
    }
    config.routes.push_back(std::move(route));
  }
  return Ok();
}

Result<RoutingConfig> ParseDocument(const Json& document,
                                    const BackendOptionsValidator& validate_options) {
  TANDEM_RETURN_IF_ERROR(RequireObject(document, "configuration"));
  TANDEM_RETURN_IF_ERROR(RejectUnknownFields(document, "", {"Backends", "Routes", "Default"}));
  RoutingConfig config;
  TANDEM_ASSIGN_OR_RETURN(config.backends, ParseBackends(document, validate_options));
  TANDEM_RETURN_IF_ERROR(ParseRoutes(document, config));
  auto fallback = document.find("Default");
  if (fallback != document.end() && !fallback->is_null()) {
    TANDEM_ASSIGN_OR_RETURN(config.default_route, ParseRoute(config, *fallback, "Default", false));
  }
  if (config.routes.empty() && !config.default_route) {
    return InvalidArgument(
        "Routes: no routes and no Default, so no job could run; add \"Default\": "
        "{\"Backend\": \"<name>\"} or a route");
  }
  return config;
}

std::string DescribeRoute(const Route& route) {
  if (route.pattern.empty()) return route.where;
  return fmt::format("{} (\"{}\")", route.where, route.pattern);
}

}  // namespace

Status ValidateRepositoryGlob(std::string_view pattern, std::string_view where) {
  if (pattern.empty()) return InvalidArgument(fmt::format("{}: must not be empty", where));
  size_t i = 0;
  while (i < pattern.size()) {
    char c = pattern[i];
    if (c == '[') {
      TANDEM_ASSIGN_OR_RETURN(i, ScanClass(pattern, i, where));
      continue;
    }
    if (c != '*' && c != '?' && !IsRepositoryCharacter(c)) {
      return InvalidArgument(fmt::format(
          "{}: \"{}\" contains '{}'; use letters, digits, . _ / - and the wildcards * ? [...]",
          where, pattern, c));
    }
    ++i;
  }
  return Ok();
}

bool MatchRepositoryGlob(std::string_view pattern, std::string_view repository) {
  // Iterative matching with backtracking to the last '*', linear in practice.
  size_t p = 0;
  size_t r = 0;
  std::optional<size_t> star;
  size_t star_r = 0;
  while (r < repository.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_r = r;
      continue;
    }
    if (p < pattern.size() && pattern[p] == '[') {
      size_t end = pattern.find(']', p + 2);
      if (end != std::string_view::npos && ClassContains(pattern, p, end + 1, repository[r])) {
        p = end + 1;
        ++r;
        continue;
      }
    } else if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == repository[r])) {
      ++p;
      ++r;
      continue;
    }
    if (!star) return false;
    p = *star + 1;
    r = ++star_r;
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

Result<RoutingConfig> ParseRoutingConfig(const Json& document, std::string_view source,
                                         const BackendOptionsValidator& validate_options) {
  Result<RoutingConfig> config = ParseDocument(document, validate_options);
  if (!config) return std::unexpected(config.error().WithContext(source));
  return config;
}

Result<RoutingConfig> LoadRoutingConfig(const std::filesystem::path& path,
                                        const BackendOptionsValidator& validate_options) {
  Result<std::string> text = ReadFile(path);
  if (!text) return std::unexpected(text.error().WithContext("routing configuration"));
  TANDEM_ASSIGN_OR_RETURN(Json document, ParseJson(*text, path.string()));
  return ParseRoutingConfig(document, path.string(), validate_options);
}

RoutingConfig SingleBackendConfig(std::string name, std::string type) {
  RoutingConfig config;
  config.backends.emplace(name, BackendConfig{.type = std::move(type)});
  config.default_route = Route{.backend = std::move(name), .where = "Default"};
  return config;
}

Result<RouteChoice> ChooseBackend(const RoutingConfig& config, std::string_view repository,
                                  const std::optional<std::string>& requested) {
  const Route* route = nullptr;
  for (const Route& candidate : config.routes) {
    if (MatchRepositoryGlob(candidate.pattern, repository)) {
      route = &candidate;
      break;
    }
  }
  if (route == nullptr && config.default_route) route = &*config.default_route;
  if (route == nullptr) {
    return InvalidArgument(fmt::format(
        "Repository: \"{}\" matches no route and the configuration has no default backend; "
        "ask the operator to add a route for it",
        repository));
  }
  if (!requested || *requested == route->backend) {
    return RouteChoice{.backend = route->backend, .route = route->where};
  }

  if (!config.backends.contains(*requested)) {
    std::vector<std::string> names;
    for (const auto& [name, unused] : config.backends) names.push_back(name);
    return InvalidArgument(fmt::format("Backend: \"{}\" is not a configured backend ({})",
                                       *requested, fmt::join(names, ", ")));
  }
  for (const std::string& allowed : route->allowed_backends) {
    if (allowed == *requested) return RouteChoice{.backend = allowed, .route = route->where};
  }
  std::string allowed_text = route->allowed_backends.empty()
                                 ? "none"
                                 : fmt::format("{}", fmt::join(route->allowed_backends, ", "));
  return PermissionDenied(fmt::format(
      "Backend: repository \"{}\" may not run on backend \"{}\": its route {} sends it to \"{}\" "
      "and allows instead: {}",
      repository, *requested, DescribeRoute(*route), route->backend, allowed_text));
}

}  // namespace tandem::api
