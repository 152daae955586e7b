#include "model/manifest.h"

#include <cmath>

#include <fmt/format.h>

namespace tandem::model {
namespace {

bool IsAlphanumeric(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// Model names follow the job name rule: 1-63 characters, letters, digits and
// '-', starting and ending with a letter or digit.
Status ValidateModelName(std::string_view name, std::string_view path) {
  bool valid = !name.empty() && name.size() <= 63 && IsAlphanumeric(name.front()) &&
               IsAlphanumeric(name.back());
  for (char c : name) valid = valid && (IsAlphanumeric(c) || c == '-');
  if (valid) return Ok();
  return InvalidArgument(fmt::format(
      "{}: \"{}\" is not a valid model name; use 1-63 letters, digits and '-', starting and "
      "ending with a letter or digit",
      path, name));
}

// The model file is opened as dir/ModelFile, so it must be a plain file name.
Status ValidateModelFile(std::string_view file, std::string_view path) {
  bool valid = !file.empty() && file.size() <= 255 && file != "." && file != ".." &&
               file != kManifestFileName && file.find('/') == std::string_view::npos &&
               file.find('\0') == std::string_view::npos;
  if (valid) return Ok();
  return InvalidArgument(fmt::format(
      "{}: \"{}\" is not a plain file name inside the package (no '/', not \"..\" or {})", path,
      file, kManifestFileName));
}

Status ValidateDigest(std::string_view digest, std::string_view path) {
  constexpr std::string_view kPrefix = "sha256:";
  bool valid = digest.starts_with(kPrefix) && digest.size() == kPrefix.size() + 64;
  for (char c : digest.substr(std::min(digest.size(), kPrefix.size()))) {
    valid = valid && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
  }
  if (valid) return Ok();
  return InvalidArgument(fmt::format(
      "{}: \"{}\" is not a digest; expected \"sha256:\" followed by 64 lower-case hex digits",
      path, digest));
}

Result<const Json*> RequireArray(const Json& object, std::string_view key, std::string_view path) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_array()) {
    return InvalidArgument(fmt::format("{}: expected an array, got {}", JoinPath(path, key),
                                       it == object.end() ? "nothing" : JsonTypeName(*it)));
  }
  return &*it;
}

// Returns the object at `key`, or nullptr when it is absent or null.
Result<const Json*> OptionalObject(const Json& object, std::string_view key,
                                   std::string_view path) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  TANDEM_RETURN_IF_ERROR(RequireObject(*it, JoinPath(path, key)));
  return &*it;
}

Result<std::map<std::string, std::string>> ParseStringMap(const Json& object, std::string_view key,
                                                          std::string_view path) {
  std::map<std::string, std::string> result;
  TANDEM_ASSIGN_OR_RETURN(const Json* map, OptionalObject(object, key, path));
  if (map == nullptr) return result;
  std::string map_path = JoinPath(path, key);
  for (const auto& [name, value] : map->items()) {
    if (!value.is_string()) {
      return InvalidArgument(fmt::format("{}: expected a string, got {}", JoinPath(map_path, name),
                                         JsonTypeName(value)));
    }
    result.emplace(name, value.get<std::string>());
  }
  return result;
}

Result<std::vector<InputField>> ParseInputSchema(const Json& json) {
  TANDEM_ASSIGN_OR_RETURN(const Json* array, RequireArray(json, "InputSchema", ""));
  std::vector<InputField> schema;
  for (size_t i = 0; i < array->size(); ++i) {
    std::string path = fmt::format("InputSchema[{}]", i);
    const Json& item = (*array)[i];
    TANDEM_RETURN_IF_ERROR(RequireObject(item, path));
    TANDEM_RETURN_IF_ERROR(RejectUnknownFields(item, path, {"Name", "Type"}));
    InputField field;
    TANDEM_ASSIGN_OR_RETURN(field.name, GetString(item, "Name", path));
    TANDEM_ASSIGN_OR_RETURN(field.type, GetString(item, "Type", path));
    if (field.type != "number" && field.type != "string" && field.type != "datetime") {
      return InvalidArgument(fmt::format("{}.Type: unknown type \"{}\", expected number, string "
                                         "or datetime",
                                         path, field.type));
    }
    schema.push_back(std::move(field));
  }
  return schema;
}

