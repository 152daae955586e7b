// Job status types with SageMaker's names, and the state of one job as the
// state machine (jobs/state_machine.h) folds events into it.
//
// A job's (status, secondary status) pair is always one of:
//   InProgress: Starting, Restarting, Pending, Downloading, Training, Uploading
//   Stopping:   Stopping
//   Completed:  Completed
//   Failed:     Failed, MaxRuntimeExceeded, Interrupted
//   Stopped:    Stopped
// NOTE: SageMaker itself reports MaxRuntimeExceeded under Stopped; tandem ends
// such a job Failed, so that a job that never finished reads as a failure.
//
// A job runs as attempt 1. When its spec sets RetryStrategy and an attempt
// ends Interrupted, the job starts over as the next attempt, in Restarting
// (jobs/state_machine.h). Every history entry names its attempt.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_util.h"
#include "common/status.h"

namespace tandem::jobs {

enum class JobStatus { kInProgress, kCompleted, kFailed, kStopping, kStopped };

enum class SecondaryStatus {
  kStarting,
  kRestarting,  // a new attempt of an interrupted job, before its launch
  kPending,
  kDownloading,
  kTraining,
  kUploading,
  kCompleted,
  kFailed,
  kStopping,
  kStopped,
  kMaxRuntimeExceeded,
  kInterrupted,
};

// Returns SageMaker's spelling: "InProgress", "MaxRuntimeExceeded", ...
std::string_view Name(JobStatus status);
std::string_view Name(SecondaryStatus status);

// Parses SageMaker's spelling (case-sensitive). Errors: kInvalidArgument
// naming the text and listing the valid names.
Result<JobStatus> ParseJobStatus(std::string_view text);
Result<SecondaryStatus> ParseSecondaryStatus(std::string_view text);

// True for Completed, Failed and Stopped, which absorb every later event.
bool IsTerminal(JobStatus status);

// Returns the status that `secondary` belongs to (Training -> InProgress,
// MaxRuntimeExceeded -> Failed, ...). Each secondary status has exactly one.
JobStatus StatusOf(SecondaryStatus secondary);

// Returns the position of `secondary` in the lifecycle: Starting and
// Restarting 0, Pending 1, Downloading 2, Training 3, Uploading 4, Stopping 5,
// and 6 for the terminal ones. Within one attempt, a job's secondary status
// never moves to a lower rank.
int LifecycleRank(SecondaryStatus secondary);

// One entry of SageMaker's SecondaryStatusTransitions.
struct StatusTransition {
  SecondaryStatus status = SecondaryStatus::kStarting;
  int64_t start_ms = 0;                // when the job entered `status` (observation time)
  std::optional<int64_t> end_ms;       // start of the next entry; for a terminal entry, its start
  std::string message;                 // StatusMessage
  int64_t attempt = 1;                 // the attempt the entry belongs to

  friend bool operator==(const StatusTransition&, const StatusTransition&) = default;
};

// The derived state of a job. Every field is a function of the accepted
// events, so any delivery order of the same events yields the same state
// (state_machine.h names the exceptions).
struct JobState {
  JobStatus status = JobStatus::kInProgress;
  SecondaryStatus secondary_status = SecondaryStatus::kStarting;
  std::string failure_reason;                  // empty unless Failed
  // Ordered by attempt, then start_ms, then lifecycle rank.
  std::vector<StatusTransition> transitions;
  std::optional<int64_t> training_start_ms;    // first Downloading, Training or Uploading entry
  std::optional<int64_t> training_end_ms;      // start of the terminal entry
  Json progress = Json::object();              // Details of the latest-observed progress event
  std::optional<int64_t> progress_observed_ms;  // ObservedAt of that event
  int64_t attempt = 1;  // the current attempt: 1, plus one per retry

  friend bool operator==(const JobState&, const JobState&) = default;
};

// Returns the state of a job just created at `created_ms`: InProgress,
// Starting, with one Starting entry in its history.
JobState InitialJobState(int64_t created_ms);

}  // namespace tandem::jobs
