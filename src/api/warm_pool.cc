#include "api/warm_pool.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <vector>

namespace tandem::api {
namespace {

using jobs::WarmPoolStatus;

// Returns the reason a job keeps no worker, or "" when it keeps one.
Result<std::string> ReasonNotKept(store::Store& store, const store::Job& job) {
  if (job.spec.resources.keep_alive_period_s <= 0) return std::string("KeepAlivePeriodInSeconds is 0");
  if (!jobs::IsTerminal(job.state.status)) return std::string("the job has not ended");
  if (job.warm_pool) return std::string("the job already has a warm pool status");
  if (job.state.status != jobs::JobStatus::kFailed) return std::string();
  TANDEM_ASSIGN_OR_RETURN(std::vector<store::StoredEvent> events, store.ListEvents(job.id));
  if (EndedByPlatformFailure(job, events)) return std::string("the job failed on the platform");
  return std::string();
}

}  // namespace

bool EndedByPlatformFailure(const store::Job& job, const std::vector<store::StoredEvent>& events) {
  if (job.state.status != jobs::JobStatus::kFailed) return false;
  // The source of the accepted event that ended the job is who saw it fail.
  for (auto it = events.rbegin(); it != events.rend(); ++it) {
    const jobs::Event& event = it->event;
    if (it->verdict != jobs::Verdict::kAccepted || !event.status) continue;
    if (*event.status != jobs::JobStatus::kFailed) continue;
    return event.source != jobs::EventSource::kRuntime;
  }
  return true;  // no accepted Failed event: nothing vouches for the worker
}

WarmPool::WarmPool(store::Store& store, BackendLookup lookup, const Clock& clock,
                   std::filesystem::path jobs_dir)
    : store_(store), lookup_(std::move(lookup)), clock_(clock), jobs_dir_(std::move(jobs_dir)) {}

WarmPool::~WarmPool() {
  {
    std::lock_guard lock(sweeper_mutex_);
    stopping_ = true;
  }
  sweeper_wake_.notify_all();
  if (sweeper_.joinable()) sweeper_.join();
}

Status WarmPool::Move(const std::string& job_id, WarmPoolStatus from,
                      const jobs::WarmPoolState& to) {
  Status moved = store_.SetWarmPool(job_id, from, to);
  if (moved) {
    spdlog::info("warm pool status changed job={} from={} to={} reused_by={}", job_id,
                 jobs::Name(from), jobs::Name(to.status), to.reused_by_job);
  }
  return moved;
}

std::optional<WarmPool::Kept> WarmPool::TakeMatching(const backends::Backend& backend,
                                                     const jobs::MatchKey& key) {
  std::vector<Kept> dead;
  std::optional<Kept> found;
  {
    std::lock_guard lock(mutex_);
    for (auto it = kept_.begin(); it != kept_.end() && !found;) {
      Kept& kept = it->second;
      if (kept.backend.get() != &backend || kept.key != key) {
        ++it;
        continue;
      }
      // Taken out of the pool first, so neither expiry nor another job can
      // act on it while it is checked.
      Kept candidate = std::move(kept);
      it = kept_.erase(it);
      if (candidate.backend->WarmWorkerAlive(candidate.worker_id)) {
        found = std::move(candidate);
      } else {
        dead.push_back(std::move(candidate));
      }
    }
  }
  for (const Kept& kept : dead) {
    Release(kept, clock_.NowMillis(), "its worker exited while waiting");
  }
  return found;
}

Result<backends::LaunchInfo> WarmPool::Launch(const std::shared_ptr<backends::Backend>& backend,
                                              const store::Job& job,
                                              const backends::LaunchRequest& request) {
  jobs::MatchKey key = jobs::MatchKeyOf(job.spec, backend->WarmImage());
  std::optional<Kept> kept = TakeMatching(*backend, key);
  if (!kept) return backend->Launch(request);

  // Step 1: the owner's worker is now this job's; billing for it stops. The
  // store learns it after the hand-off, which its write would otherwise
  // delay; `recording` makes the job's end wait for that write.
  jobs::WarmPoolState in_use = kept->state;
  in_use.status = WarmPoolStatus::kInUse;
  in_use.reused_by_job = job.id;
  in_use.released_ms = clock_.NowMillis();
  auto recording = std::make_shared<std::mutex>();
  std::unique_lock recorded(*recording);
  {
    std::lock_guard lock(mutex_);
    lent_[job.id] = Lent{kept->owner_job_id, in_use, recording};
  }

  // Step 2: the hand-off; a failed one ends the kept worker and the job starts cold.
  Result<backends::LaunchInfo> launched = backend->LaunchOnWarmWorker(kept->worker_id, request);
  if (!launched) {
    spdlog::warn("hand-off to a kept worker failed, starting cold job={} owner={} error={}",
                 job.id, kept->owner_job_id, launched.error().message());
    {
      std::lock_guard lock(mutex_);
      lent_.erase(job.id);
    }
    jobs::WarmPoolState terminated = in_use;
    terminated.status = WarmPoolStatus::kTerminated;
    if (Status moved = Move(kept->owner_job_id, WarmPoolStatus::kAvailable, terminated); !moved) {
      spdlog::error("cannot mark a kept worker terminated job={} error={}", kept->owner_job_id,
                    moved.error().message());
    }
    return backend->Launch(request);
  }

  // Step 3: the move to InUse. The job runs on the worker even if this store update fails.
  if (Status moved = Move(kept->owner_job_id, WarmPoolStatus::kAvailable, in_use); !moved) {
    spdlog::error("cannot mark a kept worker in use job={} reused_by={} error={}",
                  kept->owner_job_id, job.id, moved.error().message());
  }
  spdlog::info("job started on a kept worker job={} owner={} worker={}", job.id,
               kept->owner_job_id, kept->worker_id);
  return launched;
}

void WarmPool::ReturnLent(const std::string& job_id) {
  std::optional<Lent> lent;
  {
    std::lock_guard lock(mutex_);
    auto it = lent_.find(job_id);
    if (it == lent_.end()) return;
    lent = std::move(it->second);
    lent_.erase(it);
  }
  // A job that ended during its own hand-off waits until InUse is stored.
  std::lock_guard recorded(*lent->recording);
  jobs::WarmPoolState reused = lent->state;
  reused.status = WarmPoolStatus::kReused;
  if (Status moved = Move(lent->owner_job_id, WarmPoolStatus::kInUse, reused); !moved) {
    spdlog::error("cannot mark a kept worker reused job={} reused_by={} error={}",
                  lent->owner_job_id, job_id, moved.error().message());
  }
}

void WarmPool::Keep(const store::Job& job) {
  Result<std::string> not_kept = ReasonNotKept(store_, job);
  if (!not_kept) {
    spdlog::error("cannot decide whether to keep a job's worker job={} error={}", job.id,
                  not_kept.error().message());
    return;
  }
  if (!not_kept->empty()) {
    if (job.spec.resources.keep_alive_period_s > 0) {
      spdlog::info("worker not kept job={} reason=\"{}\"", job.id, *not_kept);
    }
    return;
  }
  std::shared_ptr<backends::Backend> backend = lookup_(job.backend);
  if (backend == nullptr) {
    spdlog::warn("worker not kept job={} reason=\"backend {} is not configured\"", job.id,
                 job.backend);
    return;
  }

  // The image is read before the worker starts, so a binary replaced in
  // between makes the key stale rather than wrong.
  std::string image = backend->WarmImage();

  // Step 1: the worker, then the status; a status that cannot be stored
  // takes the worker down again.
  Result<std::string> worker = backend->StartWarmWorker(
      job.id, backends::AttemptDir(jobs_dir_, job.id, job.state.attempt));
  if (!worker) {
    spdlog::warn("worker not kept job={} error={}", job.id, worker.error().message());
    return;
  }
  const int64_t now = clock_.NowMillis();
  jobs::WarmPoolState available{
      .status = WarmPoolStatus::kAvailable,
      .retained_ms = now,
      .expires_ms = now + job.spec.resources.keep_alive_period_s * 1000,
  };
  if (Status stored = store_.SetWarmPool(job.id, std::nullopt, available); !stored) {
    spdlog::error("cannot record a kept worker job={} error={}", job.id, stored.error().message());
    backend->TerminateWarmWorker(*worker);
    return;
  }
  spdlog::info("worker kept job={} worker={} keep_alive_s={}", job.id, *worker,
               job.spec.resources.keep_alive_period_s);

  // Step 2: only now may a matching job take it.
  std::lock_guard lock(mutex_);
  kept_[job.id] = Kept{
      .owner_job_id = job.id,
      .backend = std::move(backend),
      .worker_id = *worker,
      .key = jobs::MatchKeyOf(job.spec, image),
      .state = available,
  };
}

void WarmPool::OnJobEnded(const std::string& job_id) {
  ReturnLent(job_id);
  Result<store::Job> job = store_.GetJob(job_id);
  if (!job) {
    spdlog::error("cannot read an ended job for the warm pool job={} error={}", job_id,
                  job.error().message());
    return;
  }
  Keep(*job);
}

void WarmPool::Release(const Kept& kept, int64_t released_ms, std::string_view reason) {
  kept.backend->TerminateWarmWorker(kept.worker_id);
  jobs::WarmPoolState terminated = kept.state;
  terminated.status = WarmPoolStatus::kTerminated;
  terminated.released_ms = released_ms;
  spdlog::info("kept worker released job={} worker={} reason=\"{}\"", kept.owner_job_id,
               kept.worker_id, reason);
  if (Status moved = Move(kept.owner_job_id, WarmPoolStatus::kAvailable, terminated); !moved) {
    spdlog::error("cannot mark a kept worker terminated job={} error={}", kept.owner_job_id,
                  moved.error().message());
  }
}

int WarmPool::Sweep() {
  const int64_t now = clock_.NowMillis();
  std::vector<Kept> expired;
  std::vector<Kept> dead;
  {
    std::lock_guard lock(mutex_);
    for (auto it = kept_.begin(); it != kept_.end();) {
      Kept& kept = it->second;
      bool is_expired = now >= kept.state.expires_ms;
      bool is_dead = !is_expired && !kept.backend->WarmWorkerAlive(kept.worker_id);
      if (!is_expired && !is_dead) {
        ++it;
        continue;
      }
      (is_expired ? expired : dead).push_back(std::move(kept));
      it = kept_.erase(it);
    }
  }
  // Billing ends at the expiry time itself, however late the sweep runs.
  for (const Kept& kept : expired) {
    Release(kept, kept.state.expires_ms, "KeepAlivePeriodInSeconds ended");
  }
  for (const Kept& kept : dead) Release(kept, now, "its worker exited while waiting");
  return static_cast<int>(expired.size() + dead.size());
}

void WarmPool::TerminateAll() {
  std::map<std::string, Kept> all;
  {
    std::lock_guard lock(mutex_);
    all.swap(kept_);
  }
  const int64_t now = clock_.NowMillis();
  for (const auto& [owner, kept] : all) Release(kept, now, "the control plane is shutting down");
}

Status WarmPool::RecoverAtStartup() {
  const int64_t now = clock_.NowMillis();
  for (WarmPoolStatus status : {WarmPoolStatus::kAvailable, WarmPoolStatus::kInUse}) {
    std::string page_token;
    do {
      TANDEM_ASSIGN_OR_RETURN(store::JobPage page,
                              store_.ListJobs({.warm_pool_status = status,
                                               .page_size = store::kMaxPageSize,
                                               .page_token = page_token}));
      for (const store::Job& job : page.jobs) {
        jobs::WarmPoolState next = *job.warm_pool;
        next.status = status == WarmPoolStatus::kAvailable ? WarmPoolStatus::kTerminated
                                                           : WarmPoolStatus::kReused;
        if (!next.released_ms) next.released_ms = now;
        TANDEM_RETURN_IF_ERROR(Move(job.id, status, next));
      }
      page_token = page.next_page_token;
    } while (!page_token.empty());
  }
  return Ok();
}

void WarmPool::StartSweeper(std::chrono::milliseconds interval) {
  sweeper_ = std::thread([this, interval] {
    std::unique_lock lock(sweeper_mutex_);
    while (!sweeper_wake_.wait_for(lock, interval, [this] { return stopping_; })) {
      lock.unlock();
      Sweep();
      lock.lock();
    }
  });
}

size_t WarmPool::AvailableCount() {
  std::lock_guard lock(mutex_);
  return kept_.size();
}

}  // namespace tandem::api
