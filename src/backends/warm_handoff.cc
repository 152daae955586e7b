#include "backends/warm_handoff.h"

#include <fmt/format.h>

#include "common/json_util.h"

namespace tandem::backends {

std::string HandoffMessage(const std::filesystem::path& job_dir,
                           const std::map<std::string, std::string>& environment,
                           const std::string& spec_json) {
  Json message = {{"JobDir", job_dir.string()}, {"Environment", environment}};
  if (!spec_json.empty()) message["Spec"] = spec_json;
  return message.dump() + "\n";
}

Result<Handoff> ParseHandoff(std::string_view line) {
  constexpr std::string_view kWhat = "warm worker hand-off";
  TANDEM_ASSIGN_OR_RETURN(Json message, ParseJson(line, kWhat));
  TANDEM_RETURN_IF_ERROR(RequireObject(message, kWhat));
  TANDEM_RETURN_IF_ERROR(RejectUnknownFields(message, "", {"JobDir", "Environment", "Spec"}));

  Handoff handoff;
  TANDEM_ASSIGN_OR_RETURN(std::string job_dir, GetString(message, "JobDir", ""));
  handoff.job_dir = job_dir;
  if (!handoff.job_dir.is_absolute()) {
    return InvalidArgument(fmt::format("{}: JobDir \"{}\" is not an absolute path", kWhat, job_dir));
  }
  auto environment = message.find("Environment");
  if (environment == message.end() || !environment->is_object()) {
    return InvalidArgument(fmt::format("{}: Environment must be an object", kWhat));
  }
  for (const auto& [name, value] : environment->items()) {
    if (!value.is_string()) {
      return InvalidArgument(fmt::format("{}: Environment.{} must be a string", kWhat, name));
    }
    handoff.environment[name] = value.get<std::string>();
  }
  TANDEM_ASSIGN_OR_RETURN(auto spec, GetOptionalString(message, "Spec", ""));
  handoff.spec_json = spec.value_or("");
  return handoff;
}

}  // namespace tandem::backends
