#include "store/postgres_store.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <array>
#include <bit>
#include <charconv>
#include <mutex>
#include <unordered_map>

#include "common/crypto.h"
#include "store/postgres_db.h"
#include "store/postgres_schedules.h"
#include "store/store_rows.h"
#include "store/warm_pool_sql.h"

namespace tandem::store {
namespace {

using rows::kEventColumns;
using rows::kJobColumns;
using rows::kVersionColumns;

struct Migration {
  int version;
  std::string_view description;
  std::string_view sql;
};

// Ordered schema steps; a new step gets the next version and is never edited
// once released. The tables mirror the SQLite store's, so one set of row
// decoders (store_rows.h) serves both. JSON stays TEXT, byte for byte as
// written, rather than jsonb, which would reorder keys.
constexpr std::array<Migration, 5> kMigrations = {{
    {1, "jobs, event inbox, model registry", R"sql(
CREATE TABLE jobs (
  seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  repository TEXT NOT NULL,
  spec TEXT NOT NULL,
  spec_digest TEXT NOT NULL,
  status TEXT NOT NULL,
  secondary_status TEXT NOT NULL,
  failure_reason TEXT NOT NULL,
  training_start_ms BIGINT,
  training_end_ms BIGINT,
  progress TEXT NOT NULL,
  progress_observed_ms BIGINT,
  created_ms BIGINT NOT NULL,
  updated_ms BIGINT NOT NULL,
  last_event_ms BIGINT NOT NULL,
  backend TEXT NOT NULL,
  native_id TEXT NOT NULL,
  job_token_digest TEXT NOT NULL,
  model_name TEXT,
  model_version BIGINT,
  row_version BIGINT NOT NULL,
  UNIQUE (repository, name)
);
CREATE INDEX jobs_by_status ON jobs (status, seq);
CREATE INDEX jobs_by_name ON jobs (name, seq);

CREATE TABLE job_transitions (
  job_id TEXT NOT NULL REFERENCES jobs (id),
  position INTEGER NOT NULL,
  status TEXT NOT NULL,
  start_ms BIGINT NOT NULL,
  end_ms BIGINT,
  message TEXT NOT NULL,
  PRIMARY KEY (job_id, position)
);

CREATE TABLE job_events (
  seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  job_id TEXT NOT NULL REFERENCES jobs (id),
  event_id TEXT NOT NULL,
  source TEXT NOT NULL,
  observed_ms BIGINT NOT NULL,
  sequence BIGINT,
  status TEXT,
  secondary_status TEXT,
  message TEXT NOT NULL,
  details TEXT NOT NULL,
  received_ms BIGINT NOT NULL,
  verdict TEXT NOT NULL,
  reason TEXT NOT NULL,
  UNIQUE (job_id, event_id)
);

CREATE TABLE models (
  name TEXT PRIMARY KEY,
  latest_version BIGINT NOT NULL,
  created_ms BIGINT NOT NULL,
  updated_ms BIGINT NOT NULL
);

CREATE TABLE model_versions (
  model_name TEXT NOT NULL REFERENCES models (name),
  version BIGINT NOT NULL,
  job_id TEXT NOT NULL UNIQUE REFERENCES jobs (id),
  training_job_name TEXT NOT NULL,
  package_digest TEXT NOT NULL,
  package_size_bytes BIGINT NOT NULL,
  manifest TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  PRIMARY KEY (model_name, version)
);
)sql"},
    {2, "schedules and their runs", R"sql(
CREATE TABLE schedules (
  name TEXT PRIMARY KEY,
  repository TEXT NOT NULL,
  expression TEXT NOT NULL,
  overlap_policy TEXT NOT NULL,
  job_template TEXT NOT NULL,
  paused INTEGER NOT NULL,
  created_ms BIGINT NOT NULL,
  updated_ms BIGINT NOT NULL,
  last_slot_ms BIGINT,
  queued_slot_ms BIGINT,
  row_version BIGINT NOT NULL
);
CREATE INDEX schedules_by_repository ON schedules (repository, name);

CREATE TABLE schedule_runs (
  schedule_name TEXT NOT NULL,
  slot_ms BIGINT NOT NULL,
  job_id TEXT NOT NULL REFERENCES jobs (id),
  job_name TEXT NOT NULL,
  fired_ms BIGINT NOT NULL,
  PRIMARY KEY (schedule_name, slot_ms)
);
)sql"},
    {3, "warm pool status of jobs", warm_pool_sql::kPostgresMigration},
    {4, "model aliases", R"sql(
CREATE TABLE model_aliases (
  model_name TEXT NOT NULL REFERENCES models (name),
  alias TEXT NOT NULL,
  version BIGINT NOT NULL,
  updated_ms BIGINT NOT NULL,
  PRIMARY KEY (model_name, alias),
  FOREIGN KEY (model_name, version) REFERENCES model_versions (model_name, version)
);
)sql"},
    {5, "attempts of retried jobs", R"sql(
ALTER TABLE jobs ADD COLUMN attempt BIGINT NOT NULL DEFAULT 1;
ALTER TABLE job_transitions ADD COLUMN attempt BIGINT NOT NULL DEFAULT 1;
ALTER TABLE job_events ADD COLUMN attempt BIGINT;
)sql"},
}};

// Read-only calls see one snapshot across their statements.
constexpr std::string_view kBeginSnapshot = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

// Returns the advisory lock key for `name`: the first 64 bits of its SHA-256,
// so that tandem's keys are unlikely to meet another application's.
int64_t AdvisoryLockKey(std::string_view name) {
  std::string hex = Sha256Hex(fmt::format("tandem advisory lock: {}", name));
  uint64_t key = 0;
  std::from_chars(hex.data(), hex.data() + 16, key, 16);
  return std::bit_cast<int64_t>(key);
}

// ---------------------------------------------------------------------------
// Migrations

// Holds the session advisory lock `key` on `db` until destroyed.
class SessionLock {
 public:
  static Result<SessionLock> Take(PgConnection& db, int64_t key) {
    TANDEM_RETURN_IF_ERROR(db.Query("SELECT pg_advisory_lock($1::bigint)", MakePgParams(key)));
    return SessionLock(db, key);
  }
  SessionLock(SessionLock&& other) noexcept : db_(other.db_), key_(other.key_) {
    other.db_ = nullptr;
  }
  SessionLock(const SessionLock&) = delete;
  SessionLock& operator=(const SessionLock&) = delete;
  ~SessionLock() {
    if (db_ == nullptr || !db_->ok()) return;  // a closed session holds no lock
    auto released = db_->Query("SELECT pg_advisory_unlock($1::bigint)", MakePgParams(key_));
    if (!released) {
      spdlog::warn("postgres advisory unlock failed error=\"{}\"", released.error().message());
    }
  }

