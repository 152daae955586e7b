// The local backend: runs `tandem train` for each job as a child process of
// the control plane on this machine.
//
// Launch starts `<tandem binary> train` with only TANDEM_API_URL,
// TANDEM_JOB_ID, TANDEM_JOB_ATTEMPT, TANDEM_JOB_TOKEN, TANDEM_JOB_ROOT (job_dir/root),
// TANDEM_STOP_GRACE_SECONDS, TANDEM_EXIT_FILE (job_dir/exit.json), PATH and
// HOME, plus the request's environment.
// TANDEM_TEST_DROP_EVENTS, a switch for tests only (runtime/events.h), is
// passed on when the control plane itself has it.
// The child runs in job_dir, in a session of its own, with standard output and
// error appended to job_dir/job.log.
//
// Before Launch returns it writes job_dir/launch.json:
//   {"JobId", "Attempt", "Pid", "StartTime" (clock ticks since boot, from
//    /proc/<pid>/stat), "LaunchedAt" (ISO 8601), "MaxRuntimeSeconds"}
// and the reaper adds {"ExitCode" or "Signal", "Reason"} when the child ends.
// A backend constructed later over the same jobs directory (a restarted
// control plane) reads these files, in every directory under jobs_dir and in
// the directories one level below (later attempts), so it can Describe and
// Stop jobs launched by its predecessor. Launches are keyed by job and
// attempt. It distinguishes a live launch from an unrelated process that
// reuses the pid by comparing start times. A control plane killed between the
// spawn and the write of launch.json leaves a running `tandem train` without a
// record: a later Launch of that attempt finds it by its TANDEM_JOB_ROOT in
// /proc and adopts it instead of starting a second one.
//
// A reaper thread polls the children. When one of its own children ends, it
// kills the rest of the job's session (user processes the runtime started)
// and calls the ExitCallback. Launches found in launch.json get no callback,
// so their end shows only through Describe, which takes their exit code from
// the exit.json that the runtime writes just before it exits; a launch that
// ended without one (killed by a signal) is kGone. The reaper also enforces two
// deadlines: SIGKILL `grace` after a Stop, and SIGKILL for a job still running
// max_runtime_seconds + backstop_grace after launch. The runtime enforces
// MaxRuntimeInSeconds itself, so the backstop only catches a runtime that hangs.
//
// Warm workers (local_warm_workers.cc): StartWarmWorker spawns
// `<tandem binary> train --warm-agent FIFO` in a session of its own, with
// only PATH, HOME and TANDEM_STOP_GRACE_SECONDS, in
// <owner job_dir>/warm-worker/ (agent.log, handoff.fifo). The agent has
// started, linked its libraries and set up logging; it waits on the FIFO.
// LaunchOnWarmWorker builds the environment Launch would pass, records the
// launch (launch.json) under the agent's pid, and writes
// {"JobDir", "Environment"} to the FIFO; the agent then moves to the job
// directory and the job's log and runs the job like `tandem train`. A worker
// that exits while waiting is reaped and reported dead; the destructor kills
// waiting workers, because a later backend cannot hand them jobs.
//
// NOTE: cpu_count and memory_mib of a LaunchRequest are not enforced, because
// that would take cgroups.
#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "backends/backend.h"
#include "common/process.h"

namespace tandem::backends {

struct LocalBackendOptions {
  // The directory holding one directory per job (<data_dir>/jobs). Read at
  // construction for launch.json files left by an earlier control plane.
  std::filesystem::path jobs_dir;
  // The program run as `<tandem_binary> train`; empty: this process's own
  // executable (/proc/self/exe).
  std::filesystem::path tandem_binary;
  // Set as TANDEM_STOP_GRACE_SECONDS: how long the runtime gives the user's
  // process between SIGTERM and SIGKILL. Keep it below the grace passed to
  // Stop, so the runtime can still report Stopped before it is killed itself.
  std::chrono::seconds runtime_stop_grace{20};
  // Margin past max_runtime_seconds before the backstop kills a job; it covers
  // the runtime's own stop grace and its event retries (about 2 minutes).
  std::chrono::seconds backstop_grace{std::chrono::minutes(5)};
  // How long LaunchOnWarmWorker waits for a just-started worker to be ready.
  std::chrono::milliseconds warm_handoff_timeout{std::chrono::seconds(5)};
  // How often the reaper looks at the children.
  std::chrono::milliseconds poll_interval{100};
};

class LocalBackend final : public Backend {
 public:
  // Starts the reaper thread. `on_exit` may be empty.
  LocalBackend(LocalBackendOptions options, ExitCallback on_exit);
  // Stops the reaper thread. Children keep running (they are found again by
  // the next LocalBackend over the same jobs directory).
  ~LocalBackend() override;
  LocalBackend(const LocalBackend&) = delete;
  LocalBackend& operator=(const LocalBackend&) = delete;

