#include "cli/model_commands.h"

#include <fmt/format.h>

#include <charconv>
#include <cstdio>
#include <memory>

#include "cli/api_client.h"
#include "cli/job_format.h"
#include "common/file_util.h"
#include "common/http.h"

namespace tandem::cli {
namespace {

struct ModelOptions {
  ClientOptions client;
  std::string reference;
  std::string output;
  bool json = false;
};

std::string VersionPath(const ModelReference& reference) {
  return fmt::format("/models/{}/versions/{}", http::PercentEncode(reference.name),
                     http::PercentEncode(reference.version));
}

Result<int> List(const ModelOptions& options) {
  TANDEM_ASSIGN_OR_RETURN(ApiClient client, ApiClient::FromOptions(options.client));
  TANDEM_ASSIGN_OR_RETURN(ApiResponse response, client.Call("GET", "/models"));
  Json models = response.body.value("Models", Json::array());
  if (options.json) {
    std::printf("%s\n", models.dump(2).c_str());
  } else {
    std::printf("%s", FormatModelTable(models).c_str());
  }
  return 0;
}

Result<int> Describe(const ModelOptions& options) {
  TANDEM_ASSIGN_OR_RETURN(ModelReference reference, ParseModelReference(options.reference));
  TANDEM_ASSIGN_OR_RETURN(ApiClient client, ApiClient::FromOptions(options.client));
  TANDEM_ASSIGN_OR_RETURN(ApiResponse response, client.Call("GET", VersionPath(reference)));
  if (options.json) {
    std::printf("%s\n", response.body.dump(2).c_str());
  } else {
    std::printf("%s", FormatModelVersionDescription(response.body).c_str());
  }
  return 0;
}

Result<int> Download(const ModelOptions& options) {
  TANDEM_ASSIGN_OR_RETURN(ModelReference reference, ParseModelReference(options.reference));
  TANDEM_ASSIGN_OR_RETURN(ApiClient client, ApiClient::FromOptions(options.client));
  TANDEM_ASSIGN_OR_RETURN(std::string package, client.Download(VersionPath(reference) + "/package"));
  TANDEM_RETURN_IF_ERROR(WriteFileAtomic(options.output, package));
  std::printf("wrote %zu bytes to %s\n", package.size(), options.output.c_str());
  return 0;
}

CLI::App* AddSubcommand(CLI::App& parent, const std::string& name, const std::string& help,
                        std::shared_ptr<ModelOptions> options, CommandAction& action,
                        Result<int> (*run)(const ModelOptions&)) {
  CLI::App* command = parent.add_subcommand(name, help);
  AddClientOptions(*command, options->client);
  command->callback([options, &action, run] {
    action = [options, run] { return RunClientCommand([&] { return run(*options); }); };
  });
  return command;
}

}  // namespace

Result<ModelReference> ParseModelReference(std::string_view text) {
  ModelReference reference{std::string(text), "latest"};
  size_t colon = text.rfind(':');
  if (colon != std::string_view::npos) {
    reference.name = std::string(text.substr(0, colon));
    reference.version = std::string(text.substr(colon + 1));
  }
  if (reference.name.empty()) {
    return InvalidArgument(
        fmt::format("model reference \"{}\" has no model name, expected NAME[:VERSION]", text));
  }
  if (reference.version == "latest") return reference;
  int64_t number = 0;
  const char* end = reference.version.data() + reference.version.size();
  auto [ptr, error] = std::from_chars(reference.version.data(), end, number);
  if (error != std::errc() || ptr != end || number < 1) {
    return InvalidArgument(fmt::format(
        "model reference \"{}\": version \"{}\" is invalid, expected a positive integer or "
        "\"latest\"",
        text, reference.version));
  }
  return reference;
}

void AddModelCommands(CLI::App& app, CommandAction& action) {
  CLI::App* model = app.add_subcommand("model", "inspect the model registry");
  model->require_subcommand(1);
  auto options = std::make_shared<ModelOptions>();

  CLI::App* list = AddSubcommand(*model, "list", "list registered models", options, action, List);
  list->add_flag("--json", options->json, "print the models as JSON");

  CLI::App* describe = AddSubcommand(*model, "describe",
                                     "show one model version (the latest by default)", options,
                                     action, Describe);
  describe->add_option("model", options->reference, "NAME or NAME:VERSION")->required();
  describe->add_flag("--json", options->json, "print the version as JSON");

  CLI::App* download = AddSubcommand(*model, "download", "save a model version's package (tar)",
                                     options, action, Download);
  download->add_option("model", options->reference, "NAME or NAME:VERSION")->required();
  download->add_option("--output,-o", options->output, "file to write the package to")
      ->required();
}

}  // namespace tandem::cli
