#include "common/stop_signals.h"

#include <pthread.h>

namespace tandem {

sigset_t BlockStopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

int WaitForStopSignal(const sigset_t& signals) {
  int received = 0;
  // sigwait returns non-zero only for an invalid set, which BlockStopSignals never builds.
  while (sigwait(&signals, &received) != 0) {
  }
  return received;
}

}  // namespace tandem
