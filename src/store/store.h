// The control plane's durable state: jobs, their event inbox, and the model
// registry's tables. One interface, implemented over SQLite
// (store/sqlite_store.h) and later PostgreSQL, so nothing here names a
// database type.
//
// Threads: every implementation is safe to call from any thread.
// Errors: kNotFound for a missing job or model (the message names it),
// kInvalidArgument for a bad filter or page token, kAlreadyExists for a taken
// job name, kAborted when a concurrent writer won (retrying may work),
// kInternal for a database failure (the message carries the database's text).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_util.h"
#include "common/status.h"
#include "jobs/event.h"
#include "jobs/job.h"
#include "jobs/job_spec.h"
#include "jobs/state_machine.h"
#include "jobs/warm_pool.h"
#include "store/schedule.h"

namespace tandem::store {

// A registered model version, as a reference from the job that produced it.
struct ModelVersionRef {
  std::string model_name;
  int64_t version = 0;

  friend bool operator==(const ModelVersionRef&, const ModelVersionRef&) = default;
};

struct Job {
  std::string id;          // "job-" + 12 lower-case hex digits
  std::string name;        // spec.training_job_name
  std::string repository;  // spec.repository
  jobs::JobSpec spec;
  std::string spec_digest;  // jobs::SpecDigest(spec)
  jobs::JobState state;
  int64_t created_ms = 0;
  int64_t updated_ms = 0;     // last change of the row (LastModifiedTime)
  int64_t last_event_ms = 0;  // arrival of the last event, accepted or not; created_ms before any
  std::string backend;        // empty until routed
  std::string native_id;      // the backend's own id ("pid:12345"); empty until launched
  std::string job_token_digest;  // digest of the job token; the token itself is never stored
  std::optional<ModelVersionRef> model_version;  // set once the job's package is registered
  int64_t row_version = 0;    // increases by one with every change of the row
  // Set once the job kept its worker for a warm pool (jobs/warm_pool.h).
  std::optional<jobs::WarmPoolState> warm_pool;
};

struct CreateJobResult {
  Job job;
  bool created = false;  // false: the same spec was submitted before, `job` is that job
};

inline constexpr int64_t kDefaultPageSize = 100;
inline constexpr int64_t kMaxPageSize = 1000;

struct JobFilter {
  std::optional<std::string> repository;
  std::optional<jobs::JobStatus> status;
  std::optional<std::string> name;  // exact TrainingJobName
  std::optional<jobs::WarmPoolStatus> warm_pool_status;
  int64_t page_size = kDefaultPageSize;  // 1-1000
  std::string page_token;          // empty for the first page, else a JobPage::next_page_token
};

struct JobPage {
  std::vector<Job> jobs;        // newest first
  std::string next_page_token;  // empty on the last page
};

// One inbox row: the event as received, with the verdict it got.
struct StoredEvent {
  jobs::Event event;
  int64_t received_ms = 0;
  jobs::Verdict verdict = jobs::Verdict::kRejected;
  std::string reason;
};

struct ModelVersion {
  std::string model_name;
  int64_t version = 0;  // 1, 2, ... per model
  std::string job_id;
  std::string training_job_name;
  std::string package_digest;  // "sha256:..."
  int64_t package_size_bytes = 0;
  Json manifest = Json::object();
  int64_t created_ms = 0;
};

struct ModelSummary {
  std::string model_name;
  int64_t latest_version = 0;
  int64_t created_ms = 0;   // registration of version 1
  int64_t updated_ms = 0;   // registration of the latest version
};

// A named pointer to one version of a model ("production" -> 7), moved by an
// administrator and followed by `tandem serve --model NAME@ALIAS`.
struct ModelAlias {
  std::string model_name;
  std::string alias;
  int64_t version = 0;
  int64_t updated_ms = 0;  // when it was last set
};

struct ApplyResult {
  bool duplicate = false;  // the event id was seen before for this job; nothing changed
  // The verdict of this event, or, for a duplicate, of the first one with its id.
  jobs::Verdict verdict = jobs::Verdict::kRejected;
  std::string reason;
  Job job;  // the job after the event
  std::optional<ModelVersion> registered;  // the version this event registered, if any
};

// Version -1 in GetModelVersion: the latest version.
inline constexpr int64_t kLatestVersion = -1;

class Store {
 public:
  virtual ~Store() = default;

