// Schedules as stored: a recurring job's definition and the bookkeeping of the
// scheduler that fires it (src/schedules/scheduler.h). The Store interface
// (store/store.h) reads and writes them; the SQL lives in
// store/sqlite_schedules.cc and store/postgres_schedules.cc.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/json_util.h"
#include "common/status.h"

namespace tandem::store {

// The scheduler's choice for a slot that is due while the schedule's previous
// run has not ended.
enum class OverlapPolicy {
  kSkip,     // no run for that slot
  kQueue,    // run once the previous run ends; at most one slot waits
  kReplace,  // stop the previous run, then start the new one
};

// Returns "Skip", "Queue" or "Replace".
std::string_view Name(OverlapPolicy policy);
// Parses one of the names above. Errors: kInvalidArgument naming the value
// and the accepted names.
Result<OverlapPolicy> ParseOverlapPolicy(std::string_view name);

struct Schedule {
  std::string name;        // unique across repositories
  std::string repository;  // the job template's Repository
  std::string expression;  // schedules::CronSchedule syntax
  OverlapPolicy overlap_policy = OverlapPolicy::kSkip;
  // A job spec without TrainingJobName; each run gets its own name.
  Json job_template = Json::object();
  bool paused = false;
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
  // The latest slot the scheduler handled (fired, skipped or queued); unset
  // before the first. Slots at or before it never fire again.
  std::optional<int64_t> last_slot_ms;
  // A slot waiting for the previous run to end (OverlapPolicy::kQueue).
  std::optional<int64_t> queued_slot_ms;
  int64_t row_version = 0;  // increases by one with every change of the row
};

// One fired slot: the job that runs it.
struct ScheduleRun {
  std::string schedule_name;
  int64_t slot_ms = 0;
  std::string job_id;
  std::string job_name;
  int64_t fired_ms = 0;

  friend bool operator==(const ScheduleRun&, const ScheduleRun&) = default;
};

struct CreateScheduleResult {
  Schedule schedule;
  bool created = false;  // false: an identical definition existed, `schedule` is it
};

// The scheduler's move of one schedule, applied only when the row is still at
// `expected_row_version` (the scheduler's compare-and-set).
struct ScheduleAdvance {
  std::string name;
  int64_t expected_row_version = 0;
  std::optional<int64_t> last_slot_ms;    // the new values of the two columns
  std::optional<int64_t> queued_slot_ms;
  std::optional<ScheduleRun> run;         // recorded when set
  int64_t now_ms = 0;
};

// Returns whether two schedules have the same definition: name, expression,
// overlap policy, job template and paused flag (not the bookkeeping).
bool SameDefinition(const Schedule& a, const Schedule& b);

}  // namespace tandem::store
