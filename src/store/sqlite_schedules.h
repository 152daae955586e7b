// Internal to the store module: the schedule calls of the SQLite store
// (Store's schedule methods, store/store.h). The caller serializes every call
// on `db`, as SqliteStore does with its mutex; each function runs in a
// transaction of its own.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/schedule.h"
#include "store/sqlite_db.h"

namespace tandem::store::sqlite_schedules {

Result<CreateScheduleResult> Create(SqliteDb& db, const Schedule& schedule, int64_t now_ms);
Result<Schedule> Get(SqliteDb& db, std::string_view name);
Result<std::vector<Schedule>> List(SqliteDb& db, const std::optional<std::string>& repository);
Result<Schedule> SetPaused(SqliteDb& db, std::string_view name, bool paused,
                           std::optional<int64_t> last_slot_ms, int64_t now_ms);
Status Delete(SqliteDb& db, std::string_view name);
Result<Schedule> Advance(SqliteDb& db, const ScheduleAdvance& advance);
Result<std::vector<ScheduleRun>> ListRuns(SqliteDb& db, std::string_view name, int64_t limit);

}  // namespace tandem::store::sqlite_schedules
