#include "serving/served_model.h"

#include <fmt/format.h>

#include <utility>

#include "model/self_test.h"
#include "model/xgboost_predictor.h"
#include "serving/inference_protocol.h"

namespace tandem::serving {
namespace {

// OIP datatype advertised for a raw field type ("number", "string", "datetime").
std::string_view DatatypeForField(const std::string& type) {
  return type == "number" ? "FP32" : "BYTES";
}

std::string BuildMetadata(const model::ModelManifest& manifest, const std::string& version) {
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
  Json metadata = {{"name", manifest.model_name},
                   {"versions", {version}},
                   {"platform", "xgboost"},
                   {"inputs", std::move(inputs)},
                   {"outputs", std::move(outputs)}};
  return DumpJson(metadata);
}

}  // namespace

ServedModel::ServedModel(model::LoadedPackage package, std::string version,
                         std::unique_ptr<model::Predictor> predictor)
    : package_(std::move(package)),
      version_(std::move(version)),
      predictor_(std::move(predictor)),
      metadata_json_(BuildMetadata(package_.manifest, version_)) {}

Result<std::shared_ptr<const ServedModel>> ServedModel::Load(const std::filesystem::path& dir,
                                                             std::string version,
                                                             const ServedModelOptions& options) {
  const std::string context = fmt::format("model package {}", dir.string());
  Result<model::LoadedPackage> package = model::LoadPackage(dir);
  if (!package) return std::unexpected(package.error().WithContext(context));

  model::XGBoostPredictorOptions predictor_options;
  predictor_options.threads_per_call = options.predictor_threads;
  Result<std::unique_ptr<model::Predictor>> predictor = model::LoadXGBoostPredictor(
      package->model_path, package->manifest.feature_pipeline.num_features(), predictor_options);
  if (!predictor) return std::unexpected(predictor.error().WithContext(context));

  return std::shared_ptr<const ServedModel>(
      new ServedModel(std::move(*package), std::move(version), std::move(*predictor)));
}

Status ServedModel::SelfTest() const {
  return model::RunSelfTests(package_, pipeline(), *predictor_);
}

Result<std::vector<float>> ServedModel::Predict(const FeatureBatch& batch) const {
  std::vector<float> predictions(batch.rows);
  TANDEM_RETURN_IF_ERROR_CTX(
      predictor_->Predict(batch.values.data(), batch.rows, predictions.data()),
      fmt::format("model {} version {}", name(), version_));
  return predictions;
}

}  // namespace tandem::serving
