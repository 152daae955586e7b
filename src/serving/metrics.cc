#include "serving/metrics.h"

#include <prometheus/text_serializer.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cassert>
#include <limits>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace tandem::serving {
namespace {

// Latency buckets from 25 us (a compiled-tree prediction) to 10 s.
const std::vector<double>& DurationBuckets() {
  static const std::vector<double> buckets = {0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001,
                                              0.0025,   0.005,   0.01,   0.025,   0.05,   0.1,
                                              0.25,     0.5,     1,      2.5,     10};
  return buckets;
}

const std::vector<double>& RowBuckets() {
  static const std::vector<double> buckets = {1,   2,   4,    8,    16,    32,   64,
                                              128, 256, 512, 1024, 4096, 16384, 65536};
  return buckets;
}

// Shards per series. A thread writes shard (its index mod kShards), so up to
// kShards threads never share one.
constexpr size_t kShards = 8;

// Returns this thread's shard, assigned round robin on its first call.
size_t ThisThreadShard() {
  static std::atomic<size_t> next{0};
  thread_local const size_t shard = next.fetch_add(1, std::memory_order_relaxed) % kShards;
  return shard;
}

// A counter or gauge of integers, one cache line per shard.
class ShardedInteger {
 public:
  void Add(int64_t delta) {
    shards_[ThisThreadShard()].value.fetch_add(delta, std::memory_order_relaxed);
  }
  int64_t Value() const {
    int64_t sum = 0;
    for (const Shard& shard : shards_) sum += shard.value.load(std::memory_order_relaxed);
    return sum;
  }

 private:
  struct alignas(64) Shard {
    std::atomic<int64_t> value{0};
  };
  std::array<Shard, kShards> shards_;
};

// A Prometheus histogram whose buckets are counted per shard. An observation
// lands in the first bucket whose upper bound is >= the value, as in
// prometheus::Histogram, and Collect() returns what prometheus::Histogram's
// would for the same observations.
class ShardedHistogram {
 public:
  explicit ShardedHistogram(const std::vector<double>& bounds) : bounds_(bounds) {
    assert(bounds.size() < kMaxBuckets);
  }

