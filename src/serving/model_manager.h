// The models one inference server serves, with several versions each, loaded
// and swapped in the background.
//
// Each configured source (a package directory or a named model) and each
// model added through the repository API gets one slot. A slot holds the
// loaded versions of one model and its primary version, the one that serves
// requests naming no version. Its state:
//   kLoading  nothing loaded yet, first loads still running
//   kReady    a primary version serves
//   kFailed   the first loads failed; `reason` says why
// Every load, on one loader thread, runs: find the package (directory,
// --model-root, or registry download), load it, run its self-tests, then
// publish a new snapshot with one atomic store. A failed load or self-test
// leaves the slot's versions as they were (logged at WARN when a version
// keeps serving, counted in tandem_model_loads_total).
//
// Versions kept loaded per slot: the primary, a pinned policy's list, and
// the extra versions named in the options (canary and shadow targets). Any
// other version is dropped when a snapshot no longer holds it; requests that
// still hold it finish on it.
//
// Version policies (ModelSource::policy): kLatest loads the highest version
// and, with a poll interval, checks for a newer one every interval and makes
// it primary once it passes its self-tests; kSpecific loads one version;
// kPinned loads each listed version and makes the highest primary; kAlias
// loads the version a registry alias points at and, with a poll interval,
// resolves the alias every interval and swaps to the version it names, also
// to a lower one (a rollback), once that version passes its self-tests. A
// version that failed is not retried until the alias or "latest" names
// another. A repository load makes the loaded version primary and stops
// polling for that model, except a load naming neither version nor path,
// which loads the latest (kLatest) or aliased (kAlias) version and resumes
// polling.
//
// Thread safety: every public method may be called from any thread. The
// request path (Find, Default) takes no lock: it reads the current snapshot
// with one atomic shared_ptr load. Load and Unload block their caller until
// the loader thread has done the work, so requests never wait for a load.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/status.h"
#include "serving/metrics.h"
#include "serving/model_source.h"
#include "serving/served_model.h"

namespace tandem::serving {

enum class ModelState { kLoading, kReady, kFailed };

// "loading", "ready", "failed".
std::string_view ModelStateName(ModelState state);

struct ModelStatus {
  ModelState state = ModelState::kLoading;
  std::string source;                 // ModelSource::Describe(), or "repository load"
  std::string name;                   // empty until known (a directory's manifest not read yet)
  std::string version;                // the primary version; empty until one is loaded
  std::vector<std::string> versions;  // every loaded version, in VersionLess order
  std::string reason;                 // why the last load failed; empty when it did not
};

// One entry of POST /v2/repository/index.
struct RepositoryEntry {
  std::string name;
  std::string version;  // empty for a model with no version known
  std::string state;    // "READY", "LOADING" or "UNAVAILABLE" (OIP's words)
  std::string reason;   // why it is not ready; empty when READY
};

struct ModelManagerOptions {
  std::string registry_url;         // for named models not under model_root
  std::filesystem::path cache_dir;  // where registry packages are unpacked
  // Root of a model repository laid out as ROOT/NAME/VERSION/ (package
  // directories, VERSION a positive integer); empty for none. Named models
  // found here are not fetched from the registry, and repository loads by
  // path must stay inside it.
  std::filesystem::path model_root;
  std::chrono::milliseconds fetch_timeout{std::chrono::minutes(5)};
  // How often kLatest and kAlias slots check for another version; zero for never.
  std::chrono::milliseconds poll_interval{0};
  ServedModelOptions model_options;
  // Versions to load and keep besides each policy's own, by model name
  // (canary and shadow targets). They never become primary by themselves.
  std::map<std::string, std::vector<std::string>> extra_versions;
};

// Arguments of a repository load (POST /v2/repository/models/{name}/load).
struct LoadRequest {
  std::string name;
  // A version number, or empty: with `path`, one more than the highest
  // version of this model loaded so far (1 for a new model); without, the
  // latest version from --model-root or the registry.
  std::string version;
  // A package directory relative to model_root; empty to find the package by
  // name and version.
  std::string path;
};

class ModelManager {
 public:
  // `options.model_options.metrics`, when set, must outlive the manager.
  ModelManager(std::vector<ModelSource> sources, ModelManagerOptions options);
  ~ModelManager();  // stops polling, cancels queued work, waits for the loader thread
  ModelManager(const ModelManager&) = delete;
  ModelManager& operator=(const ModelManager&) = delete;

  // Starts the loader thread with the first loads of every source and
  // returns at once. REQUIRES: called at most once.
  void StartLoading();

