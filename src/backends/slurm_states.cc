#include "backends/slurm_states.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <utility>

namespace tandem::backends {
namespace {

struct StateRow {
  std::string_view slurm_state;
  SlurmStateRule rule;
};

// Every job state of Slurm 22.05 (src/common/slurm_protocol_defs.c,
// job_state_string), base states and the flag states that scontrol and squeue
// print in their place. tandem submits with --no-requeue, so REQUEUED and its
// kin only appear when an administrator requeues a job by hand.
constexpr std::array kStateTable = {
    // Waiting for, or getting, an allocation.
    StateRow{"PENDING", {ObservedState::kPending}},
    StateRow{"CONFIGURING", {ObservedState::kPending}},
    StateRow{"REQUEUED", {ObservedState::kPending}},
    StateRow{"REQUEUE_HOLD", {ObservedState::kPending}},
    StateRow{"REQUEUE_FED", {ObservedState::kPending}},
    StateRow{"RESV_DEL_HOLD", {ObservedState::kPending}},
    // Holding an allocation; the processes may be paused or ending.
    StateRow{"RUNNING", {ObservedState::kRunning}},
    StateRow{"SUSPENDED", {ObservedState::kRunning}},
    StateRow{"STOPPED", {ObservedState::kRunning}},
    StateRow{"COMPLETING", {ObservedState::kRunning}},
    StateRow{"SIGNALING", {ObservedState::kRunning}},
    StateRow{"STAGE_OUT", {ObservedState::kRunning}},
    StateRow{"RESIZING", {ObservedState::kRunning}},
    // Ended.
    StateRow{"COMPLETED", {ObservedState::kSucceeded}},
    StateRow{"FAILED", {ObservedState::kFailed}},
    StateRow{"SPECIAL_EXIT", {ObservedState::kFailed}},
    StateRow{"CANCELLED", {ObservedState::kFailed, EndCause::kCancelled}},
    StateRow{"TIMEOUT", {ObservedState::kFailed, EndCause::kMaxRuntimeExceeded}},
    StateRow{"DEADLINE", {ObservedState::kFailed, EndCause::kMaxRuntimeExceeded}},
    StateRow{"NODE_FAIL", {ObservedState::kFailed, EndCause::kInterrupted}},
    StateRow{"PREEMPTED", {ObservedState::kFailed, EndCause::kInterrupted}},
    StateRow{"BOOT_FAIL", {ObservedState::kFailed, EndCause::kInterrupted}},
    StateRow{"OUT_OF_MEMORY", {ObservedState::kFailed, EndCause::kOutOfMemory}},
    // A federated job's sibling that another cluster started: it never runs here.
    StateRow{"REVOKED", {ObservedState::kGone}},
};

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t' || text.front() == '\r')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) {
    text.remove_suffix(1);
  }
  return text;
}

std::vector<std::string_view> SplitLines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    size_t end = text.find('\n');
    lines.push_back(Trim(text.substr(0, end)));
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return lines;
}

