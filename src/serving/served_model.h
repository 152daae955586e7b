// One model package loaded for serving: its manifest, fitted feature
// pipeline and predictor, plus the OIP v2 metadata response computed once.
//
// Lifecycle: Load() reads the package; the caller then runs SelfTest() and
// serves the model only when it passes. A ServedModel does not change after
// Load(), so it is shared as std::shared_ptr<const ServedModel> and every
// const method may be called from many threads at once.
#pragma once

#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "model/feature_pipeline.h"
#include "model/package.h"
#include "model/predictor.h"
#include "serving/batcher.h"
#include "serving/feature_batch.h"
#include "serving/metrics.h"

namespace tandem::serving {

// Which predictor evaluates a model (--predictor).
//   kAuto        compiled trees, or libxgboost when the compiled tree
//                evaluator does not support the model (kFailedPrecondition)
//   kCompiled    compiled trees only; an unsupported model fails to load
//   kLibxgboost  libxgboost only
enum class PredictorChoice { kAuto, kCompiled, kLibxgboost };

// "auto", "compiled", "libxgboost".
std::string_view PredictorChoiceName(PredictorChoice choice);
// Errors: kInvalidArgument naming `text` and the accepted values.
Result<PredictorChoice> ParsePredictorChoice(std::string_view text);

struct ServedModelOptions {
  PredictorChoice predictor = PredictorChoice::kAuto;
  // libxgboost threads inside one Predict call. The server handles many
  // requests at once on its own threads, so 1 avoids oversubscribing cores.
  int predictor_threads = 1;
  BatchingOptions batching;
  // Where the model's series are registered; null for none. Must outlive the model.
  ServingMetrics* metrics = nullptr;
};

class ServedModel {
 public:
  // Loads the package in `dir` and labels it with `version` (the registry's
  // version number, a --model-root version directory's name, or "1" for a
  // package directory given directly). Logs at INFO which predictor the
  // model got and, after a fallback to libxgboost, why.
  // Errors: those of model::LoadPackage, model::LoadCompiledTrees (with
  // PredictorChoice::kCompiled) and model::LoadXGBoostPredictor, prefixed
  // with the directory.
  static Result<std::shared_ptr<const ServedModel>> Load(const std::filesystem::path& dir,
                                                         std::string version,
                                                         const ServedModelOptions& options = {});

  // Runs the package's self-test cases through the pipeline and predictor.
  // Errors: those of model::RunSelfTests (kFailedPrecondition for a wrong
  // prediction), naming the case.
  Status SelfTest() const;

  // Predicts every row of `batch`: in one predictor call, or merged with
  // other requests' rows when batching is on.
  // Errors: the predictor's (kInternal for a libxgboost failure).
  Result<std::vector<float>> Predict(const FeatureBatch& batch) const;
  // As above, into `out`. REQUIRES: out.size() == batch.rows.
  Status Predict(const FeatureBatch& batch, std::span<float> out) const;

  const std::string& name() const { return package_.manifest.model_name; }
  const std::string& version() const { return version_; }
  const model::ModelManifest& manifest() const { return package_.manifest; }
  const model::FeaturePipeline& pipeline() const { return package_.manifest.feature_pipeline; }
  const std::filesystem::path& dir() const { return package_.dir; }
  // "compiled_trees" or "libxgboost".
  std::string_view predictor_name() const { return predictor_->name(); }
  // Why kAuto fell back to libxgboost; empty otherwise.
  const std::string& predictor_fallback_reason() const { return fallback_reason_; }
  // This version's metric series; null when loaded without metrics.
  VersionMetrics* metrics() const { return metrics_.get(); }

  // The GET /v2/models/{name} response for this version: name, versions
  // (this one; the server replaces it with every loaded version), platform
  // "xgboost", inputs (each raw field with shape [-1], then "features" FP32
  // [-1, k]), outputs ("prediction" FP32 [-1]) and parameters ("predictor",
  // and "predictor_fallback_reason" after a fallback).
  const Json& metadata() const { return metadata_; }

 private:
  ServedModel(model::LoadedPackage package, std::string version,
              std::unique_ptr<model::Predictor> predictor, std::string fallback_reason,
              const ServedModelOptions& options);

  model::LoadedPackage package_;
  std::string version_;
  std::unique_ptr<model::Predictor> predictor_;
  std::string fallback_reason_;
  std::shared_ptr<VersionMetrics> metrics_;
  std::unique_ptr<PredictBatcher> batcher_;  // null when batching is off
  Json metadata_;
};

}  // namespace tandem::serving