 private:
  SessionLock(PgConnection& db, int64_t key) : db_(&db), key_(key) {}
  PgConnection* db_;
  int64_t key_;
};

Status Migrate(PgConnection& db) {
  // Step 1: one process migrates at a time; the others wait here, then find
  // the schema current.
  TANDEM_ASSIGN_OR_RETURN(SessionLock lock,
                          SessionLock::Take(db, AdvisoryLockKey("schema migrations")));

  // Step 2: the version the database is at.
  TANDEM_RETURN_IF_ERROR(db.Exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
      "description TEXT NOT NULL, applied_ms BIGINT NOT NULL)"));
  TANDEM_ASSIGN_OR_RETURN(
      PgResult current_result,
      db.Query("SELECT COALESCE(MAX(version), 0)::bigint FROM schema_migrations"));
  int64_t current = current_result.row(0).Int(0);
  int latest = PostgresSchemaVersion();
  if (current > latest) {
    return FailedPrecondition(fmt::format(
        "database at {} has schema version {}, newer than version {} of this tandem binary; "
        "upgrade tandem",
        db.address().ToString(), current, latest));
  }

  // Step 3: each missing step in its own transaction.
  for (const Migration& migration : kMigrations) {
    if (migration.version <= current) continue;
    TANDEM_ASSIGN_OR_RETURN(PgTransaction transaction, PgTransaction::Begin(db));
    TANDEM_RETURN_IF_ERROR_CTX(db.Exec(migration.sql),
                               fmt::format("schema migration {}", migration.version));
    TANDEM_RETURN_IF_ERROR(db.Query(
        "INSERT INTO schema_migrations (version, description, applied_ms) "
        "VALUES ($1, $2, (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::bigint)",
        MakePgParams(migration.version, migration.description)));
    TANDEM_RETURN_IF_ERROR(transaction.Commit());
    spdlog::info("schema migration applied database=\"{}\" version={} description=\"{}\"",
                 db.address().ToString(), migration.version, migration.description);
  }
  return Ok();
}

// ---------------------------------------------------------------------------
// The store

class PostgresStore final : public Store {
 public:
  explicit PostgresStore(std::unique_ptr<PgPool> pool) : pool_(std::move(pool)) {}

  Result<CreateJobResult> CreateJob(const jobs::JobSpec& spec, std::string job_token_digest,
                                    int64_t now_ms) override;
  Result<Job> GetJob(std::string_view id) override;
  Result<JobPage> ListJobs(const JobFilter& filter) override;
  Result<std::vector<Job>> ListNonTerminalJobs() override;
  Status SetBackend(std::string_view job_id, std::string backend, std::string native_id) override;
  Status SetLaunch(std::string_view job_id, int64_t attempt, std::string backend,
                   std::string native_id) override;
  Status SetWarmPool(std::string_view job_id, std::optional<jobs::WarmPoolStatus> expected,
                     const jobs::WarmPoolState& state) override;
  Status SetJobTokenDigest(std::string_view job_id, std::string job_token_digest) override;
  Result<ApplyResult> ApplyEvent(const jobs::Event& event, int64_t now_ms) override;
  std::vector<Result<ApplyResult>> ApplyEvents(std::span<const jobs::Event> events,
                                               int64_t now_ms) override;
  Result<std::vector<StoredEvent>> ListEvents(std::string_view job_id) override;
  Result<std::vector<ModelSummary>> ListModels() override;
  Result<std::vector<ModelVersion>> ListModelVersions(std::string_view model) override;
  Result<ModelVersion> GetModelVersion(std::string_view model, int64_t version) override;
  Result<ModelAlias> SetModelAlias(std::string_view model, std::string_view alias,
                                   int64_t version, int64_t now_ms) override;
  Status DeleteModelAlias(std::string_view model, std::string_view alias) override;
  Result<ModelAlias> GetModelAlias(std::string_view model, std::string_view alias) override;
  Result<std::vector<ModelAlias>> ListModelAliases(std::string_view model) override;

