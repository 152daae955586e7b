// Why and when a running job must stop: a stop request (SIGTERM) or the end of
// its MaxRuntimeInSeconds.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace tandem::runtime {

enum class StopReason { kNone, kStopRequested, kMaxRuntimeExceeded };

// Thread-safe. The first reason to occur sticks: a stop request after the
// deadline passed still reads kMaxRuntimeExceeded, and the other way round.
class StopController {
 public:
  // Sets when MaxRuntimeInSeconds ends; without a call there is no deadline.
  void SetDeadline(std::chrono::steady_clock::time_point deadline);

  // Records a stop request (from the signal thread or a test).
  void RequestStop();

  // Returns the reason to stop now, kNone while the job may run on.
  StopReason reason();

  bool ShouldStop() { return reason() != StopReason::kNone; }

 private:
  bool DeadlinePassed() const;

  std::atomic<int64_t> deadline_ns_{0};  // steady_clock since its epoch; 0: none
  std::atomic<StopReason> reason_{StopReason::kNone};
};

// Blocks SIGTERM and SIGINT in the calling thread (and so in every thread it
// starts afterwards) and starts a detached thread that waits for them with
// sigwait and calls controller.RequestStop(). Call it once, from main's thread
// before any other thread exists. `controller` must live until the process exits.
void StopOnTerminationSignals(StopController& controller);

}  // namespace tandem::runtime
