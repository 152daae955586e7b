// Chaos test of event-driven job state: simulated jobs with a true event
// history, delivered shuffled and duplicated, some ending events lost; the
// reconciler, asking a backend that knows each job's true end, must make
// every job converge to its truth, registering each model exactly once.
//
// Jobs: TANDEM_CHAOS_JOBS (default 10000, about 19 s on SQLite here).
// Store: SQLite in a temporary directory.
// Lost events: 10% of jobs lose their ending event (the reconciler recovers
// it); other events are each delivered 1-3 times. A lost intermediate event
// would leave a gap in the history that no backend answer can fill.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <set>

#include "api/reconciler.h"
#include "common/crypto.h"
#include "store/sqlite_store.h"

namespace tandem::api {
namespace {

namespace fs = std::filesystem;
using jobs::SecondaryStatus;

constexpr int64_t kStartMillis = 1796000000000;

enum class Ending { kCompleted, kFailed, kStopped, kMaxRuntime };

class TruthBackend final : public backends::Backend {
 public:
  std::string_view name() const override { return "truth"; }
  Result<backends::LaunchInfo> Launch(const backends::LaunchRequest&) override {
    return Unavailable("launches nothing");
  }
  Status Stop(std::string_view, std::chrono::seconds) override { return Ok(); }
  Result<backends::Observation> Describe(std::string_view native_id) override {
    auto it = ends.find(std::string(native_id));
    if (it == ends.end()) return Unavailable("unknown");
    return it->second;
  }
  std::map<std::string, backends::Observation> ends;
};

jobs::Event MakeEvent(const std::string& job_id, std::string id, jobs::EventSource source,
                      int64_t at, std::optional<SecondaryStatus> secondary, std::string message) {
  jobs::Event event;
  event.event_id = std::move(id);
  event.job_id = job_id;
  event.source = source;
  event.observed_at_ms = at;
  if (secondary) {
    event.secondary_status = secondary;
    event.status = jobs::StatusOf(*secondary);
  }
  event.message = std::move(message);
  return event;
}

Json Spec(int index) {
  return {{"TrainingJobName", fmt::format("chaos-{}", index)},
          {"Repository", "chaos"},
          {"AlgorithmSpecification", {{"AlgorithmName", "xgboost"}}},
          {"FeaturePipeline",
           {{"Label", "y"}, {"Features", {{{"Field", "x"}, {"Kind", "numeric"}}}}}},
          {"HyperParameters", {{"num_round", "10"}}},
          {"InputDataConfig",
           {{{"ChannelName", "train"},
             {"DataSource", {{"FileDataSource", {{"Path", "/tmp/chaos/train"}}}}}}}},
          {"OutputDataConfig", {{"ModelName", "chaos-model"}}}};
}

struct SimulatedJob {
  std::string id;
  std::vector<jobs::Event> events;  // the true history, in observation order
  bool terminal_lost = false;
  Ending ending = Ending::kCompleted;
  jobs::JobState truth;
};

int JobCount() {
  const char* text = std::getenv("TANDEM_CHAOS_JOBS");
  int count = text == nullptr ? 10000 : std::atoi(text);
  return count > 0 ? count : 10000;
}

TEST(ReconcilerChaosTest, ShuffledDuplicatedAndLostEventsConverge) {
  const int job_count = JobCount();
  fs::path dir = fs::temp_directory_path() / ("tandem-chaos-" + RandomHex(6));
  fs::create_directories(dir);
  std::unique_ptr<store::Store> store = store::OpenSqliteStore(dir / "tandem.db").value();
  FakeClock clock(kStartMillis);
  TruthBackend backend;
  std::mt19937_64 random(20261204);

  // Step 1: the jobs and their true histories.
  std::vector<SimulatedJob> simulated(job_count);
  for (int i = 0; i < job_count; ++i) {
    SimulatedJob& job = simulated[i];
    jobs::JobSpec spec = jobs::ParseJobSpec(Spec(i)).value();
    job.id = store->CreateJob(spec, "digest", kStartMillis).value().job.id;
    std::string native_id = fmt::format("n:{}", i);
    ASSERT_TRUE(store->SetBackend(job.id, "truth", native_id).has_value());
    int64_t t = kStartMillis + 1000;
    for (SecondaryStatus phase :
         {SecondaryStatus::kDownloading, SecondaryStatus::kTraining, SecondaryStatus::kUploading}) {
      job.events.push_back(MakeEvent(job.id, fmt::format("rt-{}", static_cast<int>(phase)),
                                     jobs::EventSource::kRuntime, t, phase, ""));
      t += 1000;
    }
    job.ending = static_cast<Ending>(random() % 4);
    backends::Observation end;
    switch (job.ending) {
      case Ending::kCompleted: {
        registry::ArtifactInfo package{.digest = "sha256:" + Sha256Hex(job.id), .size_bytes = 10};
        job.events.push_back(PackageUploadedEvent(job.id, package, t));
        jobs::Event done = MakeEvent(job.id, "rt-done", jobs::EventSource::kRuntime, t + 500,
                                     SecondaryStatus::kCompleted, "");
        done.details = {{"ModelPackage",
                         {{"Digest", package.digest}, {"SizeBytes", package.size_bytes}}}};
        job.events.push_back(done);
        end = {.state = backends::ObservedState::kSucceeded, .exit_code = 0};
        break;
      }
      case Ending::kFailed:
        job.events.push_back(MakeEvent(job.id, "rt-done", jobs::EventSource::kRuntime, t + 500,
                                       SecondaryStatus::kFailed, "exit code 3"));
        end = {.state = backends::ObservedState::kFailed, .reason = "exit code 3"};
        break;
      case Ending::kStopped:
        job.events.push_back(MakeEvent(job.id, "api-stop", jobs::EventSource::kApi, t,
                                       SecondaryStatus::kStopping, "stop requested"));
        job.events.push_back(MakeEvent(job.id, "rt-done", jobs::EventSource::kRuntime, t + 500,
                                       SecondaryStatus::kStopped, "stopped"));
        end = {.state = backends::ObservedState::kGone};
        break;
      case Ending::kMaxRuntime:
        job.events.push_back(MakeEvent(job.id, "rt-done", jobs::EventSource::kBackend, t + 500,
                                       SecondaryStatus::kMaxRuntimeExceeded, "max runtime"));
        end = {.state = backends::ObservedState::kFailed, .reason = "max runtime"};
        break;
    }
    backend.ends[native_id] = end;
    // 10% lose their ending event (never MaxRuntimeExceeded: no backend
    // answer can tell it apart from Failed).
    job.terminal_lost = job.ending != Ending::kMaxRuntime && random() % 10 == 0;
  }

  // Step 2: deliver every event 1-3 times, shuffled over all jobs.
  std::vector<const jobs::Event*> deliveries;
  for (const SimulatedJob& job : simulated) {
    for (size_t e = 0; e < job.events.size(); ++e) {
      if (job.terminal_lost && e + 1 == job.events.size()) continue;
      int copies = 1 + static_cast<int>(random() % 3);
      for (int c = 0; c < copies; ++c) deliveries.push_back(&job.events[e]);
    }
  }
  std::shuffle(deliveries.begin(), deliveries.end(), random);
  for (const jobs::Event* event : deliveries) {
    ASSERT_TRUE(store->ApplyEvent(*event, clock.NowMillis()).has_value()) << event->event_id;
  }

  // Step 3: the reconciler, once the jobs have been quiet long enough.
  clock.Advance(60000);
  Reconciler reconciler(ReconcilerOptions{}, *store, backend, clock);
  ReconcilePass pass = reconciler.RunOnce().value();
  int lost = static_cast<int>(
      std::count_if(simulated.begin(), simulated.end(), [](auto& j) { return j.terminal_lost; }));
  EXPECT_EQ(pass.ended, lost);
  EXPECT_EQ(reconciler.RunOnce().value().examined, 0);

  // Step 4: the truth: the history in order; a lost ending is replaced by
  // what the reconciler records from the backend's answer.
  int completed = 0;
  for (SimulatedJob& job : simulated) {
    jobs::JobState state = jobs::InitialJobState(kStartMillis);
    size_t applied = job.terminal_lost ? job.events.size() - 1 : job.events.size();
    for (size_t e = 0; e < applied; ++e) state = jobs::Apply(state, job.events[e]).state;
    store::Job stored = store->GetJob(job.id).value();
    if (job.terminal_lost) {
      store::Job before = stored;
      before.state = state;
      std::optional<jobs::ModelPackageRef> uploaded;
      if (job.ending == Ending::kCompleted) {
        uploaded = jobs::ModelPackageOf(job.events.back()).value();
      }
      std::optional<jobs::Event> end = ReconcilerEvent(
          before, backend.ends[stored.native_id], uploaded, kStartMillis + 60000);
      ASSERT_TRUE(end) << job.id;
      state = jobs::Apply(state, *end).state;
    }
    EXPECT_EQ(stored.state, state) << job.id;
    if (job.ending == Ending::kCompleted) {
      ++completed;
      EXPECT_EQ(stored.state.status, jobs::JobStatus::kCompleted) << job.id;
      EXPECT_TRUE(stored.model_version.has_value()) << job.id;
    } else {
      EXPECT_FALSE(stored.model_version.has_value()) << job.id;
    }
  }
  std::vector<store::ModelVersion> versions = store->ListModelVersions("chaos-model").value();
  EXPECT_EQ(static_cast<int>(versions.size()), completed);
  std::set<std::string> registered_jobs;
  for (const store::ModelVersion& version : versions) registered_jobs.insert(version.job_id);
  EXPECT_EQ(static_cast<int>(registered_jobs.size()), completed);
  store.reset();
  std::error_code error;
  fs::remove_all(dir, error);
}

}  // namespace
}  // namespace tandem::api
