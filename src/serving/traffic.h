// Canary and shadow traffic for `tandem serve`.
//
// Canary (--canary NAME:VERSION=FRACTION): that fraction of the model's
// requests that name no version go to VERSION instead of the primary. With
// a request id, the choice is a hash of model name and id, so one id always
// gets the same version. Without an id, the choice is random. The response's
// model_version tells which version answered.
//
// Shadow (--shadow NAME:VERSION): requests to the model that name no version
// are also predicted by VERSION on a background thread, after the response
// is sent, and the two predictions are compared bit for bit. The shadow
// version encodes the request with its own feature pipeline. The outcome is
// counted in tandem_shadow_comparisons_total and never returned. A full
// queue drops the comparison (counted as "dropped").
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/status.h"
#include "serving/feature_batch.h"
#include "serving/metrics.h"
#include "serving/model_manager.h"

namespace tandem::serving {

struct CanaryRule {
  std::string model;
  std::string version;
  double fraction = 0;  // in [0, 1]
};

struct ShadowRule {
  std::string model;
  std::string version;
};

// Parses "NAME:VERSION=FRACTION" (FRACTION a number in [0, 1]).
// Errors (kInvalidArgument): a missing part, an invalid name or version, a
// fraction outside [0, 1].
Result<CanaryRule> ParseCanary(std::string_view spec);

// Parses "NAME:VERSION". Errors (kInvalidArgument) as for ParseCanary.
Result<ShadowRule> ParseShadow(std::string_view spec);

// Returns the canary version for one request to `model`, or an empty view
// for the primary. `rules` contains at most one rule per model.
std::string_view PickCanaryVersion(const std::vector<CanaryRule>& rules, std::string_view model,
                                   const std::optional<std::string>& request_id);

// Returns the number in [0, 1) that decides the canary for a request id:
// FNV-1a (64 bit) of model, a zero byte and the id, passed through
// MurmurHash3's 64-bit finalizer and scaled. Stable across processes and builds.
double CanaryDraw(std::string_view model, std::string_view request_id);

// Runs shadow comparisons on one background thread.
// Thread safety: Submit and ShadowVersion may be called from any thread.
class ShadowMirror {
 public:
  // `models` and `metrics` (may be null) must outlive the mirror.
  ShadowMirror(std::vector<ShadowRule> rules, const ModelManager& models, ServingMetrics* metrics,
               size_t queue_capacity);
  ~ShadowMirror();  // drops queued comparisons and joins the thread
  ShadowMirror(const ShadowMirror&) = delete;
  ShadowMirror& operator=(const ShadowMirror&) = delete;

  // Returns the shadow version of `model`, or nullptr when it has none.
  const std::string* ShadowVersion(std::string_view model) const;

  // Turns the request into features with a version's own pipeline.
  using Encoder = std::function<Result<FeatureBatch>(const model::FeaturePipeline&)>;

  // Queues a comparison of `primary` (the predictions sent) with the shadow
  // version's predictions of the same request, encoded by `encode` with the
  // shadow version's pipeline, and returns at once.
  void Submit(const std::string& model, Encoder encode, std::vector<float> primary);

  // Waits until no comparison is queued or running; false when `timeout` passes first.
  bool WaitIdle(std::chrono::milliseconds timeout);

 private:
  struct Job {
    std::string model;
    std::string version;
    Encoder encode;
    std::vector<float> primary;
  };
  void Run();
  void Compare(const Job& job);

  const std::vector<ShadowRule> rules_;
  const ModelManager& models_;
  ServingMetrics* const metrics_;
  const size_t capacity_;

  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Job> queue_;  // guarded by mutex_
  bool busy_ = false;      // guarded by mutex_
  bool stopping_ = false;  // guarded by mutex_
  uint64_t failures_ = 0;  // for rate-limited logging; worker thread only
  std::thread worker_;
};

}  // namespace tandem::serving