  Result<CreateScheduleResult> CreateSchedule(const Schedule& schedule, int64_t now_ms) override;
  Result<Schedule> GetSchedule(std::string_view name) override;
  Result<std::vector<Schedule>> ListSchedules(const std::optional<std::string>& repository) override;
  Result<Schedule> SetSchedulePaused(std::string_view name, bool paused,
                                     std::optional<int64_t> last_slot_ms, int64_t now_ms) override;
  Status DeleteSchedule(std::string_view name) override;
  Result<Schedule> AdvanceSchedule(const ScheduleAdvance& advance) override;
  Result<std::vector<ScheduleRun>> ListScheduleRuns(std::string_view name, int64_t limit) override;
 private:
  std::unique_ptr<PgPool> pool_;
};

// Helpers below run on `db` inside a transaction the caller holds.

Result<std::vector<Job>> JobsFromResult(const PgResult& result) {
  std::vector<Job> jobs;
  jobs.reserve(result.rows());
  for (int i = 0; i < result.rows(); ++i) {
    TANDEM_ASSIGN_OR_RETURN(Job job, rows::JobFromRow(result.row(i)));
    jobs.push_back(std::move(job));
  }
  return jobs;
}

// Fills in the history of every job in `jobs`, in one query.
Status LoadTransitions(PgConnection& db, std::vector<Job>& jobs) {
  if (jobs.empty()) return Ok();
  std::vector<std::string> ids;
  std::unordered_map<std::string, Job*> by_id;
  for (Job& job : jobs) {
    ids.push_back(job.id);
    by_id[job.id] = &job;
  }
  TANDEM_ASSIGN_OR_RETURN(
      PgResult result,
      db.Query(fmt::format("SELECT job_id, {} FROM job_transitions WHERE job_id = ANY($1::text[]) "
                           "ORDER BY job_id, position",
                           rows::kTransitionColumns),
               MakePgParams(PgTextArray(ids))));
  for (int i = 0; i < result.rows(); ++i) {
    PgRow row = result.row(i);
    TANDEM_ASSIGN_OR_RETURN(jobs::StatusTransition entry, rows::TransitionFromRow(row, 1));
    by_id.at(row.Text(0))->state.transitions.push_back(std::move(entry));
  }
  return Ok();
}

// Returns the job with its history, or nullopt. `lock` takes its row lock
// (SELECT ... FOR UPDATE) until the transaction ends.
Result<std::optional<Job>> FindJob(PgConnection& db, std::string_view id, bool lock) {
  TANDEM_ASSIGN_OR_RETURN(
      PgResult result,
      db.Query(fmt::format("SELECT {} FROM jobs WHERE id = $1{}", kJobColumns,
                           lock ? " FOR UPDATE" : ""),
               MakePgParams(id)));
  TANDEM_ASSIGN_OR_RETURN(std::vector<Job> jobs, JobsFromResult(result));
  if (jobs.empty()) return std::nullopt;
  TANDEM_RETURN_IF_ERROR(LoadTransitions(db, jobs));
  return std::move(jobs.front());
}

Result<Job> LoadJob(PgConnection& db, std::string_view id, bool lock = false) {
  TANDEM_ASSIGN_OR_RETURN(std::optional<Job> job, FindJob(db, id, lock));
  if (!job) return NotFound(fmt::format("job {} not found", id));
  return std::move(*job);
}

Status WriteTransitions(PgConnection& db, std::string_view job_id,
                        const std::vector<jobs::StatusTransition>& transitions) {
  TANDEM_RETURN_IF_ERROR(
      db.Query("DELETE FROM job_transitions WHERE job_id = $1", MakePgParams(job_id)));
  for (size_t i = 0; i < transitions.size(); ++i) {
    const jobs::StatusTransition& entry = transitions[i];
    TANDEM_RETURN_IF_ERROR(db.Query(
        "INSERT INTO job_transitions (job_id, position, status, start_ms, end_ms, message, "
        "attempt) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        MakePgParams(job_id, static_cast<int64_t>(i), jobs::Name(entry.status), entry.start_ms,
                     entry.end_ms, entry.message, entry.attempt)));
  }
  return Ok();
}

// Inserts `job`; returns false when its id or its (repository, name) is taken.
Result<bool> TryInsertJob(PgConnection& db, const Job& job) {
  const jobs::JobState& state = job.state;
  TANDEM_ASSIGN_OR_RETURN(
      PgResult result,
      db.Query("INSERT INTO jobs (id, name, repository, spec, spec_digest, status, "
               "secondary_status, failure_reason, training_start_ms, training_end_ms, progress, "
               "progress_observed_ms, created_ms, updated_ms, last_event_ms, backend, native_id, "
               "job_token_digest, row_version, attempt) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
               "$9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20) ON CONFLICT DO NOTHING",
               MakePgParams(job.id, job.name, job.repository,
                            DumpJson(jobs::JobSpecToJson(job.spec)), job.spec_digest,
                            jobs::Name(state.status), jobs::Name(state.secondary_status),
                            state.failure_reason, state.training_start_ms, state.training_end_ms,
                            DumpJson(state.progress), state.progress_observed_ms, job.created_ms,
                            job.updated_ms, job.last_event_ms, job.backend, job.native_id,
                            job.job_token_digest, job.row_version, state.attempt)));
  if (result.affected() == 0) return false;
  TANDEM_RETURN_IF_ERROR(WriteTransitions(db, job.id, state.transitions));
  return true;
}

Result<std::optional<StoredEvent>> FindEvent(PgConnection& db, std::string_view job_id,
                                             std::string_view event_id) {
  TANDEM_ASSIGN_OR_RETURN(
      PgResult result,
      db.Query(fmt::format("SELECT {} FROM job_events WHERE job_id = $1 AND event_id = $2",
                           kEventColumns),
               MakePgParams(job_id, event_id)));
  if (result.rows() == 0) return std::nullopt;
  return rows::EventFromRow(result.row(0), job_id);
}

// Records the event with its verdict; returns false when its id was seen before.
Result<bool> InsertEvent(PgConnection& db, const jobs::Event& event, int64_t now_ms,
                         const jobs::Transition& verdict) {
  PgParam status = event.status ? ToPgParam(jobs::Name(*event.status)) : PgParam();
  PgParam secondary =
      event.secondary_status ? ToPgParam(jobs::Name(*event.secondary_status)) : PgParam();
  PgParams params = MakePgParams(event.job_id, event.event_id, jobs::Name(event.source),
                                 event.observed_at_ms, event.sequence);
  params.push_back(std::move(status));
  params.push_back(std::move(secondary));
  for (PgParam& param : MakePgParams(event.message, DumpJson(event.details), now_ms,
                                     jobs::Name(verdict.verdict), verdict.reason,
                                     event.attempt)) {
    params.push_back(std::move(param));
  }
  TANDEM_ASSIGN_OR_RETURN(
      PgResult result,
      db.Query("INSERT INTO job_events (job_id, event_id, source, observed_ms, sequence, status, "
               "secondary_status, message, details, received_ms, verdict, reason, attempt) "
               "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) "
               "ON CONFLICT (job_id, event_id) DO NOTHING",
               params));
  return result.affected() == 1;
}

