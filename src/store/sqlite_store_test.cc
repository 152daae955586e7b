#include "store/sqlite_store.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <random>
#include <set>

#include "store/api_json.h"

namespace tandem::store {
namespace {

using ::testing::HasSubstr;
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

TEST(SqliteStore, CreateAndGetJob) {
  auto store = OpenMemory();
  auto created = store->CreateJob(MakeSpec("run-1"), "digest-1", 1000);
  ASSERT_TRUE(created) << created.error().message();
  EXPECT_TRUE(created->created);
  const Job& job = created->job;
  EXPECT_TRUE(job.id.starts_with("job-"));
  EXPECT_EQ(job.id.size(), 16u);
  EXPECT_EQ(job.state.status, jobs::JobStatus::kInProgress);
  EXPECT_EQ(job.state.secondary_status, S::kStarting);

  auto loaded = store->GetJob(job.id);
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

TEST(SqliteStore, GetUnknownJob) {
  auto store = OpenMemory();
  auto job = store->GetJob("job-000000000000");
  ASSERT_FALSE(job);
  EXPECT_EQ(job.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(job.error().message(), "job job-000000000000 not found");
}

TEST(SqliteStore, CreateJobIsIdempotent) {
  auto store = OpenMemory();
  Job first = Create(*store, "run-1");
  auto again = store->CreateJob(MakeSpec("run-1"), "other-digest", 2000);
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->job.id, first.id);
  EXPECT_EQ(again->job.job_token_digest, "token-digest");

  jobs::JobSpec different = MakeSpec("run-1");
  different.hyperparameters["num_round"] = "20";
  auto conflict = store->CreateJob(different, "digest", 3000);
  ASSERT_FALSE(conflict);
  EXPECT_EQ(conflict.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_THAT(conflict.error().message(), HasSubstr("\"run-1\""));
  EXPECT_THAT(conflict.error().message(), HasSubstr(first.id));

  auto other_repository = store->CreateJob(MakeSpec("run-1", "weather"), "digest", 3000);
  ASSERT_TRUE(other_repository);
  EXPECT_TRUE(other_repository->created);
  EXPECT_NE(other_repository->job.id, first.id);
}

TEST(SqliteStore, ApplyEventUpdatesJob) {
  auto store = OpenMemory();
  Job job = Create(*store, "run-1");
  auto applied = store->ApplyEvent(
      MakeEvent(job.id, "e1", S::kTraining, 1500, {{"Round", 3}}), 1600);
  ASSERT_TRUE(applied) << applied.error().message();
  EXPECT_FALSE(applied->duplicate);
  EXPECT_EQ(applied->verdict, jobs::Verdict::kAccepted);
  EXPECT_EQ(applied->job.state.secondary_status, S::kTraining);
  EXPECT_FALSE(applied->registered.has_value());

  auto loaded = store->GetJob(job.id);
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

TEST(SqliteStore, DuplicateEventDropped) {
  auto store = OpenMemory();
  Job job = Create(*store, "run-1");
  jobs::Event event = MakeEvent(job.id, "e1", S::kTraining, 1500, {{"Round", 1}});
  ASSERT_TRUE(store->ApplyEvent(event, 1600));

  event.details = {{"Round", 99}};  // same id, different content: still a duplicate
  auto again = store->ApplyEvent(event, 1700);
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(again->verdict, jobs::Verdict::kAccepted);
  EXPECT_EQ(again->job.state.progress["Round"], 1);
  EXPECT_EQ(again->job.last_event_ms, 1600);

  auto events = store->ListEvents(job.id);
  ASSERT_TRUE(events);
  EXPECT_EQ(events->size(), 1u);
}

TEST(SqliteStore, RejectedEventsKeptWithReason) {
  auto store = OpenMemory();
  Job job = Create(*store, "run-1");
  ASSERT_TRUE(store->ApplyEvent(MakeEvent(job.id, "a", S::kTraining, 1500), 1600));
  auto rejected = store->ApplyEvent(MakeEvent(job.id, "b", S::kStopping, 1700), 1800);
  ASSERT_TRUE(rejected);
  EXPECT_EQ(rejected->verdict, jobs::Verdict::kRejected);
  EXPECT_EQ(rejected->job.updated_ms, 1600);
  EXPECT_EQ(rejected->job.last_event_ms, 1800);

  auto events = store->ListEvents(job.id);
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

TEST(SqliteStore, EventForUnknownJob) {
  auto store = OpenMemory();
  auto applied = store->ApplyEvent(MakeEvent("job-000000000000", "e", S::kTraining, 1), 2);
  ASSERT_FALSE(applied);
  EXPECT_EQ(applied.error().code(), ErrorCode::kNotFound);
  auto events = store->ListEvents("job-000000000000");
  ASSERT_FALSE(events);
  EXPECT_EQ(events.error().code(), ErrorCode::kNotFound);
}

TEST(SqliteStore, MalformedModelPackageRecordsNothing) {
  auto store = OpenMemory();
  Job job = Create(*store, "run-1");
  jobs::Event event = MakeEvent(job.id, "c", S::kCompleted, 2000,
                                {{"ModelPackage", {{"Digest", "nope"}, {"SizeBytes", 1}}}});
  auto applied = store->ApplyEvent(event, 2000);
  ASSERT_FALSE(applied);
  EXPECT_EQ(applied.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(applied.error().message(), HasSubstr("Details.ModelPackage.Digest"));
  EXPECT_TRUE(store->ListEvents(job.id)->empty());
  EXPECT_EQ(store->GetJob(job.id)->state.status, jobs::JobStatus::kInProgress);
}

TEST(SqliteStore, ShuffledDeliveryConverges) {
  auto store = OpenMemory();
  std::mt19937 random(7);
  std::optional<jobs::JobState> expected;
  for (int trial = 0; trial < 12; ++trial) {
    Job job = Create(*store, fmt::format("run-{}", trial));
    std::vector<jobs::Event> events = {
        MakeEvent(job.id, "d", S::kDownloading, 2000),
        MakeEvent(job.id, "t0", S::kTraining, 3000, {{"Round", 0}}),
        MakeEvent(job.id, "t1", S::kTraining, 3500, {{"Round", 1}}),
        MakeEvent(job.id, "u", S::kUploading, 4000),
        CompletedEvent(job.id, "c", 5000),
    };
    events.push_back(events[trial % events.size()]);  // one delivered twice
    if (trial > 0) std::shuffle(events.begin(), events.end(), random);
    for (const auto& event : events) ASSERT_TRUE(store->ApplyEvent(event, 6000));

    auto loaded = store->GetJob(job.id);
    ASSERT_TRUE(loaded);
    if (!expected) expected = loaded->state;
    EXPECT_EQ(loaded->state, *expected) << "trial " << trial;
    EXPECT_TRUE(loaded->model_version.has_value());
  }
  EXPECT_EQ(expected->status, jobs::JobStatus::kCompleted);
  EXPECT_EQ(expected->transitions.size(), 5u);
  EXPECT_EQ(expected->progress["Round"], 1);
}

TEST(SqliteStore, RegistersOnceDespiteRepeatedCompletion) {
  auto store = OpenMemory();
  Job job = Create(*store, "run-1");
  auto first = store->ApplyEvent(CompletedEvent(job.id, "c1", 2000), 2100);
  ASSERT_TRUE(first) << first.error().message();
  ASSERT_TRUE(first->registered.has_value());
  EXPECT_EQ(first->registered->version, 1);
  EXPECT_EQ(first->job.model_version, (ModelVersionRef{"flights-delay", 1}));

  auto same_id = store->ApplyEvent(CompletedEvent(job.id, "c1", 2000), 2200);
  ASSERT_TRUE(same_id);
  EXPECT_TRUE(same_id->duplicate);
  EXPECT_FALSE(same_id->registered.has_value());
  auto new_id = store->ApplyEvent(CompletedEvent(job.id, "c2", 2001), 2300);
  ASSERT_TRUE(new_id);
  EXPECT_EQ(new_id->verdict, jobs::Verdict::kRejected);
  EXPECT_FALSE(new_id->registered.has_value());

  auto versions = store->ListModelVersions("flights-delay");
  ASSERT_TRUE(versions) << versions.error().message();
  ASSERT_EQ(versions->size(), 1u);
  EXPECT_EQ((*versions)[0].job_id, job.id);
  EXPECT_EQ((*versions)[0].training_job_name, "run-1");
  EXPECT_EQ((*versions)[0].package_digest, kDigest);
  EXPECT_EQ((*versions)[0].package_size_bytes, 4096);
  EXPECT_EQ((*versions)[0].manifest["Framework"], "xgboost");
  EXPECT_EQ(store->GetJob(job.id)->model_version, (ModelVersionRef{"flights-delay", 1}));
}

TEST(SqliteStore, CompletionWithoutPackageRegistersNothing) {
  auto store = OpenMemory();
  Job job = Create(*store, "run-1");
  auto applied = store->ApplyEvent(MakeEvent(job.id, "c", S::kCompleted, 2000), 2000);
  ASSERT_TRUE(applied);
  EXPECT_EQ(applied->verdict, jobs::Verdict::kAccepted);
  EXPECT_FALSE(applied->registered.has_value());
  EXPECT_TRUE(store->ListModels()->empty());
}

TEST(SqliteStore, ModelVersionsCountUp) {
  auto store = OpenMemory();
  Job first = Create(*store, "run-1", 1000);
  Job second = Create(*store, "run-2", 1100);
  ASSERT_TRUE(store->ApplyEvent(CompletedEvent(first.id, "c", 2000), 2000));
  ASSERT_TRUE(store->ApplyEvent(CompletedEvent(second.id, "c", 3000), 3000));

  auto models = store->ListModels();
  ASSERT_TRUE(models);
  ASSERT_EQ(models->size(), 1u);
  EXPECT_EQ((*models)[0].model_name, "flights-delay");
  EXPECT_EQ((*models)[0].latest_version, 2);
  EXPECT_EQ((*models)[0].created_ms, 2000);
  EXPECT_EQ((*models)[0].updated_ms, 3000);

  auto versions = store->ListModelVersions("flights-delay");
  ASSERT_TRUE(versions);
  ASSERT_EQ(versions->size(), 2u);
  EXPECT_EQ((*versions)[0].version, 2);  // newest first
  EXPECT_EQ((*versions)[0].job_id, second.id);

  auto latest = store->GetModelVersion("flights-delay", kLatestVersion);
  ASSERT_TRUE(latest) << latest.error().message();
  EXPECT_EQ(latest->version, 2);
  auto first_version = store->GetModelVersion("flights-delay", 1);
  ASSERT_TRUE(first_version);
  EXPECT_EQ(first_version->job_id, first.id);
  EXPECT_EQ(ModelVersionToJson(*first_version, true)["Manifest"]["Framework"], "xgboost");
  EXPECT_FALSE(ModelVersionToJson(*first_version, false).contains("Manifest"));
}

TEST(SqliteStore, UnknownModelAndVersion) {
  auto store = OpenMemory();
  auto versions = store->ListModelVersions("nope");
  ASSERT_FALSE(versions);
  EXPECT_EQ(versions.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(versions.error().message(), "model nope not found");
  auto latest = store->GetModelVersion("nope", kLatestVersion);
  ASSERT_FALSE(latest);
  EXPECT_EQ(latest.error().code(), ErrorCode::kNotFound);

  Job job = Create(*store, "run-1");
  ASSERT_TRUE(store->ApplyEvent(CompletedEvent(job.id, "c", 2000), 2000));
  auto missing = store->GetModelVersion("flights-delay", 7);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(missing.error().message(), "model flights-delay version 7 not found");
}

TEST(SqliteStore, PagingStableAcrossInserts) {
  auto store = OpenMemory();
  std::vector<std::string> ids;
  for (int i = 0; i < 25; ++i) ids.push_back(Create(*store, fmt::format("run-{}", i), 1000 + i).id);

  std::vector<std::string> seen;
  JobFilter filter;
  filter.page_size = 10;
  for (int page_number = 0; page_number < 10; ++page_number) {
    auto page = store->ListJobs(filter);
    ASSERT_TRUE(page) << page.error().message();
    for (const Job& job : page->jobs) seen.push_back(job.id);
    if (page_number == 0) {
      ASSERT_EQ(page->jobs.size(), 10u);
      EXPECT_EQ(page->jobs.front().id, ids.back());  // newest first
      for (int i = 0; i < 5; ++i) Create(*store, fmt::format("late-{}", i), 5000 + i);
    }
    if (page->next_page_token.empty()) break;
    filter.page_token = page->next_page_token;
  }
  std::vector<std::string> expected(ids.rbegin(), ids.rend());
  EXPECT_EQ(seen, expected);
}

TEST(SqliteStore, ListJobsFilters) {
  auto store = OpenMemory();
  Job a = Create(*store, "run-1", 1000, "flights");
  Job b = Create(*store, "run-2", 1001, "flights");
  Job c = Create(*store, "run-1", 1002, "weather");
  ASSERT_TRUE(store->ApplyEvent(MakeEvent(b.id, "f", S::kFailed, 2000), 2000));

  auto ids_of = [&](JobFilter filter) {
    std::vector<std::string> ids;
    auto page = store->ListJobs(filter);
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

  auto non_terminal = store->ListNonTerminalJobs();
  ASSERT_TRUE(non_terminal);
  ASSERT_EQ(non_terminal->size(), 2u);
  EXPECT_EQ((*non_terminal)[0].id, a.id);  // oldest first
}

TEST(SqliteStore, ListJobsRejectsBadInput) {
  auto store = OpenMemory();
  for (int64_t size : {0, 1001}) {
    auto page = store->ListJobs({.page_size = size});
    ASSERT_FALSE(page);
    EXPECT_EQ(page.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(page.error().message(), HasSubstr("page_size"));
  }
  for (std::string token : {"zz", "abc", "6a6f62732d6265666f72653a78", "0102"}) {
    auto page = store->ListJobs({.page_token = token});
    ASSERT_FALSE(page) << token;
    EXPECT_EQ(page.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(page.error().message(), HasSubstr("page_token"));
  }
}

TEST(SqliteStore, SetBackend) {
  auto store = OpenMemory();
  Job job = Create(*store, "run-1");
  ASSERT_TRUE(store->SetBackend(job.id, "local", "pid:123"));
  auto loaded = store->GetJob(job.id);
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->backend, "local");
  EXPECT_EQ(loaded->native_id, "pid:123");
  EXPECT_EQ(loaded->row_version, 2);
  EXPECT_EQ(JobToJson(*loaded)["Backend"]["NativeId"], "pid:123");

  auto missing = store->SetBackend("job-000000000000", "local", "pid:1");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
}

TEST(SqliteStore, JobJsonForm) {
  auto store = OpenMemory();
  Job job = Create(*store, "run-1", 1764877325123);
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
  EXPECT_EQ(sqlite3_column_int(statement, 0), SqliteSchemaVersion());
  EXPECT_EQ(sqlite3_column_int(statement, 1), SqliteSchemaVersion());
  sqlite3_finalize(statement);
  sqlite3_close(db);
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

}  // namespace
}  // namespace tandem::store
