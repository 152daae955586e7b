// The ending of a job whose backend names the cause (backends::EndCause), for
// the reconciler (api/reconciler.h) and the backend's exit report
// (api/job_lifecycle.h). Causes of a job InProgress:
//   MaxRuntimeExceeded  Failed/MaxRuntimeExceeded, as when the local runtime
//                       stops a job at StoppingCondition.MaxRuntimeInSeconds
//   OutOfMemory         Failed/Failed "job ran out of memory", with
//                       ResourceConfig.MemoryMiB when the spec set it
//   Cancelled           Failed/Failed "job was cancelled on backend X, not
//                       through tandem", because tandem's own stop requests
//                       move the job to Stopping first
//   Interrupted         Failed/Interrupted naming the node failure or preemption;
//                       with RetryStrategy attempts left, the state machine
//                       starts the job's next attempt instead (Restarting)
// Every message ends with the backend's own reason. A Stopping job ends
// Stopped whatever the cause; the callers handle that before asking here.
#pragma once

#include <optional>
#include <string>

#include "backends/backend.h"
#include "jobs/job.h"
#include "store/store.h"

namespace tandem::api {

struct CauseEnding {
  jobs::SecondaryStatus secondary = jobs::SecondaryStatus::kFailed;
  std::string message;  // the job's FailureReason
};

// Returns the ending for a kFailed observation with a cause other than
// kUnspecified, or nullopt when the observation names no cause.
std::optional<CauseEnding> EndingForCause(const store::Job& job,
                                          const backends::Observation& observation);

}  // namespace tandem::api
