#include "store/sqlite_store.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <array>
#include <mutex>

#include "store/sqlite_db.h"
#include "store/sqlite_schedules.h"
#include "store/store_rows.h"
#include "store/warm_pool_sql.h"

namespace tandem::store {
namespace {

struct Migration {
  int version;
  std::string_view description;
  std::string_view sql;
};

// Ordered schema steps; a new step gets the next version and is never edited
// once released. The SQL stays close to standard SQL so that the PostgreSQL
// store can mirror it (INTEGER PRIMARY KEY there becomes an identity column).
constexpr std::array<Migration, 5> kMigrations = {{
    {1, "jobs, event inbox, model registry", R"sql(
CREATE TABLE jobs (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  repository TEXT NOT NULL,
  spec TEXT NOT NULL,
  spec_digest TEXT NOT NULL,
  status TEXT NOT NULL,
  secondary_status TEXT NOT NULL,
  failure_reason TEXT NOT NULL,
  training_start_ms INTEGER,
  training_end_ms INTEGER,
  progress TEXT NOT NULL,
  progress_observed_ms INTEGER,
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  last_event_ms INTEGER NOT NULL,
  backend TEXT NOT NULL,
  native_id TEXT NOT NULL,
  job_token_digest TEXT NOT NULL,
  model_name TEXT,
  model_version INTEGER,
  row_version INTEGER NOT NULL,
  UNIQUE (repository, name)
);
CREATE INDEX jobs_by_status ON jobs (status, seq);
CREATE INDEX jobs_by_name ON jobs (name, seq);

CREATE TABLE job_transitions (
  job_id TEXT NOT NULL REFERENCES jobs (id),
  position INTEGER NOT NULL,
  status TEXT NOT NULL,
  start_ms INTEGER NOT NULL,
  end_ms INTEGER,
  message TEXT NOT NULL,
  PRIMARY KEY (job_id, position)
);

CREATE TABLE job_events (
  seq INTEGER PRIMARY KEY,
  job_id TEXT NOT NULL REFERENCES jobs (id),
  event_id TEXT NOT NULL,
  source TEXT NOT NULL,
  observed_ms INTEGER NOT NULL,
  sequence INTEGER,
  status TEXT,
  secondary_status TEXT,
  message TEXT NOT NULL,
  details TEXT NOT NULL,
  received_ms INTEGER NOT NULL,
  verdict TEXT NOT NULL,
  reason TEXT NOT NULL,
  UNIQUE (job_id, event_id)
);

CREATE TABLE models (
  name TEXT PRIMARY KEY,
  latest_version INTEGER NOT NULL,
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL
);

CREATE TABLE model_versions (
  model_name TEXT NOT NULL REFERENCES models (name),
  version INTEGER NOT NULL,
  job_id TEXT NOT NULL UNIQUE REFERENCES jobs (id),
  training_job_name TEXT NOT NULL,
  package_digest TEXT NOT NULL,
  package_size_bytes INTEGER NOT NULL,
  manifest TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
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
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  last_slot_ms INTEGER,
  queued_slot_ms INTEGER,
  row_version INTEGER NOT NULL
);
CREATE INDEX schedules_by_repository ON schedules (repository, name);

CREATE TABLE schedule_runs (
  schedule_name TEXT NOT NULL,
  slot_ms INTEGER NOT NULL,
  job_id TEXT NOT NULL REFERENCES jobs (id),
  job_name TEXT NOT NULL,
  fired_ms INTEGER NOT NULL,
  PRIMARY KEY (schedule_name, slot_ms)
);
)sql"},
    {3, "warm pool status of jobs", warm_pool_sql::kSqliteMigration},
    {4, "model aliases", R"sql(
CREATE TABLE model_aliases (
  model_name TEXT NOT NULL REFERENCES models (name),
  alias TEXT NOT NULL,
  version INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  PRIMARY KEY (model_name, alias),
  FOREIGN KEY (model_name, version) REFERENCES model_versions (model_name, version)
);
)sql"},
    {5, "attempts of retried jobs", R"sql(
ALTER TABLE jobs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
ALTER TABLE job_transitions ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
ALTER TABLE job_events ADD COLUMN attempt INTEGER;
)sql"},
}};

using rows::kEventColumns;
using rows::kJobColumns;
using rows::kVersionColumns;

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(std::unique_ptr<SqliteDb> db) : db_(std::move(db)) {}

