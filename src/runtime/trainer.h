// The phases of one training job inside `tandem train`, the same in
// control-plane and stand-alone mode. It lays out the job root, fetches the
// channels, trains (a built-in algorithm in-process or the user's entry point
// as a child process), packages and uploads model/, and reports each phase.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "jobs/job_spec.h"
#include "runtime/events.h"
#include "runtime/job_root.h"
#include "runtime/stop_controller.h"

namespace tandem::runtime {

// Exit codes of `tandem train`.
inline constexpr int kExitCompleted = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitStopped = 143;  // 128 + SIGTERM

// Bytes of output/failure that become the FailureReason.
inline constexpr size_t kMaxFailureReasonBytes = 1024;

// Sends a packaged model somewhere; returns the answer's {"Digest", "SizeBytes"}.
using PackageUploader = std::function<Result<Json>(const std::filesystem::path& archive)>;

struct TrainerOptions {
  JobRoot root;
  std::string job_id;  // the control plane's id; "" stand-alone
  int num_cpus = 1;
  // Between SIGTERM and SIGKILL for the user's process on a stop.
  std::chrono::milliseconds stop_grace{std::chrono::seconds(30)};
  FetchOptions fetch;
  // PATH, HOME and the TANDEM_* variables passed on to the entry point.
  std::map<std::string, std::string> base_environment;
  std::map<std::string, std::string> tandem_environment;
  // Empty: the package is archived (into output/model-package.tar) but not sent.
  PackageUploader upload;
  // Progress events are sent at most once per this interval (plus one per
  // phase change).
  std::chrono::milliseconds progress_interval{500};
  // How long to wait for the last events to be delivered before returning.
  std::chrono::milliseconds event_flush_timeout{std::chrono::minutes(2)};
  const Clock* clock = &SystemClock::Instance();
};

// Runs the job and returns the exit code for `tandem train`: kExitCompleted
// after a Completed event; kExitFailed after a Failed event; kExitStopped after
// a Stopped event. Reaching MaxRuntimeInSeconds (through `stop`) ends Failed
// with secondary status MaxRuntimeExceeded. Events go to `events`; it is
// flushed before returning.
//
// On failure output/failure contains the reason: the user's own text when the
// entry point wrote the file (FailureReason is its first 1024 bytes), else
// the runtime's ("entry point exited with code 2", the algorithm's error).
int RunTrainingJob(const jobs::JobSpec& spec, const TrainerOptions& options, EventReporter& events,
                   StopController& stop);

// Limits progress reports to one per `interval`, letting a phase change
// through at once. Not thread-safe.
class ProgressThrottle {
 public:
  ProgressThrottle(const Clock& clock, std::chrono::milliseconds interval)
      : clock_(clock), interval_ms_(interval.count()) {}
  // True when a report in `phase` should be sent now; records it as sent.
  bool ShouldSend(std::string_view phase);

 private:
  const Clock& clock_;
  int64_t interval_ms_;
  std::string last_phase_;
  int64_t last_sent_ms_ = 0;
  bool sent_any_ = false;
};

}  // namespace tandem::runtime
