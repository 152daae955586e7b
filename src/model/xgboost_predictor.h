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
// libxgboost's per-thread buffer before returning. For gbtree models the
// results equal XGBoosterPredictFromDMatrix bit for bit (tested). For dart
// models they may differ from it in the last bits, so self-test expectations
// must come from this predictor, not from DMatrix prediction.
//
// Thread safety: since 1.4, libxgboost's prediction on a gbtree booster is
// thread-safe while nothing trains or changes the booster; its authors said
// then that dart was not yet covered. This class never changes the booster
// after loading, and it runs one prediction during loading so that
// libxgboost's lazy configuration happens before any concurrent call. gbtree
// models are predicted concurrently (tested with 4 threads), and dart models
// are serialized by a mutex.
//
// Errors: kNotFound when `model_json` is missing. kInvalidArgument, with
// libxgboost's message and the path, when libxgboost rejects the file or the
// model's feature count differs from `num_features`. kInvalidArgument too
// for a booster other than gbtree or dart, because libxgboost 1.7 has no
// in-place prediction for gblinear. kInternal for other libxgboost failures.
Result<std::unique_ptr<Predictor>> LoadXGBoostPredictor(
    const std::filesystem::path& model_json, size_t num_features,
    const XGBoostPredictorOptions& options = {});

}  // namespace tandem::model
