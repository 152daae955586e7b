// The scheduler over a real SQLite store, a FakeClock and a launcher that
// creates jobs in the store as the API's submit does (without a backend).
#include "schedules/scheduler.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "common/crypto.h"
#include "schedules/schedule_spec.h"
#include "store/sqlite_store.h"

namespace tandem::schedules {
namespace {

using ::testing::ElementsAre;

constexpr int64_t kMinute = 60 * 1000;
constexpr int64_t kHour = 60 * kMinute;

int64_t At(const std::string& iso8601) {
  auto parsed = ParseTimestamp(iso8601);
  EXPECT_TRUE(parsed) << parsed.error().message();
  return parsed.value_or(0);
}

// Creates jobs in the store, idempotently by name, and ends stopped ones.
class StoreLauncher final : public RunLauncher {
 public:
  StoreLauncher(store::Store& store, const Clock& clock) : store_(store), clock_(clock) {}

  Result<store::CreateJobResult> Submit(const jobs::JobSpec& spec) override {
    if (fail_with_) return std::unexpected(*fail_with_);
    auto created = store_.CreateJob(spec, "token-digest", clock_.NowMillis());
    if (created && created->created) submitted_.push_back(spec.training_job_name);
    return created;
  }

  Status Stop(const std::string& job_id) override {
    stopped_.push_back(job_id);
    return EndJob(store_, job_id, jobs::SecondaryStatus::kStopped, clock_.NowMillis());
  }

  // Applies one "api" event that ends the job with `secondary`.
  static Status EndJob(store::Store& store, const std::string& job_id,
                       jobs::SecondaryStatus secondary, int64_t now_ms) {
    if (secondary == jobs::SecondaryStatus::kStopped) {
      TANDEM_RETURN_IF_ERROR(Apply(store, job_id, jobs::SecondaryStatus::kStopping, now_ms));
    }
    return Apply(store, job_id, secondary, now_ms);
  }

  const std::vector<std::string>& submitted() const { return submitted_; }
  const std::vector<std::string>& stopped() const { return stopped_; }
  void FailWith(std::optional<Error> error) { fail_with_ = std::move(error); }

 private:
  static Status Apply(store::Store& store, const std::string& job_id,
                      jobs::SecondaryStatus secondary, int64_t now_ms) {
    jobs::Event event;
    event.event_id = fmt::format("test-{}", RandomHex(4));
    event.job_id = job_id;
    event.source = jobs::EventSource::kApi;
    event.observed_at_ms = now_ms;
    event.status = jobs::StatusOf(secondary);
    event.secondary_status = secondary;
    TANDEM_ASSIGN_OR_RETURN(store::ApplyResult applied, store.ApplyEvent(event, now_ms));
    if (applied.verdict != jobs::Verdict::kAccepted) return Internal(applied.reason);
    return Ok();
  }

  store::Store& store_;
  const Clock& clock_;
  std::vector<std::string> submitted_;
  std::vector<std::string> stopped_;
  std::optional<Error> fail_with_;
};

Json Template() {
  return {
      {"Repository", "flights"},
      {"AlgorithmSpecification", {{"AlgorithmName", "xgboost"}}},
      {"FeaturePipeline",
       {{"Label", "delay"}, {"Features", {{{"Field", "distance"}, {"Kind", "numeric"}}}}}},
      {"InputDataConfig",
       {{{"ChannelName", "train"},
         {"DataSource", {{"FileDataSource", {{"Path", "/data/train"}}}}}}}},
      {"OutputDataConfig", {{"ModelName", "flights-delay"}}},
  };
}

std::unique_ptr<store::Store> OpenStore(const std::filesystem::path& path) {
  auto store = store::OpenSqliteStore(path);
  EXPECT_TRUE(store) << store.error().message();
  return store ? std::move(*store) : nullptr;
}

// A file-backed store, so that a test can open a second store over it as a
// restarted server would.
class SchedulerTest : public ::testing::Test {
 protected:
  ~SchedulerTest() override {
    std::error_code error;
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::filesystem::remove(path_.string() + suffix, error);
    }
  }

