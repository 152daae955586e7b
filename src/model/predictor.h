// The interface every model evaluator implements (libxgboost today, a
// compiled tree evaluator later), so that serving and evaluation code does not
// depend on which one runs.
#pragma once

#include <cstddef>
#include <string_view>

#include "common/status.h"

namespace tandem::model {

// Thread safety: implementations allow Predict to be called from many
// threads at once on the same object.
class Predictor {
 public:
  virtual ~Predictor() = default;

  // Short name of the implementation, for logs and metrics ("libxgboost").
  virtual std::string_view name() const = 0;

  // Number of float32 inputs per row.
  virtual size_t num_features() const = 0;

  // Predicts `rows` rows. `features` holds rows x num_features() float32
  // values, row-major, with NaN for a missing value; writes `rows` values
  // (the objective's transformed output) to `out`. rows == 0 writes nothing.
  // The caller owns both buffers; they are not retained after the call.
  virtual Status Predict(const float* features, size_t rows, float* out) const = 0;
};

}  // namespace tandem::model
