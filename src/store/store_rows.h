// Internal to the store module: the parts of the SQLite and PostgreSQL stores
// that do not depend on the database. Both stores keep the same tables and
// column lists, decode rows with the templates below, and let DecideEvent run
// the state machine for ApplyEvent.
//
// A Row is any type with Text(c), Int(c), OptionalInt(c) and IsNull(c) for a
// column number c from 0 (SqliteDb's Query, PostgreSQL's PgRow).
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_util.h"
#include "common/status.h"
#include "store/store.h"

namespace tandem::store::rows {

// Column lists of SELECTs, in the order the decoders below read them.
inline constexpr std::string_view kJobColumns =
    "id, name, repository, spec, spec_digest, status, secondary_status, failure_reason, "
    "training_start_ms, training_end_ms, progress, progress_observed_ms, created_ms, updated_ms, "
    "last_event_ms, backend, native_id, job_token_digest, model_name, model_version, row_version, "
    "seq, warm_pool_status, warm_pool_reused_by, warm_pool_retained_ms, warm_pool_released_ms, "
    "warm_pool_expires_ms, attempt";
inline constexpr int kJobSeqColumn = 21;
inline constexpr int kJobWarmPoolColumn = 22;
inline constexpr int kJobAttemptColumn = 27;

inline constexpr std::string_view kTransitionColumns =
    "status, start_ms, end_ms, message, attempt";

inline constexpr std::string_view kEventColumns =
    "event_id, source, observed_ms, sequence, status, secondary_status, message, details, "
    "received_ms, verdict, reason, attempt";

inline constexpr std::string_view kVersionColumns =
    "model_name, version, job_id, training_job_name, package_digest, package_size_bytes, "
    "manifest, created_ms";

// Parses a JSON column; a parse failure is kInternal (the stored row is corrupt).
Result<Json> ParseStoredJson(const std::string& text, std::string_view field);

// Parses the stored JSON text of a job spec. A spec never changes after
// submit and every event apply reads its job, so results are cached by the
// exact text (at most a few thousand specs; the cache is emptied when full).
// Thread-safe.
Result<jobs::JobSpec> ParseStoredSpec(const std::string& text, std::string_view field);

// Passes a parsed enum name through, turning its error into kInternal.
template <typename T>
Result<T> ParseStored(Result<T> parsed, std::string_view field) {
  if (!parsed) {
    return Internal(fmt::format("stored {} is corrupt: {}", field, parsed.error().message()));
  }
  return parsed;
}

// Decodes the five warm pool columns of kJobColumns starting at `first`,
// whose status is not NULL.
template <typename Row>
Result<jobs::WarmPoolState> WarmPoolFromRow(const Row& row, int first) {
  jobs::WarmPoolState state;
  TANDEM_ASSIGN_OR_RETURN(state.status, ParseStored(jobs::ParseWarmPoolStatus(row.Text(first)),
                                                    "warm pool status"));
  state.reused_by_job = row.Text(first + 1);
  state.retained_ms = row.OptionalInt(first + 2).value_or(0);
  state.released_ms = row.OptionalInt(first + 3);
  state.expires_ms = row.OptionalInt(first + 4).value_or(0);
  return state;
}

// Decodes a row of kJobColumns; the transitions are left empty (they live in
// their own table).
template <typename Row>
Result<Job> JobFromRow(const Row& row) {
  Job job;
  job.id = row.Text(0);
  job.name = row.Text(1);
  job.repository = row.Text(2);
  TANDEM_ASSIGN_OR_RETURN(job.spec,
                          ParseStoredSpec(row.Text(3), fmt::format("spec of job {}", job.id)));
  job.spec_digest = row.Text(4);

  jobs::JobState& state = job.state;
  TANDEM_ASSIGN_OR_RETURN(state.status, ParseStored(jobs::ParseJobStatus(row.Text(5)), "status"));
  TANDEM_ASSIGN_OR_RETURN(state.secondary_status,
                          ParseStored(jobs::ParseSecondaryStatus(row.Text(6)), "status"));
  state.failure_reason = row.Text(7);
  state.training_start_ms = row.OptionalInt(8);
  state.training_end_ms = row.OptionalInt(9);
  TANDEM_ASSIGN_OR_RETURN(state.progress,
                          ParseStoredJson(row.Text(10), fmt::format("progress of job {}", job.id)));
  state.progress_observed_ms = row.OptionalInt(11);

  job.created_ms = row.Int(12);
  job.updated_ms = row.Int(13);
  job.last_event_ms = row.Int(14);
  job.backend = row.Text(15);
  job.native_id = row.Text(16);
  job.job_token_digest = row.Text(17);
  if (!row.IsNull(18)) job.model_version = ModelVersionRef{row.Text(18), row.Int(19)};
  job.row_version = row.Int(20);
  state.attempt = row.Int(kJobAttemptColumn);
  if (!row.IsNull(kJobWarmPoolColumn)) {
    TANDEM_ASSIGN_OR_RETURN(job.warm_pool, WarmPoolFromRow(row, kJobWarmPoolColumn));
  }
  return job;
}

// Decodes kTransitionColumns starting at column `first`.
template <typename Row>
Result<jobs::StatusTransition> TransitionFromRow(const Row& row, int first = 0) {
  TANDEM_ASSIGN_OR_RETURN(auto status,
                          ParseStored(jobs::ParseSecondaryStatus(row.Text(first)), "transition"));
  return jobs::StatusTransition{.status = status,
                                .start_ms = row.Int(first + 1),
                                .end_ms = row.OptionalInt(first + 2),
                                .message = row.Text(first + 3),
                                .attempt = row.Int(first + 4)};
}

// Decodes a row of kEventColumns of job `job_id`.
template <typename Row>
Result<StoredEvent> EventFromRow(const Row& row, std::string_view job_id) {
  StoredEvent stored;
  jobs::Event& event = stored.event;
  event.job_id = std::string(job_id);
  event.event_id = row.Text(0);
  TANDEM_ASSIGN_OR_RETURN(event.source,
                          ParseStored(jobs::ParseEventSource(row.Text(1)), "event source"));
  event.observed_at_ms = row.Int(2);
  event.sequence = row.OptionalInt(3);
  if (!row.IsNull(4)) {
    TANDEM_ASSIGN_OR_RETURN(event.status,
                            ParseStored(jobs::ParseJobStatus(row.Text(4)), "event status"));
  }
  if (!row.IsNull(5)) {
    TANDEM_ASSIGN_OR_RETURN(
        event.secondary_status,
        ParseStored(jobs::ParseSecondaryStatus(row.Text(5)), "event secondary status"));
  }
  event.message = row.Text(6);
  TANDEM_ASSIGN_OR_RETURN(event.details, ParseStoredJson(row.Text(7), "event details"));
  stored.received_ms = row.Int(8);
  TANDEM_ASSIGN_OR_RETURN(stored.verdict, ParseStored(jobs::ParseVerdict(row.Text(9)), "verdict"));
  stored.reason = row.Text(10);
  event.attempt = row.OptionalInt(11);
  return stored;
}

// Decodes a row of kVersionColumns.
template <typename Row>
Result<ModelVersion> VersionFromRow(const Row& row) {
  ModelVersion version;
  version.model_name = row.Text(0);
  version.version = row.Int(1);
  version.job_id = row.Text(2);
  version.training_job_name = row.Text(3);
  version.package_digest = row.Text(4);
  version.package_size_bytes = row.Int(5);
  TANDEM_ASSIGN_OR_RETURN(version.manifest, ParseStoredJson(row.Text(6), "model manifest"));
  version.created_ms = row.Int(7);
  return version;
}

// Checks filter.page_size and decodes filter.page_token. Returns the seq the
// page continues before, or nullopt for the first page.
// Errors: kInvalidArgument naming page_size or page_token.
Result<std::optional<int64_t>> CheckJobFilter(const JobFilter& filter);

// Returns the token of the page that continues before job `seq`.
std::string EncodePageToken(int64_t seq);

// Returns the kAlreadyExists error for a job name taken by job `existing_id`
// with a different spec.
std::unexpected<Error> NameTakenError(const jobs::JobSpec& spec, std::string_view existing_id);

// Returns a new job row: InProgress/Starting at `now_ms`, row_version 1.
Job NewJob(const jobs::JobSpec& spec, std::string id, std::string spec_digest,
           std::string job_token_digest, int64_t now_ms);

// The outcome of a new event for ApplyEvent, once the job is locked: the
// state machine's verdict and the job row to write.
struct EventDecision {
  jobs::Transition transition;
  bool changed = false;  // the state changed: the job's updated_ms moves to now
  // The event moved the job to Completed, carries Details.ModelPackage, and
  // the job has no model version yet: register the package.
  bool register_package = false;
  Job job;  // the job after the event, row_version already increased
};

// Returns the kFailedPrecondition error of SetLaunch for a job whose attempt
// is `current`, no longer `attempt`.
std::unexpected<Error> AttemptMovedOn(std::string_view job_id, int64_t attempt, int64_t current);

// Runs jobs::Apply on `job` with its spec's retry limit and derives the row to
// write. A retry (a new attempt) clears the row's native id.
EventDecision DecideEvent(const Job& job, const jobs::Event& event, bool has_package,
                          int64_t now_ms);

// Returns the registry row for the next `version` of the job's model.
ModelVersion NewModelVersion(const Job& job, const jobs::ModelPackageRef& package,
                             int64_t version, int64_t now_ms);

// Returns the result for an event whose id was seen before: `seen` is the
// stored first one, `job` the job as it is.
ApplyResult DuplicateResult(const StoredEvent& seen, Job job);

// An event applied inside a transaction that is not committed yet: its
// result, and the job's status before it for the log line after the commit.
struct PendingApply {
  ApplyResult result;
  jobs::JobStatus status_before = jobs::JobStatus::kInProgress;
};

// Returns the pending result of a new event from `before` and its decision;
// `registered` is the version the event registered, if any.
PendingApply PendingFromDecision(const Job& before, EventDecision decision,
                                 std::optional<ModelVersion> registered);

// Returns the model package each event of a batch names, read before the
// batch's transaction so that a malformed package fails only its own event.
std::vector<Result<std::optional<jobs::ModelPackageRef>>> PackagesOf(
    std::span<const jobs::Event> events);

// Logs an applied event after its commit: a rejection at debug level, a
// change of status at info level, a duplicate not at all.
void LogApplied(const jobs::Event& event, const PendingApply& applied);

// Returns one result per event of a batch. `pending` contains the results of
// the events applied before the batch stopped, so it is shorter than `events`
// when a savepoint statement or the commit failed. `committed` is the outcome
// of the commit: its error replaces every success and fills in the events
// never reached. Logs each committed event.
std::vector<Result<ApplyResult>> FinishBatch(std::span<const jobs::Event> events,
                                             std::vector<Result<PendingApply>> pending,
                                             const Status& committed);

}  // namespace tandem::store::rows
