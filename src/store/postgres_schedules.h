// Internal to the store module: the schedule calls of the PostgreSQL store
// (Store's schedule methods, store/store.h). Each function runs in a
// transaction of its own on `db`. Writers lock the schedule's row
// (SELECT ... FOR UPDATE), so two processes moving one schedule queue on the
// lock and the second reads the first's change.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/postgres_db.h"
#include "store/schedule.h"

namespace tandem::store::postgres_schedules {

Result<CreateScheduleResult> Create(PgConnection& db, const Schedule& schedule, int64_t now_ms);
Result<Schedule> Get(PgConnection& db, std::string_view name);
Result<std::vector<Schedule>> List(PgConnection& db, const std::optional<std::string>& repository);
Result<Schedule> SetPaused(PgConnection& db, std::string_view name, bool paused,
                           std::optional<int64_t> last_slot_ms, int64_t now_ms);
Status Delete(PgConnection& db, std::string_view name);
Result<Schedule> Advance(PgConnection& db, const ScheduleAdvance& advance);
Result<std::vector<ScheduleRun>> ListRuns(PgConnection& db, std::string_view name, int64_t limit);

}  // namespace tandem::store::postgres_schedules
