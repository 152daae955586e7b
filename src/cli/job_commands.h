// `tandem job submit|wait|describe|list|logs|stop`: the client commands for
// training jobs, talking to the control plane through cli::ApiClient.
// Every command prints errors as "error: <message>" and exits 1 on failure.
#pragma once

#include <CLI/CLI.hpp>

#include "common/command.h"

namespace tandem::cli {

// Declares `tandem job` and its subcommands on `app`.
void AddJobCommands(CLI::App& app, CommandAction& action);

}  // namespace tandem::cli
