#include "cli/status_line.h"

#include <fmt/format.h>

#include <optional>
#include <vector>

#include "common/clock.h"

namespace tandem::cli {
namespace {

std::string StringField(const Json& object, std::string_view key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

std::optional<int64_t> IntField(const Json& object, std::string_view key) {
  if (!object.is_object()) return std::nullopt;
  auto it = object.find(key);
  if (it == object.end() || !it->is_number_integer()) return std::nullopt;
  return it->get<int64_t>();
}

std::optional<int64_t> TimeField(const Json& object, std::string_view key) {
  std::string text = StringField(object, key);
  if (text.empty()) return std::nullopt;
  Result<int64_t> millis = ParseTimestamp(text);
  if (!millis) return std::nullopt;
  return *millis;
}

}  // namespace

std::string FormatDuration(int64_t millis) {
  int64_t seconds = millis < 0 ? 0 : millis / 1000;
  int64_t hours = seconds / 3600;
  int64_t minutes = (seconds % 3600) / 60;
  seconds %= 60;
  if (hours > 0) return fmt::format("{}h{:02}m{:02}s", hours, minutes, seconds);
  if (minutes > 0) return fmt::format("{}m{:02}s", minutes, seconds);
  return fmt::format("{}s", seconds);
}

std::string FormatCount(int64_t value) {
  std::string digits = std::to_string(value < 0 ? -value : value);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return value < 0 ? "-" + out : out;
}

bool IsTerminalJob(const Json& job) {
  std::string status = StringField(job, "TrainingJobStatus");
  return status == "Completed" || status == "Failed" || status == "Stopped";
}

std::string FormatStatusLine(const Json& job, int64_t now_millis) {
  std::vector<std::string> parts;
  parts.push_back(StringField(job, "TrainingJobStatus"));
  std::string secondary = StringField(job, "SecondaryStatus");
  if (!secondary.empty()) parts.push_back(secondary);

  std::optional<int64_t> created = TimeField(job, "CreationTime");
  if (created) {
    std::optional<int64_t> ended = TimeField(job, "TrainingEndTime");
    int64_t until = (IsTerminalJob(job) && ended) ? *ended : now_millis;
    parts.push_back("elapsed " + FormatDuration(until - *created));
  }

  const Json progress = job.is_object() ? job.value("Progress", Json::object()) : Json::object();
  if (std::optional<int64_t> rows = IntField(progress, "RowsRead")) {
    parts.push_back("rows " + FormatCount(*rows));
  }
  // A round count of 0 means the algorithm has not started boosting yet.
  int64_t round = IntField(progress, "Round").value_or(0);
  int64_t total = IntField(progress, "TotalRounds").value_or(0);
  if (total > 0) {
    parts.push_back(fmt::format("round {}/{}", round, total));
  } else if (round > 0) {
    parts.push_back(fmt::format("round {}", round));
  }
  return fmt::format("{}", fmt::join(parts, "  "));
}

}  // namespace tandem::cli