Result<std::vector<OutputField>> ParseOutputSchema(const Json& json) {
  TANDEM_ASSIGN_OR_RETURN(const Json* array, RequireArray(json, "OutputSchema", ""));
  std::vector<OutputField> schema;
  for (size_t i = 0; i < array->size(); ++i) {
    std::string path = fmt::format("OutputSchema[{}]", i);
    const Json& item = (*array)[i];
    TANDEM_RETURN_IF_ERROR(RequireObject(item, path));
    TANDEM_RETURN_IF_ERROR(RejectUnknownFields(item, path, {"Name", "Datatype"}));
    OutputField field;
    TANDEM_ASSIGN_OR_RETURN(field.name, GetString(item, "Name", path));
    TANDEM_ASSIGN_OR_RETURN(field.datatype, GetString(item, "Datatype", path));
    schema.push_back(std::move(field));
  }
  // An XGBoost regression model has exactly one float32 output.
  if (schema != std::vector<OutputField>{{"prediction", "FP32"}}) {
    return InvalidArgument(
        "OutputSchema: expected [{\"Name\": \"prediction\", \"Datatype\": \"FP32\"}]");
  }
  return schema;
}

Result<std::vector<std::string>> ParseFeatureNames(const Json& json) {
  TANDEM_ASSIGN_OR_RETURN(const Json* array, RequireArray(json, "FeatureNames", ""));
  std::vector<std::string> names;
  for (size_t i = 0; i < array->size(); ++i) {
    if (!(*array)[i].is_string()) {
      return InvalidArgument(fmt::format("FeatureNames[{}]: expected a string, got {}", i,
                                         JsonTypeName((*array)[i])));
    }
    names.push_back((*array)[i].get<std::string>());
  }
  return names;
}

Result<std::map<std::string, double>> ParseMetrics(const Json& json) {
  std::map<std::string, double> metrics;
  TANDEM_ASSIGN_OR_RETURN(const Json* object, OptionalObject(json, "Metrics", ""));
  if (object == nullptr) return metrics;
  for (const auto& [name, value] : object->items()) {
    if (!value.is_number()) {
      return InvalidArgument(fmt::format("Metrics.{}: expected a number, got {}", name,
                                         JsonTypeName(value)));
    }
    metrics.emplace(name, value.get<double>());
  }
  return metrics;
}

Result<Lineage> ParseLineage(const Json& json) {
  Lineage lineage;
  TANDEM_ASSIGN_OR_RETURN(const Json* object, OptionalObject(json, "Lineage", ""));
  if (object == nullptr) return lineage;
  constexpr std::string_view kPath = "Lineage";
  TANDEM_RETURN_IF_ERROR(RejectUnknownFields(
      *object, kPath,
      {"JobId", "TrainingJobName", "Repository", "DataDigests", "HyperParameters",
       "RuntimeVersion", "CreatedAt"}));
  TANDEM_ASSIGN_OR_RETURN(auto job_id, GetOptionalString(*object, "JobId", kPath));
  TANDEM_ASSIGN_OR_RETURN(auto job_name, GetOptionalString(*object, "TrainingJobName", kPath));
  TANDEM_ASSIGN_OR_RETURN(auto repository, GetOptionalString(*object, "Repository", kPath));
  TANDEM_ASSIGN_OR_RETURN(auto runtime, GetOptionalString(*object, "RuntimeVersion", kPath));
  TANDEM_ASSIGN_OR_RETURN(auto created_at, GetOptionalString(*object, "CreatedAt", kPath));
  lineage.job_id = job_id.value_or("");
  lineage.training_job_name = job_name.value_or("");
  lineage.repository = repository.value_or("");
  lineage.runtime_version = runtime.value_or("");
  lineage.created_at = created_at.value_or("");
  TANDEM_ASSIGN_OR_RETURN(lineage.data_digests, ParseStringMap(*object, "DataDigests", kPath));
  for (const auto& [channel, digest] : lineage.data_digests) {
    TANDEM_RETURN_IF_ERROR(ValidateDigest(digest, fmt::format("Lineage.DataDigests.{}", channel)));
  }
  TANDEM_ASSIGN_OR_RETURN(lineage.hyper_parameters,
                          ParseStringMap(*object, "HyperParameters", kPath));
  return lineage;
}

