// `tandem train --warm-agent FIFO`: a warm worker of the local backend
// (backends/local_backend.h). It does the preparation that no job depends
// on, which is the process start, the loading of its libraries and the
// set-up of logging and signal handling. Then it waits for one hand-off
// message (backends/warm_handoff.h) on the FIFO and runs that job exactly as
// `tandem train` would. A cold start repeats that preparation for every job.
//
// The agent exits without running a job when it is stopped (SIGTERM,
// SIGINT) or when its parent, the control plane, exits.
//
// NOTE: channels are not cached by content digest here, because the local
// backend hard-links channel files into the job root, which costs no more
// than a cache lookup; a backend that downloads channels would cache them.
#pragma once

#include <chrono>
#include <string>

#include "runtime/stop_controller.h"
#include "runtime/train_command.h"

namespace tandem::runtime {

struct WarmAgentOptions {
  std::string fifo;  // the FIFO to read the hand-off from
  // How often the agent looks at `stop` and its parent while it waits.
  std::chrono::milliseconds poll_interval{200};
  // The settings the job starts from; the hand-off's environment fills the rest.
  TrainSettings settings;
};

// Waits for the hand-off and runs the job. Returns the job's exit code as
// RunTrain does; kExitStopped when stopped while waiting; 0 when the parent
// exited first; 2 for a FIFO that cannot be opened or read, or a malformed
// hand-off.
int RunWarmAgent(const WarmAgentOptions& options, StopController& stop);

}  // namespace tandem::runtime
