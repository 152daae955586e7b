#include "serving/feature_batch.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

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

const InputField* FindField(const std::vector<InputField>& schema, std::string_view name) {
  for (const InputField& field : schema) {
    if (field.name == name) return &field;
  }
  return nullptr;
}

std::unexpected<Error> EmptyBatch(const InferInput& input) {
  return InvalidArgument(
      fmt::format("input \"{}\": empty batch (shape {}), expected at least "
                  "one row",
                  input.name, FormatShape(input.shape)));
}

// Returns true when the request carries encoded features rather than raw fields.
Result<bool> IsEncodedForm(const InferRequest& request, const std::vector<InputField>& schema) {
  bool all_raw = true;
  const InferInput* unknown = nullptr;
  for (const InferInput& input : request.inputs) {
    if (FindField(schema, input.name) != nullptr) continue;
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
                  unknown->name, FieldList(schema)));
}

Result<FeatureBatch> EncodedFeatures(const InferInput& input, size_t num_features) {
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

  FeatureBatch batch;
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
  return batch;
}

// Checks one raw-field tensor and returns its row count.
Result<size_t> RawInputRows(const InferInput& input, const InputField& field) {
  const bool wants_bytes = field.type != "number";
  if (wants_bytes != (input.datatype == DataType::kBytes)) {
    return InvalidArgument(
        fmt::format("input \"{}\": datatype {} does not fit raw field type "
                    "{}; send {}",
                    input.name, DataTypeName(input.datatype), field.type,
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

Result<FeatureBatch> RawFeatures(const InferRequest& request, const FeaturePipeline& pipeline,
                                 const std::vector<InputField>& schema) {
  // Step 1: check each tensor against its field and agree on the row count.
  size_t rows = 0;
  for (const InferInput& input : request.inputs) {
    TANDEM_ASSIGN_OR_RETURN(size_t input_rows, RawInputRows(input, *FindField(schema, input.name)));
    if (rows != 0 && input_rows != rows) {
      return InvalidArgument(fmt::format("input \"{}\": has {} rows but input \"{}\" has {}",
                                         input.name, input_rows, request.inputs[0].name, rows));
    }
    rows = input_rows;
  }
  for (const InputField& field : schema) {
    auto present = std::find_if(request.inputs.begin(), request.inputs.end(),
                                [&](const InferInput& input) { return input.name == field.name; });
    if (present == request.inputs.end()) {
      return InvalidArgument(
          fmt::format("missing input \"{}\" (raw field of type {}); a raw "
                      "record request has one tensor per field: {}",
                      field.name, field.type, FieldList(schema)));
    }
  }

  // Step 2: one reusable record object whose values are replaced row by row.
  Json record = Json::object();
  std::vector<Json*> slots;
  slots.reserve(request.inputs.size());
  for (const InferInput& input : request.inputs) slots.push_back(&record[input.name]);

  // Step 3: run the pipeline on each row.
  const size_t width = pipeline.num_features();
  FeatureBatch batch;
  batch.rows = rows;
  batch.values.resize(rows * width);
  for (size_t row = 0; row < rows; ++row) {
    for (size_t i = 0; i < request.inputs.size(); ++i) {
      const InferInput& input = request.inputs[i];
      if (input.datatype == DataType::kBytes) {
        const std::optional<std::string>& text = input.strings[row];
        *slots[i] = text ? Json(*text) : Json();
      } else {
        double number = input.numbers[row];
        *slots[i] = std::isnan(number) ? Json() : Json(number);
      }
    }
    Status status =
        pipeline.TransformJson(record, std::span<float>(batch.values).subspan(row * width, width));
    if (!status) return std::unexpected(status.error().WithContext(fmt::format("row {}", row)));
  }
  return batch;
}

}  // namespace

Result<FeatureBatch> FeaturesFromInferRequest(const InferRequest& request,
                                              const FeaturePipeline& pipeline) {
  if (request.inputs.empty()) return InvalidArgument("inputs: empty, expected at least one tensor");
  const std::vector<InputField> schema = pipeline.InputSchema();
  TANDEM_ASSIGN_OR_RETURN(bool encoded, IsEncodedForm(request, schema));
  if (encoded) return EncodedFeatures(request.inputs[0], pipeline.num_features());
  return RawFeatures(request, pipeline, schema);
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
