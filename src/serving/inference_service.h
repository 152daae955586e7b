// The HTTP routes of `tandem serve`: Open Inference Protocol v2 and the
// SageMaker hosting contract, over the models of a ModelManager.
//
//   GET  /v2                                      server metadata
//   GET  /v2/health/live                          200 while the process runs
//   GET  /v2/health/ready                         200 when every model is ready, else 503
//   GET  /v2/models/{m}[/versions/{v}]            model metadata
//   GET  /v2/models/{m}[/versions/{v}]/ready      200 when that model is ready, else 503
//   POST /v2/models/{m}[/versions/{v}]/infer      inference (docs/serving.md)
//   GET  /ping                                    SageMaker health: 200 empty when ready, else 503
//   POST /invocations                             SageMaker inference on the first model
//   GET  /metrics                                 Prometheus text format (serving/metrics.h)
//
// Requests that name no version go to the model's primary version, or to a
// canary version (serving/traffic.h), and are mirrored to a shadow version
// when one is configured.
//
// Errors are {"error": message, "code": kind}: 400 bad input, 404 unknown
// model or version, 406 no acceptable response type, 415 unsupported content
// type, 503 not ready or draining, 500 a predictor failure.
//
// Thread safety: handlers run concurrently on the server's I/O threads; they
// share the ModelManager (each read loads one atomic snapshot pointer), the
// metrics, the shadow queue and an atomic draining flag.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/http.h"
#include "serving/metrics.h"
#include "serving/model_manager.h"
#include "serving/traffic.h"

namespace tandem::serving {

struct InferenceServiceOptions {
  ServingMetrics* metrics = nullptr;  // null: no /metrics route, nothing counted
  std::vector<CanaryRule> canaries;
  ShadowMirror* shadow = nullptr;  // null: no shadow traffic
  // Listed in GET /v2 "extensions" ("model_repository" when those routes are on).
  std::vector<std::string> extensions;
};

class InferenceService {
 public:
  // `models`, and the metrics and shadow mirror in `options`, must outlive
  // the service and every router it was added to.
  explicit InferenceService(const ModelManager& models, InferenceServiceOptions options = {})
      : models_(models), options_(std::move(options)) {}
  InferenceService(const InferenceService&) = delete;
  InferenceService& operator=(const InferenceService&) = delete;

  // Adds every route above to `router`. The service must outlive the router.
  void AddRoutes(http::Router& router);

  // Makes the readiness routes (/v2/health/ready, model ready, /ping) return
  // 503 from now on, while inference requests are still served. Called when
  // the server starts draining.
  void SetDraining() { draining_.store(true, std::memory_order_relaxed); }

  // Counts a request to an inference route (an OIP infer path or
  // /invocations) that got `status` before reaching a model: 405 from the
  // router, or 400, 413 and 431 from the HTTP server itself. Requests to
  // other paths are not counted.
  void CountRejected(std::string_view path, int status) const;

  // Returns a handler that dispatches to `router` and counts its 405
  // responses with CountRejected. `router` must outlive the handler.
  http::Handler Dispatcher(const http::Router& router) const;

  // Returns the http::ServerOptions::on_rejected callback that counts the
  // HTTP server's own error responses with CountRejected.
  std::function<void(const http::Request&, int)> RejectionCounter() const;

 private:
  http::Response ServerMetadata(const http::Request& request) const;
  http::Response ServerReady(const http::Request& request) const;
  http::Response ModelMetadata(const http::Request& request) const;
  http::Response ModelReady(const http::Request& request) const;
  http::Response Infer(const http::Request& request) const;
  http::Response Ping(const http::Request& request) const;
  http::Response Invocations(const http::Request& request) const;
  http::Response Metrics(const http::Request& request) const;

  // Returns the model named by the {model} and optional {version} path parameters.
  Result<std::shared_ptr<const ServedModel>> ModelFor(const http::Request& request) const;
  // Runs an OIP infer request on `primary` or its canary version.
  http::Response RunInfer(const http::Request& request, std::shared_ptr<const ServedModel> primary,
                          bool versioned, std::chrono::steady_clock::time_point start) const;
  // Returns the canary version chosen for a request naming no version, or `primary`.
  std::shared_ptr<const ServedModel> CanaryOrPrimary(std::shared_ptr<const ServedModel> primary,
                                                     const std::optional<std::string>& id) const;
  http::Response RunInvocations(const http::Request& request,
                                std::shared_ptr<const ServedModel>& answered) const;
  Status CheckNotDraining() const;

  const ModelManager& models_;
  const InferenceServiceOptions options_;
  std::atomic<bool> draining_{false};
};

}  // namespace tandem::serving
