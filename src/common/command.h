// How each role of the single `tandem` binary plugs into its command line.
//
// A module exposes `void AddXCommand(CLI::App& app, CommandAction& action)`.
// It declares its subcommand and options on `app`; when CLI11 selects that
// subcommand, its callback stores in `action` the function that runs it. main()
// parses argv, then calls `action` and exits with the code it returns.
#pragma once

#include <functional>

namespace tandem {

// Runs one parsed subcommand and returns the process exit code.
using CommandAction = std::function<int()>;

}  // namespace tandem
