#include "cli/schedule_format.h"

#include <fmt/format.h>

#include <vector>

#include "cli/job_format.h"

namespace tandem::cli {
namespace {

std::string Text(const Json& object, const char* key) {
  if (!object.is_object() || !object.contains(key)) return "";
  const Json& value = object[key];
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return value.get<bool>() ? "yes" : "no";
  return value.dump();
}

void AddLine(std::string& out, std::string_view label, const std::string& value) {
  if (!value.empty()) out += fmt::format("{:<15} {}\n", label, value);
}

// Returns `text` with two spaces before each line.
std::string Indent(const std::string& text) {
  std::string indented;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    indented += "  " + text.substr(start, end - start) + "\n";
    start = end + 1;
  }
  return indented;
}

}  // namespace

std::string FormatScheduleTable(const Json& schedules) {
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "REPOSITORY", "EXPRESSION", "OVERLAP", "PAUSED", "LAST SLOT"}};
  for (const Json& schedule : schedules) {
    rows.push_back({Text(schedule, "ScheduleName"), Text(schedule, "Repository"),
                    Text(schedule, "ScheduleExpression"), Text(schedule, "OverlapPolicy"),
                    Text(schedule, "Paused"), Text(schedule, "LastSlotTime")});
  }
  return FormatTable(rows);
}

std::string FormatScheduleDescription(const Json& schedule) {
  std::string out;
  AddLine(out, "Schedule", Text(schedule, "ScheduleName"));
  AddLine(out, "Repository", Text(schedule, "Repository"));
  std::string expression = Text(schedule, "ScheduleExpression");
  AddLine(out, "Expression", expression.empty() ? "" : expression + " (UTC)");
  AddLine(out, "Overlap policy", Text(schedule, "OverlapPolicy"));
  AddLine(out, "Paused", Text(schedule, "Paused"));
  AddLine(out, "Created", Text(schedule, "CreationTime"));
  AddLine(out, "Last slot", Text(schedule, "LastSlotTime"));
  AddLine(out, "Queued slot", Text(schedule, "QueuedSlotTime"));
  if (schedule.is_object() && schedule.contains("JobTemplate")) {
    const Json& job_template = schedule["JobTemplate"];
    if (job_template.contains("OutputDataConfig")) {
      AddLine(out, "Model", Text(job_template["OutputDataConfig"], "ModelName"));
    }
  }

  out += "\nNext due times:\n";
  Json next = schedule.value("NextRunTimes", Json::array());
  if (next.empty()) out += "  none (paused)\n";
  for (const Json& time : next) out += fmt::format("  {}\n", time.get<std::string>());

  out += "\nRuns (latest first):\n";
  Json runs = schedule.value("Runs", Json::array());
  if (runs.empty()) {
    out += "  none yet\n";
    return out;
  }
  std::vector<std::vector<std::string>> rows = {{"SLOT", "JOB NAME", "STATUS", "SECONDARY"}};
  for (const Json& run : runs) {
    rows.push_back({Text(run, "SlotTime"), Text(run, "TrainingJobName"),
                    Text(run, "TrainingJobStatus"), Text(run, "SecondaryStatus")});
  }
  out += Indent(FormatTable(rows));
  return out;
}

}  // namespace tandem::cli