Result<std::vector<SelfTestCase>> ParseSelfTests(const Json& json) {
  std::vector<SelfTestCase> cases;
  auto it = json.find("SelfTests");
  if (it == json.end() || it->is_null()) return cases;
  TANDEM_ASSIGN_OR_RETURN(const Json* array, RequireArray(json, "SelfTests", ""));
  for (size_t i = 0; i < array->size(); ++i) {
    std::string path = fmt::format("SelfTests[{}]", i);
    const Json& item = (*array)[i];
    TANDEM_RETURN_IF_ERROR(RequireObject(item, path));
    TANDEM_RETURN_IF_ERROR(RejectUnknownFields(item, path, {"Record", "Expected"}));
    auto record = item.find("Record");
    if (record == item.end() || !record->is_object()) {
      return InvalidArgument(fmt::format("{}.Record: expected an object, got {}", path,
                                         record == item.end() ? "nothing" : JsonTypeName(*record)));
    }
    TANDEM_ASSIGN_OR_RETURN(double expected, GetNumber(item, "Expected", path));
    cases.push_back({*record, expected});
  }
  return cases;
}

Json SchemaToJson(const std::vector<InputField>& schema) {
  Json array = Json::array();
  for (const InputField& field : schema) array.push_back({{"Name", field.name}, {"Type", field.type}});
  return array;
}

}  // namespace

Json ModelManifest::ToJson() const {
  Json outputs = Json::array();
  for (const OutputField& field : output_schema) {
    outputs.push_back({{"Name", field.name}, {"Datatype", field.datatype}});
  }
  Json tests = Json::array();
  for (const SelfTestCase& test : self_tests) {
    tests.push_back({{"Record", test.record}, {"Expected", test.expected}});
  }
  Json lineage_json = {
      {"JobId", lineage.job_id},
      {"TrainingJobName", lineage.training_job_name},
      {"Repository", lineage.repository},
      {"DataDigests", lineage.data_digests},
      {"HyperParameters", lineage.hyper_parameters},
      {"RuntimeVersion", lineage.runtime_version},
      {"CreatedAt", lineage.created_at},
  };
  return {
      {"FormatVersion", format_version},
      {"ModelName", model_name},
      {"Framework", framework},
      {"ModelFile", model_file},
      {"Objective", objective},
      {"InputSchema", SchemaToJson(input_schema)},
      {"OutputSchema", std::move(outputs)},
      {"FeaturePipeline", feature_pipeline.ToJson()},
      {"FeatureNames", feature_names},
      {"Metrics", Json(metrics)},
      {"Lineage", std::move(lineage_json)},
      {"SelfTests", std::move(tests)},
      {"SelfTestTolerance", self_test_tolerance},
  };
}

