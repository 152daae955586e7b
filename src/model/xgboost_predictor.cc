#include "model/xgboost_predictor.h"

#include <xgboost/c_api.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <mutex>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "common/json_util.h"
#include "model/xgboost_error.h"

namespace tandem::model {
namespace {

// Normal prediction (transformed output) over all trees; "missing": NaN marks
// absent values (XGBoost's JSON reader accepts the NaN literal). libxgboost
// 1.7 requires "cache_id" for in-place prediction; 0 means no cache.
constexpr std::string_view kPredictConfig =
    R"({"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0, )"
    R"("strict_shape": false, "missing": NaN, "cache_id": 0})";

class XGBoostPredictor final : public Predictor {
 public:
  XGBoostPredictor(BoosterHandle booster, size_t num_features, bool serialize, std::string path)
      : booster_(booster), num_features_(num_features), serialize_(serialize),
        path_(std::move(path)) {}

  ~XGBoostPredictor() override { XGBoosterFree(booster_); }

  XGBoostPredictor(const XGBoostPredictor&) = delete;
  XGBoostPredictor& operator=(const XGBoostPredictor&) = delete;

  std::string_view name() const override { return "libxgboost"; }
  size_t num_features() const override { return num_features_; }

  Status Predict(const float* features, size_t rows, float* out) const override {
    if (rows == 0) return Ok();
    if (serialize_) {
      std::lock_guard<std::mutex> lock(mutex_);
      return PredictUnlocked(features, rows, out);
    }
    return PredictUnlocked(features, rows, out);
  }

 private:
  Status PredictUnlocked(const float* features, size_t rows, float* out) const {
    // __array_interface__ (version 3) describing the caller's buffer; read-only.
    std::string array = fmt::format(
        R"({{"data": [{}, true], "shape": [{}, {}], "typestr": "<f4", "version": 3}})",
        reinterpret_cast<std::uintptr_t>(features), rows, num_features_);
    const bst_ulong* shape = nullptr;
    bst_ulong dims = 0;
    const float* result = nullptr;
    if (XGBoosterPredictFromDense(booster_, array.c_str(), kPredictConfig.data(), nullptr, &shape,
                                  &dims, &result) != 0) {
      return Internal(fmt::format("libxgboost prediction failed for model {}: {}", path_,
                                  LastXGBoostError()));
    }
    size_t count = 1;
    for (bst_ulong d = 0; d < dims; ++d) count *= static_cast<size_t>(shape[d]);
    if (count != rows) {
      return Internal(fmt::format("model {} returned {} values for {} rows; only models with one "
                                  "output per row are supported",
                                  path_, count, rows));
    }
    // `result` is libxgboost's per-thread buffer: copy before the next call.
    std::memcpy(out, result, rows * sizeof(float));
    return Ok();
  }

  BoosterHandle booster_;
  size_t num_features_;
  bool serialize_;
  std::string path_;
  mutable std::mutex mutex_;
};

// Frees the booster unless ownership was passed on.
struct BoosterGuard {
  BoosterHandle handle = nullptr;
  ~BoosterGuard() {
    if (handle != nullptr) XGBoosterFree(handle);
  }
};

// Returns the booster's "gradient_booster.name" ("gbtree", "dart", "gblinear").
Result<std::string> GradientBoosterName(BoosterHandle booster, const std::string& path) {
  bst_ulong length = 0;
  const char* config = nullptr;
  if (XGBoosterSaveJsonConfig(booster, &length, &config) != 0) {
    return Internal(fmt::format("cannot read the configuration of model {}: {}", path,
                                LastXGBoostError()));
  }
  try {
    Json json = Json::parse(std::string_view(config, length));
    return json.at("learner").at("gradient_booster").at("name").get<std::string>();
  } catch (const Json::exception& e) {
    return Internal(fmt::format("model {}: unexpected libxgboost configuration: {}", path, e.what()));
  }
}

}  // namespace

Result<std::unique_ptr<Predictor>> LoadXGBoostPredictor(const std::filesystem::path& model_json,
                                                        size_t num_features,
                                                        const XGBoostPredictorOptions& options) {
  const std::string path = model_json.string();
  std::error_code error;
  if (!std::filesystem::is_regular_file(model_json, error)) {
    return NotFound(fmt::format("model file {} not found", path));
  }

  // Load the model.
  BoosterGuard guard;
  if (XGBoosterCreate(nullptr, 0, &guard.handle) != 0) {
    return Internal(fmt::format("cannot create a libxgboost booster: {}", LastXGBoostError()));
  }
  if (XGBoosterLoadModel(guard.handle, path.c_str()) != 0) {
    return InvalidArgument(fmt::format("libxgboost cannot load model {}: {}", path,
                                       LastXGBoostError()));
  }
  bst_ulong model_features = 0;
  if (XGBoosterGetNumFeature(guard.handle, &model_features) != 0) {
    return Internal(fmt::format("cannot read the feature count of model {}: {}", path,
                                LastXGBoostError()));
  }
  if (model_features != num_features) {
    return InvalidArgument(fmt::format("model {} expects {} features, the feature pipeline "
                                       "gives {}",
                                       path, model_features, num_features));
  }
  if (options.threads_per_call > 0) {
    std::string threads = std::to_string(options.threads_per_call);
    if (XGBoosterSetParam(guard.handle, "nthread", threads.c_str()) != 0) {
      return Internal(fmt::format("cannot set nthread on model {}: {}", path, LastXGBoostError()));
    }
  }
  TANDEM_ASSIGN_OR_RETURN(std::string booster_name, GradientBoosterName(guard.handle, path));
  if (booster_name != "gbtree" && booster_name != "dart") {
    return InvalidArgument(fmt::format("model {} uses booster \"{}\"; libxgboost 1.7 supports "
                                       "in-place prediction only for gbtree and dart",
                                       path, booster_name));
  }
  // NOTE: dart is serialized because libxgboost's thread-safety change for
  // prediction covered gbtree only. Whether 1.7 made dart safe is unverified.
  bool serialize = booster_name != "gbtree";

  // One prediction now, so that libxgboost configures the booster before any
  // concurrent call.
  auto predictor = std::make_unique<XGBoostPredictor>(guard.handle, num_features, serialize, path);
  guard.handle = nullptr;
  std::vector<float> row(num_features, std::numeric_limits<float>::quiet_NaN());
  float ignored = 0;
  TANDEM_RETURN_IF_ERROR(predictor->Predict(row.data(), 1, &ignored));
  return std::unique_ptr<Predictor>(std::move(predictor));
}

}  // namespace tandem::model
