#include "store/warm_pool_sql.h"

#include <fmt/format.h>

namespace tandem::store::warm_pool_sql {
namespace {

std::string StatusText(std::optional<jobs::WarmPoolStatus> status) {
  return status ? std::string(jobs::Name(*status)) : "none";
}

// The error for an UPDATE that matched no row: the job is missing, or its
// status is no longer `expected` (`found` is what it is instead).
Status NoRowError(std::string_view job_id, bool job_exists, const std::string& found,
                  std::optional<jobs::WarmPoolStatus> expected) {
  if (!job_exists) return NotFound(fmt::format("job {} not found", job_id));
  return FailedPrecondition(fmt::format(
      "warm pool of job {} is {}, not {}; another writer moved it first", job_id, found,
      StatusText(expected)));
}

std::optional<std::string> ExpectedText(std::optional<jobs::WarmPoolStatus> expected) {
  if (!expected) return std::nullopt;
  return std::string(jobs::Name(*expected));
}

}  // namespace

Status CheckMove(std::string_view job_id, std::optional<jobs::WarmPoolStatus> expected,
                 const jobs::WarmPoolState& state) {
  if (jobs::CanMove(expected, state.status)) return Ok();
  return FailedPrecondition(fmt::format("warm pool of job {} cannot move from {} to {}", job_id,
                                        StatusText(expected), jobs::Name(state.status)));
}

Status SqliteSet(SqliteDb& db, std::string_view job_id,
                 std::optional<jobs::WarmPoolStatus> expected, const jobs::WarmPoolState& state) {
  TANDEM_RETURN_IF_ERROR(CheckMove(job_id, expected, state));
  TANDEM_ASSIGN_OR_RETURN(
      Query update,
      db.Prepare("UPDATE jobs SET warm_pool_status = ?, warm_pool_reused_by = ?, "
                 "warm_pool_retained_ms = ?, warm_pool_released_ms = ?, "
                 "warm_pool_expires_ms = ? WHERE id = ? AND warm_pool_status IS ?"));
  update.BindAll(jobs::Name(state.status), state.reused_by_job, state.retained_ms,
                 state.released_ms, state.expires_ms, job_id);
  if (expected) {
    update.Bind(6, jobs::Name(*expected));
  } else {
    update.BindNull(6);
  }
  TANDEM_RETURN_IF_ERROR(update.Run());
  if (db.Changes() > 0) return Ok();

  TANDEM_ASSIGN_OR_RETURN(Query find,
                          db.Prepare("SELECT warm_pool_status FROM jobs WHERE id = ?"));
  find.BindAll(job_id);
  TANDEM_ASSIGN_OR_RETURN(bool exists, find.Step());
  std::string found = exists && !find.IsNull(0) ? find.Text(0) : "none";
  return NoRowError(job_id, exists, found, expected);
}

Status PostgresSet(PgConnection& db, std::string_view job_id,
                   std::optional<jobs::WarmPoolStatus> expected, const jobs::WarmPoolState& state) {
  TANDEM_RETURN_IF_ERROR(CheckMove(job_id, expected, state));
  PgParams params = MakePgParams(jobs::Name(state.status), state.reused_by_job, state.retained_ms,
                                 state.released_ms, state.expires_ms, job_id);
  params.push_back(ExpectedText(expected));
  TANDEM_ASSIGN_OR_RETURN(
      PgResult result,
      db.Query("UPDATE jobs SET warm_pool_status = $1, warm_pool_reused_by = $2, "
               "warm_pool_retained_ms = $3, warm_pool_released_ms = $4, "
               "warm_pool_expires_ms = $5 WHERE id = $6 AND "
               "warm_pool_status IS NOT DISTINCT FROM $7",
               params));
  if (result.affected() > 0) return Ok();

  TANDEM_ASSIGN_OR_RETURN(
      PgResult found,
      db.Query("SELECT COALESCE(warm_pool_status, 'none') FROM jobs WHERE id = $1",
               MakePgParams(job_id)));
  bool exists = found.rows() > 0;
  return NoRowError(job_id, exists, exists ? found.row(0).Text(0) : "none", expected);
}

}  // namespace tandem::store::warm_pool_sql
