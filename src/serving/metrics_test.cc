// The sharded series of ServingMetrics against prometheus-cpp's own histogram
// and counter, and under concurrent updates.
#include "serving/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <prometheus/histogram.h>
#include <prometheus/text_serializer.h>

#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace tandem::serving {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Returns the lines of `text` that start with `prefix`, joined by newlines.
std::string LinesStartingWith(const std::string& text, std::string_view prefix) {
  std::istringstream lines(text);
  std::string line;
  std::string selected;
  while (std::getline(lines, line)) {
    if (line.starts_with(prefix)) selected += line + "\n";
  }
  return selected;
}

// Values on, between, below and above the duration bucket bounds.
const std::vector<double> kDurations = {0.0,   0.000025, 0.00003, 0.001, 0.0011,
                                        0.002, 2.5,      9.99,    10.0,  42.0};

TEST(ServingMetrics, DurationHistogramMatchesPrometheusCpp) {
  ServingMetrics metrics;
  std::shared_ptr<VersionMetrics> version = metrics.ForVersion("m", "1", "compiled_trees");
  for (double seconds : kDurations) version->ObserveRequest(200, seconds);

  prometheus::Registry registry;
  prometheus::Histogram& reference =
      prometheus::BuildHistogram()
          .Name("tandem_inference_request_duration_seconds")
          .Help("reference")
          .Register(registry)
          .Add({{"model", "m"}, {"version", "1"}},
               prometheus::Histogram::BucketBoundaries{0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
                                                       0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                       0.1, 0.25, 0.5, 1, 2.5, 10});
  for (double seconds : kDurations) reference.Observe(seconds);
  std::ostringstream expected;
  prometheus::TextSerializer().Serialize(expected, registry.Collect());

  const std::string prefix = "tandem_inference_request_duration_seconds_";
  const std::string ours = LinesStartingWith(metrics.Serialize(), prefix);
  EXPECT_FALSE(ours.empty());
  EXPECT_EQ(ours, LinesStartingWith(expected.str(), prefix));
}

TEST(ServingMetrics, RequestsOfEveryCodeInOneFamily) {
  ServingMetrics metrics;
  std::shared_ptr<VersionMetrics> version = metrics.ForVersion("m", "1", "compiled_trees");
  version->ObserveRequest(200, 0.001);
  version->ObserveRequest(200, 0.001);
  version->ObserveRequest(400, 0.001);
  metrics.ObserveUnroutedRequest(404);

  const std::string text = metrics.Serialize();
  EXPECT_THAT(text, HasSubstr("tandem_inference_requests_total{code=\"200\",model=\"m\","
                              "version=\"1\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("tandem_inference_requests_total{code=\"400\",model=\"m\","
                              "version=\"1\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("tandem_inference_requests_total{code=\"404\",model=\"\","
                              "version=\"\"} 1\n"));
  EXPECT_EQ(LinesStartingWith(text, "# TYPE tandem_inference_requests_total"),
            "# TYPE tandem_inference_requests_total counter\n");
}

TEST(ServingMetrics, FamiliesPresentBeforeAnyRequest) {
  ServingMetrics metrics;
  metrics.ForVersion("m", "1", "compiled_trees");
  const std::string text = metrics.Serialize();
  EXPECT_THAT(text, HasSubstr("tandem_inference_requests_total{code=\"200\",model=\"m\","
                              "version=\"1\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("tandem_inference_queue_duration_seconds_count{model=\"m\","
                              "version=\"1\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("tandem_inference_batch_rows_count{model=\"m\",version=\"1\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("tandem_inference_in_flight 0\n"));
  EXPECT_THAT(text, HasSubstr("tandem_model_info{model=\"m\",predictor=\"compiled_trees\","
                              "version=\"1\"} 1\n"));
}

TEST(ServingMetrics, SameVersionSharesSeries) {
  ServingMetrics metrics;
  std::shared_ptr<VersionMetrics> first = metrics.ForVersion("m", "1", "compiled_trees");
  std::shared_ptr<VersionMetrics> second = metrics.ForVersion("m", "1", "compiled_trees");
  first->ObserveRequest(200, 0.001);
  second->ObserveRequest(200, 0.001);

  const std::string text = metrics.Serialize();
  EXPECT_EQ(LinesStartingWith(text, "tandem_inference_requests_total{code=\"200\""),
            "tandem_inference_requests_total{code=\"200\",model=\"m\",version=\"1\"} 2\n");
  EXPECT_EQ(LinesStartingWith(text, "tandem_inference_request_duration_seconds_count"),
            "tandem_inference_request_duration_seconds_count{model=\"m\",version=\"1\"} 2\n");
}

TEST(ServingMetrics, ConcurrentUpdatesAllCounted) {
  constexpr int kThreads = 12;  // more than the shards, so some threads share one
  constexpr int kPerThread = 5000;
  ServingMetrics metrics;
  std::shared_ptr<VersionMetrics> version = metrics.ForVersion("m", "1", "compiled_trees");
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        metrics.AddInFlight(1);
        version->ObserveRequest(200, 0.001);
        version->ObserveCompute(0.0005);
        version->ObserveBatchRows(2);
        metrics.AddInFlight(-1);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  const std::string text = metrics.Serialize();
  const std::string total = std::to_string(kThreads * kPerThread);
  EXPECT_THAT(text, HasSubstr("tandem_inference_requests_total{code=\"200\",model=\"m\","
                              "version=\"1\"} " + total + "\n"));
  EXPECT_THAT(text, HasSubstr("tandem_inference_compute_duration_seconds_count{model=\"m\","
                              "version=\"1\"} " + total + "\n"));
  EXPECT_THAT(text, HasSubstr("tandem_inference_batch_rows_sum{model=\"m\",version=\"1\"} " +
                              std::to_string(2 * kThreads * kPerThread) + "\n"));
  EXPECT_THAT(text, HasSubstr("tandem_inference_in_flight 0\n"));
  EXPECT_THAT(text, Not(HasSubstr("tandem_inference_in_flight -")));
}

}  // namespace
}  // namespace tandem::serving
