// Reporting a job's phases from `tandem train`: to the control plane as
// events (POST /api/v1/jobs/{id}/events) or, stand-alone, to the log only.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/json_util.h"
#include "runtime/control_plane.h"

namespace tandem::runtime {

// One report. Both statuses empty means a progress report.
struct RuntimeEvent {
  std::string status;            // TrainingJobStatus: "InProgress", "Completed", ...
  std::string secondary_status;  // "Downloading", "Training", ...
  std::string message;
  Json details = Json::object();
};

// Receives the runtime's events. Thread-safe.
class EventReporter {
 public:
  virtual ~EventReporter() = default;
  // Queues or logs `event` and returns without waiting for delivery.
  virtual void Report(RuntimeEvent event) = 0;
  // Waits until every queued event was delivered or given up on, or until
  // `timeout` passes; returns false in the second case.
  virtual bool Flush(std::chrono::milliseconds timeout) = 0;
};

// Logs each event at INFO; for stand-alone runs.
class LogEventReporter final : public EventReporter {
 public:
  explicit LogEventReporter(std::string job_name) : job_name_(std::move(job_name)) {}
  void Report(RuntimeEvent event) override;
  bool Flush(std::chrono::milliseconds) override { return true; }

 private:
  std::string job_name_;
};

// Posts events to the control plane from a sender thread, in order.
//
// Each event gets its EventId ("rt-<run nonce>-<sequence>"), its Sequence
// (0, 1, 2, ... in Report order) and its ObservedAt when Report is called;
// retries resend the same document, so the control plane drops the copies of
// an event that did arrive. While the control plane is unreachable (or answers
// 5xx or 429) an event is retried per the RetryPolicy, then logged at ERROR
// and dropped. Any other 4xx drops it at once with an ERROR log. A progress
// report still queued when a newer one arrives is replaced by it.
//
// Test only: TANDEM_TEST_DROP_EVENTS, a comma-separated list of secondary
// statuses ("Completed,Training"), makes the reporter discard those events
// instead of sending them, so that tests can lose a runtime event on purpose.
// Unset, which is the only setting outside tests, it changes nothing.
class ControlPlaneEventReporter final : public EventReporter {
 public:
  // `client` is used only by the sender thread. A set `attempt` (the job's
  // TANDEM_JOB_ATTEMPT) goes into every event as Attempt, so that the control
  // plane ignores this run's reports once the job has moved on to a retry.
  ControlPlaneEventReporter(std::unique_ptr<ControlPlaneClient> client, RetryPolicy retry,
                            const Clock& clock = SystemClock::Instance(),
                            std::optional<int64_t> attempt = std::nullopt);
  // Flushes for up to retry.window, then stops the sender thread.
  ~ControlPlaneEventReporter() override;

  void Report(RuntimeEvent event) override;
  bool Flush(std::chrono::milliseconds timeout) override;

 private:
  struct Pending {
    Json document;
    bool progress = false;
  };
  void SendLoop();
  void Deliver(const Json& document);

  std::unique_ptr<ControlPlaneClient> client_;
  std::set<std::string, std::less<>> dropped_statuses_;  // from TANDEM_TEST_DROP_EVENTS
  RetryPolicy retry_;
  const Clock& clock_;
  std::optional<int64_t> attempt_;
  std::string nonce_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Pending> queue_;
  bool sending_ = false;  // the sender holds an event taken off the queue
  bool shutting_down_ = false;
  int64_t next_sequence_ = 0;
  std::thread sender_;
};

}  // namespace tandem::runtime
