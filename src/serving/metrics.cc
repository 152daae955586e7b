#include "serving/metrics.h"

#include <prometheus/text_serializer.h>

#include <sstream>
#include <utility>
#include <vector>

namespace tandem::serving {
namespace {

// Latency buckets from 25 us (a compiled-tree prediction) to 10 s.
const prometheus::Histogram::BucketBoundaries& DurationBuckets() {
  static const prometheus::Histogram::BucketBoundaries buckets = {
      0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
      0.025,    0.05,    0.1,    0.25,    0.5,    1,     2.5,    10};
  return buckets;
}

const prometheus::Histogram::BucketBoundaries& RowBuckets() {
  static const prometheus::Histogram::BucketBoundaries buckets = {
      1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384, 65536};
  return buckets;
}

}  // namespace

VersionMetrics::VersionMetrics(prometheus::Family<prometheus::Counter>& requests, std::string model,
                               std::string version, prometheus::Histogram& duration,
                               prometheus::Histogram& queue, prometheus::Histogram& compute,
                               prometheus::Histogram& batch_rows, prometheus::Gauge& info)
    : requests_(requests),
      model_(std::move(model)),
      version_(std::move(version)),
      ok_(requests.Add({{"model", model_}, {"version", version_}, {"code", "200"}})),
      duration_(duration),
      queue_(queue),
      compute_(compute),
      batch_rows_(batch_rows),
      info_(info) {}

void VersionMetrics::ObserveRequest(int status, double seconds) {
  duration_.Observe(seconds);
  if (status == 200) {
    ok_.Increment();
    return;
  }
  requests_.Add({{"model", model_}, {"version", version_}, {"code", std::to_string(status)}})
      .Increment();
}

ServingMetrics::ServingMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      requests_(prometheus::BuildCounter()
                    .Name("tandem_inference_requests_total")
                    .Help("Inference requests answered, by model, version and HTTP status code")
                    .Register(*registry_)),
      duration_(prometheus::BuildHistogram()
                    .Name("tandem_inference_request_duration_seconds")
                    .Help("Time from the start of an inference handler to its response")
                    .Register(*registry_)),
      queue_(prometheus::BuildHistogram()
                 .Name("tandem_inference_queue_duration_seconds")
                 .Help("Time a request waited for its dynamic batch to start")
                 .Register(*registry_)),
      compute_(prometheus::BuildHistogram()
                   .Name("tandem_inference_compute_duration_seconds")
                   .Help("Time of one predictor call")
                   .Register(*registry_)),
      batch_rows_(prometheus::BuildHistogram()
                      .Name("tandem_inference_batch_rows")
                      .Help("Rows per predictor call")
                      .Register(*registry_)),
      in_flight_(prometheus::BuildGauge()
                     .Name("tandem_inference_in_flight")
                     .Help("Inference requests being handled")
                     .Register(*registry_)
                     .Add({})),
      loads_(prometheus::BuildCounter()
                 .Name("tandem_model_loads_total")
                 .Help("Model version loads, by result: ok, load_failed, self_test_failed")
                 .Register(*registry_)),
      info_(prometheus::BuildGauge()
                .Name("tandem_model_info")
                .Help("1 for each loaded model version, with the predictor that evaluates it")
                .Register(*registry_)),
      shadow_(prometheus::BuildCounter()
                  .Name("tandem_shadow_comparisons_total")
                  .Help("Shadow predictions compared with the primary's, by result: equal, "
                        "different, dropped, failed")
                  .Register(*registry_)) {}

std::shared_ptr<VersionMetrics> ServingMetrics::ForVersion(const std::string& model,
                                                           const std::string& version,
                                                           std::string_view predictor) {
  const prometheus::Labels labels = {{"model", model}, {"version", version}};
  prometheus::Gauge& info =
      info_.Add({{"model", model}, {"version", version}, {"predictor", std::string(predictor)}});
  info.Set(1);
  return std::shared_ptr<VersionMetrics>(new VersionMetrics(
      requests_, model, version, duration_.Add(labels, DurationBuckets()),
      queue_.Add(labels, DurationBuckets()), compute_.Add(labels, DurationBuckets()),
      batch_rows_.Add(labels, RowBuckets()), info));
}

void ServingMetrics::ObserveUnroutedRequest(int status) {
  requests_.Add({{"model", ""}, {"version", ""}, {"code", std::to_string(status)}}).Increment();
}

void ServingMetrics::CountModelLoad(const std::string& model, std::string_view result) {
  loads_.Add({{"model", model}, {"result", std::string(result)}}).Increment();
}

void ServingMetrics::CountShadowComparison(const std::string& model, std::string_view result) {
  shadow_.Add({{"model", model}, {"result", std::string(result)}}).Increment();
}

std::string ServingMetrics::Serialize() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  return out.str();
}

}  // namespace tandem::serving
