#include "serving/inference_service.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <utility>

#include "serving/feature_batch.h"
#include "serving/inference_protocol.h"
#include "serving/sagemaker_protocol.h"

namespace tandem::serving {
namespace {

// Header of the OIP binary tensor data extension, which is not supported.
constexpr std::string_view kBinaryHeader = "Inference-Header-Content-Length";

http::Response ErrorResponse(const http::Request& request, const Error& error) {
  http::Response response = http::Response::FromError(error);
  if (response.status >= 500 && response.status != 503) {
    spdlog::error("request failed method={} path={} status={} error=\"{}\"", request.method,
                  request.path, response.status, error.message());
  } else {
    spdlog::debug("request rejected method={} path={} status={} error=\"{}\"", request.method,
                  request.path, response.status, error.message());
  }
  return response;
}

http::Response JsonText(int status, std::string body) {
  http::Response response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

Json StatusJson(const ModelStatus& status) {
  Json json = {{"source", status.source}, {"state", ModelStateName(status.state)}};
  if (!status.name.empty()) json["name"] = status.name;
  if (!status.version.empty()) json["version"] = status.version;
  if (!status.versions.empty()) json["versions"] = status.versions;
  if (!status.reason.empty()) json["reason"] = status.reason;
  return json;
}

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Keeps tandem_inference_in_flight up while a handler runs.
class InFlight {
 public:
  explicit InFlight(ServingMetrics* metrics) : metrics_(metrics) {
    if (metrics_ != nullptr) metrics_->AddInFlight(1);
  }
  ~InFlight() {
    if (metrics_ != nullptr) metrics_->AddInFlight(-1);
  }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;

 private:
  ServingMetrics* metrics_;
};

// Buffers of one I/O thread, reused by every OIP infer request it handles, so
// that a request no larger than earlier ones allocates only its response.
struct InferScratch {
  // A thread keeps the buffers of requests up to about this many values. The
  // buffers of a larger request are freed after it, so that one big batch
  // does not pin its memory on every thread.
  static constexpr size_t kKeptValues = 64 * 1024;

  InferRequest request;
  FeatureBatch batch;
  std::vector<float> predictions;

  void ReleaseIfLarge() {
    size_t values = batch.values.capacity() + predictions.capacity();
    for (const InferInput& input : request.inputs) {
      values += input.numbers.capacity() + input.strings.capacity();
    }
    if (values > kKeptValues) *this = InferScratch();
  }
};

Result<FeatureBatch> InvocationFeatures(MediaType type, std::string_view body,
                                        const model::FeaturePipeline& pipeline) {
  switch (type) {
    case MediaType::kCsv:
      return FeaturesFromCsv(body, pipeline);
    case MediaType::kJsonLines: {
      TANDEM_ASSIGN_OR_RETURN(std::vector<Json> records, ParseJsonLinesRecords(body));
      return FeaturesFromRecords(records, pipeline);
    }
    case MediaType::kJson:
      break;
  }
  TANDEM_ASSIGN_OR_RETURN(std::vector<Json> records, ParseJsonRecords(body));
  return FeaturesFromRecords(records, pipeline);
}

}  // namespace

void InferenceService::AddRoutes(http::Router& router) {
  auto bind = [this](http::Response (InferenceService::*method)(const http::Request&) const) {
    return [this, method](http::Request& request) { return (this->*method)(request); };
  };
  router.Add("GET", "/v2", bind(&InferenceService::ServerMetadata));
  router.Add("GET", "/v2/health/live", [](http::Request&) {
    return http::Response::Json(200, {{"live", true}});
  });
  router.Add("GET", "/v2/health/ready", bind(&InferenceService::ServerReady));
  for (std::string_view prefix : {"/v2/models/{model}", "/v2/models/{model}/versions/{version}"}) {
    router.Add("GET", std::string(prefix), bind(&InferenceService::ModelMetadata));
    router.Add("GET", fmt::format("{}/ready", prefix), bind(&InferenceService::ModelReady));
    router.Add("POST", fmt::format("{}/infer", prefix), bind(&InferenceService::Infer));
  }
  router.Add("GET", "/ping", bind(&InferenceService::Ping));
  router.Add("POST", "/invocations", bind(&InferenceService::Invocations));
  if (options_.metrics != nullptr) router.Add("GET", "/metrics", bind(&InferenceService::Metrics));
}

void InferenceService::CountRejected(std::string_view path, int status) const {
  if (options_.metrics == nullptr) return;
  const bool inference_path =
      path == "/invocations" || (path.starts_with("/v2/models/") && path.ends_with("/infer"));
  if (inference_path) options_.metrics->ObserveUnroutedRequest(status);
}

http::Handler InferenceService::Dispatcher(const http::Router& router) const {
  return [this, &router](http::Request& request) {
    http::Response response = router.Dispatch(request);
    if (response.status == 405) CountRejected(request.path, response.status);
    return response;
  };
}

std::function<void(const http::Request&, int)> InferenceService::RejectionCounter() const {
  return [this](const http::Request& request, int status) {
    CountRejected(http::TargetPath(request.target), status);
  };
}

Status InferenceService::CheckNotDraining() const {
  if (draining_.load(std::memory_order_relaxed)) {
    return Unavailable("server is shutting down");
  }
  return Ok();
}

Result<std::shared_ptr<const ServedModel>> InferenceService::ModelFor(
    const http::Request& request) const {
  const std::string* model = request.FindPathParam("model");
  const std::string* version = request.FindPathParam("version");
  return models_.Find(model == nullptr ? "" : *model, version == nullptr ? "" : *version);
}

http::Response InferenceService::ServerMetadata(const http::Request&) const {
  return http::Response::Json(
      200, {{"name", "tandem"}, {"version", TANDEM_VERSION}, {"extensions", options_.extensions}});
}

http::Response InferenceService::ServerReady(const http::Request&) const {
  Status ready = CheckNotDraining();
  if (ready) ready = models_.CheckReady();
  Json models = Json::array();
  for (const ModelStatus& status : models_.Statuses()) models.push_back(StatusJson(status));
  if (ready) return http::Response::Json(200, {{"ready", true}, {"models", std::move(models)}});
  return http::Response::Json(503, {{"ready", false},
                                    {"error", ready.error().message()},
                                    {"code", ErrorCodeName(ready.error().code())},
                                    {"models", std::move(models)}});
}

http::Response InferenceService::ModelMetadata(const http::Request& request) const {
  Result<std::shared_ptr<const ServedModel>> model = ModelFor(request);
  if (!model) return ErrorResponse(request, model.error());
  Json metadata = (*model)->metadata();
  for (const ModelStatus& status : models_.Statuses()) {
    if (status.name == (*model)->name()) metadata["versions"] = status.versions;
  }
  return http::Response::Json(200, metadata);
}

http::Response InferenceService::ModelReady(const http::Request& request) const {
  const std::string name = request.PathParam("model");
  Result<std::shared_ptr<const ServedModel>> model = ModelFor(request);
  Status ready = model ? CheckNotDraining() : Status(std::unexpected(model.error()));
  if (ready) {
    return http::Response::Json(
        200, {{"name", name}, {"version", (*model)->version()}, {"ready", true}});
  }
  if (ready.error().code() != ErrorCode::kUnavailable) return ErrorResponse(request, ready.error());
  return http::Response::Json(503, {{"name", name},
                                    {"ready", false},
                                    {"error", ready.error().message()},
                                    {"code", ErrorCodeName(ready.error().code())}});
}

http::Response InferenceService::Infer(const http::Request& request) const {
  const Clock::time_point start = Clock::now();
  InFlight in_flight(options_.metrics);
  Result<std::shared_ptr<const ServedModel>> model =
      request.Header(kBinaryHeader).empty()
          ? ModelFor(request)
          : Result<std::shared_ptr<const ServedModel>>(std::unexpected(
                Error(ErrorCode::kInvalidArgument,
                      fmt::format("{}: the binary tensor data extension is not supported; send "
                                  "tensors as JSON",
                                  kBinaryHeader))));
  if (!model) {
    http::Response response = ErrorResponse(request, model.error());
    if (options_.metrics != nullptr) options_.metrics->ObserveUnroutedRequest(response.status);
    return response;
  }
  const bool versioned = request.FindPathParam("version") != nullptr;
  return RunInfer(request, std::move(*model), versioned, start);
}

http::Response InferenceService::RunInfer(const http::Request& request,
                                          std::shared_ptr<const ServedModel> model, bool versioned,
                                          Clock::time_point start) const {
  // Step 1: parse. A canary version may respond instead of the primary.
  thread_local InferScratch scratch;
  InferRequest& parsed = scratch.request;
  Status status = ParseInferRequest(request.body, parsed);
  if (status && !versioned) model = CanaryOrPrimary(std::move(model), parsed.id);

  // Step 2: encode with the chosen version's pipeline and predict.
  if (status) status = CheckRequestedOutputs(parsed);
  if (status) status = FeaturesFromInferRequest(parsed, model->pipeline(), scratch.batch);
  if (status) {
    scratch.predictions.resize(scratch.batch.rows);
    status = model->Predict(scratch.batch, scratch.predictions);
  }

  // Step 3: respond, then mirror the request to the shadow version.
  http::Response response =
      status ? JsonText(200, EncodeInferResponse(model->name(), model->version(), parsed.id,
                                                 scratch.predictions))
             : ErrorResponse(request, status.error());
  if (status && options_.shadow != nullptr && !versioned &&
      options_.shadow->ShadowVersion(model->name())) {
    // The shadow runs later on another thread, so it gets its own copy of the request.
    auto shared = std::make_shared<const InferRequest>(parsed);
    options_.shadow->Submit(
        model->name(),
        [shared](const model::FeaturePipeline& pipeline) {
          return FeaturesFromInferRequest(*shared, pipeline);
        },
        scratch.predictions);
  }
  if (model->metrics() != nullptr) {
    model->metrics()->ObserveRequest(response.status, SecondsSince(start));
  }
  scratch.ReleaseIfLarge();
  return response;
}

std::shared_ptr<const ServedModel> InferenceService::CanaryOrPrimary(
    std::shared_ptr<const ServedModel> primary, const std::optional<std::string>& id) const {
  if (options_.canaries.empty()) return primary;
  std::string_view canary = PickCanaryVersion(options_.canaries, primary->name(), id);
  if (canary.empty()) return primary;
  Result<std::shared_ptr<const ServedModel>> chosen = models_.Find(primary->name(), canary);
  // A canary version that is not loaded leaves the request to the primary.
  return chosen ? std::move(*chosen) : primary;
}

http::Response InferenceService::Ping(const http::Request& request) const {
  Status ready = CheckNotDraining();
  if (ready) ready = models_.CheckReady();
  if (!ready) return ErrorResponse(request, ready.error());
  return http::Response::Text(200, "");
}

http::Response InferenceService::Invocations(const http::Request& request) const {
  const Clock::time_point start = Clock::now();
  InFlight in_flight(options_.metrics);
  std::shared_ptr<const ServedModel> answered;
  http::Response response = RunInvocations(request, answered);
  if (answered != nullptr && answered->metrics() != nullptr) {
    answered->metrics()->ObserveRequest(response.status, SecondsSince(start));
  } else if (options_.metrics != nullptr) {
    options_.metrics->ObserveUnroutedRequest(response.status);
  }

  std::string attributes = request.Header(kCustomAttributesHeader);
  if (!attributes.empty()) {
    response.headers.emplace_back(std::string(kCustomAttributesHeader), std::move(attributes));
  }
  return response;
}

http::Response InferenceService::RunInvocations(
    const http::Request& request, std::shared_ptr<const ServedModel>& answered) const {
  Result<std::shared_ptr<const ServedModel>> model = models_.Default();
  if (!model) return ErrorResponse(request, model.error());
  answered = *model;
  Result<MediaType> type = ParseContentType(request.Header("Content-Type"));
  if (!type) return ErrorResponse(request, type.error());
  std::optional<MediaType> response_type = NegotiateAccept(request.Header("Accept"), *type);
  if (!response_type) {
    spdlog::debug("request rejected method={} path={} status=406 accept=\"{}\"", request.method,
                  request.path, request.Header("Accept"));
    return http::Response::Json(
        406, {{"error", fmt::format("Accept \"{}\" matches no supported type; accept "
                                    "application/json, application/jsonlines or text/csv",
                                    request.Header("Accept"))},
              {"code", "not_acceptable"}});
  }

  answered = CanaryOrPrimary(std::move(answered), std::nullopt);
  Result<FeatureBatch> batch = InvocationFeatures(*type, request.body, answered->pipeline());
  if (!batch) return ErrorResponse(request, batch.error());
  Result<std::vector<float>> predictions = answered->Predict(*batch);
  if (!predictions) return ErrorResponse(request, predictions.error());
  http::Response response =
      http::Response::Text(200, EncodePredictions(*response_type, *predictions),
                           std::string(MediaTypeName(*response_type)));
  if (options_.shadow != nullptr && options_.shadow->ShadowVersion(answered->name())) {
    options_.shadow->Submit(
        answered->name(),
        [type = *type, body = request.body](const model::FeaturePipeline& pipeline) {
          return InvocationFeatures(type, body, pipeline);
        },
        std::move(*predictions));
  }
  return response;
}

http::Response InferenceService::Metrics(const http::Request&) const {
  return http::Response::Text(200, options_.metrics->Serialize(),
                              std::string(kPrometheusContentType));
}

}  // namespace tandem::serving
