// The schedules routes over a real server and SQLite store, and the scheduler
// submitting runs through the API's own routes (ApiRunLauncher).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "api/api_test_fixture.h"
#include "api/schedule_runner.h"
#include "schedules/cron.h"

namespace tandem::api {
namespace {

using ::testing::HasSubstr;

class ApiSchedulesTest : public ApiTest {
 protected:
  // A valid definition whose template's channel lies under the input root.
  Json Definition(std::string_view name = "retrain",
                  std::string_view expression = "@every 15m",
                  std::string_view policy = "Skip") const {
    Json job_template = ValidSpec();
    job_template.erase("TrainingJobName");
    return {{"ScheduleName", name},
            {"ScheduleExpression", expression},
            {"OverlapPolicy", policy},
            {"JobTemplate", std::move(job_template)}};
  }

  http::Response Post(const Json& body, std::string_view token = kAdminToken) {
    return Send("POST", "/api/v1/schedules", DumpJson(body), token);
  }

  Json CreateSchedule(const Json& body) {
    http::Response response = Post(body);
    EXPECT_EQ(response.status, 201) << response.body;
    return BodyOf(response);
  }

  // Returns the error of a 400 response to `body`.
  std::string RejectedWith400(const Json& body) {
    http::Response response = Post(body);
    EXPECT_EQ(response.status, 400) << response.body;
    EXPECT_EQ(BodyOf(response)["code"], "invalid_argument");
    return BodyOf(response).value("error", "");
  }

