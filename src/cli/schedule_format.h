// Human-readable renderings of schedules (JSON forms of docs/api.md,
// "Schedules") for `tandem schedule list|describe`. Pure functions;
// thread-safe. Fields absent from the JSON are left out.
#pragma once

#include <string>

#include "common/json_util.h"

namespace tandem::cli {

// Returns a table with one row per schedule of `schedules` (an array):
// NAME, REPOSITORY, EXPRESSION, OVERLAP, PAUSED, LAST SLOT.
std::string FormatScheduleTable(const Json& schedules);

// Returns a multi-line description of one schedule (the response of
// GET /schedules/{name}): its definition, its next due times, and its past
// runs with their job names and statuses, latest first.
std::string FormatScheduleDescription(const Json& schedule);

}  // namespace tandem::cli