Status UpdateJobState(PgConnection& db, const Job& before, const rows::EventDecision& decision) {
  const Job& after = decision.job;
  const jobs::JobState& state = after.state;
  TANDEM_ASSIGN_OR_RETURN(
      PgResult result,
      db.Query("UPDATE jobs SET status = $1, secondary_status = $2, failure_reason = $3, "
               "training_start_ms = $4, training_end_ms = $5, progress = $6, "
               "progress_observed_ms = $7, updated_ms = $8, last_event_ms = $9, attempt = $10, "
               "native_id = $11, row_version = row_version + 1 WHERE id = $12 AND "
               "row_version = $13",
               MakePgParams(jobs::Name(state.status), jobs::Name(state.secondary_status),
                            state.failure_reason, state.training_start_ms, state.training_end_ms,
                            DumpJson(state.progress), state.progress_observed_ms,
                            after.updated_ms, after.last_event_ms, state.attempt,
                            after.native_id, before.id, before.row_version)));
  if (result.affected() != 1) {
    return Aborted(fmt::format("job {} changed while the event was applied; retry", before.id));
  }
  if (decision.changed && state.transitions != before.state.transitions) {
    TANDEM_RETURN_IF_ERROR(WriteTransitions(db, before.id, state.transitions));
  }
  return Ok();
}