  int64_t SlotAfterStart(int n = 1) const {
    schedules::CronSchedule cron = *schedules::CronSchedule::Parse("@every 15m");
    int64_t slot = kStartMillis;
    for (int i = 0; i < n; ++i) slot = cron.Next(slot);
    return slot;
  }
};

TEST_F(ApiSchedulesTest, CreateReturns201AndGetShowsNextRunTimes) {
  Json created = CreateSchedule(Definition());
  EXPECT_EQ(created["ScheduleName"], "retrain");
  EXPECT_EQ(created["Repository"], "flights");
  EXPECT_EQ(created["OverlapPolicy"], "Skip");
  EXPECT_EQ(created["Paused"], false);
  EXPECT_EQ(created["CreationTime"], FormatTimestamp(kStartMillis));
  EXPECT_FALSE(created["JobTemplate"].contains("TrainingJobName"));

  http::Response got = Send("GET", "/api/v1/schedules/retrain");
  ASSERT_EQ(got.status, 200) << got.body;
  Json body = BodyOf(got);
  ASSERT_EQ(body["NextRunTimes"].size(), 5u);
  EXPECT_EQ(body["NextRunTimes"][0], FormatTimestamp(SlotAfterStart(1)));
  EXPECT_EQ(body["NextRunTimes"][4], FormatTimestamp(SlotAfterStart(5)));
  EXPECT_TRUE(body["Runs"].empty());
}

TEST_F(ApiSchedulesTest, SameDefinitionReturns200DifferentReturns409) {
  CreateSchedule(Definition());
  http::Response again = Post(Definition());
  EXPECT_EQ(again.status, 200) << again.body;

  http::Response changed = Post(Definition("retrain", "@hourly"));
  EXPECT_EQ(changed.status, 409) << changed.body;
  EXPECT_EQ(BodyOf(changed)["code"], "already_exists");
  EXPECT_THAT(BodyOf(changed)["error"].get<std::string>(),
              HasSubstr("schedule retrain already exists"));
}

TEST_F(ApiSchedulesTest, RejectsUnknownField) {
  Json body = Definition();
  body["Timezone"] = "Europe/Paris";
  EXPECT_THAT(RejectedWith400(body), HasSubstr("Timezone"));
}

TEST_F(ApiSchedulesTest, RejectsBadCron) {
  EXPECT_THAT(RejectedWith400(Definition("retrain", "0 25 * * *")),
              HasSubstr("ScheduleExpression: cron expression \"0 25 * * *\": hour field: "
                        "\"25\" is out of range 0-23"));
  EXPECT_THAT(RejectedWith400(Definition("retrain", "@every 500ms")),
              HasSubstr("@every duration \"500ms\""));
}

TEST_F(ApiSchedulesTest, RejectsUnknownOverlapPolicy) {
  EXPECT_THAT(RejectedWith400(Definition("retrain", "@hourly", "Parallel")),
              HasSubstr("OverlapPolicy: unknown overlap policy \"Parallel\", expected Skip, "
                        "Queue or Replace"));
}

TEST_F(ApiSchedulesTest, RejectsBadTemplate) {
  Json named = Definition();
  named["JobTemplate"]["TrainingJobName"] = "x";
  EXPECT_THAT(RejectedWith400(named), HasSubstr("JobTemplate.TrainingJobName: must not be set"));

  Json misspelt = Definition();
  misspelt["JobTemplate"]["HyperParameters"]["max_dpeth"] = "8";
  EXPECT_THAT(RejectedWith400(misspelt), HasSubstr("JobTemplate: HyperParameters"));

  http::Response not_json = Send("POST", "/api/v1/schedules", "{not json");
  EXPECT_EQ(not_json.status, 400) << not_json.body;
}

TEST_F(ApiSchedulesTest, RejectsTemplatePathOutsideInputRoots) {
  Json outside = Definition();
  outside["JobTemplate"]["InputDataConfig"][0]["DataSource"]["FileDataSource"]["Path"] = "/etc";
  http::Response response = Post(outside);
  EXPECT_EQ(response.status, 403) << response.body;
  EXPECT_THAT(BodyOf(response)["error"].get<std::string>(), HasSubstr("JobTemplate"));
  EXPECT_EQ(Send("GET", "/api/v1/schedules/retrain").status, 404);
}

TEST_F(ApiSchedulesTest, RejectsBadRunLimit) {
  CreateSchedule(Definition());
  for (const char* limit : {"0", "201", "x"}) {
    SCOPED_TRACE(limit);
    http::Response response =
        Send("GET", fmt::format("/api/v1/schedules/retrain?run_limit={}", limit));
    EXPECT_EQ(response.status, 400) << response.body;
    EXPECT_THAT(BodyOf(response)["error"].get<std::string>(), HasSubstr("run_limit"));
  }
}

TEST_F(ApiSchedulesTest, MutatingCallsNeedAdminToken) {
  EXPECT_EQ(Post(Definition(), "").status, 401);
  EXPECT_EQ(Post(Definition(), "wrong-token").status, 401);
  EXPECT_EQ(Send("GET", "/api/v1/schedules/retrain").status, 404);

  CreateSchedule(Definition());
  for (const char* target : {"/api/v1/schedules/retrain/pause", "/api/v1/schedules/retrain/resume"}) {
    SCOPED_TRACE(target);
    http::Response response = Send("POST", target, "", "");
    EXPECT_EQ(response.status, 401);
    EXPECT_EQ(BodyOf(response)["code"], "unauthenticated");
  }
  EXPECT_EQ(Send("DELETE", "/api/v1/schedules/retrain", "", "").status, 401);
  EXPECT_EQ(BodyOf(Send("GET", "/api/v1/schedules/retrain"))["Paused"], false);
}

TEST_F(ApiSchedulesTest, PauseAndResume) {
  CreateSchedule(Definition());
  http::Response paused = Send("POST", "/api/v1/schedules/retrain/pause");
  ASSERT_EQ(paused.status, 200) << paused.body;
  EXPECT_EQ(BodyOf(paused)["Paused"], true);
  EXPECT_TRUE(BodyOf(Send("GET", "/api/v1/schedules/retrain"))["NextRunTimes"].empty());

  // An hour later, resuming marks the slots of the pause as handled.
  clock_.Advance(3600 * 1000);
  http::Response resumed = Send("POST", "/api/v1/schedules/retrain/resume");
  ASSERT_EQ(resumed.status, 200) << resumed.body;
  Json body = BodyOf(resumed);
  EXPECT_EQ(body["Paused"], false);
  schedules::CronSchedule cron = *schedules::CronSchedule::Parse("@every 15m");
  EXPECT_EQ(body["LastSlotTime"], FormatTimestamp(cron.Previous(clock_.NowMillis())));

  EXPECT_EQ(Send("POST", "/api/v1/schedules/nope/pause").status, 404);
  EXPECT_EQ(Send("POST", "/api/v1/schedules/nope/resume").status, 404);
}

TEST_F(ApiSchedulesTest, ListFiltersByRepositoryAndDeleteRemoves) {
  CreateSchedule(Definition("b"));
  Json other = Definition("a");
  other["JobTemplate"]["Repository"] = "taxis";
  CreateSchedule(other);

  Json all = BodyOf(Send("GET", "/api/v1/schedules"));
  ASSERT_EQ(all["Schedules"].size(), 2u);
  EXPECT_EQ(all["Schedules"][0]["ScheduleName"], "a");
  Json flights = BodyOf(Send("GET", "/api/v1/schedules?repository=flights"));
  ASSERT_EQ(flights["Schedules"].size(), 1u);
  EXPECT_EQ(flights["Schedules"][0]["ScheduleName"], "b");

  http::Response deleted = Send("DELETE", "/api/v1/schedules/b");
  EXPECT_EQ(deleted.status, 200) << deleted.body;
  EXPECT_EQ(Send("GET", "/api/v1/schedules/b").status, 404);
  EXPECT_EQ(Send("DELETE", "/api/v1/schedules/b").status, 404);
}

TEST_F(ApiSchedulesTest, SchedulerSubmitsRunsThroughApi) {
  CreateSchedule(Definition());
  ApiRunLauncher launcher(*router_, std::string(kAdminToken), *store_);
  schedules::Scheduler scheduler(schedules::SchedulerOptions{}, *store_, launcher, clock_);

  clock_.Set(SlotAfterStart(1));
  auto pass = scheduler.RunOnce();
  ASSERT_TRUE(pass) << pass.error().message();
  EXPECT_EQ(pass->fired, 1);
  ASSERT_TRUE(scheduler.RunOnce());
  ASSERT_EQ(backend_.launches().size(), 1u);
  std::string run_name = "retrain-" + FormatTimestamp(SlotAfterStart(1)).substr(0, 4);
  EXPECT_THAT(backend_.launches()[0].job_name, HasSubstr(run_name));

  Json described = BodyOf(Send("GET", "/api/v1/schedules/retrain"));
  ASSERT_EQ(described["Runs"].size(), 1u);
  EXPECT_EQ(described["Runs"][0]["TrainingJobName"], backend_.launches()[0].job_name);
  EXPECT_EQ(described["Runs"][0]["TrainingJobStatus"], "InProgress");
  EXPECT_EQ(described["Runs"][0]["SlotTime"], FormatTimestamp(SlotAfterStart(1)));
}

TEST_F(ApiSchedulesTest, ReplaceStopsRunningJobThroughApi) {
  CreateSchedule(Definition("retrain", "@every 15m", "Replace"));
  ApiRunLauncher launcher(*router_, std::string(kAdminToken), *store_);
  schedules::Scheduler scheduler(schedules::SchedulerOptions{}, *store_, launcher, clock_);

  clock_.Set(SlotAfterStart(1));
  ASSERT_TRUE(scheduler.RunOnce());
  clock_.Set(SlotAfterStart(2));
  auto pass = scheduler.RunOnce();
  ASSERT_TRUE(pass) << pass.error().message();
  EXPECT_EQ(pass->replaced, 1);
  EXPECT_EQ(pass->fired, 1);
  EXPECT_EQ(backend_.launches().size(), 2u);
  ASSERT_EQ(backend_.stops().size(), 1u);
  EXPECT_EQ(backend_.stops()[0].first, "fake:1");
}

}  // namespace
}  // namespace tandem::api
