// Where `tandem serve` gets a model package: a directory on disk, or a
// version of a registered model downloaded from the control plane's registry
// (docs/api.md: GET /api/v1/models/{name}/versions/{v} and .../package).
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/status.h"

namespace tandem::serving {

// The package directory SageMaker unpacks a model's artifact into.
inline constexpr std::string_view kSageMakerModelDir = "/opt/ml/model";

// Version label of a package served straight from a directory.
inline constexpr std::string_view kDirectoryVersion = "1";

struct ModelSource {
  enum class Kind { kDirectory, kRegistry };
  Kind kind = Kind::kDirectory;
  std::filesystem::path dir;  // kDirectory
  std::string name;           // kRegistry: the registered model name
  std::string version;        // kRegistry: a positive number or "latest"

  // "directory /models/flights" or "registry model flights-delay version latest".
  std::string Describe() const;
};

// Reads a --model value: "NAME:VERSION" (VERSION a positive integer or
// "latest") names a registry model; anything else is a package directory.
// A value holding '/' or naming an existing directory is always a directory.
// Errors (kInvalidArgument): an empty value, an empty NAME or a VERSION that
// is neither a positive integer nor "latest".
Result<ModelSource> ParseModelSource(std::string_view spec);

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
Result<FetchedPackage> FetchRegistryPackage(std::string_view registry_url, std::string_view name,
                                            std::string_view version,
                                            const std::filesystem::path& cache_dir,
                                            std::chrono::milliseconds timeout);

}  // namespace tandem::serving
