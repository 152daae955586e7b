#include "cli/schedule_commands.h"

#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <string>

#include "cli/api_client.h"
#include "cli/schedule_format.h"
#include "common/file_util.h"
#include "common/http.h"

namespace tandem::cli {
namespace {

struct ScheduleOptions {
  ClientOptions client;
  std::string name;
  std::string file;
  std::string repository;
  int64_t runs = 20;
  bool json = false;
};

std::string SchedulePath(std::string_view name) {
  return "/schedules/" + http::PercentEncode(name);
}

void PrintJson(const Json& value) { std::printf("%s\n", value.dump(2).c_str()); }

Result<int> Create(const ScheduleOptions& options) {
  TANDEM_ASSIGN_OR_RETURN(Json definition,
                          LoadScheduleDefinition(options.file, ProcessEnvironment()));
  TANDEM_ASSIGN_OR_RETURN(ApiClient client, ApiClient::FromOptions(options.client));
  TANDEM_ASSIGN_OR_RETURN(ApiResponse response,
                          client.Call("POST", "/schedules", DumpJson(definition)));
  std::string name = response.body.value("ScheduleName", "");
  if (response.status == 200) {
    std::printf("schedule %s already exists with the same definition\n", name.c_str());
  } else {
    std::printf("schedule %s created\n", name.c_str());
  }
  return 0;
}

Result<int> List(const ScheduleOptions& options) {
  TANDEM_ASSIGN_OR_RETURN(ApiClient client, ApiClient::FromOptions(options.client));
  std::string target = "/schedules";
  if (!options.repository.empty()) {
    target += "?repository=" + http::PercentEncode(options.repository);
  }
  TANDEM_ASSIGN_OR_RETURN(ApiResponse response, client.Call("GET", target));
  Json schedules = response.body.value("Schedules", Json::array());
  if (options.json) {
    PrintJson(schedules);
  } else {
    std::printf("%s", FormatScheduleTable(schedules).c_str());
  }
  return 0;
}

Result<int> Describe(const ScheduleOptions& options) {
  TANDEM_ASSIGN_OR_RETURN(ApiClient client, ApiClient::FromOptions(options.client));
  TANDEM_ASSIGN_OR_RETURN(
      ApiResponse response,
      client.Call("GET", fmt::format("{}?run_limit={}", SchedulePath(options.name), options.runs)));
  if (options.json) {
    PrintJson(response.body);
  } else {
    std::printf("%s", FormatScheduleDescription(response.body).c_str());
  }
  return 0;
}

Result<int> Pause(const ScheduleOptions& options) {
  TANDEM_ASSIGN_OR_RETURN(ApiClient client, ApiClient::FromOptions(options.client));
  TANDEM_RETURN_IF_ERROR(client.Call("POST", SchedulePath(options.name) + "/pause"));
  std::printf("schedule %s paused\n", options.name.c_str());
  return 0;
}

Result<int> Resume(const ScheduleOptions& options) {
  TANDEM_ASSIGN_OR_RETURN(ApiClient client, ApiClient::FromOptions(options.client));
  TANDEM_RETURN_IF_ERROR(client.Call("POST", SchedulePath(options.name) + "/resume"));
  std::printf("schedule %s resumed; slots missed while paused do not run\n",
              options.name.c_str());
  return 0;
}

Result<int> Delete(const ScheduleOptions& options) {
  TANDEM_ASSIGN_OR_RETURN(ApiClient client, ApiClient::FromOptions(options.client));
  TANDEM_RETURN_IF_ERROR(client.Call("DELETE", SchedulePath(options.name)));
  std::printf("schedule %s deleted; its past runs stay as jobs\n", options.name.c_str());
  return 0;
}

}  // namespace

Result<Json> LoadScheduleDefinition(const std::filesystem::path& file,
                                    const VariableLookup& lookup) {
  TANDEM_ASSIGN_OR_RETURN(std::string text, ReadFile(file));
  TANDEM_ASSIGN_OR_RETURN(Json definition, ParseJson(text, file.string()));
  if (!definition.is_object()) {
    return InvalidArgument(fmt::format("{}: expected a JSON object", file.string()));
  }
  auto job_template = definition.find("JobTemplate");
  if (job_template == definition.end()) return definition;  // the server names what is missing
  if (!job_template->is_object()) {
    return InvalidArgument(fmt::format("{}: JobTemplate: expected an object", file.string()));
  }
  Status expanded = ExpandVariables(*job_template, lookup);
  if (!expanded) {
    return std::unexpected(expanded.error().WithContext(fmt::format("{}: JobTemplate",
                                                                    file.string())));
  }
  ResolveRelativePaths(*job_template,
                       std::filesystem::absolute(file).lexically_normal().parent_path());
  return definition;
}

void AddScheduleCommands(CLI::App& app, CommandAction& action) {
  CLI::App* schedule = app.add_subcommand("schedule", "manage recurring jobs");
  schedule->require_subcommand(1);
  auto options = std::make_shared<ScheduleOptions>();

  CLI::App* create = AddClientSubcommand(*schedule, "create",
                                   "create a schedule from a definition file (admin token)",
                                   options, action, Create);
  create->add_option("file", options->file, "schedule definition (JSON)")->required();

  CLI::App* list = AddClientSubcommand(*schedule, "list", "list schedules", options, action, List);
  list->add_option("--repository", options->repository, "only this repository's schedules");
  list->add_flag("--json", options->json, "print the schedules as JSON");

  CLI::App* describe = AddClientSubcommand(*schedule, "describe",
                                     "show a schedule, its next due times and its past runs",
                                     options, action, Describe);
  describe->add_option("name", options->name, "schedule name")->required();
  describe->add_option("--runs", options->runs, "number of past runs to show (1-200)")
      ->default_val(20)
      ->check(CLI::Range(1, 200));
  describe->add_flag("--json", options->json, "print the schedule as JSON");

  CLI::App* pause = AddClientSubcommand(*schedule, "pause", "stop firing runs (admin token)", options,
                                  action, Pause);
  pause->add_option("name", options->name, "schedule name")->required();

  CLI::App* resume = AddClientSubcommand(*schedule, "resume",
                                   "fire runs again from the next slot (admin token)", options,
                                   action, Resume);
  resume->add_option("name", options->name, "schedule name")->required();

  CLI::App* remove = AddClientSubcommand(*schedule, "delete",
                                   "delete a schedule; its runs stay as jobs (admin token)",
                                   options, action, Delete);
  remove->add_option("name", options->name, "schedule name")->required();
}

}  // namespace tandem::cli
