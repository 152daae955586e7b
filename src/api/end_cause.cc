#include "api/end_cause.h"

#include <fmt/format.h>

namespace tandem::api {
namespace {

// The backend's reason as a suffix, or "" when it gave none.
std::string Detail(const backends::Observation& observation) {
  return observation.reason.empty() ? "" : fmt::format(" ({})", observation.reason);
}

std::string OutOfMemoryMessage(const store::Job& job, const backends::Observation& observation) {
  if (job.spec.resources.memory_mib) {
    return fmt::format("job ran out of memory: it exceeded ResourceConfig.MemoryMiB {}{}",
                       *job.spec.resources.memory_mib, Detail(observation));
  }
  return fmt::format("job ran out of memory: it exceeded the backend's default memory limit{}",
                     Detail(observation));
}

}  // namespace

std::optional<CauseEnding> EndingForCause(const store::Job& job,
                                          const backends::Observation& observation) {
  using backends::EndCause;
  using jobs::SecondaryStatus;
  if (observation.state != backends::ObservedState::kFailed) return std::nullopt;
  switch (observation.cause) {
    case EndCause::kUnspecified:
      return std::nullopt;
    case EndCause::kMaxRuntimeExceeded:
      return CauseEnding{
          SecondaryStatus::kMaxRuntimeExceeded,
          fmt::format("job ran longer than StoppingCondition.MaxRuntimeInSeconds {}{}",
                      job.spec.max_runtime_s, Detail(observation))};
    case EndCause::kOutOfMemory:
      return CauseEnding{SecondaryStatus::kFailed, OutOfMemoryMessage(job, observation)};
    case EndCause::kCancelled:
      return CauseEnding{
          SecondaryStatus::kFailed,
          fmt::format("job was cancelled on backend {}, not through tandem (for Slurm: scancel){}",
                      job.backend, Detail(observation))};
    case EndCause::kInterrupted:
      // NOTE: an interrupted job is not retried. A retry needs a RetryStrategy
      // in the job spec and a state machine move from Interrupted back to
      // Starting, because Interrupted is terminal there today. It also needs
      // an attempt count in the events and a relaunch with a new job token,
      // since the store keeps only the token's digest.
      return CauseEnding{
          SecondaryStatus::kInterrupted,
          fmt::format("job was interrupted by a node failure or preemption on backend {}{}",
                      job.backend, Detail(observation))};
  }
  return std::nullopt;
}

}  // namespace tandem::api
