#include "api/reconciler.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "api/end_cause.h"

namespace tandem::api {
namespace {

constexpr std::string_view kUploadEventPrefix = "api-package-uploaded-";
constexpr std::string_view kUploadKey = "UploadedModelPackage";
constexpr int kApplyAttempts = 3;

jobs::Event EndEvent(const store::Job& job, jobs::SecondaryStatus secondary, std::string message,
                     int64_t now_ms) {
  jobs::Event event;
  // The Describe was of the native id the listed job had, which is its
  // attempt's (Store::SetLaunch), so the event is about that attempt.
  event.event_id = jobs::AttemptEventId("reconciler-end", job.state.attempt);
  event.attempt = job.state.attempt;
  event.job_id = job.id;
  event.source = jobs::EventSource::kReconciler;
  event.observed_at_ms = now_ms;
  event.status = jobs::StatusOf(secondary);
  event.secondary_status = secondary;
  event.message = std::move(message);
  return event;
}

std::string FailureReason(const backends::Observation& observation) {
  if (!observation.reason.empty()) return observation.reason;
  if (observation.exit_code) return fmt::format("process exited with code {}", *observation.exit_code);
  return "process failed";
}

}  // namespace

jobs::Event PackageUploadedEvent(const std::string& job_id, const registry::ArtifactInfo& package,
                                 int64_t now_ms) {
  jobs::Event event;
  std::string_view hex = package.digest;
  if (hex.starts_with("sha256:")) hex.remove_prefix(7);
  event.event_id = fmt::format("{}{}", kUploadEventPrefix, hex.substr(0, 32));
  event.job_id = job_id;
  event.source = jobs::EventSource::kApi;
  event.observed_at_ms = now_ms;
  event.message = "model package uploaded";
  event.details = {{std::string(kUploadKey),
                    {{"Digest", package.digest}, {"SizeBytes", package.size_bytes}}}};
  return event;
}

std::optional<jobs::ModelPackageRef> UploadedPackage(
    const std::vector<store::StoredEvent>& events) {
  std::optional<jobs::ModelPackageRef> found;
  for (const store::StoredEvent& stored : events) {
    const jobs::Event& event = stored.event;
    if (event.source != jobs::EventSource::kApi || !event.event_id.starts_with(kUploadEventPrefix))
      continue;
    auto it = event.details.find(kUploadKey);
    if (it == event.details.end() || !it->is_object()) continue;
    const Json& package = *it;
    if (!package.contains("Digest") || !package["Digest"].is_string() ||
        !package.contains("SizeBytes") || !package["SizeBytes"].is_number_integer())
      continue;
    found = jobs::ModelPackageRef{.digest = package["Digest"].get<std::string>(),
                                  .size_bytes = package["SizeBytes"].get<int64_t>()};
  }
  return found;
}

std::optional<jobs::Event> ReconcilerEvent(const store::Job& job,
                                           const backends::Observation& observation,
                                           const std::optional<jobs::ModelPackageRef>& uploaded,
                                           int64_t now_ms) {
  using backends::ObservedState;
  using jobs::SecondaryStatus;
  bool ended = observation.state == ObservedState::kSucceeded ||
               observation.state == ObservedState::kFailed ||
               observation.state == ObservedState::kGone;
  if (!ended || jobs::IsTerminal(job.state.status)) return std::nullopt;
  if (job.state.status == jobs::JobStatus::kStopping) {
    return EndEvent(job, SecondaryStatus::kStopped, "stopped: process no longer running", now_ms);
  }
  switch (observation.state) {
    case ObservedState::kSucceeded: {
      if (!uploaded) {
        return EndEvent(job, SecondaryStatus::kFailed,
                        "process exited with code 0 but never reported completion", now_ms);
      }
      jobs::Event event = EndEvent(
          job, SecondaryStatus::kCompleted,
          "process exited with code 0; its Completed event was lost, completed from the "
          "uploaded model package",
          now_ms);
      event.details = {{"ModelPackage",
                        {{"Digest", uploaded->digest}, {"SizeBytes", uploaded->size_bytes}}}};
      return event;
    }
    case ObservedState::kFailed:
      if (std::optional<CauseEnding> ending = EndingForCause(job, observation)) {
        return EndEvent(job, ending->secondary, std::move(ending->message), now_ms);
      }
      return EndEvent(job, SecondaryStatus::kFailed, FailureReason(observation), now_ms);
    default:
      return EndEvent(job, SecondaryStatus::kFailed, "process no longer running", now_ms);
  }
}

Reconciler::Reconciler(ReconcilerOptions options, store::Store& store, backends::Backend& backend,
                       const Clock& clock, LeaderCheck is_leader)
    : Reconciler(
          options, store,
          [&backend](std::string_view) {
            // Not owned: the caller keeps `backend` alive.
            return std::shared_ptr<backends::Backend>(&backend, [](backends::Backend*) {});
          },
          clock, std::move(is_leader)) {}

Reconciler::Reconciler(ReconcilerOptions options, store::Store& store, BackendLookup lookup,
                       const Clock& clock, LeaderCheck is_leader)
    : options_(options),
      store_(store),
      lookup_(std::move(lookup)),
      clock_(clock),
      is_leader_(std::move(is_leader)) {}

Reconciler::~Reconciler() { Stop(); }

int64_t Reconciler::unavailable_total() const {
  std::lock_guard lock(mutex_);
  return unavailable_total_;
}

Result<bool> Reconciler::ReconcileJob(const store::Job& job, ReconcilePass& pass) {
  ++pass.examined;
  std::shared_ptr<backends::Backend> backend = lookup_(job.backend);
  if (backend == nullptr) {
    ++pass.unavailable;
    spdlog::warn("reconciler cannot query a job's backend: it is not configured job={} backend={}",
                 job.id, job.backend);
    return false;
  }
  Result<backends::Observation> observed = backend->Describe(job.native_id);
  if (!observed || observed->state == backends::ObservedState::kUnknown) {
    ++pass.unavailable;
    spdlog::warn("reconciler backend describe failed job={} native_id={} error={}",
                 job.id, job.native_id,
                 observed ? "backend returned Unknown" : observed.error().message());
    return false;
  }
  std::optional<jobs::ModelPackageRef> uploaded;
  if (observed->state == backends::ObservedState::kSucceeded) {
    TANDEM_ASSIGN_OR_RETURN(std::vector<store::StoredEvent> events, store_.ListEvents(job.id));
    uploaded = UploadedPackage(events);
  }
  std::optional<jobs::Event> event =
      ReconcilerEvent(job, *observed, uploaded, clock_.NowMillis());
  if (!event) return false;

  Result<store::ApplyResult> applied = store_.ApplyEvent(*event, clock_.NowMillis());
  for (int attempt = 1; attempt < kApplyAttempts && !applied &&
                        applied.error().code() == ErrorCode::kAborted;
       ++attempt) {
    applied = store_.ApplyEvent(*event, clock_.NowMillis());
  }
  if (!applied) return std::unexpected(applied.error());
  bool ended = !applied->duplicate && applied->verdict == jobs::Verdict::kAccepted;
  if (ended && !jobs::IsTerminal(applied->job.state.status)) {
    spdlog::info("reconciler retried an interrupted job job={} attempt={} message={}", job.id,
                 applied->job.state.attempt, event->message);
  } else if (ended) {
    spdlog::info("reconciler ended a job job={} backend_state={} status={} message={}", job.id,
                 backends::Name(observed->state), jobs::Name(applied->job.state.status),
                 event->message);
  }
  if (applied->registered) {
    spdlog::info("model version registered model={} version={} job={} digest={}",
                 applied->registered->model_name, applied->registered->version, job.id,
                 applied->registered->package_digest);
  }
  return ended;
}

Result<ReconcilePass> Reconciler::RunOnce() {
  TANDEM_ASSIGN_OR_RETURN(std::vector<store::Job> jobs, store_.ListNonTerminalJobs());
  ReconcilePass pass;
  int64_t now = clock_.NowMillis();
  int64_t quiet_ms = std::chrono::duration_cast<std::chrono::milliseconds>(options_.quiet).count();
  for (const store::Job& job : jobs) {
    // A job without a native id may still be launching, so it is skipped.
    if (job.native_id.empty() || now - job.last_event_ms < quiet_ms) continue;
    Result<bool> ended = ReconcileJob(job, pass);
    if (!ended) {
      spdlog::error("reconciler failed on a job job={} error={}", job.id,
                    ended.error().message());
    } else if (*ended) {
      ++pass.ended;
    }
  }
  std::lock_guard lock(mutex_);
  unavailable_total_ += pass.unavailable;
  return pass;
}

void Reconciler::Start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { Loop(); });
}

void Reconciler::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void Reconciler::Loop() {
  spdlog::info("reconciler started interval_seconds={} quiet_seconds={}",
               options_.interval.count(), options_.quiet.count());
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, options_.interval, [this] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    if (!is_leader_ || is_leader_()) {
      Result<ReconcilePass> pass = RunOnce();
      if (!pass) {
        spdlog::error("reconciler pass failed error={}", pass.error().message());
      } else if (pass->examined > 0) {
        spdlog::info("reconciler pass examined={} ended={} unavailable={}", pass->examined,
                     pass->ended, pass->unavailable);
      }
    }
    lock.lock();
  }
}

}  // namespace tandem::api