  // Creates a job from a validated spec: status InProgress, secondary Starting
  // at `now_ms`, a new random id. When the repository already holds a job of
  // that name: the same SpecDigest returns that job with created=false (the
  // token digest is not changed); a different spec is kAlreadyExists naming
  // the job and repository.
  virtual Result<CreateJobResult> CreateJob(const jobs::JobSpec& spec,
                                            std::string job_token_digest, int64_t now_ms) = 0;

  // Errors: kNotFound "job X not found".
  virtual Result<Job> GetJob(std::string_view id) = 0;

  // Returns one page of the jobs matching every set field of `filter`, newest
  // (last created) first. A page token stays valid across later inserts: the
  // next page continues after the last job returned, and new jobs never shift
  // it. Errors: kInvalidArgument for page_size outside 1-1000 or a token this
  // store did not issue.
  virtual Result<JobPage> ListJobs(const JobFilter& filter) = 0;

  // Returns every InProgress or Stopping job, oldest first (for the reconciler).
  virtual Result<std::vector<Job>> ListNonTerminalJobs() = 0;

  // Records which backend runs the job and its id there. Errors: kNotFound.
  virtual Status SetBackend(std::string_view job_id, std::string backend,
                            std::string native_id) = 0;

  // Records the backend and native id of the launch of the job's `attempt`,
  // unless a retry moved the job on to a later attempt meanwhile.
  // Errors: kNotFound; kFailedPrecondition naming both attempts when the
  // job's attempt is no longer `attempt` (nothing is written then).
  virtual Status SetLaunch(std::string_view job_id, int64_t attempt, std::string backend,
                           std::string native_id) = 0;

  // Replaces the digest of the job's token. The control plane launches a job
  // that waited in the queue, or that a stopped control plane stored without
  // launching, with a new token, because only the digest of the first one was
  // kept. Errors: kNotFound.
  virtual Status SetJobTokenDigest(std::string_view job_id, std::string job_token_digest) = 0;

  // Moves the job's warm pool from `expected` (nullopt: the job has none yet)
  // to `state`, a move jobs::CanMove allows, with a conditional update on
  // `expected`. Does not change row_version or updated_ms.
  // Errors: kNotFound for an unknown job; kFailedPrecondition naming both
  // statuses when the move is not allowed or the stored status is no longer
  // `expected`.
  virtual Status SetWarmPool(std::string_view job_id,
                             std::optional<jobs::WarmPoolStatus> expected,
                             const jobs::WarmPoolState& state) = 0;

  // Records `event` in the job's inbox and folds it into the job, in one
  // transaction:
  //  1. an event id seen before for this job: ApplyResult{duplicate=true},
  //     nothing changes;
  //  2. jobs::Apply on the job's state, with the spec's MaximumRetryAttempts;
  //     the verdict is stored with the event;
  //  3. an accepted event updates the job row (conditional on row_version),
  //     and one that retries the job (a new attempt) clears its native id;
  //  4. an event that moves the job to Completed and carries
  //     Details.ModelPackage registers the package as the next version of
  //     spec.model_name, at most once per job.
  // A rejected event is still recorded (with its reason) and is not an error.
  // Errors: kNotFound for an unknown job; kInvalidArgument for a malformed
  // Details.ModelPackage (nothing is recorded); kAborted if the row changed
  // underneath (only possible with several processes on one database).
  virtual Result<ApplyResult> ApplyEvent(const jobs::Event& event, int64_t now_ms) = 0;

