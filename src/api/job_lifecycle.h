// The control plane's own moves in a job's life: launching it on the
// backend, stopping it, and turning the end of its process into an event.
// Internal to src/api. Each function is safe to call from any thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "api/api_context.h"

namespace tandem::api {

// Returns the backend instance named `name` (Store's Job::backend), or
// nullptr when no backend of that name is configured or retired.
std::shared_ptr<backends::Backend> FindBackend(const ApiContext& context, std::string_view name);

// Launches the job's current attempt on its backend with its job token. The
// backend is job.backend, chosen and stored at submit; a job stored without
// one is routed first. Records the backend's native id with Store::SetLaunch,
// which skips the launch of an attempt that was retried meanwhile.
// A backend that cannot be reached (kUnavailable) leaves the job
// InProgress/Pending without a native id, so the admission controller's next
// pass retries the launch. Any other launch failure is recorded as a Failed
// "backend" event naming the reason, so the job is never lost, and neither
// case is an error here. When a stop request arrived during the launch, the
// launched process is stopped at once. Returns the job as it is afterwards.
// Errors: those of the store.
Result<store::Job> LaunchJob(ApiContext& context, const store::Job& job,
                             const std::string& job_token);

// Records a stop request (an "api" event to Stopping) and requests the job's
// backend to stop the process with the configured grace. A job never launched
// goes straight to Stopped. Returns the job after the request.
// Errors: kFailedPrecondition when the job has already ended or its backend
// is no longer configured; kNotFound for an unknown job; those of the store.
Result<store::Job> StopJob(ApiContext& context, const std::string& job_id);

// Returns the event the backend posts when a job's process ended while the
// job had not: Stopped/Stopped "stopped: process exited" for a Stopping job,
// else the ending of the observation's end cause (api/end_cause.h) when it
// names one, else Failed/Failed with a reason built from `observation`.
// The event is about the observation's attempt, or the job's current one
// when the observation names none. Its id is "backend-exit" of that attempt
// (jobs::AttemptEventId), so a repeated report is dropped as a duplicate. The
// state machine rejects the report of an attempt that was retried meanwhile.
jobs::Event ExitEvent(const store::Job& job, const backends::Observation& observation,
                      int64_t now_ms);

// Records ExitEvent for a job that is InProgress or Stopping; leaves a job
// that already ended alone. A job InProgress whose process exited with code 0
// after uploading its model package ends Completed with that package instead
// (its Completed event was lost). Errors: those of the store.
Status RecordProcessExit(ApiContext& context, const std::string& job_id,
                         const backends::Observation& observation);

// Queries the backend about every job still InProgress or Stopping and
// records the end of each one whose process has ended or vanished. A job
// without a native id is left to the admission controller, which launches it
// or keeps it waiting, also when a stopped server stored it without launching it.
// Backends that cannot be queried leave the job as it is. Returns how many
// jobs were ended. Errors: those of listing the jobs.
Result<int> ReconcileNonTerminalJobs(ApiContext& context);

// Applies `event` and logs a model registration. Retries a few times when a
// concurrent writer won (kAborted). When the event retried the job (it is
// Restarting), runs an admission pass so that the next attempt launches.
Result<store::ApplyResult> ApplyAndLog(ApiContext& context, const jobs::Event& event);

}  // namespace tandem::api
