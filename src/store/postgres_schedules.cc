#include "store/postgres_schedules.h"

#include <fmt/format.h>

#include "store/schedule_rows.h"

namespace tandem::store::postgres_schedules {
namespace {

using rows::kScheduleColumns;

constexpr std::string_view kBeginSnapshot = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

// Returns the schedule, or nullopt. With `lock`, the transaction keeps the
// row locked until it ends.
Result<std::optional<Schedule>> Find(PgConnection& db, std::string_view name, bool lock) {
  TANDEM_ASSIGN_OR_RETURN(
      PgResult result, db.Query(fmt::format("SELECT {} FROM schedules WHERE name = $1{}",
                                            kScheduleColumns, lock ? " FOR UPDATE" : ""),
                                MakePgParams(name)));
  if (result.rows() == 0) return std::nullopt;
  return rows::ScheduleFromRow(result.row(0));
}

Result<Schedule> Load(PgConnection& db, std::string_view name, bool lock) {
  TANDEM_ASSIGN_OR_RETURN(std::optional<Schedule> schedule, Find(db, name, lock));
  if (!schedule) return NotFound(fmt::format("schedule {} not found", name));
  return std::move(*schedule);
}

Status WriteSlots(PgConnection& db, const Schedule& schedule) {
  TANDEM_RETURN_IF_ERROR(db.Query("UPDATE schedules SET paused = $1, last_slot_ms = $2, queued_slot_ms = $3, "
             "updated_ms = $4, row_version = $5 WHERE name = $6",
             MakePgParams(int64_t{schedule.paused ? 1 : 0}, schedule.last_slot_ms,
                          schedule.queued_slot_ms, schedule.updated_ms, schedule.row_version,
                          schedule.name)));
  return Ok();
}

}  // namespace

Result<CreateScheduleResult> Create(PgConnection& db, const Schedule& schedule, int64_t now_ms) {
  TANDEM_ASSIGN_OR_RETURN(PgTransaction transaction, PgTransaction::Begin(db));
  Schedule created = schedule;
  created.created_ms = now_ms;
  created.updated_ms = now_ms;
  created.last_slot_ms.reset();
  created.queued_slot_ms.reset();
  created.row_version = 1;

  // Step 1: insert, unless the name is taken (perhaps by a concurrent creator,
  // whose commit the insert waits for).
  TANDEM_ASSIGN_OR_RETURN(
      PgResult inserted,
      db.Query(fmt::format("INSERT INTO schedules ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
                           "NULL, NULL, $9) ON CONFLICT (name) DO NOTHING",
                           kScheduleColumns),
               MakePgParams(created.name, created.repository, created.expression,
                            Name(created.overlap_policy), DumpJson(created.job_template),
                            int64_t{created.paused ? 1 : 0}, created.created_ms,
                            created.updated_ms, created.row_version)));
  if (inserted.affected() == 1) {
    TANDEM_RETURN_IF_ERROR(transaction.Commit());
    return CreateScheduleResult{std::move(created), true};
  }

  // Step 2: a taken name returns that schedule when the definition is the same.
  TANDEM_ASSIGN_OR_RETURN(Schedule existing, Load(db, schedule.name, false));
  if (!SameDefinition(existing, schedule)) {
    return std::unexpected(rows::ScheduleTakenError(schedule.name));
  }
  TANDEM_RETURN_IF_ERROR(transaction.Commit());
  return CreateScheduleResult{std::move(existing), false};
}

Result<Schedule> Get(PgConnection& db, std::string_view name) {
  TANDEM_ASSIGN_OR_RETURN(PgTransaction transaction, PgTransaction::Begin(db, kBeginSnapshot));
  TANDEM_ASSIGN_OR_RETURN(Schedule schedule, Load(db, name, false));
  TANDEM_RETURN_IF_ERROR(transaction.Commit());
  return schedule;
}

Result<std::vector<Schedule>> List(PgConnection& db, const std::optional<std::string>& repository) {
  PgParams params;
  if (repository) params.push_back(*repository);
  TANDEM_ASSIGN_OR_RETURN(
      PgResult result,
      db.Query(fmt::format("SELECT {} FROM schedules{} ORDER BY name", kScheduleColumns,
                           repository ? " WHERE repository = $1" : ""),
               params));
  std::vector<Schedule> schedules;
  for (int i = 0; i < result.rows(); ++i) {
    TANDEM_ASSIGN_OR_RETURN(Schedule schedule, rows::ScheduleFromRow(result.row(i)));
    schedules.push_back(std::move(schedule));
  }
  return schedules;
}

Result<Schedule> SetPaused(PgConnection& db, std::string_view name, bool paused,
                           std::optional<int64_t> last_slot_ms, int64_t now_ms) {
  TANDEM_ASSIGN_OR_RETURN(PgTransaction transaction, PgTransaction::Begin(db));
  TANDEM_ASSIGN_OR_RETURN(Schedule schedule, Load(db, name, true));
  schedule.paused = paused;
  if (last_slot_ms) {
    schedule.last_slot_ms = last_slot_ms;
    schedule.queued_slot_ms.reset();
  }
  schedule.updated_ms = now_ms;
  ++schedule.row_version;
  TANDEM_RETURN_IF_ERROR(WriteSlots(db, schedule));
  TANDEM_RETURN_IF_ERROR(transaction.Commit());
  return schedule;
}

Status Delete(PgConnection& db, std::string_view name) {
  TANDEM_ASSIGN_OR_RETURN(PgTransaction transaction, PgTransaction::Begin(db));
  TANDEM_RETURN_IF_ERROR(
      db.Query("DELETE FROM schedule_runs WHERE schedule_name = $1", MakePgParams(name)));
  TANDEM_ASSIGN_OR_RETURN(PgResult removed,
                          db.Query("DELETE FROM schedules WHERE name = $1", MakePgParams(name)));
  if (removed.affected() == 0) return NotFound(fmt::format("schedule {} not found", name));
  return transaction.Commit();
}

Result<Schedule> Advance(PgConnection& db, const ScheduleAdvance& advance) {
  TANDEM_ASSIGN_OR_RETURN(PgTransaction transaction, PgTransaction::Begin(db));
  TANDEM_ASSIGN_OR_RETURN(Schedule schedule, Load(db, advance.name, true));
  if (schedule.row_version != advance.expected_row_version) {
    return Aborted(fmt::format("schedule {} changed since it was read; retry", advance.name));
  }
  schedule.last_slot_ms = advance.last_slot_ms;
  schedule.queued_slot_ms = advance.queued_slot_ms;
  schedule.updated_ms = advance.now_ms;
  ++schedule.row_version;
  TANDEM_RETURN_IF_ERROR(WriteSlots(db, schedule));
  if (advance.run) {
    const ScheduleRun& run = *advance.run;
    TANDEM_RETURN_IF_ERROR(db.Query(
        fmt::format("INSERT INTO schedule_runs ({}) VALUES ($1, $2, $3, $4, $5) "
                    "ON CONFLICT (schedule_name, slot_ms) DO NOTHING",
                    rows::kScheduleRunColumns),
        MakePgParams(run.schedule_name, run.slot_ms, run.job_id, run.job_name, run.fired_ms)));
  }
  TANDEM_RETURN_IF_ERROR(transaction.Commit());
  return schedule;
}

Result<std::vector<ScheduleRun>> ListRuns(PgConnection& db, std::string_view name, int64_t limit) {
  TANDEM_ASSIGN_OR_RETURN(PgTransaction transaction, PgTransaction::Begin(db, kBeginSnapshot));
  TANDEM_RETURN_IF_ERROR(Load(db, name, false));
  TANDEM_ASSIGN_OR_RETURN(
      PgResult result,
      db.Query(fmt::format("SELECT {} FROM schedule_runs WHERE schedule_name = $1 "
                           "ORDER BY slot_ms DESC LIMIT $2",
                           rows::kScheduleRunColumns),
               MakePgParams(name, limit)));
  std::vector<ScheduleRun> runs;
  for (int i = 0; i < result.rows(); ++i) runs.push_back(rows::ScheduleRunFromRow(result.row(i)));
  TANDEM_RETURN_IF_ERROR(transaction.Commit());
  return runs;
}

}  // namespace tandem::store::postgres_schedules
