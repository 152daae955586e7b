#include "jobs/warm_pool.h"

#include <gtest/gtest.h>

#include <functional>

namespace tandem::jobs {
namespace {

constexpr WarmPoolStatus kAll[] = {WarmPoolStatus::kAvailable, WarmPoolStatus::kInUse,
                                   WarmPoolStatus::kReused, WarmPoolStatus::kTerminated};

JobSpec BaseSpec() {
  JobSpec spec;
  spec.training_job_name = "flights-1";
  spec.repository = "team-a/flights";
  spec.algorithm.algorithm_name = "xgboost";
  spec.hyperparameters = {{"max_depth", "8"}};
  spec.input_channels = {{.name = "train", .path = "/data/train"}};
  spec.model_name = "flights-delay";
  spec.resources.instance_type = "ml.m5.xlarge";
  spec.resources.cpu_count = 2;
  spec.resources.memory_mib = 4096;
  spec.resources.volume_size_gb = 30;
  spec.resources.keep_alive_period_s = 600;
  spec.role_arn = "arn:aws:iam::111122223333:role/train";
  spec.enable_network_isolation = false;
  spec.environment = {{"LOG_LEVEL", "info"}};
  return spec;
}

TEST(WarmPoolStatus, NamesRoundTrip) {
  for (WarmPoolStatus status : kAll) {
    Result<WarmPoolStatus> parsed = ParseWarmPoolStatus(Name(status));
    ASSERT_TRUE(parsed) << parsed.error().message();
    EXPECT_EQ(*parsed, status);
  }
}

TEST(WarmPoolStatus, RejectsUnknownName) {
  Result<WarmPoolStatus> parsed = ParseWarmPoolStatus("available");
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(parsed.error().message(),
            "unknown warm pool status \"available\"; expected one of Available, InUse, Reused, "
            "Terminated");
}

// Every pair of (from, to), checked against the table in the header.
TEST(WarmPoolStatus, MovesFollowTable) {
  using S = WarmPoolStatus;
  struct Case {
    std::optional<S> from;
    S to;
    bool allowed;
  };
  std::vector<Case> cases;
  std::vector<std::optional<S>> froms = {std::nullopt};
  for (S status : kAll) froms.push_back(status);
  for (const auto& from : froms) {
    for (S to : kAll) {
      bool allowed = (!from && to == S::kAvailable) ||
                     (from == S::kAvailable && (to == S::kInUse || to == S::kTerminated)) ||
                     (from == S::kInUse && (to == S::kReused || to == S::kTerminated));
      cases.push_back({from, to, allowed});
    }
  }
  ASSERT_EQ(cases.size(), 20u);
  for (const Case& c : cases) {
    std::string from = c.from ? std::string(Name(*c.from)) : "none";
    EXPECT_EQ(CanMove(c.from, c.to), c.allowed) << from << " -> " << Name(c.to);
  }
}

TEST(WarmPoolBilling, CountsWhileAvailable) {
  WarmPoolState state{.retained_ms = 10'000, .expires_ms = 610'000};
  EXPECT_EQ(RetainedBillableSeconds(state, 10'000), 0);
  EXPECT_EQ(RetainedBillableSeconds(state, 12'999), 2);
  EXPECT_EQ(RetainedBillableSeconds(state, 70'000), 60);
}

TEST(WarmPoolBilling, StopsAtRelease) {
  WarmPoolState state{.status = WarmPoolStatus::kInUse,
                      .reused_by_job = "job-b",
                      .retained_ms = 10'000,
                      .released_ms = 55'000,
                      .expires_ms = 610'000};
  EXPECT_EQ(RetainedBillableSeconds(state, 900'000), 45);
}

TEST(WarmPoolBilling, NeverNegative) {
  WarmPoolState state{.retained_ms = 10'000};
  EXPECT_EQ(RetainedBillableSeconds(state, 5'000), 0);
}

TEST(MatchKey, IdenticalSpecsMatch) {
  EXPECT_EQ(MatchKeyOf(BaseSpec(), "img"), MatchKeyOf(BaseSpec(), "img"));
}

// Each field of the key, changed alone, breaks the match and is named.
TEST(MatchKey, EachKeyFieldMustMatch) {
  struct Case {
    std::string field;
    std::function<void(JobSpec&)> change;
  };
  std::vector<Case> cases = {
      {"Repository", [](JobSpec& s) { s.repository = "team-b/flights"; }},
      {"ResourceConfig.InstanceType", [](JobSpec& s) { s.resources.instance_type = "ml.c5.xlarge"; }},
      {"ResourceConfig.InstanceType", [](JobSpec& s) { s.resources.instance_type.reset(); }},
      {"ResourceConfig.InstanceCount", [](JobSpec& s) { s.resources.instance_count = 2; }},
      {"ResourceConfig.CpuCount", [](JobSpec& s) { s.resources.cpu_count = 4; }},
      {"ResourceConfig.CpuCount", [](JobSpec& s) { s.resources.cpu_count.reset(); }},
      {"ResourceConfig.MemoryMiB", [](JobSpec& s) { s.resources.memory_mib = 8192; }},
      {"ResourceConfig.VolumeSizeInGB", [](JobSpec& s) { s.resources.volume_size_gb = 31; }},
      {"RoleArn", [](JobSpec& s) { s.role_arn = "arn:aws:iam::111122223333:role/other"; }},
      {"RoleArn", [](JobSpec& s) { s.role_arn.reset(); }},
      {"EnableNetworkIsolation", [](JobSpec& s) { s.enable_network_isolation = true; }},
  };
  const MatchKey base = MatchKeyOf(BaseSpec(), "img");
  for (const Case& c : cases) {
    JobSpec changed = BaseSpec();
    c.change(changed);
    MatchKey key = MatchKeyOf(changed, "img");
    EXPECT_NE(key, base) << c.field;
    EXPECT_EQ(MatchKeyDifferences(base, key), std::vector<std::string>{c.field}) << c.field;
  }
}

TEST(MatchKey, ImageMustMatch) {
  MatchKey old_binary = MatchKeyOf(BaseSpec(), "/usr/bin/tandem size=1 mtime=1");
  MatchKey new_binary = MatchKeyOf(BaseSpec(), "/usr/bin/tandem size=1 mtime=2");
  EXPECT_NE(old_binary, new_binary);
  EXPECT_EQ(MatchKeyDifferences(old_binary, new_binary), std::vector<std::string>{"Image"});
}

// The fields SageMaker lets differ between the job that kept the worker and
// the job that reuses it.
TEST(MatchKey, OtherFieldsMayDiffer) {
  struct Case {
    std::string field;
    std::function<void(JobSpec&)> change;
  };
  std::vector<Case> cases = {
      {"TrainingJobName", [](JobSpec& s) { s.training_job_name = "flights-2"; }},
      {"HyperParameters", [](JobSpec& s) { s.hyperparameters["max_depth"] = "6"; }},
      {"InputDataConfig", [](JobSpec& s) { s.input_channels[0].path = "/data/train-2"; }},
      {"AlgorithmSpecification",
       [](JobSpec& s) {
         s.algorithm.algorithm_name.reset();
         s.algorithm.entry_point = {"python3", "train.py"};
         s.algorithm.source_dir = "/src";
       }},
      {"Environment", [](JobSpec& s) { s.environment["LOG_LEVEL"] = "debug"; }},
      {"OutputDataConfig.ModelName", [](JobSpec& s) { s.model_name = "flights-delay-2"; }},
      {"StoppingCondition", [](JobSpec& s) { s.max_runtime_s = 60; }},
      {"KeepAlivePeriodInSeconds", [](JobSpec& s) { s.resources.keep_alive_period_s = 0; }},
  };
  const MatchKey base = MatchKeyOf(BaseSpec(), "img");
  for (const Case& c : cases) {
    JobSpec changed = BaseSpec();
    c.change(changed);
    EXPECT_EQ(MatchKeyOf(changed, "img"), base) << c.field;
  }
}

TEST(KeepAlivePeriod, AcceptsUpToMaximum) {
  JobSpec spec = BaseSpec();
  spec.resources.keep_alive_period_s = 3600;
  EXPECT_TRUE(CheckKeepAlivePeriod(spec, 3600));
  spec.resources.keep_alive_period_s = 0;
  EXPECT_TRUE(CheckKeepAlivePeriod(spec, 0));
}

TEST(KeepAlivePeriod, RejectsAboveMaximum) {
  JobSpec spec = BaseSpec();
  spec.resources.keep_alive_period_s = 3601;
  Status checked = CheckKeepAlivePeriod(spec, 3600);
  ASSERT_FALSE(checked);
  EXPECT_EQ(checked.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(checked.error().message(),
            "ResourceConfig.KeepAlivePeriodInSeconds: 3601 is above this server's maximum of "
            "3600 s; use a value from 0 to 3600");
}

}  // namespace
}  // namespace tandem::jobs
