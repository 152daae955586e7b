// Warm pool fields of the jobs routes: the keep-alive maximum at submit,
// WarmPoolStatus on describe and the warm_pool_status filter of the list.
// The pool's own rules are tested in warm_pool_test.cc.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "api/api_test_fixture.h"

namespace tandem::api {
namespace {

using ::testing::HasSubstr;

TEST_F(ApiTest, KeepAliveAboveMaximumRejected) {
  Json spec = ValidSpec();
  spec["ResourceConfig"] = {{"KeepAlivePeriodInSeconds", 3601}};
  http::Response response = Send("POST", "/api/v1/jobs", DumpJson(spec));
  EXPECT_EQ(response.status, 400) << response.body;
  EXPECT_EQ(BodyOf(response)["error"],
            "ResourceConfig.KeepAlivePeriodInSeconds: 3601 is above this server's maximum of "
            "3600 s; use a value from 0 to 3600");
  EXPECT_TRUE(backend_.launches().empty());
}

TEST_F(ApiTest, KeepAliveAtMaximumAccepted) {
  Json spec = ValidSpec();
  spec["ResourceConfig"] = {{"KeepAlivePeriodInSeconds", 3600}};
  Json job = CreateJob(spec);
  EXPECT_EQ(job["Spec"]["ResourceConfig"]["KeepAlivePeriodInSeconds"], 3600);
  EXPECT_FALSE(job.contains("WarmPoolStatus"));
}

TEST_F(ApiTest, DescribeShowsWarmPoolStatus) {
  Json job = CreateJob(ValidSpec());
  std::string id = job["JobId"];
  jobs::WarmPoolState available{.retained_ms = clock_.NowMillis(),
                                .expires_ms = clock_.NowMillis() + 600'000};
  ASSERT_TRUE(store_->SetWarmPool(id, std::nullopt, available));
  clock_.Advance(12'400);

  http::Response response = Send("GET", "/api/v1/jobs/" + id);
  ASSERT_EQ(response.status, 200) << response.body;
  Json pool = BodyOf(response)["WarmPoolStatus"];
  EXPECT_EQ(pool["Status"], "Available");
  EXPECT_EQ(pool["ResourceRetainedBillableTimeInSeconds"], 12);
  EXPECT_FALSE(pool.contains("ReusedByJob"));
}

TEST_F(ApiTest, ListFiltersByWarmPoolStatus) {
  std::string kept = CreateJob(ValidSpec("flights-1"))["JobId"];
  CreateJob(ValidSpec("flights-2"));
  ASSERT_TRUE(store_->SetWarmPool(kept, std::nullopt, {.retained_ms = 1, .expires_ms = 2}));

  http::Response available = Send("GET", "/api/v1/jobs?warm_pool_status=Available");
  ASSERT_EQ(available.status, 200) << available.body;
  Json jobs = BodyOf(available)["Jobs"];
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0]["JobId"], kept);

  http::Response reused = Send("GET", "/api/v1/jobs?warm_pool_status=Reused");
  ASSERT_EQ(reused.status, 200) << reused.body;
  EXPECT_TRUE(BodyOf(reused)["Jobs"].empty());
}

TEST_F(ApiTest, ListRejectsUnknownWarmPoolStatus) {
  http::Response response = Send("GET", "/api/v1/jobs?warm_pool_status=Idle");
  EXPECT_EQ(response.status, 400) << response.body;
  EXPECT_THAT(BodyOf(response)["error"].get<std::string>(),
              HasSubstr("unknown warm pool status \"Idle\""));
  EXPECT_THAT(BodyOf(response)["error"].get<std::string>(),
              HasSubstr("query parameter warm_pool_status"));
}

// The fake backend has no warm workers, so a job with a keep-alive period
// ends without a WarmPoolStatus instead of failing.
TEST_F(ApiTest, BackendWithoutWarmWorkersKeepsNothing) {
  Json spec = ValidSpec();
  spec["ResourceConfig"] = {{"KeepAlivePeriodInSeconds", 60}};
  std::string id = CreateJob(spec)["JobId"];
  plane_->OnBackendExit(id, {.state = backends::ObservedState::kSucceeded, .exit_code = 0});
  http::Response response = Send("GET", "/api/v1/jobs/" + id);
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_FALSE(BodyOf(response).contains("WarmPoolStatus"));
  EXPECT_EQ(plane_->SweepWarmPool(), 0);
}

}  // namespace
}  // namespace tandem::api
