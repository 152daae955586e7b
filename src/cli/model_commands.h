// `tandem model list|describe|download|alias`: the client commands for the
// model registry, talking to the control plane through cli::ApiClient.
// Every command prints errors as "error: <message>" and exits 1 on failure.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <string_view>

#include "common/command.h"
#include "common/status.h"

namespace tandem::cli {

// Declares `tandem model` and its subcommands on `app`.
void AddModelCommands(CLI::App& app, CommandAction& action);

// A "NAME[:VERSION]" or "NAME@ALIAS" reference; version is "latest" when
// neither is given.
struct ModelReference {
  std::string name;
  std::string version;  // empty when `alias` is set
  std::string alias;
};

// Parses "NAME[:VERSION]" where VERSION is a positive integer or "latest", or
// "NAME@ALIAS". Errors: kInvalidArgument naming the text.
Result<ModelReference> ParseModelReference(std::string_view text);

}  // namespace tandem::cli
