// The job state machine: one pure function that folds an event into a job's
// state. The store calls it inside the transaction that records the event.
//
// An event's target is its (TrainingJobStatus, SecondaryStatus), the missing
// half filled in from the other (SecondaryStatus Training alone means
// InProgress; TrainingJobStatus Failed alone means Failed/Failed). An event
// with neither, or with InProgress alone, is a progress report. Legal moves,
// by the job's current status (the table in state_machine.cc is the source):
//
//   current      target                 verdict
//   InProgress   InProgress, later rank   accepted: moves on, new history entry
//   InProgress   InProgress, same         accepted: progress, no new entry
//   InProgress   InProgress, lower rank   late history (below), else rejected
//   InProgress   Stopping                 accepted only from source "api" (a stop request)
//   InProgress   Completed/Failed/Stopped accepted: the job ends
//   InProgress   Failed/Interrupted       accepted: a retry (below), else the job ends
//   Stopping     InProgress (any)         late history, else rejected
//   Stopping     Stopping                 accepted: no change (a repeated stop request)
//   Stopping     Completed/Failed/Stopped accepted: the job ends (Completed/Failed won the race)
//   Stopping     Failed/Interrupted       accepted: the job ends, never retried
//   terminal     anything                 late history, else rejected "job is already X"
//   any          progress report          accepted unless terminal (then late history rules)
//
// Ranks are jobs::LifecycleRank: Pending or any other status may be skipped.
// MaxRuntimeExceeded and Interrupted end the job Failed with that secondary
// status.
//
// Attempts: before the table, an event whose Attempt is set and differs from
// the job's attempt is rejected, so reports of an earlier attempt that arrive
// after a retry (its Completed, say) change nothing. An event without Attempt
// counts as one about the current attempt. A retry happens when an
// Interrupted ending of a job InProgress comes from source "backend" or
// "reconciler" and the job has used fewer than `max_retry_attempts` retries.
// Then the history gets the attempt's Interrupted entry and a Restarting entry
// of the next attempt, both at the event's time. The job stays InProgress, in
// Restarting, with the next attempt number and empty progress. An event that
// names Restarting is rejected, because only a retry enters it, and so is one
// that names Starting after attempt 1. The rules below look at the current
// attempt's entries only, so earlier attempts' entries never change. The
// convergence below is therefore per attempt. A report of an earlier attempt
// that arrives after the retry without its Attempt counts for the current one.
// NOTE: a runtime's Stopped still ends a job InProgress, so a preemption that
// sends SIGTERM before Slurm records PREEMPTED ends the job Stopped, never
// retried (docs/slurm.md).
//
// Late history: an event observed before the job reached its current
// secondary status is folded in where it belongs in time, without changing the
// status. It adds its secondary status to the history when missing there, or
// moves that entry's start earlier, as long as the history stays ordered by
// both time and rank; otherwise it is rejected as out of order. For a terminal
// job, "before" means observed before the terminal entry starts. So any
// delivery order of one job's true history (times rising with rank, one
// terminal event) converges to the same JobState.
// NOTE: two cases still depend on arrival order: events with equal ObservedAt,
// and a move observed before the entry it follows (see the next paragraphs).
//
// Progress is the Details of the latest-observed accepted event that does not
// end or stop the job, when its Details is a non-empty object.
//
// History entries start at the event's ObservedAt. An entry that moves the job
// on but was observed before the entry it follows (because the clocks of two
// sources disagree) starts at that entry's start instead. End times are always
// recomputed: each entry ends where the next starts, and a terminal entry ends
// where it starts. Failure reason: the ending event's Message, or a default
// naming the secondary status.
#pragma once

#include <string>
#include <string_view>

#include "jobs/event.h"
#include "jobs/job.h"

namespace tandem::jobs {

enum class Verdict { kAccepted, kRejected };

// Returns "Accepted" or "Rejected".
std::string_view Name(Verdict verdict);
// Errors: kInvalidArgument naming the text.
Result<Verdict> ParseVerdict(std::string_view text);

struct Transition {
  JobState state;            // the new state; equal to the input when rejected
  Verdict verdict = Verdict::kRejected;
  std::string reason;        // why rejected, or what an accepted event did ("moved to Training")
};

// Applies `event` to `state`. Pure and thread-safe. `state` must be a state
// this function produced (or InitialJobState); the event need not belong to
// any particular job (the job id is not looked at). `max_retry_attempts` is
// the job's RetryStrategy.MaximumRetryAttempts, 0 without one.
Transition Apply(const JobState& state, const Event& event, int64_t max_retry_attempts = 0);

}  // namespace tandem::jobs
