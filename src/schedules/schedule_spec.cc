#include "schedules/schedule_spec.h"

#include <fmt/format.h>

#include <cctype>

#include "common/clock.h"
#include "schedules/cron.h"

namespace tandem::schedules {
namespace {

Status ValidateScheduleName(std::string_view name) {
  TANDEM_RETURN_IF_ERROR(jobs::ValidateResourceName(name, "ScheduleName"));
  if (name.size() > kMaxScheduleNameLength) {
    return InvalidArgument(fmt::format(
        "ScheduleName: \"{}\" has {} characters, at most {} are allowed so that run names "
        "(name-20261204t151500z) fit in 63",
        name, name.size(), kMaxScheduleNameLength));
  }
  return Ok();
}

// Parses the template by giving it the name of a run, then returns its
// canonical form without the name.
Result<Json> ParseTemplate(const Json& document, std::string_view schedule_name) {
  constexpr std::string_view kPath = "JobTemplate";
  auto it = document.find(kPath);
  if (it == document.end() || it->is_null()) {
    return InvalidArgument("JobTemplate: missing, expected a job spec without TrainingJobName");
  }
  TANDEM_RETURN_IF_ERROR(RequireObject(*it, kPath));
  if (it->contains("TrainingJobName")) {
    return InvalidArgument(
        "JobTemplate.TrainingJobName: must not be set, because each run is named after the "
        "schedule and its slot time");
  }
  Json probe = *it;
  probe["TrainingJobName"] = RunJobName(schedule_name, 0);
  Result<jobs::JobSpec> spec = jobs::ParseJobSpec(probe);
  if (!spec) return std::unexpected(spec.error().WithContext(kPath));
  Json canonical = jobs::JobSpecToJson(*spec);
  canonical.erase("TrainingJobName");
  return canonical;
}

}  // namespace

Result<store::Schedule> ParseScheduleDefinition(const Json& document) {
  TANDEM_RETURN_IF_ERROR(RequireObject(document, "schedule"));
  TANDEM_RETURN_IF_ERROR(RejectUnknownFields(
      document, "",
      {"ScheduleName", "ScheduleExpression", "OverlapPolicy", "Paused", "JobTemplate"}));
  store::Schedule schedule;

  // Step 1: name and expression.
  TANDEM_ASSIGN_OR_RETURN(schedule.name, GetString(document, "ScheduleName", ""));
  TANDEM_RETURN_IF_ERROR(ValidateScheduleName(schedule.name));
  TANDEM_ASSIGN_OR_RETURN(schedule.expression, GetString(document, "ScheduleExpression", ""));
  Result<CronSchedule> cron = CronSchedule::Parse(schedule.expression);
  if (!cron) return std::unexpected(cron.error().WithContext("ScheduleExpression"));

  // Step 2: the optional settings.
  TANDEM_ASSIGN_OR_RETURN(std::optional<std::string> policy,
                          GetOptionalString(document, "OverlapPolicy", ""));
  if (policy) {
    Result<store::OverlapPolicy> parsed = store::ParseOverlapPolicy(*policy);
    if (!parsed) return std::unexpected(parsed.error().WithContext("OverlapPolicy"));
    schedule.overlap_policy = *parsed;
  }
  TANDEM_ASSIGN_OR_RETURN(std::optional<bool> paused, GetOptionalBool(document, "Paused", ""));
  schedule.paused = paused.value_or(false);

  // Step 3: the job template.
  TANDEM_ASSIGN_OR_RETURN(schedule.job_template, ParseTemplate(document, schedule.name));
  schedule.repository = schedule.job_template.value("Repository", "");
  return schedule;
}

std::string RunJobName(std::string_view schedule_name, int64_t slot_ms) {
  // "2026-12-04T15:15:00.000Z" -> "20261204t151500z"
  std::string timestamp = FormatTimestamp(slot_ms);
  std::string compact;
  for (char c : timestamp.substr(0, 19)) {
    if (std::isdigit(static_cast<unsigned char>(c))) compact += c;
    if (c == 'T') compact += 't';
  }
  return fmt::format("{}-{}z", schedule_name, compact);
}

Result<jobs::JobSpec> RunJobSpec(const store::Schedule& schedule, int64_t slot_ms) {
  Json document = schedule.job_template;
  document["TrainingJobName"] = RunJobName(schedule.name, slot_ms);
  Result<jobs::JobSpec> spec = jobs::ParseJobSpec(document);
  if (!spec) {
    return std::unexpected(
        spec.error().WithContext(fmt::format("job template of schedule {}", schedule.name)));
  }
  return spec;
}

}  // namespace tandem::schedules
