#include "store/sqlite_schedules.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "store/schedule_rows.h"

namespace tandem::store::sqlite_schedules {
namespace {

using rows::kScheduleColumns;

Result<std::optional<Schedule>> Find(SqliteDb& db, std::string_view name) {
  TANDEM_ASSIGN_OR_RETURN(
      Query query,
      db.Prepare(fmt::format("SELECT {} FROM schedules WHERE name = ?", kScheduleColumns)));
  query.Bind(0, name);
  TANDEM_ASSIGN_OR_RETURN(bool row, query.Step());
  if (!row) return std::nullopt;
  return rows::ScheduleFromRow(query);
}

Result<Schedule> Load(SqliteDb& db, std::string_view name) {
  TANDEM_ASSIGN_OR_RETURN(std::optional<Schedule> schedule, Find(db, name));
  if (!schedule) return NotFound(fmt::format("schedule {} not found", name));
  return std::move(*schedule);
}

Status InsertRun(SqliteDb& db, const ScheduleRun& run) {
  TANDEM_ASSIGN_OR_RETURN(
      Query insert,
      db.Prepare(fmt::format("INSERT INTO schedule_runs ({}) VALUES (?, ?, ?, ?, ?) "
                             "ON CONFLICT (schedule_name, slot_ms) DO NOTHING",
                             rows::kScheduleRunColumns)));
  return insert.BindAll(run.schedule_name, run.slot_ms, run.job_id, run.job_name, run.fired_ms)
      .Run();
}

}  // namespace

Result<CreateScheduleResult> Create(SqliteDb& db, const Schedule& schedule, int64_t now_ms) {
  TANDEM_ASSIGN_OR_RETURN(Transaction transaction, Transaction::Begin(db, true));
  TANDEM_ASSIGN_OR_RETURN(std::optional<Schedule> existing, Find(db, schedule.name));
  if (existing) {
    if (!SameDefinition(*existing, schedule)) {
      return std::unexpected(rows::ScheduleTakenError(schedule.name));
    }
    TANDEM_RETURN_IF_ERROR(transaction.Commit());
    return CreateScheduleResult{std::move(*existing), false};
  }

  Schedule created = schedule;
  created.created_ms = now_ms;
  created.updated_ms = now_ms;
  created.last_slot_ms.reset();
  created.queued_slot_ms.reset();
  created.row_version = 1;
  TANDEM_ASSIGN_OR_RETURN(
      Query insert,
      db.Prepare(fmt::format("INSERT INTO schedules ({}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             kScheduleColumns)));
  insert.BindAll(created.name, created.repository, created.expression,
                 Name(created.overlap_policy), DumpJson(created.job_template),
                 int64_t{created.paused ? 1 : 0}, created.created_ms, created.updated_ms);
  insert.BindNull(8).BindNull(9).Bind(10, created.row_version);
  TANDEM_RETURN_IF_ERROR(insert.Run());
  TANDEM_RETURN_IF_ERROR(transaction.Commit());
  return CreateScheduleResult{std::move(created), true};
}

Result<Schedule> Get(SqliteDb& db, std::string_view name) {
  TANDEM_ASSIGN_OR_RETURN(Transaction transaction, Transaction::Begin(db, false));
  TANDEM_ASSIGN_OR_RETURN(Schedule schedule, Load(db, name));
  TANDEM_RETURN_IF_ERROR(transaction.Commit());
  return schedule;
}

Result<std::vector<Schedule>> List(SqliteDb& db, const std::optional<std::string>& repository) {
  std::string sql = fmt::format("SELECT {} FROM schedules{} ORDER BY name", kScheduleColumns,
                                repository ? " WHERE repository = ?" : "");
  TANDEM_ASSIGN_OR_RETURN(Transaction transaction, Transaction::Begin(db, false));
  TANDEM_ASSIGN_OR_RETURN(Query query, db.Prepare(sql));
  if (repository) query.Bind(0, *repository);
  std::vector<Schedule> schedules;
  while (true) {
    TANDEM_ASSIGN_OR_RETURN(bool row, query.Step());
    if (!row) break;
    TANDEM_ASSIGN_OR_RETURN(Schedule schedule, rows::ScheduleFromRow(query));
    schedules.push_back(std::move(schedule));
  }
  TANDEM_RETURN_IF_ERROR(transaction.Commit());
  return schedules;
}

Result<Schedule> SetPaused(SqliteDb& db, std::string_view name, bool paused,
                           std::optional<int64_t> last_slot_ms, int64_t now_ms) {
  TANDEM_ASSIGN_OR_RETURN(Transaction transaction, Transaction::Begin(db, true));
  TANDEM_ASSIGN_OR_RETURN(Schedule schedule, Load(db, name));
  schedule.paused = paused;
  if (last_slot_ms) {
    schedule.last_slot_ms = last_slot_ms;
    schedule.queued_slot_ms.reset();
  }
  schedule.updated_ms = now_ms;
  ++schedule.row_version;
  TANDEM_ASSIGN_OR_RETURN(
      Query update,
      db.Prepare("UPDATE schedules SET paused = ?, last_slot_ms = ?, queued_slot_ms = ?, "
                 "updated_ms = ?, row_version = ? WHERE name = ?"));
  update.BindAll(int64_t{paused ? 1 : 0}, schedule.last_slot_ms, schedule.queued_slot_ms,
                 schedule.updated_ms, schedule.row_version, name);
  TANDEM_RETURN_IF_ERROR(update.Run());
  TANDEM_RETURN_IF_ERROR(transaction.Commit());
  return schedule;
}

Status Delete(SqliteDb& db, std::string_view name) {
  TANDEM_ASSIGN_OR_RETURN(Transaction transaction, Transaction::Begin(db, true));
  TANDEM_ASSIGN_OR_RETURN(Query runs, db.Prepare("DELETE FROM schedule_runs WHERE schedule_name = ?"));
  TANDEM_RETURN_IF_ERROR(runs.Bind(0, name).Run());
  TANDEM_ASSIGN_OR_RETURN(Query schedule, db.Prepare("DELETE FROM schedules WHERE name = ?"));
  TANDEM_RETURN_IF_ERROR(schedule.Bind(0, name).Run());
  if (db.Changes() == 0) return NotFound(fmt::format("schedule {} not found", name));
  return transaction.Commit();
}

Result<Schedule> Advance(SqliteDb& db, const ScheduleAdvance& advance) {
  TANDEM_ASSIGN_OR_RETURN(Transaction transaction, Transaction::Begin(db, true));
  TANDEM_ASSIGN_OR_RETURN(Schedule schedule, Load(db, advance.name));
  if (schedule.row_version != advance.expected_row_version) {
    return Aborted(fmt::format("schedule {} changed since it was read; retry", advance.name));
  }
  schedule.last_slot_ms = advance.last_slot_ms;
  schedule.queued_slot_ms = advance.queued_slot_ms;
  schedule.updated_ms = advance.now_ms;
  ++schedule.row_version;
  TANDEM_ASSIGN_OR_RETURN(
      Query update, db.Prepare("UPDATE schedules SET last_slot_ms = ?, queued_slot_ms = ?, "
                               "updated_ms = ?, row_version = ? WHERE name = ?"));
  update.BindAll(schedule.last_slot_ms, schedule.queued_slot_ms, schedule.updated_ms,
                 schedule.row_version, advance.name);
  TANDEM_RETURN_IF_ERROR(update.Run());
  if (advance.run) TANDEM_RETURN_IF_ERROR(InsertRun(db, *advance.run));
  TANDEM_RETURN_IF_ERROR(transaction.Commit());
  return schedule;
}

Result<std::vector<ScheduleRun>> ListRuns(SqliteDb& db, std::string_view name, int64_t limit) {
  TANDEM_ASSIGN_OR_RETURN(Transaction transaction, Transaction::Begin(db, false));
  TANDEM_RETURN_IF_ERROR(Load(db, name));
  TANDEM_ASSIGN_OR_RETURN(
      Query query, db.Prepare(fmt::format("SELECT {} FROM schedule_runs WHERE schedule_name = ? "
                                          "ORDER BY slot_ms DESC LIMIT ?",
                                          rows::kScheduleRunColumns)));
  query.BindAll(name, limit);
  std::vector<ScheduleRun> runs;
  while (true) {
    TANDEM_ASSIGN_OR_RETURN(bool row, query.Step());
    if (!row) break;
    runs.push_back(rows::ScheduleRunFromRow(query));
  }
  TANDEM_RETURN_IF_ERROR(transaction.Commit());
  return runs;
}

}  // namespace tandem::store::sqlite_schedules