  // Waits until no load is queued or running; false when `timeout` passes first.
  bool WaitUntilSettled(std::chrono::milliseconds timeout) const;

  // Returns version `version` of the model named `name`, or its primary
  // version when `version` is empty.
  // Errors: kUnavailable, with the reason, when that model has no primary
  // version (still loading or failed), and also when a slot whose name is
  // not known yet is still loading, because it may turn out to be that model.
  // kNotFound for an unknown model (naming the served ones) or a version not
  // loaded (naming the loaded ones).
  Result<std::shared_ptr<const ServedModel>> Find(std::string_view name,
                                                  std::string_view version = {}) const;

  // Returns the first slot's primary version (the one POST /invocations serves).
  // Errors: kUnavailable while it is loading or when it failed, with the reason.
  Result<std::shared_ptr<const ServedModel>> Default() const;

  // Ok when there is at least one slot and every slot is kReady; else
  // kUnavailable naming the first slot that is not, and why.
  Status CheckReady() const;

  // Returns every slot's status, in configuration order, repository-loaded
  // models last.
  std::vector<ModelStatus> Statuses() const;

  // Loads a version as a repository load (see the file comment) and returns
  // it once it serves as primary. Blocks until the loader thread has run it.
  // Errors: kInvalidArgument for an invalid name or version, or a path that
  // is absolute, leaves model_root or is given without model_root;
  // kNotFound for a package that does not exist; the load's and self-tests'
  // errors; kUnavailable when the manager is shutting down.
  Result<std::shared_ptr<const ServedModel>> Load(const LoadRequest& request);

  // Unloads version `version` of model `name`, or the whole model when
  // `version` is empty (readiness then no longer waits for it). Blocks until
  // the loader thread has done it.
  // Errors: kNotFound for an unknown model or version; kFailedPrecondition
  // for the primary version (load another one first, or unload the model).
  Status Unload(const std::string& name, const std::string& version);

  // Returns the repository index: each loaded version (READY), each slot
  // still loading (LOADING), each failed version and each version directory
  // under model_root that is not loaded (UNAVAILABLE).
  std::vector<RepositoryEntry> Index() const;

  // Queues one poll of every kLatest and kAlias slot now, as the poll interval would.
  void PollNow();

 private:
  struct Slot;
  struct SlotView;
  struct Snapshot;
  struct Task {
    std::function<void()> run;
    std::function<void()> cancel;  // called instead of `run` at shutdown
  };

  // Loader thread.
  void Enqueue(Task task);
  void RunLoader();
  void FirstLoads(Slot& slot);
  void PollAll();
  // Loads `version` ("latest" allowed) into `slot`; on success it becomes
  // primary when `make_primary`. Returns the loaded model or the failure.
  Result<std::shared_ptr<const ServedModel>> LoadInto(Slot& slot, const std::string& version,
                                                      const std::filesystem::path& dir,
                                                      bool make_primary);
  Result<std::pair<std::filesystem::path, std::string>> FindPackage(const std::string& name,
                                                                    const std::string& version);
  Result<std::shared_ptr<const ServedModel>> DoRepositoryLoad(const LoadRequest& request);
  Status DoUnload(const std::string& name, const std::string& version);
  void DropUnretainedVersions(Slot& slot);
  void Publish();
  Slot* SlotNamed(std::string_view name);

  static Status NotReady(const ModelStatus& status);
  // NOTE: libstdc++ 12 guards std::atomic<std::shared_ptr> with a lock bit in
  // the pointer word, so every request's load writes one cache line that all
  // I/O threads share, and then the snapshot's and model's reference counts.
  // A per-thread cached snapshot checked against a publish counter would
  // avoid both, but it must not keep an unloaded version alive on idle threads.
  std::shared_ptr<const Snapshot> snapshot() const { return snapshot_.load(); }

  ModelManagerOptions options_;
  std::atomic<std::shared_ptr<const Snapshot>> snapshot_;

  // Owned by the loader thread after StartLoading (and by the constructor before).
  std::vector<std::unique_ptr<Slot>> slots_;
  std::map<std::pair<std::string, std::string>, std::string> failures_;  // (name, version) -> why

  mutable std::mutex tasks_mutex_;
  mutable std::condition_variable tasks_changed_;
  std::deque<Task> tasks_;  // guarded by tasks_mutex_
  bool busy_ = false;       // a task runs; guarded by tasks_mutex_
  bool stopping_ = false;   // guarded by tasks_mutex_
  bool started_ = false;    // guarded by tasks_mutex_
  std::thread loader_;
};

}  // namespace tandem::serving
