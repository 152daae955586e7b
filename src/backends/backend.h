// The compute backend interface: how the control plane launches `tandem train`
// for a job on some compute (this machine, Slurm, Kubernetes, SageMaker), asks
// about it later and stops it.
//
// A backend's word is one source of truth among several: the job runtime
// reports its own phases as events, and the reconciler turns Describe answers
// into events. So Describe must say "could not ask" (kUnavailable) rather than
// guess, and kGone only when the backing process or allocation is known to be
// gone.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "common/status.h"

namespace tandem::backends {

struct LaunchRequest {
  std::string job_id;
  std::string job_name;
  std::string repository;
  std::string api_url;    // the control plane, as the job reaches it
  std::string job_token;  // secret: passed to the job's environment, never logged
  // The attempt to launch: 1, then one more per retry of an interrupted job.
  int64_t attempt = 1;
  // The directory of this attempt, <data_dir>/jobs/<job_id> for attempt 1 and
  // a directory of its own under it for later ones (api/job_lifecycle.h). The
  // backend puts root/ (the job root), job.log and its launch record here.
  std::filesystem::path job_dir;
  int cpu_count = 1;
  int64_t memory_mib = 0;  // 0: no limit requested
  int64_t max_runtime_seconds = 86400;
  // Extra environment for `tandem train`, added after the TANDEM_* variables.
  std::map<std::string, std::string> environment;
  // The job's canonical spec as JSON text (jobs::JobSpecToJson), handed to a
  // warm worker so that it need not fetch it; may be empty.
  std::string spec_json;
};

struct LaunchInfo {
  std::string native_id;         // the backend's id for the launch, e.g. "pid:1234"
  bool already_running = false;  // true when Launch found the job's earlier launch running
  bool already_ended = false;    // true when Launch found the job's earlier launch ended
};

enum class ObservedState { kUnknown, kPending, kRunning, kSucceeded, kFailed, kGone };

// Returns "Unknown", "Pending", "Running", "Succeeded", "Failed" or "Gone".
std::string_view Name(ObservedState state);

// The cause of a launch's end, when the backend knows more than the exit
// status. The reconciler and the exit report turn it into the job's secondary
// status and failure reason (api/end_cause.h).
enum class EndCause {
  kUnspecified,         // Succeeded or Failed by the exit status alone
  kCancelled,           // cancelled on the compute, not through tandem (e.g. scancel)
  kMaxRuntimeExceeded,  // the compute's time limit ended it: MaxRuntimeExceeded
  kInterrupted,         // node failure or preemption: Interrupted, retried per RetryStrategy
  kOutOfMemory,         // killed for exceeding its memory: Failed, reason OutOfMemory
};

// Returns "Unspecified", "Cancelled", "MaxRuntimeExceeded", "Interrupted" or "OutOfMemory".
std::string_view Name(EndCause cause);

// Returns the directory of a job's attempt (LaunchRequest::job_dir):
// jobs_dir/<job_id> for attempt 1 and jobs_dir/<job_id>/attempt-<N> for a
// later one. With an empty jobs_dir the path is relative.
std::filesystem::path AttemptDir(const std::filesystem::path& jobs_dir, std::string_view job_id,
                                 int64_t attempt);

struct Observation {
  ObservedState state = ObservedState::kUnknown;
  std::string reason;             // e.g. "exit code 3", "killed by signal 9"
  std::optional<int> exit_code;   // set when the process exited normally
  EndCause cause = EndCause::kUnspecified;  // set only with kFailed
  // The attempt of the observed launch, when the backend recorded it.
  std::optional<int64_t> attempt;
};

// Thread-safe: every method may be called from any thread.
class Backend {
 public:
  virtual ~Backend() = default;

  // Returns the backend's configured name ("local", "slurm").
  virtual std::string_view name() const = 0;

  // Starts `tandem train` for the job's attempt. Idempotent on (job_id,
  // attempt): an attempt launched before is never started again; Launch
  // returns the earlier launch's native id with already_running or
  // already_ended set, so a control plane that crashed before recording a
  // launch can record it on restart. A later attempt of the same job is a new
  // launch. The job gets TANDEM_JOB_ATTEMPT in its environment.
  // Errors: kInvalidArgument for a malformed request, kUnavailable when the
  // compute cannot be reached, kResourceExhausted when it has no room.
  virtual Result<LaunchInfo> Launch(const LaunchRequest& request) = 0;

  // Sends SIGTERM (or the backend's equivalent) and SIGKILL once `grace` has
  // passed without an exit. Returns without waiting for the exit. Stopping a
  // job that already ended succeeds.
  // Errors: kInvalidArgument for a malformed native id, kNotFound for an id
  // this backend never launched, kUnavailable when it could not ask.
  virtual Status Stop(std::string_view native_id, std::chrono::seconds grace) = 0;

  // Returns what the backend currently knows of a launch.
  // Errors: kInvalidArgument for a malformed native id, kUnavailable when the
  // backend could not ask (which means unknown, never failed).
  virtual Result<Observation> Describe(std::string_view native_id) = 0;

  // Warm pools (jobs/warm_pool.h, api/warm_pool.h). A warm worker is a
  // started `tandem train` that has done every step that does not depend on
  // the job and waits for one. A backend without warm workers keeps these
  // defaults: StartWarmWorker fails with kFailedPrecondition, so jobs always
  // start cold there.
  // The Slurm backend keeps the job's allocation and runs the next matching
  // job in it as a job step (slurm_backend.h).

  // True when the backend calls its ExitCallback for every launch. For the
  // other backends, the control plane reports ended jobs to the warm pool when
  // their end events are applied.
  virtual bool ReportsExits() const { return true; }

  // Returns the identity of the image that workers start from, compared by
  // the warm pool match key; "" when the backend has no warm workers.
  virtual std::string WarmImage() const { return ""; }

  // Starts a warm worker for the job `owner_job_id`, which just ended, with
  // its files under `owner_job_dir`. Returns the worker's id. Returns
  // without waiting for the worker to be ready.
  virtual Result<std::string> StartWarmWorker(const std::string& owner_job_id,
                                              const std::filesystem::path& owner_job_dir) {
    (void)owner_job_dir;
    return FailedPrecondition(
        fmt::format("backend {} has no warm workers (job {})", name(), owner_job_id));
  }

  // True while the worker lives and has not been handed a job.
  virtual bool WarmWorkerAlive(std::string_view /*worker_id*/) { return false; }

  // Runs the request's job on the waiting worker: afterwards the job is a
  // launch like any other (Stop, Describe and the ExitCallback see it).
  // Errors: kFailedPrecondition when the worker is gone, or did not become
  // ready within the backend's hand-off timeout (the worker is terminated
  // then); errors of Launch otherwise. The job is not launched on any error.
  virtual Result<LaunchInfo> LaunchOnWarmWorker(std::string_view worker_id,
                                                const LaunchRequest& request) {
    return FailedPrecondition(fmt::format("backend {} has no warm worker {} for job {}", name(),
                                          worker_id, request.job_id));
  }

  // Terminates a waiting worker. A worker that is unknown, gone or already
  // handed a job is left alone.
  virtual void TerminateWarmWorker(std::string_view /*worker_id*/) {}
};

// Called once per launched job when the backend sees it end, with state
// kSucceeded or kFailed. Called on a backend thread without any backend lock
// held, so it may call the backend; it should return quickly.
using ExitCallback = std::function<void(const std::string& job_id, const Observation&)>;

}  // namespace tandem::backends