  Status Migrate(const std::filesystem::path& path);

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
  // Helpers below run inside a transaction the caller holds, with mu_ held.
  Result<std::optional<Job>> FindJob(std::string_view sql_condition, std::string_view value);
  Result<Job> LoadJob(std::string_view id);
  Result<std::vector<jobs::StatusTransition>> LoadTransitions(std::string_view job_id);
  Status WriteTransitions(std::string_view job_id,
                          const std::vector<jobs::StatusTransition>& transitions);
  Status InsertJob(const Job& job);
  Status UpdateJobState(const Job& before, const rows::EventDecision& decision);
  Result<std::optional<StoredEvent>> FindEvent(std::string_view job_id, std::string_view event_id);
  Status InsertEvent(const jobs::Event& event, int64_t now_ms, const jobs::Transition& verdict);
  Result<ModelVersion> RegisterVersion(const Job& job, const jobs::ModelPackageRef& package,
                                       int64_t now_ms);
  Result<rows::PendingApply> ApplyInTransaction(
      const jobs::Event& event, const std::optional<jobs::ModelPackageRef>& package,
      int64_t now_ms);
  // Runs `sql`, prepared once, like Exec without parsing it again each time.
  Status RunPrepared(const std::string& sql);
  // Applies each event within a savepoint and appends its result to `pending`.
  // A returned error comes from a savepoint statement and ends the batch.
  Status ApplyEachInSavepoint(
      std::span<const jobs::Event> events,
      const std::vector<Result<std::optional<jobs::ModelPackageRef>>>& packages, int64_t now_ms,
      std::vector<Result<rows::PendingApply>>& pending);
  Result<bool> ModelExists(std::string_view model);

