#include "serving/traffic.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "serving/test_package.h"
#include "serving/test_server.h"

namespace tandem::serving {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::MetricValue;
using testing::ScratchDir;
using testing::TestServer;

constexpr std::string_view kInfer = "/v2/models/flights-delay/infer";

std::string EncodedRequest(int row, std::string_view id = "") {
  Json request = {{"inputs",
                   {{{"name", "features"},
                     {"shape", {1, 4}},
                     {"datatype", "FP32"},
                     {"data", {100 + row, row % 4, row % 24, row % 7}}}}}};
  if (!id.empty()) request["id"] = id;
  return request.dump();
}

std::string VersionOf(const http::Response& response) {
  if (response.status != 200) return fmt::format("status {}: {}", response.status, response.body);
  return Json::parse(response.body).at("model_version").get<std::string>();
}

TEST(CanaryRuleTest, Parses) {
  Result<CanaryRule> rule = ParseCanary("flights-delay:4=0.25");
  ASSERT_TRUE(rule.has_value()) << rule.error().message();
  EXPECT_EQ(rule->model, "flights-delay");
  EXPECT_EQ(rule->version, "4");
  EXPECT_EQ(rule->fraction, 0.25);

  const std::vector<std::pair<std::string, std::string>> bad = {
      {"flights-delay:4", "expected NAME:VERSION=FRACTION"},
      {"flights-delay=0.5", "expected NAME:VERSION"},
      {"flights-delay:x=0.5", "version \"x\" must be a positive integer"},
      {"flights_delay:4=0.5", "model name \"flights_delay\""},
      {"flights-delay:4=1.5", "fraction \"1.5\" must be a number from 0 to 1"},
      {"flights-delay:4=-0.1", "fraction \"-0.1\""},
      {"flights-delay:4=half", "fraction \"half\""},
  };
  for (const auto& [spec, message] : bad) {
    Result<CanaryRule> parsed = ParseCanary(spec);
    ASSERT_FALSE(parsed.has_value()) << spec;
    EXPECT_EQ(parsed.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(parsed.error().message(), HasSubstr(message)) << spec;
  }
  Result<ShadowRule> shadow = ParseShadow("flights-delay:2");
  ASSERT_TRUE(shadow.has_value());
  EXPECT_EQ(shadow->version, "2");
  EXPECT_FALSE(ParseShadow("flights-delay").has_value());
}

TEST(CanaryDrawTest, DeterministicAndSpread) {
  EXPECT_EQ(CanaryDraw("m", "request-1"), CanaryDraw("m", "request-1"));
  EXPECT_NE(CanaryDraw("m", "request-1"), CanaryDraw("n", "request-1"));
  int below_half = 0;
  for (int i = 0; i < 1000; ++i) {
    double draw = CanaryDraw("m", fmt::format("request-{}", i));
    ASSERT_GE(draw, 0.0);
    ASSERT_LT(draw, 1.0);
    below_half += draw < 0.5 ? 1 : 0;
  }
  EXPECT_GT(below_half, 400);
  EXPECT_LT(below_half, 600);
}

// Versions 1 (20 trees) and 2 (35 trees) of flights-delay under a model root,
// and version 3, a copy of version 2.
class TrafficTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    scratch_ = new ScratchDir();
    for (auto [version, rounds] : {std::pair{"1", 20}, std::pair{"2", 35}, std::pair{"3", 35}}) {
      Status built =
          testing::BuildTestPackage(root() / "flights-delay" / version, {.rounds = rounds});
      ASSERT_TRUE(built.has_value()) << built.error().message();
    }
  }
  static void TearDownTestSuite() { delete scratch_; }
  static fs::path root() { return scratch_->path() / "models"; }

  static testing::TestServerOptions Options(std::vector<std::string> extra) {
    testing::TestServerOptions options;
    options.manager.model_root = root();
    options.manager.extra_versions["flights-delay"] = std::move(extra);
    return options;
  }

  static ScratchDir* scratch_;
};
ScratchDir* TrafficTest::scratch_ = nullptr;

TEST_F(TrafficTest, CanaryTakesItsFraction) {
  testing::TestServerOptions options = Options({"1"});
  options.canaries = {{.model = "flights-delay", .version = "1", .fraction = 1.0}};
  TestServer server({*ParseModelSource("flights-delay:2")}, options);
  ASSERT_TRUE(server.WaitLoaded());
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(VersionOf(server.Send("POST", kInfer, EncodedRequest(i))), "1");
  // A request naming a version is never diverted.
  EXPECT_EQ(VersionOf(server.Send("POST", "/v2/models/flights-delay/versions/2/infer",
                                  EncodedRequest(0))),
            "2");
  // /invocations follows the canary too.
  http::Response invocation =
      server.Send("POST", "/invocations", testing::TestRecord(0).dump(), {});
  EXPECT_EQ(invocation.status, 200) << invocation.body;
}

TEST_F(TrafficTest, CanaryChoiceFollowsRequestId) {
  testing::TestServerOptions options = Options({"1"});
  options.canaries = {{.model = "flights-delay", .version = "1", .fraction = 0.5}};
  TestServer server({*ParseModelSource("flights-delay:2")}, options);
  ASSERT_TRUE(server.WaitLoaded());
  std::set<std::string> seen;
  for (int i = 0; i < 40; ++i) {
    const std::string id = fmt::format("req-{}", i);
    const std::string expected = CanaryDraw("flights-delay", id) < 0.5 ? "1" : "2";
    for (int repeat = 0; repeat < 2; ++repeat) {
      EXPECT_EQ(VersionOf(server.Send("POST", kInfer, EncodedRequest(i, id))), expected) << id;
    }
    seen.insert(expected);
  }
  EXPECT_EQ(seen.size(), 2u);
}

