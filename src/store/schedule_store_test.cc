// The schedule calls of every Store implementation: SQLite (in memory) and
// PostgreSQL. The PostgreSQL half needs the server that the libpq connection
// string TANDEM_TEST_POSTGRES names, which ctest starts and sets as it does
// for store_test. Each PostgreSQL test works in a schema of its own, dropped
// and created anew.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <stdlib.h>

#include <cctype>
#include <string>

#include "common/crypto.h"
#include "store/postgres_store.h"
#include "store/sqlite_store.h"

namespace tandem::store {
namespace {

using ::testing::HasSubstr;

enum class StoreKind { kSqlite, kPostgres };

std::string PostgresConninfo() {
  const char* value = getenv("TANDEM_TEST_POSTGRES");
  return value ? value : "";
}

void RunSql(const std::string& conninfo, const std::string& sql) {
  PGconn* connection = PQconnectdb(conninfo.c_str());
  EXPECT_EQ(PQstatus(connection), CONNECTION_OK) << PQerrorMessage(connection);
  PGresult* result = PQexec(connection, sql.c_str());
  EXPECT_EQ(PQresultStatus(result), PGRES_COMMAND_OK) << sql << ": " << PQerrorMessage(connection);
  PQclear(result);
  PQfinish(connection);
}

// Drops and creates a schema unique to the running test; returns the
// connection string that works in it. `conninfo` is in key=value form.
std::string FreshSchema(const std::string& conninfo) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string full = fmt::format("{}.{}", info->test_suite_name(), info->name());
  std::string schema = "s_";
  for (char c : full) {
    schema += std::isalnum(static_cast<unsigned char>(c)) ? std::tolower(c) : '_';
  }
  schema = schema.substr(0, 40) + "_" + Sha256Hex(full).substr(0, 8);
  RunSql(conninfo, fmt::format("DROP SCHEMA IF EXISTS {0} CASCADE; CREATE SCHEMA {0}", schema));
  return fmt::format("{} options='-csearch_path={}'", conninfo, schema);
}

Schedule MakeSchedule(std::string name = "retrain", std::string repository = "flights") {
  Schedule schedule;
  schedule.name = std::move(name);
  schedule.repository = std::move(repository);
  schedule.expression = "@every 15m";
  schedule.overlap_policy = OverlapPolicy::kQueue;
  schedule.job_template = {{"Repository", schedule.repository}, {"HyperParameters", {{"a", "1"}}}};
  return schedule;
}

jobs::JobSpec MakeSpec(const std::string& name) {
  Json document = Json::parse(R"({
    "Repository": "flights",
    "AlgorithmSpecification": {"AlgorithmName": "xgboost"},
    "FeaturePipeline": {"Label": "delay", "Features": []},
    "InputDataConfig": [{"ChannelName": "train",
                         "DataSource": {"FileDataSource": {"Path": "/data/train"}}}],
    "OutputDataConfig": {"ModelName": "flights-delay"}
  })");
  document["TrainingJobName"] = name;
  auto spec = jobs::ParseJobSpec(document);
  EXPECT_TRUE(spec) << spec.error().message();
  return *spec;
}

class ScheduleStoreTest : public ::testing::TestWithParam<StoreKind> {
 protected:
  void SetUp() override {
    if (GetParam() == StoreKind::kSqlite) {
      auto store = OpenSqliteStore(":memory:");
      ASSERT_TRUE(store) << store.error().message();
      store_ = std::move(*store);
      return;
    }
    if (PostgresConninfo().empty()) {
      GTEST_SKIP() << "TANDEM_TEST_POSTGRES is not set: no PostgreSQL server to test against";
    }
    auto store = OpenPostgresStore(FreshSchema(PostgresConninfo()));
    ASSERT_TRUE(store) << store.error().message();
    store_ = std::move(*store);
  }

  Schedule Create(const Schedule& schedule, int64_t now = 1000) {
    auto created = store_->CreateSchedule(schedule, now);
    EXPECT_TRUE(created) << created.error().message();
    return created ? created->schedule : Schedule{};
  }

  // Creates a job to link runs to; returns its id.
  std::string CreateJob(const std::string& name) {
    auto created = store_->CreateJob(MakeSpec(name), "digest", 1000);
    EXPECT_TRUE(created) << created.error().message();
    return created ? created->job.id : "";
  }

  std::unique_ptr<Store> store_;
};