  std::string_view name() const override { return "local"; }

  // Starts nothing for a job with a launch record, or with a running
  // `tandem train` that has no record (see above).
  // Errors: kInvalidArgument for an empty job_id or job_dir; errors of
  // creating job_dir or of ChildProcess::Spawn, with the job id as context.
  Result<LaunchInfo> Launch(const LaunchRequest& request) override;
  // Native ids are "pid:<pid>".
  Status Stop(std::string_view native_id, std::chrono::seconds grace) override;
  // kRunning while the launched process lives; kSucceeded or kFailed once it
  // exited with its status recorded (by the reaper or in exit.json); kGone
  // when it is no longer running and no exit status was recorded, or when no
  // launch record names the pid.
  Result<Observation> Describe(std::string_view native_id) override;

  // The tandem binary's path, size and modification time.
  std::string WarmImage() const override;
  // Errors: those of creating the worker directory, the FIFO or the process.
  Result<std::string> StartWarmWorker(const std::string& owner_job_id,
                                      const std::filesystem::path& owner_job_dir) override;
  bool WarmWorkerAlive(std::string_view worker_id) override;
  // Waits up to LocalBackendOptions::warm_handoff_timeout for the agent to
  // open its FIFO.
  Result<LaunchInfo> LaunchOnWarmWorker(std::string_view worker_id,
                                        const LaunchRequest& request) override;
  void TerminateWarmWorker(std::string_view worker_id) override;

 private:
  struct LaunchRecord;
  // Returns the key of launches_ for a job's attempt.
  static std::string LaunchKey(std::string_view job_id, int64_t attempt);
  void ReaperLoop();
  void LoadLaunchRecords();
  // Loads job_dir/launch.json into launches_ when it exists.
  void LoadLaunchRecord(const std::filesystem::path& job_dir);
  std::shared_ptr<LaunchRecord> FindByPid(pid_t pid);
  // Returns the running `tandem train` of a job that has job.log but no
  // record, after recording it; nullopt when none runs. Requires mutex_.
  std::optional<LaunchInfo> AdoptUnrecordedLaunch(const LaunchRequest& request);
  std::optional<Observation> ReapIfExited(LaunchRecord& launch);
  struct WarmWorker;
  // Reaps waiting workers that exited. Requires mutex_.
  void ReapWarmWorkers();
  // Kills and reaps every waiting worker. Requires mutex_.
  void KillWarmWorkers();
  // Records a started `tandem train` of the request's job in launches_ and,
  // with `write_record`, in launch.json. Requires mutex_. Errors: writing
  // launch.json (the child is killed then).
  Result<LaunchInfo> RecordLaunch(const LaunchRequest& request, ChildProcess child,
                                  bool write_record = true);
  // Writes launch.json of a job's attempt in launches_. Requires mutex_.
  Status WriteLaunchRecord(const std::string& job_id, int64_t attempt);
  // Returns the environment of `tandem train` for the request's job.
  std::map<std::string, std::string> JobEnvironment(const LaunchRequest& request) const;

  LocalBackendOptions options_;
  ExitCallback on_exit_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool shutting_down_ = false;
  std::map<std::string, std::shared_ptr<LaunchRecord>> launches_;  // by LaunchKey
  std::map<std::string, std::shared_ptr<WarmWorker>, std::less<>> warm_workers_;  // by worker id
  std::thread reaper_;
};

}  // namespace tandem::backends