TEST_F(TrafficTest, CanaryVersionNotLoadedFallsBackToPrimary) {
  testing::TestServerOptions options = Options({});
  options.canaries = {{.model = "flights-delay", .version = "9", .fraction = 1.0}};
  TestServer server({*ParseModelSource("flights-delay:2")}, options);
  ASSERT_TRUE(server.WaitLoaded());
  EXPECT_EQ(VersionOf(server.Send("POST", kInfer, EncodedRequest(0))), "2");
}

TEST_F(TrafficTest, ShadowCountsDifferentAnswers) {
  testing::TestServerOptions options = Options({"1"});
  options.shadows = {{.model = "flights-delay", .version = "1"}};
  TestServer server({*ParseModelSource("flights-delay:2")}, options);
  ASSERT_TRUE(server.WaitLoaded());
  constexpr int kRequests = 12;
  for (int i = 0; i < kRequests; ++i) {
    EXPECT_EQ(VersionOf(server.Send("POST", kInfer, EncodedRequest(i))), "2");
  }
  ASSERT_TRUE(server.shadow()->WaitIdle(std::chrono::seconds(30)));
  const std::string text = server.metrics().Serialize();
  EXPECT_EQ(
      MetricValue(text,
                  R"(tandem_shadow_comparisons_total{model="flights-delay",result="different"})"),
      kRequests);
  EXPECT_EQ(
      MetricValue(text, R"(tandem_shadow_comparisons_total{model="flights-delay",result="equal"})"),
      std::nullopt);
}

TEST_F(TrafficTest, ShadowCountsEqualAnswers) {
  testing::TestServerOptions options = Options({"3"});
  options.shadows = {{.model = "flights-delay", .version = "3"}};
  TestServer server({*ParseModelSource("flights-delay:2")}, options);
  ASSERT_TRUE(server.WaitLoaded());
  for (int i = 0; i < 5; ++i) ASSERT_EQ(server.Send("POST", kInfer, EncodedRequest(i)).status, 200);
  ASSERT_EQ(server.Send("POST", "/invocations", testing::TestRecord(3).dump()).status, 200);
  ASSERT_TRUE(server.shadow()->WaitIdle(std::chrono::seconds(30)));
  EXPECT_EQ(MetricValue(server.metrics().Serialize(),
                        R"(tandem_shadow_comparisons_total{model="flights-delay",result="equal"})"),
            6);
}

TEST_F(TrafficTest, ShadowDropsWhenQueueIsFull) {
  testing::TestServerOptions options = Options({"1"});
  options.shadows = {{.model = "flights-delay", .version = "1"}};
  options.shadow_queue = 0;
  TestServer server({*ParseModelSource("flights-delay:2")}, options);
  ASSERT_TRUE(server.WaitLoaded());
  for (int i = 0; i < 3; ++i) ASSERT_EQ(server.Send("POST", kInfer, EncodedRequest(i)).status, 200);
  EXPECT_EQ(
      MetricValue(server.metrics().Serialize(),
                  R"(tandem_shadow_comparisons_total{model="flights-delay",result="dropped"})"),
      3);
}

TEST_F(TrafficTest, MetricsCountRequestsByVersionAndCode) {
  TestServer server({*ParseModelSource("flights-delay:2")}, Options({}));
  ASSERT_TRUE(server.WaitLoaded());
  for (int i = 0; i < 3; ++i) ASSERT_EQ(server.Send("POST", kInfer, EncodedRequest(i)).status, 200);
  ASSERT_EQ(server.Send("POST", kInfer, "{}").status, 400);
  ASSERT_EQ(server.Send("POST", "/v2/models/nope/infer", EncodedRequest(0)).status, 404);

  http::Response scrape = server.Send("GET", "/metrics");
  ASSERT_EQ(scrape.status, 200);
  EXPECT_EQ(scrape.content_type, kPrometheusContentType);
  const std::string& text = scrape.body;
  EXPECT_EQ(
      MetricValue(
          text, R"(tandem_inference_requests_total{code="200",model="flights-delay",version="2"})"),
      3);
  EXPECT_EQ(
      MetricValue(
          text, R"(tandem_inference_requests_total{code="400",model="flights-delay",version="2"})"),
      1);
  EXPECT_EQ(MetricValue(text, R"(tandem_inference_requests_total{code="404",model="",version=""})"),
            1);
  EXPECT_EQ(
      MetricValue(
          text,
          R"(tandem_inference_request_duration_seconds_count{model="flights-delay",version="2"})"),
      4);
  EXPECT_EQ(
      MetricValue(
          text,
          R"(tandem_inference_compute_duration_seconds_count{model="flights-delay",version="2"})"),
      3);
  EXPECT_EQ(
      MetricValue(text, R"(tandem_inference_batch_rows_sum{model="flights-delay",version="2"})"),
      3);
  EXPECT_EQ(MetricValue(text, "tandem_inference_in_flight"), 0);
  EXPECT_EQ(MetricValue(text, R"(tandem_model_loads_total{model="flights-delay",result="ok"})"), 1);
  EXPECT_EQ(
      MetricValue(
          text,
          R"(tandem_model_info{model="flights-delay",predictor="compiled_trees",version="2"})"),
      1);
  EXPECT_THAT(text, HasSubstr("# TYPE tandem_inference_request_duration_seconds histogram"));
}

}  // namespace
}  // namespace tandem::serving
