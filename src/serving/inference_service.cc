#include "serving/inference_service.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

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
  if (!status.reason.empty()) json["reason"] = status.reason;
  return json;
}

// Runs the feature pipeline and the predictor on an OIP v2 request body.
Result<std::string> RunInfer(const ServedModel& model, std::string_view body) {
  TANDEM_ASSIGN_OR_RETURN(InferRequest request, ParseInferRequest(body));
  TANDEM_RETURN_IF_ERROR(CheckRequestedOutputs(request));
  TANDEM_ASSIGN_OR_RETURN(FeatureBatch batch, FeaturesFromInferRequest(request, model.pipeline()));
  TANDEM_ASSIGN_OR_RETURN(std::vector<float> predictions, model.Predict(batch));
  return EncodeInferResponse(model.name(), model.version(), request.id, predictions);
}

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
}

Status InferenceService::CheckNotDraining() const {
  if (draining_.load(std::memory_order_relaxed)) {
    return Unavailable("server is shutting down");
  }
  return Ok();
}

Result<std::shared_ptr<const ServedModel>> InferenceService::ModelFor(
    const http::Request& request) const {
  TANDEM_ASSIGN_OR_RETURN(std::shared_ptr<const ServedModel> model,
                          models_.Find(request.PathParam("model")));
  auto version = request.path_params.find("version");
  if (version != request.path_params.end() && version->second != model->version()) {
    return NotFound(fmt::format("model \"{}\" has no version \"{}\"; it serves version {}",
                                model->name(), version->second, model->version()));
  }
  return model;
}

http::Response InferenceService::ServerMetadata(const http::Request&) const {
  return http::Response::Json(
      200, {{"name", "tandem"}, {"version", TANDEM_VERSION}, {"extensions", Json::array()}});
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
  return JsonText(200, (*model)->metadata_json());
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
  if (!request.Header(kBinaryHeader).empty()) {
    return ErrorResponse(request, Error(ErrorCode::kInvalidArgument,
                                        fmt::format("{}: the binary tensor data extension is not "
                                                    "supported; send tensors as JSON",
                                                    kBinaryHeader)));
  }
  Result<std::shared_ptr<const ServedModel>> model = ModelFor(request);
  if (!model) return ErrorResponse(request, model.error());
  Result<std::string> body = RunInfer(**model, request.body);
  if (!body) return ErrorResponse(request, body.error());
  return JsonText(200, std::move(*body));
}

http::Response InferenceService::Ping(const http::Request& request) const {
  Status ready = CheckNotDraining();
  if (ready) ready = models_.CheckReady();
  if (!ready) return ErrorResponse(request, ready.error());
  return http::Response::Text(200, "");
}

http::Response InferenceService::Invocations(const http::Request& request) const {
  http::Response response = [&]() -> http::Response {
    Result<std::shared_ptr<const ServedModel>> model = models_.Default();
    if (!model) return ErrorResponse(request, model.error());
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

    Result<FeatureBatch> batch = InvocationFeatures(*type, request.body, (*model)->pipeline());
    if (!batch) return ErrorResponse(request, batch.error());
    Result<std::vector<float>> predictions = (*model)->Predict(*batch);
    if (!predictions) return ErrorResponse(request, predictions.error());
    return http::Response::Text(200, EncodePredictions(*response_type, *predictions),
                                std::string(MediaTypeName(*response_type)));
  }();

  std::string attributes = request.Header(kCustomAttributesHeader);
  if (!attributes.empty()) {
    response.headers.emplace_back(std::string(kCustomAttributesHeader), std::move(attributes));
  }
  return response;
}

}  // namespace tandem::serving
