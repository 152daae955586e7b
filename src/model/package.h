// Model packages: a directory holding manifest.json and the model file, moved
// between the training job, the registry and the server as a tar archive
// stored under its sha256 digest.
//
// All functions are thread-safe as long as callers do not write the same
// paths concurrently.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "common/status.h"
#include "model/manifest.h"

namespace tandem::model {

// Default cap on the unpacked size of a package: 4 GiB.
inline constexpr uint64_t kDefaultMaxPackageBytes = uint64_t{4} << 30;

struct PackageInfo {
  std::string digest;       // "sha256:<64 lower-case hex digits>" of the archive
  uint64_t size_bytes = 0;  // archive size
};

struct LoadedPackage {
  std::filesystem::path dir;
  ModelManifest manifest;
  std::filesystem::path model_path;  // dir / manifest.model_file
};

// Writes the manifest as dir/manifest.json (pretty-printed, atomically
// replaced). Errors: kNotFound when `dir` does not exist, kInternal on I/O.
Status WriteManifest(const std::filesystem::path& dir, const ModelManifest& manifest);

// Archives every regular file under `dir` into a ustar file `archive_out`
// (replaced if it exists). The archive is deterministic: entries sorted by
// path, mode 0644 (0755 for directories), mtime 0, uid and gid 0, no owner
// names, so the same files always give the same digest.
// Errors: kNotFound when `dir` is missing; kInvalidArgument naming the entry
// when `dir` holds a symlink, device, socket or pipe; kInternal on I/O or
// libarchive failure.
Result<PackageInfo> ArchivePackage(const std::filesystem::path& dir,
                                   const std::filesystem::path& archive_out);

// Unpacks a tar archive into `dest_dir` (created if missing; existing files
// are never overwritten). Only regular files and directories with relative
// paths are accepted.
// Errors: kNotFound when `archive` is missing; kInvalidArgument naming the
// entry for an absolute path, a ".." component, a hard or symbolic link, a
// device or other special entry, or a duplicate entry, and for an archive
// libarchive cannot read; kResourceExhausted when the entries' total size
// exceeds `max_total_bytes`; kInternal on I/O failure. On error, files
// already written stay in `dest_dir`; callers unpack into a fresh directory
// and remove it on failure.
Status ExtractPackage(const std::filesystem::path& archive, const std::filesystem::path& dest_dir,
                      uint64_t max_total_bytes = kDefaultMaxPackageBytes);

// Reads and validates dir/manifest.json and checks that the model file exists.
// Errors: kNotFound for a missing directory, manifest or model file;
// kInvalidArgument (prefixed with the manifest path) for an invalid manifest.
Result<LoadedPackage> LoadPackage(const std::filesystem::path& dir);

}  // namespace tandem::model
