#include "runtime/events.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>

#include "common/crypto.h"

namespace tandem::runtime {
namespace {

// The control plane rejects event messages over 4096 bytes.
constexpr size_t kMaxMessageBytes = 4096;

std::string TruncateMessage(std::string message) {
  if (message.size() <= kMaxMessageBytes) return message;
  size_t end = kMaxMessageBytes;
  // Back up to the start of a UTF-8 sequence so no character is cut in half.
  while (end > 0 && (static_cast<unsigned char>(message[end]) & 0xC0) == 0x80) --end;
  message.resize(end);
  return message;
}

// Parses TANDEM_TEST_DROP_EVENTS (see events.h).
std::set<std::string, std::less<>> DroppedStatusesForTests() {
  std::set<std::string, std::less<>> statuses;
  const char* text = std::getenv("TANDEM_TEST_DROP_EVENTS");
  if (text == nullptr) return statuses;
  std::string_view rest = text;
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view status = rest.substr(0, comma);
    if (!status.empty()) statuses.emplace(status);
    rest = comma == std::string_view::npos ? "" : rest.substr(comma + 1);
  }
  return statuses;
}

}  // namespace

void LogEventReporter::Report(RuntimeEvent event) {
  if (event.status.empty()) {
    spdlog::info("job progress job={} message=\"{}\" details={}", job_name_, event.message,
                 DumpJson(event.details));
    return;
  }
  spdlog::info("job status job={} status={} secondary_status={} message=\"{}\"", job_name_,
               event.status, event.secondary_status, event.message);
}

ControlPlaneEventReporter::ControlPlaneEventReporter(std::unique_ptr<ControlPlaneClient> client,
                                                     RetryPolicy retry, const Clock& clock,
                                                     std::optional<int64_t> attempt)
    : client_(std::move(client)),
      dropped_statuses_(DroppedStatusesForTests()),
      retry_(retry),
      clock_(clock),
      attempt_(attempt),
      nonce_(RandomHex(6)) {
  sender_ = std::thread([this] { SendLoop(); });
}

ControlPlaneEventReporter::~ControlPlaneEventReporter() {
  Flush(retry_.window);
  {
    std::lock_guard lock(mutex_);
    shutting_down_ = true;
  }
  changed_.notify_all();
  sender_.join();
}

void ControlPlaneEventReporter::Report(RuntimeEvent event) {
  const bool progress = event.status.empty();
  std::lock_guard lock(mutex_);
  const int64_t sequence = next_sequence_++;
  Json document = {
      {"EventId", fmt::format("rt-{}-{}", nonce_, sequence)},
      {"Source", "runtime"},
      {"ObservedAt", FormatTimestamp(clock_.NowMillis())},
      {"Sequence", sequence},
      {"Message", TruncateMessage(std::move(event.message))},
      {"Details", event.details},
  };
  if (attempt_) document["Attempt"] = *attempt_;
  if (!progress) {
    document["TrainingJobStatus"] = event.status;
    document["SecondaryStatus"] = event.secondary_status;
    spdlog::info("job status job={} status={} secondary_status={} message=\"{}\"",
                 client_->job_id(), event.status, event.secondary_status,
                 document["Message"].get<std::string>());
    if (dropped_statuses_.contains(event.secondary_status)) {
      spdlog::warn("event discarded by TANDEM_TEST_DROP_EVENTS job={} event_id={}",
                   client_->job_id(), document["EventId"].get<std::string>());
      return;
    }
  }
  // A newer progress report makes a queued one worthless.
  if (progress && !queue_.empty() && queue_.back().progress) {
    queue_.back() = Pending{std::move(document), true};
  } else {
    queue_.push_back(Pending{std::move(document), progress});
  }
  changed_.notify_all();
}

bool ControlPlaneEventReporter::Flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [this] { return queue_.empty() && !sending_; });
}

void ControlPlaneEventReporter::SendLoop() {
  std::unique_lock lock(mutex_);
  while (true) {
    changed_.wait(lock, [this] { return shutting_down_ || !queue_.empty(); });
    if (queue_.empty()) return;  // shutting down with nothing left
    if (shutting_down_) {
      spdlog::error("event not delivered, runtime exiting job={} undelivered={}",
                    client_->job_id(), queue_.size());
      return;
    }
    Json document = std::move(queue_.front().document);
    queue_.pop_front();
    sending_ = true;
    lock.unlock();
    Deliver(document);
    lock.lock();
    sending_ = false;
    changed_.notify_all();
  }
}

void ControlPlaneEventReporter::Deliver(const Json& document) {
  const std::string event_id = document["EventId"].get<std::string>();
  auto deadline = std::chrono::steady_clock::now() + retry_.window;
  auto backoff = retry_.initial_backoff;
  for (int attempt = 1;; ++attempt) {
    Status posted = client_->PostEvent(document);
    if (posted) return;
    const Error& error = posted.error();
    if (!IsRetryable(error) || std::chrono::steady_clock::now() + backoff > deadline) {
      spdlog::error("event dropped job={} event_id={} attempts={} error=\"{}\"", client_->job_id(),
                    event_id, attempt, error.message());
      return;
    }
    spdlog::warn("event not delivered, retrying job={} event_id={} attempt={} retry_in_ms={} "
                 "error=\"{}\"",
                 client_->job_id(), event_id, attempt, backoff.count(), error.message());
    // Sleep on the condition variable so that shutdown cuts the wait short.
    std::unique_lock lock(mutex_);
    if (changed_.wait_for(lock, backoff, [this] { return shutting_down_; })) {
      spdlog::error("event dropped, runtime exiting job={} event_id={}", client_->job_id(),
                    event_id);
      return;
    }
    backoff = std::min(backoff * 2, retry_.max_backoff);
  }
}

}  // namespace tandem::runtime
