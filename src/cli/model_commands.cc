#include "cli/model_commands.h"

#include <fmt/format.h>

#include <charconv>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

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
  int64_t version = 0;  // alias set
  bool json = false;
};

std::string AliasPath(std::string_view name, std::string_view alias) {
  return fmt::format("/models/{}/aliases/{}", http::PercentEncode(name),
                     http::PercentEncode(alias));
}

// Returns the API path of the version `reference` names, asking the control
// plane which version an alias points at.
Result<std::string> VersionPath(ApiClient& client, const ModelReference& reference) {
  std::string version = reference.version;
  if (!reference.alias.empty()) {
    TANDEM_ASSIGN_OR_RETURN(ApiResponse alias,
                            client.Call("GET", AliasPath(reference.name, reference.alias)));
    version = std::to_string(alias.body.value("Version", int64_t{0}));
  }
  return fmt::format("/models/{}/versions/{}", http::PercentEncode(reference.name),
                     http::PercentEncode(version));
}

// Returns the names of the model's aliases that point at `version`.
Result<std::vector<std::string>> AliasesOf(ApiClient& client, std::string_view name,
                                           int64_t version) {
  TANDEM_ASSIGN_OR_RETURN(ApiResponse model,
                          client.Call("GET", fmt::format("/models/{}", http::PercentEncode(name))));
  std::vector<std::string> aliases;
  for (const Json& alias : model.body.value("Aliases", Json::array())) {
    if (alias.value("Version", int64_t{0}) == version) {
      aliases.push_back(alias.value("Alias", std::string()));
    }
  }
  return aliases;
}

// Parses "NAME@ALIAS" for the alias commands.
Result<ModelReference> ParseAliasReference(std::string_view text) {
  TANDEM_ASSIGN_OR_RETURN(ModelReference reference, ParseModelReference(text));
  if (reference.alias.empty()) {
    return InvalidArgument(
        fmt::format("alias reference \"{}\" has no alias, expected NAME@ALIAS", text));
  }
  return reference;
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
  TANDEM_ASSIGN_OR_RETURN(std::string path, VersionPath(client, reference));
  TANDEM_ASSIGN_OR_RETURN(ApiResponse response, client.Call("GET", path));
  TANDEM_ASSIGN_OR_RETURN(
      std::vector<std::string> aliases,
      AliasesOf(client, reference.name, response.body.value("Version", int64_t{0})));
  response.body["Aliases"] = aliases;
  if (options.json) {
    std::printf("%s\n", response.body.dump(2).c_str());
  } else {
    std::printf("%s", FormatModelVersionDescription(response.body).c_str());
  }
  return 0;
}

Result<int> SetAlias(const ModelOptions& options) {
  TANDEM_ASSIGN_OR_RETURN(ModelReference reference, ParseAliasReference(options.reference));
  if (options.version < 1) {
    return InvalidArgument(
        fmt::format("version {} is invalid, expected a positive integer", options.version));
  }
  TANDEM_ASSIGN_OR_RETURN(ApiClient client, ApiClient::FromOptions(options.client));
  TANDEM_ASSIGN_OR_RETURN(ApiResponse response,
                          client.Call("PUT", AliasPath(reference.name, reference.alias),
                                      DumpJson(Json{{"Version", options.version}})));
  std::printf("%s@%s -> version %lld\n", reference.name.c_str(), reference.alias.c_str(),
              static_cast<long long>(response.body.value("Version", int64_t{0})));
  return 0;
}

Result<int> DeleteAlias(const ModelOptions& options) {
  TANDEM_ASSIGN_OR_RETURN(ModelReference reference, ParseAliasReference(options.reference));
  TANDEM_ASSIGN_OR_RETURN(ApiClient client, ApiClient::FromOptions(options.client));
  TANDEM_RETURN_IF_ERROR(client.Call("DELETE", AliasPath(reference.name, reference.alias)));
  std::printf("deleted %s@%s\n", reference.name.c_str(), reference.alias.c_str());
  return 0;
}

Result<int> Download(const ModelOptions& options) {
  TANDEM_ASSIGN_OR_RETURN(ModelReference reference, ParseModelReference(options.reference));
  TANDEM_ASSIGN_OR_RETURN(ApiClient client, ApiClient::FromOptions(options.client));
  TANDEM_ASSIGN_OR_RETURN(std::string path, VersionPath(client, reference));
  TANDEM_ASSIGN_OR_RETURN(std::string package, client.Download(path + "/package"));
  TANDEM_RETURN_IF_ERROR(WriteFileAtomic(options.output, package));
  std::printf("wrote %zu bytes to %s\n", package.size(), options.output.c_str());
  return 0;
}

}  // namespace

Result<ModelReference> ParseModelReference(std::string_view text) {
  if (size_t at = text.find('@'); at != std::string_view::npos) {
    ModelReference reference{std::string(text.substr(0, at)), "", std::string(text.substr(at + 1))};
    if (reference.name.empty() || reference.alias.empty()) {
      return InvalidArgument(
          fmt::format("model reference \"{}\" is invalid, expected NAME@ALIAS", text));
    }
    return reference;
  }
  ModelReference reference{std::string(text), "latest", ""};
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

  CLI::App* list = AddClientSubcommand(*model, "list", "list registered models", options, action, List);
  list->add_flag("--json", options->json, "print the models as JSON");

  CLI::App* describe = AddClientSubcommand(*model, "describe",
                                     "show one model version (the latest by default)", options,
                                     action, Describe);
  describe->add_option("model", options->reference, "NAME, NAME:VERSION or NAME@ALIAS")
      ->required();
  describe->add_flag("--json", options->json, "print the version as JSON");

  CLI::App* download = AddClientSubcommand(*model, "download", "save a model version's package (tar)",
                                     options, action, Download);
  download->add_option("model", options->reference, "NAME, NAME:VERSION or NAME@ALIAS")
      ->required();
  download->add_option("--output,-o", options->output, "file to write the package to")
      ->required();

  CLI::App* alias = model->add_subcommand("alias", "point a named alias at a model version");
  alias->require_subcommand(1);
  CLI::App* set = AddClientSubcommand(*alias, "set", "create or move an alias (admin token)", options,
                                action, SetAlias);
  set->add_option("alias", options->reference, "NAME@ALIAS, e.g. flights-delay@production")
      ->required();
  set->add_option("version", options->version, "the version the alias points at")->required();
  CLI::App* remove =
      AddClientSubcommand(*alias, "delete", "delete an alias (admin token)", options, action, DeleteAlias);
  remove->add_option("alias", options->reference, "NAME@ALIAS")->required();
}

}  // namespace tandem::cli
