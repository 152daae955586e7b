// A binary with only `serve`, so that serving tests can run the command as a
// process without linking every module of the `tandem` binary.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "common/command.h"
#include "serving/serve_command.h"

int main(int argc, char** argv) {
  CLI::App app{"tandem serve, for the serving tests"};
  app.require_subcommand(1);
  tandem::CommandAction action;
  tandem::serving::AddServeCommand(app, action);
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
