#include "schedules/scheduler.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/clock.h"
#include "schedules/schedule_spec.h"

namespace tandem::schedules {
namespace {

// Submission errors that no retry can fix: the slot is recorded as handled
// without a run, so a broken template cannot block later slots.
bool IsPermanent(ErrorCode code) {
  return code == ErrorCode::kInvalidArgument || code == ErrorCode::kAlreadyExists ||
         code == ErrorCode::kNotFound || code == ErrorCode::kPermissionDenied ||
         code == ErrorCode::kFailedPrecondition;
}

std::string_view ActionName(ScheduleAction action) {
  switch (action) {
    case ScheduleAction::kNone: return "none";
    case ScheduleAction::kFire: return "fire";
    case ScheduleAction::kSkip: return "skip";
    case ScheduleAction::kQueue: return "queue";
    case ScheduleAction::kReplace: return "replace";
  }
  return "unknown";
}

// The action for a due slot while the previous run is still going.
ScheduleAction OverlapAction(store::OverlapPolicy policy) {
  switch (policy) {
    case store::OverlapPolicy::kSkip: return ScheduleAction::kSkip;
    case store::OverlapPolicy::kQueue: return ScheduleAction::kQueue;
    case store::OverlapPolicy::kReplace: return ScheduleAction::kReplace;
  }
  return ScheduleAction::kSkip;
}

}  // namespace

ScheduleDecision Decide(const store::Schedule& schedule, const CronSchedule& cron, int64_t now_ms,
                        bool previous_running) {
  ScheduleDecision decision;
  decision.last_slot_ms = schedule.last_slot_ms;
  decision.queued_slot_ms = schedule.queued_slot_ms;
  if (schedule.paused) return decision;

  // A new slot is due: the latest one, whatever number of slots were missed.
  int64_t handled_until = schedule.last_slot_ms.value_or(schedule.created_ms);
  int64_t due = cron.Previous(now_ms);
  if (due > handled_until) {
    decision.slot_ms = due;
    decision.last_slot_ms = due;
    decision.catch_up = cron.Next(handled_until) < due;
    decision.action = previous_running ? OverlapAction(schedule.overlap_policy)
                                       : ScheduleAction::kFire;
    if (decision.action == ScheduleAction::kQueue) {
      decision.queued_slot_ms = due;
    } else if (decision.action != ScheduleAction::kSkip) {
      decision.queued_slot_ms.reset();
    }
    return decision;
  }

  // No new slot: a waiting slot fires once the previous run has ended.
  if (schedule.queued_slot_ms && !previous_running) {
    decision.action = ScheduleAction::kFire;
    decision.slot_ms = *schedule.queued_slot_ms;
    decision.queued_slot_ms.reset();
  }
  return decision;
}

Scheduler::Scheduler(SchedulerOptions options, store::Store& store, RunLauncher& launcher,
                     const Clock& clock, LeaderCheck is_leader)
    : options_(options),
      store_(store),
      launcher_(launcher),
      clock_(clock),
      is_leader_(std::move(is_leader)) {}

Scheduler::~Scheduler() { Stop(); }

Result<std::optional<store::Job>> Scheduler::PreviousRun(const store::Schedule& schedule) {
  TANDEM_ASSIGN_OR_RETURN(std::vector<store::ScheduleRun> runs,
                          store_.ListScheduleRuns(schedule.name, 1));
  if (runs.empty()) return std::nullopt;
  Result<store::Job> job = store_.GetJob(runs.front().job_id);
  if (!job && job.error().code() == ErrorCode::kNotFound) return std::nullopt;
  if (!job) return std::unexpected(job.error());
  return std::move(*job);
}

Status Scheduler::Record(const store::Schedule& schedule, const ScheduleDecision& decision,
                         std::optional<store::ScheduleRun> run, int64_t now_ms) {
  store::ScheduleAdvance advance{.name = schedule.name,
                                 .expected_row_version = schedule.row_version,
                                 .last_slot_ms = decision.last_slot_ms,
                                 .queued_slot_ms = decision.queued_slot_ms,
                                 .run = run,
                                 .now_ms = now_ms};
  Result<store::Schedule> advanced = store_.AdvanceSchedule(advance);
  if (advanced || advanced.error().code() == ErrorCode::kNotFound) return Ok();
  if (advanced.error().code() != ErrorCode::kAborted) return std::unexpected(advanced.error());

  // Another writer moved the row since this pass read it. After a pause the
  // slot is still unhandled, so the fired run is recorded over the pause.
  // After another scheduler handled the slot, nothing is left to do.
  TANDEM_ASSIGN_OR_RETURN(store::Schedule current, store_.GetSchedule(schedule.name));
  if (!run || current.last_slot_ms.value_or(INT64_MIN) >= decision.slot_ms) {
    spdlog::debug("schedule changed during a pass schedule={} slot={}", schedule.name,
                  FormatTimestamp(decision.slot_ms));
    return Ok();
  }
  advance.expected_row_version = current.row_version;
  advance.queued_slot_ms = current.queued_slot_ms;
  TANDEM_RETURN_IF_ERROR(store_.AdvanceSchedule(advance));
  return Ok();
}

Result<bool> Scheduler::Fire(const store::Schedule& schedule, const ScheduleDecision& decision,
                             int64_t now_ms) {
  std::string slot = FormatTimestamp(decision.slot_ms);
  Result<jobs::JobSpec> spec = RunJobSpec(schedule, decision.slot_ms);
  Result<store::CreateJobResult> submitted =
      spec ? launcher_.Submit(*spec) : std::unexpected(spec.error());
  if (!submitted && IsPermanent(submitted.error().code())) {
    spdlog::error("schedule run rejected, slot dropped schedule={} slot={} error={}",
                  schedule.name, slot, submitted.error().message());
    TANDEM_RETURN_IF_ERROR(Record(schedule, decision, std::nullopt, now_ms));
    return false;
  }
  if (!submitted) return std::unexpected(submitted.error());

  const store::Job& job = submitted->job;
  spdlog::info("schedule run fired schedule={} slot={} job={} name={} created={} catch_up={}",
               schedule.name, slot, job.id, job.name, submitted->created, decision.catch_up);
  TANDEM_RETURN_IF_ERROR(Record(schedule, decision,
                                store::ScheduleRun{.schedule_name = schedule.name,
                                                   .slot_ms = decision.slot_ms,
                                                   .job_id = job.id,
                                                   .job_name = job.name,
                                                   .fired_ms = now_ms},
                                now_ms));
  return true;
}

Status Scheduler::HandleSchedule(const store::Schedule& schedule, int64_t now_ms,
                                 SchedulerPass& pass) {
  Result<CronSchedule> cron = CronSchedule::Parse(schedule.expression);
  if (!cron) return std::unexpected(cron.error());
  if (!schedule.paused) {
    int64_t next = cron->Next(now_ms);
    pass.next_due_ms = std::min(pass.next_due_ms.value_or(next), next);
  }

  TANDEM_ASSIGN_OR_RETURN(std::optional<store::Job> previous, PreviousRun(schedule));
  bool running = previous && !jobs::IsTerminal(previous->state.status);
  ScheduleDecision decision = Decide(schedule, *cron, now_ms, running);
  if (decision.action == ScheduleAction::kNone) return Ok();
  spdlog::debug("schedule decision schedule={} action={} slot={}", schedule.name,
                ActionName(decision.action), FormatTimestamp(decision.slot_ms));

  switch (decision.action) {
    case ScheduleAction::kSkip:
      spdlog::info("schedule slot skipped, previous run still going schedule={} slot={} job={}",
                   schedule.name, FormatTimestamp(decision.slot_ms), previous->id);
      ++pass.skipped;
      return Record(schedule, decision, std::nullopt, now_ms);
    case ScheduleAction::kQueue:
      spdlog::info("schedule slot queued behind the previous run schedule={} slot={} job={}",
                   schedule.name, FormatTimestamp(decision.slot_ms), previous->id);
      ++pass.queued;
      return Record(schedule, decision, std::nullopt, now_ms);
    case ScheduleAction::kReplace: {
      Status stopped = launcher_.Stop(previous->id);
      if (!stopped && stopped.error().code() != ErrorCode::kFailedPrecondition) {
        return std::unexpected(stopped.error().WithContext(
            fmt::format("stopping the previous run {}", previous->id)));
      }
      spdlog::info("schedule replaced its previous run schedule={} job={}", schedule.name,
                   previous->id);
      ++pass.replaced;
      break;
    }
    default:
      break;
  }
  TANDEM_ASSIGN_OR_RETURN(bool fired, Fire(schedule, decision, now_ms));
  ++(fired ? pass.fired : pass.failed);
  return Ok();
}

Result<SchedulerPass> Scheduler::RunOnce() {
  std::lock_guard pass_lock(pass_mutex_);
  TANDEM_ASSIGN_OR_RETURN(std::vector<store::Schedule> schedules,
                          store_.ListSchedules(std::nullopt));
  int64_t now_ms = clock_.NowMillis();
  SchedulerPass pass;
  for (const store::Schedule& schedule : schedules) {
    Status handled = HandleSchedule(schedule, now_ms, pass);
    if (!handled) {
      ++pass.failed;
      spdlog::error("schedule pass failed on a schedule schedule={} error={}", schedule.name,
                    handled.error().message());
    }
  }
  return pass;
}

void Scheduler::Start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { Loop(); });
}

void Scheduler::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void Scheduler::Loop() {
  spdlog::info("scheduler started max_wait_ms={}", options_.max_wait.count());
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    std::optional<int64_t> next_due;
    if (!is_leader_ || is_leader_()) {
      Result<SchedulerPass> pass = RunOnce();
      if (!pass) {
        spdlog::error("scheduler pass failed error={}", pass.error().message());
      } else {
        next_due = pass->next_due_ms;
      }
    }

    // Sleep until the next slot, rounded up by 1 ms so that the next pass
    // finds the slot due.
    std::chrono::milliseconds wait = options_.max_wait;
    if (next_due) {
      int64_t until = std::max<int64_t>(*next_due - clock_.NowMillis() + 1, 0);
      wait = std::min(wait, std::chrono::milliseconds(until));
    }
    lock.lock();
    wake_.wait_for(lock, wait, [this] { return stopping_; });
  }
  spdlog::info("scheduler stopped");
}

}  // namespace tandem::schedules