  void Observe(double value) {
    const auto bucket = static_cast<size_t>(
        std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
    Shard& shard = shards_[ThisThreadShard()];
    shard.counts[bucket].fetch_add(1, std::memory_order_relaxed);
    // Only this shard's threads add to its sum, so the loop of fetch_add on a
    // double rarely retries.
    shard.sum.fetch_add(value, std::memory_order_relaxed);
  }

  // Fills metric.histogram with cumulative counts, the last bucket +Inf.
  void Collect(prometheus::ClientMetric& metric) const {
    std::array<uint64_t, kMaxBuckets> counts{};
    double sum = 0;
    for (const Shard& shard : shards_) {
      for (size_t i = 0; i <= bounds_.size(); ++i) {
        counts[i] += shard.counts[i].load(std::memory_order_relaxed);
      }
      sum += shard.sum.load(std::memory_order_relaxed);
    }
    uint64_t cumulative = 0;
    metric.histogram.bucket.clear();
    for (size_t i = 0; i <= bounds_.size(); ++i) {
      cumulative += counts[i];
      metric.histogram.bucket.push_back(
          {cumulative,
           i == bounds_.size() ? std::numeric_limits<double>::infinity() : bounds_[i]});
    }
    metric.histogram.sample_count = cumulative;
    metric.histogram.sample_sum = sum;
  }

 private:
  // Buckets of the largest boundary list above, plus +Inf.
  static constexpr size_t kMaxBuckets = 18;

  struct alignas(64) Shard {
    std::array<std::atomic<uint64_t>, kMaxBuckets> counts{};
    std::atomic<double> sum{0};
  };

  const std::vector<double>& bounds_;
  std::array<Shard, kShards> shards_;
};

// The family metadata of a sharded series.
struct FamilyInfo {
  std::string_view name;
  std::string_view help;
  prometheus::MetricType type;
};

constexpr FamilyInfo kRequests = {
    "tandem_inference_requests_total",
    "Inference requests answered, by model, version and HTTP status code",
    prometheus::MetricType::Counter};
constexpr FamilyInfo kDuration = {"tandem_inference_request_duration_seconds",
                                  "Time from the start of an inference handler to its response",
                                  prometheus::MetricType::Histogram};
constexpr FamilyInfo kQueue = {"tandem_inference_queue_duration_seconds",
                               "Time a request waited for its dynamic batch to start",
                               prometheus::MetricType::Histogram};
constexpr FamilyInfo kCompute = {"tandem_inference_compute_duration_seconds",
                                 "Time of one predictor call", prometheus::MetricType::Histogram};
constexpr FamilyInfo kBatchRows = {"tandem_inference_batch_rows", "Rows per predictor call",
                                   prometheus::MetricType::Histogram};
constexpr FamilyInfo kInFlight = {"tandem_inference_in_flight", "Inference requests being handled",
                                  prometheus::MetricType::Gauge};

prometheus::MetricFamily NewFamily(const FamilyInfo& info) {
  prometheus::MetricFamily family;
  family.name = info.name;
  family.help = info.help;
  family.type = info.type;
  return family;
}

}  // namespace

// The sharded series of one model version, shared by every VersionMetrics of it.
struct VersionSeries {
  std::string model;
  std::string version;
  ShardedInteger ok;  // tandem_inference_requests_total{code="200"}
  ShardedHistogram duration{DurationBuckets()};
  ShardedHistogram queue{DurationBuckets()};
  ShardedHistogram compute{DurationBuckets()};
  ShardedHistogram batch_rows{RowBuckets()};
};

struct ServingMetrics::Sharded {
  ShardedInteger in_flight;
  mutable std::mutex mutex;
  // Every version's series, kept after unloads because counters must not go back.
  std::map<std::pair<std::string, std::string>, std::shared_ptr<VersionSeries>> versions;
};

VersionMetrics::VersionMetrics(prometheus::Family<prometheus::Counter>& requests,
                               std::shared_ptr<VersionSeries> series, prometheus::Gauge& info)
    : requests_(requests), series_(std::move(series)), info_(info) {}

void VersionMetrics::ObserveRequest(int status, double seconds) {
  series_->duration.Observe(seconds);
  if (status == 200) {
    series_->ok.Add(1);
    return;
  }
  requests_
      .Add({{"model", series_->model},
            {"version", series_->version},
            {"code", std::to_string(status)}})
      .Increment();
}

void VersionMetrics::ObserveQueue(double seconds) { series_->queue.Observe(seconds); }
void VersionMetrics::ObserveCompute(double seconds) { series_->compute.Observe(seconds); }
void VersionMetrics::ObserveBatchRows(size_t rows) {
  series_->batch_rows.Observe(static_cast<double>(rows));
}

ServingMetrics::ServingMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      sharded_(std::make_unique<Sharded>()),
      requests_(prometheus::BuildCounter()
                    .Name(std::string(kRequests.name))
                    .Help(std::string(kRequests.help))
                    .Register(*registry_)),
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

ServingMetrics::~ServingMetrics() = default;

std::shared_ptr<VersionMetrics> ServingMetrics::ForVersion(const std::string& model,
                                                           const std::string& version,
                                                           std::string_view predictor) {
  prometheus::Gauge& info =
      info_.Add({{"model", model}, {"version", version}, {"predictor", std::string(predictor)}});
  info.Set(1);
  std::shared_ptr<VersionSeries> series;
  {
    std::lock_guard lock(sharded_->mutex);
    std::shared_ptr<VersionSeries>& slot = sharded_->versions[{model, version}];
    if (slot == nullptr) {
      slot = std::make_shared<VersionSeries>();
      slot->model = model;
      slot->version = version;
    }
    series = slot;
  }
  return std::shared_ptr<VersionMetrics>(new VersionMetrics(requests_, std::move(series), info));
}

void ServingMetrics::ObserveUnroutedRequest(int status) {
  requests_.Add({{"model", ""}, {"version", ""}, {"code", std::to_string(status)}}).Increment();
}

void ServingMetrics::AddInFlight(int delta) { sharded_->in_flight.Add(delta); }

void ServingMetrics::CountModelLoad(const std::string& model, std::string_view result) {
  loads_.Add({{"model", model}, {"result", std::string(result)}}).Increment();
}

void ServingMetrics::CountShadowComparison(const std::string& model, std::string_view result) {
  shadow_.Add({{"model", model}, {"result", std::string(result)}}).Increment();
}

void ServingMetrics::CollectSharded(std::vector<prometheus::MetricFamily>& families) const {
  // The registry's requests family contains the codes other than 200 and is
  // absent until one is counted. The 200 series join it.
  auto requests = std::find_if(families.begin(), families.end(),
                               [](const auto& family) { return family.name == kRequests.name; });
  if (requests == families.end()) {
    families.insert(families.begin(), NewFamily(kRequests));
    requests = families.begin();
  }
  std::vector<prometheus::MetricFamily> histograms = {NewFamily(kDuration), NewFamily(kQueue),
                                                      NewFamily(kCompute), NewFamily(kBatchRows)};
  {
    std::lock_guard lock(sharded_->mutex);
    for (const auto& [key, series] : sharded_->versions) {
      // Labels in name order, as prometheus-cpp writes them.
      prometheus::ClientMetric ok;
      ok.label = {{"code", "200"}, {"model", series->model}, {"version", series->version}};
      ok.counter.value = static_cast<double>(series->ok.Value());
      requests->metric.push_back(std::move(ok));

      const ShardedHistogram* parts[] = {&series->duration, &series->queue, &series->compute,
                                         &series->batch_rows};
      for (size_t i = 0; i < histograms.size(); ++i) {
        prometheus::ClientMetric metric;
        metric.label = {{"model", series->model}, {"version", series->version}};
        parts[i]->Collect(metric);
        histograms[i].metric.push_back(std::move(metric));
      }
    }
  }
  prometheus::MetricFamily in_flight = NewFamily(kInFlight);
  in_flight.metric.emplace_back().gauge.value = static_cast<double>(sharded_->in_flight.Value());
  histograms.push_back(std::move(in_flight));

  const auto after_requests = std::next(requests) - families.begin();
  families.insert(families.begin() + after_requests, std::make_move_iterator(histograms.begin()),
                  std::make_move_iterator(histograms.end()));
}

std::string ServingMetrics::Serialize() const {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  CollectSharded(families);
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

}  // namespace tandem::serving
