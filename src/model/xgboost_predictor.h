// A Predictor backed by libxgboost (1.7 C API) in-place prediction.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>

#include "common/status.h"
#include "model/predictor.h"

namespace tandem::model {

struct XGBoostPredictorOptions {
  // OpenMP threads libxgboost may use inside one Predict call; 0 keeps the
  // library's default (all cores). A server handling many requests at once
  // sets 1, so that concurrent calls do not oversubscribe the cores.
  int threads_per_call = 0;
};

// Loads an XGBoost model saved as JSON (XGBoosterSaveModel to "*.json") and
// checks that it expects `num_features` inputs.
//
// Predict calls XGBoosterPredictFromDense with missing = NaN, all trees and
// the objective's transformed output, and copies the result out of
// libxgboost's per-thread buffer before returning.
//
// Thread safety: libxgboost documents prediction (including in-place
// prediction) as thread-safe for tree boosters (gbtree, dart) since 1.4,
// provided nothing trains or changes the booster at the same time. This
// class never changes the booster after loading, and it runs one prediction
// during loading so that libxgboost's lazy configuration happens before any
// concurrent call. For gblinear models, which that guarantee does not cover,
// Predict calls are serialized by a mutex.
//
// Errors: kNotFound when `model_json` is missing; kInvalidArgument (with
// libxgboost's message and the path) when libxgboost rejects the file or the
// model's feature count differs from `num_features`; kInternal for any other
// libxgboost failure.
Result<std::unique_ptr<Predictor>> LoadXGBoostPredictor(
    const std::filesystem::path& model_json, size_t num_features,
    const XGBoostPredictorOptions& options = {});

}  // namespace tandem::model
