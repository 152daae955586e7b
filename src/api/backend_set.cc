#include "api/backend_set.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace tandem::api {

BackendSet::BackendSet(BackendFactory factory) : factory_(std::move(factory)) {}

BackendSet::~BackendSet() = default;

std::unique_ptr<BackendSet> BackendSet::ForSingleBackend(std::string name,
                                                         backends::Backend* backend) {
  auto set = std::make_unique<BackendSet>(nullptr);
  // The caller owns the backend, so the shared_ptr must not delete it.
  set->current_.emplace(name, std::shared_ptr<backends::Backend>(backend, [](backends::Backend*) {}));
  set->config_ = SingleBackendConfig(std::move(name), std::string(backend->name()));
  return set;
}

Status BackendSet::Apply(RoutingConfig config) {
  if (!factory_) {
    return FailedPrecondition("this control plane has one fixed backend; it cannot be reconfigured");
  }
  RoutingConfig old_config = this->config();

  // Step 1: build every new or changed backend outside the lock, so routing
  // goes on while a backend starts.
  std::map<std::string, std::shared_ptr<backends::Backend>> built;
  for (const auto& [name, backend_config] : config.backends) {
    auto old = old_config.backends.find(name);
    if (old != old_config.backends.end() && old->second == backend_config && Find(name)) continue;
    Result<std::shared_ptr<backends::Backend>> backend = factory_(name, backend_config);
    if (!backend) return std::unexpected(backend.error().WithContext("Backends." + name));
    built.emplace(name, std::move(*backend));
  }

  // Step 2: swap, retiring the instances no longer configured as they were.
  std::lock_guard lock(mutex_);
  for (auto it = current_.begin(); it != current_.end();) {
    bool kept = config.backends.contains(it->first) && !built.contains(it->first);
    if (kept) {
      ++it;
      continue;
    }
    spdlog::info("backend retired backend={} reason={}", it->first,
                 config.backends.contains(it->first) ? "configuration changed"
                                                     : "removed from the configuration");
    retired_.emplace(it->first, std::move(it->second));
    it = current_.erase(it);
  }
  for (auto& [name, backend] : built) {
    spdlog::info("backend configured backend={} type={}", name, config.backends.at(name).type);
    current_[name] = std::move(backend);
  }
  config_ = std::move(config);
  return Ok();
}

Result<RouteChoice> BackendSet::Route(std::string_view repository,
                                      const std::optional<std::string>& requested) const {
  std::lock_guard lock(mutex_);
  return ChooseBackend(config_, repository, requested);
}

std::shared_ptr<backends::Backend> BackendSet::Find(std::string_view name) const {
  std::lock_guard lock(mutex_);
  std::string key(name);
  auto current = current_.find(key);
  if (current != current_.end()) return current->second;
  auto [first, last] = retired_.equal_range(key);
  if (first == last) return nullptr;
  return std::prev(last)->second;
}

RoutingConfig BackendSet::config() const {
  std::lock_guard lock(mutex_);
  return config_;
}

size_t BackendSet::retired_count() const {
  std::lock_guard lock(mutex_);
  return retired_.size();
}

}  // namespace tandem::api
