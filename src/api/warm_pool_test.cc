#include "api/warm_pool.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "store/api_json.h"
#include "store/sqlite_store.h"

namespace tandem::api {
namespace {

constexpr int64_t kStart = 1796000000000;  // 2026-11-29

// A backend whose warm workers are entries in a map; tests kill them at will.
class FakeWarmBackend final : public backends::Backend {
 public:
  std::string_view name() const override { return "fake"; }
  Result<backends::LaunchInfo> Launch(const backends::LaunchRequest& request) override {
    std::lock_guard lock(mutex_);
    cold_launches.push_back(request.job_id);
    return backends::LaunchInfo{.native_id = "cold:" + request.job_id};
  }
  Status Stop(std::string_view, std::chrono::seconds) override { return Ok(); }
  Result<backends::Observation> Describe(std::string_view) override {
    return backends::Observation{.state = backends::ObservedState::kRunning};
  }

  std::string WarmImage() const override { return image; }
  Result<std::string> StartWarmWorker(const std::string& owner_job_id,
                                      const std::filesystem::path&) override {
    std::lock_guard lock(mutex_);
    std::string id = "warm-" + owner_job_id;
    alive.insert(id);
    started.push_back(id);
    return id;
  }
  bool WarmWorkerAlive(std::string_view worker_id) override {
    std::lock_guard lock(mutex_);
    return alive.contains(std::string(worker_id));
  }
  Result<backends::LaunchInfo> LaunchOnWarmWorker(std::string_view worker_id,
                                                  const backends::LaunchRequest& request) override {
    std::lock_guard lock(mutex_);
    if (fail_handoff || !alive.contains(std::string(worker_id))) {
      return FailedPrecondition(fmt::format("warm worker {} is gone", worker_id));
    }
    alive.erase(std::string(worker_id));
    handoffs.emplace_back(std::string(worker_id), request.job_id);
    if (on_handoff) on_handoff(request.job_id);
    return backends::LaunchInfo{.native_id = "warm:" + request.job_id};
  }
  void TerminateWarmWorker(std::string_view worker_id) override {
    std::lock_guard lock(mutex_);
    terminated.push_back(std::string(worker_id));
    alive.erase(std::string(worker_id));
  }

  void Kill(const std::string& worker_id) {
    std::lock_guard lock(mutex_);
    alive.erase(worker_id);
  }

  std::mutex mutex_;
  std::string image = "tandem size=1 mtime=1";
  bool fail_handoff = false;
  // Called during a successful hand-off, with the job's id.
  std::function<void(const std::string&)> on_handoff;
  std::set<std::string> alive;
  std::vector<std::string> started;
  std::vector<std::string> cold_launches;
  std::vector<std::pair<std::string, std::string>> handoffs;  // worker, job
  std::vector<std::string> terminated;
};

class WarmPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = store::OpenSqliteStore(":memory:");
    ASSERT_TRUE(opened) << opened.error().message();
    store_ = std::move(*opened);
    pool_ = std::make_unique<WarmPool>(
        *store_,
        [this](std::string_view name) -> std::shared_ptr<backends::Backend> {
          return name == "fake" ? backend_ : nullptr;
        },
        clock_, "/nonexistent/jobs");
  }

  static jobs::JobSpec Spec(const std::string& name, int64_t keep_alive_s = 600) {
    jobs::JobSpec spec;
    spec.training_job_name = name;
    spec.repository = "flights";
    spec.algorithm.entry_point = {"python3", "train.py"};
    spec.algorithm.source_dir = "/src";
    spec.input_channels = {{.name = "train", .path = "/data/train"}};
    spec.model_name = "flights-delay";
    spec.resources.instance_type = "ml.m5.xlarge";
    spec.resources.keep_alive_period_s = keep_alive_s;
    return spec;
  }

