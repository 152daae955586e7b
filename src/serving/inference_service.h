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
//
// Errors are {"error": message, "code": kind}: 400 bad input, 404 unknown
// model or version, 406 no acceptable response type, 415 unsupported content
// type, 503 not ready or draining, 500 a predictor failure.
//
// Thread safety: handlers run concurrently on the server's I/O threads; they
// share only the ModelManager (lock-free reads) and an atomic draining flag.
#pragma once

#include <atomic>

#include "common/http.h"
#include "serving/model_manager.h"

namespace tandem::serving {

class InferenceService {
 public:
  // `models` must outlive the service and every router it was added to.
  explicit InferenceService(const ModelManager& models) : models_(models) {}
  InferenceService(const InferenceService&) = delete;
  InferenceService& operator=(const InferenceService&) = delete;

  // Adds every route above to `router`. The service must outlive the router.
  void AddRoutes(http::Router& router);

  // Makes the readiness routes (/v2/health/ready, model ready, /ping) return
  // 503 from now on, while inference requests are still served. Called when
  // the server starts draining.
  void SetDraining() { draining_.store(true, std::memory_order_relaxed); }

 private:
  http::Response ServerMetadata(const http::Request& request) const;
  http::Response ServerReady(const http::Request& request) const;
  http::Response ModelMetadata(const http::Request& request) const;
  http::Response ModelReady(const http::Request& request) const;
  http::Response Infer(const http::Request& request) const;
  http::Response Ping(const http::Request& request) const;
  http::Response Invocations(const http::Request& request) const;

  // Returns the model named by the {model} and optional {version} path parameters.
  Result<std::shared_ptr<const ServedModel>> ModelFor(const http::Request& request) const;
  Status CheckNotDraining() const;

  const ModelManager& models_;
  std::atomic<bool> draining_{false};
};

}  // namespace tandem::serving
