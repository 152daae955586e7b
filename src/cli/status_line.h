// Human-readable renderings of a job's JSON form (docs/api.md) for
// `tandem job wait` and `tandem job describe`. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "common/json_util.h"

namespace tandem::cli {

// Formats a duration in milliseconds as "45s", "3m07s" or "2h03m09s";
// negative durations read as "0s".
std::string FormatDuration(int64_t millis);

// Formats an integer with thousands separators: 2700000 -> "2,700,000".
std::string FormatCount(int64_t value);

// Returns the one-line live status of `job` as `tandem job wait` shows it:
//   "InProgress  Training  elapsed 1m23s  rows 2,700,000  round 57/200"
// Elapsed runs from CreationTime to TrainingEndTime when the job has ended,
// else to `now_millis`. Parts whose fields are absent are left out, and so is
// the round while both Round and TotalRounds are 0.
std::string FormatStatusLine(const Json& job, int64_t now_millis);

// Returns true when TrainingJobStatus is Completed, Failed or Stopped.
bool IsTerminalJob(const Json& job);

}  // namespace tandem::cli
