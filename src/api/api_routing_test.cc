// Routing of jobs to several backends through the real jobs routes: each
// repository to its backend, a spec naming a backend, stops and the
// reconciler reaching the job's own backend, and a reload while jobs run.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "api/api_context.h"
#include "api/api_test_fixture.h"
#include "api/backend_set.h"
#include "api/job_lifecycle.h"
#include "api/reconciler.h"

namespace tandem::api {
namespace {

using ::testing::HasSubstr;

// The API over a BackendSet of FakeBackends: "a" and "b".
class RoutingTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    backends_ = std::make_unique<BackendSet>(
        [this](const std::string& name,
               const BackendConfig&) -> Result<std::shared_ptr<backends::Backend>> {
          auto backend = std::make_shared<FakeBackend>();
          fakes_[name] = backend;
          return backend;
        });
    ASSERT_TRUE(backends_->Apply(Config()));
    plane_->SetBackends(backends_.get());
  }

  // flights -> a (may name b), churn -> b, team-*/... -> b; no default.
  static RoutingConfig Config() {
    RoutingConfig config;
    config.backends["a"] = BackendConfig{.type = "local"};
    config.backends["b"] = BackendConfig{.type = "local"};
    config.routes = {
        Route{.pattern = "flights", .backend = "a", .allowed_backends = {"b"}, .where = "Routes[0]"},
        Route{.pattern = "churn", .backend = "b", .where = "Routes[1]"},
        Route{.pattern = "team-*/*", .backend = "b", .where = "Routes[2]"},
    };
    return config;
  }

  Json SpecFor(std::string_view name, std::string_view repository) const {
    Json spec = ValidSpec(name);
    spec["Repository"] = repository;
    return spec;
  }

  FakeBackend& Fake(const std::string& name) { return *fakes_.at(name); }

  // Stores a job the way a control plane older than routing did: no backend.
  store::Job StoreUnroutedJob(std::string_view name, std::string_view repository) {
    Result<jobs::JobSpec> spec = jobs::ParseJobSpec(SpecFor(name, repository));
    EXPECT_TRUE(spec) << spec.error().message();
    Result<store::CreateJobResult> created =
        store_->CreateJob(*spec, "sha256:unused", clock_.NowMillis());
    EXPECT_TRUE(created) << created.error().message();
    EXPECT_EQ(created->job.backend, "");
    return created->job;
  }

  std::map<std::string, std::shared_ptr<FakeBackend>> fakes_;
  std::unique_ptr<BackendSet> backends_;
};

TEST_F(RoutingTest, TwoRepositoriesTwoBackends) {
  Json flights = CreateJob(SpecFor("flights-1", "flights"));
  Json churn = CreateJob(SpecFor("churn-1", "churn"));
  Json team = CreateJob(SpecFor("team-1", "team-x/forecast"));

  EXPECT_EQ(flights["Backend"]["Name"], "a");
  EXPECT_EQ(flights["Backend"]["NativeId"], "fake:1");
  EXPECT_EQ(churn["Backend"]["Name"], "b");
  EXPECT_EQ(churn["Backend"]["NativeId"], "fake:1");
  EXPECT_EQ(team["Backend"]["Name"], "b");
  EXPECT_EQ(team["Backend"]["NativeId"], "fake:2");

  ASSERT_EQ(Fake("a").launches().size(), 1u);
  EXPECT_EQ(Fake("a").launches()[0].job_id, flights["JobId"]);
  ASSERT_EQ(Fake("b").launches().size(), 2u);
  EXPECT_EQ(Fake("b").launches()[0].job_id, churn["JobId"]);
  EXPECT_TRUE(backend_.launches().empty());

  // GET shows the backend and its native id as stored.
  http::Response got = Send("GET", fmt::format("/api/v1/jobs/{}", churn["JobId"].get<std::string>()));
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(BodyOf(got)["Backend"]["Name"], "b");
  EXPECT_EQ(BodyOf(got)["Backend"]["NativeId"], "fake:1");
}

TEST_F(RoutingTest, UnroutedRepositoryRejected) {
  http::Response response = Send("POST", "/api/v1/jobs", DumpJson(SpecFor("x-1", "billing")));
  EXPECT_EQ(response.status, 400) << response.body;
  EXPECT_THAT(BodyOf(response)["error"].get<std::string>(),
              HasSubstr("Repository: \"billing\" matches no route"));
  EXPECT_TRUE(Fake("a").launches().empty());
  EXPECT_TRUE(Fake("b").launches().empty());
  http::Response listed = Send("GET", "/api/v1/jobs");
  EXPECT_TRUE(BodyOf(listed)["Jobs"].empty());
}

TEST_F(RoutingTest, SpecNamesAllowedBackend) {
  Json spec = SpecFor("flights-1", "flights");
  spec["Backend"] = "b";
  Json job = CreateJob(spec);
  EXPECT_EQ(job["Backend"]["Name"], "b");
  EXPECT_EQ(job["Spec"]["Backend"], "b");
  EXPECT_TRUE(Fake("a").launches().empty());
  EXPECT_EQ(Fake("b").launches().size(), 1u);
}

TEST_F(RoutingTest, SpecNamesForbiddenBackend) {
  Json spec = SpecFor("churn-1", "churn");
  spec["Backend"] = "a";
  http::Response response = Send("POST", "/api/v1/jobs", DumpJson(spec));
  EXPECT_EQ(response.status, 403) << response.body;
  EXPECT_EQ(BodyOf(response)["code"], "permission_denied");
  EXPECT_THAT(BodyOf(response)["error"].get<std::string>(),
              HasSubstr("repository \"churn\" may not run on backend \"a\""));
  EXPECT_TRUE(Fake("a").launches().empty());
  EXPECT_TRUE(Fake("b").launches().empty());
}

