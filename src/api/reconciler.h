// The periodic reconciler: calls Backend::Describe for jobs without events for
// too long and records each result as a "reconciler" event, so job state
// converges while the server runs even when a runtime's or a backend's
// report was lost (ARCHITECTURE.md, "Event-driven job state").
//
// Describe results for a job InProgress without events for at least `quiet`:
//   Running, Pending        nothing
//   Succeeded               Completed with the job's uploaded model package
//                           (PackageUploadedEvent) when there is one, so the
//                           store registers it exactly once; else Failed
//                           "process exited with code 0 but never reported completion"
//   Failed                  Failed with the backend's reason, or as its end
//                           cause names (api/end_cause.h): MaxRuntimeExceeded,
//                           Interrupted, out of memory, cancelled outside tandem
//   Gone                    Failed "process no longer running"
//   could not ask, Unknown  nothing; logged at WARN and counted
// A Stopping job whose process ended or is gone ends Stopped.
// Each ending event is about the job's attempt and has the fixed id
// "reconciler-end" of that attempt (jobs::AttemptEventId), so an attempt is
// ended by the reconciler at most once whatever the number of passes or
// processes. An Interrupted ending of a job with retries left starts its next
// attempt, which the admission controller launches at its next pass.
//
// Threads: RunOnce may be called from any thread; Start runs it on a thread
// of its own every `interval` until Stop or destruction.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>

#include "backends/backend.h"
#include "common/clock.h"
#include "registry/artifact_store.h"
#include "store/store.h"

namespace tandem::api {

struct ReconcilerOptions {
  std::chrono::seconds interval{10};  // time between passes (Start)
  std::chrono::seconds quiet{30};     // minimum age of a job's last event before Describe
};

struct ReconcilePass {
  int examined = 0;     // jobs passed to Describe
  int ended = 0;        // jobs (or attempts, for a retried job) an event of this pass ended
  int unavailable = 0;  // jobs whose Describe failed or returned Unknown
};

// The "api" progress event recording that `package` was uploaded for the job
// (PUT /jobs/{id}/model-package). Its id is fixed per digest, so a repeated
// upload is a duplicate.
jobs::Event PackageUploadedEvent(const std::string& job_id, const registry::ArtifactInfo& package,
                                 int64_t now_ms);

// Returns the package of the last PackageUploadedEvent among `events`, or
// nullopt when none was uploaded.
std::optional<jobs::ModelPackageRef> UploadedPackage(const std::vector<store::StoredEvent>& events);

// Returns the event the reconciler records for `job` given the Describe
// result, or nullopt when the result ends nothing. `uploaded` is the job's
// uploaded package, if any.
std::optional<jobs::Event> ReconcilerEvent(const store::Job& job,
                                           const backends::Observation& observation,
                                           const std::optional<jobs::ModelPackageRef>& uploaded,
                                           int64_t now_ms);

class Reconciler {
 public:
  // Decides whether this process may reconcile now (over PostgreSQL: holds
  // the leader lock). Called before every pass of the background thread.
  using LeaderCheck = std::function<bool()>;

  // Returns the backend instance named by a job's Job::backend, or nullptr
  // when none is configured (the job is then counted as unavailable).
  using BackendLookup = std::function<std::shared_ptr<backends::Backend>(std::string_view name)>;

  // Asks `backend` about every job, whatever its Job::backend. The
  // references must outlive the Reconciler.
  Reconciler(ReconcilerOptions options, store::Store& store, backends::Backend& backend,
             const Clock& clock, LeaderCheck is_leader = nullptr);
  // Asks each job's own backend, found by name through `lookup`.
  Reconciler(ReconcilerOptions options, store::Store& store, BackendLookup lookup,
             const Clock& clock, LeaderCheck is_leader = nullptr);
  ~Reconciler();  // stops the thread
  Reconciler(const Reconciler&) = delete;
  Reconciler& operator=(const Reconciler&) = delete;

  // One pass over the non-terminal jobs. Errors: those of listing the jobs;
  // a failure on one job is logged and the pass goes on.
  Result<ReconcilePass> RunOnce();

  // Starts the background thread (once). Stop joins it; it may be called twice.
  void Start();
  void Stop();

  // Total of ReconcilePass::unavailable over every pass so far.
  int64_t unavailable_total() const;

 private:
  Result<bool> ReconcileJob(const store::Job& job, ReconcilePass& pass);
  void Loop();

  ReconcilerOptions options_;
  store::Store& store_;
  BackendLookup lookup_;
  const Clock& clock_;
  LeaderCheck is_leader_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mutex_
  int64_t unavailable_total_ = 0;  // guarded by mutex_
  std::thread thread_;
};

}  // namespace tandem::api
