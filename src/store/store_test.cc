// One suite for every Store implementation: the tests of StoreTest run against
// SQLite (in memory) and PostgreSQL. The PostgreSQL runs need a server named
// by the environment variable TANDEM_TEST_POSTGRES (a libpq connection
// string); ctest starts one (scripts/postgres-test-server.sh) and sets it.
// Each PostgreSQL test works in a schema of its own, dropped and created anew.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "common/crypto.h"
#include "store/api_json.h"
#include "store/leader_lock.h"
#include "store/postgres_store.h"
#include "store/sqlite_store.h"

namespace tandem::store {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using S = jobs::SecondaryStatus;

const char* kDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

jobs::JobSpec MakeSpec(std::string name, std::string repository = "flights",
                       std::string model = "flights-delay") {
  Json document = Json::parse(R"({
    "AlgorithmSpecification": {"AlgorithmName": "xgboost"},
    "FeaturePipeline": {"Label": "delay", "Features": []},
    "HyperParameters": {"num_round": "10"},
    "InputDataConfig": [{"ChannelName": "train",
                         "DataSource": {"FileDataSource": {"Path": "/data/train"}}}]
  })");
  document["TrainingJobName"] = name;
  document["Repository"] = repository;
  document["OutputDataConfig"] = {{"ModelName", model}};
  auto spec = jobs::ParseJobSpec(document);
  EXPECT_TRUE(spec) << spec.error().message();
  return *spec;
}

jobs::Event MakeEvent(const std::string& job_id, std::string id, std::optional<S> secondary,
                      int64_t time, Json details = Json::object()) {
  jobs::Event event;
  event.event_id = std::move(id);
  event.job_id = job_id;
  event.source = jobs::EventSource::kRuntime;
  event.observed_at_ms = time;
  if (secondary) {
    event.status = jobs::StatusOf(*secondary);
    event.secondary_status = *secondary;
  }
  event.details = std::move(details);
  return event;
}

jobs::Event CompletedEvent(const std::string& job_id, std::string id, int64_t time) {
  return MakeEvent(job_id, std::move(id), S::kCompleted, time,
                   {{"ModelPackage",
                     {{"Digest", kDigest}, {"SizeBytes", 4096},
                      {"Manifest", {{"ModelName", "flights-delay"}, {"Framework", "xgboost"}}}}}});
}

// The events of one job's true history, in the order they happened.
std::vector<jobs::Event> HistoryOf(const std::string& job_id) {
  return {
      MakeEvent(job_id, "d", S::kDownloading, 2000),
      MakeEvent(job_id, "t0", S::kTraining, 3000, {{"Round", 0}}),
      MakeEvent(job_id, "t1", S::kTraining, 3500, {{"Round", 1}}),
      MakeEvent(job_id, "u", S::kUploading, 4000),
      CompletedEvent(job_id, "c", 5000),
  };
}

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "tandem-store-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

std::unique_ptr<Store> OpenMemory() {
  auto store = OpenSqliteStore(":memory:");
  EXPECT_TRUE(store) << store.error().message();
  return std::move(*store);
}

Job Create(Store& store, const std::string& name, int64_t now = 1000,
           const std::string& repository = "flights") {
  auto created = store.CreateJob(MakeSpec(name, repository), "token-digest", now);
  EXPECT_TRUE(created) << created.error().message();
  return created->job;
}

// ---------------------------------------------------------------------------
// PostgreSQL test plumbing

const char* kPostgresVariable = "TANDEM_TEST_POSTGRES";

std::string PostgresConninfo() {
  const char* value = getenv(kPostgresVariable);
  return value ? value : "";
}

std::string SkipMessage() {
  return fmt::format(
      "{} is not set: no PostgreSQL server to test against. ctest starts one and sets it; by "
      "hand: scripts/postgres-test-server.sh start /tmp/tandem-pg 55433 and "
      "{}=\"host=127.0.0.1 port=55433 dbname=tandem_test user=postgres\"",
      kPostgresVariable, kPostgresVariable);
}

// Runs `sql` on a connection of its own; returns the first column of each row.
std::vector<std::string> RunSql(const std::string& conninfo, const std::string& sql) {
  std::vector<std::string> values;
  PGconn* connection = PQconnectdb(conninfo.c_str());
  EXPECT_EQ(PQstatus(connection), CONNECTION_OK) << PQerrorMessage(connection);
  PGresult* result = PQexec(connection, sql.c_str());
  ExecStatusType status = PQresultStatus(result);
  EXPECT_TRUE(status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)
      << sql << ": " << PQerrorMessage(connection);
  if (status == PGRES_TUPLES_OK) {
    for (int row = 0; row < PQntuples(result); ++row) values.emplace_back(PQgetvalue(result, row, 0));
  }
  PQclear(result);
  PQfinish(connection);
  return values;
}

// Returns a schema name unique to the running test (PostgreSQL keeps 63 bytes of a name).
std::string TestSchemaName() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string full = fmt::format("{}.{}", info->test_suite_name(), info->name());
  std::string name = "t_";
  for (char c : full) name += std::isalnum(static_cast<unsigned char>(c)) ? std::tolower(c) : '_';
  return name.substr(0, 40) + "_" + Sha256Hex(full).substr(0, 8);
}

// Returns `conninfo` with the parameter `key` set to `value`, which may not
// contain quotes or '&'.
std::string AddParameter(const std::string& conninfo, const std::string& key,
                         const std::string& value) {
  if (IsPostgresUri(conninfo)) {
    std::string encoded;
    for (char c : value) {
      if (c == '=') {
        encoded += "%3D";
      } else if (c == ' ') {
        encoded += "%20";
      } else {
        encoded += c;
      }
    }
    char separator = conninfo.find('?') == std::string::npos ? '?' : '&';
    return fmt::format("{}{}{}={}", conninfo, separator, key, encoded);
  }
  return fmt::format("{} {}='{}'", conninfo, key, value);
}

// Returns `conninfo` with search_path set to `schema`.
std::string WithSchema(const std::string& conninfo, const std::string& schema) {
  return AddParameter(conninfo, "options", "-csearch_path=" + schema);
}

// Drops and creates `schema`; returns the connection string that works in it.
std::string FreshSchema(const std::string& schema) {
  std::string conninfo = PostgresConninfo();
  RunSql(conninfo, fmt::format("DROP SCHEMA IF EXISTS {0} CASCADE; CREATE SCHEMA {0}", schema));
  return WithSchema(conninfo, schema);
}

// Polls `condition` up to 400 times, 25 ms apart; returns whether it became true.
template <typename Condition>
bool Eventually(Condition condition) {
  for (int attempt = 0; attempt < 400; ++attempt) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return false;
}

// ---------------------------------------------------------------------------
// The shared suite

enum class StoreKind { kSqlite, kPostgres };

class StoreTest : public ::testing::TestWithParam<StoreKind> {
 protected:
  void SetUp() override {
    if (GetParam() == StoreKind::kSqlite) {
      store_ = OpenMemory();
      return;
    }
    if (PostgresConninfo().empty()) GTEST_SKIP() << SkipMessage();
    auto store = OpenPostgresStore(FreshSchema(TestSchemaName()));
    ASSERT_TRUE(store) << store.error().message();
    store_ = std::move(*store);
  }

  std::unique_ptr<Store> store_;
};

INSTANTIATE_TEST_SUITE_P(AllStores, StoreTest,
                         ::testing::Values(StoreKind::kSqlite, StoreKind::kPostgres),
                         [](const auto& info) {
                           return info.param == StoreKind::kSqlite ? "Sqlite" : "Postgres";
                         });

