// The control plane's warm pool: the workers kept by ended jobs, the
// hand-off of a new job to one of them, expiry, and every move of a job's
// WarmPoolStatus in the store (jobs/warm_pool.h lists the moves).
//
// A job keeps its worker when it ends Completed, Stopped, or Failed by its
// own runtime's report (the user's code or input failed), and its
// KeepAlivePeriodInSeconds is above 0. A job that failed because the
// platform did (its process vanished or was killed, the launch failed, the
// reconciler ended it) keeps nothing, because its worker cannot be trusted.
//
// Launch hands a job to a kept worker of the same backend whose match key
// (jobs::MatchKey) is identical, else launches it cold. A kept worker found
// dead is marked Terminated and never handed a job. Each kept worker leaves
// the pool exactly once (to a job, to expiry, to death or to shutdown),
// because it is taken out of the in-memory pool under one mutex before
// anything else happens to it. The store's conditional updates check the
// same again.
//
// The pool lives in memory. A control plane that restarts marks the kept
// workers of its predecessor Terminated (RecoverAtStartup); those workers
// exit by themselves once their parent is gone.
//
// Threads: every method may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "backends/backend.h"
#include "common/clock.h"
#include "jobs/warm_pool.h"
#include "store/store.h"

namespace tandem::api {

// Returns the configured backend of that name, or null.
using BackendLookup = std::function<std::shared_ptr<backends::Backend>(std::string_view name)>;

class WarmPool {
 public:
  // `store` and `clock` must outlive the pool. A job's worker files go under
  // `jobs_dir`/<job id>.
  WarmPool(store::Store& store, BackendLookup lookup, const Clock& clock,
           std::filesystem::path jobs_dir);
  // Stops the sweeper; kept workers are left to the backend.
  ~WarmPool();
  WarmPool(const WarmPool&) = delete;
  WarmPool& operator=(const WarmPool&) = delete;

  // Starts `request`'s job (the stored `job`) on a kept worker of `backend`
  // with the job's match key, else with backend->Launch. The worker's owner
  // moves Available -> InUse with ReusedByJob once the hand-off succeeded. A
  // failed hand-off moves it to Terminated, and the job starts cold.
  // Errors: those of backend->Launch.
  Result<backends::LaunchInfo> Launch(const std::shared_ptr<backends::Backend>& backend,
                                      const store::Job& job,
                                      const backends::LaunchRequest& request);

  // Handles the end of a job's process, after its end was recorded: the
  // owner of the worker it ran on moves InUse -> Reused, and the job itself
  // keeps its worker (-> Available) when the rules above allow. Errors are
  // logged, because the caller is a backend thread.
  void OnJobEnded(const std::string& job_id);

  // Terminates every kept worker whose keep-alive period has ended at the
  // clock's time, and marks Terminated those whose worker died. Returns how
  // many workers left the pool.
  int Sweep();

  // Terminates every kept worker (at shutdown).
  void TerminateAll();

  // Marks Terminated the jobs that the store shows Available (their workers
  // belonged to an earlier control plane), and Reused the ones InUse (the
  // job that took the worker runs on without the pool). Call once at
  // startup, before serving. Errors: those of the store.
  Status RecoverAtStartup();

  // Runs Sweep every `interval` on a thread of its own until destruction.
  void StartSweeper(std::chrono::milliseconds interval);

  // Returns how many workers wait in the pool.
  size_t AvailableCount();

 private:
  struct Kept {
    std::string owner_job_id;
    std::shared_ptr<backends::Backend> backend;
    std::string worker_id;
    jobs::MatchKey key;
    jobs::WarmPoolState state;
  };
  // A worker handed to a job: the job's id -> the owner and its state.
  struct Lent {
    std::string owner_job_id;
    jobs::WarmPoolState state;
    // Held by Launch until the owner's InUse is stored.
    std::shared_ptr<std::mutex> recording;
  };

  std::optional<Kept> TakeMatching(const backends::Backend& backend, const jobs::MatchKey& key);
  void Keep(const store::Job& job);
  void ReturnLent(const std::string& job_id);
  void Release(const Kept& kept, int64_t released_ms, std::string_view reason);
  Status Move(const std::string& job_id, jobs::WarmPoolStatus from,
              const jobs::WarmPoolState& to);

  store::Store& store_;
  BackendLookup lookup_;
  const Clock& clock_;
  const std::filesystem::path jobs_dir_;

  std::mutex mutex_;
  std::map<std::string, Kept> kept_;  // by owner job id
  std::map<std::string, Lent> lent_;  // by the id of the job running on the worker

  std::mutex sweeper_mutex_;
  std::condition_variable sweeper_wake_;
  bool stopping_ = false;
  std::thread sweeper_;
};

// True when `job` ended Failed through an event whose source is not its own
// runtime (the backend, the reconciler or the API reported the failure).
bool EndedByPlatformFailure(const store::Job& job, const std::vector<store::StoredEvent>& events);

}  // namespace tandem::api
