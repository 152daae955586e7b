#include "runtime/stop_controller.h"

#include <signal.h>

#include <spdlog/spdlog.h>

#include <thread>

namespace tandem::runtime {

void StopController::SetDeadline(std::chrono::steady_clock::time_point deadline) {
  deadline_ns_.store(
      std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_since_epoch()).count());
}

bool StopController::DeadlinePassed() const {
  int64_t deadline_ns = deadline_ns_.load();
  if (deadline_ns == 0) return false;
  auto now = std::chrono::steady_clock::now().time_since_epoch();
  return std::chrono::duration_cast<std::chrono::nanoseconds>(now).count() >= deadline_ns;
}

void StopController::RequestStop() {
  StopReason expected = StopReason::kNone;
  // A deadline already passed wins over the request, as in reason().
  StopReason reason = DeadlinePassed() ? StopReason::kMaxRuntimeExceeded : StopReason::kStopRequested;
  reason_.compare_exchange_strong(expected, reason);
}

StopReason StopController::reason() {
  if (StopReason current = reason_.load(); current != StopReason::kNone) return current;
  if (!DeadlinePassed()) return StopReason::kNone;
  StopReason expected = StopReason::kNone;
  reason_.compare_exchange_strong(expected, StopReason::kMaxRuntimeExceeded);
  return reason_.load();
}

void StopOnTerminationSignals(StopController& controller) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::thread([&controller, signals] {
    while (true) {
      int received = 0;
      if (sigwait(&signals, &received) != 0) continue;
      spdlog::info("stop signal received signal={}", received);
      controller.RequestStop();
    }
  }).detach();
}

}  // namespace tandem::runtime
