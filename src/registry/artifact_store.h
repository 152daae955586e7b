// Content-addressed storage for model packages and other artifacts.
//
// An artifact is stored under its digest, "sha256:<64 lower-case hex>", so that
// storing the same bytes twice keeps one copy and a digest names exactly one
// content. The local implementation lays files out as
// ROOT/sha256/<first two hex>/<hex>; an S3-compatible store can sit behind the
// same interface later.
//
// Thread-safe: concurrent Put calls of the same content are safe because each
// writes a private temporary file and renames it into place.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace tandem::registry {

struct ArtifactInfo {
  std::string digest;  // "sha256:<hex>"
  int64_t size_bytes = 0;
};

class ArtifactStore {
 public:
  virtual ~ArtifactStore() = default;

  // Stores `bytes` and returns their digest. Storing existing content succeeds.
  virtual Result<ArtifactInfo> Put(std::string_view bytes) = 0;

  // Returns the contents of the artifact. kInvalidArgument for a malformed
  // digest, kNotFound when no artifact has it.
  virtual Result<std::string> Get(std::string_view digest) const = 0;

  // Returns a local path to the artifact's bytes, valid while the store lives.
  virtual Result<std::filesystem::path> PathOf(std::string_view digest) const = 0;
};

// Opens (creating if needed) a store rooted at `root`.
Result<std::unique_ptr<ArtifactStore>> OpenLocalArtifactStore(const std::filesystem::path& root);

// Fails with kInvalidArgument unless `digest` is "sha256:" and 64 lower-case hex digits.
Status ValidateDigest(std::string_view digest);

}  // namespace tandem::registry
