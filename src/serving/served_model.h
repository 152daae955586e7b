// One model package loaded for serving: its manifest, fitted feature
// pipeline and predictor, plus the OIP v2 metadata response computed once.
//
// Lifecycle: Load() reads the package; the caller then runs SelfTest() and
// serves the model only when it passes. A ServedModel is immutable after
// Load(), so it is shared as std::shared_ptr<const ServedModel> and every
// const method may be called from many threads at once.
#pragma once

#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "model/feature_pipeline.h"
#include "model/package.h"
#include "model/predictor.h"
#include "serving/feature_batch.h"

namespace tandem::serving {

struct ServedModelOptions {
  // libxgboost threads inside one Predict call. The server handles many
  // requests at once on its own threads, so 1 avoids oversubscribing cores.
  int predictor_threads = 1;
};

class ServedModel {
 public:
  // Loads the package in `dir` and labels it with `version` (the registry's
  // version number, or "1" for a package directory given directly).
  // Errors: those of model::LoadPackage and model::LoadXGBoostPredictor,
  // prefixed with the directory.
  static Result<std::shared_ptr<const ServedModel>> Load(const std::filesystem::path& dir,
                                                         std::string version,
                                                         const ServedModelOptions& options = {});

  // Runs the package's self-test cases through the pipeline and predictor.
  // Errors: those of model::RunSelfTests (kFailedPrecondition for a wrong
  // prediction), naming the case.
  Status SelfTest() const;

  // Predicts every row of `batch` in one predictor call.
  // Errors: the predictor's (kInternal for a libxgboost failure).
  Result<std::vector<float>> Predict(const FeatureBatch& batch) const;

  const std::string& name() const { return package_.manifest.model_name; }
  const std::string& version() const { return version_; }
  const model::ModelManifest& manifest() const { return package_.manifest; }
  const model::FeaturePipeline& pipeline() const { return package_.manifest.feature_pipeline; }
  const std::filesystem::path& dir() const { return package_.dir; }
  std::string_view predictor_name() const { return predictor_->name(); }

  // The GET /v2/models/{name} response body: name, versions, platform "xgboost",
  // inputs (each raw field with shape [-1], then "features" FP32 [-1, k]) and
  // outputs ("prediction" FP32 [-1]).
  const std::string& metadata_json() const { return metadata_json_; }

 private:
  ServedModel(model::LoadedPackage package, std::string version,
              std::unique_ptr<model::Predictor> predictor);

  model::LoadedPackage package_;
  std::string version_;
  std::unique_ptr<model::Predictor> predictor_;
  std::string metadata_json_;
};

}  // namespace tandem::serving
