// The Slurm backend: runs `tandem train` for each job as a Slurm batch job,
// through the Slurm client commands (sbatch, scancel, scontrol, squeue).
//
// Launch writes two files into job_dir and submits the second with sbatch.
//   slurm-job.env (mode 0600) contains the job's environment as shell
//     assignments: TANDEM_API_URL, TANDEM_JOB_ID, TANDEM_JOB_ATTEMPT,
//     TANDEM_JOB_TOKEN, TANDEM_JOB_ROOT, TANDEM_STOP_GRACE_SECONDS, PATH,
//     HOME and the request's environment.
//   slurm-job.sh sources slurm-job.env, deletes it so that the token does
//     not stay on disk, then execs `<tandem_binary> train`. A job that an
//     administrator requeues by hand therefore fails at its second start.
// sbatch gets --export=NONE, so the job token is on no command line and in
// no environment that slurmctld stores or `scontrol show job` prints. The job
// reads it from the file on the node. The batch job is named
// "tandem-<job id>" and requests one node, one task, the request's CPUs and
// memory, and --time of MaxRuntimeInSeconds plus a margin (rounded up to
// minutes). A later attempt of a retried job is named
// "tandem-<job id>-attempt-<N>" and has a job_dir of its own, so it is a new
// submission. It gets --no-requeue, because retries are the control plane's
// (per RetryStrategy), and appends its output to job_dir/job.log. After
// sbatch, job_dir/slurm-launch.json records the Slurm job id.
//
// Idempotent launch: an attempt whose slurm-launch.json exists, or whose batch
// job name Slurm still lists (squeue), is not submitted again; Launch returns that
// Slurm job with already_running or already_ended set.
//
// Shared storage: job_dir (and the job root, channels and artifact store the
// runtime reaches through the API) must be a path every Slurm node sees at the
// same place, and the nodes must reach api_url. Nothing here assumes the
// control plane runs on a Slurm node.
//
// Stop: a pending job is cancelled (scancel). A running one gets SIGTERM in
// every step including the batch step (scancel --signal=TERM --full); a
// background thread runs a plain scancel once the grace has passed, after
// which Slurm sends SIGKILL when its KillWait ends.
//
// Describe runs `scontrol show job -o`, and `squeue` when scontrol's output
// cannot be read. It returns kGone only when Slurm answers "Invalid job id",
// which happens MinJobAge (300 s by default) after a job ends when the cluster
// keeps no accounting; any other failure to ask is kUnavailable.
//
// Warm pools (docs/warm-pools.md): a job whose spec sets
// ResourceConfig.KeepAlivePeriodInSeconds keeps its allocation. Its batch
// script runs `tandem train`, then `srun tandem train --warm-agent FIFO` as
// step 0, which waits for a hand-off on job_dir/warm-worker/handoff (mode
// 0600). Its --time covers twice MaxRuntimeInSeconds plus the keep-alive
// period, so the allocation outlives the wait and a job of the same maximum
// runtime. StartWarmWorker registers such an allocation while Slurm lists it
// RUNNING; LaunchOnWarmWorker writes the hand-off, and the job runs as step 0
// with native id "slurm:<Slurm job id>.0". The batch script ends with that
// step, so the allocation's state is the job's. TerminateWarmWorker cancels
// the allocation once. A job on a kept allocation is not kept again.
// NOTE: the hand-off goes through a FIFO, which works only when the control
// plane runs on the allocation's node (the test cluster's case). Other
// clusters need a hand-off file in job_dir polled by the agent.
// NOTE: while an allocation is kept, Describe of its first job says Running,
// so a first job whose runtime died without reporting its end is noticed only
// when the allocation ends. Telling them apart would take a step per job.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "backends/backend.h"
#include "backends/slurm_command.h"
#include "backends/slurm_options.h"
#include "backends/slurm_states.h"

namespace tandem::backends {

class SlurmBackend final : public Backend {
 public:
  // Starts the thread that sends the kills after a Stop's grace.
  explicit SlurmBackend(SlurmOptions options);
  // Stops that thread; kills still waiting for their grace are not sent.
  ~SlurmBackend() override;
  SlurmBackend(const SlurmBackend&) = delete;
  SlurmBackend& operator=(const SlurmBackend&) = delete;

  std::string_view name() const override { return "slurm"; }

  // Native ids are "slurm:<Slurm job id>".
  // Errors: kInvalidArgument for a malformed request, or for resources Slurm
  // can never give (with Slurm's message). kResourceExhausted when a Slurm
  // limit rejects the job for now. kUnavailable when slurmctld cannot be
  // reached or a command timed out. kInternal for other sbatch failures.
  Result<LaunchInfo> Launch(const LaunchRequest& request) override;
  // Errors: kInvalidArgument for a malformed id, kUnavailable when Slurm could
  // not be asked. Stopping a job that slurmctld no longer lists succeeds,
  // because such a job has ended.
  Status Stop(std::string_view native_id, std::chrono::seconds grace) override;
  Result<Observation> Describe(std::string_view native_id) override;

  // Slurm jobs end without an ExitCallback: their end events drive the pool.
  bool ReportsExits() const override { return false; }

  // Warm workers are kept allocations, with ids "<Slurm job id>".
  // The image is the tandem binary, by path, size and modification time.
  std::string WarmImage() const override;
  // Errors: kFailedPrecondition when the job kept no allocation (its launch
  // asked for no keep-alive period, or it ran on a kept allocation itself) or
  // Slurm no longer lists the allocation RUNNING; kUnavailable when Slurm
  // could not be asked.
  Result<std::string> StartWarmWorker(const std::string& owner_job_id,
                                      const std::filesystem::path& owner_job_dir) override;
  bool WarmWorkerAlive(std::string_view worker_id) override;
  // Errors: kFailedPrecondition when the allocation is gone, its agent did not
  // listen within 10 s, or the job's MaxRuntimeInSeconds is above the first
  // job's. The allocation is cancelled on every error but the first.
  Result<LaunchInfo> LaunchOnWarmWorker(std::string_view worker_id,
                                        const LaunchRequest& request) override;
  void TerminateWarmWorker(std::string_view worker_id) override;

  // Returns the sbatch command line for a request; public for tests.
  std::vector<std::string> SbatchArgv(const LaunchRequest& request) const;

 private:
  struct PendingKill {
    std::string slurm_job_id;
    std::chrono::steady_clock::time_point deadline;
  };

  struct KeptAllocation {
    std::string slurm_job_id;
    std::filesystem::path fifo;
    int64_t max_runtime_seconds = 0;
    bool handing_off = false;
  };

  Result<CommandOutput> Run(std::vector<std::string> argv) const;
  Result<std::optional<SlurmJobInfo>> ShowJob(const std::string& slurm_job_id) const;
  Result<std::optional<std::string>> FindEarlierLaunch(const LaunchRequest& request) const;
  Result<LaunchInfo> EarlierLaunchInfo(const std::string& slurm_job_id);
  std::map<std::string, std::string> JobEnvironment(const LaunchRequest& request) const;
  bool AllocationRunning(const std::string& slurm_job_id) const;
  Status WriteJobFiles(const LaunchRequest& request) const;
  Result<std::string> Submit(const LaunchRequest& request) const;
  Status Cancel(const std::string& slurm_job_id, bool signal_term_only) const;
  void KillLoop();

  SlurmOptions options_;
  std::map<std::string, std::string> command_environment_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool shutting_down_ = false;
  std::vector<PendingKill> pending_kills_;
  std::map<std::string, KeptAllocation, std::less<>> kept_;
  std::thread killer_;
};

}  // namespace tandem::backends
