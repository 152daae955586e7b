// The control plane's HTTP API (docs/api.md) over a Store, an ArtifactStore
// and a compute Backend. `tandem server` (api/server_command.h) wires it to the
// real components; tests wire it to a fake Backend.
//
//   ControlPlane plane(options, *store, *artifacts, SystemClock::Instance());
//   LocalBackend backend(backend_options, plane.ExitCallback());
//   plane.SetBackend(&backend);
//   http::Router router;
//   plane.AddRoutes(router);
//   http::Server server({.port = 8500, .body_limit = ControlPlane::BodyLimit}, router.AsHandler());
//
// Threads: after setup (SetBackend, AddRoutes), the handlers and the exit
// callback may run on any number of threads at once.
// Secrets: the admin token and job tokens never reach a log line, a response
// or an event. The store keeps only the sha256 of a job token.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "api/admission.h"
#include "api/backend_set.h"
#include "backends/backend.h"
#include "common/clock.h"
#include "common/http.h"
#include "registry/artifact_store.h"
#include "store/store.h"

namespace tandem::api {

// The largest model package PUT /jobs/{id}/model-package accepts: 1 GiB.
inline constexpr size_t kMaxModelPackageBytes = size_t{1} << 30;

struct ControlPlaneOptions {
  // Holds jobs/<job id>/ (the job's directory, with job.log) among others.
  std::filesystem::path data_dir;
  // Every input channel Path and SourceDir of a submitted spec must lie
  // within one of these (after resolving symlinks and "..").
  std::vector<std::filesystem::path> input_roots;
  // The base URL that launched jobs use to reach this server
  // ("http://127.0.0.1:8500").
  std::string api_url;
  // The token that authorizes every mutating call. Must not be empty.
  std::string admin_token;
  // Passed to Backend::Stop: the time between SIGTERM and SIGKILL.
  std::chrono::seconds stop_grace{30};
  // The largest ResourceConfig.KeepAlivePeriodInSeconds a submitted job may
  // ask for; larger values are rejected with 400.
  int64_t max_keep_alive_seconds = 3600;
  // Limits on running jobs; a job over a limit waits, Pending, until it fits
  // (api/admission.h has the order).
  AdmissionLimits admission_limits;
};

class ControlPlane {
 public:
  // The references must outlive the ControlPlane.
  ControlPlane(ControlPlaneOptions options, store::Store& store,
               registry::ArtifactStore& artifacts, const Clock& clock);
  ~ControlPlane();
  ControlPlane(const ControlPlane&) = delete;
  ControlPlane& operator=(const ControlPlane&) = delete;

  // Sets the backend that runs every job, under its own name(). Must be
  // called before the routes serve a request; `backend` must outlive the
  // ControlPlane.
  void SetBackend(backends::Backend* backend);

  // Sets the routing of jobs to backends (api/backend_set.h) in place of
  // SetBackend. Same rules; `backends` must outlive the ControlPlane.
  void SetBackends(BackendSet* backends);

  // Replaces options.api_url, for a server whose port is known only once it
  // listens. Safe to call while requests are served.
  void SetApiUrl(std::string url);

  // Adds every route of docs/api.md, under /api/v1, to `router`.
  void AddRoutes(http::Router& router);

  // Returns the callback to hand to the backend: it turns the end of a job's
  // process into a "backend" event when the job has not ended by itself
  // (see OnBackendExit).
  backends::ExitCallback ExitCallback();

  // Handles the end of a job's process as the backend observed it. A job
  // still InProgress or Stopping gets one "backend" event: Stopped
  // ("stopped: process exited") when it was Stopping; Completed when the
  // process exited with code 0 after uploading its model package; else Failed
  // with the reason ("process exited with code 3 before reporting
  // completion", "killed by signal 9"). A job that already ended is left
  // alone. Errors are logged, not returned, because the caller is a backend
  // thread.
  void OnBackendExit(const std::string& job_id, const backends::Observation& observation);

  // Queries the backend about every job still InProgress or Stopping and
  // ends those whose process has ended, for example while no control plane
  // ran. Call once at startup, after SetBackend; the periodic Reconciler
  // (api/reconciler.h) covers the reports lost while the server runs.
  // Returns how many jobs ended. Errors: those of the store.
  Result<int> ReconcileAtStartup();

  // Launches the waiting jobs that fit under the admission limits: those that
  // waited for a running job to end, and those a stopped control plane stored
  // without launching. Runs on its own when a job ends and in the background
  // (StartAdmission); tests call it directly. Does nothing on a server that is
  // not the leader. Returns how many jobs it launched. Errors: those of the store.
  Result<int> AdmitWaitingJobs();

  // Starts the background thread of the job queue: a pass every `interval`,
  // the first at once. `is_leader` (empty: always) tells whether this server
  // may admit (over PostgreSQL, whether it holds the admission lock); it is
  // called on that thread only. Call after SetApiUrl, because launched jobs
  // get the API URL. StopAdmission (or the destructor) stops the thread; call
  // it before the backends go away.
  void StartAdmission(std::function<bool()> is_leader, std::chrono::milliseconds interval);
  void StopAdmission();

  // Closes the warm pool of an earlier control plane (WarmPool::RecoverAtStartup)
  // and starts expiring kept workers every `sweep_interval`. Call once at
  // startup, after the backends are set. Errors: those of the store.
  Status StartWarmPool(std::chrono::milliseconds sweep_interval);

  // Terminates kept workers whose keep-alive period ended and those that
  // died (WarmPool::Sweep); tests call it after moving the clock. Returns how
  // many left the pool.
  int SweepWarmPool();

  // Terminates every kept worker; call at shutdown, before the backends go.
  void TerminateWarmPool();

  // The request body limit per route, for http::ServerOptions::body_limit:
  // kMaxModelPackageBytes for PUT .../model-package, else the server's default
  // of 6 MiB.
  static size_t BodyLimit(std::string_view method, std::string_view path);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace tandem::api
