#include "serving/batcher.h"

#include <algorithm>
#include <vector>

namespace tandem::serving {

using Clock = std::chrono::steady_clock;

PredictBatcher::PredictBatcher(const model::Predictor& predictor, BatchingOptions options,
                               VersionMetrics* metrics)
    : predictor_(predictor), options_(options), metrics_(metrics) {}

Status PredictBatcher::Predict(const float* features, size_t rows, float* out) {
  Pending self{.features = features, .rows = rows, .out = out, .arrival = Clock::now()};
  if (rows >= options_.max_rows) return RunBatch({&self});

  std::unique_lock lock(mutex_);
  queue_.push_back(&self);
  queued_rows_ += rows;
  if (collecting_) leader_wakeup_.notify_one();

  // Each pass either leads one batch or sleeps until something changed. A
  // leader whose own request did not fit its batch comes round again.
  while (!self.done) {
    // With the queue empty, this request is in a batch another leader runs.
    if (collecting_ || queue_.empty()) {
      done_.wait(lock);
      continue;
    }
    collecting_ = true;
    std::deque<Pending*> batch = CollectBatch(lock);
    collecting_ = false;
    done_.notify_all();  // a request left in the queue may lead the next batch

    lock.unlock();
    Status status = RunBatch(batch);
    lock.lock();
    for (Pending* pending : batch) {
      pending->status = status;
      pending->done = true;
    }
    done_.notify_all();
  }
  return self.status;
}

std::deque<PredictBatcher::Pending*> PredictBatcher::CollectBatch(
    std::unique_lock<std::mutex>& lock) {
  const Clock::time_point deadline = queue_.front()->arrival + options_.max_delay;
  leader_wakeup_.wait_until(lock, deadline, [this] { return queued_rows_ >= options_.max_rows; });

  // Take requests in arrival order; the oldest always goes, even alone.
  std::deque<Pending*> batch;
  size_t rows = 0;
  while (!queue_.empty() && (batch.empty() || rows + queue_.front()->rows <= options_.max_rows)) {
    rows += queue_.front()->rows;
    batch.push_back(queue_.front());
    queue_.pop_front();
  }
  queued_rows_ -= rows;
  return batch;
}

Status PredictBatcher::RunBatch(const std::deque<Pending*>& batch) {
  const Clock::time_point start = Clock::now();
  size_t rows = 0;
  for (const Pending* pending : batch) {
    rows += pending->rows;
    if (metrics_ != nullptr) {
      metrics_->ObserveQueue(std::chrono::duration<double>(start - pending->arrival).count());
    }
  }

  // One request predicts straight into its own buffers; several are packed.
  Status status = Ok();
  if (batch.size() == 1) {
    status = predictor_.Predict(batch.front()->features, rows, batch.front()->out);
  } else {
    const size_t width = predictor_.num_features();
    std::vector<float> features;
    features.reserve(rows * width);
    for (const Pending* pending : batch) {
      features.insert(features.end(), pending->features, pending->features + pending->rows * width);
    }
    std::vector<float> predictions(rows);
    status = predictor_.Predict(features.data(), rows, predictions.data());
    if (status) {
      size_t offset = 0;
      for (const Pending* pending : batch) {
        std::copy_n(predictions.begin() + static_cast<ptrdiff_t>(offset), pending->rows,
                    pending->out);
        offset += pending->rows;
      }
    }
  }

  if (metrics_ != nullptr) {
    metrics_->ObserveCompute(std::chrono::duration<double>(Clock::now() - start).count());
    metrics_->ObserveBatchRows(rows);
  }
  return status;
}

}  // namespace tandem::serving
