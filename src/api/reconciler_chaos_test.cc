// Chaos test of event-driven job state: simulated jobs with a true event
// history, delivered shuffled and duplicated with events of every kind lost;
// the reconciler, asking a backend that stores each job's true end, must make
// every job converge, registering each model at most once. Run against both
// stores.
//
// Jobs: TANDEM_CHAOS_JOBS (default 10000: about 32 s on SQLite and 57 s on
// PostgreSQL on a 2-core machine shared with compilations).
// Stores: SQLite in a temporary directory; PostgreSQL in a fresh schema of
// the database named by TANDEM_TEST_POSTGRES (skipped when it is unset).
// Lost events: each event is lost with probability 10%, whatever its kind;
// the others are each delivered 1-3 times.
//
// The truth a job must reach: its delivered events folded in observation
// order (jobs::Apply), then, when that leaves it running, the event the
// reconciler makes of the backend's Describe result (ReconcilerEvent, with the
// package of a delivered upload event). A lost intermediate event (Training,
// say) leaves no trace that a backend could restore, so it is missing from
// the stored transition history and from this truth alike. Jobs that lost no
// event must also equal their full true history.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <set>

#include <libpq-fe.h>

#include "api/reconciler.h"
#include "common/crypto.h"
#include "store/postgres_store.h"
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
  std::vector<bool> lost;           // per event: never delivered
  Ending ending = Ending::kCompleted;
};

int JobCount() {
  const char* text = std::getenv("TANDEM_CHAOS_JOBS");
  int count = text == nullptr ? 10000 : std::atoi(text);
  return count > 0 ? count : 10000;
}

// Runs SQL on a connection of its own; returns the error text, empty on success.
std::string RunSql(const std::string& conninfo, const std::string& sql) {
  PGconn* connection = PQconnectdb(conninfo.c_str());
  std::string error;
  if (PQstatus(connection) != CONNECTION_OK) {
    error = PQerrorMessage(connection);
  } else {
    PGresult* result = PQexec(connection, sql.c_str());
    if (PQresultStatus(result) != PGRES_COMMAND_OK) error = PQerrorMessage(connection);
    PQclear(result);
  }
  PQfinish(connection);
  return error;
}

// A store of one kind in a place of its own, removed on destruction.
class ChaosStore {
 public:
  explicit ChaosStore(const std::string& kind) {
    std::string name = "chaos_" + RandomHex(6);
    if (kind == "Sqlite") {
      dir_ = fs::temp_directory_path() / ("tandem-" + name);
      fs::create_directories(dir_);
      auto opened = store::OpenSqliteStore(dir_ / "tandem.db");
      if (opened) store_ = std::move(*opened);
      return;
    }
    const char* conninfo = std::getenv("TANDEM_TEST_POSTGRES");
    if (conninfo == nullptr) return;
    conninfo_ = conninfo;
    schema_ = name;
    std::string error = RunSql(conninfo_, "CREATE SCHEMA " + schema_);
    EXPECT_EQ(error, "");
    auto opened = store::OpenPostgresStore(
        fmt::format("{} options='-csearch_path={}'", conninfo_, schema_));
    EXPECT_TRUE(opened) << opened.error().message();
    if (opened) store_ = std::move(*opened);
  }
  ~ChaosStore() {
    store_.reset();
    std::error_code error;
    if (!dir_.empty()) fs::remove_all(dir_, error);
    if (!schema_.empty()) {
      RunSql(conninfo_,
             fmt::format("SET client_min_messages = warning; DROP SCHEMA {} CASCADE", schema_));
    }
  }
  store::Store* get() { return store_.get(); }

 private:
  std::unique_ptr<store::Store> store_;
  fs::path dir_;
  std::string conninfo_;
  std::string schema_;
};

class ReconcilerChaosTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ReconcilerChaosTest, ShuffledDuplicatedAndLostEventsConverge) {
  if (GetParam() == "Postgres" && std::getenv("TANDEM_TEST_POSTGRES") == nullptr) {
    GTEST_SKIP() << "TANDEM_TEST_POSTGRES is not set";
  }
  const int job_count = JobCount();
  ChaosStore chaos_store(GetParam());
  ASSERT_NE(chaos_store.get(), nullptr);
  store::Store* store = chaos_store.get();
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
    for (size_t e = 0; e < job.events.size(); ++e) job.lost.push_back(random() % 10 == 0);
  }

  // Step 2: deliver every event 1-3 times, shuffled over all jobs.
  std::vector<const jobs::Event*> deliveries;
  for (const SimulatedJob& job : simulated) {
    for (size_t e = 0; e < job.events.size(); ++e) {
      if (job.lost[e]) continue;
      int copies = 1 + static_cast<int>(random() % 3);
      for (int c = 0; c < copies; ++c) deliveries.push_back(&job.events[e]);
    }
  }
  std::shuffle(deliveries.begin(), deliveries.end(), random);
  for (const jobs::Event* event : deliveries) {
    ASSERT_TRUE(store->ApplyEvent(*event, clock.NowMillis()).has_value()) << event->event_id;
  }

  // Step 3: the reconciler, once the jobs have been quiet long enough. A
  // second pass finds nothing left to end.
  clock.Advance(60000);
  Reconciler reconciler(ReconcilerOptions{}, *store, backend, clock);
  ReconcilePass pass = reconciler.RunOnce().value();
  ReconcilePass second = reconciler.RunOnce().value();
  EXPECT_EQ(second.ended, 0);

  // Step 4: every job equals its truth (see the top of this file).
  int ended_by_reconciler = 0;
  int completed = 0;
  int untouched = 0;
  for (SimulatedJob& job : simulated) {
    jobs::JobState full = jobs::InitialJobState(kStartMillis);
    jobs::JobState delivered = jobs::InitialJobState(kStartMillis);
    std::vector<store::StoredEvent> delivered_events;
    for (size_t e = 0; e < job.events.size(); ++e) {
      full = jobs::Apply(full, job.events[e]).state;
      if (job.lost[e]) continue;
      delivered = jobs::Apply(delivered, job.events[e]).state;
      delivered_events.push_back(store::StoredEvent{.event = job.events[e]});
    }
    store::Job stored = store->GetJob(job.id).value();
    jobs::JobState truth = delivered;
    if (!jobs::IsTerminal(truth.status)) {
      store::Job before = stored;
      before.state = truth;
      std::optional<jobs::Event> end =
          ReconcilerEvent(before, backend.ends[stored.native_id],
                          UploadedPackage(delivered_events), kStartMillis + 60000);
      ASSERT_TRUE(end) << job.id;
      truth = jobs::Apply(truth, *end).state;
      ++ended_by_reconciler;
    }
    EXPECT_EQ(stored.state, truth) << job.id;
    EXPECT_TRUE(jobs::IsTerminal(stored.state.status)) << job.id;
    if (std::none_of(job.lost.begin(), job.lost.end(), [](bool lost) { return lost; })) {
      ++untouched;
      EXPECT_EQ(stored.state, full) << job.id;
    }
    if (stored.state.status == jobs::JobStatus::kCompleted) {
      ++completed;
      EXPECT_TRUE(stored.model_version.has_value()) << job.id;
    } else {
      EXPECT_FALSE(stored.model_version.has_value()) << job.id;
    }
  }
  EXPECT_EQ(pass.ended, ended_by_reconciler);
  EXPECT_GT(untouched, 0);
  EXPECT_GT(ended_by_reconciler, 0);

  // Each completed job's package is exactly one version of the model.
  std::vector<store::ModelVersion> versions = store->ListModelVersions("chaos-model").value();
  EXPECT_EQ(static_cast<int>(versions.size()), completed);
  std::set<std::string> registered_jobs;
  for (const store::ModelVersion& version : versions) registered_jobs.insert(version.job_id);
  EXPECT_EQ(static_cast<int>(registered_jobs.size()), completed);
}

INSTANTIATE_TEST_SUITE_P(Stores, ReconcilerChaosTest, ::testing::Values("Sqlite", "Postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace tandem::api
