// Prometheus metrics of `tandem serve`, exposed at GET /metrics in the text
// exposition format (version 0.0.4). Built on prometheus-cpp's core library
// (Debian's prometheus-cpp-dev), without its HTTP exposer: the inference
// server serves the text itself.
//
// Families (every duration in seconds):
//   tandem_inference_requests_total{model,version,code}      counter, per HTTP status
//   tandem_inference_request_duration_seconds{model,version} histogram, handler entry to response
//   tandem_inference_queue_duration_seconds{model,version}   histogram, wait for a dynamic batch
//                                                            (observed only with batching on)
//   tandem_inference_compute_duration_seconds{model,version} histogram, one Predict call
//   tandem_inference_batch_rows{model,version}               histogram, rows per Predict call
//   tandem_inference_in_flight                               gauge, inference requests in handlers
//   tandem_model_loads_total{model,result}                   counter; result is ok, load_failed
//                                                            or self_test_failed
//   tandem_model_info{model,version,predictor}               gauge, 1 per loaded version
//   tandem_shadow_comparisons_total{model,result}            counter; result is equal,
//                                                            different, dropped (queue full) or
//                                                            failed (the shadow version erred or
//                                                            was not loaded)
// Requests that never reached a model (unknown model, malformed path) carry
// model="" and version="", so clients cannot grow the label set.
//
// Cost: one request updates a counter, two or three histograms and the gauge.
// These series are sharded. Each thread writes the shard its index picks,
// with relaxed atomic adds and no lock, so that I/O threads handling requests
// at once do not take turns on one mutex or cache line. A scrape sums the shards. The
// other families (loads, model info, shadow comparisons, the requests of
// codes other than 200) are prometheus-cpp's own metrics.
//
// Thread safety: every method may be called from any thread at once.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tandem::serving {

// The sharded series of one model version; defined in metrics.cc.
struct VersionSeries;

// Metric series of one loaded model version, resolved once at load so that the
// request path does no label lookup for a 200.
class VersionMetrics {
 public:
  // Counts one finished request with HTTP `status` that took `seconds`.
  void ObserveRequest(int status, double seconds);
  void ObserveQueue(double seconds);
  void ObserveCompute(double seconds);
  void ObserveBatchRows(size_t rows);
  // Sets tandem_model_info of this version to 0 (unloaded) or 1.
  void SetLoaded(bool loaded) { info_.Set(loaded ? 1 : 0); }

 private:
  friend class ServingMetrics;
  VersionMetrics(prometheus::Family<prometheus::Counter>& requests,
                 std::shared_ptr<VersionSeries> series, prometheus::Gauge& info);

  prometheus::Family<prometheus::Counter>& requests_;  // codes other than 200
  std::shared_ptr<VersionSeries> series_;
  prometheus::Gauge& info_;
};

class ServingMetrics {
 public:
  ServingMetrics();
  ~ServingMetrics();
  ServingMetrics(const ServingMetrics&) = delete;
  ServingMetrics& operator=(const ServingMetrics&) = delete;

  // Returns the series of `model` `version` and sets its tandem_model_info to 1.
  // The series stay after the version is unloaded, because Prometheus counters
  // must not go back. Calling twice for one version returns equal series.
  std::shared_ptr<VersionMetrics> ForVersion(const std::string& model, const std::string& version,
                                             std::string_view predictor);

  // Counts a request that reached no model version.
  void ObserveUnroutedRequest(int status);

  void AddInFlight(int delta);
  void CountModelLoad(const std::string& model, std::string_view result);
  void CountShadowComparison(const std::string& model, std::string_view result);

  // Returns every metric in the Prometheus text format.
  std::string Serialize() const;

 private:
  struct Sharded;

  // Adds the sharded families to `families`, the registry's.
  void CollectSharded(std::vector<prometheus::MetricFamily>& families) const;

  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<Sharded> sharded_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Counter>& loads_;
  prometheus::Family<prometheus::Gauge>& info_;
  prometheus::Family<prometheus::Counter>& shadow_;
};

// The Content-Type of GET /metrics.
inline constexpr std::string_view kPrometheusContentType = "text/plain; version=0.0.4";

}  // namespace tandem::serving