  // Applies `events` in order in one transaction, so that one commit serves
  // them all. Returns one result per event: the one ApplyEvent would have
  // returned after the events before it, so a second copy of an id within the
  // batch is a duplicate. Each event runs in a savepoint, so an event that
  // fails (kNotFound, kInvalidArgument, kAborted) leaves no trace and the
  // others go on. When the transaction cannot begin or commit, or a savepoint
  // statement fails, every event that did not fail on its own gets that error
  // and nothing of the batch is recorded.
  virtual std::vector<Result<ApplyResult>> ApplyEvents(std::span<const jobs::Event> events,
                                                       int64_t now_ms) = 0;

  // Returns the job's events with their verdicts, in arrival order.
  // Errors: kNotFound for an unknown job.
  virtual Result<std::vector<StoredEvent>> ListEvents(std::string_view job_id) = 0;

  // Registry.

  // Returns every model with at least one version, by name.
  virtual Result<std::vector<ModelSummary>> ListModels() = 0;
  // Returns the model's versions, newest first. Errors: kNotFound "model X not found".
  virtual Result<std::vector<ModelVersion>> ListModelVersions(std::string_view model) = 0;
  // Returns one version; kLatestVersion for the newest. Errors: kNotFound
  // naming the model, or the model and the version.
  virtual Result<ModelVersion> GetModelVersion(std::string_view model, int64_t version) = 0;

  // Aliases. Names are checked by the caller (api/models_handlers.cc).

  // Points `alias` of `model` at `version`, creating the alias or moving it.
  // Errors: kNotFound naming the model, or the model and the version.
  virtual Result<ModelAlias> SetModelAlias(std::string_view model, std::string_view alias,
                                           int64_t version, int64_t now_ms) = 0;
  // Removes `alias` of `model`. Errors: kNotFound naming the model or the alias.
  virtual Status DeleteModelAlias(std::string_view model, std::string_view alias) = 0;
  // Returns one alias. Errors: kNotFound naming the model or the alias.
  virtual Result<ModelAlias> GetModelAlias(std::string_view model, std::string_view alias) = 0;
  // Returns the model's aliases, by alias name. Errors: kNotFound naming the model.
  virtual Result<std::vector<ModelAlias>> ListModelAliases(std::string_view model) = 0;

  // Schedules (store/schedule.h). Names, expressions and job templates are
  // checked by the caller (src/schedules/schedule_spec.h).

  // Creates `schedule` with created_ms = updated_ms = now_ms, row_version 1
  // and no slots. A schedule of that name with the same definition
  // (SameDefinition) is returned with created=false; another definition is
  // kAlreadyExists naming it.
  virtual Result<CreateScheduleResult> CreateSchedule(const Schedule& schedule,
                                                      int64_t now_ms) = 0;
  // Errors: kNotFound "schedule X not found".
  virtual Result<Schedule> GetSchedule(std::string_view name) = 0;
  // Returns every schedule, or those of `repository`, by name.
  virtual Result<std::vector<Schedule>> ListSchedules(
      const std::optional<std::string>& repository) = 0;
  // Sets the paused flag. A set `last_slot_ms` replaces the last handled slot
  // and drops a queued one, so that slots before it never fire.
  // Errors: kNotFound.
  virtual Result<Schedule> SetSchedulePaused(std::string_view name, bool paused,
                                             std::optional<int64_t> last_slot_ms,
                                             int64_t now_ms) = 0;
  // Deletes the schedule and its run records; the runs' jobs stay.
  // Errors: kNotFound.
  virtual Status DeleteSchedule(std::string_view name) = 0;
  // Applies the scheduler's move in one transaction: the two slot columns,
  // and the run record when set (a second record of one slot is ignored).
  // Errors: kNotFound; kAborted when the row is no longer at
  // advance.expected_row_version (another scheduler or an API call won).
  virtual Result<Schedule> AdvanceSchedule(const ScheduleAdvance& advance) = 0;
  // Returns up to `limit` runs of the schedule, latest slot first.
  // Errors: kNotFound for an unknown schedule.
  virtual Result<std::vector<ScheduleRun>> ListScheduleRuns(std::string_view name,
                                                            int64_t limit) = 0;
};

// Returns a new job id: "job-" + 12 random lower-case hex digits.
std::string NewJobId();

}  // namespace tandem::store
