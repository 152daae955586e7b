// Open Inference Protocol v2 (the KServe/Triton REST protocol), JSON form:
// parsing of infer request bodies into typed tensors and encoding of infer
// responses. Pure functions without I/O or model knowledge, so every function
// here may be called from any thread and fed any bytes.
//
// A request body:
//   {"id": "r1", "parameters": {...},
//    "inputs": [{"name": "distance", "shape": [2], "datatype": "FP32",
//                "data": [412.0, 1024.5]}],
//    "outputs": [{"name": "prediction"}]}
// `data` is row-major, either flat or nested to exactly the rank of `shape`.
// JSON null in `data` is a missing value. NaN and Infinity are not JSON, so
// the bare tokens are rejected as invalid JSON. The binary tensor data
// extension is not supported.
//
// Errors are kInvalidArgument and name the tensor at fault:
//   input "distance": shape [3] has 3 elements but data has 2
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_util.h"
#include "common/status.h"

namespace tandem::serving {

// Tensor element types of the protocol.
enum class DataType {
  kBool,
  kUint8,
  kUint16,
  kUint32,
  kUint64,
  kInt8,
  kInt16,
  kInt32,
  kInt64,
  kFp16,
  kFp32,
  kFp64,
  kBytes,
};

// Returns the protocol name: "BOOL", "UINT8", ..., "FP32", "BYTES".
std::string_view DataTypeName(DataType type);
// Returns the type named `name` (exact, upper case), or nullopt.
std::optional<DataType> ParseDataType(std::string_view name);

// One input tensor of a request, with every element checked against its
// datatype: BOOL takes true/false, integer types take JSON integers within the
// type's range, FP32 takes numbers whose float32 rounding is finite, FP64 any
// number, BYTES strings. FP16 is rejected because JSON cannot carry it.
struct InferInput {
  std::string name;
  DataType datatype = DataType::kFp32;
  std::vector<int64_t> shape;
  // Row-major elements of every datatype except BYTES, as double: BOOL as 0 or
  // 1, integers converted (exact up to 2^53), JSON null as NaN.
  std::vector<double> numbers;
  // Row-major elements of a BYTES tensor; JSON null as nullopt.
  std::vector<std::optional<std::string>> strings;

  // Number of elements (the product of `shape`).
  size_t size() const { return datatype == DataType::kBytes ? strings.size() : numbers.size(); }
};

struct InferRequest {
  std::optional<std::string> id;  // echoed in the response
  Json parameters;                // the request's "parameters" object, or null
  std::vector<InferInput> inputs;
  // Names from "outputs", in request order; empty means every output.
  std::vector<std::string> outputs;
};

// Parses an infer request body.
// Errors (kInvalidArgument): invalid JSON (with a hint when the body contains a
// bare NaN or Infinity token), a body that is not an object, an unknown key, a
// missing or mistyped name, shape, datatype or data, a negative dimension, an
// unknown datatype or FP16, an element that does not fit the datatype, nested
// data whose rank or lengths differ from `shape`, a shape whose element count
// differs from the data's, two inputs with one name, no inputs, a request for
// binary tensor data.
// Bodies of the common form take a faster reader (serving/infer_request_reader.h)
// that returns the same request.
Result<InferRequest> ParseInferRequest(std::string_view body);

// As above, into `request`. For a body of the common form its strings and
// vectors are reused, so a thread that keeps one InferRequest allocates
// nothing for bodies no larger than earlier ones. On error `request`
// contains unspecified values.
Status ParseInferRequest(std::string_view body, InferRequest& request);

// As ParseInferRequest, from a parsed document.
Result<InferRequest> InferRequestFromJson(const Json& document);

// Name, datatype and shape of the one output every served model has.
inline constexpr std::string_view kPredictionOutput = "prediction";

// Encodes the infer response
//   {"model_name": ..., "model_version": ..., "id": ...,
//    "outputs": [{"name": "prediction", "datatype": "FP32", "shape": [n], "data": [...]}]}
// with "id" only when `id` has a value. Each float is written in the shortest
// decimal form that parses back to the same float32; a non-finite value
// (which XGBoost does not produce for finite inputs) is written as null.
std::string EncodeInferResponse(std::string_view model_name, std::string_view model_version,
                                const std::optional<std::string>& id,
                                std::span<const float> predictions);

// Appends `value` in the shortest decimal form that parses back to the same
// float32, or "null" when it is NaN or infinite.
void AppendFloat(std::string& out, float value);

// Appends `text` as a JSON string literal (quoted and escaped).
void AppendJsonString(std::string& out, std::string_view text);

// Returns the shape as written in messages: "[2, 6]".
std::string FormatShape(std::span<const int64_t> shape);

// Parses a request body as JSON; `what` names it in errors ("request body").
// Errors (kInvalidArgument) as for tandem::ParseJson, plus a number outside
// the range of double, and a hint to send null when the body contains a bare
// NaN or Infinity token.
Result<Json> ParseRequestJson(std::string_view body, std::string_view what);

}  // namespace tandem::serving