  std::mutex mu_;
  std::unique_ptr<SqliteDb> db_;
};

// ---------------------------------------------------------------------------
// Migrations

Status SqliteStore::Migrate(const std::filesystem::path& path) {
  TANDEM_RETURN_IF_ERROR(db_->Exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
      "description TEXT NOT NULL, applied_ms INTEGER NOT NULL)"));
  TANDEM_ASSIGN_OR_RETURN(Query query,
                          db_->Prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"));
  TANDEM_RETURN_IF_ERROR(query.Step());
  int64_t current = query.Int(0);
  int latest = SqliteSchemaVersion();
  if (current > latest) {
    return FailedPrecondition(fmt::format(
        "database {} has schema version {}, newer than version {} of this tandem binary; "
        "upgrade tandem",
        path.string(), current, latest));
  }

  for (const Migration& migration : kMigrations) {
    if (migration.version <= current) continue;
    TANDEM_ASSIGN_OR_RETURN(Transaction transaction, Transaction::Begin(*db_, true));
    TANDEM_RETURN_IF_ERROR_CTX(db_->Exec(migration.sql),
                               fmt::format("schema migration {}", migration.version));
    TANDEM_ASSIGN_OR_RETURN(
        Query record,
        db_->Prepare("INSERT INTO schema_migrations (version, description, applied_ms) "
                     "VALUES (?, ?, strftime('%s', 'now') * 1000)"));
    TANDEM_RETURN_IF_ERROR(
        record.BindAll(static_cast<int64_t>(migration.version), migration.description).Run());
    TANDEM_RETURN_IF_ERROR(transaction.Commit());
    spdlog::info("schema migration applied database={} version={} description=\"{}\"",
                 path.string(), migration.version, migration.description);
  }
  return Ok();
}

// ---------------------------------------------------------------------------
// Jobs

Result<std::vector<jobs::StatusTransition>> SqliteStore::LoadTransitions(std::string_view job_id) {
  TANDEM_ASSIGN_OR_RETURN(
      Query query, db_->Prepare(fmt::format(
                       "SELECT {} FROM job_transitions WHERE job_id = ? ORDER BY position",
                       rows::kTransitionColumns)));
  query.Bind(0, job_id);
  std::vector<jobs::StatusTransition> transitions;
  while (true) {
    TANDEM_ASSIGN_OR_RETURN(bool row, query.Step());
    if (!row) break;
    TANDEM_ASSIGN_OR_RETURN(jobs::StatusTransition entry, rows::TransitionFromRow(query));
    transitions.push_back(std::move(entry));
  }
  return transitions;
}

Status SqliteStore::WriteTransitions(std::string_view job_id,
                                     const std::vector<jobs::StatusTransition>& transitions) {
  TANDEM_ASSIGN_OR_RETURN(Query clear, db_->Prepare("DELETE FROM job_transitions WHERE job_id = ?"));
  TANDEM_RETURN_IF_ERROR(clear.Bind(0, job_id).Run());
  for (size_t i = 0; i < transitions.size(); ++i) {
    const jobs::StatusTransition& entry = transitions[i];
    TANDEM_ASSIGN_OR_RETURN(
        Query insert,
        db_->Prepare("INSERT INTO job_transitions (job_id, position, status, start_ms, end_ms, "
                     "message, attempt) VALUES (?, ?, ?, ?, ?, ?, ?)"));
    insert.BindAll(job_id, static_cast<int64_t>(i), jobs::Name(entry.status), entry.start_ms,
                   entry.end_ms, entry.message, entry.attempt);
    TANDEM_RETURN_IF_ERROR(insert.Run());
  }
  return Ok();
}

// Returns the job whose column named in `sql_condition` ("id = ?") equals
// `value`, with its history, or nullopt.
Result<std::optional<Job>> SqliteStore::FindJob(std::string_view sql_condition,
                                                std::string_view value) {
  TANDEM_ASSIGN_OR_RETURN(
      Query query,
      db_->Prepare(fmt::format("SELECT {} FROM jobs WHERE {}", kJobColumns, sql_condition)));
  query.Bind(0, value);
  TANDEM_ASSIGN_OR_RETURN(bool row, query.Step());
  if (!row) return std::nullopt;
  TANDEM_ASSIGN_OR_RETURN(Job job, rows::JobFromRow(query));
  TANDEM_ASSIGN_OR_RETURN(job.state.transitions, LoadTransitions(job.id));
  return job;
}

Result<Job> SqliteStore::LoadJob(std::string_view id) {
  TANDEM_ASSIGN_OR_RETURN(std::optional<Job> job, FindJob("id = ?", id));
  if (!job) return NotFound(fmt::format("job {} not found", id));
  return std::move(*job);
}

Status SqliteStore::InsertJob(const Job& job) {
  TANDEM_ASSIGN_OR_RETURN(
      Query insert,
      db_->Prepare(
          "INSERT INTO jobs (id, name, repository, spec, spec_digest, status, secondary_status, "
          "failure_reason, training_start_ms, training_end_ms, progress, progress_observed_ms, "
          "created_ms, updated_ms, last_event_ms, backend, native_id, job_token_digest, "
          "row_version, attempt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
          "?)"));
  const jobs::JobState& state = job.state;
  insert.BindAll(job.id, job.name, job.repository, DumpJson(jobs::JobSpecToJson(job.spec)),
                 job.spec_digest, jobs::Name(state.status), jobs::Name(state.secondary_status),
                 state.failure_reason, state.training_start_ms, state.training_end_ms,
                 DumpJson(state.progress), state.progress_observed_ms, job.created_ms,
                 job.updated_ms, job.last_event_ms, job.backend, job.native_id,
                 job.job_token_digest, job.row_version, state.attempt);
  TANDEM_RETURN_IF_ERROR(insert.Run());
  return WriteTransitions(job.id, state.transitions);
}

Result<CreateJobResult> SqliteStore::CreateJob(const jobs::JobSpec& spec,
                                               std::string job_token_digest, int64_t now_ms) {
  std::lock_guard lock(mu_);
  TANDEM_ASSIGN_OR_RETURN(Transaction transaction, Transaction::Begin(*db_, true));
  std::string digest = jobs::SpecDigest(spec);

  // Step 1: the name may be taken in this repository, by this spec or another.
  TANDEM_ASSIGN_OR_RETURN(
      Query taken, db_->Prepare("SELECT id, spec_digest FROM jobs WHERE repository = ? AND name = ?"));
  taken.BindAll(spec.repository, spec.training_job_name);
  TANDEM_ASSIGN_OR_RETURN(bool exists, taken.Step());
  if (exists) {
    std::string id = taken.Text(0);
    if (taken.Text(1) != digest) return rows::NameTakenError(spec, id);
    TANDEM_ASSIGN_OR_RETURN(Job job, LoadJob(id));
    return CreateJobResult{std::move(job), false};
  }

  // Step 2: a fresh id (a collision of 48 random bits is retried, not expected).
  std::string id;
  for (int attempt = 0; attempt < 3 && id.empty(); ++attempt) {
    std::string candidate = NewJobId();
    TANDEM_ASSIGN_OR_RETURN(std::optional<Job> clash, FindJob("id = ?", candidate));
    if (!clash) id = std::move(candidate);
  }
  if (id.empty()) return Internal("could not draw an unused job id in 3 attempts");

  // Step 3: insert it, InProgress/Starting.
  Job job = rows::NewJob(spec, std::move(id), std::move(digest), std::move(job_token_digest),
                         now_ms);
  TANDEM_RETURN_IF_ERROR(InsertJob(job));
  TANDEM_RETURN_IF_ERROR(transaction.Commit());
  spdlog::info("job created job={} name={} repository={}", job.id, job.name, job.repository);
  return CreateJobResult{std::move(job), true};
}

Result<Job> SqliteStore::GetJob(std::string_view id) {
  std::lock_guard lock(mu_);
  TANDEM_ASSIGN_OR_RETURN(Transaction transaction, Transaction::Begin(*db_, false));
  TANDEM_ASSIGN_OR_RETURN(Job job, LoadJob(id));
  TANDEM_RETURN_IF_ERROR(transaction.Commit());
  return job;
}

Result<JobPage> SqliteStore::ListJobs(const JobFilter& filter) {
  TANDEM_ASSIGN_OR_RETURN(std::optional<int64_t> before, rows::CheckJobFilter(filter));

  // Build the query from the set filters; each variant is prepared once.
  std::string sql = fmt::format("SELECT {} FROM jobs WHERE 1 = 1", kJobColumns);
  if (filter.repository) sql += " AND repository = ?";
  if (filter.status) sql += " AND status = ?";
  if (filter.name) sql += " AND name = ?";
  if (filter.warm_pool_status) sql += " AND warm_pool_status = ?";
  if (before) sql += " AND seq < ?";
  sql += " ORDER BY seq DESC LIMIT ?";

  std::lock_guard lock(mu_);
  TANDEM_ASSIGN_OR_RETURN(Transaction transaction, Transaction::Begin(*db_, false));
  TANDEM_ASSIGN_OR_RETURN(Query query, db_->Prepare(sql));
  int index = 0;
  if (filter.repository) query.Bind(index++, *filter.repository);
  if (filter.status) query.Bind(index++, jobs::Name(*filter.status));
  if (filter.name) query.Bind(index++, *filter.name);
  if (filter.warm_pool_status) query.Bind(index++, jobs::Name(*filter.warm_pool_status));
  if (before) query.Bind(index++, *before);
  query.Bind(index, filter.page_size + 1);

  JobPage page;
  int64_t last_seq = 0;
  while (true) {
    TANDEM_ASSIGN_OR_RETURN(bool row, query.Step());
    if (!row) break;
    if (static_cast<int64_t>(page.jobs.size()) == filter.page_size) {
      page.next_page_token = rows::EncodePageToken(last_seq);
      break;
    }
    TANDEM_ASSIGN_OR_RETURN(Job job, rows::JobFromRow(query));
    last_seq = query.Int(rows::kJobSeqColumn);
    page.jobs.push_back(std::move(job));
  }
  for (Job& job : page.jobs) {
    TANDEM_ASSIGN_OR_RETURN(job.state.transitions, LoadTransitions(job.id));
  }
  TANDEM_RETURN_IF_ERROR(transaction.Commit());
  return page;
}

Result<std::vector<Job>> SqliteStore::ListNonTerminalJobs() {
  std::lock_guard lock(mu_);
  TANDEM_ASSIGN_OR_RETURN(Transaction transaction, Transaction::Begin(*db_, false));
  TANDEM_ASSIGN_OR_RETURN(
      Query query,
      db_->Prepare(fmt::format("SELECT {} FROM jobs WHERE status IN ('{}', '{}') ORDER BY seq",
                               kJobColumns, jobs::Name(jobs::JobStatus::kInProgress),
                               jobs::Name(jobs::JobStatus::kStopping))));
  std::vector<Job> result;
  while (true) {
    TANDEM_ASSIGN_OR_RETURN(bool row, query.Step());
    if (!row) break;
    TANDEM_ASSIGN_OR_RETURN(Job job, rows::JobFromRow(query));
    result.push_back(std::move(job));
  }
  for (Job& job : result) {
    TANDEM_ASSIGN_OR_RETURN(job.state.transitions, LoadTransitions(job.id));
  }
  TANDEM_RETURN_IF_ERROR(transaction.Commit());
  return result;
}

Status SqliteStore::SetBackend(std::string_view job_id, std::string backend,
                               std::string native_id) {
  std::lock_guard lock(mu_);
  TANDEM_ASSIGN_OR_RETURN(
      Query update, db_->Prepare("UPDATE jobs SET backend = ?, native_id = ?, "
                                 "row_version = row_version + 1 WHERE id = ?"));
  TANDEM_RETURN_IF_ERROR(update.BindAll(backend, native_id, job_id).Run());
  if (db_->Changes() == 0) return NotFound(fmt::format("job {} not found", job_id));
  return Ok();
}

Status SqliteStore::SetLaunch(std::string_view job_id, int64_t attempt, std::string backend,
                              std::string native_id) {
  std::lock_guard lock(mu_);
  TANDEM_ASSIGN_OR_RETURN(
      Query update, db_->Prepare("UPDATE jobs SET backend = ?, native_id = ?, "
                                 "row_version = row_version + 1 WHERE id = ? AND attempt = ?"));
  TANDEM_RETURN_IF_ERROR(update.BindAll(backend, native_id, job_id, attempt).Run());
  if (db_->Changes() == 1) return Ok();
  TANDEM_ASSIGN_OR_RETURN(Query current, db_->Prepare("SELECT attempt FROM jobs WHERE id = ?"));
  current.Bind(0, job_id);
  TANDEM_ASSIGN_OR_RETURN(bool row, current.Step());
  if (!row) return NotFound(fmt::format("job {} not found", job_id));
  return rows::AttemptMovedOn(job_id, attempt, current.Int(0));
}

Status SqliteStore::SetJobTokenDigest(std::string_view job_id, std::string job_token_digest) {
  std::lock_guard lock(mu_);
  TANDEM_ASSIGN_OR_RETURN(
      Query update, db_->Prepare("UPDATE jobs SET job_token_digest = ?, "
                                 "row_version = row_version + 1 WHERE id = ?"));
  TANDEM_RETURN_IF_ERROR(update.BindAll(job_token_digest, job_id).Run());
  if (db_->Changes() == 0) return NotFound(fmt::format("job {} not found", job_id));
  return Ok();
}

Status SqliteStore::SetWarmPool(std::string_view job_id,
                                std::optional<jobs::WarmPoolStatus> expected,
                                const jobs::WarmPoolState& state) {
  std::lock_guard lock(mu_);
  return warm_pool_sql::SqliteSet(*db_, job_id, expected, state);
}

// ---------------------------------------------------------------------------
// Events

Result<std::optional<StoredEvent>> SqliteStore::FindEvent(std::string_view job_id,
                                                          std::string_view event_id) {
  TANDEM_ASSIGN_OR_RETURN(
      Query query, db_->Prepare(fmt::format(
                       "SELECT {} FROM job_events WHERE job_id = ? AND event_id = ?", kEventColumns)));
  query.BindAll(job_id, event_id);
  TANDEM_ASSIGN_OR_RETURN(bool row, query.Step());
  if (!row) return std::nullopt;
  return rows::EventFromRow(query, job_id);
}

Status SqliteStore::InsertEvent(const jobs::Event& event, int64_t now_ms,
                                const jobs::Transition& verdict) {
  TANDEM_ASSIGN_OR_RETURN(
      Query insert,
      db_->Prepare("INSERT INTO job_events (job_id, event_id, source, observed_ms, sequence, "
                   "status, secondary_status, message, details, received_ms, verdict, reason, "
                   "attempt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  insert.BindAll(event.job_id, event.event_id, jobs::Name(event.source), event.observed_at_ms,
                 event.sequence);
  if (event.status) insert.Bind(5, jobs::Name(*event.status));
  if (event.secondary_status) insert.Bind(6, jobs::Name(*event.secondary_status));
  insert.Bind(7, event.message)
      .Bind(8, DumpJson(event.details))
      .Bind(9, now_ms)
      .Bind(10, jobs::Name(verdict.verdict))
      .Bind(11, verdict.reason)
      .Bind(12, event.attempt);
  return insert.Run();
}

Status SqliteStore::UpdateJobState(const Job& before, const rows::EventDecision& decision) {
  const Job& after = decision.job;
  const jobs::JobState& state = after.state;
  TANDEM_ASSIGN_OR_RETURN(
      Query update,
      db_->Prepare("UPDATE jobs SET status = ?, secondary_status = ?, failure_reason = ?, "
                   "training_start_ms = ?, training_end_ms = ?, progress = ?, "
                   "progress_observed_ms = ?, updated_ms = ?, last_event_ms = ?, attempt = ?, "
                   "native_id = ?, row_version = row_version + 1 WHERE id = ? AND "
                   "row_version = ?"));
  update.BindAll(jobs::Name(state.status), jobs::Name(state.secondary_status),
                 state.failure_reason, state.training_start_ms, state.training_end_ms,
                 DumpJson(state.progress), state.progress_observed_ms, after.updated_ms,
                 after.last_event_ms, state.attempt, after.native_id, before.id,
                 before.row_version);
  TANDEM_RETURN_IF_ERROR(update.Run());
  if (db_->Changes() != 1) {
    return Aborted(fmt::format("job {} changed while the event was applied; retry", before.id));
  }
  if (decision.changed && state.transitions != before.state.transitions) {
    TANDEM_RETURN_IF_ERROR(WriteTransitions(before.id, state.transitions));
  }
  return Ok();
}

Result<rows::PendingApply> SqliteStore::ApplyInTransaction(
    const jobs::Event& event, const std::optional<jobs::ModelPackageRef>& package,
    int64_t now_ms) {
  TANDEM_ASSIGN_OR_RETURN(Job job, LoadJob(event.job_id));

  // Step 1: an event id seen before changes nothing.
  TANDEM_ASSIGN_OR_RETURN(std::optional<StoredEvent> seen, FindEvent(job.id, event.event_id));
  if (seen) {
    jobs::JobStatus status = job.state.status;
    return rows::PendingApply{rows::DuplicateResult(*seen, std::move(job)), status};
  }

  // Step 2: the state machine decides; the event is kept either way.
  rows::EventDecision decision = rows::DecideEvent(job, event, package.has_value(), now_ms);
  TANDEM_RETURN_IF_ERROR(InsertEvent(event, now_ms, decision.transition));
  TANDEM_RETURN_IF_ERROR(UpdateJobState(job, decision));

  // Step 3: the move to Completed registers the model package, once per job.
  std::optional<ModelVersion> registered;
  if (decision.register_package) {
    TANDEM_ASSIGN_OR_RETURN(registered, RegisterVersion(decision.job, *package, now_ms));
  }
  return rows::PendingFromDecision(job, std::move(decision), std::move(registered));
}

Result<ApplyResult> SqliteStore::ApplyEvent(const jobs::Event& event, int64_t now_ms) {
  TANDEM_ASSIGN_OR_RETURN(std::optional<jobs::ModelPackageRef> package,
                          jobs::ModelPackageOf(event));
  std::lock_guard lock(mu_);
  TANDEM_ASSIGN_OR_RETURN(Transaction transaction, Transaction::Begin(*db_, true));
  TANDEM_ASSIGN_OR_RETURN(rows::PendingApply pending, ApplyInTransaction(event, package, now_ms));
  TANDEM_RETURN_IF_ERROR(transaction.Commit());
  rows::LogApplied(event, pending);
  return std::move(pending.result);
}

Status SqliteStore::RunPrepared(const std::string& sql) {
  TANDEM_ASSIGN_OR_RETURN(Query statement, db_->Prepare(sql));
  return statement.Run();
}

Status SqliteStore::ApplyEachInSavepoint(
    std::span<const jobs::Event> events,
    const std::vector<Result<std::optional<jobs::ModelPackageRef>>>& packages, int64_t now_ms,
    std::vector<Result<rows::PendingApply>>& pending) {
  for (size_t i = 0; i < events.size(); ++i) {
    if (!packages[i]) {
      pending.push_back(std::unexpected(packages[i].error()));
      continue;
    }
    TANDEM_RETURN_IF_ERROR(RunPrepared("SAVEPOINT apply_event"));
    Result<rows::PendingApply> one = ApplyInTransaction(events[i], *packages[i], now_ms);
    if (!one) TANDEM_RETURN_IF_ERROR(RunPrepared("ROLLBACK TO apply_event"));
    TANDEM_RETURN_IF_ERROR(RunPrepared("RELEASE apply_event"));
    pending.push_back(std::move(one));
  }
  return Ok();
}

std::vector<Result<ApplyResult>> SqliteStore::ApplyEvents(std::span<const jobs::Event> events,
                                                          int64_t now_ms) {
  std::vector<Result<std::optional<jobs::ModelPackageRef>>> packages = rows::PackagesOf(events);

  std::vector<Result<rows::PendingApply>> pending;
  pending.reserve(events.size());
  std::lock_guard lock(mu_);
  Status committed = [&]() -> Status {
    TANDEM_ASSIGN_OR_RETURN(Transaction transaction, Transaction::Begin(*db_, true));
    TANDEM_RETURN_IF_ERROR(ApplyEachInSavepoint(events, packages, now_ms, pending));
    return transaction.Commit();
  }();
  return rows::FinishBatch(events, std::move(pending), committed);
}

Result<std::vector<StoredEvent>> SqliteStore::ListEvents(std::string_view job_id) {
  std::lock_guard lock(mu_);
  TANDEM_ASSIGN_OR_RETURN(Transaction transaction, Transaction::Begin(*db_, false));
  TANDEM_ASSIGN_OR_RETURN(std::optional<Job> job, FindJob("id = ?", job_id));
  if (!job) return NotFound(fmt::format("job {} not found", job_id));
  TANDEM_ASSIGN_OR_RETURN(
      Query query, db_->Prepare(fmt::format(
                       "SELECT {} FROM job_events WHERE job_id = ? ORDER BY seq", kEventColumns)));
  query.Bind(0, job_id);
  std::vector<StoredEvent> events;
  while (true) {
    TANDEM_ASSIGN_OR_RETURN(bool row, query.Step());
    if (!row) break;
    TANDEM_ASSIGN_OR_RETURN(StoredEvent event, rows::EventFromRow(query, job_id));
    events.push_back(std::move(event));
  }
  TANDEM_RETURN_IF_ERROR(transaction.Commit());
  return events;
}

// ---------------------------------------------------------------------------
// Registry

Result<ModelVersion> SqliteStore::RegisterVersion(const Job& job,
                                                  const jobs::ModelPackageRef& package,
                                                  int64_t now_ms) {
  const std::string& model = job.spec.model_name;

  // Step 1: the next version number, creating the model on its first version.
  TANDEM_ASSIGN_OR_RETURN(Query latest,
                          db_->Prepare("SELECT latest_version FROM models WHERE name = ?"));
  latest.Bind(0, model);
  TANDEM_ASSIGN_OR_RETURN(bool known, latest.Step());
  int64_t version = known ? latest.Int(0) + 1 : 1;
  if (known) {
    TANDEM_ASSIGN_OR_RETURN(
        Query bump,
        db_->Prepare("UPDATE models SET latest_version = ?, updated_ms = ? WHERE name = ?"));
    TANDEM_RETURN_IF_ERROR(bump.BindAll(version, now_ms, model).Run());
  } else {
    TANDEM_ASSIGN_OR_RETURN(
        Query create, db_->Prepare("INSERT INTO models (name, latest_version, created_ms, "
                                   "updated_ms) VALUES (?, ?, ?, ?)"));
    TANDEM_RETURN_IF_ERROR(create.BindAll(model, version, now_ms, now_ms).Run());
  }

  // Step 2: the version row (job_id is UNIQUE: a second registration fails)
  // and the job's reference to it.
  ModelVersion registered = rows::NewModelVersion(job, package, version, now_ms);
  TANDEM_ASSIGN_OR_RETURN(
      Query insert,
      db_->Prepare(fmt::format("INSERT INTO model_versions ({}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                               kVersionColumns)));
  insert.BindAll(model, version, job.id, job.name, package.digest, package.size_bytes,
                 DumpJson(package.manifest), now_ms);
  TANDEM_RETURN_IF_ERROR(insert.Run());
  TANDEM_ASSIGN_OR_RETURN(
      Query link, db_->Prepare("UPDATE jobs SET model_name = ?, model_version = ? WHERE id = ?"));
  TANDEM_RETURN_IF_ERROR(link.BindAll(model, version, job.id).Run());
  spdlog::info("model version registered model={} version={} job={} digest={}", model, version,
               job.id, package.digest);
  return registered;
}

Result<bool> SqliteStore::ModelExists(std::string_view model) {
  TANDEM_ASSIGN_OR_RETURN(Query query, db_->Prepare("SELECT 1 FROM models WHERE name = ?"));
  query.Bind(0, model);
  return query.Step();
}

Result<std::vector<ModelSummary>> SqliteStore::ListModels() {
  std::lock_guard lock(mu_);
  TANDEM_ASSIGN_OR_RETURN(
      Query query,
      db_->Prepare("SELECT name, latest_version, created_ms, updated_ms FROM models ORDER BY name"));
  std::vector<ModelSummary> models;
  while (true) {
    TANDEM_ASSIGN_OR_RETURN(bool row, query.Step());
    if (!row) break;
    models.push_back(ModelSummary{query.Text(0), query.Int(1), query.Int(2), query.Int(3)});
  }
  return models;
}

Result<std::vector<ModelVersion>> SqliteStore::ListModelVersions(std::string_view model) {
  std::lock_guard lock(mu_);
  TANDEM_ASSIGN_OR_RETURN(Transaction transaction, Transaction::Begin(*db_, false));
  TANDEM_ASSIGN_OR_RETURN(bool exists, ModelExists(model));
  if (!exists) return NotFound(fmt::format("model {} not found", model));
  TANDEM_ASSIGN_OR_RETURN(
      Query query, db_->Prepare(fmt::format("SELECT {} FROM model_versions WHERE model_name = ? "
                                            "ORDER BY version DESC",
                                            kVersionColumns)));
  query.Bind(0, model);
  std::vector<ModelVersion> versions;
  while (true) {
    TANDEM_ASSIGN_OR_RETURN(bool row, query.Step());
    if (!row) break;
    TANDEM_ASSIGN_OR_RETURN(ModelVersion version, rows::VersionFromRow(query));
    versions.push_back(std::move(version));
  }
  TANDEM_RETURN_IF_ERROR(transaction.Commit());
  return versions;
}

Result<ModelVersion> SqliteStore::GetModelVersion(std::string_view model, int64_t version) {
  std::lock_guard lock(mu_);
  TANDEM_ASSIGN_OR_RETURN(Transaction transaction, Transaction::Begin(*db_, false));
  TANDEM_ASSIGN_OR_RETURN(bool exists, ModelExists(model));
  if (!exists) return NotFound(fmt::format("model {} not found", model));
  TANDEM_ASSIGN_OR_RETURN(
      Query query,
      db_->Prepare(fmt::format("SELECT {} FROM model_versions WHERE model_name = ? AND "
                               "(version = ? OR (? = -1 AND version = (SELECT latest_version "
                               "FROM models WHERE name = model_name)))",
                               kVersionColumns)));
  query.BindAll(model, version, version);
  TANDEM_ASSIGN_OR_RETURN(bool row, query.Step());
  if (!row) return NotFound(fmt::format("model {} version {} not found", model, version));
  TANDEM_ASSIGN_OR_RETURN(ModelVersion found, rows::VersionFromRow(query));
  TANDEM_RETURN_IF_ERROR(transaction.Commit());
  return found;
}

// ---------------------------------------------------------------------------
// Aliases

Result<ModelAlias> SqliteStore::SetModelAlias(std::string_view model, std::string_view alias,
                                              int64_t version, int64_t now_ms) {
  std::lock_guard lock(mu_);
  TANDEM_ASSIGN_OR_RETURN(Transaction transaction, Transaction::Begin(*db_, true));
  TANDEM_ASSIGN_OR_RETURN(bool exists, ModelExists(model));
  if (!exists) return NotFound(fmt::format("model {} not found", model));
  TANDEM_ASSIGN_OR_RETURN(
      Query find, db_->Prepare("SELECT 1 FROM model_versions WHERE model_name = ? AND version = ?"));
  find.BindAll(model, version);
  TANDEM_ASSIGN_OR_RETURN(bool found, find.Step());
  if (!found) return NotFound(fmt::format("model {} version {} not found", model, version));
  TANDEM_ASSIGN_OR_RETURN(
      Query upsert,
      db_->Prepare("INSERT INTO model_aliases (model_name, alias, version, updated_ms) "
                   "VALUES (?, ?, ?, ?) ON CONFLICT (model_name, alias) DO UPDATE SET "
                   "version = excluded.version, updated_ms = excluded.updated_ms"));
  TANDEM_RETURN_IF_ERROR(upsert.BindAll(model, alias, version, now_ms).Run());
  TANDEM_RETURN_IF_ERROR(transaction.Commit());
  return ModelAlias{std::string(model), std::string(alias), version, now_ms};
}

Status SqliteStore::DeleteModelAlias(std::string_view model, std::string_view alias) {
  std::lock_guard lock(mu_);
  TANDEM_ASSIGN_OR_RETURN(Transaction transaction, Transaction::Begin(*db_, true));
  TANDEM_ASSIGN_OR_RETURN(bool exists, ModelExists(model));
  if (!exists) return NotFound(fmt::format("model {} not found", model));
  TANDEM_ASSIGN_OR_RETURN(
      Query remove, db_->Prepare("DELETE FROM model_aliases WHERE model_name = ? AND alias = ?"));
  TANDEM_RETURN_IF_ERROR(remove.BindAll(model, alias).Run());
  if (db_->Changes() == 0) {
    return NotFound(fmt::format("model {} has no alias \"{}\"", model, alias));
  }
  return transaction.Commit();
}

Result<ModelAlias> SqliteStore::GetModelAlias(std::string_view model, std::string_view alias) {
  std::lock_guard lock(mu_);
  TANDEM_ASSIGN_OR_RETURN(Transaction transaction, Transaction::Begin(*db_, false));
  TANDEM_ASSIGN_OR_RETURN(bool exists, ModelExists(model));
  if (!exists) return NotFound(fmt::format("model {} not found", model));
  TANDEM_ASSIGN_OR_RETURN(Query query,
                          db_->Prepare("SELECT version, updated_ms FROM model_aliases WHERE "
                                       "model_name = ? AND alias = ?"));
  query.BindAll(model, alias);
  TANDEM_ASSIGN_OR_RETURN(bool row, query.Step());
  if (!row) return NotFound(fmt::format("model {} has no alias \"{}\"", model, alias));
  ModelAlias found{std::string(model), std::string(alias), query.Int(0), query.Int(1)};
  TANDEM_RETURN_IF_ERROR(transaction.Commit());
  return found;
}

Result<std::vector<ModelAlias>> SqliteStore::ListModelAliases(std::string_view model) {
  std::lock_guard lock(mu_);
  TANDEM_ASSIGN_OR_RETURN(Transaction transaction, Transaction::Begin(*db_, false));
  TANDEM_ASSIGN_OR_RETURN(bool exists, ModelExists(model));
  if (!exists) return NotFound(fmt::format("model {} not found", model));
  TANDEM_ASSIGN_OR_RETURN(Query query,
                          db_->Prepare("SELECT alias, version, updated_ms FROM model_aliases "
                                       "WHERE model_name = ? ORDER BY alias"));
  query.Bind(0, model);
  std::vector<ModelAlias> aliases;
  while (true) {
    TANDEM_ASSIGN_OR_RETURN(bool row, query.Step());
    if (!row) break;
    aliases.push_back(ModelAlias{std::string(model), query.Text(0), query.Int(1), query.Int(2)});
  }
  TANDEM_RETURN_IF_ERROR(transaction.Commit());
  return aliases;
}

// ---------------------------------------------------------------------------
// Schedules (sqlite_schedules.cc)

Result<CreateScheduleResult> SqliteStore::CreateSchedule(const Schedule& schedule, int64_t now_ms) {
  std::lock_guard lock(mu_);
  return sqlite_schedules::Create(*db_, schedule, now_ms);
}

Result<Schedule> SqliteStore::GetSchedule(std::string_view name) {
  std::lock_guard lock(mu_);
  return sqlite_schedules::Get(*db_, name);
}

Result<std::vector<Schedule>> SqliteStore::ListSchedules(const std::optional<std::string>& repository) {
  std::lock_guard lock(mu_);
  return sqlite_schedules::List(*db_, repository);
}

Result<Schedule> SqliteStore::SetSchedulePaused(std::string_view name, bool paused,
    std::optional<int64_t> last_slot_ms, int64_t now_ms) {
  std::lock_guard lock(mu_);
  return sqlite_schedules::SetPaused(*db_, name, paused, last_slot_ms, now_ms);
}

Status SqliteStore::DeleteSchedule(std::string_view name) {
  std::lock_guard lock(mu_);
  return sqlite_schedules::Delete(*db_, name);
}

Result<Schedule> SqliteStore::AdvanceSchedule(const ScheduleAdvance& advance) {
  std::lock_guard lock(mu_);
  return sqlite_schedules::Advance(*db_, advance);
}

Result<std::vector<ScheduleRun>> SqliteStore::ListScheduleRuns(std::string_view name, int64_t limit) {
  std::lock_guard lock(mu_);
  return sqlite_schedules::ListRuns(*db_, name, limit);
}

}  // namespace

int SqliteSchemaVersion() { return kMigrations.back().version; }

int SqliteMigrationCount() { return static_cast<int>(kMigrations.size()); }

Result<std::unique_ptr<Store>> OpenSqliteStore(const std::filesystem::path& path) {
  TANDEM_ASSIGN_OR_RETURN(std::unique_ptr<SqliteDb> db, SqliteDb::Open(path));

  // WAL lets readers run beside the one writer; foreign keys are off by
  // default in SQLite; the busy timeout makes a locked database wait, not fail.
  TANDEM_RETURN_IF_ERROR(db->Exec("PRAGMA journal_mode = WAL"));
  TANDEM_RETURN_IF_ERROR(db->Exec("PRAGMA foreign_keys = ON"));
  TANDEM_RETURN_IF_ERROR(db->Exec("PRAGMA busy_timeout = 5000"));
  // In WAL mode, synchronous = NORMAL commits without an fsync (the WAL is
  // synced at checkpoints), which cuts the cost of an event from one fsync to
  // microseconds. A killed process loses no committed transaction, and the
  // database stays consistent after a power loss (SQLite's "pragma
  // synchronous" documentation).
  // NOTE: a power loss or OS crash may roll back the transactions since the
  // last checkpoint. Runtimes do not resend events already acknowledged, so
  // such a job's state comes back only through the reconciler.
  TANDEM_RETURN_IF_ERROR(db->Exec("PRAGMA synchronous = NORMAL"));

  auto store = std::make_unique<SqliteStore>(std::move(db));
  TANDEM_RETURN_IF_ERROR(store->Migrate(path));
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace tandem::store
