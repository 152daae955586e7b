// The job queue of the control plane: launches a stored job when the
// admission limits (api/admission.h) let it start, and keeps it waiting in
// the store otherwise. Internal to src/api; ControlPlane owns the one instance.
//
// The queue is the store itself: every job that is InProgress and has no
// native id is waiting, oldest first. So the queue survives a restart of the
// control plane, and no worker process exists for a job until it is admitted.
// A waiting job reads InProgress/Pending; the "api" event that moves it there
// has the fixed id "api-queued" (of its attempt, jobs::AttemptEventId) and a
// message saying why it waits. An interrupted job that is retried waits the
// same way, in Restarting, until a pass launches its next attempt.
//
// A job is launched by one of:
//   - Submit, for the job just created, when it fits at once;
//   - a pass (RunPass), on the thread that ended a job when limits are set,
//     and on the background thread (Start) every `interval` and at its start.
// A job launched later than its submission gets the same job token
// (Authenticator::JobToken derives it from the job's name).
//
// Several control planes over one PostgreSQL database: only the leader (the
// LeaderCheck) runs passes and, when limits are set, launches. Without limits
// every server launches the jobs submitted to it, as before queueing existed.
// There a job without a native id counts as waiting only once it is Pending or
// older than `orphan_age`, because until then another server may be launching it.
//
// Threads: every method may be called from any thread. Passes never overlap:
// a pass requested while one runs makes that one run once more.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "api/admission.h"
#include "api/api_context.h"

namespace tandem::api {

struct AdmissionOptions {
  AdmissionLimits limits;
  // With a LeaderCheck: the age at which a Starting job without a native id
  // counts as left behind by a server that stopped before launching it.
  std::chrono::milliseconds orphan_age{std::chrono::minutes(1)};
};

class AdmissionController {
 public:
  // Decides whether this process may admit now (over PostgreSQL: holds the
  // leader lock). Empty: this process is the only one and always may. Called
  // on the controller's thread only; other threads read its last result.
  using LeaderCheck = std::function<bool()>;

  // `context` must outlive the controller.
  AdmissionController(ApiContext& context, AdmissionOptions options);
  ~AdmissionController();  // stops the thread
  AdmissionController(const AdmissionController&) = delete;
  AdmissionController& operator=(const AdmissionController&) = delete;

  // Launches the just-created `job` with `job_token` when the limits let it
  // start now; otherwise leaves it waiting (Pending). Returns the job
  // afterwards. Errors: those of the store.
  Result<store::Job> Submit(const store::Job& job, const std::string& job_token);

  // Launches every waiting job the limits let start now, and moves the others
  // to Pending. Does nothing when this process is not the leader or after
  // Stop. Returns the
  // number launched by this call (0 when it only asked a running pass to
  // repeat). Errors: those of listing the jobs.
  Result<int> RunPass();

  // Called after an event ended a job: with limits set, runs a pass so that
  // the next waiting job starts.
  void OnJobEnded();

  // Sets the leader check and starts the background thread, which runs a
  // pass at once and then every `interval`. Call once, before serving. Stop
  // joins the thread.
  void Start(LeaderCheck is_leader, std::chrono::milliseconds interval);
  void Stop();

 private:
  struct Snapshot;
  bool IsLeader() const;
  Result<int> PassOnce();
  Result<Snapshot> TakeSnapshot();
  Result<bool> LaunchWaiting(const std::string& job_id);
  Status MarkQueued(const store::Job& job, const std::string& reason);
  Result<bool> RouteStoredJob(store::Job& job);
  jobs::Event ApiEvent(const std::string& job_id, std::string event_id,
                       jobs::SecondaryStatus secondary, std::string message) const;
  bool Claim(const std::string& job_id);
  void Release(const std::string& job_id);
  void Loop();

  ApiContext& context_;
  AdmissionOptions options_;
  LeaderCheck is_leader_;  // set by Start before serving, read-only after
  std::chrono::milliseconds interval_{0};  // set by Start

  std::mutex mutex_;
  std::condition_variable wake_;
  std::set<std::string> launching_;  // claimed job ids; guarded by mutex_
  // Jobs submitted to this server that no pass has seen yet; a pass may admit
  // them while they are fresh, even over PostgreSQL. Guarded by mutex_.
  std::set<std::string> submitting_;
  std::atomic<bool> leader_{true};    // the last result of is_leader_
  std::atomic<bool> shared_store_{false};  // true once Start got a LeaderCheck
  // AdmissionDecision::cursor; guarded by mutex_.
  // NOTE: kept in memory only, so after a restart or a change of leader the
  // turns start again at the first repository name; keeping fairness across
  // them would take storing the cursor with the jobs.
  std::string cursor_;
  bool pass_running_ = false;      // guarded by mutex_
  bool pass_requested_ = false;    // guarded by mutex_
  bool stopping_ = false;          // guarded by mutex_
  std::thread thread_;
};

}  // namespace tandem::api
