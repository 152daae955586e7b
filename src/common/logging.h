// Process-wide logging setup. Modules log through spdlog's default logger with
// key=value fields: spdlog::info("job started job={} backend={}", id, backend).
// Secrets (tokens, credentials, secret values) are never passed to a logger.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace tandem {

// Sets the default logger's level ("trace".."error", "off") and sink: standard
// error when `file` is empty, else that file, appended to. The pattern starts
// with an ISO 8601 UTC time and the role ("server", "train", "serve").
Status InitLogging(std::string_view role, std::string_view level, const std::string& file = "");

}  // namespace tandem