Result<ModelManifest> ModelManifest::FromJson(const Json& json) {
  // Step 1: shape and identity.
  TANDEM_RETURN_IF_ERROR(RequireObject(json, "manifest"));
  TANDEM_RETURN_IF_ERROR(RejectUnknownFields(
      json, "",
      {"FormatVersion", "ModelName", "Framework", "ModelFile", "Objective", "InputSchema",
       "OutputSchema", "FeaturePipeline", "FeatureNames", "Metrics", "Lineage", "SelfTests",
       "SelfTestTolerance"}));
  ModelManifest manifest;
  TANDEM_ASSIGN_OR_RETURN(int64_t version, GetInt(json, "FormatVersion", ""));
  if (version != kManifestFormatVersion) {
    return InvalidArgument(fmt::format("FormatVersion: unsupported version {}; this build reads "
                                       "version {}",
                                       version, kManifestFormatVersion));
  }
  TANDEM_ASSIGN_OR_RETURN(manifest.model_name, GetString(json, "ModelName", ""));
  TANDEM_RETURN_IF_ERROR(ValidateModelName(manifest.model_name, "ModelName"));
  TANDEM_ASSIGN_OR_RETURN(manifest.framework, GetString(json, "Framework", ""));
  if (manifest.framework != "xgboost") {
    return InvalidArgument(fmt::format("Framework: unsupported framework \"{}\", expected xgboost",
                                       manifest.framework));
  }
  TANDEM_ASSIGN_OR_RETURN(manifest.model_file, GetString(json, "ModelFile", ""));
  TANDEM_RETURN_IF_ERROR(ValidateModelFile(manifest.model_file, "ModelFile"));
  TANDEM_ASSIGN_OR_RETURN(manifest.objective, GetString(json, "Objective", ""));
  if (manifest.objective.empty()) return InvalidArgument("Objective: must not be empty");

  // Step 2: inputs, outputs and the pipeline, which must agree.
  TANDEM_ASSIGN_OR_RETURN(manifest.input_schema, ParseInputSchema(json));
  TANDEM_ASSIGN_OR_RETURN(manifest.output_schema, ParseOutputSchema(json));
  if (!json.contains("FeaturePipeline")) return InvalidArgument("FeaturePipeline: missing");
  TANDEM_ASSIGN_OR_RETURN(manifest.feature_pipeline,
                          FeaturePipeline::FromJson(json["FeaturePipeline"], "FeaturePipeline"));
  TANDEM_ASSIGN_OR_RETURN(manifest.feature_names, ParseFeatureNames(json));
  if (manifest.input_schema != manifest.feature_pipeline.InputSchema()) {
    return InvalidArgument(fmt::format(
        "InputSchema: {} does not match the feature pipeline's fields {}",
        DumpJson(SchemaToJson(manifest.input_schema)),
        DumpJson(SchemaToJson(manifest.feature_pipeline.InputSchema()))));
  }
  if (manifest.feature_names != manifest.feature_pipeline.FeatureNames()) {
    return InvalidArgument(fmt::format("FeatureNames: {} does not match the feature pipeline's "
                                       "outputs {}",
                                       DumpJson(Json(manifest.feature_names)),
                                       DumpJson(Json(manifest.feature_pipeline.FeatureNames()))));
  }

  // Step 3: metrics, lineage and self-tests.
  TANDEM_ASSIGN_OR_RETURN(manifest.metrics, ParseMetrics(json));
  TANDEM_ASSIGN_OR_RETURN(manifest.lineage, ParseLineage(json));
  TANDEM_ASSIGN_OR_RETURN(manifest.self_tests, ParseSelfTests(json));
  TANDEM_ASSIGN_OR_RETURN(std::optional<double> tolerance,
                          GetOptionalNumber(json, "SelfTestTolerance", ""));
  manifest.self_test_tolerance = tolerance.value_or(0);
  if (!(manifest.self_test_tolerance >= 0) || !std::isfinite(manifest.self_test_tolerance)) {
    return InvalidArgument(fmt::format("SelfTestTolerance: {} is invalid, expected a finite "
                                       "number >= 0",
                                       manifest.self_test_tolerance));
  }
  return manifest;
}

Result<ModelManifest> ModelManifest::Parse(std::string_view text, std::string_view source) {
  TANDEM_ASSIGN_OR_RETURN(Json json, ParseJson(text, source));
  Result<ModelManifest> manifest = FromJson(json);
  if (!manifest) return std::unexpected(manifest.error().WithContext(source));
  return manifest;
}

}  // namespace tandem::model
