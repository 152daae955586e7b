// Turns parsed requests into the float32 feature matrix a Predictor takes,
// through the model's fitted feature pipeline (the code the training job ran).
// No I/O; every function may be called from many threads at once.
//
// An OIP v2 request takes one of two forms:
//   raw records   one tensor per raw input field, named as in the pipeline's
//                 InputSchema(), all of shape [n] (or [n, 1]). Fields of type
//                 "number" take any datatype but BYTES (BOOL as 0 or 1); fields
//                 of type "string" and "datetime" take BYTES. Every field must
//                 be present.
//   encoded       one tensor named "features" (or any single input of rank
//                 2), of shape [n, num_features], any datatype but BYTES.
//                 Values are rounded to the nearest float32, so integers above
//                 2^24 lose precision and BOOL becomes 0 or 1. A value whose
//                 rounding overflows float32 is an error. Null is a missing
//                 value (NaN).
// The form is chosen by the input names: "features" means encoded unless the
// schema has a raw field of that name; names that are all raw fields mean raw
// records; a single input of rank 2 with another name means encoded.
//
// Errors are kInvalidArgument and name the tensor, field or row at fault.
#pragma once

#include <span>
#include <string_view>
#include <vector>

#include "common/json_util.h"
#include "common/status.h"
#include "model/feature_pipeline.h"
#include "serving/inference_protocol.h"

namespace tandem::serving {

// The name of the encoded-features input tensor.
inline constexpr std::string_view kFeaturesInput = "features";

// Model inputs for one request: `rows` x num_features float32 values, row-major.
struct FeatureBatch {
  size_t rows = 0;
  std::vector<float> values;
};

// Builds the feature matrix of an OIP v2 request in either form.
// Errors: an empty batch, an unknown or missing input, a wrong datatype or
// shape, inputs whose row counts differ, a value the pipeline rejects (the
// message names the row and the field).
Result<FeatureBatch> FeaturesFromInferRequest(const InferRequest& request,
                                              const model::FeaturePipeline& pipeline);

// As above, into `batch`, whose buffer is reused: a caller that keeps one
// batch per thread allocates nothing for requests no larger than earlier ones.
// Raw records go from the tensors to FeaturePipeline::TransformValues without
// a JSON record in between. On error `batch` contains unspecified values.
Status FeaturesFromInferRequest(const InferRequest& request,
                                const model::FeaturePipeline& pipeline, FeatureBatch& batch);

// Fails when the request names an output other than "prediction".
Status CheckRequestedOutputs(const InferRequest& request);

// Builds the feature matrix of raw JSON records (SageMaker JSON and JSON
// Lines bodies). Errors name the 0-based record index and the field.
Result<FeatureBatch> FeaturesFromRecords(std::span<const Json> records,
                                         const model::FeaturePipeline& pipeline);

// Parses a text/csv body (no header; raw fields in InputSchema() order, no
// label) and builds its feature matrix. Errors name the 1-based line: a
// malformed row, a row whose field count differs from the schema's, a value
// the pipeline rejects, a body without rows.
Result<FeatureBatch> FeaturesFromCsv(std::string_view body, const model::FeaturePipeline& pipeline);

}  // namespace tandem::serving