Result<ModelVersion> RegisterVersion(PgConnection& db, const Job& job,
                                     const jobs::ModelPackageRef& package, int64_t now_ms) {
  const std::string& model = job.spec.model_name;

  // Step 1: the next version number in one statement, which creates the model
  // on its first version and holds its row lock until commit.
  TANDEM_ASSIGN_OR_RETURN(
      PgResult next,
      db.Query("INSERT INTO models (name, latest_version, created_ms, updated_ms) "
               "VALUES ($1, 1, $2, $2) ON CONFLICT (name) DO UPDATE SET "
               "latest_version = models.latest_version + 1, updated_ms = EXCLUDED.updated_ms "
               "RETURNING latest_version",
               MakePgParams(model, now_ms)));
  int64_t version = next.row(0).Int(0);

  // Step 2: the version row (job_id is UNIQUE: a second registration fails)
  // and the job's reference to it.
  ModelVersion registered = rows::NewModelVersion(job, package, version, now_ms);
  TANDEM_RETURN_IF_ERROR(db.Query(
      fmt::format("INSERT INTO model_versions ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                  kVersionColumns),
      MakePgParams(model, version, job.id, job.name, package.digest, package.size_bytes,
                   DumpJson(package.manifest), now_ms)));
  TANDEM_RETURN_IF_ERROR(
      db.Query("UPDATE jobs SET model_name = $1, model_version = $2 WHERE id = $3",
               MakePgParams(model, version, job.id)));
  spdlog::info("model version registered model={} version={} job={} digest={}", model, version,
               job.id, package.digest);
  return registered;
}

Result<bool> ModelExists(PgConnection& db, std::string_view model) {
  TANDEM_ASSIGN_OR_RETURN(PgResult result,
                          db.Query("SELECT 1 FROM models WHERE name = $1", MakePgParams(model)));
  return result.rows() > 0;
}

Result<std::vector<ModelVersion>> VersionsFromResult(const PgResult& result) {
  std::vector<ModelVersion> versions;
  for (int i = 0; i < result.rows(); ++i) {
    TANDEM_ASSIGN_OR_RETURN(ModelVersion version, rows::VersionFromRow(result.row(i)));
    versions.push_back(std::move(version));
  }
  return versions;
}

// ---------------------------------------------------------------------------
// Jobs

Result<CreateJobResult> PostgresStore::CreateJob(const jobs::JobSpec& spec,
                                                 std::string job_token_digest, int64_t now_ms) {
  TANDEM_ASSIGN_OR_RETURN(PooledConnection db, pool_->Acquire());
  std::string digest = jobs::SpecDigest(spec);

  // Each attempt draws a fresh id; only a collision of 48 random bits repeats.
  for (int attempt = 0; attempt < 3; ++attempt) {
    TANDEM_ASSIGN_OR_RETURN(PgTransaction transaction, PgTransaction::Begin(*db));

    // Step 1: insert, unless the name is taken (perhaps by a concurrent
    // creator, whose commit the insert waits for) or the id is.
    Job job = rows::NewJob(spec, NewJobId(), digest, job_token_digest, now_ms);
    TANDEM_ASSIGN_OR_RETURN(bool inserted, TryInsertJob(*db, job));
    if (inserted) {
      TANDEM_RETURN_IF_ERROR(transaction.Commit());
      spdlog::info("job created job={} name={} repository={}", job.id, job.name, job.repository);
      return CreateJobResult{std::move(job), true};
    }

    // Step 2: a taken name returns that job when the spec is the same.
    TANDEM_ASSIGN_OR_RETURN(
        PgResult taken,
        db->Query("SELECT id, spec_digest FROM jobs WHERE repository = $1 AND name = $2",
                  MakePgParams(spec.repository, spec.training_job_name)));
    if (taken.rows() == 0) continue;  // the id was taken: draw another
    std::string id = taken.row(0).Text(0);
    if (taken.row(0).Text(1) != digest) return rows::NameTakenError(spec, id);
    TANDEM_ASSIGN_OR_RETURN(Job existing, LoadJob(*db, id));
    TANDEM_RETURN_IF_ERROR(transaction.Commit());
    return CreateJobResult{std::move(existing), false};
  }
  return Internal("could not draw an unused job id in 3 attempts");
}

Result<Job> PostgresStore::GetJob(std::string_view id) {
  TANDEM_ASSIGN_OR_RETURN(PooledConnection db, pool_->Acquire());
  TANDEM_ASSIGN_OR_RETURN(PgTransaction transaction, PgTransaction::Begin(*db, kBeginSnapshot));
  TANDEM_ASSIGN_OR_RETURN(Job job, LoadJob(*db, id));
  TANDEM_RETURN_IF_ERROR(transaction.Commit());
  return job;
}

Result<JobPage> PostgresStore::ListJobs(const JobFilter& filter) {
  TANDEM_ASSIGN_OR_RETURN(std::optional<int64_t> before, rows::CheckJobFilter(filter));

  // Build the query from the set filters; each variant is prepared once per connection.
  std::string sql = fmt::format("SELECT {} FROM jobs WHERE TRUE", kJobColumns);
  PgParams params;
  auto add = [&](std::string_view condition, PgParam value) {
    params.push_back(std::move(value));
    sql += fmt::format(" AND {} ${}", condition, params.size());
  };
  if (filter.repository) add("repository =", *filter.repository);
  if (filter.status) add("status =", ToPgParam(jobs::Name(*filter.status)));
  if (filter.name) add("name =", *filter.name);
  if (filter.warm_pool_status) {
    add("warm_pool_status =", ToPgParam(jobs::Name(*filter.warm_pool_status)));
  }
  if (before) add("seq <", ToPgParam(*before));
  params.push_back(ToPgParam(filter.page_size + 1));
  sql += fmt::format(" ORDER BY seq DESC LIMIT ${}", params.size());

  TANDEM_ASSIGN_OR_RETURN(PooledConnection db, pool_->Acquire());
  TANDEM_ASSIGN_OR_RETURN(PgTransaction transaction, PgTransaction::Begin(*db, kBeginSnapshot));
  TANDEM_ASSIGN_OR_RETURN(PgResult result, db->Query(sql, params));
  JobPage page;
  TANDEM_ASSIGN_OR_RETURN(page.jobs, JobsFromResult(result));
  if (static_cast<int64_t>(page.jobs.size()) > filter.page_size) {
    page.jobs.pop_back();
    page.next_page_token =
        rows::EncodePageToken(result.row(page.jobs.size() - 1).Int(rows::kJobSeqColumn));
  }
  TANDEM_RETURN_IF_ERROR(LoadTransitions(*db, page.jobs));
  TANDEM_RETURN_IF_ERROR(transaction.Commit());
  return page;
}

Result<std::vector<Job>> PostgresStore::ListNonTerminalJobs() {
  TANDEM_ASSIGN_OR_RETURN(PooledConnection db, pool_->Acquire());
  TANDEM_ASSIGN_OR_RETURN(PgTransaction transaction, PgTransaction::Begin(*db, kBeginSnapshot));
  TANDEM_ASSIGN_OR_RETURN(
      PgResult result,
      db->Query(fmt::format("SELECT {} FROM jobs WHERE status IN ($1, $2) ORDER BY seq",
                            kJobColumns),
                MakePgParams(jobs::Name(jobs::JobStatus::kInProgress),
                             jobs::Name(jobs::JobStatus::kStopping))));
  TANDEM_ASSIGN_OR_RETURN(std::vector<Job> jobs, JobsFromResult(result));
  TANDEM_RETURN_IF_ERROR(LoadTransitions(*db, jobs));
  TANDEM_RETURN_IF_ERROR(transaction.Commit());
  return jobs;
}

Status PostgresStore::SetWarmPool(std::string_view job_id,
                                  std::optional<jobs::WarmPoolStatus> expected,
                                  const jobs::WarmPoolState& state) {
  TANDEM_ASSIGN_OR_RETURN(PooledConnection db, pool_->Acquire());
  return warm_pool_sql::PostgresSet(*db, job_id, expected, state);
}

Status PostgresStore::SetBackend(std::string_view job_id, std::string backend,
                                 std::string native_id) {
  TANDEM_ASSIGN_OR_RETURN(PooledConnection db, pool_->Acquire());
  TANDEM_ASSIGN_OR_RETURN(
      PgResult result,
      db->Query("UPDATE jobs SET backend = $1, native_id = $2, row_version = row_version + 1 "
                "WHERE id = $3",
                MakePgParams(backend, native_id, job_id)));
  if (result.affected() == 0) return NotFound(fmt::format("job {} not found", job_id));
  return Ok();
}

Status PostgresStore::SetLaunch(std::string_view job_id, int64_t attempt, std::string backend,
                                std::string native_id) {
  TANDEM_ASSIGN_OR_RETURN(PooledConnection db, pool_->Acquire());
  TANDEM_ASSIGN_OR_RETURN(
      PgResult result,
      db->Query("UPDATE jobs SET backend = $1, native_id = $2, row_version = row_version + 1 "
                "WHERE id = $3 AND attempt = $4",
                MakePgParams(backend, native_id, job_id, attempt)));
  if (result.affected() == 1) return Ok();
  TANDEM_ASSIGN_OR_RETURN(
      PgResult current, db->Query("SELECT attempt FROM jobs WHERE id = $1", MakePgParams(job_id)));
  if (current.rows() == 0) return NotFound(fmt::format("job {} not found", job_id));
  return rows::AttemptMovedOn(job_id, attempt, current.row(0).Int(0));
}

Status PostgresStore::SetJobTokenDigest(std::string_view job_id, std::string job_token_digest) {
  TANDEM_ASSIGN_OR_RETURN(PooledConnection db, pool_->Acquire());
  TANDEM_ASSIGN_OR_RETURN(
      PgResult result,
      db->Query("UPDATE jobs SET job_token_digest = $1, row_version = row_version + 1 "
                "WHERE id = $2",
                MakePgParams(job_token_digest, job_id)));
  if (result.affected() == 0) return NotFound(fmt::format("job {} not found", job_id));
  return Ok();
}

// ---------------------------------------------------------------------------
// Events

Result<rows::PendingApply> ApplyInTransaction(PgConnection& db, const jobs::Event& event,
                                              const std::optional<jobs::ModelPackageRef>& package,
                                              int64_t now_ms) {
  // Step 1: lock the job's row; other writers of this job wait until commit.
  TANDEM_ASSIGN_OR_RETURN(Job job, LoadJob(db, event.job_id, /*lock=*/true));

  // Step 2: an event id seen before changes nothing.
  TANDEM_ASSIGN_OR_RETURN(std::optional<StoredEvent> seen, FindEvent(db, job.id, event.event_id));
  if (seen) {
    jobs::JobStatus status = job.state.status;
    return rows::PendingApply{rows::DuplicateResult(*seen, std::move(job)), status};
  }

  // Step 3: the state machine decides; the event is kept either way. The
  // unique (job_id, event_id) stays the final guard against a second copy.
  rows::EventDecision decision = rows::DecideEvent(job, event, package.has_value(), now_ms);
  TANDEM_ASSIGN_OR_RETURN(bool inserted, InsertEvent(db, event, now_ms, decision.transition));
  if (!inserted) {
    return Aborted(fmt::format("event {} of job {} was recorded concurrently; retry",
                               event.event_id, job.id));
  }
  TANDEM_RETURN_IF_ERROR(UpdateJobState(db, job, decision));

  // Step 4: the move to Completed registers the model package, once per job.
  std::optional<ModelVersion> registered;
  if (decision.register_package) {
    TANDEM_ASSIGN_OR_RETURN(registered, RegisterVersion(db, decision.job, *package, now_ms));
  }
  return rows::PendingFromDecision(job, std::move(decision), std::move(registered));
}

// Applies each event within a savepoint and appends its result to `pending`.
// A returned error comes from a savepoint statement and ends the batch.
// NOTE: a batch locks the rows of several jobs in arrival order, so two
// processes applying batches over the same jobs can deadlock; PostgreSQL then
// fails one event with kAborted (retry). Locking the jobs in id order first
// would avoid it.
Status ApplyEachInSavepoint(
    PgConnection& db, std::span<const jobs::Event> events,
    const std::vector<Result<std::optional<jobs::ModelPackageRef>>>& packages, int64_t now_ms,
    std::vector<Result<rows::PendingApply>>& pending) {
  for (size_t i = 0; i < events.size(); ++i) {
    if (!packages[i]) {
      pending.push_back(std::unexpected(packages[i].error()));
      continue;
    }
    TANDEM_RETURN_IF_ERROR(db.Exec("SAVEPOINT apply_event"));
    Result<rows::PendingApply> one = ApplyInTransaction(db, events[i], *packages[i], now_ms);
    if (!one) TANDEM_RETURN_IF_ERROR(db.Exec("ROLLBACK TO SAVEPOINT apply_event"));
    TANDEM_RETURN_IF_ERROR(db.Exec("RELEASE SAVEPOINT apply_event"));
    pending.push_back(std::move(one));
  }
  return Ok();
}

Result<ApplyResult> PostgresStore::ApplyEvent(const jobs::Event& event, int64_t now_ms) {
  TANDEM_ASSIGN_OR_RETURN(std::optional<jobs::ModelPackageRef> package,
                          jobs::ModelPackageOf(event));
  TANDEM_ASSIGN_OR_RETURN(PooledConnection db, pool_->Acquire());
  TANDEM_ASSIGN_OR_RETURN(PgTransaction transaction, PgTransaction::Begin(*db));
  TANDEM_ASSIGN_OR_RETURN(rows::PendingApply pending,
                          ApplyInTransaction(*db, event, package, now_ms));
  TANDEM_RETURN_IF_ERROR(transaction.Commit());
  rows::LogApplied(event, pending);
  return std::move(pending.result);
}

std::vector<Result<ApplyResult>> PostgresStore::ApplyEvents(std::span<const jobs::Event> events,
                                                            int64_t now_ms) {
  std::vector<Result<std::optional<jobs::ModelPackageRef>>> packages = rows::PackagesOf(events);

  std::vector<Result<rows::PendingApply>> pending;
  pending.reserve(events.size());
  Status committed = [&]() -> Status {
    TANDEM_ASSIGN_OR_RETURN(PooledConnection db, pool_->Acquire());
    TANDEM_ASSIGN_OR_RETURN(PgTransaction transaction, PgTransaction::Begin(*db));
    TANDEM_RETURN_IF_ERROR(ApplyEachInSavepoint(*db, events, packages, now_ms, pending));
    return transaction.Commit();
  }();
  return rows::FinishBatch(events, std::move(pending), committed);
}

Result<std::vector<StoredEvent>> PostgresStore::ListEvents(std::string_view job_id) {
  TANDEM_ASSIGN_OR_RETURN(PooledConnection db, pool_->Acquire());
  TANDEM_ASSIGN_OR_RETURN(PgTransaction transaction, PgTransaction::Begin(*db, kBeginSnapshot));
  TANDEM_ASSIGN_OR_RETURN(PgResult job,
                          db->Query("SELECT 1 FROM jobs WHERE id = $1", MakePgParams(job_id)));
  if (job.rows() == 0) return NotFound(fmt::format("job {} not found", job_id));
  TANDEM_ASSIGN_OR_RETURN(
      PgResult result,
      db->Query(fmt::format("SELECT {} FROM job_events WHERE job_id = $1 ORDER BY seq",
                            kEventColumns),
                MakePgParams(job_id)));
  std::vector<StoredEvent> events;
  for (int i = 0; i < result.rows(); ++i) {
    TANDEM_ASSIGN_OR_RETURN(StoredEvent event, rows::EventFromRow(result.row(i), job_id));
    events.push_back(std::move(event));
  }
  TANDEM_RETURN_IF_ERROR(transaction.Commit());
  return events;
}

// ---------------------------------------------------------------------------
// Registry

Result<std::vector<ModelSummary>> PostgresStore::ListModels() {
  TANDEM_ASSIGN_OR_RETURN(PooledConnection db, pool_->Acquire());
  TANDEM_ASSIGN_OR_RETURN(
      PgResult result,
      db->Query("SELECT name, latest_version, created_ms, updated_ms FROM models ORDER BY name"));
  std::vector<ModelSummary> models;
  for (int i = 0; i < result.rows(); ++i) {
    PgRow row = result.row(i);
    models.push_back(ModelSummary{row.Text(0), row.Int(1), row.Int(2), row.Int(3)});
  }
  return models;
}

Result<std::vector<ModelVersion>> PostgresStore::ListModelVersions(std::string_view model) {
  TANDEM_ASSIGN_OR_RETURN(PooledConnection db, pool_->Acquire());
  TANDEM_ASSIGN_OR_RETURN(PgTransaction transaction, PgTransaction::Begin(*db, kBeginSnapshot));
  TANDEM_ASSIGN_OR_RETURN(bool exists, ModelExists(*db, model));
  if (!exists) return NotFound(fmt::format("model {} not found", model));
  TANDEM_ASSIGN_OR_RETURN(
      PgResult result,
      db->Query(fmt::format("SELECT {} FROM model_versions WHERE model_name = $1 "
                            "ORDER BY version DESC",
                            kVersionColumns),
                MakePgParams(model)));
  TANDEM_ASSIGN_OR_RETURN(std::vector<ModelVersion> versions, VersionsFromResult(result));
  TANDEM_RETURN_IF_ERROR(transaction.Commit());
  return versions;
}

Result<ModelVersion> PostgresStore::GetModelVersion(std::string_view model, int64_t version) {
  TANDEM_ASSIGN_OR_RETURN(PooledConnection db, pool_->Acquire());
  TANDEM_ASSIGN_OR_RETURN(PgTransaction transaction, PgTransaction::Begin(*db, kBeginSnapshot));
  TANDEM_ASSIGN_OR_RETURN(bool exists, ModelExists(*db, model));
  if (!exists) return NotFound(fmt::format("model {} not found", model));
  TANDEM_ASSIGN_OR_RETURN(
      PgResult result,
      db->Query(fmt::format("SELECT {} FROM model_versions WHERE model_name = $1 AND version = "
                            "CASE WHEN $2::bigint = -1 THEN (SELECT latest_version FROM models "
                            "WHERE name = $1) ELSE $2::bigint END",
                            kVersionColumns),
                MakePgParams(model, version)));
  if (result.rows() == 0) {
    return NotFound(fmt::format("model {} version {} not found", model, version));
  }
  TANDEM_ASSIGN_OR_RETURN(ModelVersion found, rows::VersionFromRow(result.row(0)));
  TANDEM_RETURN_IF_ERROR(transaction.Commit());
  return found;
}

// ---------------------------------------------------------------------------
// Aliases

Result<ModelAlias> PostgresStore::SetModelAlias(std::string_view model, std::string_view alias,
                                                int64_t version, int64_t now_ms) {
  TANDEM_ASSIGN_OR_RETURN(PooledConnection db, pool_->Acquire());
  TANDEM_ASSIGN_OR_RETURN(PgTransaction transaction, PgTransaction::Begin(*db));
  TANDEM_ASSIGN_OR_RETURN(bool exists, ModelExists(*db, model));
  if (!exists) return NotFound(fmt::format("model {} not found", model));
  TANDEM_ASSIGN_OR_RETURN(
      PgResult found,
      db->Query("SELECT 1 FROM model_versions WHERE model_name = $1 AND version = $2",
                MakePgParams(model, version)));
  if (found.rows() == 0) {
    return NotFound(fmt::format("model {} version {} not found", model, version));
  }
  TANDEM_RETURN_IF_ERROR(
      db->Query("INSERT INTO model_aliases (model_name, alias, version, updated_ms) "
                "VALUES ($1, $2, $3, $4) ON CONFLICT (model_name, alias) DO UPDATE SET "
                "version = EXCLUDED.version, updated_ms = EXCLUDED.updated_ms",
                MakePgParams(model, alias, version, now_ms)));
  TANDEM_RETURN_IF_ERROR(transaction.Commit());
  return ModelAlias{std::string(model), std::string(alias), version, now_ms};
}

Status PostgresStore::DeleteModelAlias(std::string_view model, std::string_view alias) {
  TANDEM_ASSIGN_OR_RETURN(PooledConnection db, pool_->Acquire());
  TANDEM_ASSIGN_OR_RETURN(PgTransaction transaction, PgTransaction::Begin(*db));
  TANDEM_ASSIGN_OR_RETURN(bool exists, ModelExists(*db, model));
  if (!exists) return NotFound(fmt::format("model {} not found", model));
  TANDEM_ASSIGN_OR_RETURN(
      PgResult removed, db->Query("DELETE FROM model_aliases WHERE model_name = $1 AND alias = $2",
                                  MakePgParams(model, alias)));
  if (removed.affected() == 0) {
    return NotFound(fmt::format("model {} has no alias \"{}\"", model, alias));
  }
  return transaction.Commit();
}

Result<ModelAlias> PostgresStore::GetModelAlias(std::string_view model, std::string_view alias) {
  TANDEM_ASSIGN_OR_RETURN(PooledConnection db, pool_->Acquire());
  TANDEM_ASSIGN_OR_RETURN(PgTransaction transaction, PgTransaction::Begin(*db, kBeginSnapshot));
  TANDEM_ASSIGN_OR_RETURN(bool exists, ModelExists(*db, model));
  if (!exists) return NotFound(fmt::format("model {} not found", model));
  TANDEM_ASSIGN_OR_RETURN(PgResult result,
                          db->Query("SELECT version, updated_ms FROM model_aliases WHERE "
                                    "model_name = $1 AND alias = $2",
                                    MakePgParams(model, alias)));
  if (result.rows() == 0) {
    return NotFound(fmt::format("model {} has no alias \"{}\"", model, alias));
  }
  PgRow row = result.row(0);
  ModelAlias found{std::string(model), std::string(alias), row.Int(0), row.Int(1)};
  TANDEM_RETURN_IF_ERROR(transaction.Commit());
  return found;
}

Result<std::vector<ModelAlias>> PostgresStore::ListModelAliases(std::string_view model) {
  TANDEM_ASSIGN_OR_RETURN(PooledConnection db, pool_->Acquire());
  TANDEM_ASSIGN_OR_RETURN(PgTransaction transaction, PgTransaction::Begin(*db, kBeginSnapshot));
  TANDEM_ASSIGN_OR_RETURN(bool exists, ModelExists(*db, model));
  if (!exists) return NotFound(fmt::format("model {} not found", model));
  TANDEM_ASSIGN_OR_RETURN(PgResult result,
                          db->Query("SELECT alias, version, updated_ms FROM model_aliases "
                                    "WHERE model_name = $1 ORDER BY alias",
                                    MakePgParams(model)));
  std::vector<ModelAlias> aliases;
  for (int i = 0; i < result.rows(); ++i) {
    PgRow row = result.row(i);
    aliases.push_back(ModelAlias{std::string(model), row.Text(0), row.Int(1), row.Int(2)});
  }
  TANDEM_RETURN_IF_ERROR(transaction.Commit());
  return aliases;
}

// ---------------------------------------------------------------------------
// Schedules (postgres_schedules.cc)

Result<CreateScheduleResult> PostgresStore::CreateSchedule(const Schedule& schedule, int64_t now_ms) {
  TANDEM_ASSIGN_OR_RETURN(PooledConnection db, pool_->Acquire());
  return postgres_schedules::Create(*db, schedule, now_ms);
}

Result<Schedule> PostgresStore::GetSchedule(std::string_view name) {
  TANDEM_ASSIGN_OR_RETURN(PooledConnection db, pool_->Acquire());
  return postgres_schedules::Get(*db, name);
}

Result<std::vector<Schedule>> PostgresStore::ListSchedules(const std::optional<std::string>& repository) {
  TANDEM_ASSIGN_OR_RETURN(PooledConnection db, pool_->Acquire());
  return postgres_schedules::List(*db, repository);
}

Result<Schedule> PostgresStore::SetSchedulePaused(std::string_view name, bool paused,
    std::optional<int64_t> last_slot_ms, int64_t now_ms) {
  TANDEM_ASSIGN_OR_RETURN(PooledConnection db, pool_->Acquire());
  return postgres_schedules::SetPaused(*db, name, paused, last_slot_ms, now_ms);
}

Status PostgresStore::DeleteSchedule(std::string_view name) {
  TANDEM_ASSIGN_OR_RETURN(PooledConnection db, pool_->Acquire());
  return postgres_schedules::Delete(*db, name);
}

Result<Schedule> PostgresStore::AdvanceSchedule(const ScheduleAdvance& advance) {
  TANDEM_ASSIGN_OR_RETURN(PooledConnection db, pool_->Acquire());
  return postgres_schedules::Advance(*db, advance);
}

Result<std::vector<ScheduleRun>> PostgresStore::ListScheduleRuns(std::string_view name, int64_t limit) {
  TANDEM_ASSIGN_OR_RETURN(PooledConnection db, pool_->Acquire());
  return postgres_schedules::ListRuns(*db, name, limit);
}

// ---------------------------------------------------------------------------
// Leader lock

class PostgresLeaderLock final : public LeaderLock {
 public:
  PostgresLeaderLock(std::unique_ptr<PgConnection> db, std::string name, int64_t key)
      : db_(std::move(db)), name_(std::move(name)), key_(key) {}
  ~PostgresLeaderLock() override {
    // Closing the session releases the lock.
    if (!lost_) {
      spdlog::info("leader lock released lock={} database=\"{}\"", name_,
                   db_->address().ToString());
    }
  }

  bool held() override {
    std::lock_guard lock(mu_);
    if (lost_) return false;
    // The server keeps a session advisory lock of a bigint key as classid
    // (high 32 bits), objid (low 32 bits) and objsubid 1.
    auto key = std::bit_cast<uint64_t>(key_);
    auto result = db_->Query(
        "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND "
        "granted AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 1",
        MakePgParams(static_cast<int64_t>(key >> 32), static_cast<int64_t>(key & 0xffffffffu)));
    if (result && result->rows() == 1) return true;
    lost_ = true;
    spdlog::error("leader lock lost lock={} database=\"{}\" error=\"{}\"", name_,
                  db_->address().ToString(),
                  result ? "the session no longer holds the lock" : result.error().message());
    return false;
  }

  const std::string& name() const override { return name_; }

 private:
  std::mutex mu_;
  std::unique_ptr<PgConnection> db_;
  const std::string name_;
  const int64_t key_;
  bool lost_ = false;
};

}  // namespace

