#include "api/control_plane.h"

#include <spdlog/spdlog.h>

#include "api/admission_controller.h"
#include "api/api_context.h"
#include "api/job_lifecycle.h"
#include "api/warm_pool.h"
#include "common/file_util.h"

namespace tandem::api {

struct ControlPlane::State {
  ApiContext context;
  std::unique_ptr<WarmPool> warm_pool;
  // Declared after `context`, so it is destroyed (its thread stopped) first.
  std::unique_ptr<AdmissionController> admission;
};

ControlPlane::ControlPlane(ControlPlaneOptions options, store::Store& store,
                           registry::ArtifactStore& artifacts, const Clock& clock) {
  std::string admin_token = options.admin_token;
  // Built in place because ApiContext holds a mutex and references.
  state_.reset(new State{ApiContext{
      .options = std::move(options),
      .store = store,
      .artifacts = artifacts,
      .clock = clock,
      .auth = Authenticator(std::move(admin_token)),
  }});
  state_->admission = std::make_unique<AdmissionController>(
      state_->context, AdmissionOptions{.limits = state_->context.options.admission_limits});
  state_->context.admission = state_->admission.get();
  ApiContext* context = &state_->context;
  state_->warm_pool = std::make_unique<WarmPool>(
      store, [context](std::string_view name) { return FindBackend(*context, name); }, clock,
      context->jobs_dir());
  state_->context.warm_pool = state_->warm_pool.get();
  // The logs route confines paths to the jobs directory, which must exist.
  Status created = CreateDirectories(state_->context.jobs_dir());
  if (!created) {
    spdlog::error("cannot create the jobs directory error={}", created.error().message());
  }
}

ControlPlane::~ControlPlane() = default;

void ControlPlane::SetBackend(backends::Backend* backend) {
  ApiContext& context = state_->context;
  context.owned_backends = BackendSet::ForSingleBackend(std::string(backend->name()), backend);
  context.backends = context.owned_backends.get();
}

void ControlPlane::SetBackends(BackendSet* backends) { state_->context.backends = backends; }

void ControlPlane::SetApiUrl(std::string url) { state_->context.SetApiUrl(std::move(url)); }

void ControlPlane::AddRoutes(http::Router& router) {
  ApiContext& context = state_->context;
  AddJobRoutes(router, context);
  AddEventRoutes(router, context);
  AddModelRoutes(router, context);
  AddScheduleRoutes(router, context);
  router.Add("GET", "/api/v1/health",
             [](http::Request&) { return http::Response::Json(200, {{"Status", "ok"}}); });
}

backends::ExitCallback ControlPlane::ExitCallback() {
  return [this](const std::string& job_id, const backends::Observation& observation) {
    OnBackendExit(job_id, observation);
  };
}

void ControlPlane::OnBackendExit(const std::string& job_id,
                                 const backends::Observation& observation) {
  spdlog::info("job process ended job={} state={} reason={}", job_id,
               backends::Name(observation.state), observation.reason);
  Status recorded = RecordProcessExit(state_->context, job_id, observation);
  if (!recorded) {
    spdlog::error("cannot record the end of a job's process job={} error={}", job_id,
                  recorded.error().message());
  }
  state_->warm_pool->OnJobEnded(job_id);
}

Status ControlPlane::StartWarmPool(std::chrono::milliseconds sweep_interval) {
  TANDEM_RETURN_IF_ERROR_CTX(state_->warm_pool->RecoverAtStartup(), "recover the warm pool");
  state_->warm_pool->StartSweeper(sweep_interval);
  return Ok();
}

int ControlPlane::SweepWarmPool() { return state_->warm_pool->Sweep(); }

void ControlPlane::TerminateWarmPool() { state_->warm_pool->TerminateAll(); }

Result<int> ControlPlane::ReconcileAtStartup() {
  return ReconcileNonTerminalJobs(state_->context);
}

Result<int> ControlPlane::AdmitWaitingJobs() { return state_->admission->RunPass(); }

void ControlPlane::StartAdmission(std::function<bool()> is_leader,
                                  std::chrono::milliseconds interval) {
  state_->admission->Start(std::move(is_leader), interval);
}

void ControlPlane::StopAdmission() { state_->admission->Stop(); }

size_t ControlPlane::BodyLimit(std::string_view method, std::string_view path) {
  if (method == "PUT" && path.starts_with("/api/v1/jobs/") && path.ends_with("/model-package")) {
    return kMaxModelPackageBytes;
  }
  return http::ServerOptions{}.max_body_bytes;
}

}  // namespace tandem::api