  // Creates a schedule at the clock's time.
  void CreateSchedule(const std::string& expression,
                      store::OverlapPolicy policy = store::OverlapPolicy::kSkip,
                      const std::string& name = "retrain") {
    Json definition = {{"ScheduleName", name},
                       {"ScheduleExpression", expression},
                       {"OverlapPolicy", std::string(store::Name(policy))},
                       {"JobTemplate", Template()}};
    auto schedule = ParseScheduleDefinition(definition);
    ASSERT_TRUE(schedule) << schedule.error().message();
    auto created = store_->CreateSchedule(*schedule, clock_.NowMillis());
    ASSERT_TRUE(created) << created.error().message();
  }

  store::Schedule GetSchedule(const std::string& name = "retrain") {
    auto schedule = store_->GetSchedule(name);
    EXPECT_TRUE(schedule) << schedule.error().message();
    return schedule.value_or(store::Schedule{});
  }

  SchedulerPass Pass(Scheduler& scheduler) {
    auto pass = scheduler.RunOnce();
    EXPECT_TRUE(pass) << pass.error().message();
    return pass.value_or(SchedulerPass{});
  }
  SchedulerPass Pass() { return Pass(scheduler_); }

  // Returns the slots of the schedule's runs, earliest first, as timestamps.
  std::vector<std::string> RunSlots(const std::string& name = "retrain") {
    auto runs = store_->ListScheduleRuns(name, 100);
    EXPECT_TRUE(runs) << runs.error().message();
    std::vector<std::string> slots;
    for (const store::ScheduleRun& run : runs.value_or(std::vector<store::ScheduleRun>{})) {
      slots.insert(slots.begin(), FormatTimestamp(run.slot_ms));
    }
    return slots;
  }

  // Returns the names of every job, oldest first.
  std::vector<std::string> JobNames() {
    store::JobFilter filter;
    filter.page_size = store::kMaxPageSize;
    auto page = store_->ListJobs(filter);
    EXPECT_TRUE(page) << page.error().message();
    std::vector<std::string> names;
    if (!page) return names;
    for (const store::Job& job : page->jobs) names.insert(names.begin(), job.name);
    return names;
  }

  std::string LatestRunJobId(const std::string& name = "retrain") {
    auto runs = store_->ListScheduleRuns(name, 1);
    EXPECT_TRUE(runs) << runs.error().message();
    EXPECT_TRUE(runs && !runs->empty()) << "schedule " << name << " has no run";
    return runs && !runs->empty() ? runs->front().job_id : "";
  }

  void EndLatestRun(jobs::SecondaryStatus secondary = jobs::SecondaryStatus::kFailed) {
    ASSERT_TRUE(
        StoreLauncher::EndJob(*store_, LatestRunJobId(), secondary, clock_.NowMillis()));
  }

