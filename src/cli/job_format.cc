#include "cli/job_format.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "cli/status_line.h"

namespace tandem::cli {
namespace {

// Returns the field as display text: strings as they are, numbers and other
// values as compact JSON, "" when absent or null.
std::string Text(const Json& object, std::string_view key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  return DumpJson(*it);
}

const Json& Child(const Json& object, std::string_view key) {
  static const Json kNull;
  if (!object.is_object()) return kNull;
  auto it = object.find(key);
  return it == object.end() ? kNull : *it;
}

// Appends "  Label:  value" when value is not empty; labels align at `width`.
void AddLine(std::string& out, std::string_view label, std::string_view value, size_t width = 20) {
  if (value.empty()) return;
  out += fmt::format("{:<{}}{}\n", fmt::format("{}:", label), width, value);
}

std::string FormatMetric(double value) { return fmt::format("{:.6g}", value); }

void AddTransitions(std::string& out, const Json& job) {
  const Json& transitions = Child(job, "SecondaryStatusTransitions");
  if (!transitions.is_array() || transitions.empty()) return;
  out += "Transitions:\n";
  for (const Json& entry : transitions) {
    std::string line = fmt::format("  {:<20}{}", Text(entry, "Status"), Text(entry, "StartTime"));
    std::string end = Text(entry, "EndTime");
    if (!end.empty()) line += " -> " + end;
    std::string message = Text(entry, "StatusMessage");
    if (!message.empty()) line += "  " + message;
    // Entries of a retried job's later attempts name their attempt.
    const Json& attempt = Child(entry, "Attempt");
    if (attempt.is_number_integer() && attempt.get<int64_t>() > 1) {
      line += fmt::format("  (attempt {})", attempt.get<int64_t>());
    }
    out += line + "\n";
  }
}

// Adds the attempt of a job that was retried; nothing for attempt 1.
void AddAttempt(std::string& out, const Json& job) {
  const Json& attempt = Child(job, "AttemptCount");
  if (!attempt.is_number_integer() || attempt.get<int64_t>() <= 1) return;
  AddLine(out, "Attempt", fmt::format("{} (retried after an interruption)", DumpJson(attempt)));
}

void AddProgress(std::string& out, const Json& job) {
  const Json& progress = Child(job, "Progress");
  if (!progress.is_object() || progress.empty()) return;
  out += "Progress:\n";
  for (const auto& [key, value] : progress.items()) {
    std::string text = value.is_number_integer() ? FormatCount(value.get<int64_t>())
                       : value.is_string()       ? value.get<std::string>()
                                                 : DumpJson(value);
    AddLine(out, "  " + key, text);
  }
}

// Metrics: the pairs (Rmse, BaselineRmse) and (Mae, BaselineMae) on one line
// each, then every other metric in key order.
void AddMetrics(std::string& out, const Json& metrics) {
  if (!metrics.is_object() || metrics.empty()) return;
  out += "Metrics:\n";
  std::set<std::string> shown;
  for (const char* name : {"Rmse", "Mae"}) {
    std::string baseline = fmt::format("Baseline{}", name);
    if (!metrics.contains(name) || !metrics[name].is_number()) continue;
    std::string line = FormatMetric(metrics[name].get<double>());
    if (metrics.contains(baseline) && metrics[baseline].is_number()) {
      line += fmt::format("  (baseline {})", FormatMetric(metrics[baseline].get<double>()));
      shown.insert(baseline);
    }
    shown.insert(name);
    AddLine(out, std::string("  ") + name, line);
  }
  for (const auto& [key, value] : metrics.items()) {
    if (shown.contains(key)) continue;
    std::string text = value.is_number() ? FormatMetric(value.get<double>()) : DumpJson(value);
    // Counts such as TrainRows are integers even when stored as JSON numbers.
    if (value.is_number() && std::abs(value.get<double>()) < 9.0e15 &&
        value.get<double>() == std::trunc(value.get<double>())) {
      text = FormatCount(static_cast<int64_t>(value.get<double>()));
    }
    AddLine(out, "  " + key, text);
  }
}

void AddStringMap(std::string& out, std::string_view title, const Json& map) {
  if (!map.is_object() || map.empty()) return;
  out += fmt::format("  {}:\n", title);
  for (const auto& [key, value] : map.items()) {
    out += fmt::format("    {} = {}\n", key, value.is_string() ? value.get<std::string>()
                                                               : DumpJson(value));
  }
}

void AddLineage(std::string& out, const Json& lineage) {
  if (!lineage.is_object() || lineage.empty()) return;
  out += "Lineage:\n";
  AddLine(out, "  Job", Text(lineage, "JobId"));
  AddLine(out, "  Job name", Text(lineage, "TrainingJobName"));
  AddLine(out, "  Repository", Text(lineage, "Repository"));
  AddLine(out, "  Runtime version", Text(lineage, "RuntimeVersion"));
  AddStringMap(out, "Data digests", Child(lineage, "DataDigests"));
  AddStringMap(out, "Hyperparameters", Child(lineage, "HyperParameters"));
}

// "Warm pool: Reused by job-b (retained 42 s)".
void AddWarmPool(std::string& out, const Json& job) {
  const Json& pool = Child(job, "WarmPoolStatus");
  std::string status = Text(pool, "Status");
  if (status.empty()) return;
  std::string reused_by = Text(pool, "ReusedByJob");
  if (!reused_by.empty() && status != "Terminated") status += " by " + reused_by;
  AddLine(out, "Warm pool",
          fmt::format("{} (retained {} s)", status,
                      Text(pool, "ResourceRetainedBillableTimeInSeconds")));
}

}  // namespace

std::string FormatTable(const std::vector<std::vector<std::string>>& rows) {
  if (rows.empty()) return "";
  std::vector<size_t> widths(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < widths.size() && i < row.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < widths.size(); ++i) {
      const std::string cell = i < row.size() ? row[i] : "";
      bool last = i + 1 == widths.size();
      line += last ? cell : fmt::format("{:<{}}  ", cell, widths[i]);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string FormatJobDescription(const Json& job) {
  std::string out;
  AddLine(out, "Job", Text(job, "JobId"));
  AddLine(out, "Name", Text(job, "TrainingJobName"));
  AddLine(out, "Repository", Text(job, "Repository"));
  std::string status = Text(job, "TrainingJobStatus");
  std::string secondary = Text(job, "SecondaryStatus");
  AddLine(out, "Status", secondary.empty() ? status : fmt::format("{} ({})", status, secondary));
  AddLine(out, "Failure reason", Text(job, "FailureReason"));
  AddAttempt(out, job);
  AddLine(out, "Created", Text(job, "CreationTime"));
  AddLine(out, "Training started", Text(job, "TrainingStartTime"));
  AddLine(out, "Training ended", Text(job, "TrainingEndTime"));
  AddLine(out, "Last modified", Text(job, "LastModifiedTime"));

  const Json& backend = Child(job, "Backend");
  std::string backend_text = Text(backend, "Name");
  if (!Text(backend, "NativeId").empty()) backend_text += " " + Text(backend, "NativeId");
  AddLine(out, "Backend", backend_text);

  const Json& model = Child(job, "ModelVersion");
  if (!Text(model, "ModelName").empty()) {
    AddLine(out, "Model version",
            fmt::format("{}:{}", Text(model, "ModelName"), Text(model, "Version")));
  }
  AddWarmPool(out, job);
  AddTransitions(out, job);
  AddProgress(out, job);
  return out;
}

std::string FormatJobTable(const Json& jobs) {
  std::vector<std::vector<std::string>> rows = {
      {"JOB ID", "NAME", "REPOSITORY", "STATUS", "SECONDARY", "CREATED"}};
  if (jobs.is_array()) {
    for (const Json& job : jobs) {
      rows.push_back({Text(job, "JobId"), Text(job, "TrainingJobName"), Text(job, "Repository"),
                      Text(job, "TrainingJobStatus"), Text(job, "SecondaryStatus"),
                      Text(job, "CreationTime")});
    }
  }
  return FormatTable(rows);
}

std::string FormatModelTable(const Json& models) {
  std::vector<std::vector<std::string>> rows = {
      {"MODEL", "LATEST VERSION", "CREATED", "LAST MODIFIED"}};
  if (models.is_array()) {
    for (const Json& model : models) {
      rows.push_back({Text(model, "ModelName"), Text(model, "LatestVersion"),
                      Text(model, "CreationTime"), Text(model, "LastModifiedTime")});
    }
  }
  return FormatTable(rows);
}

std::string FormatModelVersionDescription(const Json& version) {
  std::string out;
  AddLine(out, "Model", Text(version, "ModelName"));
  AddLine(out, "Version", Text(version, "Version"));
  AddLine(out, "Job", Text(version, "JobId"));
  AddLine(out, "Job name", Text(version, "TrainingJobName"));
  AddLine(out, "Created", Text(version, "CreationTime"));
  AddLine(out, "Package digest", Text(version, "PackageDigest"));
  const Json& aliases = Child(version, "Aliases");
  if (aliases.is_array() && !aliases.empty()) {
    std::vector<std::string> names;
    for (const Json& alias : aliases) {
      if (alias.is_string()) names.push_back(alias.get<std::string>());
    }
    AddLine(out, "Aliases", fmt::format("{}", fmt::join(names, ", ")));
  }

  const Json& manifest = Child(version, "Manifest");
  AddLine(out, "Framework", Text(manifest, "Framework"));
  AddLine(out, "Objective", Text(manifest, "Objective"));
  AddMetrics(out, Child(manifest, "Metrics"));
  AddLineage(out, Child(manifest, "Lineage"));
  const Json& self_tests = Child(manifest, "SelfTests");
  if (self_tests.is_array()) AddLine(out, "Self-tests", std::to_string(self_tests.size()));
  return out;
}

}  // namespace tandem::cli
