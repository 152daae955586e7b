#include "serving/model_manager.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>
#include <set>
#include <utility>

#include "model/manifest.h"

namespace tandem::serving {
namespace {

namespace fs = std::filesystem;

struct VersionOrder {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const { return VersionLess(a, b); }
};

using VersionMap = std::map<std::string, std::shared_ptr<const ServedModel>, VersionOrder>;

std::vector<std::string> VersionNames(const VersionMap& versions) {
  std::vector<std::string> names;
  for (const auto& [version, model] : versions) names.push_back(version);
  return names;
}

// Returns the version directories (positive integers holding a manifest) of
// `model_dir`, in VersionLess order.
std::vector<std::string> VersionDirectories(const fs::path& model_dir) {
  std::vector<std::string> versions;
  std::error_code error;
  for (const fs::directory_entry& entry : fs::directory_iterator(model_dir, error)) {
    const std::string name = entry.path().filename().string();
    if (IsVersionNumber(name) && fs::is_regular_file(entry.path() / model::kManifestFileName)) {
      versions.push_back(name);
    }
  }
  std::sort(versions.begin(), versions.end(), VersionLess);
  return versions;
}

// True for the policies a poll follows.
bool Follows(const ModelSource& source) {
  return source.kind == ModelSource::Kind::kRegistry &&
         (source.policy == VersionPolicy::kLatest || source.policy == VersionPolicy::kAlias);
}

// The version FindPackage resolves for a followed source: "latest" or "@ALIAS".
std::string FollowedVersion(const ModelSource& source) {
  return source.policy == VersionPolicy::kAlias ? "@" + source.alias : "latest";
}

// True when `dir` is `root` or below it; both must be canonical.
bool IsInside(const fs::path& dir, const fs::path& root) {
  auto [root_end, dir_at] = std::mismatch(root.begin(), root.end(), dir.begin(), dir.end());
  return root_end == root.end();
}

// True when `failures` lists a version of model `name`.
bool HasFailureFor(const std::vector<RepositoryEntry>& failures, std::string_view name) {
  return std::any_of(failures.begin(), failures.end(),
                     [&](const RepositoryEntry& failure) { return failure.name == name; });
}

}  // namespace

std::string_view ModelStateName(ModelState state) {
  switch (state) {
    case ModelState::kLoading:
      return "loading";
    case ModelState::kReady:
      return "ready";
    case ModelState::kFailed:
      return "failed";
  }
  return "failed";
}

// Mutable state of one model, touched only by the loader thread (and the
// constructor before it starts).
struct ModelManager::Slot {
  ModelSource source;
  bool from_repository = false;
  bool polling = false;  // kLatest or kAlias with a poll interval, not fixed by a repository load
  std::string name;      // known from the source, or from the first loaded manifest
  bool first_loads_done = false;
  std::string reason;  // why the last load failed
  VersionMap versions;
  std::string primary;                   // empty until a version serves
  std::string last_failed_poll_version;  // not retried until a newer version appears
};

// The published view of a slot, immutable once stored in a snapshot.
struct ModelManager::SlotView {
  ModelStatus status;
  VersionMap versions;
  std::shared_ptr<const ServedModel> primary;
};

struct ModelManager::Snapshot {
  std::vector<SlotView> slots;
  std::vector<RepositoryEntry> failures;
};

ModelManager::ModelManager(std::vector<ModelSource> sources, ModelManagerOptions options)
    : options_(std::move(options)) {
  for (ModelSource& source : sources) {
    auto slot = std::make_unique<Slot>();
    if (source.kind == ModelSource::Kind::kRegistry && source.versions.empty() &&
        source.policy != VersionPolicy::kAlias) {
      // A source built without ParseModelSource: derive the policy from `version`.
      if (source.version.starts_with('@')) {
        source.policy = VersionPolicy::kAlias;
        source.alias = source.version.substr(1);
      } else if (source.version == "latest") {
        source.policy = VersionPolicy::kLatest;
      } else {
        source.versions = {source.version};
      }
    }
    if (source.kind == ModelSource::Kind::kRegistry) {
      slot->name = source.name;
      slot->polling = Follows(source) && options_.poll_interval.count() > 0;
    }
    slot->source = std::move(source);
    slots_.push_back(std::move(slot));
  }
  Publish();
}

ModelManager::~ModelManager() {
  std::deque<Task> unstarted;
  {
    std::lock_guard lock(tasks_mutex_);
    stopping_ = true;
    if (!started_) unstarted.swap(tasks_);
  }
  tasks_changed_.notify_all();
  if (loader_.joinable()) loader_.join();
  for (Task& task : unstarted) task.cancel();
}

// ---------------------------------------------------------------------------
// Loader thread and its queue.

void ModelManager::StartLoading() {
  {
    std::lock_guard lock(tasks_mutex_);
    started_ = true;
    for (const std::unique_ptr<Slot>& slot : slots_) {
      Slot* target = slot.get();
      tasks_.push_back({.run = [this, target] { FirstLoads(*target); }, .cancel = [] {}});
    }
  }
  loader_ = std::thread([this] { RunLoader(); });
}

void ModelManager::Enqueue(Task task) {
  {
    std::lock_guard lock(tasks_mutex_);
    if (!stopping_) {
      tasks_.push_back(std::move(task));
      tasks_changed_.notify_all();
      return;
    }
  }
  task.cancel();
}

void ModelManager::RunLoader() {
  using Clock = std::chrono::steady_clock;
  const bool polls = options_.poll_interval.count() > 0;
  Clock::time_point next_poll = Clock::now() + options_.poll_interval;

  std::unique_lock lock(tasks_mutex_);
  while (!stopping_) {
    if (tasks_.empty()) {
      auto has_work = [this] { return stopping_ || !tasks_.empty(); };
      if (!polls) {
        tasks_changed_.wait(lock, has_work);
        continue;
      }
      if (tasks_changed_.wait_until(lock, next_poll, has_work)) continue;
      tasks_.push_back({.run = [this] { PollAll(); }, .cancel = [] {}});
      next_poll = Clock::now() + options_.poll_interval;
    }
    Task task = std::move(tasks_.front());
    tasks_.pop_front();
    busy_ = true;
    lock.unlock();
    task.run();
    lock.lock();
    busy_ = false;
    tasks_changed_.notify_all();
  }

  std::deque<Task> cancelled;
  cancelled.swap(tasks_);
  lock.unlock();
  for (Task& task : cancelled) task.cancel();
}

bool ModelManager::WaitUntilSettled(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(tasks_mutex_);
  return tasks_changed_.wait_for(lock, timeout, [this] { return tasks_.empty() && !busy_; });
}

void ModelManager::PollNow() {
  Enqueue({.run = [this] { PollAll(); }, .cancel = [] {}});
}

// ---------------------------------------------------------------------------
// Loads (loader thread only).

void ModelManager::FirstLoads(Slot& slot) {
  const ModelSource& source = slot.source;
  spdlog::info("model load started source=\"{}\"", source.Describe());
  if (source.kind == ModelSource::Kind::kDirectory) {
    (void)LoadInto(slot, std::string(kDirectoryVersion), source.dir, true);
  } else if (Follows(source)) {
    (void)LoadInto(slot, FollowedVersion(source), {}, true);
  } else {
    for (const std::string& version : source.versions) (void)LoadInto(slot, version, {}, false);
    if (!slot.versions.empty()) {
      // Pinned: the highest listed version that loaded serves unversioned requests.
      slot.primary = slot.versions.rbegin()->first;
      spdlog::info("model primary version set model={} version={}", slot.name, slot.primary);
    }
  }

  // Canary and shadow targets; a directory source's name is known only now.
  auto extra = options_.extra_versions.find(slot.name);
  if (extra != options_.extra_versions.end()) {
    for (const std::string& version : extra->second) {
      if (!slot.versions.contains(version)) (void)LoadInto(slot, version, {}, false);
    }
  }
  slot.first_loads_done = true;
  Publish();
}

Result<std::pair<fs::path, std::string>> ModelManager::FindPackage(const std::string& name,
                                                                   const std::string& version) {
  if (version.starts_with('@')) {
    // An alias lives in the registry only; the version it names may be under --model-root.
    if (options_.registry_url.empty()) {
      return InvalidArgument(fmt::format(
          "model {} alias {}: an alias needs a --registry URL to resolve it", name,
          version.substr(1)));
    }
    TANDEM_ASSIGN_OR_RETURN(std::string number,
                            ResolveRegistryAlias(options_.registry_url, name, version.substr(1),
                                                 options_.fetch_timeout));
    return FindPackage(name, number);
  }
  std::error_code error;
  const fs::path model_dir = options_.model_root.empty() ? fs::path() : options_.model_root / name;
  if (!model_dir.empty() && fs::is_directory(model_dir, error)) {
    if (version != "latest") {
      const fs::path dir = model_dir / version;
      if (!fs::is_directory(dir, error)) {
        return NotFound(
            fmt::format("model {} version {}: {} does not exist", name, version, dir.string()));
      }
      return std::pair{dir, version};
    }
    std::vector<std::string> versions = VersionDirectories(model_dir);
    if (versions.empty()) {
      return NotFound(
          fmt::format("model {}: {} has no version directory (a positive integer holding {})", name,
                      model_dir.string(), model::kManifestFileName));
    }
    return std::pair{model_dir / versions.back(), versions.back()};
  }
  if (options_.registry_url.empty()) {
    // With a model root the package is missing; without one the server has nowhere to look.
    const std::string message = fmt::format(
        "model {} version {}: not found under --model-root{} and no --registry URL to download "
        "it from",
        name, version,
        options_.model_root.empty() ? " (not set)" : " " + options_.model_root.string());
    return options_.model_root.empty() ? InvalidArgument(message) : NotFound(message);
  }
  TANDEM_ASSIGN_OR_RETURN(FetchedPackage fetched,
                          FetchRegistryPackage(options_.registry_url, name, version,
                                               options_.cache_dir, options_.fetch_timeout));
  return std::pair{fetched.dir, fetched.version};
}

Result<std::shared_ptr<const ServedModel>> ModelManager::LoadInto(Slot& slot,
                                                                  const std::string& version,
                                                                  const fs::path& dir,
                                                                  bool make_primary) {
  ServingMetrics* metrics = options_.model_options.metrics;
  std::string label = slot.name.empty() ? slot.source.Describe() : slot.name;
  std::string resolved = version;
  std::string result = "load_failed";
  bool package_found = !dir.empty();

  // Step 1: find and load the package; check that it is the slot's model.
  Result<std::shared_ptr<const ServedModel>> model =
      [&]() -> Result<std::shared_ptr<const ServedModel>> {
    fs::path package_dir = dir;
    if (package_dir.empty()) {
      TANDEM_ASSIGN_OR_RETURN(auto found, FindPackage(slot.name, version));
      package_dir = found.first;
      resolved = found.second;
      package_found = true;
    }
    TANDEM_ASSIGN_OR_RETURN(std::shared_ptr<const ServedModel> loaded,
                            ServedModel::Load(package_dir, resolved, options_.model_options));
    if (!slot.name.empty() && loaded->name() != slot.name) {
      return InvalidArgument(fmt::format("package {} holds model \"{}\", not \"{}\"",
                                         package_dir.string(), loaded->name(), slot.name));
    }
    label = loaded->name();
    if (slot.name.empty()) slot.name = label;  // so that a self-test failure names the model

    // Step 2: the self-tests decide whether this version may serve.
    result = "self_test_failed";
    Status tested = loaded->SelfTest();
    if (!tested) {
      if (loaded->metrics() != nullptr && !slot.versions.contains(resolved)) {
        loaded->metrics()->SetLoaded(false);
      }
      return std::unexpected(tested.error());
    }
    return loaded;
  }();

  // Step 3: a failure leaves the slot's versions untouched.
  if (!model) {
    const std::string reason = model.error().message();
    if (metrics != nullptr) metrics->CountModelLoad(label, result);
    // Index() lists a package that failed with its reason. A version that
    // does not exist is not listed.
    if (package_found) failures_[{label, resolved}] = reason;
    slot.reason = reason;
    if (!slot.primary.empty()) {
      spdlog::warn(
          "model load failed, previous version keeps serving model={} version={} "
          "serving_version={} result={} error=\"{}\"",
          label, resolved, slot.primary, result, reason);
    } else {
      spdlog::error("model load failed model={} version={} result={} error=\"{}\"", label, resolved,
                    result, reason);
    }
    Publish();
    return model;
  }

  // Step 4: publish the new version, then drop versions no longer retained.
  slot.name = (*model)->name();
  slot.versions[resolved] = *model;
  if (make_primary) slot.primary = resolved;
  slot.reason.clear();
  failures_.erase({slot.name, resolved});
  if (metrics != nullptr) metrics->CountModelLoad(slot.name, "ok");
  spdlog::info("model version loaded model={} version={} predictor={} primary={} source=\"{}\"",
               slot.name, resolved, (*model)->predictor_name(), slot.primary == resolved,
               slot.source.Describe());
  DropUnretainedVersions(slot);
  Publish();
  return model;
}

void ModelManager::DropUnretainedVersions(Slot& slot) {
  std::set<std::string, VersionOrder> retained = {slot.primary};
  if (slot.source.policy == VersionPolicy::kPinned && !slot.from_repository) {
    retained.insert(slot.source.versions.begin(), slot.source.versions.end());
  }
  auto extra = options_.extra_versions.find(slot.name);
  if (extra != options_.extra_versions.end())
    retained.insert(extra->second.begin(), extra->second.end());
  // Before the first loads finish, a pinned slot has no primary yet: keep all.
  if (slot.primary.empty()) return;

  for (auto it = slot.versions.begin(); it != slot.versions.end();) {
    if (retained.contains(it->first)) {
      ++it;
      continue;
    }
    spdlog::info(
        "model version unloaded model={} version={} reason=\"replaced by primary "
        "version {}\"",
        slot.name, it->first, slot.primary);
    if (it->second->metrics() != nullptr) it->second->metrics()->SetLoaded(false);
    it = slot.versions.erase(it);
  }
}

void ModelManager::PollAll() {
  for (const std::unique_ptr<Slot>& owned : slots_) {
    Slot& slot = *owned;
    if (!slot.polling || !slot.first_loads_done) continue;
    const bool alias = slot.source.policy == VersionPolicy::kAlias;
    Result<std::pair<fs::path, std::string>> found =
        FindPackage(slot.name, FollowedVersion(slot.source));
    if (!found) {
      spdlog::warn("model poll failed model={} error=\"{}\"", slot.name, found.error().message());
      continue;
    }
    const std::string& version = found->second;
    if (version == slot.primary) {
      // An alias moved back to the serving version: a later move may retry the failed one.
      if (alias) slot.last_failed_poll_version.clear();
      continue;
    }
    if (version == slot.last_failed_poll_version) continue;
    // "latest" only moves forward; an alias may move back (a rollback).
    if (!alias && !slot.primary.empty() && VersionLess(version, slot.primary)) continue;
    spdlog::info("model poll found a new version model={} version={} serving_version={} source=\"{}\"",
                 slot.name, version, slot.primary.empty() ? "none" : slot.primary,
                 slot.source.Describe());
    if (!LoadInto(slot, version, found->first, true)) slot.last_failed_poll_version = version;
  }
}

// ---------------------------------------------------------------------------
// Repository extension.

Result<std::shared_ptr<const ServedModel>> ModelManager::Load(const LoadRequest& request) {
  auto promise = std::make_shared<std::promise<Result<std::shared_ptr<const ServedModel>>>>();
  std::future<Result<std::shared_ptr<const ServedModel>>> future = promise->get_future();
  Enqueue({.run = [this, request, promise] { promise->set_value(DoRepositoryLoad(request)); },
           .cancel =
               [promise, name = request.name] {
                 promise->set_value(Unavailable(
                     fmt::format("model {} not loaded: the server is shutting down", name)));
               }});
  return future.get();
}

Status ModelManager::Unload(const std::string& name, const std::string& version) {
  auto promise = std::make_shared<std::promise<Status>>();
  std::future<Status> future = promise->get_future();
  Enqueue({.run = [this, name, version, promise] { promise->set_value(DoUnload(name, version)); },
           .cancel =
               [promise, name] {
                 promise->set_value(Unavailable(
                     fmt::format("model {} not unloaded: the server is shutting down", name)));
               }});
  return future.get();
}

Result<std::shared_ptr<const ServedModel>> ModelManager::DoRepositoryLoad(
    const LoadRequest& request) {
  // Step 1: check the arguments.
  if (!IsModelName(request.name)) {
    return InvalidArgument(fmt::format(
        "model name \"{}\" must be 1-63 letters, digits or inner hyphens", request.name));
  }
  if (!request.version.empty() && !IsVersionNumber(request.version)) {
    return InvalidArgument(
        fmt::format("parameters.version \"{}\" must be a positive integer", request.version));
  }
  Slot* slot = SlotNamed(request.name);

  // Step 2: a path must name a directory inside --model-root.
  fs::path dir;
  std::string version = request.version.empty() ? "latest" : request.version;
  if (request.version.empty() && request.path.empty() && slot != nullptr &&
      !slot->from_repository && slot->source.policy == VersionPolicy::kAlias) {
    version = FollowedVersion(slot->source);
  }
  if (!request.path.empty()) {
    if (options_.model_root.empty()) {
      return InvalidArgument(
          "parameters.path needs the server to run with --model-root DIR; paths are confined "
          "to that directory");
    }
    const fs::path relative(request.path);
    std::error_code error;
    const fs::path root = fs::weakly_canonical(options_.model_root, error);
    const fs::path target = fs::weakly_canonical(root / relative, error);
    if (relative.is_absolute() || error || !IsInside(target, root) || target == root) {
      return InvalidArgument(fmt::format(
          "parameters.path \"{}\" must be a relative path to a package directory inside "
          "--model-root {}",
          request.path, options_.model_root.string()));
    }
    if (!fs::is_directory(target, error)) {
      return NotFound(fmt::format("parameters.path \"{}\": {} is not a directory", request.path,
                                  target.string()));
    }
    dir = target;
    if (request.version.empty()) {
      // The next number after every loaded version and every version directory
      // of the model, so that the label names no other package.
      std::vector<std::string> used_versions =
          VersionDirectories(options_.model_root / request.name);
      if (slot != nullptr) {
        for (const auto& [loaded, model] : slot->versions) used_versions.push_back(loaded);
      }
      uint64_t next = 1;
      for (const std::string& number : used_versions) {
        if (IsVersionNumber(number)) next = std::max<uint64_t>(next, std::stoull(number) + 1);
      }
      version = std::to_string(next);
    }
  }

  // Step 3: load into the model's slot, creating one for a new model.
  bool created = false;
  if (slot == nullptr) {
    auto added = std::make_unique<Slot>();
    added->source = {.kind = ModelSource::Kind::kRegistry,
                     .name = request.name,
                     .version = version,
                     .policy = VersionPolicy::kSpecific};
    added->name = request.name;
    added->from_repository = true;
    added->first_loads_done = true;
    slot = added.get();
    slots_.push_back(std::move(added));
    created = true;
  }
  spdlog::info("repository load started model={} version={} path=\"{}\"", request.name, version,
               request.path);
  Result<std::shared_ptr<const ServedModel>> model = LoadInto(*slot, version, dir, true);
  if (!model) {
    if (created) {
      slots_.pop_back();
      Publish();
    }
    return model;
  }
  // Only a load naming neither version nor path leaves a kLatest or kAlias slot polling.
  slot->polling = request.version.empty() && request.path.empty() && Follows(slot->source) &&
                  !slot->from_repository && options_.poll_interval.count() > 0;
  slot->last_failed_poll_version.clear();
  return model;
}

Status ModelManager::DoUnload(const std::string& name, const std::string& version) {
  auto it = std::find_if(slots_.begin(), slots_.end(),
                         [&](const std::unique_ptr<Slot>& slot) { return slot->name == name; });
  if (it == slots_.end()) return NotFound(fmt::format("model \"{}\" is not loaded", name));
  Slot& slot = **it;

  if (version.empty()) {
    for (const auto& [loaded, model] : slot.versions) {
      if (model->metrics() != nullptr) model->metrics()->SetLoaded(false);
    }
    spdlog::info("model unloaded model={} versions=[{}]", name,
                 fmt::join(VersionNames(slot.versions), ","));
    std::erase_if(failures_, [&](const auto& failure) { return failure.first.first == name; });
    slots_.erase(it);
    Publish();
    return Ok();
  }

  auto loaded = slot.versions.find(version);
  if (loaded == slot.versions.end()) {
    return NotFound(fmt::format("model \"{}\" has no loaded version \"{}\"; loaded versions: {}",
                                name, version, fmt::join(VersionNames(slot.versions), ", ")));
  }
  if (version == slot.primary) {
    return FailedPrecondition(fmt::format(
        "version {} is the primary version of model \"{}\"; load another version first or "
        "unload the whole model",
        version, name));
  }
  if (loaded->second->metrics() != nullptr) loaded->second->metrics()->SetLoaded(false);
  slot.versions.erase(loaded);
  spdlog::info("model version unloaded model={} version={} reason=\"repository unload\"", name,
               version);
  Publish();
  return Ok();
}

ModelManager::Slot* ModelManager::SlotNamed(std::string_view name) {
  for (const std::unique_ptr<Slot>& slot : slots_) {
    if (slot->name == name) return slot.get();
  }
  return nullptr;
}

// ---------------------------------------------------------------------------
// Snapshot and readers.

void ModelManager::Publish() {
  auto snapshot = std::make_shared<Snapshot>();
  for (const std::unique_ptr<Slot>& slot : slots_) {
    SlotView view;
    view.status.source =
        slot->from_repository ? std::string("repository load") : slot->source.Describe();
    view.status.name = slot->name;
    view.status.version = slot->primary;
    view.status.versions = VersionNames(slot->versions);
    view.status.reason = slot->reason;
    view.versions = slot->versions;
    if (!slot->primary.empty()) {
      view.primary = slot->versions.at(slot->primary);
      view.status.state = ModelState::kReady;
    } else {
      view.status.state = slot->first_loads_done ? ModelState::kFailed : ModelState::kLoading;
    }
    snapshot->slots.push_back(std::move(view));
  }
  for (const auto& [key, reason] : failures_) {
    snapshot->failures.push_back(
        {.name = key.first, .version = key.second, .state = "UNAVAILABLE", .reason = reason});
  }
  snapshot_.store(std::move(snapshot));
}

Status ModelManager::NotReady(const ModelStatus& status) {
  const std::string label =
      status.name.empty() ? status.source : fmt::format("model \"{}\"", status.name);
  if (status.state == ModelState::kLoading) {
    return Unavailable(fmt::format("{} is still loading", label));
  }
  return Unavailable(fmt::format("{} failed to load: {}", label, status.reason));
}

Result<std::shared_ptr<const ServedModel>> ModelManager::Find(std::string_view name,
                                                              std::string_view version) const {
  std::shared_ptr<const Snapshot> current = snapshot();
  for (const SlotView& slot : current->slots) {
    if (slot.status.name != name) continue;
    if (version.empty()) {
      if (slot.primary) return slot.primary;
      return std::unexpected(NotReady(slot.status).error());
    }
    auto found = slot.versions.find(version);
    if (found != slot.versions.end()) return found->second;
    if (slot.status.state == ModelState::kLoading) {
      return std::unexpected(NotReady(slot.status).error());
    }
    return NotFound(fmt::format(
        "model \"{}\" has no loaded version \"{}\"; loaded versions: {}", name, version,
        slot.status.versions.empty() ? std::string("none")
                                     : fmt::format("{}", fmt::join(slot.status.versions, ", "))));
  }

  // Not served: tell a model that may still appear from an unknown name.
  std::string served;
  for (const SlotView& slot : current->slots) {
    if (slot.status.name.empty() && slot.status.state == ModelState::kLoading) {
      return std::unexpected(NotReady(slot.status).error());
    }
    if (!slot.status.name.empty())
      served.append(served.empty() ? "" : ", ").append(slot.status.name);
  }
  return NotFound(fmt::format("model \"{}\" not found; this server serves: {}", name,
                              served.empty() ? "no models" : served));
}

Result<std::shared_ptr<const ServedModel>> ModelManager::Default() const {
  std::shared_ptr<const Snapshot> current = snapshot();
  if (current->slots.empty()) return Unavailable("no model is configured");
  const SlotView& first = current->slots.front();
  if (first.primary) return first.primary;
  return std::unexpected(NotReady(first.status).error());
}

Status ModelManager::CheckReady() const {
  std::shared_ptr<const Snapshot> current = snapshot();
  if (current->slots.empty()) return Unavailable("no model is configured");
  for (const SlotView& slot : current->slots) {
    if (slot.status.state != ModelState::kReady) return NotReady(slot.status);
  }
  return Ok();
}

std::vector<ModelStatus> ModelManager::Statuses() const {
  std::vector<ModelStatus> statuses;
  for (const SlotView& slot : snapshot()->slots) statuses.push_back(slot.status);
  return statuses;
}

std::vector<RepositoryEntry> ModelManager::Index() const {
  std::shared_ptr<const Snapshot> current = snapshot();
  std::vector<RepositoryEntry> entries;
  std::set<std::pair<std::string, std::string>> listed;
  for (const SlotView& slot : current->slots) {
    const std::string& name = slot.status.name.empty() ? slot.status.source : slot.status.name;
    if (slot.versions.empty() && slot.status.state == ModelState::kLoading) {
      entries.push_back({.name = name, .state = "LOADING", .reason = "first load running"});
    } else if (slot.versions.empty() && slot.status.state == ModelState::kFailed &&
               !HasFailureFor(current->failures, name)) {
      // A configured model whose package was never found: listed without a version.
      entries.push_back({.name = name, .state = "UNAVAILABLE", .reason = slot.status.reason});
    }
    for (const auto& [version, model] : slot.versions) {
      entries.push_back({.name = slot.status.name, .version = version, .state = "READY"});
      listed.insert({slot.status.name, version});
    }
  }
  for (const RepositoryEntry& failure : current->failures) {
    if (listed.insert({failure.name, failure.version}).second) entries.push_back(failure);
  }

  // Version directories under --model-root that nothing has loaded.
  std::error_code error;
  if (!options_.model_root.empty()) {
    for (const fs::directory_entry& model_dir :
         fs::directory_iterator(options_.model_root, error)) {
      const std::string name = model_dir.path().filename().string();
      if (!IsModelName(name) || !model_dir.is_directory(error)) continue;
      for (const std::string& version : VersionDirectories(model_dir.path())) {
        if (listed.insert({name, version}).second) {
          entries.push_back(
              {.name = name, .version = version, .state = "UNAVAILABLE", .reason = "not loaded"});
        }
      }
    }
  }
  return entries;
}

}  // namespace tandem::serving
