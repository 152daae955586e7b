// Owning wrappers over libxgboost's C API (libxgboost 1.7): a dense training
// matrix and a booster, with errors as Status values that carry libxgboost's
// own message (XGBGetLastError).
//
// Thread safety: one thread per object at a time. libxgboost itself runs
// `nthread` worker threads inside each call.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace tandem::algorithms {

// A libxgboost DMatrix built from a row-major float32 matrix in which NaN marks
// a missing value. libxgboost copies the values, so the source may be freed.
class DenseDMatrix {
 public:
  // Builds a rows x columns matrix from `values` (size rows * columns) with
  // `nthread` threads. Errors: kInvalidArgument when the size does not match,
  // kInternal when libxgboost fails.
  static Result<DenseDMatrix> Create(std::span<const float> values, uint64_t rows,
                                     uint64_t columns, int nthread);

  DenseDMatrix(DenseDMatrix&& other) noexcept;
  DenseDMatrix& operator=(DenseDMatrix&& other) noexcept;
  DenseDMatrix(const DenseDMatrix&) = delete;
  DenseDMatrix& operator=(const DenseDMatrix&) = delete;
  ~DenseDMatrix();

  // Sets the training labels, one per row. Errors: kInvalidArgument when the
  // count differs from the row count, kInternal when libxgboost fails.
  Status SetLabels(std::span<const float> labels);

  uint64_t rows() const { return rows_; }
  void* handle() const { return handle_; }

 private:
  DenseDMatrix(void* handle, uint64_t rows) : handle_(handle), rows_(rows) {}
  void* handle_ = nullptr;
  uint64_t rows_ = 0;
};

// A libxgboost booster (gbtree).
class Booster {
 public:
  // Creates a booster that caches `train` for training. `train` must outlive
  // the booster's training calls. Errors: kInternal.
  static Result<Booster> Create(const DenseDMatrix& train);

  // Creates a booster and loads a model file (.json or .ubj) into it.
  // Errors: kNotFound when the file is missing, kInvalidArgument when libxgboost
  // cannot parse it.
  static Result<Booster> Load(const std::filesystem::path& path);

  Booster(Booster&& other) noexcept;
  Booster& operator=(Booster&& other) noexcept;
  Booster(const Booster&) = delete;
  Booster& operator=(const Booster&) = delete;
  ~Booster();

  // Sets one parameter. Errors: kInvalidArgument naming the parameter, with
  // libxgboost's message.
  Status SetParam(std::string_view name, std::string_view value);

  // Runs boosting round `round` (0-based) on `train`. libxgboost checks the
  // parameters and labels here, so its errors (labels outside [0, 1] for
  // binary:logistic, say) come back as kInvalidArgument with its message.
  Status UpdateOneIter(int round, const DenseDMatrix& train);

  // Returns one transformed prediction per row of `data` (for example a
  // probability for binary:logistic). Errors: kInternal, or kInvalidArgument
  // when the matrix has a different number of columns than the model.
  Result<std::vector<float>> Predict(const DenseDMatrix& data) const;

  // Saves the model; a path ending in ".json" gives XGBoost's JSON format.
  // Errors: kInternal naming the path.
  Status SaveModel(const std::filesystem::path& path) const;

 private:
  explicit Booster(void* handle) : handle_(handle) {}
  void* handle_ = nullptr;
};

}  // namespace tandem::algorithms
