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

#include "common/status.h"

namespace tandem::backends {

struct LaunchRequest {
  std::string job_id;
  std::string job_name;
  std::string repository;
  std::string api_url;    // the control plane, as the job reaches it
  std::string job_token;  // secret: passed to the job's environment, never logged
  // <data_dir>/jobs/<job_id>: the backend puts root/ (the job root) and job.log here.
  std::filesystem::path job_dir;
  int cpu_count = 1;
  int64_t memory_mib = 0;  // 0: no limit requested
  int64_t max_runtime_seconds = 86400;
  // Extra environment for `tandem train`, added after the TANDEM_* variables.
  std::map<std::string, std::string> environment;
};

struct LaunchInfo {
  std::string native_id;         // the backend's id for the launch, e.g. "pid:1234"
  bool already_running = false;  // true when Launch found the job's earlier launch running
  bool already_ended = false;    // true when Launch found the job's earlier launch ended
};

enum class ObservedState { kUnknown, kPending, kRunning, kSucceeded, kFailed, kGone };

// Returns "Unknown", "Pending", "Running", "Succeeded", "Failed" or "Gone".
std::string_view Name(ObservedState state);

// Why a launch ended, when the backend knows more than the exit status. The
// control plane turns it into the job's secondary status.
enum class EndCause {
  kUnspecified,         // Succeeded or Failed by the exit status alone
  kCancelled,           // cancelled on the compute, not through tandem (e.g. scancel)
  kMaxRuntimeExceeded,  // the compute's time limit ended it: MaxRuntimeExceeded
  kInterrupted,         // node failure or preemption: Interrupted, retried per RetryStrategy
  kOutOfMemory,         // killed for exceeding its memory: Failed, reason OutOfMemory
};

// Returns "Unspecified", "Cancelled", "MaxRuntimeExceeded", "Interrupted" or "OutOfMemory".
std::string_view Name(EndCause cause);

struct Observation {
  ObservedState state = ObservedState::kUnknown;
  std::string reason;             // e.g. "exit code 3", "killed by signal 9"
  std::optional<int> exit_code;   // set when the process exited normally
  EndCause cause = EndCause::kUnspecified;  // set only with kFailed
};

// Thread-safe: every method may be called from any thread.
class Backend {
 public:
  virtual ~Backend() = default;

  // Returns the backend's configured name ("local", "slurm").
  virtual std::string_view name() const = 0;

  // Starts `tandem train` for the job. Idempotent on job_id: a job launched
  // before is never started again; Launch returns the earlier launch's native
  // id with already_running or already_ended set, so a control plane that
  // crashed before recording a launch can record it on restart.
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
};

// Called once per launched job when the backend sees it end, with state
// kSucceeded or kFailed. Called on a backend thread without any backend lock
// held, so it may call the backend; it should return quickly.
using ExitCallback = std::function<void(const std::string& job_id, const Observation&)>;

}  // namespace tandem::backends
