#include "schedules/schedule_spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/clock.h"

namespace tandem::schedules {
namespace {

using ::testing::HasSubstr;

Json Definition() {
  return Json::parse(R"({
    "ScheduleName": "flights-retrain",
    "ScheduleExpression": "@every 15m",
    "OverlapPolicy": "Queue",
    "JobTemplate": {
      "Repository": "flights",
      "AlgorithmSpecification": {"AlgorithmName": "xgboost"},
      "FeaturePipeline": {"Label": "delay",
                          "Features": [{"Field": "distance", "Kind": "numeric"}]},
      "InputDataConfig": [{"ChannelName": "train",
                           "DataSource": {"FileDataSource": {"Path": "/data/train"}}}],
      "OutputDataConfig": {"ModelName": "flights-delay"}
    }
  })");
}

TEST(ScheduleDefinition, ParsesValidDefinition) {
  auto schedule = ParseScheduleDefinition(Definition());
  ASSERT_TRUE(schedule) << schedule.error().message();
  EXPECT_EQ(schedule->name, "flights-retrain");
  EXPECT_EQ(schedule->repository, "flights");
  EXPECT_EQ(schedule->expression, "@every 15m");
  EXPECT_EQ(schedule->overlap_policy, store::OverlapPolicy::kQueue);
  EXPECT_FALSE(schedule->paused);
  EXPECT_FALSE(schedule->job_template.contains("TrainingJobName"));
  // Canonical: defaults spelled out, so equal templates compare equal.
  EXPECT_TRUE(schedule->job_template.contains("StoppingCondition"));
}

TEST(ScheduleDefinition, DefaultsToSkipAndActive) {
  Json definition = Definition();
  definition.erase("OverlapPolicy");
  auto schedule = ParseScheduleDefinition(definition);
  ASSERT_TRUE(schedule) << schedule.error().message();
  EXPECT_EQ(schedule->overlap_policy, store::OverlapPolicy::kSkip);
  EXPECT_FALSE(schedule->paused);
}

TEST(ScheduleDefinition, RunSpecCarriesRunName) {
  auto schedule = ParseScheduleDefinition(Definition());
  ASSERT_TRUE(schedule) << schedule.error().message();
  auto slot = ParseTimestamp("2026-12-04T15:15:00Z");
  ASSERT_TRUE(slot);
  auto spec = RunJobSpec(*schedule, *slot);
  ASSERT_TRUE(spec) << spec.error().message();
  EXPECT_EQ(spec->training_job_name, "flights-retrain-20261204t151500z");
  EXPECT_EQ(spec->repository, "flights");
  EXPECT_EQ(spec->model_name, "flights-delay");
}

struct BadDefinition {
  std::string label;
  std::function<void(Json&)> change;
  std::string error;
};

TEST(ScheduleDefinition, RejectsBadDefinitions) {
  const std::vector<BadDefinition> cases = {
      {"unknown field", [](Json& d) { d["Schedule"] = "x"; }, "Schedule"},
      {"missing name", [](Json& d) { d.erase("ScheduleName"); }, "ScheduleName"},
      {"bad name", [](Json& d) { d["ScheduleName"] = "flights_retrain"; }, "ScheduleName"},
      {"long name", [](Json& d) { d["ScheduleName"] = std::string(47, 'a'); },
       "ScheduleName: \"" + std::string(47, 'a') + "\" has 47 characters, at most 46"},
      {"missing expression", [](Json& d) { d.erase("ScheduleExpression"); },
       "ScheduleExpression"},
      {"bad expression", [](Json& d) { d["ScheduleExpression"] = "0 25 * * *"; },
       "ScheduleExpression: cron expression \"0 25 * * *\": hour field: \"25\" is out of range "
       "0-23"},
      {"short period", [](Json& d) { d["ScheduleExpression"] = "@every 0s"; },
       "ScheduleExpression: cron expression \"@every 0s\": @every duration \"0s\": shorter "
       "than the minimum of 1s"},
      {"unknown policy", [](Json& d) { d["OverlapPolicy"] = "Parallel"; },
       "OverlapPolicy: unknown overlap policy \"Parallel\", expected Skip, Queue or Replace"},
      {"lower-case policy", [](Json& d) { d["OverlapPolicy"] = "skip"; },
       "unknown overlap policy \"skip\""},
      {"policy not a string", [](Json& d) { d["OverlapPolicy"] = 1; }, "OverlapPolicy"},
      {"paused not a bool", [](Json& d) { d["Paused"] = "yes"; }, "Paused"},
      {"missing template", [](Json& d) { d.erase("JobTemplate"); },
       "JobTemplate: missing, expected a job spec without TrainingJobName"},
      {"template not an object", [](Json& d) { d["JobTemplate"] = "x"; }, "JobTemplate"},
      {"template names its job", [](Json& d) { d["JobTemplate"]["TrainingJobName"] = "x"; },
       "JobTemplate.TrainingJobName: must not be set"},
      {"template field unknown", [](Json& d) { d["JobTemplate"]["Foo"] = 1; },
       "JobTemplate: "},
      {"template path relative",
       [](Json& d) {
         d["JobTemplate"]["InputDataConfig"][0]["DataSource"]["FileDataSource"]["Path"] = "data";
       },
       "JobTemplate: InputDataConfig[0]"},
  };
  for (const BadDefinition& c : cases) {
    SCOPED_TRACE(c.label);
    Json definition = Definition();
    c.change(definition);
    auto schedule = ParseScheduleDefinition(definition);
    ASSERT_FALSE(schedule);
    EXPECT_EQ(schedule.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(schedule.error().message(), HasSubstr(c.error));
  }
}

TEST(ScheduleDefinition, RejectsNonObject) {
  auto schedule = ParseScheduleDefinition(Json::array());
  ASSERT_FALSE(schedule);
  EXPECT_EQ(schedule.error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace tandem::schedules
