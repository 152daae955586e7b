#include "api/input_roots.h"

#include <fmt/format.h>

#include "common/file_util.h"

namespace tandem::api {
namespace {

std::string ListRoots(const std::vector<std::filesystem::path>& roots) {
  std::vector<std::string> names;
  for (const auto& root : roots) names.push_back(root.string());
  return names.empty() ? "none configured" : fmt::format("{}", fmt::join(names, ", "));
}

// Replaces `path` with its resolved form when it lies within one of `roots`.
Status ConfineOne(std::string& path, std::string_view field,
                  const std::vector<std::filesystem::path>& roots) {
  for (const auto& root : roots) {
    Result<std::filesystem::path> confined = ConfinePath(root, path);
    if (confined) {
      path = confined->string();
      return Ok();
    }
  }
  return PermissionDenied(fmt::format(
      "{}: path {} is outside the server's input roots ({}); move the data under an input root "
      "or start the server with --input-root",
      field, path, ListRoots(roots)));
}

}  // namespace

Status ConfineSpecPaths(jobs::JobSpec& spec, const std::vector<std::filesystem::path>& roots) {
  for (size_t i = 0; i < spec.input_channels.size(); ++i) {
    TANDEM_RETURN_IF_ERROR(
        ConfineOne(spec.input_channels[i].path,
                   fmt::format("InputDataConfig[{}].DataSource.FileDataSource.Path", i), roots));
  }
  if (!spec.algorithm.source_dir.empty()) {
    TANDEM_RETURN_IF_ERROR(
        ConfineOne(spec.algorithm.source_dir, "AlgorithmSpecification.SourceDir", roots));
  }
  return Ok();
}

}  // namespace tandem::api
