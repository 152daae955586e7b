#include "jobs/job.h"

#include <fmt/format.h>

#include <array>
#include <utility>

namespace tandem::jobs {
namespace {

constexpr std::array<std::pair<JobStatus, std::string_view>, 5> kJobStatusNames = {{
    {JobStatus::kInProgress, "InProgress"},
    {JobStatus::kCompleted, "Completed"},
    {JobStatus::kFailed, "Failed"},
    {JobStatus::kStopping, "Stopping"},
    {JobStatus::kStopped, "Stopped"},
}};

struct SecondaryInfo {
  SecondaryStatus status;
  std::string_view name;
  JobStatus job_status;
  int rank;
};

constexpr std::array<SecondaryInfo, 12> kSecondaryInfo = {{
    {SecondaryStatus::kStarting, "Starting", JobStatus::kInProgress, 0},
    {SecondaryStatus::kRestarting, "Restarting", JobStatus::kInProgress, 0},
    {SecondaryStatus::kPending, "Pending", JobStatus::kInProgress, 1},
    {SecondaryStatus::kDownloading, "Downloading", JobStatus::kInProgress, 2},
    {SecondaryStatus::kTraining, "Training", JobStatus::kInProgress, 3},
    {SecondaryStatus::kUploading, "Uploading", JobStatus::kInProgress, 4},
    {SecondaryStatus::kCompleted, "Completed", JobStatus::kCompleted, 6},
    {SecondaryStatus::kFailed, "Failed", JobStatus::kFailed, 6},
    {SecondaryStatus::kStopping, "Stopping", JobStatus::kStopping, 5},
    {SecondaryStatus::kStopped, "Stopped", JobStatus::kStopped, 6},
    {SecondaryStatus::kMaxRuntimeExceeded, "MaxRuntimeExceeded", JobStatus::kFailed, 6},
    {SecondaryStatus::kInterrupted, "Interrupted", JobStatus::kFailed, 6},
}};

const SecondaryInfo& InfoOf(SecondaryStatus status) {
  for (const auto& info : kSecondaryInfo) {
    if (info.status == status) return info;
  }
  return kSecondaryInfo[0];  // unreachable: the table lists every enumerator
}

template <typename Table, typename Projection>
std::string ListNames(const Table& table, Projection name_of) {
  std::string names;
  for (const auto& entry : table) {
    if (!names.empty()) names += ", ";
    names += name_of(entry);
  }
  return names;
}

}  // namespace

std::string_view Name(JobStatus status) {
  for (const auto& [value, name] : kJobStatusNames) {
    if (value == status) return name;
  }
  return "InProgress";  // unreachable: the table lists every enumerator
}

std::string_view Name(SecondaryStatus status) { return InfoOf(status).name; }

Result<JobStatus> ParseJobStatus(std::string_view text) {
  for (const auto& [value, name] : kJobStatusNames) {
    if (name == text) return value;
  }
  return InvalidArgument(fmt::format(
      "unknown job status \"{}\"; expected one of {}", text,
      ListNames(kJobStatusNames, [](const auto& entry) { return entry.second; })));
}

Result<SecondaryStatus> ParseSecondaryStatus(std::string_view text) {
  for (const auto& info : kSecondaryInfo) {
    if (info.name == text) return info.status;
  }
  return InvalidArgument(fmt::format(
      "unknown secondary status \"{}\"; expected one of {}", text,
      ListNames(kSecondaryInfo, [](const SecondaryInfo& info) { return info.name; })));
}

bool IsTerminal(JobStatus status) {
  return status == JobStatus::kCompleted || status == JobStatus::kFailed ||
         status == JobStatus::kStopped;
}

JobStatus StatusOf(SecondaryStatus secondary) { return InfoOf(secondary).job_status; }

int LifecycleRank(SecondaryStatus secondary) { return InfoOf(secondary).rank; }

JobState InitialJobState(int64_t created_ms) {
  JobState state;
  state.transitions.push_back(StatusTransition{
      .status = SecondaryStatus::kStarting, .start_ms = created_ms, .message = "job created"});
  return state;
}

}  // namespace tandem::jobs
