// The `tandem` binary: one executable whose subcommands are its roles.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "api/server_command.h"
#include "cli/job_commands.h"
#include "cli/model_commands.h"
#include "cli/schedule_commands.h"
#include "common/command.h"
#include "runtime/train_command.h"
#include "serving/serve_command.h"

int main(int argc, char** argv) {
  CLI::App app{"tandem: train, register and serve machine-learning models"};
  app.set_version_flag("--version", TANDEM_VERSION);
  app.require_subcommand(1);

  tandem::CommandAction action;
  tandem::api::AddServerCommand(app, action);
  tandem::runtime::AddTrainCommand(app, action);
  tandem::serving::AddServeCommand(app, action);
  tandem::cli::AddJobCommands(app, action);
  tandem::cli::AddModelCommands(app, action);
  tandem::cli::AddScheduleCommands(app, action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (!action) {
    std::fputs(app.help().c_str(), stderr);
    return 2;
  }
  return action();
}
