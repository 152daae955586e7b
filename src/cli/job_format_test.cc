#include "cli/job_format.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cli/model_commands.h"

namespace tandem::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(FormatTableTest, AlignsColumns) {
  EXPECT_EQ(FormatTable({{"A", "BB", "C"}, {"long", "x", ""}, {"y"}}),
            "A     BB  C\n"
            "long  x\n"
            "y\n");
}

TEST(FormatJobDescriptionTest, ShowsTransitionsProgressAndModel) {
  Json job = {
      {"JobId", "job-0123456789ab"},
      {"TrainingJobName", "flights-1"},
      {"TrainingJobStatus", "Failed"},
      {"SecondaryStatus", "Failed"},
      {"FailureReason", "killed by signal 9"},
      {"SecondaryStatusTransitions",
       {{{"Status", "Starting"}, {"StartTime", "2026-12-04T19:42:05.123Z"},
         {"EndTime", "2026-12-04T19:42:06.000Z"}, {"StatusMessage", ""}},
        {{"Status", "Failed"}, {"StartTime", "2026-12-04T19:42:06.000Z"},
         {"StatusMessage", "killed by signal 9"}}}},
      {"Progress", {{"RowsRead", 2700000}}},
      {"Backend", {{"Name", "local"}, {"NativeId", "pid:12"}}},
      {"ModelVersion", {{"ModelName", "flights-delay"}, {"Version", 3}}}};
  std::string text = FormatJobDescription(job);
  EXPECT_THAT(text, HasSubstr("Status:             Failed (Failed)\n"));
  EXPECT_THAT(text, HasSubstr("Failure reason:     killed by signal 9\n"));
  EXPECT_THAT(text, HasSubstr("  Starting            2026-12-04T19:42:05.123Z -> "
                              "2026-12-04T19:42:06.000Z\n"));
  EXPECT_THAT(text, HasSubstr("RowsRead:         2,700,000"));
  EXPECT_THAT(text, HasSubstr("Backend:            local pid:12\n"));
  EXPECT_THAT(text, HasSubstr("Model version:      flights-delay:3\n"));
  EXPECT_THAT(text, Not(HasSubstr("Training started")));
}

TEST(FormatJobDescriptionTest, ShowsWarmPool) {
  Json job = {{"JobId", "job-a"},
              {"WarmPoolStatus",
               {{"Status", "Reused"},
                {"ReusedByJob", "job-b"},
                {"ResourceRetainedBillableTimeInSeconds", 42}}}};
  EXPECT_THAT(FormatJobDescription(job),
              HasSubstr("Warm pool:          Reused by job-b (retained 42 s)\n"));
  job["WarmPoolStatus"] = {{"Status", "Available"}, {"ResourceRetainedBillableTimeInSeconds", 7}};
  EXPECT_THAT(FormatJobDescription(job), HasSubstr("Warm pool:          Available (retained 7 s)\n"));
  EXPECT_THAT(FormatJobDescription({{"JobId", "job-c"}}), Not(HasSubstr("Warm pool")));
}

TEST(FormatJobDescriptionTest, ShowsAttemptOfRetriedJob) {
  Json job = {
      {"JobId", "job-a"},
      {"AttemptCount", 2},
      {"SecondaryStatusTransitions",
       {{{"Status", "Interrupted"}, {"StartTime", "2026-12-04T19:42:05.123Z"},
         {"StatusMessage", "node failure"}, {"Attempt", 1}},
        {{"Status", "Restarting"}, {"StartTime", "2026-12-04T19:42:05.123Z"},
         {"StatusMessage", "retrying"}, {"Attempt", 2}}}}};
  std::string text = FormatJobDescription(job);
  EXPECT_THAT(text, HasSubstr("Attempt:            2 (retried after an interruption)\n"));
  EXPECT_THAT(text, HasSubstr("  node failure\n"));
  EXPECT_THAT(text, HasSubstr("  retrying  (attempt 2)\n"));

  job["AttemptCount"] = 1;
  EXPECT_THAT(FormatJobDescription(job), Not(HasSubstr("Attempt:")));
}

