#include "serving/served_model.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <utility>

#include "model/compiled_trees.h"
#include "model/self_test.h"
#include "model/xgboost_predictor.h"
#include "serving/inference_protocol.h"

namespace tandem::serving {
namespace {

// OIP datatype advertised for a raw field type ("number", "string", "datetime").
std::string_view DatatypeForField(const std::string& type) {
  return type == "number" ? "FP32" : "BYTES";
}

Json BuildMetadata(const model::ModelManifest& manifest, const std::string& version,
                   std::string_view predictor, const std::string& fallback_reason) {
  Json inputs = Json::array();
  for (const model::InputField& field : manifest.feature_pipeline.InputSchema()) {
    inputs.push_back({{"name", field.name},
                      {"datatype", DatatypeForField(field.type)},
                      {"shape", {-1}},
                      {"parameters", {{"field_type", field.type}}}});
  }
  inputs.push_back({{"name", kFeaturesInput},
                    {"datatype", "FP32"},
                    {"shape", {-1, static_cast<int64_t>(manifest.feature_pipeline.num_features())}},
                    {"parameters", {{"feature_names", manifest.feature_names}}}});
  Json outputs = Json::array();
  for (const model::OutputField& output : manifest.output_schema) {
    outputs.push_back({{"name", output.name}, {"datatype", output.datatype}, {"shape", {-1}}});
  }
  Json parameters = {{"predictor", predictor}};
  if (!fallback_reason.empty()) parameters["predictor_fallback_reason"] = fallback_reason;
  return {{"name", manifest.model_name},   {"versions", {version}},
          {"platform", "xgboost"},         {"inputs", std::move(inputs)},
          {"outputs", std::move(outputs)}, {"parameters", std::move(parameters)}};
}

// The predictor for `package` under `choice`; sets `fallback_reason` when
// kAuto falls back to libxgboost.
Result<std::unique_ptr<model::Predictor>> LoadPredictor(const model::LoadedPackage& package,
                                                        const ServedModelOptions& options,
                                                        std::string& fallback_reason) {
  const size_t num_features = package.manifest.feature_pipeline.num_features();
  if (options.predictor != PredictorChoice::kLibxgboost) {
    Result<std::unique_ptr<model::Predictor>> compiled =
        model::LoadCompiledTrees(package.model_path, num_features);
    if (compiled || options.predictor == PredictorChoice::kCompiled ||
        compiled.error().code() != ErrorCode::kFailedPrecondition) {
      return compiled;
    }
    fallback_reason = compiled.error().message();
  }
  model::XGBoostPredictorOptions predictor_options;
  predictor_options.threads_per_call = options.predictor_threads;
  return model::LoadXGBoostPredictor(package.model_path, num_features, predictor_options);
}

}  // namespace

std::string_view PredictorChoiceName(PredictorChoice choice) {
  switch (choice) {
    case PredictorChoice::kAuto:
      return "auto";
    case PredictorChoice::kCompiled:
      return "compiled";
    case PredictorChoice::kLibxgboost:
      return "libxgboost";
  }
  return "auto";
}

Result<PredictorChoice> ParsePredictorChoice(std::string_view text) {
  for (PredictorChoice choice :
       {PredictorChoice::kAuto, PredictorChoice::kCompiled, PredictorChoice::kLibxgboost}) {
    if (text == PredictorChoiceName(choice)) return choice;
  }
  return InvalidArgument(
      fmt::format("--predictor \"{}\": expected auto, compiled or libxgboost", text));
}

ServedModel::ServedModel(model::LoadedPackage package, std::string version,
                         std::unique_ptr<model::Predictor> predictor, std::string fallback_reason,
                         const ServedModelOptions& options)
    : package_(std::move(package)),
      version_(std::move(version)),
      predictor_(std::move(predictor)),
      fallback_reason_(std::move(fallback_reason)),
      metadata_(BuildMetadata(package_.manifest, version_, predictor_->name(), fallback_reason_)) {
  if (options.metrics != nullptr) {
    metrics_ = options.metrics->ForVersion(name(), version_, predictor_->name());
  }
  if (options.batching.enabled()) {
    batcher_ = std::make_unique<PredictBatcher>(*predictor_, options.batching, metrics_.get());
  }
}

Result<std::shared_ptr<const ServedModel>> ServedModel::Load(const std::filesystem::path& dir,
                                                             std::string version,
                                                             const ServedModelOptions& options) {
  const std::string context = fmt::format("model package {}", dir.string());
  Result<model::LoadedPackage> package = model::LoadPackage(dir);
  if (!package) return std::unexpected(package.error().WithContext(context));

  std::string fallback_reason;
  Result<std::unique_ptr<model::Predictor>> predictor =
      LoadPredictor(*package, options, fallback_reason);
  if (!predictor) return std::unexpected(predictor.error().WithContext(context));

  if (fallback_reason.empty()) {
    spdlog::info("predictor chosen model={} version={} predictor={} choice={}",
                 package->manifest.model_name, version, (*predictor)->name(),
                 PredictorChoiceName(options.predictor));
  } else {
    spdlog::info("predictor chosen model={} version={} predictor={} choice={} reason=\"{}\"",
                 package->manifest.model_name, version, (*predictor)->name(),
                 PredictorChoiceName(options.predictor), fallback_reason);
  }
  return std::shared_ptr<const ServedModel>(new ServedModel(std::move(*package), std::move(version),
                                                            std::move(*predictor),
                                                            std::move(fallback_reason), options));
}

Status ServedModel::SelfTest() const {
  return model::RunSelfTests(package_, pipeline(), *predictor_);
}

Result<std::vector<float>> ServedModel::Predict(const FeatureBatch& batch) const {
  std::vector<float> predictions(batch.rows);
  TANDEM_RETURN_IF_ERROR(Predict(batch, predictions));
  return predictions;
}

Status ServedModel::Predict(const FeatureBatch& batch, std::span<float> out) const {
  Status status = Ok();
  if (batcher_ != nullptr) {
    status = batcher_->Predict(batch.values.data(), batch.rows, out.data());
  } else {
    const auto start = std::chrono::steady_clock::now();
    status = predictor_->Predict(batch.values.data(), batch.rows, out.data());
    if (metrics_ != nullptr) {
      metrics_->ObserveCompute(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      metrics_->ObserveBatchRows(batch.rows);
    }
  }
  TANDEM_RETURN_IF_ERROR_CTX(status, fmt::format("model {} version {}", name(), version_));
  return Ok();
}

}  // namespace tandem::serving