TEST_P(StoreTest, CreateAndGetJob) {
  auto created = store_->CreateJob(MakeSpec("run-1"), "digest-1", 1000);
  ASSERT_TRUE(created) << created.error().message();
  EXPECT_TRUE(created->created);
  const Job& job = created->job;
  EXPECT_TRUE(job.id.starts_with("job-"));
  EXPECT_EQ(job.id.size(), 16u);
  EXPECT_EQ(job.state.status, jobs::JobStatus::kInProgress);
  EXPECT_EQ(job.state.secondary_status, S::kStarting);

  auto loaded = store_->GetJob(job.id);
  ASSERT_TRUE(loaded) << loaded.error().message();
  EXPECT_EQ(loaded->name, "run-1");
  EXPECT_EQ(loaded->repository, "flights");
  EXPECT_EQ(loaded->spec, job.spec);
  EXPECT_EQ(loaded->spec_digest, jobs::SpecDigest(job.spec));
  EXPECT_EQ(loaded->state, job.state);
  EXPECT_EQ(loaded->job_token_digest, "digest-1");
  EXPECT_EQ(loaded->created_ms, 1000);
  EXPECT_EQ(loaded->row_version, 1);
}

TEST_P(StoreTest, GetUnknownJob) {
  auto job = store_->GetJob("job-000000000000");
  ASSERT_FALSE(job);
  EXPECT_EQ(job.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(job.error().message(), "job job-000000000000 not found");
}

TEST_P(StoreTest, CreateJobIsIdempotent) {
  Job first = Create(*store_, "run-1");
  auto again = store_->CreateJob(MakeSpec("run-1"), "other-digest", 2000);
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->job.id, first.id);
  EXPECT_EQ(again->job.job_token_digest, "token-digest");

  jobs::JobSpec different = MakeSpec("run-1");
  different.hyperparameters["num_round"] = "20";
  auto conflict = store_->CreateJob(different, "digest", 3000);
  ASSERT_FALSE(conflict);
  EXPECT_EQ(conflict.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_THAT(conflict.error().message(), HasSubstr("\"run-1\""));
  EXPECT_THAT(conflict.error().message(), HasSubstr(first.id));

  auto other_repository = store_->CreateJob(MakeSpec("run-1", "weather"), "digest", 3000);
  ASSERT_TRUE(other_repository);
  EXPECT_TRUE(other_repository->created);
  EXPECT_NE(other_repository->job.id, first.id);
}

TEST_P(StoreTest, ApplyEventUpdatesJob) {
  Job job = Create(*store_, "run-1");
  auto applied = store_->ApplyEvent(
      MakeEvent(job.id, "e1", S::kTraining, 1500, {{"Round", 3}}), 1600);
  ASSERT_TRUE(applied) << applied.error().message();
  EXPECT_FALSE(applied->duplicate);
  EXPECT_EQ(applied->verdict, jobs::Verdict::kAccepted);
  EXPECT_EQ(applied->job.state.secondary_status, S::kTraining);
  EXPECT_FALSE(applied->registered.has_value());

  auto loaded = store_->GetJob(job.id);
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->state, applied->job.state);
  EXPECT_EQ(loaded->state.progress["Round"], 3);
  EXPECT_EQ(loaded->updated_ms, 1600);
  EXPECT_EQ(loaded->last_event_ms, 1600);
  EXPECT_EQ(loaded->row_version, 2);
  EXPECT_EQ(loaded->row_version, applied->job.row_version);
  ASSERT_EQ(loaded->state.transitions.size(), 2u);
  EXPECT_EQ(loaded->state.transitions[0].end_ms, 1500);
}

TEST_P(StoreTest, DuplicateEventDropped) {
  Job job = Create(*store_, "run-1");
  jobs::Event event = MakeEvent(job.id, "e1", S::kTraining, 1500, {{"Round", 1}});
  ASSERT_TRUE(store_->ApplyEvent(event, 1600));

  event.details = {{"Round", 99}};  // same id, different content: still a duplicate
  auto again = store_->ApplyEvent(event, 1700);
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(again->verdict, jobs::Verdict::kAccepted);
  EXPECT_EQ(again->job.state.progress["Round"], 1);
  EXPECT_EQ(again->job.last_event_ms, 1600);

  auto events = store_->ListEvents(job.id);
  ASSERT_TRUE(events);
  EXPECT_EQ(events->size(), 1u);
}

TEST_P(StoreTest, RejectedEventsKeptWithReason) {
  Job job = Create(*store_, "run-1");
  ASSERT_TRUE(store_->ApplyEvent(MakeEvent(job.id, "a", S::kTraining, 1500), 1600));
  auto rejected = store_->ApplyEvent(MakeEvent(job.id, "b", S::kStopping, 1700), 1800);
  ASSERT_TRUE(rejected);
  EXPECT_EQ(rejected->verdict, jobs::Verdict::kRejected);
  EXPECT_EQ(rejected->job.updated_ms, 1600);
  EXPECT_EQ(rejected->job.last_event_ms, 1800);

  auto events = store_->ListEvents(job.id);
  ASSERT_TRUE(events);
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[0].event.event_id, "a");
  EXPECT_EQ((*events)[0].verdict, jobs::Verdict::kAccepted);
  EXPECT_EQ((*events)[1].event.event_id, "b");
  EXPECT_EQ((*events)[1].verdict, jobs::Verdict::kRejected);
  EXPECT_THAT((*events)[1].reason, HasSubstr("only a stop request"));
  EXPECT_EQ((*events)[1].received_ms, 1800);
  EXPECT_EQ((*events)[1].event.secondary_status, S::kStopping);

  Json listed = StoredEventToJson((*events)[1]);
  EXPECT_EQ(listed["Verdict"], "Rejected");
  EXPECT_EQ(listed["SecondaryStatus"], "Stopping");
}

TEST_P(StoreTest, EventForUnknownJob) {
  auto applied = store_->ApplyEvent(MakeEvent("job-000000000000", "e", S::kTraining, 1), 2);
  ASSERT_FALSE(applied);
  EXPECT_EQ(applied.error().code(), ErrorCode::kNotFound);
  auto events = store_->ListEvents("job-000000000000");
  ASSERT_FALSE(events);
  EXPECT_EQ(events.error().code(), ErrorCode::kNotFound);
}