int PostgresSchemaVersion() { return kMigrations.back().version; }

int PostgresMigrationCount() { return static_cast<int>(kMigrations.size()); }

bool IsPostgresUri(std::string_view database) {
  return database.starts_with("postgresql://") || database.starts_with("postgres://");
}

Result<std::unique_ptr<Store>> OpenPostgresStore(std::string_view conninfo) {
  TANDEM_ASSIGN_OR_RETURN(std::unique_ptr<PgConnection> connection,
                          PgConnection::Connect(conninfo));
  TANDEM_RETURN_IF_ERROR(Migrate(*connection));
  spdlog::info("postgres store opened database=\"{}\" schema_version={}",
               connection->address().ToString(), PostgresSchemaVersion());
  auto pool =
      std::make_unique<PgPool>(std::string(conninfo), kPostgresPoolSize, std::move(connection));
  return std::unique_ptr<Store>(std::make_unique<PostgresStore>(std::move(pool)));
}

Result<std::unique_ptr<LeaderLock>> TryAcquireLeaderLock(std::string_view conninfo,
                                                         std::string_view name) {
  TANDEM_ASSIGN_OR_RETURN(
      std::unique_ptr<PgConnection> db,
      PgConnection::Connect(conninfo, fmt::format("tandem leader lock: {}", name)));
  int64_t key = AdvisoryLockKey(fmt::format("leader: {}", name));
  TANDEM_ASSIGN_OR_RETURN(PgResult result, db->Query("SELECT pg_try_advisory_lock($1::bigint)",
                                                     MakePgParams(key)));
  if (result.row(0).Text(0) != "t") {
    spdlog::debug("leader lock taken by another session lock={} database=\"{}\"", name,
                  db->address().ToString());
    return std::unique_ptr<LeaderLock>();
  }
  spdlog::info("leader lock acquired lock={} database=\"{}\"", name, db->address().ToString());
  return std::unique_ptr<LeaderLock>(
      std::make_unique<PostgresLeaderLock>(std::move(db), std::string(name), key));
}

}  // namespace tandem::store
