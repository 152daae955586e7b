// Internal to the store module: the warm pool columns of the jobs table, read
// and written the same way by the SQLite and the PostgreSQL store.
//
// Schema migration 3 adds to jobs: warm_pool_status (NULL until the job kept
// its worker), warm_pool_reused_by, warm_pool_retained_ms,
// warm_pool_released_ms and warm_pool_expires_ms.
#pragma once

#include <optional>
#include <string_view>

#include "jobs/warm_pool.h"
#include "store/postgres_db.h"
#include "store/sqlite_db.h"

namespace tandem::store::warm_pool_sql {

// Migration 3 for each database; they differ only in the integer type.
inline constexpr std::string_view kSqliteMigration = R"sql(
ALTER TABLE jobs ADD COLUMN warm_pool_status TEXT;
ALTER TABLE jobs ADD COLUMN warm_pool_reused_by TEXT;
ALTER TABLE jobs ADD COLUMN warm_pool_retained_ms INTEGER;
ALTER TABLE jobs ADD COLUMN warm_pool_released_ms INTEGER;
ALTER TABLE jobs ADD COLUMN warm_pool_expires_ms INTEGER;
CREATE INDEX jobs_by_warm_pool_status ON jobs (warm_pool_status, seq);
)sql";
inline constexpr std::string_view kPostgresMigration = R"sql(
ALTER TABLE jobs ADD COLUMN warm_pool_status TEXT;
ALTER TABLE jobs ADD COLUMN warm_pool_reused_by TEXT;
ALTER TABLE jobs ADD COLUMN warm_pool_retained_ms BIGINT;
ALTER TABLE jobs ADD COLUMN warm_pool_released_ms BIGINT;
ALTER TABLE jobs ADD COLUMN warm_pool_expires_ms BIGINT;
CREATE INDEX jobs_by_warm_pool_status ON jobs (warm_pool_status, seq);
)sql";

// Checks the move with jobs::CanMove. Errors: kFailedPrecondition naming the
// job and both statuses.
Status CheckMove(std::string_view job_id, std::optional<jobs::WarmPoolStatus> expected,
                 const jobs::WarmPoolState& state);

// Store::SetWarmPool for each database. The SQLite caller serializes calls on
// `db`; the PostgreSQL one passes a connection of its own.
Status SqliteSet(SqliteDb& db, std::string_view job_id,
                 std::optional<jobs::WarmPoolStatus> expected, const jobs::WarmPoolState& state);
Status PostgresSet(PgConnection& db, std::string_view job_id,
                   std::optional<jobs::WarmPoolStatus> expected, const jobs::WarmPoolState& state);

}  // namespace tandem::store::warm_pool_sql
