// Runs one Slurm client command (sbatch, scancel, scontrol, squeue) with a
// time limit and returns its exit status and output.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "common/process.h"
#include "common/status.h"

namespace tandem::backends {

struct CommandOutput {
  ExitStatus status;
  std::string output;  // standard output and standard error, interleaved
};

// Runs `argv` with exactly `environment`, killing it (SIGKILL to its process
// group) when it has not exited after `timeout`. A non-zero exit is not an
// error here: the caller reads `output` to tell why.
// Errors: kUnavailable when the command cannot be started (naming argv[0] and
// the reason) or timed out.
Result<CommandOutput> RunCommand(const std::vector<std::string>& argv,
                                 const std::map<std::string, std::string>& environment,
                                 std::chrono::milliseconds timeout);

}  // namespace tandem::backends
