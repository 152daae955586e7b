#include "cli/schedule_format.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "cli/schedule_commands.h"
#include "common/crypto.h"

namespace tandem::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

Json DescribedSchedule() {
  return Json::parse(R"({
    "ScheduleName": "flights-retrain", "Repository": "flights",
    "ScheduleExpression": "@every 15m", "OverlapPolicy": "Skip", "Paused": false,
    "CreationTime": "2026-12-04T15:00:00.000Z", "LastSlotTime": "2026-12-04T15:15:00.000Z",
    "JobTemplate": {"OutputDataConfig": {"ModelName": "flights-delay"}},
    "NextRunTimes": ["2026-12-04T15:30:00.000Z", "2026-12-04T15:45:00.000Z"],
    "Runs": [{"SlotTime": "2026-12-04T15:15:00.000Z",
              "TrainingJobName": "flights-retrain-20261204t151500z",
              "TrainingJobStatus": "Completed", "SecondaryStatus": "Completed"}]
  })");
}

TEST(ScheduleFormat, DescriptionShowsNextTimesAndRuns) {
  std::string text = FormatScheduleDescription(DescribedSchedule());
  EXPECT_THAT(text, HasSubstr("Schedule        flights-retrain\n"));
  EXPECT_THAT(text, HasSubstr("Expression      @every 15m (UTC)\n"));
  EXPECT_THAT(text, HasSubstr("Model           flights-delay\n"));
  EXPECT_THAT(text, HasSubstr("Next due times:\n  2026-12-04T15:30:00.000Z\n"));
  EXPECT_THAT(text, HasSubstr("flights-retrain-20261204t151500z  Completed"));
  EXPECT_THAT(text, Not(HasSubstr("Queued slot")));
}

TEST(ScheduleFormat, DescriptionOfPausedScheduleWithoutRuns) {
  Json schedule = DescribedSchedule();
  schedule["Paused"] = true;
  schedule["NextRunTimes"] = Json::array();
  schedule["Runs"] = Json::array();
  std::string text = FormatScheduleDescription(schedule);
  EXPECT_THAT(text, HasSubstr("Paused          yes\n"));
  EXPECT_THAT(text, HasSubstr("none (paused)"));
  EXPECT_THAT(text, HasSubstr("none yet"));
}

TEST(ScheduleFormat, TableHasOneRowPerSchedule) {
  std::string text = FormatScheduleTable(Json::array({DescribedSchedule()}));
  EXPECT_THAT(text, HasSubstr("NAME"));
  EXPECT_THAT(text, HasSubstr("LAST SLOT"));
  EXPECT_THAT(text, HasSubstr("flights-retrain  flights"));
  EXPECT_THAT(text, HasSubstr("2026-12-04T15:15:00.000Z"));
}

class ScheduleFileTest : public ::testing::Test {
 protected:
  ~ScheduleFileTest() override {
    std::error_code error;
    std::filesystem::remove_all(dir_, error);
  }
  std::filesystem::path Write(const std::string& text) {
    std::filesystem::create_directories(dir_);
    std::filesystem::path path = dir_ / "schedule.json";
    std::ofstream(path) << text;
    return path;
  }
  std::filesystem::path dir_ =
      std::filesystem::temp_directory_path() / ("tandem-schedule-file-" + RandomHex(6));
};

VariableLookup Lookup() {
  return [](std::string_view name) -> std::optional<std::string> {
    if (name == "DATA") return "/srv/data";
    return std::nullopt;
  };
}

TEST_F(ScheduleFileTest, ExpandsAndResolvesTemplatePaths) {
  std::filesystem::path file = Write(R"({
    "ScheduleName": "r", "ScheduleExpression": "@hourly",
    "JobTemplate": {"InputDataConfig": [
      {"ChannelName": "train", "DataSource": {"FileDataSource": {"Path": "${DATA}/train"}}},
      {"ChannelName": "validation", "DataSource": {"FileDataSource": {"Path": "validation"}}}]}
  })");
  auto definition = LoadScheduleDefinition(file, Lookup());
  ASSERT_TRUE(definition) << definition.error().message();
  const Json& channels = (*definition)["JobTemplate"]["InputDataConfig"];
  EXPECT_EQ(channels[0]["DataSource"]["FileDataSource"]["Path"], "/srv/data/train");
  EXPECT_EQ(channels[1]["DataSource"]["FileDataSource"]["Path"],
            (dir_ / "validation").lexically_normal().string());
}

TEST_F(ScheduleFileTest, RejectsBadFiles) {
  auto not_json = LoadScheduleDefinition(Write("{"), Lookup());
  ASSERT_FALSE(not_json);
  EXPECT_EQ(not_json.error().code(), ErrorCode::kInvalidArgument);

  auto not_object = LoadScheduleDefinition(Write("[]"), Lookup());
  ASSERT_FALSE(not_object);
  EXPECT_THAT(not_object.error().message(), HasSubstr("expected a JSON object"));

  auto bad_template = LoadScheduleDefinition(Write(R"({"JobTemplate": 3})"), Lookup());
  ASSERT_FALSE(bad_template);
  EXPECT_THAT(bad_template.error().message(), HasSubstr("JobTemplate: expected an object"));

  auto undefined = LoadScheduleDefinition(
      Write(R"({"JobTemplate": {"Environment": {"A": "${NOPE}"}}})"), Lookup());
  ASSERT_FALSE(undefined);
  EXPECT_THAT(undefined.error().message(), HasSubstr("JobTemplate"));
  EXPECT_THAT(undefined.error().message(), HasSubstr("NOPE"));

  auto missing = LoadScheduleDefinition(dir_ / "absent.json", Lookup());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
}

}  // namespace
}  // namespace tandem::cli
