// The scheduler: fires the due slots of every schedule (store/schedule.h) as
// ordinary jobs, submitted through the same path as POST /api/v1/jobs.
//
// One pass (RunOnce) at time `now` handles each schedule that is not paused:
//  - the due slot is the latest slot at or before `now` that is later than
//    the last handled slot (or, before the first, later than the creation
//    time). Older missed slots are dropped: after downtime a schedule fires
//    at most one catch-up run, for its latest missed slot;
//  - with no due slot, a queued slot fires once the previous run has ended;
//  - with a due slot and the previous run ended (or none), the slot fires;
//  - with a due slot and the previous run still InProgress or Stopping, the
//    overlap policy decides (Decide below). Skip drops the slot. Queue keeps
//    it as the one waiting slot, in place of an older waiting one. Replace
//    stops the previous run and fires the slot.
//
// Exactly once per slot: a run's job is named RunJobName(schedule, slot), and
// the store creates one job per name and repository, so a second submission
// of a slot (a restart between submitting and recording, or a second
// scheduler) returns the existing job and launches nothing. The store records
// the move of a schedule with a compare-and-set on its row version.
//
// Time comes from the Clock; the background thread (Start) sleeps until the
// next due slot or `max_wait`, whichever is sooner, and runs a pass only while
// the leader check passes (over PostgreSQL: while holding a leader lock).
//
// Threads: RunOnce may be called from any thread, but two concurrent passes
// of one Scheduler are serialized.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "common/clock.h"
#include "jobs/job_spec.h"
#include "schedules/cron.h"
#include "store/store.h"

namespace tandem::schedules {

// Submits and stops the jobs of runs; the control plane implements it with
// its API's own submit and stop paths.
class RunLauncher {
 public:
  virtual ~RunLauncher() = default;

  // Validates, stores and launches `spec` as POST /api/v1/jobs does. The same
  // name and spec again returns the existing job with created=false and
  // launches nothing. Errors: kInvalidArgument or kAlreadyExists when this
  // spec can never be submitted; others (kUnavailable, kInternal) may pass.
  virtual Result<store::CreateJobResult> Submit(const jobs::JobSpec& spec) = 0;

  // Stops the job as POST /api/v1/jobs/{id}/stop does.
  // Errors: kFailedPrecondition when it has already ended.
  virtual Status Stop(const std::string& job_id) = 0;
};

// The action of a pass on one schedule.
enum class ScheduleAction {
  kNone,     // nothing is due
  kFire,     // submit the slot's run
  kSkip,     // drop the slot: the previous run is still going (Skip)
  kQueue,    // keep the slot waiting for the previous run (Queue)
  kReplace,  // stop the previous run, then submit the slot's run (Replace)
};

struct ScheduleDecision {
  ScheduleAction action = ScheduleAction::kNone;
  int64_t slot_ms = 0;  // the slot acted on
  // The schedule's slot columns after the action.
  std::optional<int64_t> last_slot_ms;
  std::optional<int64_t> queued_slot_ms;
  bool catch_up = false;  // earlier slots since the last handled one were dropped
};

// Decides what to do with `schedule` at `now_ms`, given whether its latest
// run's job has not ended yet. Pure: every rule of the header comment lives
// here.
ScheduleDecision Decide(const store::Schedule& schedule, const CronSchedule& cron, int64_t now_ms,
                        bool previous_running);

struct SchedulerOptions {
  // The maximum sleep between passes. It bounds how late the loop notices a
  // new, resumed or queued schedule.
  std::chrono::milliseconds max_wait{1000};
};

// Counts of one pass.
struct SchedulerPass {
  int fired = 0;     // runs submitted (kFire, kReplace and queued slots)
  int skipped = 0;
  int queued = 0;
  int replaced = 0;  // previous runs stopped
  // Slots dropped because the API rejected their run for good, and schedules
  // whose handling failed for a passing reason (retried next pass).
  int failed = 0;
  // The earliest next slot of any active schedule, for the loop's sleep.
  std::optional<int64_t> next_due_ms;
};

class Scheduler {
 public:
  // Decides whether this process may schedule now. Called before each pass
  // of the background thread.
  using LeaderCheck = std::function<bool()>;

  // The references must outlive the Scheduler.
  Scheduler(SchedulerOptions options, store::Store& store, RunLauncher& launcher,
            const Clock& clock, LeaderCheck is_leader = nullptr);
  ~Scheduler();  // stops the thread
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // One pass over every schedule at clock.NowMillis(). A failure on one
  // schedule is logged and counted, and the pass goes on.
  // Errors: those of listing the schedules.
  Result<SchedulerPass> RunOnce();

  // Starts the background thread (once). Stop joins it; it may be called twice.
  void Start();
  void Stop();

 private:
  Status HandleSchedule(const store::Schedule& schedule, int64_t now_ms, SchedulerPass& pass);
  Result<std::optional<store::Job>> PreviousRun(const store::Schedule& schedule);
  // Submits the slot's run and records it. Returns false when the API
  // rejected the run for good and the slot was dropped.
  Result<bool> Fire(const store::Schedule& schedule, const ScheduleDecision& decision,
                    int64_t now_ms);
  Status Record(const store::Schedule& schedule, const ScheduleDecision& decision,
                std::optional<store::ScheduleRun> run, int64_t now_ms);
  void Loop();

  SchedulerOptions options_;
  store::Store& store_;
  RunLauncher& launcher_;
  const Clock& clock_;
  LeaderCheck is_leader_;

  std::mutex pass_mutex_;  // serializes RunOnce
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mutex_
  std::thread thread_;
};

}  // namespace tandem::schedules
