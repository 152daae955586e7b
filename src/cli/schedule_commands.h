// `tandem schedule create|list|describe|pause|resume|delete`: the client
// commands for recurring jobs (docs/api.md, "Schedules"), talking to the
// control plane through cli::ApiClient. Every command prints errors as
// "error: <message>" and exits 1 on failure.
#pragma once

#include <CLI/CLI.hpp>

#include <filesystem>

#include "cli/spec_template.h"
#include "common/command.h"
#include "common/json_util.h"
#include "common/status.h"

namespace tandem::cli {

// Declares `tandem schedule` and its subcommands on `app`.
void AddScheduleCommands(CLI::App& app, CommandAction& action);

// Reads a schedule definition file and prepares its JobTemplate as
// `tandem job submit` prepares a spec: ${VAR} expansion from `lookup` and
// relative input paths resolved against the file's directory.
// Errors: those of ReadFile. kInvalidArgument for invalid JSON, for a
// document or a JobTemplate that is not an object, and for a failed expansion.
Result<Json> LoadScheduleDefinition(const std::filesystem::path& file,
                                    const VariableLookup& lookup);

}  // namespace tandem::cli
