// Reloads the routing configuration file into a BackendSet without a
// restart: when the process receives SIGHUP, and when the file's modification
// time or size changes (checked every poll interval).
//
// A file that fails to load or apply is logged at ERROR with the reason, and
// the configuration in force stays. The same bad file is not retried until
// it changes again or SIGHUP arrives. New routes apply to jobs submitted
// afterwards; running jobs keep the backend stored in their row.
//
// SIGHUP handling: call BlockReloadSignal() in main's thread before starting
// any other thread, so that only the watcher's sigtimedwait receives it.
//
// Threads: Start runs the loop on a thread of its own until Stop or
// destruction. ReloadIfChanged and Reload may be called from any thread.
#pragma once

#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "api/backend_set.h"
#include "api/routing_config.h"

namespace tandem::api {

// Blocks SIGHUP in the calling thread (and the threads it starts later).
void BlockReloadSignal();

struct ConfigWatcherOptions {
  std::filesystem::path path;
  std::chrono::milliseconds poll_interval{2000};
  BackendOptionsValidator validate_options;
  bool reload_on_sighup = true;
};

class ConfigWatcher {
 public:
  // `backends` must outlive the watcher. Records the file's current
  // modification time, so the first ReloadIfChanged reloads nothing unless
  // the file changed after construction.
  ConfigWatcher(ConfigWatcherOptions options, BackendSet& backends);
  ~ConfigWatcher();  // stops the thread
  ConfigWatcher(const ConfigWatcher&) = delete;
  ConfigWatcher& operator=(const ConfigWatcher&) = delete;

  // Loads and applies the file. Errors: those of LoadRoutingConfig and of
  // BackendSet::Apply; on error the configuration in force stays.
  Status Reload();

  // Reloads when the file's modification time or size differs from the last
  // attempt. Returns whether a reload was attempted; its failure is logged.
  bool ReloadIfChanged();

  // Returns how many reloads succeeded and failed since construction.
  int64_t reloads() const { return reloads_.load(); }
  int64_t failures() const { return failures_.load(); }

  void Start();
  void Stop();

 private:
  struct FileStamp {
    std::filesystem::file_time_type modified;
    uintmax_t size = 0;
    bool operator==(const FileStamp&) const = default;
  };
  std::optional<FileStamp> StampOf() const;
  void ReloadAndLog(std::string_view trigger);
  void Loop();

  ConfigWatcherOptions options_;
  BackendSet& backends_;
  std::mutex mutex_;  // serializes reloads
  std::optional<FileStamp> last_stamp_;  // guarded by mutex_
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> reloads_{0};
  std::atomic<int64_t> failures_{0};
  std::thread thread_;
};

}  // namespace tandem::api
