// Dynamic batching: predictions that arrive together for one model version are
// merged into one Predictor call.
//
// There is no batching thread. The first request that finds no batch being
// collected becomes the leader: it waits until the queued rows reach max_rows
// or until max_delay has passed since the oldest queued request arrived, takes
// the queued requests in arrival order up to max_rows, and runs one Predict
// call for them while the next leader collects the next batch. Every other
// request sleeps until its rows are done. A request of max_rows rows or more
// runs alone at once.
//
// Because handlers are synchronous, each waiting request holds one HTTP
// thread, so a batch can merge at most as many requests as the server has
// threads: batching needs --threads well above the core count.
//
// Thread safety: Predict may be called from any number of threads at once.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>

#include "common/status.h"
#include "model/predictor.h"
#include "serving/metrics.h"

namespace tandem::serving {

struct BatchingOptions {
  size_t max_rows = 0;  // rows per merged Predict call
  std::chrono::microseconds max_delay{0};
  // Batching is on when both limits allow merging.
  bool enabled() const { return max_rows > 1 && max_delay.count() > 0; }
};

class PredictBatcher {
 public:
  // `predictor` must outlive the batcher. `metrics` may be null.
  // REQUIRES: options.enabled().
  PredictBatcher(const model::Predictor& predictor, BatchingOptions options,
                 VersionMetrics* metrics);
  PredictBatcher(const PredictBatcher&) = delete;
  PredictBatcher& operator=(const PredictBatcher&) = delete;

  // Predicts `rows` rows of `features` into `out` (as Predictor::Predict) and
  // returns when they are done. A failed merged call fails every request in it
  // with the predictor's error.
  Status Predict(const float* features, size_t rows, float* out);

 private:
  struct Pending {
    const float* features;
    size_t rows;
    float* out;
    std::chrono::steady_clock::time_point arrival;
    Status status = Ok();
    bool done = false;
  };

  // Runs one merged call for `batch`; called without the lock held.
  Status RunBatch(const std::deque<Pending*>& batch);
  // Waits for rows and deadline, then removes the next batch from the queue.
  std::deque<Pending*> CollectBatch(std::unique_lock<std::mutex>& lock);

  const model::Predictor& predictor_;
  const BatchingOptions options_;
  VersionMetrics* const metrics_;

  std::mutex mutex_;
  std::condition_variable leader_wakeup_;  // a request arrived while a leader collects
  std::condition_variable done_;           // a batch finished or leadership is free
  std::deque<Pending*> queue_;             // guarded by mutex_
  size_t queued_rows_ = 0;                 // guarded by mutex_
  bool collecting_ = false;                // a leader exists; guarded by mutex_
};

}  // namespace tandem::serving
