// The set of models one inference server serves, loaded in the background.
//
// Each configured source (a package directory or a registry model) gets one
// slot. Its state moves kLoading -> kReady or kLoading -> kFailed, once, on
// the loader thread; a model whose self-tests fail ends kFailed with the
// reason and is never served. The set of slots is fixed at construction.
//
// Thread safety: every const method may be called from any number of threads
// at once, concurrently with loading. The request path (Find, Default) takes
// no lock: it reads each slot's current model with one atomic shared_ptr load.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/status.h"
#include "serving/model_source.h"
#include "serving/served_model.h"

namespace tandem::serving {

enum class ModelState { kLoading, kReady, kFailed };

// "loading", "ready", "failed".
std::string_view ModelStateName(ModelState state);

struct ModelStatus {
  ModelState state = ModelState::kLoading;
  std::string source;   // ModelSource::Describe()
  std::string name;     // empty until known (a directory's manifest not read yet)
  std::string version;  // empty until known
  std::string reason;   // why the load failed; empty unless kFailed
};

struct ModelManagerOptions {
  std::string registry_url;         // required for registry sources
  std::filesystem::path cache_dir;  // where registry packages are unpacked
  std::chrono::milliseconds fetch_timeout{std::chrono::minutes(5)};
  ServedModelOptions model_options;
};

class ModelManager {
 public:
  ModelManager(std::vector<ModelSource> sources, ModelManagerOptions options);
  ~ModelManager();  // waits for the loader thread
  ModelManager(const ModelManager&) = delete;
  ModelManager& operator=(const ModelManager&) = delete;

  // Starts loading every source, one after another, on a background thread,
  // and returns at once. REQUIRES: called at most once.
  void StartLoading();

  // Waits until no slot is kLoading; false when `timeout` passes first.
  bool WaitUntilSettled(std::chrono::milliseconds timeout) const;

  // Returns the ready model named `name`.
  // Errors: kUnavailable, with the reason, when a slot with that name failed.
  // kUnavailable also when a slot whose name is not known yet is still
  // loading, because it may turn out to be that model. kNotFound otherwise.
  Result<std::shared_ptr<const ServedModel>> Find(std::string_view name) const;

  // Returns the first slot's model (the one POST /invocations serves).
  // Errors: kUnavailable while it is loading or when it failed, with the reason.
  Result<std::shared_ptr<const ServedModel>> Default() const;

  // Ok when there is at least one slot and every slot is kReady; else
  // kUnavailable naming the first slot that is not, and why.
  Status CheckReady() const;

  // Returns every slot's status, in configuration order.
  std::vector<ModelStatus> Statuses() const;

 private:
  struct Slot {
    ModelSource source;
    std::atomic<std::shared_ptr<const ServedModel>> model;
    std::atomic<std::shared_ptr<const ModelStatus>> status;
  };

  void LoadAll();
  // Loads one slot's source; returns the loaded model or the reason it failed.
  Result<std::shared_ptr<const ServedModel>> LoadSource(Slot& slot);
  void Publish(Slot& slot, ModelStatus status, std::shared_ptr<const ServedModel> model);
  static Status NotReady(const ModelStatus& status);

  ModelManagerOptions options_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::thread loader_;

  // Only for WaitUntilSettled; the request path never touches them.
  mutable std::mutex settle_mutex_;
  mutable std::condition_variable settled_;
  size_t pending_ = 0;  // slots still loading; guarded by settle_mutex_
};

}  // namespace tandem::serving
