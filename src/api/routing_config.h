// The control plane's routing configuration (docs/routing.md): the named
// compute backends and the routes that map repositories to them.
//
//   {"Backends": {"local": {"Type": "local"},
//                 "hpc": {"Type": "slurm", ...SlurmOptions fields}},
//    "Routes": [{"Repository": "team-a/*", "Backend": "hpc",
//                "AllowedBackends": ["local"]}],
//    "Default": {"Backend": "local"}}
//
// Routes are tried in order and the first whose pattern matches the job's
// repository wins; "Default" applies when none matches. A job spec may name a
// backend (JobSpec::backend) only when it is the route's own backend or is
// listed in the route's AllowedBackends.
//
// Pure values and functions; thread-safe.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_util.h"
#include "common/status.h"

namespace tandem::api {

inline constexpr std::string_view kLocalBackendType = "local";
inline constexpr std::string_view kSlurmBackendType = "slurm";

// One entry of "Backends".
struct BackendConfig {
  std::string type;  // kLocalBackendType or kSlurmBackendType
  // The entry's object without "Type": the backend's own options, parsed by
  // its factory. Two configs with equal type and options build equal backends.
  Json options = Json::object();

  friend bool operator==(const BackendConfig&, const BackendConfig&) = default;
};

struct Route {
  std::string pattern;  // a repository name or glob; empty for the default route
  std::string backend;
  std::vector<std::string> allowed_backends;  // backends a job spec may name instead
  std::string where;    // "Routes[2]" or "Default", for messages

  friend bool operator==(const Route&, const Route&) = default;
};

struct RoutingConfig {
  std::map<std::string, BackendConfig> backends;  // by name
  std::vector<Route> routes;
  std::optional<Route> default_route;

  friend bool operator==(const RoutingConfig&, const RoutingConfig&) = default;
};

// The backend chosen for a job and the route that chose it.
struct RouteChoice {
  std::string backend;
  std::string route;  // Route::where
};

// Validates the options of one backend entry for its type, so a bad file is
// rejected before any backend is built. `where` names the entry in messages
// ("Backends.hpc"). Errors: kInvalidArgument naming the field.
using BackendOptionsValidator =
    std::function<Status(const BackendConfig& config, std::string_view where)>;

// Parses and validates a configuration document. `source` names the file in
// every message. Errors are kInvalidArgument, "<source>: <path>: <problem>".
// They cover a non-object document or entry, an unknown key, no backends, a
// backend name that breaks the TrainingJobName rules, and an unknown type.
// They also cover options the validator rejects, a route or AllowedBackends
// entry naming an unknown backend, an empty or malformed glob, a pattern
// repeating an earlier one, and neither Routes nor a Default.
Result<RoutingConfig> ParseRoutingConfig(const Json& document, std::string_view source,
                                         const BackendOptionsValidator& validate_options);

// Reads and parses a configuration file. Errors: kNotFound for a missing
// file, kInvalidArgument for invalid JSON or content (naming the file).
Result<RoutingConfig> LoadRoutingConfig(const std::filesystem::path& path,
                                        const BackendOptionsValidator& validate_options);

// Returns the configuration used without a file: one backend named `name`
// of type `type` and a default route to it that allows no other backend.
RoutingConfig SingleBackendConfig(std::string name, std::string type);

// Checks a repository glob: `*` (any run of characters, '/' included), `?`
// (one character), `[...]` (a class of characters and ranges, negated by a
// leading '!'), and the characters a repository name may hold.
// Errors: kInvalidArgument naming `where` and the problem.
Status ValidateRepositoryGlob(std::string_view pattern, std::string_view where);

// Returns true when `repository` matches `pattern` (ValidateRepositoryGlob
// syntax) as a whole.
bool MatchRepositoryGlob(std::string_view pattern, std::string_view repository);

// Chooses the backend for a job of `repository` that names `requested` (or
// nothing). Errors: kInvalidArgument when no route matches and there is no
// default, or when `requested` is not a configured backend;
// kPermissionDenied when the matching route does not allow `requested`.
// Messages name the repository, the backend and the route.
Result<RouteChoice> ChooseBackend(const RoutingConfig& config, std::string_view repository,
                                  const std::optional<std::string>& requested);

}  // namespace tandem::api
