#include "registry/artifact_store.h"

#include <fmt/format.h>

#include "common/crypto.h"
#include "common/file_util.h"

namespace tandem::registry {
namespace {

constexpr std::string_view kPrefix = "sha256:";

class LocalArtifactStore final : public ArtifactStore {
 public:
  explicit LocalArtifactStore(std::filesystem::path root) : root_(std::move(root)) {}

  Result<ArtifactInfo> Put(std::string_view bytes) override {
    ArtifactInfo info{std::string(kPrefix) + Sha256Hex(bytes), static_cast<int64_t>(bytes.size())};
    std::filesystem::path path = PathFor(info.digest);
    std::error_code ec;
    if (std::filesystem::exists(path, ec)) return info;
    TANDEM_RETURN_IF_ERROR(CreateDirectories(path.parent_path()));
    TANDEM_RETURN_IF_ERROR_CTX(WriteFileAtomic(path, bytes), "storing artifact " + info.digest);
    return info;
  }

  Result<std::string> Get(std::string_view digest) const override {
    TANDEM_ASSIGN_OR_RETURN(std::filesystem::path path, PathOf(digest));
    return ReadFile(path);
  }

  Result<std::filesystem::path> PathOf(std::string_view digest) const override {
    TANDEM_RETURN_IF_ERROR(ValidateDigest(digest));
    std::filesystem::path path = PathFor(digest);
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
      return NotFound(fmt::format("artifact {} not found", digest));
    }
    return path;
  }

 private:
  // REQUIRES: ValidateDigest(digest) succeeded, so the hex part is safe as a file name.
  std::filesystem::path PathFor(std::string_view digest) const {
    std::string_view hex = digest.substr(kPrefix.size());
    return root_ / "sha256" / std::string(hex.substr(0, 2)) / std::string(hex);
  }

  std::filesystem::path root_;
};

}  // namespace

Status ValidateDigest(std::string_view digest) {
  bool valid = digest.size() == kPrefix.size() + 64 && digest.starts_with(kPrefix);
  for (size_t i = kPrefix.size(); valid && i < digest.size(); ++i) {
    char c = digest[i];
    valid = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  }
  if (valid) return Ok();
  return InvalidArgument(
      fmt::format("digest '{}' is invalid, expected sha256: and 64 lower-case hex digits", digest));
}

Result<std::unique_ptr<ArtifactStore>> OpenLocalArtifactStore(const std::filesystem::path& root) {
  TANDEM_RETURN_IF_ERROR_CTX(CreateDirectories(root / "sha256"), "opening artifact store");
  return std::make_unique<LocalArtifactStore>(root);
}

}  // namespace tandem::registry
