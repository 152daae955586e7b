#include "api/admission_controller.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "api/auth.h"
#include "api/job_lifecycle.h"

namespace tandem::api {

// The non-terminal jobs as one pass listed them, with the decision taken on them.
struct AdmissionController::Snapshot {
  std::vector<std::string> admitted;     // claimed by this pass, in launch order
  std::vector<store::Job> still_waiting;  // waiting jobs that were not admitted
  RunningJobs running;                   // after the admissions
};

jobs::Event AdmissionController::ApiEvent(const std::string& job_id, std::string event_id,
                                          jobs::SecondaryStatus secondary,
                                          std::string message) const {
  jobs::Event event;
  event.event_id = std::move(event_id);
  event.job_id = job_id;
  event.source = jobs::EventSource::kApi;
  event.observed_at_ms = context_.clock.NowMillis();
  event.status = jobs::StatusOf(secondary);
  event.secondary_status = secondary;
  event.message = std::move(message);
  return event;
}

AdmissionController::AdmissionController(ApiContext& context, AdmissionOptions options)
    : context_(context), options_(std::move(options)) {}

AdmissionController::~AdmissionController() { Stop(); }

bool AdmissionController::IsLeader() const { return leader_.load(); }

bool AdmissionController::Claim(const std::string& job_id) {
  std::lock_guard lock(mutex_);
  return launching_.insert(job_id).second;
}

void AdmissionController::Release(const std::string& job_id) {
  std::lock_guard lock(mutex_);
  launching_.erase(job_id);
}

Result<store::Job> AdmissionController::Submit(const store::Job& job,
                                               const std::string& job_token) {
  if (options_.limits.unlimited()) {
    // A pass that listed the job first has claimed it and launches it itself.
    if (!Claim(job.id)) return context_.store.GetJob(job.id);
    Result<store::Job> launched = LaunchJob(context_, job, job_token);
    Release(job.id);
    return launched;
  }

  if (!IsLeader()) {
    TANDEM_RETURN_IF_ERROR(MarkQueued(job, "the leader control plane admits it"));
    return context_.store.GetJob(job.id);
  }
  {
    std::lock_guard lock(mutex_);
    submitting_.insert(job.id);
  }
  Result<int> pass = RunPass();
  if (!pass) {
    spdlog::error("admission pass failed job={} error={}", job.id, pass.error().message());
  }
  return context_.store.GetJob(job.id);
}

Result<int> AdmissionController::RunPass() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return 0;  // the backends may be going away
    pass_requested_ = true;
    if (pass_running_) return 0;
    pass_running_ = true;
  }
  int launched = 0;
  std::optional<Error> first_error;
  while (true) {
    {
      std::lock_guard lock(mutex_);
      if (!pass_requested_) {
        pass_running_ = false;
        break;
      }
      pass_requested_ = false;
    }
    Result<int> pass = PassOnce();
    if (pass) {
      launched += *pass;
    } else if (!first_error) {
      first_error = pass.error();
    }
  }
  if (first_error) return std::unexpected(*first_error);
  return launched;
}

void AdmissionController::OnJobEnded() {
  if (options_.limits.unlimited() || !IsLeader()) return;
  Result<int> pass = RunPass();
  if (!pass) spdlog::error("admission pass failed error={}", pass.error().message());
}

Result<int> AdmissionController::PassOnce() {
  if (!IsLeader()) return 0;
  TANDEM_ASSIGN_OR_RETURN(Snapshot snapshot, TakeSnapshot());

  int launched = 0;
  for (const std::string& job_id : snapshot.admitted) {
    Result<bool> result = LaunchWaiting(job_id);
    Release(job_id);
    if (!result) {
      spdlog::error("cannot launch a waiting job job={} error={}", job_id,
                    result.error().message());
    } else if (*result) {
      ++launched;
    }
  }

  for (const store::Job& job : snapshot.still_waiting) {
    jobs::SecondaryStatus secondary = job.state.secondary_status;
    if (secondary != jobs::SecondaryStatus::kStarting &&
        secondary != jobs::SecondaryStatus::kRestarting) {
      continue;
    }
    std::string reason = WaitReason(options_.limits, snapshot.running, job.repository);
    if (reason.empty()) reason = "earlier jobs wait for the same capacity";
    Status marked = MarkQueued(job, reason);
    if (!marked) {
      spdlog::error("cannot mark a job as waiting job={} error={}", job.id,
                    marked.error().message());
    }
  }
  return launched;
}

