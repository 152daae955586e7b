// GroupCommit over an in-memory SQLite store: each caller gets its own
// event's result, alone and with many callers at once.
#include "store/group_commit.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "store/sqlite_store.h"

namespace tandem::store {
namespace {

using S = jobs::SecondaryStatus;

jobs::JobSpec MakeSpec(const std::string& name) {
  Json document = Json::parse(R"({
    "AlgorithmSpecification": {"AlgorithmName": "xgboost"},
    "FeaturePipeline": {"Label": "delay", "Features": []},
    "InputDataConfig": [{"ChannelName": "train",
                         "DataSource": {"FileDataSource": {"Path": "/data/train"}}}],
    "OutputDataConfig": {"ModelName": "flights-delay"},
    "Repository": "flights"
  })");
  document["TrainingJobName"] = name;
  auto spec = jobs::ParseJobSpec(document);
  EXPECT_TRUE(spec) << spec.error().message();
  return *spec;
}

jobs::Event ProgressEvent(const std::string& job_id, int round) {
  jobs::Event event;
  event.event_id = fmt::format("round-{}", round);
  event.job_id = job_id;
  event.source = jobs::EventSource::kRuntime;
  event.observed_at_ms = 2000 + round;
  event.status = jobs::JobStatus::kInProgress;
  event.secondary_status = S::kTraining;
  event.details = {{"Round", round}};
  return event;
}

class GroupCommitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = OpenSqliteStore(":memory:");
    ASSERT_TRUE(store) << store.error().message();
    store_ = std::move(*store);
  }

  std::string CreateJob(const std::string& name) {
    auto created = store_->CreateJob(MakeSpec(name), "token-digest", 1000);
    EXPECT_TRUE(created) << created.error().message();
    return created->job.id;
  }

  FakeClock clock_{5000};
  std::unique_ptr<Store> store_;
};

TEST_F(GroupCommitTest, SingleCallerGetsItsVerdict) {
  std::string job = CreateJob("run-1");
  GroupCommit group(*store_, clock_, 16);

  auto first = group.Apply(ProgressEvent(job, 0));
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_FALSE(first->duplicate);
  EXPECT_EQ(first->verdict, jobs::Verdict::kAccepted);
  EXPECT_EQ(first->job.state.secondary_status, S::kTraining);

  auto again = group.Apply(ProgressEvent(job, 0));
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_TRUE(again->duplicate);

  jobs::Event stopping = ProgressEvent(job, 1);
  stopping.secondary_status = S::kStopping;
  stopping.status = jobs::JobStatus::kStopping;
  auto rejected = group.Apply(stopping);
  ASSERT_TRUE(rejected) << rejected.error().message();
  EXPECT_EQ(rejected->verdict, jobs::Verdict::kRejected);
  EXPECT_FALSE(rejected->reason.empty());

  auto unknown = group.Apply(ProgressEvent("job-000000000000", 2));
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code(), ErrorCode::kNotFound);
}

TEST_F(GroupCommitTest, ConcurrentCallersGetOwnResults) {
  constexpr int kThreads = 8;
  constexpr int kRounds = 100;
  constexpr int kRepeats = 20;
  std::vector<std::string> jobs;
  for (int i = 0; i < kThreads; ++i) jobs.push_back(CreateJob(fmt::format("run-{}", i)));
  GroupCommit group(*store_, clock_, 4);

  // Every thread posts its job's rounds, then the first kRepeats again, and
  // one event of an unknown job; it counts what it got back.
  struct Counts {
    int accepted = 0;
    int duplicates = 0;
    int not_found = 0;
    int other = 0;
  };
  std::vector<Counts> counts(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto count = [&](const Result<ApplyResult>& result) {
        if (!result) {
          (result.error().code() == ErrorCode::kNotFound ? counts[t].not_found : counts[t].other)++;
        } else if (result->duplicate) {
          counts[t].duplicates++;
        } else if (result->verdict == jobs::Verdict::kAccepted && result->job.id == jobs[t]) {
          counts[t].accepted++;
        } else {
          counts[t].other++;
        }
      };
      for (int round = 0; round < kRounds; ++round) count(group.Apply(ProgressEvent(jobs[t], round)));
      for (int round = 0; round < kRepeats; ++round) count(group.Apply(ProgressEvent(jobs[t], round)));
      count(group.Apply(ProgressEvent("job-000000000000", t)));
    });
  }
  for (std::thread& thread : threads) thread.join();

  for (int t = 0; t < kThreads; ++t) {
    SCOPED_TRACE(fmt::format("thread {}", t));
    EXPECT_EQ(counts[t].accepted, kRounds);
    EXPECT_EQ(counts[t].duplicates, kRepeats);
    EXPECT_EQ(counts[t].not_found, 1);
    EXPECT_EQ(counts[t].other, 0);
    auto events = store_->ListEvents(jobs[t]);
    ASSERT_TRUE(events) << events.error().message();
    EXPECT_EQ(events->size(), static_cast<size_t>(kRounds));
    auto job = store_->GetJob(jobs[t]);
    ASSERT_TRUE(job) << job.error().message();
    EXPECT_EQ(job->state.progress["Round"], kRounds - 1);
  }
}

}  // namespace
}  // namespace tandem::store