bool IsJobId(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(),
                                      [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<int> ParseInt(std::string_view text) {
  int value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// Returns the value of `key` in a line of space-separated key=value fields.
// Values of scontrol's fields contain no spaces except in Command= and a few
// others that come after the fields read here.
std::optional<std::string_view> FieldValue(std::string_view line, std::string_view key) {
  size_t position = 0;
  while (position < line.size()) {
    size_t end = line.find(' ', position);
    if (end == std::string_view::npos) end = line.size();
    std::string_view field = line.substr(position, end - position);
    if (field.size() > key.size() && field.starts_with(key) && field[key.size()] == '=') {
      return field.substr(key.size() + 1);
    }
    position = end + 1;
  }
  return std::nullopt;
}

bool ContainsAny(std::string_view text, std::initializer_list<std::string_view> needles) {
  return std::any_of(needles.begin(), needles.end(),
                     [text](std::string_view needle) { return text.find(needle) != text.npos; });
}

// Returns the first line that reads like an error, or the whole output trimmed.
std::string FirstErrorLine(std::string_view output) {
  for (std::string_view line : SplitLines(output)) {
    if (line.find("error") != line.npos) return std::string(line);
  }
  return std::string(Trim(output));
}

}  // namespace

SlurmStateRule SlurmStateRuleFor(std::string_view slurm_state) {
  // squeue and scontrol may append "+" or a flag suffix on some versions
  // ("CANCELLED by 0" in sacct); only the leading word is the state.
  std::string_view word = slurm_state.substr(0, slurm_state.find_first_of(" +"));
  for (const StateRow& row : kStateTable) {
    if (row.slurm_state == word) return row.rule;
  }
  return SlurmStateRule{};
}

Result<SlurmJobInfo> ParseScontrolShowJob(std::string_view output) {
  for (std::string_view line : SplitLines(output)) {
    if (!line.starts_with("JobId=")) continue;
    std::optional<std::string_view> job_id = FieldValue(line, "JobId");
    std::optional<std::string_view> state = FieldValue(line, "JobState");
    if (!job_id || !state || job_id->empty() || state->empty()) continue;

    SlurmJobInfo info{.job_id = std::string(*job_id), .job_state = std::string(*state)};
    info.job_name = std::string(FieldValue(line, "JobName").value_or(""));
    info.reason = std::string(FieldValue(line, "Reason").value_or(""));
    std::string_view exit = FieldValue(line, "ExitCode").value_or("");
    if (size_t colon = exit.find(':'); colon != exit.npos) {
      info.exit_code = ParseInt(exit.substr(0, colon));
      std::optional<int> signal = ParseInt(exit.substr(colon + 1));
      if (signal && *signal != 0) info.exit_signal = signal;
    }
    return info;
  }
  return InvalidArgument(fmt::format("scontrol show job printed no line with JobId and JobState: \"{}\"",
                                     FirstErrorLine(output)));
}

bool SaysInvalidJobId(std::string_view output) {
  return output.find("Invalid job id specified") != output.npos;
}

bool SaysControllerUnreachable(std::string_view output) {
  return ContainsAny(output, {"Unable to contact slurm controller", "Socket timed out",
                              "Connection refused", "Zero Bytes were transmitted",
                              "Communication connection failure", "Slurm backup controller in standby",
                              "Could not establish a configuration source"});
}

Result<std::string> ParseSbatchJobId(std::string_view output) {
  for (std::string_view line : SplitLines(output)) {
    std::string_view id = line.substr(0, line.find(';'));
    if (IsJobId(id)) return std::string(id);
  }
  return InvalidArgument(
      fmt::format("sbatch --parsable printed no job id: \"{}\"", FirstErrorLine(output)));
}

Result<std::vector<SqueueEntry>> ParseSqueueLines(std::string_view output) {
  std::vector<SqueueEntry> entries;
  for (std::string_view line : SplitLines(output)) {
    if (line.empty()) continue;
    size_t bar = line.find('|');
    std::string_view id = bar == line.npos ? line : line.substr(0, bar);
    // Array jobs print "<id>_<task>"; tandem submits none, so such a line is malformed here.
    if (bar == line.npos || !IsJobId(id) || bar + 1 >= line.size()) {
      return InvalidArgument(
          fmt::format("squeue printed \"{}\"; expected <job id>|<state>", FirstErrorLine(line)));
    }
    entries.push_back({.job_id = std::string(id), .job_state = std::string(line.substr(bar + 1))});
  }
  return entries;
}

ErrorCode ClassifySbatchFailure(std::string_view output) {
  if (SaysControllerUnreachable(output)) return ErrorCode::kUnavailable;
  if (ContainsAny(output, {"Requested node configuration is not available",
                           "More processors requested than permitted",
                           "Memory specification can not be satisfied",
                           "CPU count per node can not be satisfied",
                           "Node count specification invalid", "Invalid partition name",
                           "Invalid account", "Invalid qos", "Requested time limit is invalid",
                           "Requested partition configuration not available",
                           "Invalid generic resource"})) {
    return ErrorCode::kInvalidArgument;
  }
  if (ContainsAny(output, {"Job violates accounting/QOS policy", "MaxSubmit", "QOSMax",
                           "Resource temporarily unavailable", "Slurm temporarily unable"})) {
    return ErrorCode::kResourceExhausted;
  }
  return ErrorCode::kInternal;
}

Observation ObservationFor(const SlurmJobInfo& job) {
  SlurmStateRule rule = SlurmStateRuleFor(job.job_state);
  Observation observation{.state = rule.state, .cause = rule.cause};
  bool ended = rule.state == ObservedState::kSucceeded || rule.state == ObservedState::kFailed;
  if (ended && !job.exit_signal) observation.exit_code = job.exit_code;

  std::string detail = job.reason.empty() || job.reason == "None"
                           ? std::string()
                           : fmt::format(", reason {}", job.reason);
  if (rule.state == ObservedState::kUnknown) {
    observation.reason = fmt::format("unrecognized Slurm job state {}", job.job_state);
  } else if (rule.state == ObservedState::kFailed && job.exit_signal) {
    observation.reason = fmt::format("Slurm job {} {}{}, killed by signal {}", job.job_id,
                                     job.job_state, detail, *job.exit_signal);
  } else if (rule.state == ObservedState::kFailed && job.exit_code) {
    observation.reason = fmt::format("Slurm job {} {}{}, exit code {}", job.job_id, job.job_state,
                                     detail, *job.exit_code);
  } else {
    observation.reason = fmt::format("Slurm job {} {}{}", job.job_id, job.job_state, detail);
  }
  return observation;
}

std::string SlurmTimeLimit(int64_t max_runtime_seconds, int64_t margin_seconds) {
  int64_t seconds = std::max<int64_t>(0, max_runtime_seconds) + std::max<int64_t>(0, margin_seconds);
  return std::to_string(std::max<int64_t>(1, (seconds + 59) / 60));
}

}  // namespace tandem::backends