TEST_P(StoreTest, MalformedModelPackageRecordsNothing) {
  Job job = Create(*store_, "run-1");
  jobs::Event event = MakeEvent(job.id, "c", S::kCompleted, 2000,
                                {{"ModelPackage", {{"Digest", "nope"}, {"SizeBytes", 1}}}});
  auto applied = store_->ApplyEvent(event, 2000);
  ASSERT_FALSE(applied);
  EXPECT_EQ(applied.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(applied.error().message(), HasSubstr("Details.ModelPackage.Digest"));
  EXPECT_TRUE(store_->ListEvents(job.id)->empty());
  EXPECT_EQ(store_->GetJob(job.id)->state.status, jobs::JobStatus::kInProgress);
}

TEST_P(StoreTest, ShuffledDeliveryConverges) {
  std::mt19937 random(7);
  std::optional<jobs::JobState> expected;
  for (int trial = 0; trial < 12; ++trial) {
    Job job = Create(*store_, fmt::format("run-{}", trial));
    std::vector<jobs::Event> events = {
        MakeEvent(job.id, "d", S::kDownloading, 2000),
        MakeEvent(job.id, "t0", S::kTraining, 3000, {{"Round", 0}}),
        MakeEvent(job.id, "t1", S::kTraining, 3500, {{"Round", 1}}),
        MakeEvent(job.id, "u", S::kUploading, 4000),
        CompletedEvent(job.id, "c", 5000),
    };
    events.push_back(events[trial % events.size()]);  // one delivered twice
    if (trial > 0) std::shuffle(events.begin(), events.end(), random);
    for (const auto& event : events) ASSERT_TRUE(store_->ApplyEvent(event, 6000));

    auto loaded = store_->GetJob(job.id);
    ASSERT_TRUE(loaded);
    if (!expected) expected = loaded->state;
    EXPECT_EQ(loaded->state, *expected) << "trial " << trial;
    EXPECT_TRUE(loaded->model_version.has_value());
  }
  EXPECT_EQ(expected->status, jobs::JobStatus::kCompleted);
  EXPECT_EQ(expected->transitions.size(), 5u);
  EXPECT_EQ(expected->progress["Round"], 1);
}

TEST_P(StoreTest, RegistersOnceDespiteRepeatedCompletion) {
  Job job = Create(*store_, "run-1");
  auto first = store_->ApplyEvent(CompletedEvent(job.id, "c1", 2000), 2100);
  ASSERT_TRUE(first) << first.error().message();
  ASSERT_TRUE(first->registered.has_value());
  EXPECT_EQ(first->registered->version, 1);
  EXPECT_EQ(first->job.model_version, (ModelVersionRef{"flights-delay", 1}));

  auto same_id = store_->ApplyEvent(CompletedEvent(job.id, "c1", 2000), 2200);
  ASSERT_TRUE(same_id);
  EXPECT_TRUE(same_id->duplicate);
  EXPECT_FALSE(same_id->registered.has_value());
  auto new_id = store_->ApplyEvent(CompletedEvent(job.id, "c2", 2001), 2300);
  ASSERT_TRUE(new_id);
  EXPECT_EQ(new_id->verdict, jobs::Verdict::kRejected);
  EXPECT_FALSE(new_id->registered.has_value());

  auto versions = store_->ListModelVersions("flights-delay");
  ASSERT_TRUE(versions) << versions.error().message();
  ASSERT_EQ(versions->size(), 1u);
  EXPECT_EQ((*versions)[0].job_id, job.id);
  EXPECT_EQ((*versions)[0].training_job_name, "run-1");
  EXPECT_EQ((*versions)[0].package_digest, kDigest);
  EXPECT_EQ((*versions)[0].package_size_bytes, 4096);
  EXPECT_EQ((*versions)[0].manifest["Framework"], "xgboost");
  EXPECT_EQ(store_->GetJob(job.id)->model_version, (ModelVersionRef{"flights-delay", 1}));
}

TEST_P(StoreTest, CompletionWithoutPackageRegistersNothing) {
  Job job = Create(*store_, "run-1");
  auto applied = store_->ApplyEvent(MakeEvent(job.id, "c", S::kCompleted, 2000), 2000);
  ASSERT_TRUE(applied);
  EXPECT_EQ(applied->verdict, jobs::Verdict::kAccepted);
  EXPECT_FALSE(applied->registered.has_value());
  EXPECT_TRUE(store_->ListModels()->empty());
}

// Returns the events of one job with every case of ApplyEvent: accepted,
// duplicate (of an earlier event and of one just before), rejected, unknown
// job, malformed package, registration, and a second completion.
std::vector<jobs::Event> MixedSequenceOf(const std::string& job_id) {
  std::vector<jobs::Event> events = {
      MakeEvent(job_id, "d", S::kDownloading, 2000),
      MakeEvent(job_id, "t0", S::kTraining, 3000, {{"Round", 0}}),
      MakeEvent(job_id, "t0", S::kTraining, 3000, {{"Round", 7}}),
      MakeEvent(job_id, "s", S::kStopping, 3100),
      MakeEvent("job-000000000000", "x", S::kTraining, 3200),
      MakeEvent(job_id, "bad", S::kCompleted, 3300,
                {{"ModelPackage", {{"Digest", "nope"}, {"SizeBytes", 1}}}}),
      MakeEvent(job_id, "t1", S::kTraining, 3500, {{"Round", 1}}),
      MakeEvent(job_id, "d", S::kDownloading, 2000),
      MakeEvent(job_id, "u", S::kUploading, 4000),
      CompletedEvent(job_id, "c1", 5000),
      CompletedEvent(job_id, "c1", 5000),
      CompletedEvent(job_id, "c2", 5001),
  };
  return events;
}

TEST_P(StoreTest, ApplyEventsMatchesOneByOne) {
  Job single = Create(*store_, "run-single");
  Job batch = Create(*store_, "run-batch");
  std::vector<jobs::Event> single_events = MixedSequenceOf(single.id);
  std::vector<jobs::Event> batch_events = MixedSequenceOf(batch.id);

  std::vector<Result<ApplyResult>> expected;
  for (const jobs::Event& event : single_events) expected.push_back(store_->ApplyEvent(event, 6000));
  std::vector<Result<ApplyResult>> results = store_->ApplyEvents(batch_events, 6000);

  ASSERT_EQ(results.size(), expected.size());
  for (size_t i = 0; i < results.size(); ++i) {
    SCOPED_TRACE(fmt::format("event {} ({})", i, batch_events[i].event_id));
    ASSERT_EQ(results[i].has_value(), expected[i].has_value());
    if (!expected[i]) {
      EXPECT_EQ(results[i].error().code(), expected[i].error().code());
      continue;
    }
    EXPECT_EQ(results[i]->duplicate, expected[i]->duplicate);
    EXPECT_EQ(results[i]->verdict, expected[i]->verdict);
    EXPECT_EQ(results[i]->reason, expected[i]->reason);
    EXPECT_EQ(results[i]->job.state, expected[i]->job.state);
    EXPECT_EQ(results[i]->job.row_version, expected[i]->job.row_version);
    EXPECT_EQ(results[i]->registered.has_value(), expected[i]->registered.has_value());
  }
  ASSERT_TRUE(results[9]);
  ASSERT_TRUE(results[9]->registered.has_value());
  EXPECT_EQ(results[9]->registered->version, 2);
  EXPECT_EQ(results[9]->job.model_version, (ModelVersionRef{"flights-delay", 2}));

  auto single_stored = store_->ListEvents(single.id);
  auto batch_stored = store_->ListEvents(batch.id);
  ASSERT_TRUE(single_stored);
  ASSERT_TRUE(batch_stored);
  ASSERT_EQ(batch_stored->size(), single_stored->size());
  for (size_t i = 0; i < batch_stored->size(); ++i) {
    EXPECT_EQ((*batch_stored)[i].event.event_id, (*single_stored)[i].event.event_id);
    EXPECT_EQ((*batch_stored)[i].verdict, (*single_stored)[i].verdict);
    EXPECT_EQ((*batch_stored)[i].reason, (*single_stored)[i].reason);
  }
  EXPECT_EQ(store_->GetJob(batch.id)->state, store_->GetJob(single.id)->state);
  EXPECT_EQ(store_->ListModelVersions("flights-delay")->size(), 2u);
}

TEST_P(StoreTest, ApplyEventsOverSeveralJobs) {
  std::vector<Job> created;
  std::vector<jobs::Event> events;
  for (int i = 0; i < 3; ++i) {
    created.push_back(Create(*store_, fmt::format("run-{}", i)));
    for (jobs::Event& event : HistoryOf(created.back().id)) events.push_back(std::move(event));
  }
  std::mt19937 random(11);
  std::shuffle(events.begin(), events.end(), random);
  events.push_back(events.front());  // a second copy within the same batch

  std::vector<Result<ApplyResult>> results = store_->ApplyEvents(events, 6000);
  ASSERT_EQ(results.size(), events.size());
  for (const auto& result : results) ASSERT_TRUE(result) << result.error().message();
  EXPECT_TRUE(results.back()->duplicate);

  for (const Job& job : created) {
    auto loaded = store_->GetJob(job.id);
    ASSERT_TRUE(loaded);
    EXPECT_EQ(loaded->state.status, jobs::JobStatus::kCompleted);
    EXPECT_EQ(loaded->state.transitions.size(), 5u);
    EXPECT_TRUE(loaded->model_version.has_value());
    EXPECT_EQ(store_->ListEvents(job.id)->size(), 5u);
  }
  EXPECT_EQ(store_->ListModelVersions("flights-delay")->size(), 3u);
}

TEST_P(StoreTest, ApplyEventsEmptyBatch) {
  EXPECT_TRUE(store_->ApplyEvents({}, 1000).empty());
}

TEST_P(StoreTest, ModelVersionsCountUp) {
  Job first = Create(*store_, "run-1", 1000);
  Job second = Create(*store_, "run-2", 1100);
  ASSERT_TRUE(store_->ApplyEvent(CompletedEvent(first.id, "c", 2000), 2000));
  ASSERT_TRUE(store_->ApplyEvent(CompletedEvent(second.id, "c", 3000), 3000));

  auto models = store_->ListModels();
  ASSERT_TRUE(models);
  ASSERT_EQ(models->size(), 1u);
  EXPECT_EQ((*models)[0].model_name, "flights-delay");
  EXPECT_EQ((*models)[0].latest_version, 2);
  EXPECT_EQ((*models)[0].created_ms, 2000);
  EXPECT_EQ((*models)[0].updated_ms, 3000);

  auto versions = store_->ListModelVersions("flights-delay");
  ASSERT_TRUE(versions);
  ASSERT_EQ(versions->size(), 2u);
  EXPECT_EQ((*versions)[0].version, 2);  // newest first
  EXPECT_EQ((*versions)[0].job_id, second.id);

  auto latest = store_->GetModelVersion("flights-delay", kLatestVersion);
  ASSERT_TRUE(latest) << latest.error().message();
  EXPECT_EQ(latest->version, 2);
  auto first_version = store_->GetModelVersion("flights-delay", 1);
  ASSERT_TRUE(first_version);
  EXPECT_EQ(first_version->job_id, first.id);
  EXPECT_EQ(ModelVersionToJson(*first_version, true)["Manifest"]["Framework"], "xgboost");
  EXPECT_FALSE(ModelVersionToJson(*first_version, false).contains("Manifest"));
}

TEST_P(StoreTest, UnknownModelAndVersion) {
  auto versions = store_->ListModelVersions("nope");
  ASSERT_FALSE(versions);
  EXPECT_EQ(versions.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(versions.error().message(), "model nope not found");
  auto latest = store_->GetModelVersion("nope", kLatestVersion);
  ASSERT_FALSE(latest);
  EXPECT_EQ(latest.error().code(), ErrorCode::kNotFound);

  Job job = Create(*store_, "run-1");
  ASSERT_TRUE(store_->ApplyEvent(CompletedEvent(job.id, "c", 2000), 2000));
  auto missing = store_->GetModelVersion("flights-delay", 7);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(missing.error().message(), "model flights-delay version 7 not found");
}

TEST_P(StoreTest, AliasSetMovedAndDeleted) {
  Job first = Create(*store_, "run-1", 1000);
  Job second = Create(*store_, "run-2", 1100);
  ASSERT_TRUE(store_->ApplyEvent(CompletedEvent(first.id, "c", 2000), 2000));
  ASSERT_TRUE(store_->ApplyEvent(CompletedEvent(second.id, "c", 3000), 3000));

  auto set = store_->SetModelAlias("flights-delay", "production", 1, 4000);
  ASSERT_TRUE(set) << set.error().message();
  EXPECT_EQ(set->version, 1);
  ASSERT_TRUE(store_->SetModelAlias("flights-delay", "staging", 2, 4100));
  auto moved = store_->SetModelAlias("flights-delay", "production", 2, 5000);
  ASSERT_TRUE(moved) << moved.error().message();

  auto production = store_->GetModelAlias("flights-delay", "production");
  ASSERT_TRUE(production) << production.error().message();
  EXPECT_EQ(production->version, 2);
  EXPECT_EQ(production->updated_ms, 5000);
  auto aliases = store_->ListModelAliases("flights-delay");
  ASSERT_TRUE(aliases);
  ASSERT_EQ(aliases->size(), 2u);
  EXPECT_EQ((*aliases)[0].alias, "production");  // by name
  EXPECT_EQ((*aliases)[1].alias, "staging");
  EXPECT_EQ(ModelAliasToJson((*aliases)[1])["Version"], 2);

  ASSERT_TRUE(store_->DeleteModelAlias("flights-delay", "production"));
  auto deleted = store_->GetModelAlias("flights-delay", "production");
  ASSERT_FALSE(deleted);
  EXPECT_EQ(deleted.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(deleted.error().message(), "model flights-delay has no alias \"production\"");
  auto again = store_->DeleteModelAlias("flights-delay", "production");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store_->ListModelAliases("flights-delay")->size(), 1u);
}

TEST_P(StoreTest, AliasUnknownModelOrVersion) {
  auto no_model = store_->SetModelAlias("nope", "production", 1, 1000);
  ASSERT_FALSE(no_model);
  EXPECT_EQ(no_model.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(no_model.error().message(), "model nope not found");
  EXPECT_EQ(store_->ListModelAliases("nope").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store_->GetModelAlias("nope", "production").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store_->DeleteModelAlias("nope", "production").error().code(), ErrorCode::kNotFound);

  Job job = Create(*store_, "run-1");
  ASSERT_TRUE(store_->ApplyEvent(CompletedEvent(job.id, "c", 2000), 2000));
  auto no_version = store_->SetModelAlias("flights-delay", "production", 7, 3000);
  ASSERT_FALSE(no_version);
  EXPECT_EQ(no_version.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(no_version.error().message(), "model flights-delay version 7 not found");
  EXPECT_TRUE(store_->ListModelAliases("flights-delay")->empty());
}

TEST_P(StoreTest, PagingStableAcrossInserts) {
  std::vector<std::string> ids;
  for (int i = 0; i < 25; ++i) ids.push_back(Create(*store_, fmt::format("run-{}", i), 1000 + i).id);

  std::vector<std::string> seen;
  JobFilter filter;
  filter.page_size = 10;
  for (int page_number = 0; page_number < 10; ++page_number) {
    auto page = store_->ListJobs(filter);
    ASSERT_TRUE(page) << page.error().message();
    for (const Job& job : page->jobs) seen.push_back(job.id);
    if (page_number == 0) {
      ASSERT_EQ(page->jobs.size(), 10u);
      EXPECT_EQ(page->jobs.front().id, ids.back());  // newest first
      for (int i = 0; i < 5; ++i) Create(*store_, fmt::format("late-{}", i), 5000 + i);
    }
    if (page->next_page_token.empty()) break;
    filter.page_token = page->next_page_token;
  }
  std::vector<std::string> expected(ids.rbegin(), ids.rend());
  EXPECT_EQ(seen, expected);
}

TEST_P(StoreTest, ListJobsFilters) {
  Job a = Create(*store_, "run-1", 1000, "flights");
  Job b = Create(*store_, "run-2", 1001, "flights");
  Job c = Create(*store_, "run-1", 1002, "weather");
  ASSERT_TRUE(store_->ApplyEvent(MakeEvent(b.id, "f", S::kFailed, 2000), 2000));

  auto ids_of = [&](JobFilter filter) {
    std::vector<std::string> ids;
    auto page = store_->ListJobs(filter);
    EXPECT_TRUE(page) << page.error().message();
    for (const Job& job : page->jobs) ids.push_back(job.id);
    EXPECT_TRUE(page->next_page_token.empty());
    return ids;
  };
  EXPECT_EQ(ids_of({.repository = "flights"}), (std::vector<std::string>{b.id, a.id}));
  EXPECT_EQ(ids_of({.status = jobs::JobStatus::kFailed}), (std::vector<std::string>{b.id}));
  EXPECT_EQ(ids_of({.name = "run-1"}), (std::vector<std::string>{c.id, a.id}));
  EXPECT_EQ(ids_of({.repository = "weather", .name = "run-1"}), (std::vector<std::string>{c.id}));
  EXPECT_EQ(ids_of({.status = jobs::JobStatus::kInProgress, .page_size = 1000}),
            (std::vector<std::string>{c.id, a.id}));

  auto non_terminal = store_->ListNonTerminalJobs();
  ASSERT_TRUE(non_terminal);
  ASSERT_EQ(non_terminal->size(), 2u);
  EXPECT_EQ((*non_terminal)[0].id, a.id);  // oldest first
}

TEST_P(StoreTest, ListJobsRejectsBadInput) {
  for (int64_t size : {0, 1001}) {
    auto page = store_->ListJobs({.page_size = size});
    ASSERT_FALSE(page);
    EXPECT_EQ(page.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(page.error().message(), HasSubstr("page_size"));
  }
  for (std::string token : {"zz", "abc", "6a6f62732d6265666f72653a78", "0102"}) {
    auto page = store_->ListJobs({.page_token = token});
    ASSERT_FALSE(page) << token;
    EXPECT_EQ(page.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(page.error().message(), HasSubstr("page_token"));
  }
}

TEST_P(StoreTest, SetBackend) {
  Job job = Create(*store_, "run-1");
  ASSERT_TRUE(store_->SetBackend(job.id, "local", "pid:123"));
  auto loaded = store_->GetJob(job.id);
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->backend, "local");
  EXPECT_EQ(loaded->native_id, "pid:123");
  EXPECT_EQ(loaded->row_version, 2);
  EXPECT_EQ(JobToJson(*loaded)["Backend"]["NativeId"], "pid:123");

  auto missing = store_->SetBackend("job-000000000000", "local", "pid:1");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
}

jobs::JobSpec RetrySpec(std::string name, int64_t max_retry_attempts) {
  jobs::JobSpec spec = MakeSpec(std::move(name));
  spec.max_retry_attempts = max_retry_attempts;
  return spec;
}

jobs::Event InterruptedEvent(const std::string& job_id, std::string id, int64_t attempt,
                             int64_t time) {
  jobs::Event event = MakeEvent(job_id, std::move(id), S::kInterrupted, time);
  event.source = jobs::EventSource::kBackend;
  event.attempt = attempt;
  event.message = "node n1 failed";
  return event;
}

TEST_P(StoreTest, RetryRoundTrips) {
  auto created = store_->CreateJob(RetrySpec("run-1", 2), "token-digest", 1000);
  ASSERT_TRUE(created) << created.error().message();
  const std::string id = created->job.id;
  EXPECT_EQ(created->job.state.attempt, 1);
  ASSERT_TRUE(store_->SetLaunch(id, 1, "slurm", "slurm:41"));
  ASSERT_TRUE(store_->ApplyEvent(MakeEvent(id, "t", S::kTraining, 2000), 2000));

  auto retried = store_->ApplyEvent(InterruptedEvent(id, "backend-exit", 1, 3000), 3000);
  ASSERT_TRUE(retried) << retried.error().message();
  EXPECT_EQ(retried->verdict, jobs::Verdict::kAccepted) << retried->reason;

  auto loaded = store_->GetJob(id);
  ASSERT_TRUE(loaded) << loaded.error().message();
  EXPECT_EQ(loaded->spec.max_retry_attempts, 2);
  EXPECT_EQ(loaded->state.attempt, 2);
  EXPECT_EQ(loaded->state.status, jobs::JobStatus::kInProgress);
  EXPECT_EQ(loaded->state.secondary_status, S::kRestarting);
  EXPECT_EQ(loaded->native_id, "");  // the admission controller launches attempt 2
  EXPECT_EQ(loaded->backend, "slurm");
  EXPECT_EQ(loaded->state, retried->job.state);
  ASSERT_EQ(loaded->state.transitions.size(), 4u);
  EXPECT_EQ(loaded->state.transitions[2].attempt, 1);
  EXPECT_EQ(loaded->state.transitions[3].attempt, 2);

  Json document = JobToJson(*loaded);
  EXPECT_EQ(document["AttemptCount"], 2);
  EXPECT_EQ(document["SecondaryStatusTransitions"][3]["Status"], "Restarting");
  EXPECT_EQ(document["SecondaryStatusTransitions"][3]["Attempt"], 2);

  auto events = store_->ListEvents(id);
  ASSERT_TRUE(events);
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ(events->back().event.attempt, 1);
  EXPECT_EQ(events->front().event.attempt, std::nullopt);
}

TEST_P(StoreTest, LaunchOfEarlierAttemptNotRecorded) {
  auto created = store_->CreateJob(RetrySpec("run-1", 1), "token-digest", 1000);
  ASSERT_TRUE(created) << created.error().message();
  const std::string id = created->job.id;
  ASSERT_TRUE(store_->ApplyEvent(InterruptedEvent(id, "reconciler-end", 1, 3000), 3000));

  Status stale = store_->SetLaunch(id, 1, "slurm", "slurm:41");
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(stale.error().message(), HasSubstr("attempt 1 is not recorded"));
  EXPECT_THAT(stale.error().message(), HasSubstr("on attempt 2"));
  EXPECT_EQ(store_->GetJob(id)->native_id, "");

  ASSERT_TRUE(store_->SetLaunch(id, 2, "slurm", "slurm:42"));
  EXPECT_EQ(store_->GetJob(id)->native_id, "slurm:42");

  // The late Completed of attempt 1 is kept, rejected, and changes nothing.
  jobs::Event late = CompletedEvent(id, "late", 3500);
  late.attempt = 1;
  auto applied = store_->ApplyEvent(late, 3500);
  ASSERT_TRUE(applied);
  EXPECT_EQ(applied->verdict, jobs::Verdict::kRejected);
  EXPECT_FALSE(applied->registered);
  EXPECT_EQ(applied->job.state.status, jobs::JobStatus::kInProgress);

  // The second interruption uses the last retry: the job fails.
  auto failed = store_->ApplyEvent(InterruptedEvent(id, "reconciler-end-attempt-2", 2, 4000), 4000);
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->job.state.status, jobs::JobStatus::kFailed);
  EXPECT_EQ(failed->job.native_id, "slurm:42");

  auto missing = store_->SetLaunch("job-000000000000", 1, "local", "pid:1");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
}

TEST_P(StoreTest, SetJobTokenDigest) {
  Job job = Create(*store_, "run-1");
  ASSERT_TRUE(store_->SetJobTokenDigest(job.id, "new-digest"));
  auto loaded = store_->GetJob(job.id);
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->job_token_digest, "new-digest");
  EXPECT_EQ(loaded->row_version, 2);

  auto missing = store_->SetJobTokenDigest("job-000000000000", "digest");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
}

TEST_P(StoreTest, WarmPoolMovesAndBillableTime) {
  Job job = Create(*store_, "run-1");
  EXPECT_FALSE(job.warm_pool);
  jobs::WarmPoolState available{.retained_ms = 10'000, .expires_ms = 70'000};
  ASSERT_TRUE(store_->SetWarmPool(job.id, std::nullopt, available));
  auto loaded = store_->GetJob(job.id);
  ASSERT_TRUE(loaded);
  ASSERT_TRUE(loaded->warm_pool);
  EXPECT_EQ(*loaded->warm_pool, available);
  EXPECT_EQ(loaded->row_version, job.row_version);
  Json document = JobToJson(*loaded, 40'500);
  EXPECT_EQ(document["WarmPoolStatus"]["Status"], "Available");
  EXPECT_EQ(document["WarmPoolStatus"]["ResourceRetainedBillableTimeInSeconds"], 30);
  EXPECT_FALSE(document["WarmPoolStatus"].contains("ReusedByJob"));

  jobs::WarmPoolState in_use = available;
  in_use.status = jobs::WarmPoolStatus::kInUse;
  in_use.reused_by_job = "job-bbbbbbbbbbbb";
  in_use.released_ms = 25'000;
  ASSERT_TRUE(store_->SetWarmPool(job.id, jobs::WarmPoolStatus::kAvailable, in_use));
  jobs::WarmPoolState reused = in_use;
  reused.status = jobs::WarmPoolStatus::kReused;
  ASSERT_TRUE(store_->SetWarmPool(job.id, jobs::WarmPoolStatus::kInUse, reused));
  loaded = store_->GetJob(job.id);
  ASSERT_TRUE(loaded);
  document = JobToJson(*loaded, 900'000);
  EXPECT_EQ(document["WarmPoolStatus"]["Status"], "Reused");
  EXPECT_EQ(document["WarmPoolStatus"]["ReusedByJob"], "job-bbbbbbbbbbbb");
  EXPECT_EQ(document["WarmPoolStatus"]["ResourceRetainedBillableTimeInSeconds"], 15);
}

TEST_P(StoreTest, WarmPoolRejectsStaleOrIllegalMove) {
  Job job = Create(*store_, "run-1");
  jobs::WarmPoolState terminated{.status = jobs::WarmPoolStatus::kTerminated};
  Status illegal = store_->SetWarmPool(job.id, std::nullopt, terminated);
  ASSERT_FALSE(illegal);
  EXPECT_EQ(illegal.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(illegal.error().message(),
            fmt::format("warm pool of job {} cannot move from none to Terminated", job.id));

  ASSERT_TRUE(store_->SetWarmPool(job.id, std::nullopt, {.retained_ms = 1, .expires_ms = 2}));
  // A second writer that still expects "none" loses.
  Status stale = store_->SetWarmPool(job.id, std::nullopt, {.retained_ms = 1, .expires_ms = 2});
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(stale.error().message(),
            fmt::format("warm pool of job {} is Available, not none; another writer moved it "
                        "first",
                        job.id));
  // Expiry and reuse race: only the first of two moves from Available wins.
  ASSERT_TRUE(store_->SetWarmPool(job.id, jobs::WarmPoolStatus::kAvailable, terminated));
  Status late = store_->SetWarmPool(job.id, jobs::WarmPoolStatus::kAvailable,
                                    {.status = jobs::WarmPoolStatus::kInUse});
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code(), ErrorCode::kFailedPrecondition);

  Status missing = store_->SetWarmPool("job-000000000000", std::nullopt, {});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
}

TEST_P(StoreTest, ListJobsByWarmPoolStatus) {
  Job a = Create(*store_, "run-1", 1000);
  Job b = Create(*store_, "run-2", 1001);
  Create(*store_, "run-3", 1002);
  ASSERT_TRUE(store_->SetWarmPool(a.id, std::nullopt, {.retained_ms = 1, .expires_ms = 2}));
  ASSERT_TRUE(store_->SetWarmPool(b.id, std::nullopt, {.retained_ms = 1, .expires_ms = 2}));
  ASSERT_TRUE(store_->SetWarmPool(b.id, jobs::WarmPoolStatus::kAvailable,
                                  {.status = jobs::WarmPoolStatus::kTerminated}));
  auto available = store_->ListJobs({.warm_pool_status = jobs::WarmPoolStatus::kAvailable});
  ASSERT_TRUE(available) << available.error().message();
  ASSERT_EQ(available->jobs.size(), 1u);
  EXPECT_EQ(available->jobs[0].id, a.id);
  auto terminated = store_->ListJobs({.warm_pool_status = jobs::WarmPoolStatus::kTerminated});
  ASSERT_TRUE(terminated);
  ASSERT_EQ(terminated->jobs.size(), 1u);
  EXPECT_EQ(terminated->jobs[0].id, b.id);
}

TEST_P(StoreTest, JobJsonForm) {
  Job job = Create(*store_, "run-1", 1764877325123);
  Json document = JobToJson(job);
  EXPECT_EQ(document["JobId"], job.id);
  EXPECT_EQ(document["TrainingJobStatus"], "InProgress");
  EXPECT_EQ(document["SecondaryStatus"], "Starting");
  EXPECT_EQ(document["CreationTime"], "2025-12-04T19:42:05.123Z");
  EXPECT_EQ(document["SecondaryStatusTransitions"][0]["Status"], "Starting");
  EXPECT_FALSE(document.contains("TrainingStartTime"));
  EXPECT_FALSE(document.contains("Backend"));
  EXPECT_EQ(document["Spec"]["TrainingJobName"], "run-1");
  EXPECT_FALSE(document.dump().contains("token-digest"));
}

// ---------------------------------------------------------------------------
// SQLite only

TEST(SqliteStore, FreshFileMigratedAndReopened) {
  TempDir dir;
  std::filesystem::path path = dir.path() / "tandem.db";
  std::string job_id;
  {
    auto store = OpenSqliteStore(path);
    ASSERT_TRUE(store) << store.error().message();
    job_id = Create(**store, "run-1").id;
    ASSERT_TRUE((*store)->ApplyEvent(MakeEvent(job_id, "t", S::kTraining, 1500), 1500));
    ASSERT_TRUE((*store)->ApplyEvent(CompletedEvent(job_id, "c", 2000), 2000));
  }
  auto reopened = OpenSqliteStore(path);
  ASSERT_TRUE(reopened) << reopened.error().message();
  auto job = (*reopened)->GetJob(job_id);
  ASSERT_TRUE(job) << job.error().message();
  EXPECT_EQ(job->state.status, jobs::JobStatus::kCompleted);
  EXPECT_EQ(job->state.transitions.size(), 3u);
  EXPECT_EQ(job->model_version, (ModelVersionRef{"flights-delay", 1}));
  EXPECT_EQ((*reopened)->ListEvents(job_id)->size(), 2u);
  EXPECT_EQ((*reopened)->GetModelVersion("flights-delay", 1)->job_id, job_id);

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* statement = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT COUNT(*), MAX(version) FROM schema_migrations", -1,
                               &statement, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(statement), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(statement, 0), SqliteMigrationCount());
  EXPECT_EQ(sqlite3_column_int(statement, 1), SqliteSchemaVersion());
  sqlite3_finalize(statement);
  sqlite3_close(db);
}

// A database written before attempts existed (schema 4) gains them at open:
// every job, history entry and event reads as attempt 1.
TEST(SqliteStore, AttemptMigrationKeepsOlderJobs) {
  TempDir dir;
  std::filesystem::path path = dir.path() / "tandem.db";
  std::string job_id;
  {
    auto store = OpenSqliteStore(path);
    ASSERT_TRUE(store) << store.error().message();
    job_id = Create(**store, "run-1").id;
    ASSERT_TRUE((*store)->ApplyEvent(MakeEvent(job_id, "t", S::kTraining, 1500), 1500));
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  int downgraded = sqlite3_exec(db,
                                "ALTER TABLE jobs DROP COLUMN attempt;"
                                "ALTER TABLE job_transitions DROP COLUMN attempt;"
                                "ALTER TABLE job_events DROP COLUMN attempt;"
                                "DELETE FROM schema_migrations WHERE version = 5;",
                                nullptr, nullptr, &error);
  std::string message = error != nullptr ? error : "";
  sqlite3_free(error);
  sqlite3_close(db);
  ASSERT_EQ(downgraded, SQLITE_OK) << message;

  auto reopened = OpenSqliteStore(path);
  ASSERT_TRUE(reopened) << reopened.error().message();
  auto job = (*reopened)->GetJob(job_id);
  ASSERT_TRUE(job) << job.error().message();
  EXPECT_EQ(job->state.attempt, 1);
  EXPECT_EQ(job->state.secondary_status, S::kTraining);
  ASSERT_EQ(job->state.transitions.size(), 2u);
  EXPECT_EQ(job->state.transitions[1].attempt, 1);
  auto events = (*reopened)->ListEvents(job_id);
  ASSERT_TRUE(events);
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ(events->front().event.attempt, std::nullopt);
}

TEST(SqliteStore, NewerSchemaRejected) {
  TempDir dir;
  std::filesystem::path path = dir.path() / "tandem.db";
  ASSERT_TRUE(OpenSqliteStore(path));
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "INSERT INTO schema_migrations (version, description, applied_ms) "
                         "VALUES (999, 'from the future', 0)",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);

  auto store = OpenSqliteStore(path);
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(store.error().message(), HasSubstr("schema version 999"));
  EXPECT_THAT(store.error().message(),
              HasSubstr(fmt::format("version {} of this tandem binary", SqliteSchemaVersion())));
}

TEST(SqliteStore, UnopenablePath) {
  auto store = OpenSqliteStore("/nonexistent-dir/sub/tandem.db");
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code(), ErrorCode::kUnavailable);
  EXPECT_THAT(store.error().message(), HasSubstr("/nonexistent-dir/sub/tandem.db"));
}

TEST(LocalLeaderLock, OneHolderPerName) {
  auto first = TryAcquireLocalLeaderLock("applier");
  ASSERT_NE(first, nullptr);
  EXPECT_TRUE(first->held());
  EXPECT_EQ(first->name(), "applier");
  EXPECT_EQ(TryAcquireLocalLeaderLock("applier"), nullptr);

  auto other = TryAcquireLocalLeaderLock("scheduler");
  EXPECT_NE(other, nullptr);

  first.reset();
  auto again = TryAcquireLocalLeaderLock("applier");
  ASSERT_NE(again, nullptr);
  EXPECT_TRUE(again->held());
}

// ---------------------------------------------------------------------------
// PostgreSQL only

class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (PostgresConninfo().empty()) GTEST_SKIP() << SkipMessage();
    schema_ = TestSchemaName();
    // The application name separates this test's connections from those of a
    // test running beside it.
    conninfo_ = AddParameter(FreshSchema(schema_), "application_name", schema_);
  }

  std::unique_ptr<Store> Open() {
    auto store = OpenPostgresStore(conninfo_);
    EXPECT_TRUE(store) << store.error().message();
    return store ? std::move(*store) : nullptr;
  }

  std::string schema_;
  std::string conninfo_;
};

TEST_F(PostgresStoreTest, MigratedAndReopened) {
  std::string job_id;
  {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    job_id = Create(*store, "run-1").id;
    ASSERT_TRUE(store->ApplyEvent(MakeEvent(job_id, "t", S::kTraining, 1500), 1500));
    ASSERT_TRUE(store->ApplyEvent(CompletedEvent(job_id, "c", 2000), 2000));
  }
  auto reopened = Open();
  ASSERT_NE(reopened, nullptr);
  auto job = reopened->GetJob(job_id);
  ASSERT_TRUE(job) << job.error().message();
  EXPECT_EQ(job->state.status, jobs::JobStatus::kCompleted);
  EXPECT_EQ(job->state.transitions.size(), 3u);
  EXPECT_EQ(job->model_version, (ModelVersionRef{"flights-delay", 1}));
  EXPECT_EQ(reopened->ListEvents(job_id)->size(), 2u);

  auto migrations =
      RunSql(conninfo_, "SELECT COUNT(*)::text || ' ' || MAX(version) FROM schema_migrations");
  ASSERT_EQ(migrations.size(), 1u);
  EXPECT_EQ(migrations[0],
            fmt::format("{} {}", PostgresMigrationCount(), PostgresSchemaVersion()));
}

TEST_F(PostgresStoreTest, ConcurrentOpensMigrateOnce) {
  constexpr int kOpeners = 4;
  std::vector<std::thread> threads;
  std::atomic<int> opened = 0;
  for (int i = 0; i < kOpeners; ++i) {
    threads.emplace_back([&] {
      auto store = OpenPostgresStore(conninfo_);
      EXPECT_TRUE(store) << store.error().message();
      if (store) ++opened;
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(opened, kOpeners);
  EXPECT_EQ(RunSql(conninfo_, "SELECT COUNT(*) FROM schema_migrations"),
            std::vector<std::string>{std::to_string(PostgresMigrationCount())});
}

TEST_F(PostgresStoreTest, NewerSchemaRejected) {
  ASSERT_NE(Open(), nullptr);
  RunSql(conninfo_,
         "INSERT INTO schema_migrations (version, description, applied_ms) "
         "VALUES (999, 'from the future', 0)");
  auto store = OpenPostgresStore(conninfo_);
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(store.error().message(), HasSubstr("schema version 999"));
  EXPECT_THAT(store.error().message(),
              HasSubstr(fmt::format("version {} of this tandem binary", PostgresSchemaVersion())));
  EXPECT_THAT(store.error().message(), HasSubstr("database tandem_test"));
}

TEST_F(PostgresStoreTest, UnreachableServerNamesAddressNotPassword) {
  // Port 1 on loopback: nothing listens there, so the connection is refused at once.
  for (std::string conninfo :
       {"host=127.0.0.1 port=1 dbname=tandem user=alice password=hunter2-secret",
        "postgresql://alice:hunter2-secret@127.0.0.1:1/tandem"}) {
    auto store = OpenPostgresStore(conninfo);
    ASSERT_FALSE(store) << conninfo;
    EXPECT_EQ(store.error().code(), ErrorCode::kUnavailable);
    EXPECT_THAT(store.error().message(), HasSubstr("127.0.0.1:1 database tandem user alice"));
    EXPECT_THAT(store.error().message(), Not(HasSubstr("hunter2-secret")));

    auto lock = TryAcquireLeaderLock(conninfo, "applier");
    ASSERT_FALSE(lock);
    EXPECT_EQ(lock.error().code(), ErrorCode::kUnavailable);
    EXPECT_THAT(lock.error().message(), Not(HasSubstr("hunter2-secret")));
  }
}

TEST_F(PostgresStoreTest, MalformedConninfoRejected) {
  auto unknown = OpenPostgresStore("host=127.0.0.1 colour=blue");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(unknown.error().message(), HasSubstr("colour"));

  auto bad_uri = OpenPostgresStore("postgresql://alice:hunter2%zz@127.0.0.1:1/tandem");
  ASSERT_FALSE(bad_uri);
  EXPECT_EQ(bad_uri.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(bad_uri.error().message(), HasSubstr("database: invalid PostgreSQL connection"));
  EXPECT_THAT(bad_uri.error().message(), Not(HasSubstr("hunter2")));
}

TEST_F(PostgresStoreTest, MissingSchemaIsInternal) {
  auto store = OpenPostgresStore(WithSchema(PostgresConninfo(), "t_no_such_schema"));
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code(), ErrorCode::kInternal);
  EXPECT_THAT(store.error().message(), HasSubstr("3F000"));
}

// Two stores (two connection pools, as two processes would have) apply every
// event of the same jobs from two threads each, each thread in its own
// shuffled order, so that every event arrives four times, concurrently.
TEST_F(PostgresStoreTest, ConcurrentApplyConvergesToTruth) {
  constexpr int kJobs = 6;
  constexpr int kThreadsPerStore = 2;
  auto first = Open();
  auto second = Open();
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);

  // The truth: each history applied once, in order, to an SQLite store.
  auto truth_store = OpenMemory();
  Job truth_job = Create(*truth_store, "truth");
  for (const auto& event : HistoryOf(truth_job.id)) ASSERT_TRUE(truth_store->ApplyEvent(event, 6000));
  jobs::JobState truth = truth_store->GetJob(truth_job.id)->state;

  std::vector<jobs::Event> all_events;
  std::vector<std::string> job_ids;
  for (int i = 0; i < kJobs; ++i) {
    job_ids.push_back(Create(*first, fmt::format("run-{}", i)).id);
    for (auto& event : HistoryOf(job_ids.back())) all_events.push_back(std::move(event));
  }

  std::vector<std::thread> threads;
  std::atomic<int> failures = 0;
  std::atomic<int> registrations = 0;
  for (int t = 0; t < 2 * kThreadsPerStore; ++t) {
    Store* store = t < kThreadsPerStore ? first.get() : second.get();
    threads.emplace_back([&, store, t] {
      std::vector<jobs::Event> events = all_events;
      std::shuffle(events.begin(), events.end(), std::mt19937(100 + t));
      for (const auto& event : events) {
        auto applied = store->ApplyEvent(event, 6000);
        if (!applied) {
          ++failures;
          ADD_FAILURE() << applied.error().message();
        } else if (applied->registered) {
          ++registrations;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(registrations, kJobs);

  std::set<int64_t> versions;
  for (const std::string& id : job_ids) {
    auto job = second->GetJob(id);
    ASSERT_TRUE(job) << job.error().message();
    EXPECT_EQ(job->state, truth) << id;
    ASSERT_TRUE(job->model_version.has_value()) << id;
    versions.insert(job->model_version->version);
    auto events = first->ListEvents(id);
    ASSERT_TRUE(events);
    EXPECT_EQ(events->size(), 5u) << id;
  }
  auto registered = first->ListModelVersions("flights-delay");
  ASSERT_TRUE(registered) << registered.error().message();
  EXPECT_EQ(registered->size(), static_cast<size_t>(kJobs));
  EXPECT_EQ(versions.size(), static_cast<size_t>(kJobs));
  EXPECT_EQ(*versions.begin(), 1);
  EXPECT_EQ(*versions.rbegin(), kJobs);
}

TEST_F(PostgresStoreTest, ConcurrentCreateMakesOneJob) {
  auto first = Open();
  auto second = Open();
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  constexpr int kThreads = 4;
  std::vector<std::thread> threads;
  std::mutex mu;
  std::set<std::string> ids;
  int created = 0;
  for (int t = 0; t < kThreads; ++t) {
    Store* store = t % 2 == 0 ? first.get() : second.get();
    threads.emplace_back([&, store] {
      auto result = store->CreateJob(MakeSpec("same-name"), "token", 1000);
      ASSERT_TRUE(result) << result.error().message();
      std::lock_guard lock(mu);
      ids.insert(result->job.id);
      created += result->created ? 1 : 0;
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(created, 1);
  EXPECT_EQ(ids.size(), 1u);
}

TEST_F(PostgresStoreTest, PoolServesMoreThreadsThanConnections) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  Job job = Create(*store, "run-1");
  constexpr int kThreads = static_cast<int>(kPostgresPoolSize) * 2;
  std::atomic<int> loaded = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        auto found = store->GetJob(job.id);
        if (found && found->id == job.id) ++loaded;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(loaded, kThreads * 20);
  auto connections = RunSql(
      PostgresConninfo(),
      fmt::format("SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = '{}'", schema_));
  ASSERT_EQ(connections.size(), 1u);
  EXPECT_GE(std::stoi(connections[0]), 1);
  EXPECT_LE(std::stoi(connections[0]), static_cast<int>(kPostgresPoolSize));
}

TEST_F(PostgresStoreTest, LeaderLockHasOneHolder) {
  std::string name = schema_;  // unique to this test
  auto first = TryAcquireLeaderLock(PostgresConninfo(), name);
  ASSERT_TRUE(first) << first.error().message();
  ASSERT_NE(*first, nullptr);
  EXPECT_TRUE((*first)->held());
  EXPECT_EQ((*first)->name(), name);

  auto second = TryAcquireLeaderLock(PostgresConninfo(), name);
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_EQ(*second, nullptr);

  auto other_name = TryAcquireLeaderLock(PostgresConninfo(), name + "-other");
  ASSERT_TRUE(other_name);
  EXPECT_NE(*other_name, nullptr);

  // Releasing lets the other take it once the server has ended the session.
  first->reset();
  std::unique_ptr<LeaderLock> taken;
  EXPECT_TRUE(Eventually([&] {
    auto attempt = TryAcquireLeaderLock(PostgresConninfo(), name);
    if (attempt && *attempt) taken = std::move(*attempt);
    return taken != nullptr;
  }));
  ASSERT_NE(taken, nullptr);
  EXPECT_TRUE(taken->held());
}

TEST_F(PostgresStoreTest, LeaderLockLostWithConnection) {
  // Short, because the server keeps 63 bytes of "tandem leader lock: NAME".
  std::string name = "lost-" + schema_.substr(schema_.size() - 8);
  auto lock = TryAcquireLeaderLock(PostgresConninfo(), name);
  ASSERT_TRUE(lock) << lock.error().message();
  ASSERT_NE(*lock, nullptr);
  ASSERT_TRUE((*lock)->held());

  auto terminated = RunSql(PostgresConninfo(),
                           fmt::format("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                       "WHERE application_name = 'tandem leader lock: {}'",
                                       name));
  EXPECT_EQ(terminated, std::vector<std::string>{"t"});
  EXPECT_TRUE(Eventually([&] { return !(*lock)->held(); }));
  EXPECT_FALSE((*lock)->held());  // once lost, stays lost

  std::unique_ptr<LeaderLock> successor;
  EXPECT_TRUE(Eventually([&] {
    auto attempt = TryAcquireLeaderLock(PostgresConninfo(), name);
    if (attempt && *attempt) successor = std::move(*attempt);
    return successor != nullptr;
  }));
}

TEST_F(PostgresStoreTest, StoreRecoversAfterConnectionsKilled) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  Job job = Create(*store, "run-1");
  auto terminated = RunSql(
      PostgresConninfo(),
      fmt::format("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                  "WHERE application_name = '{}'",
                  schema_));
  EXPECT_FALSE(terminated.empty());

  // The first call on a killed connection may fail as kUnavailable; the pool
  // reconnects it on a later call.
  bool recovered = Eventually([&] {
    auto found = store->GetJob(job.id);
    if (!found) {
      EXPECT_EQ(found.error().code(), ErrorCode::kUnavailable) << found.error().message();
    }
    return found.has_value();
  });
  EXPECT_TRUE(recovered);
}

}  // namespace
}  // namespace tandem::store
