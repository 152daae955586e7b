// The state shared by every control-plane handler: options, store, artifact
// store, backends and clock. Internal to src/api. ControlPlane owns the one instance.
#pragma once

#include <cstdint>
#include <mutex>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "api/auth.h"
#include "api/backend_set.h"
#include "api/control_plane.h"

namespace tandem::api {

class AdmissionController;

class WarmPool;

struct ApiContext {
  ControlPlaneOptions options;
  store::Store& store;
  registry::ArtifactStore& artifacts;
  const Clock& clock;
  Authenticator auth;
  // The routing and the backend instances; set once before serving.
  BackendSet* backends = nullptr;
  // The set made by ControlPlane::SetBackend, when that was used.
  std::unique_ptr<BackendSet> owned_backends;
  // The kept workers (api/warm_pool.h); set by ControlPlane, never null after.
  WarmPool* warm_pool = nullptr;
  // The job queue (api/admission_controller.h); set by ControlPlane, never null after.
  AdmissionController* admission = nullptr;

  // The URL launched jobs use to reach this server; options.api_url until
  // SetApiUrl replaces it (once the server's port is known).
  std::string api_url() const;
  void SetApiUrl(std::string url);

  mutable std::mutex api_url_mutex;

  // Returns DATA_DIR/jobs, the parent of every job's directory.
  std::filesystem::path jobs_dir() const { return options.data_dir / "jobs"; }
};

// Returns the job's JSON form (store::JobToJson) with `status`.
http::Response JobResponse(int status, const store::Job& job);

// A handler that returns errors as values.
using ResultHandler = std::function<Result<http::Response>(http::Request&)>;

// Returns a Handler that turns an error into http::Response::FromError and
// logs it (WARN for 5xx, DEBUG otherwise).
http::Handler ToHandler(ResultHandler handler);

// A route handler over the shared context.
using ContextHandler = Result<http::Response> (*)(ApiContext& context, http::Request& request);

// Returns ToHandler of `handler` bound to `context`, which must outlive it.
http::Handler BindRoute(ApiContext& context, ContextHandler handler);

// Returns the integer query parameter `key`, or `default_value` when absent.
// Errors: kInvalidArgument naming the parameter when it is not an integer in
// [min, max].
Result<int64_t> QueryInt(const http::Request& request, std::string_view key,
                         int64_t default_value, int64_t min, int64_t max);

// Route registration, one function per resource (jobs_handlers.cc,
// events_handlers.cc, models_handlers.cc, schedules_handlers.cc).
void AddJobRoutes(http::Router& router, ApiContext& context);
void AddEventRoutes(http::Router& router, ApiContext& context);
void AddModelRoutes(http::Router& router, ApiContext& context);
void AddScheduleRoutes(http::Router& router, ApiContext& context);

}  // namespace tandem::api
