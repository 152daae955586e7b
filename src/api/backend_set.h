// The control plane's live routing: the current RoutingConfig and one
// backends::Backend instance per configured backend name, replaced as a whole
// when the configuration is reloaded.
//
// Apply builds the instances of new and changed backends before it changes
// anything, so a configuration whose backend cannot be built leaves the old
// one in force. Instances of removed or changed backends are kept alive (as
// "retired") until the BackendSet is destroyed, because jobs launched on them
// may still run. Their exit callbacks keep firing, and Find still returns
// them by name for the reconciler and for stops.
// NOTE: retired instances are never released while the process runs; that
// would take counting each instance's running jobs.
//
// Threads: every method may be called from any thread at once.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/routing_config.h"
#include "backends/backend.h"

namespace tandem::api {

// Builds the backend instance of one configured backend.
// Errors: those of the backend's options or construction, naming `name`.
using BackendFactory = std::function<Result<std::shared_ptr<backends::Backend>>(
    const std::string& name, const BackendConfig& config)>;

class BackendSet {
 public:
  explicit BackendSet(BackendFactory factory);
  ~BackendSet();
  BackendSet(const BackendSet&) = delete;
  BackendSet& operator=(const BackendSet&) = delete;

  // Returns a set over one existing backend that the caller owns and keeps
  // alive: named `name`, the default route, nothing else. Apply on it fails.
  static std::unique_ptr<BackendSet> ForSingleBackend(std::string name,
                                                      backends::Backend* backend);

  // Makes `config` the current configuration. Backends whose name and
  // BackendConfig are unchanged keep their instance; the others are built
  // first and, if any build fails, nothing changes.
  // Errors: those of the factory (the configuration stays as it was).
  Status Apply(RoutingConfig config);

  // Chooses the backend for a new job (ChooseBackend over the current
  // configuration). Errors: as ChooseBackend.
  Result<RouteChoice> Route(std::string_view repository,
                            const std::optional<std::string>& requested) const;

  // Returns the instance named `name`: the configured one, else the newest
  // retired one with that name, else nullptr.
  std::shared_ptr<backends::Backend> Find(std::string_view name) const;

  // Returns a copy of the current configuration.
  RoutingConfig config() const;

  // Returns how many instances are retired (kept for jobs still running).
  size_t retired_count() const;

 private:
  BackendFactory factory_;
  mutable std::mutex mutex_;
  RoutingConfig config_;                                              // guarded by mutex_
  std::map<std::string, std::shared_ptr<backends::Backend>> current_;  // guarded by mutex_
  // Retired instances by name, oldest first; guarded by mutex_.
  std::multimap<std::string, std::shared_ptr<backends::Backend>> retired_;
};

}  // namespace tandem::api
