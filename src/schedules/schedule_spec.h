// A schedule's definition as the API receives it (docs/api.md, "Schedules"),
// and the job each of its runs becomes.
//
//   {"ScheduleName": "flights-retrain",
//    "ScheduleExpression": "@every 15m",
//    "OverlapPolicy": "Skip",          (optional: Skip, Queue or Replace)
//    "Paused": false,                  (optional)
//    "JobTemplate": { a job spec without TrainingJobName }}
//
// The run of the slot at 2026-12-04T15:15:00Z is the job
// "flights-retrain-20261204t151500z" in the template's Repository, so a slot
// maps to one job name and a second submission of it is idempotent.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/json_util.h"
#include "common/status.h"
#include "jobs/job_spec.h"
#include "store/schedule.h"

namespace tandem::schedules {

// The run name suffix: "-" and the slot as "20261204t151500z".
inline constexpr size_t kRunSuffixLength = 17;
// Job names have at most 63 characters, and each run name adds the suffix.
inline constexpr size_t kMaxScheduleNameLength = 63 - kRunSuffixLength;

// Parses and validates a schedule definition. The returned schedule contains
// the template in canonical form (jobs::JobSpecToJson without TrainingJobName)
// and its Repository. The store fills the bookkeeping fields.
// Errors: kInvalidArgument naming the field, for example
// `ScheduleExpression: cron expression "0 25 * * *": hour field: ...` or
// `JobTemplate.HyperParameters: ...`. Unknown fields are rejected.
// Input paths are not confined here; the caller does that (api/input_roots.h).
Result<store::Schedule> ParseScheduleDefinition(const Json& document);

// Returns the job name of the run for `slot_ms`.
std::string RunJobName(std::string_view schedule_name, int64_t slot_ms);

// Returns the job spec of the run for `slot_ms`: the template with
// TrainingJobName set to RunJobName. Errors: kInvalidArgument when the stored
// template no longer parses (for example after an upgrade tightened a rule).
Result<jobs::JobSpec> RunJobSpec(const store::Schedule& schedule, int64_t slot_ms);

}  // namespace tandem::schedules
