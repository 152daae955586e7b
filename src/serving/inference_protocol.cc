#include "serving/inference_protocol.h"

#include <fmt/compile.h>
#include <fmt/format.h>

#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <iterator>
#include <limits>
#include <utility>

#include "serving/infer_request_reader.h"

namespace tandem::serving {
namespace {

struct DataTypeInfo {
  DataType type;
  std::string_view name;
};

constexpr std::array<DataTypeInfo, 13> kDataTypes = {{
    {DataType::kBool, "BOOL"},
    {DataType::kUint8, "UINT8"},
    {DataType::kUint16, "UINT16"},
    {DataType::kUint32, "UINT32"},
    {DataType::kUint64, "UINT64"},
    {DataType::kInt8, "INT8"},
    {DataType::kInt16, "INT16"},
    {DataType::kInt32, "INT32"},
    {DataType::kInt64, "INT64"},
    {DataType::kFp16, "FP16"},
    {DataType::kFp32, "FP32"},
    {DataType::kFp64, "FP64"},
    {DataType::kBytes, "BYTES"},
}};

// Returns the bytes of a name of at most 8 bytes as one little-endian
// integer, zero-padded.
constexpr uint64_t PackName(std::string_view name) {
  uint64_t packed = 0;
  for (size_t i = 0; i < name.size() && i < 8; ++i) {
    packed |= static_cast<uint64_t>(static_cast<unsigned char>(name[i])) << (8 * i);
  }
  return packed;
}

// kDataTypes' names, packed at compile time.
constexpr std::array<uint64_t, kDataTypes.size()> kPackedNames = [] {
  std::array<uint64_t, kDataTypes.size()> packed{};
  for (size_t i = 0; i < kDataTypes.size(); ++i) packed[i] = PackName(kDataTypes[i].name);
  return packed;
}();

// Bound on tensor rank; deeper shapes have no use for a tabular model.
constexpr size_t kMaxRank = 8;

std::string TensorLabel(std::string_view name) { return fmt::format("input \"{}\"", name); }

std::unexpected<Error> TensorError(const InferInput& input, std::string message) {
  return InvalidArgument(fmt::format("{}: {}", TensorLabel(input.name), message));
}

// Returns true when `body` contains NaN, Infinity or -Infinity outside a string.
bool HasNonFiniteToken(std::string_view body) {
  bool in_string = false;
  for (size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (body.substr(i).starts_with("NaN") || body.substr(i).starts_with("Infinity")) {
      return true;
    }
  }
  return false;
}

// Returns the integer range of an integer datatype.
std::pair<double, double> IntegerRange(DataType type) {
  switch (type) {
    case DataType::kUint8:
      return {0, 255};
    case DataType::kUint16:
      return {0, 65535};
    case DataType::kUint32:
      return {0, 4294967295.0};
    case DataType::kUint64:
      return {0, 18446744073709551615.0};
    case DataType::kInt8:
      return {-128, 127};
    case DataType::kInt16:
      return {-32768, 32767};
    case DataType::kInt32:
      return {-2147483648.0, 2147483647.0};
    default:
      return {-9223372036854775808.0, 9223372036854775807.0};
  }
}

// Converts one JSON integer to double, checking the range of `type`.
Result<double> IntegerElement(const Json& value, DataType type) {
  if (!value.is_number_integer()) {
    return InvalidArgument(
        fmt::format("expected an integer for {}, got {}", DataTypeName(type), JsonTypeName(value)));
  }
  bool in_range;
  double number;
  if (value.is_number_unsigned()) {
    uint64_t u = value.get<uint64_t>();
    number = static_cast<double>(u);
    in_range = type == DataType::kUint64 ||
               (type == DataType::kInt64 ? u <= static_cast<uint64_t>(INT64_MAX)
                                         : number <= IntegerRange(type).second);
  } else {
    int64_t i = value.get<int64_t>();
    number = static_cast<double>(i);
    auto [low, high] = IntegerRange(type);
    in_range = type == DataType::kInt64 || (number >= low && number <= high);
  }
  if (!in_range) {
    return InvalidArgument(
        fmt::format("{} is outside the range of {}", value.dump(), DataTypeName(type)));
  }
  return number;
}

// Appends one element of `data`, checked against the tensor's datatype.
Status AppendElement(const Json& value, size_t index, InferInput& input) {
  auto fail = [&](std::string what) {
    return TensorError(input, fmt::format("data element {}: {}", index, what));
  };
  if (input.datatype == DataType::kBytes) {
    if (value.is_null()) {
      input.strings.emplace_back(std::nullopt);
    } else if (value.is_string()) {
      input.strings.emplace_back(value.get<std::string>());
    } else {
      return fail(fmt::format("expected a string for BYTES, got {}", JsonTypeName(value)));
    }
    return Ok();
  }
  if (value.is_null()) {
    input.numbers.push_back(std::numeric_limits<double>::quiet_NaN());
    return Ok();
  }
  switch (input.datatype) {
    case DataType::kBool:
      if (!value.is_boolean()) {
        return fail(fmt::format("expected true or false for BOOL, got {}", JsonTypeName(value)));
      }
      input.numbers.push_back(value.get<bool>() ? 1.0 : 0.0);
      return Ok();
    case DataType::kFp32:
    case DataType::kFp64: {
      if (!value.is_number()) {
        return fail(fmt::format("expected a number for {}, got {}", DataTypeName(input.datatype),
                                JsonTypeName(value)));
      }
      double number = value.get<double>();
      if (input.datatype == DataType::kFp32 && std::isinf(static_cast<float>(number))) {
        return fail(fmt::format("{} is outside the range of FP32", value.dump()));
      }
      input.numbers.push_back(number);
      return Ok();
    }
    default: {
      Result<double> number = IntegerElement(value, input.datatype);
      if (!number) return fail(number.error().message());
      input.numbers.push_back(*number);
      return Ok();
    }
  }
}

Status FlattenNested(const Json& value, size_t depth, size_t& index, InferInput& input) {
  const size_t rank = input.shape.size();
  if (depth >= rank || !value.is_array()) {
    return TensorError(input, fmt::format("nested data does not have the rank of shape {}",
                                          FormatShape(input.shape)));
  }
  if (value.size() != static_cast<uint64_t>(input.shape[depth])) {
    return TensorError(
        input, fmt::format("nested data has {} elements in dimension {}, "
                           "shape {} expects {}",
                           value.size(), depth, FormatShape(input.shape), input.shape[depth]));
  }
  for (const Json& child : value) {
    if (depth + 1 < rank) {
      TANDEM_RETURN_IF_ERROR(FlattenNested(child, depth + 1, index, input));
      continue;
    }
    if (child.is_array()) {
      return TensorError(input, fmt::format("nested data has more dimensions than shape {}",
                                            FormatShape(input.shape)));
    }
    TANDEM_RETURN_IF_ERROR(AppendElement(child, index++, input));
  }
  return Ok();
}

// Fills input.numbers or input.strings from `data`, flat or nested.
Status FlattenData(const Json& data, size_t expected_count, InferInput& input) {
  if (!data.is_array()) {
    return TensorError(input, fmt::format("data: expected an array, got {}", JsonTypeName(data)));
  }
  if (input.datatype == DataType::kBytes) {
    input.strings.reserve(expected_count);
  } else {
    input.numbers.reserve(expected_count);
  }
  const bool nested = !data.empty() && data.front().is_array();
  if (nested) {
    size_t index = 0;
    return FlattenNested(data, 0, index, input);
  }
  if (data.size() != expected_count) {
    return TensorError(input, fmt::format("shape {} has {} elements but data has {}",
                                          FormatShape(input.shape), expected_count, data.size()));
  }
  size_t index = 0;
  for (const Json& element : data) {
    if (element.is_array()) {
      return TensorError(input, "data mixes nested arrays and single values");
    }
    TANDEM_RETURN_IF_ERROR(AppendElement(element, index++, input));
  }
  return Ok();
}

// Parses "shape" and returns its element count.
Result<size_t> ParseShape(const Json& tensor, InferInput& input) {
  auto shape = tensor.find("shape");
  if (shape == tensor.end() || shape->is_null()) {
    return TensorError(input, "shape: missing required field");
  }
  if (!shape->is_array()) {
    return TensorError(input,
                       fmt::format("shape: expected an array, got {}", JsonTypeName(*shape)));
  }
  if (shape->size() > kMaxRank) {
    return TensorError(input, fmt::format("shape has {} dimensions, at most {} are supported",
                                          shape->size(), kMaxRank));
  }
  size_t count = 1;
  for (const Json& dimension : *shape) {
    if (!dimension.is_number_integer() || dimension.get<int64_t>() < 0 ||
        (dimension.is_number_unsigned() && dimension.get<uint64_t>() > INT64_MAX)) {
      return TensorError(input, fmt::format("shape: dimensions must be non-negative integers, "
                                            "got {}",
                                            dimension.dump()));
    }
    int64_t size = dimension.get<int64_t>();
    input.shape.push_back(size);
    if (__builtin_mul_overflow(count, static_cast<size_t>(size), &count)) {
      return TensorError(input,
                         fmt::format("shape {} has too many elements", FormatShape(input.shape)));
    }
  }
  return count;
}

Result<DataType> ParseTensorDataType(const Json& tensor, const InferInput& input) {
  auto datatype = tensor.find("datatype");
  if (datatype == tensor.end() || datatype->is_null()) {
    return TensorError(input, "datatype: missing required field");
  }
  if (!datatype->is_string()) {
    return TensorError(input,
                       fmt::format("datatype: expected a string, got {}", JsonTypeName(*datatype)));
  }
  std::optional<DataType> type = ParseDataType(datatype->get<std::string>());
  if (!type) {
    return TensorError(input, fmt::format("unknown datatype \"{}\"; expected one of BOOL, "
                                          "UINT8..UINT64, INT8..INT64, FP32, FP64, BYTES",
                                          datatype->get<std::string>()));
  }
  if (*type == DataType::kFp16) {
    return TensorError(input,
                       "datatype FP16 needs the binary tensor data extension, which "
                       "this server does not support; send FP32");
  }
  return *type;
}

// Rejects a "parameters" object of a tensor or request that requests binary data.
Status CheckNoBinaryData(const Json& holder, std::string_view label) {
  auto parameters = holder.find("parameters");
  if (parameters == holder.end() || parameters->is_null()) return Ok();
  if (!parameters->is_object()) {
    return InvalidArgument(fmt::format("{}: parameters: expected an object, got {}", label,
                                       JsonTypeName(*parameters)));
  }
  for (std::string_view key : {"binary_data_size", "binary_data", "binary_data_output"}) {
    auto value = parameters->find(key);
    if (value != parameters->end() && !(value->is_boolean() && !value->get<bool>())) {
      return InvalidArgument(
          fmt::format("{}: parameters.{}: the binary tensor data extension "
                      "is not supported; send tensors as JSON",
                      label, key));
    }
  }
  return Ok();
}

Result<InferInput> ParseInput(const Json& tensor, size_t position) {
  const std::string path = fmt::format("inputs[{}]", position);
  TANDEM_RETURN_IF_ERROR(RequireObject(tensor, path));
  InferInput input;
  TANDEM_ASSIGN_OR_RETURN(input.name, GetString(tensor, "name", path));
  const std::string label = TensorLabel(input.name);
  TANDEM_RETURN_IF_ERROR(
      RejectUnknownFields(tensor, label, {"name", "shape", "datatype", "parameters", "data"}));
  TANDEM_RETURN_IF_ERROR(CheckNoBinaryData(tensor, label));
  TANDEM_ASSIGN_OR_RETURN(input.datatype, ParseTensorDataType(tensor, input));
  TANDEM_ASSIGN_OR_RETURN(size_t count, ParseShape(tensor, input));
  auto data = tensor.find("data");
  if (data == tensor.end() || data->is_null()) {
    return TensorError(input, "data: missing required field");
  }
  TANDEM_RETURN_IF_ERROR(FlattenData(*data, count, input));
  if (input.size() != count) {
    return TensorError(input, fmt::format("shape {} has {} elements but data has {}",
                                          FormatShape(input.shape), count, input.size()));
  }
  return input;
}

Result<std::vector<std::string>> ParseOutputs(const Json& document) {
  std::vector<std::string> names;
  auto outputs = document.find("outputs");
  if (outputs == document.end() || outputs->is_null()) return names;
  if (!outputs->is_array()) {
    return InvalidArgument(
        fmt::format("outputs: expected an array, got {}", JsonTypeName(*outputs)));
  }
  for (size_t i = 0; i < outputs->size(); ++i) {
    const Json& output = (*outputs)[i];
    const std::string path = fmt::format("outputs[{}]", i);
    TANDEM_RETURN_IF_ERROR(RequireObject(output, path));
    TANDEM_ASSIGN_OR_RETURN(std::string name, GetString(output, "name", path));
    const std::string label = fmt::format("output \"{}\"", name);
    TANDEM_RETURN_IF_ERROR(RejectUnknownFields(output, label, {"name", "parameters"}));
    TANDEM_RETURN_IF_ERROR(CheckNoBinaryData(output, label));
    names.push_back(std::move(name));
  }
  return names;
}

}  // namespace

std::string_view DataTypeName(DataType type) {
  for (const auto& info : kDataTypes) {
    if (info.type == type) return info.name;
  }
  return "UNKNOWN";
}

std::optional<DataType> ParseDataType(std::string_view name) {
  // Every name is 4 to 6 bytes, so packed bytes find it without a string
  // comparison per entry. This runs once per tensor of every request.
  if (name.size() < 4 || name.size() > 6) return std::nullopt;
  static_assert(std::endian::native == std::endian::little, "PackName is little-endian");
  uint64_t packed = 0;
  std::memcpy(&packed, name.data(), name.size());
  for (size_t i = 0; i < kDataTypes.size(); ++i) {
    if (kPackedNames[i] == packed && kDataTypes[i].name.size() == name.size()) {
      return kDataTypes[i].type;
    }
  }
  return std::nullopt;
}

Result<Json> ParseRequestJson(std::string_view body, std::string_view what) {
  Result<Json> document = [&]() -> Result<Json> {
    try {
      return ParseJson(body, what);
    } catch (const Json::exception&) {
      // nlohmann::json reports a number beyond the range of double this way.
      return InvalidArgument(fmt::format("{}: a number is outside the range of a double", what));
    }
  }();
  if (!document && HasNonFiniteToken(body)) {
    return InvalidArgument(
        fmt::format("{}; NaN and Infinity are not JSON: send null for a "
                    "missing value",
                    document.error().message()));
  }
  return document;
}

Result<InferRequest> ParseInferRequest(std::string_view body) {
  // Most bodies take the fast reader; every other body, and every error, the full parser.
  if (std::optional<InferRequest> common = ReadCommonInferRequest(body)) return std::move(*common);
  TANDEM_ASSIGN_OR_RETURN(Json document, ParseRequestJson(body, "request body"));
  return InferRequestFromJson(document);
}

Status ParseInferRequest(std::string_view body, InferRequest& request) {
  if (ReadCommonInferRequest(body, request)) return Ok();
  TANDEM_ASSIGN_OR_RETURN(Json document, ParseRequestJson(body, "request body"));
  TANDEM_ASSIGN_OR_RETURN(request, InferRequestFromJson(document));
  return Ok();
}

Result<InferRequest> InferRequestFromJson(const Json& document) {
  TANDEM_RETURN_IF_ERROR(RequireObject(document, "request body"));
  TANDEM_RETURN_IF_ERROR(
      RejectUnknownFields(document, "", {"id", "parameters", "inputs", "outputs"}));
  InferRequest request;
  TANDEM_ASSIGN_OR_RETURN(request.id, GetOptionalString(document, "id", ""));
  TANDEM_RETURN_IF_ERROR(CheckNoBinaryData(document, "request"));
  if (auto parameters = document.find("parameters"); parameters != document.end()) {
    request.parameters = *parameters;
  }

  auto inputs = document.find("inputs");
  if (inputs == document.end() || inputs->is_null()) {
    return InvalidArgument("inputs: missing required field");
  }
  if (!inputs->is_array()) {
    return InvalidArgument(fmt::format("inputs: expected an array, got {}", JsonTypeName(*inputs)));
  }
  if (inputs->empty()) return InvalidArgument("inputs: empty, expected at least one tensor");
  request.inputs.reserve(inputs->size());
  for (size_t i = 0; i < inputs->size(); ++i) {
    TANDEM_ASSIGN_OR_RETURN(InferInput input, ParseInput((*inputs)[i], i));
    for (const InferInput& earlier : request.inputs) {
      if (earlier.name == input.name) {
        return InvalidArgument(fmt::format("{}: appears twice in inputs", TensorLabel(input.name)));
      }
    }
    request.inputs.push_back(std::move(input));
  }

  TANDEM_ASSIGN_OR_RETURN(request.outputs, ParseOutputs(document));
  return request;
}

void AppendFloat(std::string& out, float value) {
  if (!std::isfinite(value)) {
    out.append("null");
    return;
  }
  // fmt prints the shortest representation that round-trips to the same float.
  fmt::format_to(std::back_inserter(out), FMT_COMPILE("{}"), value);
}

void AppendJsonString(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  // Runs of bytes that need no escape are appended whole.
  size_t run = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const auto byte = static_cast<unsigned char>(c);
    if (c != '"' && c != '\\' && byte >= 0x20) continue;
    out.append(text.substr(run, i - run));
    run = i + 1;
    if (byte < 0x20) {
      out.append("\\u00");
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0xf]);
    } else {
      out.push_back('\\');
      out.push_back(c);
    }
  }
  out.append(text.substr(run));
  out.push_back('"');
}

std::string EncodeInferResponse(std::string_view model_name, std::string_view model_version,
                                const std::optional<std::string>& id,
                                std::span<const float> predictions) {
  using namespace std::string_view_literals;
  std::string out;
  out.reserve(128 + model_name.size() + model_version.size() + (id ? id->size() : 0) +
              predictions.size() * 16);
  out.append("{\"model_name\":"sv);
  AppendJsonString(out, model_name);
  out.append(",\"model_version\":"sv);
  AppendJsonString(out, model_version);
  if (id) {
    out.append(",\"id\":"sv);
    AppendJsonString(out, *id);
  }
  out.append(",\"outputs\":[{\"name\":\""sv);
  out.append(kPredictionOutput);
  out.append("\",\"datatype\":\"FP32\",\"shape\":["sv);
  fmt::format_to(std::back_inserter(out), FMT_COMPILE("{}"), predictions.size());
  out.append("],\"data\":["sv);
  for (size_t i = 0; i < predictions.size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendFloat(out, predictions[i]);
  }
  out.append("]}]}"sv);
  return out;
}

std::string FormatShape(std::span<const int64_t> shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

}  // namespace tandem::serving