INSTANTIATE_TEST_SUITE_P(AllStores, ScheduleStoreTest,
                         ::testing::Values(StoreKind::kSqlite, StoreKind::kPostgres),
                         [](const auto& info) {
                           return info.param == StoreKind::kSqlite ? "Sqlite" : "Postgres";
                         });

TEST_P(ScheduleStoreTest, CreateAndGet) {
  auto created = store_->CreateSchedule(MakeSchedule(), 1000);
  ASSERT_TRUE(created) << created.error().message();
  EXPECT_TRUE(created->created);
  EXPECT_EQ(created->schedule.created_ms, 1000);
  EXPECT_EQ(created->schedule.row_version, 1);

  auto got = store_->GetSchedule("retrain");
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_TRUE(SameDefinition(*got, MakeSchedule()));
  EXPECT_EQ(got->overlap_policy, OverlapPolicy::kQueue);
  EXPECT_EQ(got->job_template, MakeSchedule().job_template);
  EXPECT_EQ(got->created_ms, 1000);
  EXPECT_EQ(got->updated_ms, 1000);
  EXPECT_FALSE(got->last_slot_ms);
  EXPECT_FALSE(got->queued_slot_ms);
  EXPECT_FALSE(got->paused);
}

TEST_P(ScheduleStoreTest, CreateIsIdempotentForSameDefinition) {
  Create(MakeSchedule(), 1000);
  auto again = store_->CreateSchedule(MakeSchedule(), 2000);
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->schedule.created_ms, 1000);

  Schedule changed = MakeSchedule();
  changed.expression = "@hourly";
  auto conflict = store_->CreateSchedule(changed, 2000);
  ASSERT_FALSE(conflict);
  EXPECT_EQ(conflict.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_THAT(conflict.error().message(), HasSubstr("schedule retrain already exists"));
}

TEST_P(ScheduleStoreTest, UnknownScheduleIsNotFound) {
  auto got = store_->GetSchedule("nope");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(got.error().message(), "schedule nope not found");
  EXPECT_EQ(store_->DeleteSchedule("nope").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store_->SetSchedulePaused("nope", true, std::nullopt, 1).error().code(),
            ErrorCode::kNotFound);
  EXPECT_EQ(store_->ListScheduleRuns("nope", 10).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store_->AdvanceSchedule({.name = "nope", .expected_row_version = 1}).error().code(),
            ErrorCode::kNotFound);
}

TEST_P(ScheduleStoreTest, ListsByNameAndRepository) {
  Create(MakeSchedule("b", "flights"));
  Create(MakeSchedule("a", "taxis"));
  Create(MakeSchedule("c", "flights"));
  auto all = store_->ListSchedules(std::nullopt);
  ASSERT_TRUE(all) << all.error().message();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].name, "a");
  EXPECT_EQ((*all)[2].name, "c");
  auto flights = store_->ListSchedules("flights");
  ASSERT_TRUE(flights) << flights.error().message();
  ASSERT_EQ(flights->size(), 2u);
  EXPECT_EQ((*flights)[0].name, "b");
  EXPECT_EQ((*flights)[1].name, "c");
}

TEST_P(ScheduleStoreTest, AdvanceIsCompareAndSet) {
  Schedule schedule = Create(MakeSchedule());
  std::string job_id = CreateJob("retrain-1");
  ScheduleRun run{.schedule_name = "retrain",
                  .slot_ms = 900000,
                  .job_id = job_id,
                  .job_name = "retrain-1",
                  .fired_ms = 900100};
  auto advanced = store_->AdvanceSchedule({.name = "retrain",
                                           .expected_row_version = schedule.row_version,
                                           .last_slot_ms = 900000,
                                           .queued_slot_ms = std::nullopt,
                                           .run = run,
                                           .now_ms = 900100});
  ASSERT_TRUE(advanced) << advanced.error().message();
  EXPECT_EQ(advanced->last_slot_ms, 900000);
  EXPECT_EQ(advanced->row_version, schedule.row_version + 1);

  // A second writer holding the old row version loses.
  auto stale = store_->AdvanceSchedule({.name = "retrain",
                                        .expected_row_version = schedule.row_version,
                                        .last_slot_ms = 1800000,
                                        .now_ms = 1800000});
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code(), ErrorCode::kAborted);

  auto got = store_->GetSchedule("retrain");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->last_slot_ms, 900000);
  EXPECT_EQ(got->updated_ms, 900100);
  auto runs = store_->ListScheduleRuns("retrain", 10);
  ASSERT_TRUE(runs) << runs.error().message();
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ(runs->front(), run);
}

