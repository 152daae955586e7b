// Builds small but real model packages for the serving tests: a feature
// pipeline fitted on synthetic flight records, an XGBoost booster trained on
// them with the libxgboost C API, and a manifest with self-test cases.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "common/json_util.h"
#include "common/status.h"

namespace tandem::serving::testing {

// Raw fields: distance (number), origin (string), dep (datetime
// "%Y-%m-%d %H:%M", parts hour and day_of_week) -> 4 model inputs.
struct TestPackageOptions {
  std::string model_name = "flights-delay";
  // When set, the first self-test case expects a value the model never gives,
  // so loading the package fails its self-tests.
  bool wrong_self_test = false;
  // Boosting rounds (trees); packages with different rounds predict differently.
  int rounds = 20;
  // "gbtree", or "dart" for a model the compiled tree evaluator does not support.
  std::string booster = "gbtree";
};

// Returns synthetic raw record `index` (deterministic).
Json TestRecord(int index);

// Writes manifest.json and model.json into `dir` (created if missing).
Status BuildTestPackage(const std::filesystem::path& dir, const TestPackageOptions& options = {});

// A fresh directory under the system temporary directory, removed with its
// content when the object is destroyed.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace tandem::serving::testing