  std::filesystem::path path_ = std::filesystem::temp_directory_path() /
                                fmt::format("tandem-scheduler-test-{}.db", RandomHex(6));
  FakeClock clock_{At("2026-12-04T15:07:30Z")};
  std::unique_ptr<store::Store> store_ = OpenStore(path_);
  StoreLauncher launcher_{*store_, clock_};
  Scheduler scheduler_{SchedulerOptions{}, *store_, launcher_, clock_};
};

TEST_F(SchedulerTest, FiresEachSlotOnce) {
  CreateSchedule("@every 15m");
  SchedulerPass before = Pass();
  EXPECT_EQ(before.fired, 0);
  ASSERT_TRUE(before.next_due_ms);
  EXPECT_EQ(FormatTimestamp(*before.next_due_ms), "2026-12-04T15:15:00.000Z");

  clock_.Set(At("2026-12-04T15:15:00Z"));
  EXPECT_EQ(Pass().fired, 1);
  EXPECT_EQ(Pass().fired, 0);
  clock_.Advance(14 * kMinute);
  EXPECT_EQ(Pass().fired, 0);

  EXPECT_THAT(JobNames(), ElementsAre("retrain-20261204t151500z"));
  EXPECT_THAT(RunSlots(), ElementsAre("2026-12-04T15:15:00.000Z"));
  EXPECT_EQ(FormatTimestamp(*GetSchedule().last_slot_ms), "2026-12-04T15:15:00.000Z");
}

TEST_F(SchedulerTest, SlotBeforeCreationNeverFires) {
  CreateSchedule("@hourly");  // created at 15:07:30, after the 15:00 slot
  EXPECT_EQ(Pass().fired, 0);
  clock_.Set(At("2026-12-04T15:59:59Z"));
  EXPECT_EQ(Pass().fired, 0);
  clock_.Set(At("2026-12-04T16:00:00Z"));
  EXPECT_EQ(Pass().fired, 1);
  EXPECT_THAT(JobNames(), ElementsAre("retrain-20261204t160000z"));
}

TEST_F(SchedulerTest, OneCatchUpRunAfterDowntime) {
  CreateSchedule("@every 15m");
  clock_.Set(At("2026-12-04T15:15:00Z"));
  EXPECT_EQ(Pass().fired, 1);
  EndLatestRun(jobs::SecondaryStatus::kCompleted);

  // Twenty slots (15:30 to 20:15) pass while no scheduler runs; only the
  // latest fires.
  clock_.Advance(5 * kHour + 7 * kMinute);
  EXPECT_EQ(Pass().fired, 1);
  EXPECT_EQ(Pass().fired, 0);
  EXPECT_THAT(RunSlots(),
              ElementsAre("2026-12-04T15:15:00.000Z", "2026-12-04T20:15:00.000Z"));
  EXPECT_EQ(JobNames().size(), 2u);
}

TEST_F(SchedulerTest, SkipPolicyDropsSlotWhilePreviousRuns) {
  CreateSchedule("@every 15m", store::OverlapPolicy::kSkip);
  clock_.Set(At("2026-12-04T15:15:00Z"));
  EXPECT_EQ(Pass().fired, 1);

  clock_.Set(At("2026-12-04T15:30:00Z"));
  SchedulerPass skipped = Pass();
  EXPECT_EQ(skipped.fired, 0);
  EXPECT_EQ(skipped.skipped, 1);
  EXPECT_FALSE(GetSchedule().queued_slot_ms);

  // The skipped slot does not fire when the previous run ends; the next one does.
  EndLatestRun();
  EXPECT_EQ(Pass().fired, 0);
  clock_.Set(At("2026-12-04T15:45:00Z"));
  EXPECT_EQ(Pass().fired, 1);
  EXPECT_THAT(JobNames(), ElementsAre("retrain-20261204t151500z", "retrain-20261204t154500z"));
}

TEST_F(SchedulerTest, QueuePolicyFiresLatestWaitingSlotAfterPrevious) {
  CreateSchedule("@every 15m", store::OverlapPolicy::kQueue);
  clock_.Set(At("2026-12-04T15:15:00Z"));
  EXPECT_EQ(Pass().fired, 1);

  clock_.Set(At("2026-12-04T15:30:00Z"));
  EXPECT_EQ(Pass().queued, 1);
  EXPECT_EQ(FormatTimestamp(*GetSchedule().queued_slot_ms), "2026-12-04T15:30:00.000Z");
  // At most one slot waits: the later one takes the place of the earlier.
  clock_.Set(At("2026-12-04T15:45:00Z"));
  EXPECT_EQ(Pass().queued, 1);
  EXPECT_EQ(FormatTimestamp(*GetSchedule().queued_slot_ms), "2026-12-04T15:45:00.000Z");
  EXPECT_EQ(Pass().fired, 0);

  clock_.Advance(kMinute);
  EndLatestRun();
  EXPECT_EQ(Pass().fired, 1);
  EXPECT_FALSE(GetSchedule().queued_slot_ms);
  EXPECT_EQ(Pass().fired, 0);
  EXPECT_THAT(JobNames(), ElementsAre("retrain-20261204t151500z", "retrain-20261204t154500z"));
}

TEST_F(SchedulerTest, ReplacePolicyStopsPreviousThenFires) {
  CreateSchedule("@every 15m", store::OverlapPolicy::kReplace);
  clock_.Set(At("2026-12-04T15:15:00Z"));
  EXPECT_EQ(Pass().fired, 1);
  std::string first = LatestRunJobId();

  clock_.Set(At("2026-12-04T15:30:00Z"));
  SchedulerPass replaced = Pass();
  EXPECT_EQ(replaced.replaced, 1);
  EXPECT_EQ(replaced.fired, 1);
  EXPECT_THAT(launcher_.stopped(), ElementsAre(first));
  EXPECT_EQ(store_->GetJob(first)->state.status, jobs::JobStatus::kStopped);
  EXPECT_THAT(JobNames(), ElementsAre("retrain-20261204t151500z", "retrain-20261204t153000z"));
}

TEST_F(SchedulerTest, EndedPreviousRunIsNotStoppedByReplace) {
  CreateSchedule("@every 15m", store::OverlapPolicy::kReplace);
  clock_.Set(At("2026-12-04T15:15:00Z"));
  EXPECT_EQ(Pass().fired, 1);
  EndLatestRun(jobs::SecondaryStatus::kCompleted);
  clock_.Set(At("2026-12-04T15:30:00Z"));
  SchedulerPass pass = Pass();
  EXPECT_EQ(pass.fired, 1);
  EXPECT_EQ(pass.replaced, 0);
  EXPECT_TRUE(launcher_.stopped().empty());
}

TEST_F(SchedulerTest, NoDoubleFiringAcrossRestart) {
  CreateSchedule("@every 15m");
  clock_.Set(At("2026-12-04T15:15:00Z"));
  EXPECT_EQ(Pass().fired, 1);

  // A restarted server: a new store over the same file and a new scheduler.
  std::unique_ptr<store::Store> reopened = OpenStore(path_);
  StoreLauncher launcher(*reopened, clock_);
  Scheduler restarted(SchedulerOptions{}, *reopened, launcher, clock_);
  EXPECT_EQ(Pass(restarted).fired, 0);
  EXPECT_TRUE(launcher.submitted().empty());
  EXPECT_EQ(JobNames().size(), 1u);
}

TEST_F(SchedulerTest, RestartBetweenSubmitAndRecordLaunchesOnce) {
  CreateSchedule("@every 15m");
  int64_t slot = At("2026-12-04T15:15:00Z");
  clock_.Set(slot);
  // The previous server submitted the slot's run and stopped before recording it.
  auto spec = RunJobSpec(GetSchedule(), slot);
  ASSERT_TRUE(spec) << spec.error().message();
  ASSERT_TRUE(launcher_.Submit(*spec));
  ASSERT_EQ(launcher_.submitted().size(), 1u);

  std::unique_ptr<store::Store> reopened = OpenStore(path_);
  StoreLauncher launcher(*reopened, clock_);
  Scheduler restarted(SchedulerOptions{}, *reopened, launcher, clock_);
  EXPECT_EQ(Pass(restarted).fired, 1);
  EXPECT_TRUE(launcher.submitted().empty());  // the store returned the existing job
  EXPECT_THAT(JobNames(), ElementsAre("retrain-20261204t151500z"));
  EXPECT_THAT(RunSlots(), ElementsAre("2026-12-04T15:15:00.000Z"));
}

TEST_F(SchedulerTest, TwoSchedulersOverOneStoreFireOnce) {
  CreateSchedule("@every 15m");
  StoreLauncher other_launcher(*store_, clock_);
  Scheduler other(SchedulerOptions{}, *store_, other_launcher, clock_);
  clock_.Set(At("2026-12-04T15:15:00Z"));
  int fired = Pass().fired + Pass(other).fired;
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(launcher_.submitted().size() + other_launcher.submitted().size(), 1u);
  EXPECT_EQ(JobNames().size(), 1u);
}

TEST_F(SchedulerTest, PauseThenResumeSkipsMissedSlots) {
  CreateSchedule("@every 15m");
  ASSERT_TRUE(store_->SetSchedulePaused("retrain", true, std::nullopt, clock_.NowMillis()));
  clock_.Set(At("2026-12-04T16:07:00Z"));
  SchedulerPass paused = Pass();
  EXPECT_EQ(paused.fired, 0);
  EXPECT_FALSE(paused.next_due_ms);

  // Resuming marks the slots of the pause as handled (as the API does).
  CronSchedule cron = *CronSchedule::Parse("@every 15m");
  ASSERT_TRUE(store_->SetSchedulePaused("retrain", false, cron.Previous(clock_.NowMillis()),
                                        clock_.NowMillis()));
  EXPECT_EQ(Pass().fired, 0);
  clock_.Set(At("2026-12-04T16:15:00Z"));
  EXPECT_EQ(Pass().fired, 1);
  EXPECT_THAT(JobNames(), ElementsAre("retrain-20261204t161500z"));
}

TEST_F(SchedulerTest, RejectedSubmissionDropsSlot) {
  CreateSchedule("@every 15m");
  launcher_.FailWith(Error(ErrorCode::kInvalidArgument, "InputDataConfig[0]: outside roots"));
  clock_.Set(At("2026-12-04T15:15:00Z"));
  SchedulerPass failed = Pass();
  EXPECT_EQ(failed.failed, 1);
  EXPECT_EQ(failed.fired, 0);
  EXPECT_EQ(FormatTimestamp(*GetSchedule().last_slot_ms), "2026-12-04T15:15:00.000Z");
  launcher_.FailWith(std::nullopt);
  EXPECT_EQ(Pass().fired, 0);
  EXPECT_TRUE(RunSlots().empty());
}

TEST_F(SchedulerTest, UnavailableSubmissionRetriesSameSlot) {
  CreateSchedule("@every 15m");
  launcher_.FailWith(Error(ErrorCode::kUnavailable, "database is locked"));
  clock_.Set(At("2026-12-04T15:15:00Z"));
  EXPECT_EQ(Pass().failed, 1);
  EXPECT_FALSE(GetSchedule().last_slot_ms);
  launcher_.FailWith(std::nullopt);
  clock_.Advance(1000);
  EXPECT_EQ(Pass().fired, 1);
  EXPECT_THAT(JobNames(), ElementsAre("retrain-20261204t151500z"));
}

TEST_F(SchedulerTest, SchedulesFireIndependently) {
  CreateSchedule("@every 15m", store::OverlapPolicy::kSkip, "a");
  CreateSchedule("0 16 * * *", store::OverlapPolicy::kSkip, "b");
  clock_.Set(At("2026-12-04T16:00:00Z"));
  EXPECT_EQ(Pass().fired, 2);
  EXPECT_THAT(JobNames(), ::testing::UnorderedElementsAre("a-20261204t160000z",
                                                          "b-20261204t160000z"));
}

// Decide, case by case.
struct DecideCase {
  std::string label;
  store::OverlapPolicy policy;
  std::optional<std::string> last_slot;
  std::optional<std::string> queued_slot;
  bool paused;
  bool previous_running;
  std::string now;
  ScheduleAction action;
  std::optional<std::string> slot;  // the slot acted on
  std::optional<std::string> queued_after;
  bool catch_up;
};

TEST(ScheduleDecide, Table) {
  using P = store::OverlapPolicy;
  using A = ScheduleAction;
  const std::string created = "2026-12-04T15:07:30Z";
  const std::vector<DecideCase> cases = {
      {"nothing due yet", P::kSkip, {}, {}, false, false, "2026-12-04T15:14:59Z", A::kNone, {},
       {}, false},
      {"first slot", P::kSkip, {}, {}, false, false, "2026-12-04T15:15:00Z", A::kFire,
       "2026-12-04T15:15:00Z", {}, false},
      {"slot already handled", P::kSkip, "2026-12-04T15:15:00Z", {}, false, false,
       "2026-12-04T15:20:00Z", A::kNone, {}, {}, false},
      {"paused", P::kSkip, {}, {}, true, false, "2026-12-04T16:00:00Z", A::kNone, {}, {}, false},
      {"catch-up after downtime", P::kSkip, "2026-12-04T15:15:00Z", {}, false, false,
       "2026-12-04T18:05:00Z", A::kFire, "2026-12-04T18:00:00Z", {}, true},
      {"skip while running", P::kSkip, "2026-12-04T15:15:00Z", {}, false, true,
       "2026-12-04T15:30:00Z", A::kSkip, "2026-12-04T15:30:00Z", {}, false},
      {"queue while running", P::kQueue, "2026-12-04T15:15:00Z", {}, false, true,
       "2026-12-04T15:30:00Z", A::kQueue, "2026-12-04T15:30:00Z", "2026-12-04T15:30:00Z",
       false},
      {"queued waits", P::kQueue, "2026-12-04T15:30:00Z", "2026-12-04T15:30:00Z", false, true,
       "2026-12-04T15:35:00Z", A::kNone, {}, "2026-12-04T15:30:00Z", false},
      {"queued fires after previous", P::kQueue, "2026-12-04T15:30:00Z",
       "2026-12-04T15:30:00Z", false, false, "2026-12-04T15:35:00Z", A::kFire,
       "2026-12-04T15:30:00Z", {}, false},
      {"new slot beats queued", P::kQueue, "2026-12-04T15:30:00Z", "2026-12-04T15:30:00Z",
       false, false, "2026-12-04T15:45:00Z", A::kFire, "2026-12-04T15:45:00Z", {}, false},
      {"replace while running", P::kReplace, "2026-12-04T15:15:00Z", {}, false, true,
       "2026-12-04T15:30:00Z", A::kReplace, "2026-12-04T15:30:00Z", {}, false},
      {"replace with nothing running", P::kReplace, "2026-12-04T15:15:00Z", {}, false, false,
       "2026-12-04T15:30:00Z", A::kFire, "2026-12-04T15:30:00Z", {}, false},
  };
  CronSchedule cron = *CronSchedule::Parse("@every 15m");
  for (const DecideCase& c : cases) {
    SCOPED_TRACE(c.label);
    store::Schedule schedule;
    schedule.name = "retrain";
    schedule.overlap_policy = c.policy;
    schedule.created_ms = At(created);
    schedule.paused = c.paused;
    if (c.last_slot) schedule.last_slot_ms = At(*c.last_slot);
    if (c.queued_slot) schedule.queued_slot_ms = At(*c.queued_slot);

    ScheduleDecision decision = Decide(schedule, cron, At(c.now), c.previous_running);
    EXPECT_EQ(decision.action, c.action);
    if (c.slot) {
      EXPECT_EQ(FormatTimestamp(decision.slot_ms), FormatTimestamp(At(*c.slot)));
    }
    EXPECT_EQ(decision.queued_slot_ms.has_value(), c.queued_after.has_value());
    if (c.queued_after && decision.queued_slot_ms) {
      EXPECT_EQ(FormatTimestamp(*decision.queued_slot_ms), FormatTimestamp(At(*c.queued_after)));
    }
    EXPECT_EQ(decision.catch_up, c.catch_up);
  }
}

TEST(ScheduleRunName, IsDeterministic) {
  EXPECT_EQ(RunJobName("retrain", At("2026-12-04T15:15:00Z")), "retrain-20261204t151500z");
  EXPECT_EQ(RunJobName("a", At("1999-01-02T03:04:05.678Z")), "a-19990102t030405z");
}

}  // namespace
}  // namespace tandem::schedules
