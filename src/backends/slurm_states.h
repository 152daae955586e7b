// The mapping of Slurm's job states for the Slurm backend, and the pure
// parsers of the Slurm commands' output. Nothing here runs a command, so every
// function is tested on captured text (Slurm 22.05).
//
// One table, behind SlurmStateRuleFor(), maps each job state that
// `scontrol show job` and `squeue` print (JOB STATE CODES in squeue(1)) to
// what the backend reports. That is the ObservedState and, for a job that
// ended other than by its own exit, the EndCause that becomes the job's
// secondary status.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backends/backend.h"
#include "common/status.h"

namespace tandem::backends {

struct SlurmStateRule {
  ObservedState state = ObservedState::kUnknown;
  EndCause cause = EndCause::kUnspecified;
};

// Returns the rule for a Slurm job state name ("PENDING", "OUT_OF_MEMORY").
// Unknown names map to kUnknown, which the reconciler treats as "could not ask".
SlurmStateRule SlurmStateRuleFor(std::string_view slurm_state);

// The fields of one job that `scontrol show job -o <id>` prints.
struct SlurmJobInfo {
  std::string job_id;
  std::string job_name;
  std::string job_state;  // e.g. "RUNNING", "TIMEOUT"
  std::string reason;     // e.g. "None", "Resources", "NonZeroExitCode"
  std::optional<int> exit_code;    // first half of ExitCode=<code>:<signal>
  std::optional<int> exit_signal;  // second half, when not 0
};

// Parses the one-line output of `scontrol show job -o <id>`. Lines that do not
// start with "JobId=" (warnings) are skipped; the first job line is used.
// Errors: kInvalidArgument when no job line has JobId and JobState.
Result<SlurmJobInfo> ParseScontrolShowJob(std::string_view output);

// True when a Slurm command's output reports the job id as unknown to
// slurmctld ("Invalid job id specified"). Then the job finished longer ago
// than MinJobAge, or it never existed. No other output proves a job is gone.
bool SaysInvalidJobId(std::string_view output);

// Parses the output of `sbatch --parsable`: "<job id>" or "<job id>;<cluster>"
// on a line of its own, possibly after warning lines.
// Errors: kInvalidArgument naming the output when no such line exists.
Result<std::string> ParseSbatchJobId(std::string_view output);

// One line of `squeue --noheader --format=%i|%T`.
struct SqueueEntry {
  std::string job_id;
  std::string job_state;
};

// Parses the output of `squeue --noheader --format=%i|%T`; blank lines are
// skipped. Errors: kInvalidArgument naming the first malformed line.
Result<std::vector<SqueueEntry>> ParseSqueueLines(std::string_view output);

// Returns the error code for a failed sbatch from its output. It is
// kUnavailable when slurmctld could not be reached, and kInvalidArgument when
// the request can never be satisfied (more CPUs or memory than any node, an
// unknown partition or account). It is kResourceExhausted when a limit or
// quota rejects the job for now, and kInternal otherwise.
ErrorCode ClassifySbatchFailure(std::string_view output);

// True when a command's output reports that slurmctld could not be reached.
bool SaysControllerUnreachable(std::string_view output);

// Builds the Observation for a job that slurmctld still lists.
Observation ObservationFor(const SlurmJobInfo& job);

// Returns "<minutes>" for sbatch --time: max_runtime_seconds plus
// margin_seconds, rounded up to whole minutes because Slurm keeps time limits
// in minutes. At least 1.
std::string SlurmTimeLimit(int64_t max_runtime_seconds, int64_t margin_seconds);

}  // namespace tandem::backends