TEST_F(RoutingTest, SpecNamesUnknownBackend) {
  Json spec = SpecFor("flights-1", "flights");
  spec["Backend"] = "hpc";
  http::Response response = Send("POST", "/api/v1/jobs", DumpJson(spec));
  EXPECT_EQ(response.status, 400) << response.body;
  EXPECT_THAT(BodyOf(response)["error"].get<std::string>(),
              HasSubstr("Backend: \"hpc\" is not a configured backend (a, b)"));
}

TEST_F(RoutingTest, StopReachesJobBackend) {
  Json job = CreateJob(SpecFor("churn-1", "churn"));
  std::string id = job["JobId"];
  http::Response stopped = Send("POST", fmt::format("/api/v1/jobs/{}/stop", id));
  EXPECT_EQ(stopped.status, 200) << stopped.body;
  ASSERT_EQ(Fake("b").stops().size(), 1u);
  EXPECT_EQ(Fake("b").stops()[0].first, "fake:1");
  EXPECT_TRUE(Fake("a").stops().empty());
}

TEST_F(RoutingTest, ReloadKeepsRunningJobsBackend) {
  Json job = CreateJob(SpecFor("churn-1", "churn"));
  std::string id = job["JobId"];

  // "b" leaves the configuration while the job runs on it.
  RoutingConfig config = Config();
  config.backends.erase("b");
  config.routes = {Route{.pattern = "*", .backend = "a", .where = "Routes[0]"}};
  ASSERT_TRUE(backends_->Apply(config));

  Json next = CreateJob(SpecFor("churn-2", "churn"));
  EXPECT_EQ(next["Backend"]["Name"], "a");

  http::Response stopped = Send("POST", fmt::format("/api/v1/jobs/{}/stop", id));
  EXPECT_EQ(stopped.status, 200) << stopped.body;
  ASSERT_EQ(Fake("b").stops().size(), 1u);
  EXPECT_EQ(Fake("b").stops()[0].first, "fake:1");
}

TEST_F(RoutingTest, ReconcilerAsksJobBackend) {
  Json on_a = CreateJob(SpecFor("flights-1", "flights"));
  Json on_b = CreateJob(SpecFor("churn-1", "churn"));
  Fake("b").SetObservation({.state = backends::ObservedState::kFailed, .reason = "node lost"});

  Reconciler reconciler(ReconcilerOptions{}, *store_,
                        [this](std::string_view name) { return backends_->Find(name); }, clock_);
  clock_.Advance(60'000);
  Result<ReconcilePass> pass = reconciler.RunOnce();
  ASSERT_TRUE(pass) << pass.error().message();
  EXPECT_EQ(pass->examined, 2);
  EXPECT_EQ(pass->ended, 1);

  Json a = BodyOf(Send("GET", fmt::format("/api/v1/jobs/{}", on_a["JobId"].get<std::string>())));
  Json b = BodyOf(Send("GET", fmt::format("/api/v1/jobs/{}", on_b["JobId"].get<std::string>())));
  EXPECT_EQ(a["TrainingJobStatus"], "InProgress");
  EXPECT_EQ(b["TrainingJobStatus"], "Failed");
  EXPECT_THAT(b["FailureReason"].get<std::string>(), HasSubstr("node lost"));
}

TEST_F(RoutingTest, ReconcilerCountsUnconfiguredBackend) {
  CreateJob(SpecFor("flights-1", "flights"));
  Reconciler reconciler(ReconcilerOptions{}, *store_,
                        [](std::string_view) { return std::shared_ptr<backends::Backend>(); },
                        clock_);
  clock_.Advance(60'000);
  Result<ReconcilePass> pass = reconciler.RunOnce();
  ASSERT_TRUE(pass) << pass.error().message();
  EXPECT_EQ(pass->unavailable, 1);
  EXPECT_EQ(pass->ended, 0);
}

TEST_F(RoutingTest, UnroutedStoredJobRoutedAtLaunch) {
  store::Job stored = StoreUnroutedJob("churn-9", "churn");
  ApiContext context{.options = {.data_dir = data_dir_},
                     .store = *store_,
                     .artifacts = *artifacts_,
                     .clock = clock_,
                     .auth = Authenticator(std::string(kAdminToken))};
  context.backends = backends_.get();

  Result<store::Job> launched = LaunchJob(context, stored, "job-token");
  ASSERT_TRUE(launched) << launched.error().message();
  EXPECT_EQ(launched->backend, "b");
  EXPECT_EQ(launched->native_id, "fake:1");
  EXPECT_EQ(Fake("b").launches().size(), 1u);
}

TEST_F(RoutingTest, UnroutableStoredJobFailsLaunch) {
  store::Job stored = StoreUnroutedJob("billing-9", "billing");
  ApiContext context{.options = {.data_dir = data_dir_},
                     .store = *store_,
                     .artifacts = *artifacts_,
                     .clock = clock_,
                     .auth = Authenticator(std::string(kAdminToken))};
  context.backends = backends_.get();

  Result<store::Job> launched = LaunchJob(context, stored, "job-token");
  ASSERT_TRUE(launched) << launched.error().message();
  EXPECT_EQ(launched->state.status, jobs::JobStatus::kFailed);
  EXPECT_THAT(launched->state.failure_reason, HasSubstr("Repository: \"billing\" matches no route"));
  EXPECT_TRUE(Fake("a").launches().empty());
  EXPECT_TRUE(Fake("b").launches().empty());
}

}  // namespace
}  // namespace tandem::api
