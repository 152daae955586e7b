#include "algorithms/xgboost_booster.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <xgboost/c_api.h>

#include <limits>
#include <mutex>
#include <string>
#include <utility>

#include "model/xgboost_error.h"

namespace tandem::algorithms {
namespace {

using model::LastXGBoostError;

// Forwards libxgboost's own log lines (warnings about parameters, for example)
// to spdlog instead of letting them go to standard error unformatted.
void ForwardXGBoostLog(const char* message) { spdlog::warn("xgboost message={}", message); }

void InstallXGBoostLogCallback() {
  static std::once_flag once;
  std::call_once(once, [] { XGBRegisterLogCallback(&ForwardXGBoostLog); });
}

}  // namespace

Result<DenseDMatrix> DenseDMatrix::Create(std::span<const float> values, uint64_t rows,
                                          uint64_t columns, int nthread) {
  if (values.size() != rows * columns) {
    return InvalidArgument(fmt::format("matrix of {} x {} needs {} values, got {}", rows, columns,
                                       rows * columns, values.size()));
  }
  InstallXGBoostLogCallback();
  DMatrixHandle handle = nullptr;
  if (XGDMatrixCreateFromMat_omp(values.data(), rows, columns, std::numeric_limits<float>::quiet_NaN(),
                                 &handle, nthread) != 0) {
    return Internal(fmt::format("libxgboost could not build a {} x {} matrix: {}", rows, columns,
                                LastXGBoostError()));
  }
  return DenseDMatrix(handle, rows);
}

DenseDMatrix::DenseDMatrix(DenseDMatrix&& other) noexcept
    : handle_(std::exchange(other.handle_, nullptr)), rows_(other.rows_) {}

DenseDMatrix& DenseDMatrix::operator=(DenseDMatrix&& other) noexcept {
  if (this != &other) {
    if (handle_ != nullptr) XGDMatrixFree(handle_);
    handle_ = std::exchange(other.handle_, nullptr);
    rows_ = other.rows_;
  }
  return *this;
}

DenseDMatrix::~DenseDMatrix() {
  if (handle_ != nullptr) XGDMatrixFree(handle_);
}

Status DenseDMatrix::SetLabels(std::span<const float> labels) {
  if (labels.size() != rows_) {
    return InvalidArgument(
        fmt::format("{} labels given for a matrix of {} rows", labels.size(), rows_));
  }
  if (XGDMatrixSetFloatInfo(handle_, "label", labels.data(), labels.size()) != 0) {
    return Internal(fmt::format("libxgboost could not set labels: {}", LastXGBoostError()));
  }
  return Ok();
}

Result<Booster> Booster::Create(const DenseDMatrix& train) {
  InstallXGBoostLogCallback();
  DMatrixHandle cache[] = {train.handle()};
  BoosterHandle handle = nullptr;
  if (XGBoosterCreate(cache, 1, &handle) != 0) {
    return Internal(fmt::format("libxgboost could not create a booster: {}", LastXGBoostError()));
  }
  return Booster(handle);
}

Result<Booster> Booster::Load(const std::filesystem::path& path) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) {
    return NotFound(fmt::format("model file {} not found", path.string()));
  }
  InstallXGBoostLogCallback();
  BoosterHandle handle = nullptr;
  if (XGBoosterCreate(nullptr, 0, &handle) != 0) {
    return Internal(fmt::format("libxgboost could not create a booster: {}", LastXGBoostError()));
  }
  Booster booster(handle);
  if (XGBoosterLoadModel(handle, path.c_str()) != 0) {
    return InvalidArgument(
        fmt::format("libxgboost could not load model file {}: {}", path.string(), LastXGBoostError()));
  }
  return booster;
}

Booster::Booster(Booster&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}

Booster& Booster::operator=(Booster&& other) noexcept {
  if (this != &other) {
    if (handle_ != nullptr) XGBoosterFree(handle_);
    handle_ = std::exchange(other.handle_, nullptr);
  }
  return *this;
}

Booster::~Booster() {
  if (handle_ != nullptr) XGBoosterFree(handle_);
}

Status Booster::SetParam(std::string_view name, std::string_view value) {
  std::string name_text(name);
  std::string value_text(value);
  if (XGBoosterSetParam(handle_, name_text.c_str(), value_text.c_str()) != 0) {
    return InvalidArgument(fmt::format("libxgboost rejected parameter {}={}: {}", name, value,
                                       LastXGBoostError()));
  }
  return Ok();
}

Status Booster::UpdateOneIter(int round, const DenseDMatrix& train) {
  if (XGBoosterUpdateOneIter(handle_, round, train.handle()) != 0) {
    return InvalidArgument(
        fmt::format("libxgboost failed in boosting round {}: {}", round + 1, LastXGBoostError()));
  }
  return Ok();
}

Result<std::vector<float>> Booster::Predict(const DenseDMatrix& data) const {
  static constexpr char kConfig[] =
      R"({"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0, "strict_shape": false})";
  const bst_ulong* shape = nullptr;
  bst_ulong dimensions = 0;
  const float* result = nullptr;
  if (XGBoosterPredictFromDMatrix(handle_, data.handle(), kConfig, &shape, &dimensions, &result) !=
      0) {
    return InvalidArgument(fmt::format("libxgboost prediction failed: {}", LastXGBoostError()));
  }
  bst_ulong count = 1;
  for (bst_ulong i = 0; i < dimensions; ++i) count *= shape[i];
  if (count != data.rows()) {
    return Internal(fmt::format("libxgboost returned {} predictions for {} rows; only "
                                "single-output objectives are supported",
                                count, data.rows()));
  }
  return std::vector<float>(result, result + count);
}

Status Booster::SaveModel(const std::filesystem::path& path) const {
  if (XGBoosterSaveModel(handle_, path.c_str()) != 0) {
    return Internal(
        fmt::format("libxgboost could not save the model to {}: {}", path.string(), LastXGBoostError()));
  }
  return Ok();
}

}  // namespace tandem::algorithms
