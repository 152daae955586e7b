#include "serving/model_manager.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <utility>

namespace tandem::serving {

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

ModelManager::ModelManager(std::vector<ModelSource> sources, ModelManagerOptions options)
    : options_(std::move(options)) {
  for (ModelSource& source : sources) {
    auto slot = std::make_unique<Slot>();
    ModelStatus status;
    status.source = source.Describe();
    if (source.kind == ModelSource::Kind::kRegistry) status.name = source.name;
    slot->source = std::move(source);
    slot->status.store(std::make_shared<const ModelStatus>(std::move(status)));
    slots_.push_back(std::move(slot));
  }
  pending_ = slots_.size();
}

ModelManager::~ModelManager() {
  if (loader_.joinable()) loader_.join();
}

void ModelManager::StartLoading() {
  loader_ = std::thread([this] { LoadAll(); });
}

void ModelManager::LoadAll() {
  for (const std::unique_ptr<Slot>& slot : slots_) {
    spdlog::info("model load started source=\"{}\"", slot->source.Describe());
    Result<std::shared_ptr<const ServedModel>> model = LoadSource(*slot);
    ModelStatus status = *slot->status.load();
    if (model) {
      status.state = ModelState::kReady;
      status.name = (*model)->name();
      status.version = (*model)->version();
      spdlog::info("model ready model={} version={} predictor={} source=\"{}\"", status.name,
                   status.version, (*model)->predictor_name(), status.source);
      Publish(*slot, std::move(status), *model);
    } else {
      status.state = ModelState::kFailed;
      status.reason = model.error().message();
      spdlog::error("model load failed source=\"{}\" error=\"{}\"", status.source, status.reason);
      Publish(*slot, std::move(status), nullptr);
    }
  }
}

Result<std::shared_ptr<const ServedModel>> ModelManager::LoadSource(Slot& slot) {
  const ModelSource& source = slot.source;

  // Step 1: find the package directory, downloading it when it is in the registry.
  std::filesystem::path dir = source.dir;
  std::string version(kDirectoryVersion);
  if (source.kind == ModelSource::Kind::kRegistry) {
    if (options_.registry_url.empty()) {
      return InvalidArgument(fmt::format("{} needs --registry URL", source.Describe()));
    }
    TANDEM_ASSIGN_OR_RETURN(FetchedPackage fetched,
                            FetchRegistryPackage(options_.registry_url, source.name, source.version,
                                                 options_.cache_dir, options_.fetch_timeout));
    dir = fetched.dir;
    version = fetched.version;
  }

  // Step 2: load manifest, pipeline and predictor; record the name at once so
  // that a self-test failure is reported under the model's name.
  TANDEM_ASSIGN_OR_RETURN(std::shared_ptr<const ServedModel> model,
                          ServedModel::Load(dir, version, options_.model_options));
  ModelStatus named = *slot.status.load();
  named.name = model->name();
  named.version = model->version();
  slot.status.store(std::make_shared<const ModelStatus>(std::move(named)));

  // Step 3: self-tests decide whether the model may serve.
  TANDEM_RETURN_IF_ERROR(model->SelfTest());
  return model;
}

void ModelManager::Publish(Slot& slot, ModelStatus status,
                           std::shared_ptr<const ServedModel> model) {
  // The model goes first, so a reader that sees kReady also finds the model.
  slot.model.store(std::move(model));
  slot.status.store(std::make_shared<const ModelStatus>(std::move(status)));
  std::lock_guard lock(settle_mutex_);
  --pending_;
  settled_.notify_all();
}

bool ModelManager::WaitUntilSettled(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(settle_mutex_);
  return settled_.wait_for(lock, timeout, [this] { return pending_ == 0; });
}

Status ModelManager::NotReady(const ModelStatus& status) {
  const std::string label =
      status.name.empty() ? status.source : fmt::format("model \"{}\"", status.name);
  if (status.state == ModelState::kLoading) {
    return Unavailable(fmt::format("{} is still loading", label));
  }
  return Unavailable(fmt::format("{} failed to load: {}", label, status.reason));
}

Result<std::shared_ptr<const ServedModel>> ModelManager::Find(std::string_view name) const {
  for (const std::unique_ptr<Slot>& slot : slots_) {
    std::shared_ptr<const ServedModel> model = slot->model.load();
    if (model && model->name() == name) return model;
  }

  // Not served: tell a model that failed or may still appear from an unknown name.
  std::string served;
  for (const std::unique_ptr<Slot>& slot : slots_) {
    std::shared_ptr<const ModelStatus> status = slot->status.load();
    if (status->name == name || (status->name.empty() && status->state == ModelState::kLoading)) {
      return std::unexpected(NotReady(*status).error());
    }
    if (!status->name.empty()) served.append(served.empty() ? "" : ", ").append(status->name);
  }
  return NotFound(fmt::format("model \"{}\" not found; this server serves: {}", name,
                              served.empty() ? "no models" : served));
}

Result<std::shared_ptr<const ServedModel>> ModelManager::Default() const {
  if (slots_.empty()) return Unavailable("no model is configured");
  std::shared_ptr<const ServedModel> model = slots_.front()->model.load();
  if (model) return model;
  return std::unexpected(NotReady(*slots_.front()->status.load()).error());
}

Status ModelManager::CheckReady() const {
  if (slots_.empty()) return Unavailable("no model is configured");
  for (const std::unique_ptr<Slot>& slot : slots_) {
    std::shared_ptr<const ModelStatus> status = slot->status.load();
    if (status->state != ModelState::kReady) return NotReady(*status);
  }
  return Ok();
}

std::vector<ModelStatus> ModelManager::Statuses() const {
  std::vector<ModelStatus> statuses;
  statuses.reserve(slots_.size());
  for (const std::unique_ptr<Slot>& slot : slots_) statuses.push_back(*slot->status.load());
  return statuses;
}

}  // namespace tandem::serving
