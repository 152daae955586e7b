#include "jobs/state_machine.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "common/clock.h"

namespace tandem::jobs {
namespace {

// The job's current status, as far as the rules care.
enum class From { kInProgress, kStopping, kTerminal };

// The move the event requests. kInterruption is an end as Interrupted, which
// a job with retries left survives as its next attempt.
enum class Target { kProgressReport, kInProgress, kStopping, kEnd, kInterruption };

enum class Action {
  kProgress,  // a progress report: fold in Details (a terminal job: only if observed before its end)
  kFollow,    // a later rank moves the job on; the same or a lower rank is folded in (kFold)
  kFold,      // fold into the history where the observation time puts it (late history)
  kStop,      // move to Stopping
  kEnd,       // end the job
  kRetry,     // with retries left and a backend or reconciler source, start the next attempt; else kEnd
  kReject,    // "job is already X"
};

struct Rule {
  From from;
  Target target;
  Action action;
};

// Every legal move; the header lists the same table in words. An event whose
// target is Stopping must also come from source "api" (checked before the table).
constexpr std::array<Rule, 15> kRules = {{
    {From::kInProgress, Target::kProgressReport, Action::kProgress},
    {From::kInProgress, Target::kInProgress, Action::kFollow},
    {From::kInProgress, Target::kStopping, Action::kStop},
    {From::kInProgress, Target::kEnd, Action::kEnd},
    {From::kInProgress, Target::kInterruption, Action::kRetry},
    {From::kStopping, Target::kProgressReport, Action::kProgress},
    {From::kStopping, Target::kInProgress, Action::kFold},
    {From::kStopping, Target::kStopping, Action::kFold},
    {From::kStopping, Target::kEnd, Action::kEnd},
    {From::kStopping, Target::kInterruption, Action::kEnd},
    {From::kTerminal, Target::kProgressReport, Action::kProgress},
    {From::kTerminal, Target::kInProgress, Action::kFold},
    {From::kTerminal, Target::kStopping, Action::kFold},
    {From::kTerminal, Target::kEnd, Action::kReject},
    {From::kTerminal, Target::kInterruption, Action::kReject},
}};

constexpr int kTerminalRank = 6;

From FromOf(JobStatus status) {
  if (IsTerminal(status)) return From::kTerminal;
  return status == JobStatus::kStopping ? From::kStopping : From::kInProgress;
}

Action ActionFor(From from, Target target) {
  for (const Rule& rule : kRules) {
    if (rule.from == from && rule.target == target) return rule.action;
  }
  return Action::kReject;  // unreachable: the table covers every pair
}

struct EventTarget {
  Target kind = Target::kProgressReport;
  SecondaryStatus secondary = SecondaryStatus::kStarting;  // unused for a progress report
};

// Fills in the half of (status, secondary) that the event left out.
Result<EventTarget> TargetOf(const Event& event) {
  std::optional<SecondaryStatus> secondary = event.secondary_status;
  if (!secondary && event.status) {
    switch (*event.status) {
      case JobStatus::kInProgress: break;  // a progress report
      case JobStatus::kCompleted: secondary = SecondaryStatus::kCompleted; break;
      case JobStatus::kFailed: secondary = SecondaryStatus::kFailed; break;
      case JobStatus::kStopping: secondary = SecondaryStatus::kStopping; break;
      case JobStatus::kStopped: secondary = SecondaryStatus::kStopped; break;
    }
  }
  if (!secondary) return EventTarget{};
  if (event.status) TANDEM_RETURN_IF_ERROR(CheckStatusPair(*event.status, *secondary));

  JobStatus status = StatusOf(*secondary);
  Target kind = status == JobStatus::kInProgress ? Target::kInProgress
                : status == JobStatus::kStopping ? Target::kStopping
                : *secondary == SecondaryStatus::kInterrupted ? Target::kInterruption
                                                              : Target::kEnd;
  return EventTarget{kind, *secondary};
}

// The outcome of one action, before the derived fields are recomputed.
struct Outcome {
  bool accepted = false;
  std::string reason;
};

Outcome Accept(std::string reason) { return {true, std::move(reason)}; }
Outcome Reject(std::string reason) { return {false, std::move(reason)}; }

std::string AlreadyEndedReason(const JobState& state) {
  return fmt::format("job is already {}", Name(state.status));
}

// Returns the index of the first history entry of the current attempt. The
// entries of earlier attempts come before it and never change.
size_t AttemptBegin(const JobState& state) {
  size_t begin = state.transitions.size();
  while (begin > 0 && state.transitions[begin - 1].attempt == state.attempt) --begin;
  return begin;
}

const StatusTransition* Find(const JobState& state, SecondaryStatus status) {
  for (size_t i = AttemptBegin(state); i < state.transitions.size(); ++i) {
    if (state.transitions[i].status == status) return &state.transitions[i];
  }
  return nullptr;
}

const StatusTransition* TerminalEntry(const JobState& state) {
  if (state.transitions.empty()) return nullptr;
  const StatusTransition& last = state.transitions.back();
  return LifecycleRank(last.status) == kTerminalRank ? &last : nullptr;
}

// Keeps the current attempt's history entries ordered by start time, then
// lifecycle rank.
void SortHistory(JobState& state) {
  auto begin = state.transitions.begin() + static_cast<std::ptrdiff_t>(AttemptBegin(state));
  std::stable_sort(begin, state.transitions.end(),
                   [](const StatusTransition& a, const StatusTransition& b) {
                     if (a.start_ms != b.start_ms) return a.start_ms < b.start_ms;
                     return LifecycleRank(a.status) < LifecycleRank(b.status);
                   });
}

// Appends an entry for a move forward. It starts no earlier than the entry it
// follows, because sources' clocks may disagree.
void AppendEntry(JobState& state, SecondaryStatus status, const Event& event) {
  int64_t start = event.observed_at_ms;
  if (!state.transitions.empty()) start = std::max(start, state.transitions.back().start_ms);
  state.transitions.push_back(StatusTransition{
      .status = status, .start_ms = start, .message = event.message, .attempt = state.attempt});
}

// Returns why placing `status` at `time` contradicts the history, or "" when
// it fits: every lower-ranked entry starts no later, every higher-ranked one
// no earlier (and, when `status` is already recorded, strictly later).
std::string ConflictOf(const JobState& state, SecondaryStatus status, int64_t time) {
  int rank = LifecycleRank(status);
  bool recorded = Find(state, status) != nullptr;
  for (size_t i = AttemptBegin(state); i < state.transitions.size(); ++i) {
    const StatusTransition& entry = state.transitions[i];
    int entry_rank = LifecycleRank(entry.status);
    bool later_conflict = entry_rank > rank && (recorded ? entry.start_ms <= time
                                                         : entry.start_ms < time);
    if (later_conflict) {
      if (entry_rank == kTerminalRank) return AlreadyEndedReason(state);
      if (entry.status == SecondaryStatus::kStopping) {
        return "job is Stopping; only Stopped, Completed or Failed may follow";
      }
      return fmt::format("{} observed at {} is behind {}, which began at {}", Name(status),
                         FormatTimestamp(time), Name(entry.status),
                         FormatTimestamp(entry.start_ms));
    }
    if (entry_rank < rank && entry.start_ms > time) {
      return fmt::format("{} observed at {} is before {} began at {}, which comes first",
                         Name(status), FormatTimestamp(time), Name(entry.status),
                         FormatTimestamp(entry.start_ms));
    }
  }
  return "";
}

// Folds an event for `status` into the history where its time puts it.
Outcome Fold(JobState& state, SecondaryStatus status, const Event& event) {
  std::string conflict = ConflictOf(state, status, event.observed_at_ms);
  if (!conflict.empty()) return Reject(std::move(conflict));

  for (size_t i = AttemptBegin(state); i < state.transitions.size(); ++i) {
    StatusTransition& entry = state.transitions[i];
    if (entry.status != status) continue;
    if (event.observed_at_ms >= entry.start_ms) {
      return Accept(fmt::format("progress in {}", Name(status)));
    }
    entry.start_ms = event.observed_at_ms;
    entry.message = event.message;
    SortHistory(state);
    return Accept(fmt::format("{} began earlier than recorded", Name(status)));
  }
  state.transitions.push_back(StatusTransition{.status = status,
                                               .start_ms = event.observed_at_ms,
                                               .message = event.message,
                                               .attempt = state.attempt});
  SortHistory(state);
  return Accept(fmt::format("{} recorded in history", Name(status)));
}

Outcome FollowInProgress(JobState& state, SecondaryStatus status, const Event& event) {
  if (LifecycleRank(status) <= LifecycleRank(state.secondary_status)) {
    return Fold(state, status, event);
  }
  AppendEntry(state, status, event);
  state.secondary_status = status;
  return Accept(fmt::format("moved to {}", Name(status)));
}

Outcome ProgressReport(const JobState& state, const Event& event) {
  const StatusTransition* end = TerminalEntry(state);
  if (end != nullptr && event.observed_at_ms >= end->start_ms) {
    return Reject(AlreadyEndedReason(state));
  }
  return Accept("progress");
}

std::string DefaultFailureReason(SecondaryStatus secondary) {
  switch (secondary) {
    case SecondaryStatus::kMaxRuntimeExceeded:
      return "job ran longer than StoppingCondition.MaxRuntimeInSeconds";
    case SecondaryStatus::kInterrupted: return "job was interrupted";
    default: return "job failed without a reason";
  }
}

Outcome End(JobState& state, SecondaryStatus secondary, const Event& event) {
  AppendEntry(state, secondary, event);
  state.status = StatusOf(secondary);
  state.secondary_status = secondary;
  if (state.status == JobStatus::kFailed) {
    state.failure_reason = event.message.empty() ? DefaultFailureReason(secondary) : event.message;
  }
  return Accept(fmt::format("job {}", Name(secondary)));
}

// Ends the current attempt as Interrupted and starts the next one in
// Restarting, when the job has retries left and the interruption comes from
// the backend or the reconciler. Otherwise ends the job like End. The runtime
// inside the job cannot request a retry, because user code shares its
// environment and a failure of the user's code is never retried.
Outcome RetryOrEnd(JobState& state, const Event& event, int64_t max_retry_attempts) {
  bool observed_by_platform =
      event.source == EventSource::kBackend || event.source == EventSource::kReconciler;
  int64_t retries_used = state.attempt - 1;
  if (!observed_by_platform || retries_used >= max_retry_attempts) {
    return End(state, SecondaryStatus::kInterrupted, event);
  }

  StatusTransition interrupted{.status = SecondaryStatus::kInterrupted,
                               .start_ms = event.observed_at_ms,
                               .message = event.message.empty()
                                              ? DefaultFailureReason(SecondaryStatus::kInterrupted)
                                              : event.message,
                               .attempt = state.attempt};
  interrupted.start_ms = std::max(interrupted.start_ms, state.transitions.back().start_ms);
  int64_t start = interrupted.start_ms;
  state.transitions.push_back(std::move(interrupted));

  ++state.attempt;
  std::string message = fmt::format("attempt {} of {}: retrying after an interruption",
                                    state.attempt, max_retry_attempts + 1);
  state.transitions.push_back(StatusTransition{.status = SecondaryStatus::kRestarting,
                                               .start_ms = start,
                                               .message = message,
                                               .attempt = state.attempt});
  state.secondary_status = SecondaryStatus::kRestarting;
  state.progress = Json::object();
  state.progress_observed_ms.reset();
  return Accept(std::move(message));
}

Outcome Stop(JobState& state, const Event& event) {
  AppendEntry(state, SecondaryStatus::kStopping, event);
  state.status = JobStatus::kStopping;
  state.secondary_status = SecondaryStatus::kStopping;
  return Accept("stop requested");
}

// Recomputes the fields that follow from the history.
void Derive(JobState& state) {
  state.training_start_ms.reset();
  state.training_end_ms.reset();
  for (size_t i = 0; i < state.transitions.size(); ++i) {
    StatusTransition& entry = state.transitions[i];
    int rank = LifecycleRank(entry.status);
    if (i + 1 < state.transitions.size()) {
      entry.end_ms = state.transitions[i + 1].start_ms;
    } else if (rank == kTerminalRank) {  // the job's end
      entry.end_ms = entry.start_ms;
    } else {
      entry.end_ms.reset();
    }
    bool training = rank >= LifecycleRank(SecondaryStatus::kDownloading) &&
                    rank <= LifecycleRank(SecondaryStatus::kUploading);
    if (training && !state.training_start_ms) state.training_start_ms = entry.start_ms;
  }
  // An earlier attempt's Interrupted entry is not the end of the job.
  if (const StatusTransition* end = TerminalEntry(state)) state.training_end_ms = end->start_ms;
}

// Takes the event's Details as the progress when it is the latest observed.
void UpdateProgress(JobState& state, const Event& event) {
  if (!event.details.is_object() || event.details.empty()) return;
  if (state.progress_observed_ms && event.observed_at_ms < *state.progress_observed_ms) return;
  state.progress = event.details;
  state.progress_observed_ms = event.observed_at_ms;
}

Outcome Dispatch(JobState& state, const Event& event, const EventTarget& target,
                 int64_t max_retry_attempts) {
  switch (ActionFor(FromOf(state.status), target.kind)) {
    case Action::kProgress: return ProgressReport(state, event);
    case Action::kFollow: return FollowInProgress(state, target.secondary, event);
    case Action::kFold: return Fold(state, target.secondary, event);
    case Action::kStop: return Stop(state, event);
    case Action::kEnd: return End(state, target.secondary, event);
    case Action::kRetry: return RetryOrEnd(state, event, max_retry_attempts);
    case Action::kReject: return Reject(AlreadyEndedReason(state));
  }
  return Reject("internal error: no rule");  // unreachable
}

}  // namespace

std::string_view Name(Verdict verdict) {
  return verdict == Verdict::kAccepted ? "Accepted" : "Rejected";
}

Result<Verdict> ParseVerdict(std::string_view text) {
  if (text == "Accepted") return Verdict::kAccepted;
  if (text == "Rejected") return Verdict::kRejected;
  return InvalidArgument(
      fmt::format("unknown verdict \"{}\"; expected Accepted or Rejected", text));
}

Transition Apply(const JobState& state, const Event& event, int64_t max_retry_attempts) {
  Transition result{.state = state, .verdict = Verdict::kRejected};

  // Step 0: a report about another attempt than the current one is stale.
  if (event.attempt && *event.attempt != state.attempt) {
    result.reason = fmt::format("event of attempt {} ignored: the job is on attempt {}",
                                *event.attempt, state.attempt);
    return result;
  }

  // Step 1: what the event asks for, and whether its source may ask it.
  Result<EventTarget> target = TargetOf(event);
  if (!target) {
    result.reason = target.error().message();
    return result;
  }
  if (target->kind == Target::kInProgress && target->secondary == SecondaryStatus::kRestarting) {
    result.reason = "only a retry of an interrupted job moves it to Restarting";
    return result;
  }
  if (target->kind == Target::kInProgress && target->secondary == SecondaryStatus::kStarting &&
      state.attempt > 1) {
    result.reason = fmt::format("attempt {} began in Restarting, not Starting", state.attempt);
    return result;
  }
  if (target->kind == Target::kStopping && event.source != EventSource::kApi) {
    result.reason = fmt::format("only a stop request (source api) moves a job to Stopping, not {}",
                               Name(event.source));
    return result;
  }

  // Step 2: the move from the table, on a copy of the state.
  JobState next = state;
  Outcome outcome = Dispatch(next, event, *target, max_retry_attempts);
  result.reason = std::move(outcome.reason);
  if (!outcome.accepted) return result;

  // Step 3: progress and the derived fields.
  if (target->kind == Target::kProgressReport || target->kind == Target::kInProgress) {
    UpdateProgress(next, event);
  }
  Derive(next);
  result.state = std::move(next);
  result.verdict = Verdict::kAccepted;
  return result;
}

}  // namespace tandem::jobs
