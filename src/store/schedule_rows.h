// Internal to the store module: the schedule columns and row decoder shared by
// store/sqlite_schedules.cc and store/postgres_schedules.cc. A Row is any
// type with Text(c), Int(c) and OptionalInt(c) (see store/store_rows.h).
#pragma once

#include <fmt/format.h>

#include <string_view>

#include "store/schedule.h"
#include "store/store_rows.h"

namespace tandem::store::rows {

inline constexpr std::string_view kScheduleColumns =
    "name, repository, expression, overlap_policy, job_template, paused, created_ms, "
    "updated_ms, last_slot_ms, queued_slot_ms, row_version";

inline constexpr std::string_view kScheduleRunColumns =
    "schedule_name, slot_ms, job_id, job_name, fired_ms";

template <typename Row>
Result<Schedule> ScheduleFromRow(const Row& row) {
  Schedule schedule;
  schedule.name = row.Text(0);
  schedule.repository = row.Text(1);
  schedule.expression = row.Text(2);
  std::string field = fmt::format("overlap policy of schedule {}", schedule.name);
  TANDEM_ASSIGN_OR_RETURN(schedule.overlap_policy,
                          ParseStored(ParseOverlapPolicy(row.Text(3)), field));
  TANDEM_ASSIGN_OR_RETURN(
      schedule.job_template,
      ParseStoredJson(row.Text(4), fmt::format("job template of schedule {}", schedule.name)));
  schedule.paused = row.Int(5) != 0;
  schedule.created_ms = row.Int(6);
  schedule.updated_ms = row.Int(7);
  schedule.last_slot_ms = row.OptionalInt(8);
  schedule.queued_slot_ms = row.OptionalInt(9);
  schedule.row_version = row.Int(10);
  return schedule;
}

template <typename Row>
ScheduleRun ScheduleRunFromRow(const Row& row) {
  return ScheduleRun{.schedule_name = row.Text(0),
                     .slot_ms = row.Int(1),
                     .job_id = row.Text(2),
                     .job_name = row.Text(3),
                     .fired_ms = row.Int(4)};
}

// Returns the error for a schedule name taken by another definition.
inline Error ScheduleTakenError(std::string_view name) {
  return Error(ErrorCode::kAlreadyExists,
               fmt::format("schedule {} already exists with a different definition; delete it "
                           "first or choose another name",
                           name));
}

}  // namespace tandem::store::rows
