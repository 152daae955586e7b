// The model package manifest (manifest.json): what a model is, which raw
// inputs it takes, the fitted feature pipeline, metrics, lineage and the
// self-test cases that a server runs after loading it.
//
// A manifest may come from outside (an uploaded package), so parsing is
// strict: unknown keys, missing fields and wrong types are rejected with an
// error naming the path ("Lineage.DataDigests.train: expected \"sha256:\"
// followed by 64 hex digits").
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_util.h"
#include "common/status.h"
#include "model/feature_pipeline.h"

namespace tandem::model {

inline constexpr int kManifestFormatVersion = 1;
inline constexpr std::string_view kManifestFileName = "manifest.json";
inline constexpr std::string_view kDefaultModelFileName = "model.json";

// One model output; today always {"prediction", "FP32"}.
struct OutputField {
  std::string name;
  std::string datatype;

  bool operator==(const OutputField&) const = default;
};

struct Lineage {
  std::string job_id;
  std::string training_job_name;
  std::string repository;
  std::map<std::string, std::string> data_digests;      // channel -> "sha256:<64 hex>"
  std::map<std::string, std::string> hyper_parameters;  // as in the job spec
  std::string runtime_version;                          // tandem version that trained
  std::string created_at;                               // ISO 8601 UTC
};

// A raw record and the prediction the packaged model must give for it.
struct SelfTestCase {
  Json record;      // an object: field -> string, number or null
  double expected;  // the float32 prediction, stored exactly as a double
};

struct ModelManifest {
  int format_version = kManifestFormatVersion;
  std::string model_name;
  std::string framework = "xgboost";
  std::string model_file = std::string(kDefaultModelFileName);
  std::string objective;  // for example "reg:squarederror"
  std::vector<InputField> input_schema;
  std::vector<OutputField> output_schema = {{"prediction", "FP32"}};
  FeaturePipeline feature_pipeline;
  std::vector<std::string> feature_names;
  std::map<std::string, double> metrics;  // Rmse, Mae, BaselineRmse, TrainRows, ...
  Lineage lineage;
  std::vector<SelfTestCase> self_tests;
  // Maximum absolute difference allowed in self-tests; 0 means the float32
  // values must be equal.
  double self_test_tolerance = 0;

  // Returns the manifest's JSON form (PascalCase keys as in manifest.json).
  Json ToJson() const;

  // Parses and validates a manifest. Errors (kInvalidArgument) name the path:
  // FormatVersion other than 1, Framework other than "xgboost", a ModelFile
  // that is not a plain file name, a ModelName that breaks the name rules, an
  // InputSchema or FeatureNames that differs from the feature pipeline's, a
  // malformed digest, a non-object self-test record, a negative tolerance,
  // an unknown key.
  static Result<ModelManifest> FromJson(const Json& json);

  // Parses manifest.json text; `source` names it in errors (a file path).
  static Result<ModelManifest> Parse(std::string_view text, std::string_view source);
};

}  // namespace tandem::model
