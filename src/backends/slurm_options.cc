#include "backends/slurm_options.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <optional>

namespace tandem::backends {
namespace {

// sbatch options that the backend sets from the launch request; an extra
// argument may not override them.
constexpr std::array<std::string_view, 16> kManagedSbatchOptions = {
    "--job-name", "-J",     "--output",     "-o",      "--error", "-e",   "--export", "--parsable",
    "--time",     "-t",     "--cpus-per-task", "-c",   "--mem",   "--chdir", "-D",    "--wrap"};

Status CheckName(const std::string& value, std::string_view key, std::string_view where) {
  bool bad = value.starts_with('-') ||
             std::any_of(value.begin(), value.end(), [](char c) { return c <= ' ' || c == ','; });
  if (bad) {
    return InvalidArgument(fmt::format("{}: expected a Slurm name without spaces or commas that "
                                       "does not start with '-', got \"{}\"",
                                       JoinPath(where, key), value));
  }
  return Ok();
}

Result<std::chrono::seconds> GetSeconds(const Json& object, std::string_view key,
                                        std::string_view where, std::chrono::seconds fallback,
                                        int64_t min, int64_t max) {
  TANDEM_ASSIGN_OR_RETURN(std::optional<int64_t> value, GetOptionalInt(object, key, where));
  if (!value) return fallback;
  if (*value < min || *value > max) {
    return InvalidArgument(fmt::format("{}: expected {} to {} seconds, got {}",
                                       JoinPath(where, key), min, max, *value));
  }
  return std::chrono::seconds(*value);
}

Result<std::string> GetCommand(const Json& object, std::string_view key, std::string_view where,
                               std::string fallback) {
  TANDEM_ASSIGN_OR_RETURN(std::optional<std::string> value, GetOptionalString(object, key, where));
  if (!value) return fallback;
  if (value->empty()) {
    return InvalidArgument(fmt::format("{}: expected a command name or path, got \"\"",
                                       JoinPath(where, key)));
  }
  return *value;
}

Result<std::vector<std::string>> GetExtraArgs(const Json& object, std::string_view where) {
  constexpr std::string_view kKey = "ExtraSbatchArgs";
  std::vector<std::string> args;
  if (!object.contains(kKey) || object[kKey].is_null()) return args;
  std::string path = JoinPath(where, kKey);
  if (!object[kKey].is_array()) {
    return InvalidArgument(fmt::format("{}: expected an array of strings, got {}", path,
                                       JsonTypeName(object[kKey])));
  }
  for (size_t i = 0; i < object[kKey].size(); ++i) {
    const Json& item = object[kKey][i];
    std::string item_path = fmt::format("{}[{}]", path, i);
    if (!item.is_string()) {
      return InvalidArgument(
          fmt::format("{}: expected a string, got {}", item_path, JsonTypeName(item)));
    }
    std::string arg = item.get<std::string>();
    if (!arg.starts_with('-')) {
      return InvalidArgument(fmt::format(
          "{}: expected an sbatch option starting with '-' (write a value as --name=value), "
          "got \"{}\"",
          item_path, arg));
    }
    std::string_view option = std::string_view(arg).substr(0, arg.find('='));
    bool managed = std::find(kManagedSbatchOptions.begin(), kManagedSbatchOptions.end(),
                             option) != kManagedSbatchOptions.end();
    if (managed) {
      return InvalidArgument(fmt::format(
          "{}: {} is set by the Slurm backend from the job and cannot be overridden", item_path,
          option));
    }
    args.push_back(std::move(arg));
  }
  return args;
}

}  // namespace

Result<SlurmOptions> ParseSlurmOptions(const Json& object, std::string_view where) {
  TANDEM_RETURN_IF_ERROR(RequireObject(object, where));
  TANDEM_RETURN_IF_ERROR(RejectUnknownFields(
      object, where,
      {"Partition", "Account", "TandemBinary", "SlurmConf", "SbatchCommand", "ScancelCommand",
       "ScontrolCommand", "SqueueCommand", "CommandTimeoutSeconds", "TimeLimitMarginSeconds",
       "RuntimeStopGraceSeconds", "ExtraSbatchArgs"}));
  SlurmOptions options;

  // Partition and account go on sbatch's command line as they are.
  TANDEM_ASSIGN_OR_RETURN(auto partition, GetOptionalString(object, "Partition", where));
  TANDEM_ASSIGN_OR_RETURN(auto account, GetOptionalString(object, "Account", where));
  options.partition = partition.value_or("");
  options.account = account.value_or("");
  TANDEM_RETURN_IF_ERROR(CheckName(options.partition, "Partition", where));
  TANDEM_RETURN_IF_ERROR(CheckName(options.account, "Account", where));

  // Paths must be absolute: the control plane's working directory means nothing on a node.
  for (auto [key, target] : {std::pair{"TandemBinary", &options.tandem_binary},
                             std::pair{"SlurmConf", &options.slurm_conf}}) {
    TANDEM_ASSIGN_OR_RETURN(auto path, GetOptionalString(object, key, where));
    if (!path) continue;
    if (!std::filesystem::path(*path).is_absolute()) {
      return InvalidArgument(
          fmt::format("{}: expected an absolute path, got \"{}\"", JoinPath(where, key), *path));
    }
    *target = *path;
  }

  TANDEM_ASSIGN_OR_RETURN(options.sbatch_command,
                          GetCommand(object, "SbatchCommand", where, options.sbatch_command));
  TANDEM_ASSIGN_OR_RETURN(options.scancel_command,
                          GetCommand(object, "ScancelCommand", where, options.scancel_command));
  TANDEM_ASSIGN_OR_RETURN(options.scontrol_command,
                          GetCommand(object, "ScontrolCommand", where, options.scontrol_command));
  TANDEM_ASSIGN_OR_RETURN(options.squeue_command,
                          GetCommand(object, "SqueueCommand", where, options.squeue_command));

  TANDEM_ASSIGN_OR_RETURN(options.command_timeout,
                          GetSeconds(object, "CommandTimeoutSeconds", where,
                                     options.command_timeout, 1, 600));
  TANDEM_ASSIGN_OR_RETURN(options.time_limit_margin,
                          GetSeconds(object, "TimeLimitMarginSeconds", where,
                                     options.time_limit_margin, 0, 86400));
  TANDEM_ASSIGN_OR_RETURN(options.runtime_stop_grace,
                          GetSeconds(object, "RuntimeStopGraceSeconds", where,
                                     options.runtime_stop_grace, 0, 3600));
  TANDEM_ASSIGN_OR_RETURN(options.extra_sbatch_args, GetExtraArgs(object, where));
  return options;
}

}  // namespace tandem::backends
