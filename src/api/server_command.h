// `tandem server`: the control plane process.
//
//   tandem server --data-dir DIR [--host 127.0.0.1] [--port 8500]
//                 [--input-root PATH]... [--stop-grace-seconds 30]
//                 [--log-level info] [--log-file FILE]
//
// At start it creates DIR, opens DIR/tandem.db (SQLite) and DIR/artifacts,
// and creates DIR/admin.token (mode 0600, random) when missing. Then it starts
// the local backend and the HTTP server and logs "control plane listening
// url=...". It runs until SIGTERM or SIGINT, drains requests in flight and
// exits 0.
// Input roots default to DIR/inputs (created when missing).
#pragma once

#include <CLI/CLI.hpp>

#include "common/command.h"

namespace tandem::api {

// Declares `tandem server` and its options on `app`.
void AddServerCommand(CLI::App& app, CommandAction& action);

}  // namespace tandem::api
