// Waiting for SIGTERM or SIGINT in long-running roles (`tandem server`,
// `tandem serve`).
//
// Call BlockStopSignals() in main's thread before starting any other thread:
// the mask is inherited, so no thread gets the signals asynchronously and
// WaitForStopSignal() receives them synchronously through sigwait.
#pragma once

#include <signal.h>

namespace tandem {

// Blocks SIGTERM and SIGINT in the calling thread and returns that set.
sigset_t BlockStopSignals();

// Blocks until one of `signals` arrives and returns its number.
int WaitForStopSignal(const sigset_t& signals);

}  // namespace tandem