Result<AdmissionController::Snapshot> AdmissionController::TakeSnapshot() {
  TANDEM_ASSIGN_OR_RETURN(std::vector<store::Job> jobs, context_.store.ListNonTerminalJobs());
  int64_t now_ms = context_.clock.NowMillis();
  bool shared_store = shared_store_.load();

  std::lock_guard lock(mutex_);
  Snapshot snapshot;
  std::vector<WaitingJob> waiting;
  std::map<std::string, const store::Job*> waiting_jobs;
  for (const store::Job& job : jobs) {
    if (!job.native_id.empty() || launching_.contains(job.id)) {
      snapshot.running.Add(job.repository);
      continue;
    }
    // Stopping without a native id: the stop request ends it without a launch.
    if (job.state.status != jobs::JobStatus::kInProgress) continue;
    bool left_behind = now_ms - job.created_ms >= options_.orphan_age.count();
    // After this pass the job is either launching or Pending, so it stays eligible.
    bool submitting = submitting_.erase(job.id) > 0;
    // A retried job's next attempt is launched by passes only, never at submit.
    bool retried = job.state.attempt > 1;
    if (shared_store && !submitting && !retried &&
        job.state.secondary_status != jobs::SecondaryStatus::kPending && !left_behind) {
      continue;  // another server may be launching it now
    }
    waiting.push_back({job.id, job.repository});
    waiting_jobs[job.id] = &job;
  }

  AdmissionDecision decision = DecideAdmissions(options_.limits, snapshot.running, waiting,
                                                cursor_);
  cursor_ = decision.cursor;
  for (const WaitingJob& admitted : decision.admitted) {
    launching_.insert(admitted.job_id);
    snapshot.admitted.push_back(admitted.job_id);
    snapshot.running.Add(admitted.repository);
    waiting_jobs.erase(admitted.job_id);
  }
  for (const auto& [id, job] : waiting_jobs) snapshot.still_waiting.push_back(*job);
  return snapshot;
}

// Returns false when the job no longer needs a launch.
Result<bool> AdmissionController::LaunchWaiting(const std::string& job_id) {
  TANDEM_ASSIGN_OR_RETURN(store::Job job, context_.store.GetJob(job_id));
  if (job.state.status != jobs::JobStatus::kInProgress || !job.native_id.empty()) return false;
  if (job.backend.empty()) {
    // Stored by a server that stopped before it routed the job.
    TANDEM_ASSIGN_OR_RETURN(bool routed, RouteStoredJob(job));
    if (!routed) return false;
  }

  // The token derives from the job's name. So a job launched long after its
  // submission, or by another server, gets the token whose digest the store
  // kept, and so does a runtime that a stopped control plane launched without
  // recording it (Launch is idempotent and finds it). The digest changes only
  // for a job stored under another admin token.
  std::string token = context_.auth.JobToken(job.repository, job.name);
  if (JobTokenDigest(token) != job.job_token_digest) {
    spdlog::warn("job token digest replaced: the admin token changed since submit job={}",
                 job.id);
    TANDEM_RETURN_IF_ERROR_CTX(context_.store.SetJobTokenDigest(job_id, JobTokenDigest(token)),
                               fmt::format("job {}", job_id));
  }
  spdlog::info("job admitted job={} repository={}", job.id, job.repository);
  TANDEM_RETURN_IF_ERROR(LaunchJob(context_, job, token));
  return true;
}

// Returns false when routing rejected the job, which then ends Failed.
Result<bool> AdmissionController::RouteStoredJob(store::Job& job) {
  Result<RouteChoice> route = Unavailable("no compute backend is configured");
  if (context_.backends != nullptr) {
    route = context_.backends->Route(job.spec.repository, job.spec.backend);
  }
  if (!route) {
    jobs::Event event = ApiEvent(job.id, "api-route-failed", jobs::SecondaryStatus::kFailed,
                                 fmt::format("cannot route the job: {}", route.error().message()));
    TANDEM_RETURN_IF_ERROR(ApplyAndLog(context_, event));
    return false;
  }
  TANDEM_RETURN_IF_ERROR(context_.store.SetBackend(job.id, route->backend, ""));
  job.backend = route->backend;
  return true;
}

Status AdmissionController::MarkQueued(const store::Job& job, const std::string& reason) {
  jobs::Event event = ApiEvent(job.id, jobs::AttemptEventId("api-queued", job.state.attempt),
                               jobs::SecondaryStatus::kPending,
                               fmt::format("waiting to start: {}", reason));
  event.attempt = job.state.attempt;
  TANDEM_ASSIGN_OR_RETURN(store::ApplyResult applied, ApplyAndLog(context_, event));
  if (!applied.duplicate && applied.verdict == jobs::Verdict::kAccepted) {
    spdlog::info("job queued job={} repository={} reason=\"{}\"", job.id, job.repository, reason);
  }
  return Ok();
}

void AdmissionController::Start(LeaderCheck is_leader, std::chrono::milliseconds interval) {
  if (thread_.joinable()) return;
  is_leader_ = std::move(is_leader);
  interval_ = interval;
  if (is_leader_) {
    leader_ = false;  // until the thread has asked
    shared_store_ = true;
  }
  thread_ = std::thread([this] { Loop(); });
}

void AdmissionController::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void AdmissionController::Loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    bool leader = is_leader_ ? is_leader_() : true;
    if (leader != leader_.exchange(leader)) {
      spdlog::info("admission leadership changed leader={}", leader);
    }
    if (leader) {
      Result<int> pass = RunPass();
      if (!pass) spdlog::error("admission pass failed error={}", pass.error().message());
    }
    lock.lock();
    wake_.wait_for(lock, interval_, [this] { return stopping_; });
  }
}

}  // namespace tandem::api
