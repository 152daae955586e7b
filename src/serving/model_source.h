// Model package sources of `tandem serve`: a directory on disk, or a
// version of a named model, found in a --model-root directory laid out as
// ROOT/NAME/VERSION/ or downloaded from the control plane's registry
// (docs/api.md: GET /api/v1/models/{name}/versions/{v} and .../package).
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace tandem::serving {

// The package directory SageMaker unpacks a model's artifact into.
inline constexpr std::string_view kSageMakerModelDir = "/opt/ml/model";

// Version label of a package served straight from a directory.
inline constexpr std::string_view kDirectoryVersion = "1";

// Version policy of a named model: the versions it loads.
//   kLatest    the highest version; --poll-seconds checks for a newer one
//   kSpecific  one fixed version
//   kPinned    a fixed list of versions, all loaded; the highest serves
//              requests that name no version
//   kAlias     the version a registry alias points at; --poll-seconds
//              follows the alias when it moves, also to a lower version
enum class VersionPolicy { kLatest, kSpecific, kPinned, kAlias };

struct ModelSource {
  // kRegistry is any named model, whether found under --model-root or in the registry.
  enum class Kind { kDirectory, kRegistry };
  Kind kind = Kind::kDirectory;
  std::filesystem::path dir;                        // kDirectory
  std::string name;                                 // kRegistry: the model name
  std::string version;                              // kRegistry: as written: "latest", "3" or "1,3"
  std::string alias;                                // kAlias: the alias name
  VersionPolicy policy = VersionPolicy::kSpecific;  // kRegistry
  std::vector<std::string> versions;                // kSpecific: one number; kPinned: the numbers

  // "directory /models/flights", "model flights-delay version latest" or
  // "model flights-delay alias production".
  std::string Describe() const;
};

// Reads a --model value: "NAME:VERSION" names a model, where VERSION is
// "latest", a positive integer, or a comma-separated list of them (pinned);
// "NAME@ALIAS" names the version a registry alias points at; anything else is
// a package directory. A value holding '/' or naming an existing directory is
// always a directory.
// Errors (kInvalidArgument): an empty value, an invalid NAME or ALIAS, a
// VERSION that is neither "latest" nor positive integers, a version listed
// twice.
Result<ModelSource> ParseModelSource(std::string_view spec);

// True for a model name of 1-63 letters, digits and inner hyphens, which is
// also safe as a path segment.
bool IsModelName(std::string_view name);

// True for an alias name as the control plane accepts it: a model name that
// starts with a letter and is not "latest".
bool IsAliasName(std::string_view alias);

// True for a positive decimal integer without leading zeros, at most 18 digits.
bool IsVersionNumber(std::string_view version);

// Orders version labels numerically when both are numbers, else as text.
bool VersionLess(std::string_view a, std::string_view b);

// A registry package unpacked into the cache.
struct FetchedPackage {
  std::filesystem::path dir;
  std::string version;  // the resolved number, also when "latest" was requested
};

// Resolves `version` with the registry at `registry_url`, then downloads the
// package unless cache_dir/NAME/VERSION already contains it, checks its sha256
// against the registry's PackageDigest, and unpacks it there (into a
// temporary directory renamed into place, so a present directory is complete).
// Thread safety: concurrent calls for the same model and version may both
// download; one rename wins and the other's copy is removed.
// Errors: kNotFound when the registry has no such model or version;
// kUnavailable when the registry cannot be reached or returns an error
// (naming the URL and status); kInvalidArgument for a malformed registry
// response or a package whose digest differs; ExtractPackage's errors.
// Returns the version number alias `alias` of model `name` points at, from
// the registry's GET /api/v1/models/{name}/aliases/{alias}.
// Errors: kNotFound when the registry has no such model or alias;
// kUnavailable when the registry cannot be reached or returns an error;
// kInvalidArgument for a malformed registry response.
Result<std::string> ResolveRegistryAlias(std::string_view registry_url, std::string_view name,
                                         std::string_view alias,
                                         std::chrono::milliseconds timeout);

Result<FetchedPackage> FetchRegistryPackage(std::string_view registry_url, std::string_view name,
                                            std::string_view version,
                                            const std::filesystem::path& cache_dir,
                                            std::chrono::milliseconds timeout);

}  // namespace tandem::serving