TEST(FormatJobTableTest, OneRowPerJob) {
  Json jobs = {{{"JobId", "job-1"}, {"TrainingJobName", "a"}, {"TrainingJobStatus", "Completed"}},
               {{"JobId", "job-2"}, {"TrainingJobName", "b"}}};
  std::string table = FormatJobTable(jobs);
  EXPECT_THAT(table, HasSubstr("JOB ID"));
  EXPECT_THAT(table, HasSubstr("\njob-1   a                 Completed\n"));
  EXPECT_EQ(std::count(table.begin(), table.end(), '\n'), 3);
}

TEST(FormatModelVersionDescriptionTest, PairsMetricsWithBaselines) {
  Json version = {
      {"ModelName", "flights-delay"},
      {"Version", 2},
      {"JobId", "job-1"},
      {"PackageDigest", "sha256:abc"},
      {"Manifest",
       {{"Metrics", {{"Rmse", 12.5}, {"BaselineRmse", 20.25}, {"Mae", 8}, {"TrainRows", 900}, {"ValidationRows", 2700000.0}}},
        {"Lineage",
         {{"JobId", "job-1"},
          {"DataDigests", {{"train", "sha256:def"}}},
          {"HyperParameters", {{"eta", "0.1"}}},
          {"RuntimeVersion", "0.1.0"}}},
        {"SelfTests", Json::array({Json::object(), Json::object()})}}}};
  std::string text = FormatModelVersionDescription(version);
  EXPECT_THAT(text, HasSubstr("Version:            2\n"));
  EXPECT_THAT(text, HasSubstr("Package digest:     sha256:abc\n"));
  EXPECT_THAT(text, HasSubstr("  Rmse:             12.5  (baseline 20.25)\n"));
  EXPECT_THAT(text, HasSubstr("  Mae:              8\n"));
  EXPECT_THAT(text, HasSubstr("  TrainRows:        900\n"));
  EXPECT_THAT(text, HasSubstr("  ValidationRows:   2,700,000\n"));
  EXPECT_THAT(text, Not(HasSubstr("  BaselineRmse:")));
  EXPECT_THAT(text, HasSubstr("    train = sha256:def\n"));
  EXPECT_THAT(text, HasSubstr("    eta = 0.1\n"));
  EXPECT_THAT(text, HasSubstr("  Runtime version:  0.1.0\n"));
  EXPECT_THAT(text, HasSubstr("Self-tests:         2\n"));
}

TEST(ParseModelReferenceTest, AcceptsNameAndVersion) {
  auto latest = ParseModelReference("flights-delay");
  ASSERT_TRUE(latest);
  EXPECT_EQ(latest->name, "flights-delay");
  EXPECT_EQ(latest->version, "latest");
  auto third = ParseModelReference("flights-delay:3");
  ASSERT_TRUE(third);
  EXPECT_EQ(third->version, "3");
  EXPECT_EQ(ParseModelReference("m:latest")->version, "latest");
}

TEST(ParseModelReferenceTest, AcceptsAlias) {
  auto production = ParseModelReference("flights-delay@production");
  ASSERT_TRUE(production);
  EXPECT_EQ(production->name, "flights-delay");
  EXPECT_EQ(production->alias, "production");
  EXPECT_EQ(production->version, "");
  for (const char* text : {"m@", "@production"}) {
    auto reference = ParseModelReference(text);
    ASSERT_FALSE(reference) << text;
    EXPECT_THAT(reference.error().message(), HasSubstr("NAME@ALIAS"));
  }
}

TEST(FormatModelVersionDescriptionTest, ListsAliases) {
  Json version = {{"ModelName", "flights-delay"},
                  {"Version", 2},
                  {"Aliases", Json::array({"production", "staging"})}};
  EXPECT_THAT(FormatModelVersionDescription(version),
              HasSubstr("Aliases:            production, staging\n"));
}

TEST(ParseModelReferenceTest, RejectsBadVersions) {
  for (const char* text : {"m:0", "m:-1", "m:x", "m:", ":3"}) {
    auto reference = ParseModelReference(text);
    ASSERT_FALSE(reference) << text;
    EXPECT_EQ(reference.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(reference.error().message(), HasSubstr(text));
  }
}

}  // namespace
}  // namespace tandem::cli
