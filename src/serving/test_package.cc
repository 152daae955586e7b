#include "serving/test_package.h"

#include <fmt/format.h>
#include <unistd.h>
#include <xgboost/c_api.h>

#include <atomic>
#include <cmath>
#include <memory>

#include "common/file_util.h"
#include "model/feature_pipeline.h"
#include "model/manifest.h"
#include "model/package.h"
#include "model/xgboost_predictor.h"

namespace tandem::serving::testing {
namespace {

constexpr int kTrainRows = 400;
constexpr int kSelfTests = 3;

Status XGBoostCall(int code, std::string_view what) {
  if (code == 0) return Ok();
  return Internal(fmt::format("{}: {}", what, XGBGetLastError()));
}

// Trains `options.rounds` trees of depth 3 on `features` and saves the booster as JSON.
Status TrainBooster(const std::vector<float>& features, const std::vector<float>& labels,
                    size_t width, const TestPackageOptions& options,
                    const std::filesystem::path& model_file) {
  DMatrixHandle matrix = nullptr;
  TANDEM_RETURN_IF_ERROR(XGBoostCall(
      XGDMatrixCreateFromMat(features.data(), labels.size(), width, NAN, &matrix), "DMatrix"));
  std::unique_ptr<void, int (*)(DMatrixHandle)> matrix_guard(matrix, XGDMatrixFree);
  TANDEM_RETURN_IF_ERROR(
      XGBoostCall(XGDMatrixSetFloatInfo(matrix, "label", labels.data(), labels.size()), "labels"));
  BoosterHandle booster = nullptr;
  TANDEM_RETURN_IF_ERROR(XGBoostCall(XGBoosterCreate(&matrix, 1, &booster), "booster"));
  std::unique_ptr<void, int (*)(BoosterHandle)> booster_guard(booster, XGBoosterFree);
  for (auto [key, value] : {std::pair{"max_depth", "3"},
                            {"eta", "0.3"},
                            {"nthread", "1"},
                            {"objective", "reg:squarederror"},
                            {"seed", "7"},
                            {"booster", options.booster.c_str()}}) {
    TANDEM_RETURN_IF_ERROR(XGBoostCall(XGBoosterSetParam(booster, key, value), key));
  }
  for (int round = 0; round < options.rounds; ++round) {
    TANDEM_RETURN_IF_ERROR(XGBoostCall(XGBoosterUpdateOneIter(booster, round, matrix), "train"));
  }
  return XGBoostCall(XGBoosterSaveModel(booster, model_file.c_str()), "save");
}

}  // namespace

Json TestRecord(int index) {
  static constexpr const char* kOrigins[] = {"SFO", "JFK", "LAX", "ORD"};
  Json record = {{"distance", 100 + (index * 37) % 2400},
                 {"origin", kOrigins[index % 4]},
                 {"dep", fmt::format("2024-03-{:02} {:02}:{:02}", 1 + index % 28, index % 24,
                                     (index * 7) % 60)}};
  if (index % 13 == 5) record["distance"] = nullptr;  // some missing values
  return record;
}

Status BuildTestPackage(const std::filesystem::path& dir, const TestPackageOptions& options) {
  TANDEM_RETURN_IF_ERROR(CreateDirectories(dir));

  // Step 1: fit the pipeline on the synthetic records.
  Json spec_json = Json::parse(R"({
    "Label": "delay",
    "Features": [
      {"Field": "distance", "Kind": "numeric"},
      {"Field": "origin", "Kind": "categorical"},
      {"Field": "dep", "Kind": "datetime", "Parts": ["hour", "day_of_week"]}]})");
  TANDEM_ASSIGN_OR_RETURN(model::FeaturePipelineSpec spec,
                          model::FeaturePipelineSpec::FromJson(spec_json, "FeaturePipeline"));
  model::FeaturePipelineFitter fitter(spec);
  for (int i = 0; i < kTrainRows; ++i) TANDEM_RETURN_IF_ERROR(fitter.AddJsonRecord(TestRecord(i)));
  TANDEM_ASSIGN_OR_RETURN(model::FeaturePipeline pipeline, std::move(fitter).Finish());

  // Step 2: encode the records, make labels and train.
  const size_t width = pipeline.num_features();
  std::vector<float> features(kTrainRows * width);
  std::vector<float> labels(kTrainRows);
  for (int i = 0; i < kTrainRows; ++i) {
    std::span<float> row(features.data() + i * width, width);
    TANDEM_RETURN_IF_ERROR(pipeline.TransformJson(TestRecord(i), row));
    float distance = std::isnan(row[0]) ? 500.0f : row[0];
    labels[i] = distance / 100.0f + 3.0f * row[1] + 0.5f * row[2];
  }
  const std::filesystem::path model_file = dir / model::kDefaultModelFileName;
  TANDEM_RETURN_IF_ERROR(TrainBooster(features, labels, width, options, model_file));

  // Step 3: self-test cases with the predictions the project's predictor gives.
  TANDEM_ASSIGN_OR_RETURN(std::unique_ptr<model::Predictor> predictor,
                          model::LoadXGBoostPredictor(model_file, width));
  model::ModelManifest manifest;
  manifest.model_name = options.model_name;
  manifest.objective = "reg:squarederror";
  manifest.input_schema = pipeline.InputSchema();
  manifest.feature_names = pipeline.FeatureNames();
  manifest.feature_pipeline = pipeline;
  for (int i = 0; i < kSelfTests; ++i) {
    float prediction = 0;
    TANDEM_RETURN_IF_ERROR(predictor->Predict(features.data() + i * width, 1, &prediction));
    double expected = prediction;
    if (options.wrong_self_test && i == 0) expected += 1000;
    manifest.self_tests.push_back({TestRecord(i), expected});
  }
  return model::WriteManifest(dir, manifest);
}

ScratchDir::ScratchDir() {
  static std::atomic<int> counter{0};
  path_ = std::filesystem::temp_directory_path() /
          fmt::format("tandem-serving-test-{}-{}", ::getpid(), counter++);
  std::filesystem::remove_all(path_);
  std::filesystem::create_directories(path_);
}

ScratchDir::~ScratchDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

}  // namespace tandem::serving::testing
