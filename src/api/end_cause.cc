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
      // The state machine turns this ending into a retry when the spec's
      // RetryStrategy has attempts left.
      return CauseEnding{
          SecondaryStatus::kInterrupted,
          fmt::format("job was interrupted by a node failure or preemption on backend {}{}",
                      job.backend, Detail(observation))};
  }
  return std::nullopt;
}

}  // namespace tandem::api