TEST_P(ScheduleStoreTest, QueuedSlotStoredAndCleared) {
  Schedule schedule = Create(MakeSchedule());
  auto queued = store_->AdvanceSchedule({.name = "retrain",
                                         .expected_row_version = schedule.row_version,
                                         .last_slot_ms = 1800000,
                                         .queued_slot_ms = 1800000,
                                         .now_ms = 1800000});
  ASSERT_TRUE(queued) << queued.error().message();
  EXPECT_EQ(store_->GetSchedule("retrain")->queued_slot_ms, 1800000);

  // Resuming with a slot drops the queued one.
  auto resumed = store_->SetSchedulePaused("retrain", false, 2700000, 2700500);
  ASSERT_TRUE(resumed) << resumed.error().message();
  EXPECT_FALSE(resumed->queued_slot_ms);
  EXPECT_EQ(resumed->last_slot_ms, 2700000);
  EXPECT_EQ(store_->GetSchedule("retrain")->queued_slot_ms, std::nullopt);
}

TEST_P(ScheduleStoreTest, PauseAndResume) {
  Schedule schedule = Create(MakeSchedule());
  auto paused = store_->SetSchedulePaused("retrain", true, std::nullopt, 5000);
  ASSERT_TRUE(paused) << paused.error().message();
  EXPECT_TRUE(paused->paused);
  EXPECT_EQ(paused->row_version, schedule.row_version + 1);
  EXPECT_TRUE(store_->GetSchedule("retrain")->paused);
  EXPECT_EQ(store_->GetSchedule("retrain")->updated_ms, 5000);
  EXPECT_FALSE(store_->GetSchedule("retrain")->last_slot_ms);

  auto resumed = store_->SetSchedulePaused("retrain", false, 900000, 901000);
  ASSERT_TRUE(resumed) << resumed.error().message();
  EXPECT_FALSE(store_->GetSchedule("retrain")->paused);
  EXPECT_EQ(store_->GetSchedule("retrain")->last_slot_ms, 900000);
}

TEST_P(ScheduleStoreTest, RunsListedLatestFirstAndOncePerSlot) {
  Schedule schedule = Create(MakeSchedule());
  for (int i = 1; i <= 3; ++i) {
    std::string name = fmt::format("retrain-{}", i);
    std::string job_id = CreateJob(name);
    auto advanced = store_->AdvanceSchedule(
        {.name = "retrain",
         .expected_row_version = schedule.row_version,
         .last_slot_ms = i * 900000,
         .run = ScheduleRun{"retrain", i * int64_t{900000}, job_id, name, i * int64_t{900000}},
         .now_ms = i * 900000});
    ASSERT_TRUE(advanced) << advanced.error().message();
    schedule = *advanced;
  }
  // A second record of slot 3 is ignored.
  auto repeated = store_->AdvanceSchedule(
      {.name = "retrain",
       .expected_row_version = schedule.row_version,
       .last_slot_ms = 2700000,
       .run = ScheduleRun{"retrain", 2700000, CreateJob("other"), "other", 2700001},
       .now_ms = 2700001});
  ASSERT_TRUE(repeated) << repeated.error().message();

  auto runs = store_->ListScheduleRuns("retrain", 2);
  ASSERT_TRUE(runs) << runs.error().message();
  ASSERT_EQ(runs->size(), 2u);
  EXPECT_EQ((*runs)[0].slot_ms, 2700000);
  EXPECT_EQ((*runs)[0].job_name, "retrain-3");
  EXPECT_EQ((*runs)[1].slot_ms, 1800000);
}

TEST_P(ScheduleStoreTest, DeleteRemovesScheduleAndRunsButKeepsJobs) {
  Schedule schedule = Create(MakeSchedule());
  std::string job_id = CreateJob("retrain-1");
  ASSERT_TRUE(store_->AdvanceSchedule(
      {.name = "retrain",
       .expected_row_version = schedule.row_version,
       .last_slot_ms = 900000,
       .run = ScheduleRun{"retrain", 900000, job_id, "retrain-1", 900000},
       .now_ms = 900000}));
  ASSERT_TRUE(store_->DeleteSchedule("retrain"));
  EXPECT_EQ(store_->GetSchedule("retrain").error().code(), ErrorCode::kNotFound);
  EXPECT_TRUE(store_->GetJob(job_id));

  // The name may be taken again, with no runs.
  Create(MakeSchedule());
  auto runs = store_->ListScheduleRuns("retrain", 10);
  ASSERT_TRUE(runs) << runs.error().message();
  EXPECT_TRUE(runs->empty());
}

}  // namespace
}  // namespace tandem::store