  // Creates a job and launches it through the pool, as LaunchJob does.
  store::Job Submit(const jobs::JobSpec& spec) {
    auto created = store_->CreateJob(spec, "token-digest", clock_.NowMillis());
    EXPECT_TRUE(created) << created.error().message();
    store::Job job = created->job;
    EXPECT_TRUE(store_->SetBackend(job.id, "fake", "pending"));
    job.backend = "fake";
    backends::LaunchRequest request{.job_id = job.id, .job_name = job.name};
    auto launched = pool_->Launch(backend_, job, request);
    EXPECT_TRUE(launched) << launched.error().message();
    return job;
  }

  // Ends the job with `secondary` reported by `source`, then calls OnJobEnded.
  void End(const store::Job& job, jobs::SecondaryStatus secondary,
           jobs::EventSource source = jobs::EventSource::kRuntime) {
    jobs::Event event;
    event.event_id = "end-" + job.id;
    event.job_id = job.id;
    event.source = source;
    event.observed_at_ms = clock_.NowMillis();
    event.status = jobs::StatusOf(secondary);
    event.secondary_status = secondary;
    ASSERT_TRUE(store_->ApplyEvent(event, clock_.NowMillis()));
    pool_->OnJobEnded(job.id);
  }

  std::optional<jobs::WarmPoolState> WarmPoolOf(const store::Job& job) {
    auto loaded = store_->GetJob(job.id);
    EXPECT_TRUE(loaded) << loaded.error().message();
    return loaded->warm_pool;
  }

  FakeClock clock_{kStart};
  std::shared_ptr<FakeWarmBackend> backend_ = std::make_shared<FakeWarmBackend>();
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<WarmPool> pool_;
};

