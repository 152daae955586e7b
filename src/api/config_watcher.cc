#include "api/config_watcher.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <ctime>

namespace tandem::api {

void BlockReloadSignal() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
}

ConfigWatcher::ConfigWatcher(ConfigWatcherOptions options, BackendSet& backends)
    : options_(std::move(options)), backends_(backends) {
  last_stamp_ = StampOf();
}

ConfigWatcher::~ConfigWatcher() { Stop(); }

std::optional<ConfigWatcher::FileStamp> ConfigWatcher::StampOf() const {
  std::error_code error;
  auto modified = std::filesystem::last_write_time(options_.path, error);
  if (error) return std::nullopt;
  uintmax_t size = std::filesystem::file_size(options_.path, error);
  if (error) return std::nullopt;
  return FileStamp{.modified = modified, .size = size};
}

Status ConfigWatcher::Reload() {
  std::lock_guard lock(mutex_);
  last_stamp_ = StampOf();
  Result<RoutingConfig> config = LoadRoutingConfig(options_.path, options_.validate_options);
  if (!config) return std::unexpected(config.error());
  return backends_.Apply(std::move(*config));
}

void ConfigWatcher::ReloadAndLog(std::string_view trigger) {
  Status reloaded = Reload();
  if (reloaded) {
    ++reloads_;
    spdlog::info("routing configuration reloaded path={} trigger={}", options_.path.string(),
                 trigger);
    return;
  }
  ++failures_;
  spdlog::error("routing configuration not reloaded, the previous one stays path={} trigger={} "
                "error={}",
                options_.path.string(), trigger, reloaded.error().message());
}

bool ConfigWatcher::ReloadIfChanged() {
  {
    std::lock_guard lock(mutex_);
    if (StampOf() == last_stamp_) return false;
  }
  ReloadAndLog("file changed");
  return true;
}

void ConfigWatcher::Start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { Loop(); });
}

void ConfigWatcher::Stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

void ConfigWatcher::Loop() {
  spdlog::info("routing configuration watched path={} poll_ms={} sighup={}",
               options_.path.string(), options_.poll_interval.count(),
               options_.reload_on_sighup);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGHUP);
  // The wait is at most one poll interval, so Stop returns within one interval.
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(options_.poll_interval);
  timespec timeout{.tv_sec = static_cast<time_t>(seconds.count()),
                   .tv_nsec = static_cast<long>(
                       std::chrono::nanoseconds(options_.poll_interval - seconds).count())};
  while (!stopping_) {
    if (options_.reload_on_sighup) {
      int signal = sigtimedwait(&signals, nullptr, &timeout);
      if (stopping_) break;
      if (signal == SIGHUP) {
        ReloadAndLog("SIGHUP");
        continue;
      }
    } else {
      std::this_thread::sleep_for(options_.poll_interval);
    }
    ReloadIfChanged();
  }
}

}  // namespace tandem::api
