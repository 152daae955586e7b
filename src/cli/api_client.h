// The client side of the control-plane API (docs/api.md), shared by the
// `tandem job ...` and `tandem model ...` commands.
//
// Connection settings come from the command line, then the environment:
//   base URL: --url, else TANDEM_URL, else http://127.0.0.1:8500
//   token:    --token, else TANDEM_TOKEN, else the file --token-file, else
//             DATA_DIR/admin.token when --data-dir is given.
// An ApiClient is used by one thread at a time.
#pragma once

#include <CLI/CLI.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/command.h"
#include "common/http.h"
#include "common/json_util.h"
#include "common/status.h"

namespace tandem::cli {

inline constexpr std::string_view kDefaultUrl = "http://127.0.0.1:8500";

// Connection options as given on the command line.
struct ClientOptions {
  std::string url;
  std::string token;
  std::string token_file;
  std::string data_dir;
};

// Declares --url, --token, --token-file and --data-dir on `command`.
void AddClientOptions(CLI::App& command, ClientOptions& options);

// A successful (2xx) response with its status and parsed JSON body.
struct ApiResponse {
  int status = 0;
  Json body;
};

class ApiClient {
 public:
  // `base_url` is "http://host:port" (a trailing '/' is dropped); `token` may
  // be empty for read-only use.
  ApiClient(std::string base_url, std::string token);

  // Builds a client from `options` and the environment as described above.
  // Errors: kNotFound or kPermissionDenied when the token file cannot be read.
  // A missing token is not an error here: the server rejects the call instead.
  static Result<ApiClient> FromOptions(const ClientOptions& options);

  const std::string& base_url() const { return base_url_; }

  // Sends METHOD /api/v1 + `target` and parses the JSON response.
  // Errors: a non-2xx response becomes an Error with the server's code and
  // message (a 401 without any token configured says how to give one); an
  // unreachable server becomes kUnavailable "cannot reach the
  // control plane at URL: is `tandem server` running?".
  Result<ApiResponse> Call(std::string_view method, std::string_view target,
                           std::string_view body = "");

  // As Call, but returns the raw body of a 2xx response (package downloads).
  Result<std::string> Download(std::string_view target);

 private:
  Result<http::Response> Send(std::string_view method, std::string_view target,
                              std::string_view body);

  std::string base_url_;
  std::string token_;
  http::Client client_;
};

// Maps the "code" of a JSON error body back to its ErrorCode; unknown names
// map to kInternal.
ErrorCode ErrorCodeFromName(std::string_view name);

// Runs `body`, printing its error as "error: <message>" to standard error.
// Returns its exit code, or 1 after an error.
int RunClientCommand(const std::function<Result<int>()>& body);

// Declares the client subcommand `name` of `parent`, with the connection
// options of `options->client`. When the user picks it, `action` is set to
// run `run` on the parsed options through RunClientCommand. `Options` is a
// command family's option struct with a `ClientOptions client` member.
template <typename Options>
CLI::App* AddClientSubcommand(CLI::App& parent, const std::string& name, const std::string& help,
                              std::shared_ptr<Options> options, CommandAction& action,
                              Result<int> (*run)(const Options&)) {
  CLI::App* command = parent.add_subcommand(name, help);
  AddClientOptions(*command, options->client);
  command->callback([options, &action, run] {
    action = [options, run] { return RunClientCommand([&] { return run(*options); }); };
  });
  return command;
}

}  // namespace tandem::cli
