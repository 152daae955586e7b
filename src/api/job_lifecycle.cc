#include "api/job_lifecycle.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "api/reconciler.h"
#include "api/admission_controller.h"
#include "api/end_cause.h"
#include "api/warm_pool.h"
#include "common/crypto.h"

namespace tandem::api {
namespace {

constexpr int kApplyAttempts = 3;

jobs::Event MakeEvent(const std::string& job_id, std::string event_id, jobs::EventSource source,
                      jobs::SecondaryStatus secondary, std::string message, int64_t now_ms,
                      std::optional<int64_t> attempt = std::nullopt) {
  jobs::Event event;
  event.event_id = std::move(event_id);
  event.job_id = job_id;
  event.source = source;
  event.observed_at_ms = now_ms;
  event.status = jobs::StatusOf(secondary);
  event.secondary_status = secondary;
  event.message = std::move(message);
  event.attempt = attempt;
  return event;
}

// Returns an event about the job's current attempt, with that attempt's id
// (jobs::AttemptEventId).
jobs::Event AttemptEvent(const store::Job& job, std::string_view event_id,
                         jobs::SecondaryStatus secondary, std::string message, int64_t now_ms) {
  int64_t attempt = job.state.attempt;
  return MakeEvent(job.id, jobs::AttemptEventId(event_id, attempt), jobs::EventSource::kBackend,
                   secondary, std::move(message), now_ms, attempt);
}

backends::LaunchRequest MakeLaunchRequest(const ApiContext& context, const store::Job& job,
                                          const std::string& job_token) {
  const jobs::JobSpec& spec = job.spec;
  backends::LaunchRequest request;
  request.job_id = job.id;
  request.job_name = job.name;
  request.repository = job.repository;
  request.api_url = context.api_url();
  request.job_token = job_token;
  request.attempt = job.state.attempt;
  request.job_dir = backends::AttemptDir(context.jobs_dir(), job.id, job.state.attempt);
  request.cpu_count = static_cast<int>(spec.resources.cpu_count.value_or(request.cpu_count));
  request.memory_mib = spec.resources.memory_mib.value_or(0);
  request.max_runtime_seconds = spec.max_runtime_s;
  request.environment = spec.environment;
  request.spec_json = DumpJson(jobs::JobSpecToJson(spec));
  return request;
}

// Records a launch that did not happen as the job's failure.
Result<store::Job> RecordLaunchFailure(ApiContext& context, const store::Job& job,
                                       const Error& error) {
  spdlog::error("job launch failed job={} attempt={} error={}", job.id, job.state.attempt,
                error.message());
  jobs::Event event =
      AttemptEvent(job, "launch-failed", jobs::SecondaryStatus::kFailed,
                   fmt::format("launch failed: {}", error.message()), context.clock.NowMillis());
  TANDEM_ASSIGN_OR_RETURN(store::ApplyResult result, ApplyAndLog(context, event));
  return result.job;
}

// Records that the job's backend could not be reached: the job stays InProgress
// without a native id, which the admission controller's next pass launches
// again. The event id is fixed per attempt, so repeated launches add no events.
Result<store::Job> RecordBackendUnavailable(ApiContext& context, const store::Job& job,
                                            const Error& error) {
  spdlog::warn("backend unavailable, launch will be retried job={} backend={} error={}", job.id,
               job.backend, error.message());
  jobs::Event event = AttemptEvent(
      job, "launch-unavailable", jobs::SecondaryStatus::kPending,
      fmt::format("waiting to start: backend {} could not be reached, the launch is retried ({})",
                  job.backend, error.message()),
      context.clock.NowMillis());
  TANDEM_ASSIGN_OR_RETURN(store::ApplyResult result, ApplyAndLog(context, event));
  return result.job;
}

// Returns the job with its backend: the stored one, or for a row stored
// without one (by a control plane older than routing) the routed one, stored
// now. Errors: those of routing (the caller records them as the launch's
// failure) and of the store.
Result<store::Job> RouteIfUnrouted(ApiContext& context, const store::Job& stored) {
  store::Job job = stored;
  if (!job.backend.empty() || context.backends == nullptr) return job;
  TANDEM_ASSIGN_OR_RETURN(RouteChoice route,
                          context.backends->Route(job.repository, job.spec.backend));
  TANDEM_RETURN_IF_ERROR(context.store.SetBackend(job.id, route.backend, ""));
  job.backend = route.backend;
  return job;
}

}  // namespace

std::shared_ptr<backends::Backend> FindBackend(const ApiContext& context, std::string_view name) {
  if (context.backends == nullptr) return nullptr;
  return context.backends->Find(name);
}

Result<store::ApplyResult> ApplyAndLog(ApiContext& context, const jobs::Event& event) {
  Result<store::ApplyResult> result = context.store.ApplyEvent(event, context.clock.NowMillis());
  for (int attempt = 1; attempt < kApplyAttempts && !result &&
                        result.error().code() == ErrorCode::kAborted;
       ++attempt) {
    spdlog::warn("event apply lost a race, retrying job={} event={} attempt={}", event.job_id,
                 event.event_id, attempt + 1);
    result = context.store.ApplyEvent(event, context.clock.NowMillis());
  }
  if (!result) return result;

  const store::Job& job = result->job;
  if (result->duplicate) {
    spdlog::debug("duplicate event dropped job={} event={}", job.id, event.event_id);
  } else if (result->verdict == jobs::Verdict::kRejected) {
    spdlog::debug("event rejected job={} event={} reason={}", job.id, event.event_id,
                  result->reason);
  }
  if (result->registered) {
    spdlog::info("model version registered model={} version={} job={} digest={}",
                 result->registered->model_name, result->registered->version, job.id,
                 result->registered->package_digest);
  }
  // A job that ended frees capacity for the next waiting job.
  if (!result->duplicate && result->verdict == jobs::Verdict::kAccepted &&
      jobs::IsTerminal(job.state.status) && context.admission != nullptr) {
    context.admission->OnJobEnded();
  }
  // A retried job waits without a native id; a pass launches its next attempt
  // now instead of at the admission controller's next interval.
  if (!result->duplicate && result->verdict == jobs::Verdict::kAccepted &&
      job.state.secondary_status == jobs::SecondaryStatus::kRestarting) {
    spdlog::info("job retried after an interruption job={} attempt={} max_retry_attempts={}",
                 job.id, job.state.attempt, job.spec.max_retry_attempts.value_or(0));
    if (context.admission != nullptr) {
      Result<int> pass = context.admission->RunPass();
      if (!pass) spdlog::error("admission pass failed error={}", pass.error().message());
    }
  }
  // A backend without an exit callback learns of the end here, so the warm
  // pool can keep its worker and mark a lent one reused.
  if (!result->duplicate && result->verdict == jobs::Verdict::kAccepted &&
      jobs::IsTerminal(job.state.status) && context.warm_pool != nullptr) {
    std::shared_ptr<backends::Backend> backend = FindBackend(context, job.backend);
    if (backend != nullptr && !backend->ReportsExits()) context.warm_pool->OnJobEnded(job.id);
  }
  return result;
}

Result<store::Job> LaunchJob(ApiContext& context, const store::Job& stored,
                             const std::string& job_token) {
  Result<store::Job> routed = RouteIfUnrouted(context, stored);
  if (!routed) return RecordLaunchFailure(context, stored, routed.error());
  const store::Job& job = *routed;
  std::shared_ptr<backends::Backend> backend = FindBackend(context, job.backend);
  if (backend == nullptr) {
    return RecordLaunchFailure(
        context, job,
        Error(ErrorCode::kInternal, fmt::format("backend \"{}\" is not configured", job.backend)));
  }
  backends::LaunchRequest request = MakeLaunchRequest(context, job, job_token);
  Result<backends::LaunchInfo> launched = context.warm_pool != nullptr
                                              ? context.warm_pool->Launch(backend, job, request)
                                              : backend->Launch(request);
  if (!launched && launched.error().code() == ErrorCode::kUnavailable) {
    return RecordBackendUnavailable(context, job, launched.error());
  }
  if (!launched) return RecordLaunchFailure(context, job, launched.error());

  Status recorded =
      context.store.SetLaunch(job.id, request.attempt, job.backend, launched->native_id);
  if (!recorded && recorded.error().code() == ErrorCode::kFailedPrecondition) {
    // The attempt ended and was retried before its launch was recorded: its
    // end was reported already, and the next attempt is launched on its own.
    spdlog::warn("launch of an earlier attempt not recorded job={} error={}", job.id,
                 recorded.error().message());
    return context.store.GetJob(job.id);
  }
  TANDEM_RETURN_IF_ERROR(recorded);
  spdlog::info("job launched job={} attempt={} backend={} native_id={}", job.id, request.attempt,
               job.backend, launched->native_id);

  // A stop request that came in while Launch ran found no native id to stop,
  // so the process is stopped here.
  TANDEM_ASSIGN_OR_RETURN(store::Job current, context.store.GetJob(job.id));
  if (current.state.status != jobs::JobStatus::kInProgress) {
    Status stopped = backend->Stop(launched->native_id, context.options.stop_grace);
    if (!stopped) {
      spdlog::warn("stop after launch failed job={} error={}", job.id, stopped.error().message());
    }
  }
  return current;
}

Result<store::Job> StopJob(ApiContext& context, const std::string& job_id) {
  TANDEM_ASSIGN_OR_RETURN(store::Job job, context.store.GetJob(job_id));
  if (jobs::IsTerminal(job.state.status)) {
    return FailedPrecondition(fmt::format("job {} has already ended: {}", job_id,
                                          jobs::Name(job.state.status)));
  }
  std::shared_ptr<backends::Backend> backend = FindBackend(context, job.backend);
  if (!job.native_id.empty() && backend == nullptr) {
    return FailedPrecondition(fmt::format(
        "job {} runs on backend \"{}\", which is not in the routing configuration; add it back "
        "to stop the job",
        job_id, job.backend));
  }

  // Step 1: record the request, so the job reads Stopping whatever the backend does.
  jobs::Event request = MakeEvent(job_id, "api-stop-" + RandomHex(8), jobs::EventSource::kApi,
                                  jobs::SecondaryStatus::kStopping, "stop requested",
                                  context.clock.NowMillis());
  TANDEM_ASSIGN_OR_RETURN(store::ApplyResult applied, ApplyAndLog(context, request));
  if (applied.verdict == jobs::Verdict::kRejected) {
    return FailedPrecondition(fmt::format("job {} cannot be stopped: {}", job_id, applied.reason));
  }
  spdlog::info("job stop requested job={}", job_id);

  // Step 2: a job without a process ends at once; otherwise the backend's exit
  // report (or the runtime's own Stopped event) ends it.
  if (job.native_id.empty()) {
    jobs::Event stopped = MakeEvent(job_id, "api-stopped-before-launch", jobs::EventSource::kApi,
                                    jobs::SecondaryStatus::kStopped,
                                    "stopped before the job was launched",
                                    context.clock.NowMillis());
    TANDEM_ASSIGN_OR_RETURN(store::ApplyResult ended, ApplyAndLog(context, stopped));
    return ended.job;
  }
  Status sent = backend->Stop(job.native_id, context.options.stop_grace);
  if (!sent && sent.error().code() == ErrorCode::kNotFound) {
    jobs::Event gone = MakeEvent(
        job_id, "backend-stop-not-found", jobs::EventSource::kBackend,
        jobs::SecondaryStatus::kStopped,
        fmt::format("stopped: the backend has no record of {}", job.native_id),
        context.clock.NowMillis());
    TANDEM_ASSIGN_OR_RETURN(store::ApplyResult ended, ApplyAndLog(context, gone));
    return ended.job;
  }
  if (!sent) {
    // The job stays Stopping until the reconciler queries the backend.
    spdlog::warn("backend stop failed job={} native_id={} error={}", job_id, job.native_id,
                 sent.error().message());
  }
  return applied.job;
}

jobs::Event ExitEvent(const store::Job& job, const backends::Observation& observation,
                      int64_t now_ms) {
  int64_t attempt = observation.attempt.value_or(job.state.attempt);
  std::string event_id = jobs::AttemptEventId("backend-exit", attempt);
  if (job.state.status == jobs::JobStatus::kStopping) {
    return MakeEvent(job.id, event_id, jobs::EventSource::kBackend,
                     jobs::SecondaryStatus::kStopped, "stopped: process exited", now_ms, attempt);
  }
  if (std::optional<CauseEnding> ending = EndingForCause(job, observation)) {
    return MakeEvent(job.id, event_id, jobs::EventSource::kBackend, ending->secondary,
                     std::move(ending->message), now_ms, attempt);
  }
  std::string reason;
  if (observation.exit_code) {
    reason = fmt::format("process exited with code {} before reporting completion",
                         *observation.exit_code);
  } else if (!observation.reason.empty()) {
    reason = observation.reason;
  } else {
    reason = fmt::format("process ended ({}) before reporting completion",
                         backends::Name(observation.state));
  }
  return MakeEvent(job.id, event_id, jobs::EventSource::kBackend, jobs::SecondaryStatus::kFailed,
                   std::move(reason), now_ms, attempt);
}

Status RecordProcessExit(ApiContext& context, const std::string& job_id,
                         const backends::Observation& observation) {
  TANDEM_ASSIGN_OR_RETURN(store::Job job, context.store.GetJob(job_id));
  if (jobs::IsTerminal(job.state.status)) return Ok();
  jobs::Event event = ExitEvent(job, observation, context.clock.NowMillis());

  // Exit code 0 after an upload means the runtime finished but its Completed
  // event was lost, so the uploaded package completes the job, as the
  // reconciler does.
  if (observation.state == backends::ObservedState::kSucceeded &&
      job.state.status == jobs::JobStatus::kInProgress) {
    TANDEM_ASSIGN_OR_RETURN(std::vector<store::StoredEvent> events,
                            context.store.ListEvents(job_id));
    if (std::optional<jobs::ModelPackageRef> uploaded = UploadedPackage(events)) {
      std::optional<jobs::Event> completed =
          ReconcilerEvent(job, observation, uploaded, context.clock.NowMillis());
      if (completed) {
        event.secondary_status = completed->secondary_status;
        event.status = completed->status;
        event.message = completed->message;
        event.details = completed->details;
      }
    }
  }
  TANDEM_RETURN_IF_ERROR(ApplyAndLog(context, event));
  return Ok();
}

namespace {

// Returns true when the job was ended.
Result<bool> ReconcileJob(ApiContext& context, const store::Job& job) {
  // A job without a native id waits in the queue, or its launch is under way;
  // the admission controller launches it.
  if (job.native_id.empty()) return false;
  std::shared_ptr<backends::Backend> backend = FindBackend(context, job.backend);
  if (backend == nullptr) {
    spdlog::warn("cannot query a job's backend: it is not configured job={} backend={}", job.id,
                 job.backend);
    return false;
  }
  Result<backends::Observation> observed = backend->Describe(job.native_id);
  if (!observed) {
    spdlog::warn("cannot query the backend about a job job={} native_id={} error={}", job.id,
                 job.native_id, observed.error().message());
    return false;
  }
  // The native id belongs to the attempt the job was on when it was listed.
  if (!observed->attempt) observed->attempt = job.state.attempt;
  bool ended = observed->state == backends::ObservedState::kSucceeded ||
               observed->state == backends::ObservedState::kFailed ||
               observed->state == backends::ObservedState::kGone;
  if (!ended) return false;
  TANDEM_RETURN_IF_ERROR(RecordProcessExit(context, job.id, *observed));
  return true;
}

}  // namespace

Result<int> ReconcileNonTerminalJobs(ApiContext& context) {
  if (context.backends == nullptr) return 0;
  TANDEM_ASSIGN_OR_RETURN(std::vector<store::Job> jobs, context.store.ListNonTerminalJobs());
  int ended = 0;
  for (const store::Job& job : jobs) {
    Result<bool> result = ReconcileJob(context, job);
    if (!result) {
      spdlog::error("cannot reconcile job job={} error={}", job.id, result.error().message());
    } else if (*result) {
      ++ended;
    }
  }
  return ended;
}

}  // namespace tandem::api