TEST_F(WarmPoolTest, CompletedJobKeepsWorker) {
  store::Job a = Submit(Spec("a"));
  clock_.Advance(5000);
  End(a, jobs::SecondaryStatus::kCompleted);
  auto state = WarmPoolOf(a);
  ASSERT_TRUE(state);
  EXPECT_EQ(state->status, jobs::WarmPoolStatus::kAvailable);
  EXPECT_EQ(state->retained_ms, kStart + 5000);
  EXPECT_EQ(state->expires_ms, kStart + 5000 + 600'000);
  EXPECT_FALSE(state->released_ms);
  EXPECT_EQ(backend_->started, std::vector<std::string>{"warm-" + a.id});
  EXPECT_EQ(pool_->AvailableCount(), 1u);
}

TEST_F(WarmPoolTest, UserStopAndUserFailureKeepWorker) {
  store::Job stopped = Submit(Spec("stopped"));
  End(stopped, jobs::SecondaryStatus::kStopped, jobs::EventSource::kApi);
  jobs::JobSpec other_team = Spec("failed");
  other_team.repository = "weather";  // so that it does not reuse the stopped job's worker
  store::Job failed = Submit(other_team);
  End(failed, jobs::SecondaryStatus::kFailed, jobs::EventSource::kRuntime);
  ASSERT_TRUE(WarmPoolOf(stopped));
  EXPECT_EQ(WarmPoolOf(stopped)->status, jobs::WarmPoolStatus::kAvailable);
  ASSERT_TRUE(WarmPoolOf(failed));
  EXPECT_EQ(WarmPoolOf(failed)->status, jobs::WarmPoolStatus::kAvailable);
}

TEST_F(WarmPoolTest, PlatformFailureKeepsNothing) {
  for (jobs::EventSource source : {jobs::EventSource::kBackend, jobs::EventSource::kReconciler,
                                   jobs::EventSource::kApi}) {
    store::Job job = Submit(Spec(fmt::format("failed-{}", jobs::Name(source))));
    End(job, jobs::SecondaryStatus::kFailed, source);
    EXPECT_FALSE(WarmPoolOf(job)) << jobs::Name(source);
  }
  EXPECT_TRUE(backend_->started.empty());
  EXPECT_EQ(pool_->AvailableCount(), 0u);
}

TEST_F(WarmPoolTest, ZeroKeepAliveKeepsNothing) {
  store::Job job = Submit(Spec("a", 0));
  End(job, jobs::SecondaryStatus::kCompleted);
  EXPECT_FALSE(WarmPoolOf(job));
  EXPECT_TRUE(backend_->started.empty());
}

TEST_F(WarmPoolTest, MatchingJobReusesWorker) {
  store::Job a = Submit(Spec("a"));
  End(a, jobs::SecondaryStatus::kCompleted);
  clock_.Advance(42'500);

  jobs::JobSpec next = Spec("b", 300);
  next.hyperparameters = {{"max_depth", "4"}};  // may differ
  store::Job b = Submit(next);
  ASSERT_EQ(backend_->handoffs.size(), 1u);
  EXPECT_EQ(backend_->handoffs[0], std::make_pair("warm-" + a.id, b.id));
  EXPECT_EQ(backend_->cold_launches, std::vector<std::string>{a.id});

  auto in_use = WarmPoolOf(a);
  ASSERT_TRUE(in_use);
  EXPECT_EQ(in_use->status, jobs::WarmPoolStatus::kInUse);
  EXPECT_EQ(in_use->reused_by_job, b.id);
  EXPECT_EQ(jobs::RetainedBillableSeconds(*in_use, clock_.NowMillis() + 999'000), 42);

  // B ends: A's worker was reused; B keeps the worker under its own status.
  clock_.Advance(10'000);
  End(b, jobs::SecondaryStatus::kCompleted);
  auto reused = WarmPoolOf(a);
  ASSERT_TRUE(reused);
  EXPECT_EQ(reused->status, jobs::WarmPoolStatus::kReused);
  EXPECT_EQ(reused->reused_by_job, b.id);
  Json document = store::WarmPoolToJson(*reused, clock_.NowMillis());
  EXPECT_EQ(document["Status"], "Reused");
  EXPECT_EQ(document["ReusedByJob"], b.id);
  EXPECT_EQ(document["ResourceRetainedBillableTimeInSeconds"], 42);
  ASSERT_TRUE(WarmPoolOf(b));
  EXPECT_EQ(WarmPoolOf(b)->status, jobs::WarmPoolStatus::kAvailable);
  EXPECT_EQ(WarmPoolOf(b)->expires_ms, clock_.NowMillis() + 300'000);
}

TEST_F(WarmPoolTest, DifferentKeyStartsCold) {
  store::Job a = Submit(Spec("a"));
  End(a, jobs::SecondaryStatus::kCompleted);
  std::vector<std::function<void(jobs::JobSpec&)>> changes = {
      [](jobs::JobSpec& s) { s.repository = "weather"; },
      [](jobs::JobSpec& s) { s.resources.instance_type = "ml.c5.xlarge"; },
      [](jobs::JobSpec& s) { s.resources.volume_size_gb = 50; },
      [](jobs::JobSpec& s) { s.role_arn = "arn:aws:iam::1:role/other"; },
      [](jobs::JobSpec& s) { s.enable_network_isolation = true; },
      [](jobs::JobSpec& s) { s.resources.cpu_count = 3; },
  };
  int i = 0;
  for (const auto& change : changes) {
    jobs::JobSpec spec = Spec(fmt::format("b{}", i++), 0);
    change(spec);
    Submit(spec);
  }
  EXPECT_TRUE(backend_->handoffs.empty());
  EXPECT_EQ(backend_->cold_launches.size(), 1 + changes.size());
  EXPECT_EQ(WarmPoolOf(a)->status, jobs::WarmPoolStatus::kAvailable);
}

TEST_F(WarmPoolTest, ReplacedImageStartsCold) {
  store::Job a = Submit(Spec("a"));
  End(a, jobs::SecondaryStatus::kCompleted);
  backend_->image = "tandem size=1 mtime=2";
  Submit(Spec("b"));
  EXPECT_TRUE(backend_->handoffs.empty());
  EXPECT_EQ(backend_->cold_launches.size(), 2u);
}

TEST_F(WarmPoolTest, ExpiryTerminatesExactlyOnce) {
  store::Job a = Submit(Spec("a", 60));
  End(a, jobs::SecondaryStatus::kCompleted);
  clock_.Advance(59'999);
  EXPECT_EQ(pool_->Sweep(), 0);
  EXPECT_EQ(WarmPoolOf(a)->status, jobs::WarmPoolStatus::kAvailable);

  clock_.Advance(30'001);  // the sweep runs 30 s late
  EXPECT_EQ(pool_->Sweep(), 1);
  EXPECT_EQ(pool_->Sweep(), 0);
  EXPECT_EQ(backend_->terminated, std::vector<std::string>{"warm-" + a.id});
  auto state = WarmPoolOf(a);
  ASSERT_TRUE(state);
  EXPECT_EQ(state->status, jobs::WarmPoolStatus::kTerminated);
  EXPECT_EQ(jobs::RetainedBillableSeconds(*state, clock_.NowMillis()), 60);

  // An expired worker is never handed a job.
  Submit(Spec("b"));
  EXPECT_TRUE(backend_->handoffs.empty());
}

TEST_F(WarmPoolTest, DeadWorkerNeverHandedJob) {
  store::Job a = Submit(Spec("a"));
  End(a, jobs::SecondaryStatus::kCompleted);
  clock_.Advance(7000);
  backend_->Kill("warm-" + a.id);

  store::Job b = Submit(Spec("b"));
  EXPECT_TRUE(backend_->handoffs.empty());
  EXPECT_EQ(backend_->cold_launches, (std::vector<std::string>{a.id, b.id}));
  auto state = WarmPoolOf(a);
  ASSERT_TRUE(state);
  EXPECT_EQ(state->status, jobs::WarmPoolStatus::kTerminated);
  EXPECT_EQ(jobs::RetainedBillableSeconds(*state, clock_.NowMillis() + 100'000), 7);
}

TEST_F(WarmPoolTest, SweepMarksDeadWorkerTerminated) {
  store::Job a = Submit(Spec("a"));
  End(a, jobs::SecondaryStatus::kCompleted);
  backend_->Kill("warm-" + a.id);
  EXPECT_EQ(pool_->Sweep(), 1);
  EXPECT_EQ(WarmPoolOf(a)->status, jobs::WarmPoolStatus::kTerminated);
  EXPECT_EQ(pool_->AvailableCount(), 0u);
}

TEST_F(WarmPoolTest, FailedHandoffStartsCold) {
  store::Job a = Submit(Spec("a"));
  End(a, jobs::SecondaryStatus::kCompleted);
  backend_->fail_handoff = true;
  store::Job b = Submit(Spec("b"));
  EXPECT_EQ(backend_->cold_launches, (std::vector<std::string>{a.id, b.id}));
  auto state = WarmPoolOf(a);
  ASSERT_TRUE(state);
  EXPECT_EQ(state->status, jobs::WarmPoolStatus::kTerminated);
  EXPECT_EQ(state->reused_by_job, b.id);
  // B did not run on A's worker, so its end leaves A alone.
  End(b, jobs::SecondaryStatus::kCompleted);
  EXPECT_EQ(WarmPoolOf(a)->status, jobs::WarmPoolStatus::kTerminated);
}

// A job stopped while it runs on a kept worker ends like any stopped job:
// the owner's worker counts as reused, and the stopped job keeps it.
TEST_F(WarmPoolTest, StopDuringReuse) {
  store::Job a = Submit(Spec("a"));
  End(a, jobs::SecondaryStatus::kCompleted);
  store::Job b = Submit(Spec("b"));
  ASSERT_EQ(backend_->handoffs.size(), 1u);
  End(b, jobs::SecondaryStatus::kStopped, jobs::EventSource::kApi);
  EXPECT_EQ(WarmPoolOf(a)->status, jobs::WarmPoolStatus::kReused);
  ASSERT_TRUE(WarmPoolOf(b));
  EXPECT_EQ(WarmPoolOf(b)->status, jobs::WarmPoolStatus::kAvailable);
}

// A job whose end is reported before Launch stored its owner's InUse still
// leaves the owner Reused, because the end waits for that write.
TEST_F(WarmPoolTest, EndDuringHandoff) {
  store::Job a = Submit(Spec("a"));
  End(a, jobs::SecondaryStatus::kCompleted);
  std::thread ender;
  backend_->on_handoff = [&](const std::string& job_id) {
    ender = std::thread([this, job_id] {
      auto job = store_->GetJob(job_id);
      ASSERT_TRUE(job) << job.error().message();
      End(*job, jobs::SecondaryStatus::kCompleted);
    });
  };
  store::Job b = Submit(Spec("b", 0));
  ender.join();
  ASSERT_TRUE(WarmPoolOf(a));
  EXPECT_EQ(WarmPoolOf(a)->status, jobs::WarmPoolStatus::kReused);
  EXPECT_EQ(WarmPoolOf(a)->reused_by_job, b.id);
}

TEST_F(WarmPoolTest, PlatformFailureDuringReuse) {
  store::Job a = Submit(Spec("a"));
  End(a, jobs::SecondaryStatus::kCompleted);
  store::Job b = Submit(Spec("b"));
  End(b, jobs::SecondaryStatus::kFailed, jobs::EventSource::kBackend);
  EXPECT_EQ(WarmPoolOf(a)->status, jobs::WarmPoolStatus::kReused);
  EXPECT_FALSE(WarmPoolOf(b));
  EXPECT_EQ(pool_->AvailableCount(), 0u);
}

TEST_F(WarmPoolTest, TerminateAllAtShutdown) {
  store::Job a = Submit(Spec("a"));
  End(a, jobs::SecondaryStatus::kCompleted);
  pool_->TerminateAll();
  EXPECT_EQ(WarmPoolOf(a)->status, jobs::WarmPoolStatus::kTerminated);
  EXPECT_EQ(backend_->terminated, std::vector<std::string>{"warm-" + a.id});
}

TEST_F(WarmPoolTest, RecoverAtStartupClosesEarlierPool) {
  store::Job a = Submit(Spec("a"));
  End(a, jobs::SecondaryStatus::kCompleted);
  store::Job b = Submit(Spec("b", 0));  // on A's worker: A is InUse
  store::Job c = Submit(Spec("c"));
  End(c, jobs::SecondaryStatus::kCompleted);
  ASSERT_EQ(WarmPoolOf(a)->status, jobs::WarmPoolStatus::kInUse);
  ASSERT_EQ(WarmPoolOf(c)->status, jobs::WarmPoolStatus::kAvailable);

  WarmPool restarted(
      *store_, [this](std::string_view) -> std::shared_ptr<backends::Backend> { return backend_; },
      clock_, "/nonexistent/jobs");
  ASSERT_TRUE(restarted.RecoverAtStartup());
  EXPECT_EQ(WarmPoolOf(a)->status, jobs::WarmPoolStatus::kReused);
  EXPECT_EQ(WarmPoolOf(a)->reused_by_job, b.id);
  EXPECT_EQ(WarmPoolOf(c)->status, jobs::WarmPoolStatus::kTerminated);
  EXPECT_EQ(restarted.AvailableCount(), 0u);
}

TEST(EndedByPlatformFailure, OnlyFailuresReportedByOthers) {
  store::Job job;
  job.state.status = jobs::JobStatus::kFailed;
  auto event = [](jobs::EventSource source, jobs::JobStatus status, jobs::Verdict verdict) {
    store::StoredEvent stored;
    stored.event.source = source;
    stored.event.status = status;
    stored.verdict = verdict;
    return stored;
  };
  using jobs::EventSource;
  using jobs::JobStatus;
  using jobs::Verdict;
  EXPECT_FALSE(EndedByPlatformFailure(
      job, {event(EventSource::kRuntime, JobStatus::kFailed, Verdict::kAccepted),
            event(EventSource::kBackend, JobStatus::kFailed, Verdict::kRejected)}));
  EXPECT_TRUE(EndedByPlatformFailure(
      job, {event(EventSource::kRuntime, JobStatus::kFailed, Verdict::kRejected),
            event(EventSource::kBackend, JobStatus::kFailed, Verdict::kAccepted)}));
  EXPECT_TRUE(EndedByPlatformFailure(job, {}));
  job.state.status = jobs::JobStatus::kCompleted;
  EXPECT_FALSE(EndedByPlatformFailure(job, {}));
}

}  // namespace
}  // namespace tandem::api
