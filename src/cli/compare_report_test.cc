#include "cli/compare_report.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

namespace tandem::cli {
namespace {

using ::testing::HasSubstr;

Json Job(std::string id, std::string backend, std::string status = "Completed") {
  return {{"JobId", std::move(id)},
          {"TrainingJobStatus", std::move(status)},
          {"Backend", {{"Name", std::move(backend)}, {"NativeId", "pid:1"}}}};
}

Json Version(std::string digest, Json metrics, Json self_tests) {
  return {{"PackageDigest", std::move(digest)},
          {"Manifest", {{"Metrics", std::move(metrics)}, {"SelfTests", std::move(self_tests)}}}};
}

Json Cases(std::vector<double> expected) {
  Json cases = Json::array();
  for (size_t i = 0; i < expected.size(); ++i) {
    cases.push_back({{"Record", {{"distance", static_cast<int>(i) * 100}}},
                     {"Expected", expected[i]}});
  }
  return cases;
}

CompareRun MakeRun(std::string label, Json job, std::optional<Json> version) {
  return CompareRun{.label = std::move(label), .job = std::move(job),
                    .model_version = std::move(version)};
}

TEST(CompareRuns, IdenticalRunsHaveNoDifferences) {
  Json metrics = {{"Rmse", 0.25}, {"Mae", 0.125}};
  CompareReport report = CompareRuns(
      MakeRun("local", Job("job-a", "local"), Version("sha256:aa", metrics, Cases({1.5, 2.25}))),
      MakeRun("local-b", Job("job-b", "local-b"), Version("sha256:bb", metrics, Cases({1.5, 2.25}))));
  EXPECT_TRUE(report.differences.empty());
  ASSERT_TRUE(report.self_tests);
  EXPECT_EQ(report.self_tests->bit_identical, 2u);
  EXPECT_EQ(report.self_tests->different, 0u);
  EXPECT_THAT(report.text, HasSubstr("result: no differences"));
  // Digests differ between any two runs, so they are shown but not counted.
  EXPECT_THAT(report.text, HasSubstr("sha256:aa"));
  EXPECT_THAT(report.text, HasSubstr("differs (expected: the manifest's lineage names each job)"));
  EXPECT_THAT(report.text, HasSubstr("job-a"));
  EXPECT_THAT(report.text, HasSubstr("local-b"));
  EXPECT_THAT(report.text, ::testing::Not(HasSubstr("failure reason")));
}

TEST(CompareRuns, EmptyFailureReasonsNotShown) {
  Json a = Job("job-a", "a");
  Json b = Job("job-b", "b");
  a["FailureReason"] = "";
  b["FailureReason"] = "";
  CompareReport report = CompareRuns(MakeRun("a", a, std::nullopt), MakeRun("b", b, std::nullopt));
  EXPECT_TRUE(report.differences.empty());
  EXPECT_THAT(report.text, ::testing::Not(HasSubstr("failure reason")));
}

TEST(CompareRuns, DifferentStatus) {
  Json failed = Job("job-b", "b", "Failed");
  failed["FailureReason"] = "process exited with code 1";
  CompareReport report = CompareRuns(MakeRun("a", Job("job-a", "a"), std::nullopt),
                                     MakeRun("b", failed, std::nullopt));
  ASSERT_EQ(report.differences.size(), 2u);
  EXPECT_EQ(report.differences[0], "status: Completed vs Failed");
  EXPECT_EQ(report.differences[1], "failure reason: - vs process exited with code 1");
  EXPECT_FALSE(report.self_tests);
  EXPECT_THAT(report.text, HasSubstr("result: 2 differences"));
}

TEST(CompareRuns, MissingModelVersion) {
  CompareReport report =
      CompareRuns(MakeRun("a", Job("job-a", "a"), Version("sha256:aa", {}, Cases({1.0}))),
                  MakeRun("b", Job("job-b", "b"), std::nullopt));
  ASSERT_EQ(report.differences.size(), 1u);
  EXPECT_EQ(report.differences[0], "model version: registered vs -");
}

TEST(CompareRuns, DifferentMetric) {
  CompareReport report = CompareRuns(
      MakeRun("a", Job("job-a", "a"), Version("sha256:aa", {{"Rmse", 0.5}}, Cases({1.0}))),
      MakeRun("b", Job("job-b", "b"),
          Version("sha256:bb", {{"Rmse", 0.75}, {"TrainRows", 10}}, Cases({1.0}))));
  ASSERT_EQ(report.differences.size(), 2u);
  EXPECT_EQ(report.differences[0], "metric Rmse: 0.5 vs 0.75");
  EXPECT_EQ(report.differences[1], "metric TrainRows: - vs 10");
  EXPECT_THAT(report.text, HasSubstr("differs by 0.25"));
}

TEST(CompareRuns, PredictionsComparedBitForBit) {
  float base = 1.5f;
  float next = std::nextafter(base, 2.0f);
  CompareReport report = CompareRuns(
      MakeRun("a", Job("job-a", "a"), Version("sha256:aa", {}, Cases({base, 0.0, 3.0}))),
      MakeRun("b", Job("job-b", "b"), Version("sha256:bb", {}, Cases({next, -0.0, 3.0}))));
  ASSERT_TRUE(report.self_tests);
  EXPECT_EQ(report.self_tests->bit_identical, 1u);
  EXPECT_EQ(report.self_tests->equal_values, 1u);  // 0 and -0
  EXPECT_EQ(report.self_tests->different, 1u);
  EXPECT_DOUBLE_EQ(report.self_tests->max_abs_difference,
                   static_cast<double>(next) - static_cast<double>(base));
  ASSERT_EQ(report.differences.size(), 1u);
  EXPECT_THAT(report.differences[0], HasSubstr("self-test predictions: 1 differ"));
  EXPECT_THAT(report.text, HasSubstr("1 bit-identical, 1 equal as values, 1 differ"));
}

TEST(CompareRuns, DifferentCaseCountsAndRecords) {
  Json cases_b = Cases({1.0, 2.0, 3.0});
  cases_b[1]["Record"]["distance"] = 999;
  CompareReport report =
      CompareRuns(MakeRun("a", Job("job-a", "a"), Version("sha256:aa", {}, Cases({1.0, 2.0}))),
                  MakeRun("b", Job("job-b", "b"), Version("sha256:bb", {}, cases_b)));
  ASSERT_TRUE(report.self_tests);
  EXPECT_EQ(report.self_tests->cases_a, 2u);
  EXPECT_EQ(report.self_tests->cases_b, 3u);
  EXPECT_EQ(report.self_tests->different_records, 1u);
  EXPECT_EQ(report.self_tests->bit_identical, 1u);
  ASSERT_EQ(report.differences.size(), 2u);
  EXPECT_EQ(report.differences[0], "self-test cases: 2 vs 3");
  EXPECT_EQ(report.differences[1], "self-test records: 1 cases differ");
}

}  // namespace
}  // namespace tandem::cli
