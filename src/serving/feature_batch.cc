#include "serving/feature_batch.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <optional>

#include "model/csv.h"

namespace tandem::serving {
namespace {

using model::FeaturePipeline;
using model::InputField;

std::string FieldList(const std::vector<InputField>& schema) {
  std::string names;
  for (const InputField& field : schema) {
    if (!names.empty()) names.append(", ");
    names.append(fmt::format("\"{}\" ({})", field.name, field.type));
  }
  return names;
}

// Returns the index in the pipeline's spec of the feature that reads field
// `name`, or std::nullopt. `hint` is tried first, because clients mostly send
// the fields in schema order.
std::optional<size_t> FindFeature(const model::FeaturePipelineSpec& spec, std::string_view name,
                                  size_t hint) {
  if (hint < spec.features.size() && spec.features[hint].field == name) return hint;
  for (size_t i = 0; i < spec.features.size(); ++i) {
    if (spec.features[i].field == name) return i;
  }
  return std::nullopt;
}

std::unexpected<Error> EmptyBatch(const InferInput& input) {
  return InvalidArgument(
      fmt::format("input \"{}\": empty batch (shape {}), expected at least "
                  "one row",
                  input.name, FormatShape(input.shape)));
}

// Returns true when the request carries encoded features rather than raw fields.
Result<bool> IsEncodedForm(const InferRequest& request, const FeaturePipeline& pipeline) {
  bool all_raw = true;
  const InferInput* unknown = nullptr;
  for (size_t i = 0; i < request.inputs.size(); ++i) {
    const InferInput& input = request.inputs[i];
    if (FindFeature(pipeline.spec(), input.name, i)) continue;
    all_raw = false;
    if (input.name == kFeaturesInput) {
      if (request.inputs.size() > 1) {
        return InvalidArgument(
            "input \"features\": encoded features must be the only input of a request");
      }
      return true;
    }
    if (unknown == nullptr) unknown = &input;
  }
  if (all_raw) return false;
  if (request.inputs.size() == 1 && unknown->shape.size() == 2) return true;
  return InvalidArgument(
      fmt::format("unknown input \"{}\"; expected the raw fields {}, or one "
                  "input \"features\" of shape [n, num_features]",
                  unknown->name, FieldList(pipeline.InputSchema())));
}

Status EncodedFeatures(const InferInput& input, size_t num_features, FeatureBatch& batch) {
  if (input.datatype == DataType::kBytes) {
    return InvalidArgument(
        fmt::format("input \"{}\": datatype BYTES cannot hold encoded "
                    "features; send FP32",
                    input.name));
  }
  if (input.shape.size() != 2 || input.shape[1] != static_cast<int64_t>(num_features)) {
    return InvalidArgument(
        fmt::format("input \"{}\": shape {} does not match [n, {}] (n rows "
                    "of {} encoded features)",
                    input.name, FormatShape(input.shape), num_features, num_features));
  }
  if (input.shape[0] == 0) return EmptyBatch(input);

  batch.rows = static_cast<size_t>(input.shape[0]);
  batch.values.resize(input.numbers.size());
  for (size_t i = 0; i < input.numbers.size(); ++i) {
    float value = static_cast<float>(input.numbers[i]);
    if (std::isinf(value)) {
      return InvalidArgument(
          fmt::format("input \"{}\": row {} column {}: {} is outside the "
                      "float32 range",
                      input.name, i / num_features, i % num_features, input.numbers[i]));
    }
    batch.values[i] = value;
  }
  return Ok();
}

// The raw field type ("number", "string" or "datetime") a feature reads.
std::string_view FieldType(model::FeatureKind kind) {
  switch (kind) {
    case model::FeatureKind::kNumeric:
      return "number";
    case model::FeatureKind::kDatetime:
      return "datetime";
    case model::FeatureKind::kCategorical:
      break;
  }
  return "string";
}

// Checks one raw-field tensor and returns its row count.
Result<size_t> RawInputRows(const InferInput& input, model::FeatureKind kind) {
  const bool wants_bytes = kind != model::FeatureKind::kNumeric;
  if (wants_bytes != (input.datatype == DataType::kBytes)) {
    return InvalidArgument(
        fmt::format("input \"{}\": datatype {} does not fit raw field type "
                    "{}; send {}",
                    input.name, DataTypeName(input.datatype), FieldType(kind),
                    wants_bytes ? "BYTES" : "FP32, FP64 or an integer type"));
  }
  const bool column = input.shape.size() == 1 || (input.shape.size() == 2 && input.shape[1] == 1);
  if (!column) {
    return InvalidArgument(
        fmt::format("input \"{}\": shape {} is not [n] or [n, 1]; a raw "
                    "field takes one value per row",
                    input.name, FormatShape(input.shape)));
  }
  if (input.shape[0] == 0) return EmptyBatch(input);
  return static_cast<size_t>(input.shape[0]);
}

// Returns the tensor of each feature in spec order. Errors: a tensor that does
// not fit its field, row counts that differ, a field without a tensor.
Result<size_t> MatchRawInputs(const InferRequest& request, const FeaturePipeline& pipeline,
                              std::vector<const InferInput*>& by_feature) {
  const model::FeaturePipelineSpec& spec = pipeline.spec();
  by_feature.assign(spec.features.size(), nullptr);
  size_t rows = 0;
  for (size_t i = 0; i < request.inputs.size(); ++i) {
    const InferInput& input = request.inputs[i];
    // IsEncodedForm found every input among the fields.
    const size_t feature = *FindFeature(spec, input.name, i);
    TANDEM_ASSIGN_OR_RETURN(size_t input_rows, RawInputRows(input, spec.features[feature].kind));
    if (rows != 0 && input_rows != rows) {
      return InvalidArgument(fmt::format("input \"{}\": has {} rows but input \"{}\" has {}",
                                         input.name, input_rows, request.inputs[0].name, rows));
    }
    rows = input_rows;
    by_feature[feature] = &input;
  }
  for (size_t feature = 0; feature < spec.features.size(); ++feature) {
    if (by_feature[feature] != nullptr) continue;
    const model::FeatureSpec& field = spec.features[feature];
    return InvalidArgument(
        fmt::format("missing input \"{}\" (raw field of type {}); a raw "
                    "record request has one tensor per field: {}",
                    field.field, FieldType(field.kind), FieldList(pipeline.InputSchema())));
  }
  return rows;
}

// Buffers of one thread, reused between requests so that a request of the
// usual size allocates nothing here.
struct RawScratch {
  std::vector<const InferInput*> by_feature;
  std::vector<model::RawFieldValue> values;
};

Status RawFeatures(const InferRequest& request, const FeaturePipeline& pipeline,
                   FeatureBatch& batch) {
  // Step 1: find each field's tensor, check it and agree on the row count.
  thread_local RawScratch scratch;
  TANDEM_ASSIGN_OR_RETURN(size_t rows, MatchRawInputs(request, pipeline, scratch.by_feature));

  // Step 2: run the pipeline on each row, its values read straight from the tensors.
  const size_t width = pipeline.num_features();
  const size_t fields = scratch.by_feature.size();
  scratch.values.resize(fields);
  batch.rows = rows;
  batch.values.resize(rows * width);
  for (size_t row = 0; row < rows; ++row) {
    for (size_t i = 0; i < fields; ++i) {
      const InferInput& input = *scratch.by_feature[i];
      if (input.datatype == DataType::kBytes) {
        const std::optional<std::string>& text = input.strings[row];
        scratch.values[i] = text ? model::RawFieldValue::Text(*text) : model::RawFieldValue::Null();
      } else {
        // A number reads as a JSON floating-point number would; NaN is a JSON null.
        const double number = input.numbers[row];
        scratch.values[i] = std::isnan(number) ? model::RawFieldValue::Null()
                                               : model::RawFieldValue::Number(number);
      }
    }
    Status status = pipeline.TransformValues(
        scratch.values, std::span<float>(batch.values).subspan(row * width, width));
    if (!status) return std::unexpected(status.error().WithContext(fmt::format("row {}", row)));
  }
  return Ok();
}

}  // namespace

Status FeaturesFromInferRequest(const InferRequest& request, const FeaturePipeline& pipeline,
                                FeatureBatch& batch) {
  if (request.inputs.empty()) return InvalidArgument("inputs: empty, expected at least one tensor");
  TANDEM_ASSIGN_OR_RETURN(bool encoded, IsEncodedForm(request, pipeline));
  if (encoded) return EncodedFeatures(request.inputs[0], pipeline.num_features(), batch);
  return RawFeatures(request, pipeline, batch);
}

Result<FeatureBatch> FeaturesFromInferRequest(const InferRequest& request,
                                              const FeaturePipeline& pipeline) {
  FeatureBatch batch;
  TANDEM_RETURN_IF_ERROR(FeaturesFromInferRequest(request, pipeline, batch));
  return batch;
}

Status CheckRequestedOutputs(const InferRequest& request) {
  for (const std::string& name : request.outputs) {
    if (name != kPredictionOutput) {
      return InvalidArgument(
          fmt::format("unknown output \"{}\"; this model has one output, "
                      "\"prediction\"",
                      name));
    }
  }
  return Ok();
}

Result<FeatureBatch> FeaturesFromRecords(std::span<const Json> records,
                                         const FeaturePipeline& pipeline) {
  if (records.empty()) return InvalidArgument("request body: empty batch, expected records");
  const size_t width = pipeline.num_features();
  FeatureBatch batch;
  batch.rows = records.size();
  batch.values.resize(records.size() * width);
  for (size_t row = 0; row < records.size(); ++row) {
    Status status = pipeline.TransformJson(
        records[row], std::span<float>(batch.values).subspan(row * width, width));
    if (!status) return std::unexpected(status.error().WithContext(fmt::format("record {}", row)));
  }
  return batch;
}

Result<FeatureBatch> FeaturesFromCsv(std::string_view body, const FeaturePipeline& pipeline) {
  const size_t width = pipeline.num_features();
  const std::vector<InputField> schema = pipeline.InputSchema();
  const model::CsvLayout layout = pipeline.InputOrderLayout();
  FeatureBatch batch;
  Status row_status = Ok();
  auto on_record = [&](const model::CsvRecord& record) {
    if (record.fields.size() != schema.size()) {
      row_status = InvalidArgument(
          fmt::format("request body line {}: row has {} fields, "
                      "expected {}: {}",
                      record.line, record.fields.size(), schema.size(), FieldList(schema)));
      return false;
    }
    batch.values.resize((batch.rows + 1) * width);
    row_status =
        pipeline.TransformCsv(layout, record.fields, "request body", record.line,
                              std::span<float>(batch.values).subspan(batch.rows * width, width));
    ++batch.rows;
    return row_status.has_value();
  };
  Result<model::CsvReadSummary> summary = model::ParseCsvText(body, "request body", on_record);
  if (!summary) return std::unexpected(summary.error());
  if (!row_status) return std::unexpected(row_status.error());
  if (batch.rows == 0) return InvalidArgument("request body: empty batch, expected CSV rows");
  return batch;
}

}  // namespace tandem::serving
