#include "serving/infer_request_reader.h"

#include <simdjson.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>

namespace tandem::serving {
namespace {

namespace dom = simdjson::dom;
using Type = dom::element_type;

// Bound on tensor rank, as in the full parser.
constexpr size_t kMaxRank = 8;
// dom::array::size() stops counting at this value, so an array that reaches it
// is left to the full parser.
constexpr size_t kSaturatedSize = 0xFFFFFF;

// Marks `bit` in `seen`. Returns false when it was already marked, that is for
// a key given twice.
bool MarkOnce(unsigned& seen, unsigned bit) {
  if ((seen & bit) != 0) return false;
  seen |= bit;
  return true;
}

// Sets `slot` to `text`, reusing the string it holds.
void AssignText(std::optional<std::string>& slot, std::string_view text) {
  if (slot) {
    slot->assign(text);
  } else {
    slot.emplace(text);
  }
}

// Returns the closed range of an integer datatype, as the full parser's.
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

// Converts one numeric element. Returns false for anything the full parser
// would reject or read differently.
bool ReadNumber(dom::element value, DataType datatype, double& out) {
  const Type type = value.type();
  if (datatype == DataType::kBool) {
    if (type != Type::BOOL) return false;
    out = value.get_bool().value_unsafe() ? 1.0 : 0.0;
    return true;
  }
  if (datatype == DataType::kFp32 || datatype == DataType::kFp64) {
    if (type == Type::INT64) {
      out = static_cast<double>(value.get_int64().value_unsafe());
    } else if (type == Type::UINT64) {
      out = static_cast<double>(value.get_uint64().value_unsafe());
    } else if (type == Type::DOUBLE) {
      out = value.get_double().value_unsafe();
      // The full parser reads "-0" as the integer 0, so signed zeros are left to it.
      if (out == 0 && std::signbit(out)) return false;
    } else {
      return false;
    }
    return datatype == DataType::kFp64 || !std::isinf(static_cast<float>(out));
  }
  // Integer datatypes take JSON integers within their range.
  auto [low, high] = IntegerRange(datatype);
  if (type == Type::INT64) {
    out = static_cast<double>(value.get_int64().value_unsafe());
    return out >= low && out <= high;
  }
  if (type == Type::UINT64) {
    // Above INT64_MAX, which only UINT64 holds.
    out = static_cast<double>(value.get_uint64().value_unsafe());
    return datatype == DataType::kUint64;
  }
  return false;
}

// Fills input.numbers or input.strings from a flat `data` array of `count`
// elements, reusing the strings already there.
bool ReadData(dom::element data, size_t count, InferInput& input) {
  dom::array elements;
  if (data.get_array().get(elements) != simdjson::SUCCESS) return false;
  if (elements.size() >= kSaturatedSize || elements.size() != count) return false;
  if (input.datatype == DataType::kBytes) {
    input.strings.resize(count);
    size_t index = 0;
    for (dom::element element : elements) {
      std::optional<std::string>& slot = input.strings[index++];
      const Type type = element.type();
      if (type == Type::NULL_VALUE) {
        slot.reset();
      } else if (type == Type::STRING) {
        AssignText(slot, element.get_string().value_unsafe());
      } else {
        return false;
      }
    }
    return true;
  }
  input.numbers.reserve(count);
  for (dom::element element : elements) {
    double number = std::numeric_limits<double>::quiet_NaN();
    if (element.type() != Type::NULL_VALUE && !ReadNumber(element, input.datatype, number)) {
      return false;
    }
    input.numbers.push_back(number);
  }
  return true;
}

// Reads "shape" into input.shape and its element count into `count`.
bool ReadShape(dom::element shape, InferInput& input, size_t& count) {
  dom::array dimensions;
  if (shape.get_array().get(dimensions) != simdjson::SUCCESS) return false;
  if (dimensions.size() > kMaxRank) return false;
  count = 1;
  for (dom::element dimension : dimensions) {
    if (dimension.type() != Type::INT64) return false;
    const int64_t size = dimension.get_int64().value_unsafe();
    if (size < 0) return false;
    input.shape.push_back(size);
    if (__builtin_mul_overflow(count, static_cast<size_t>(size), &count)) return false;
  }
  return true;
}

// Reads one tensor object of "inputs" into `input`, whose buffers are reused.
bool ReadTensor(dom::element tensor, InferInput& input) {
  dom::object fields;
  if (tensor.get_object().get(fields) != simdjson::SUCCESS) return false;
  input.shape.clear();
  input.numbers.clear();
  unsigned seen = 0;
  dom::element shape;
  dom::element data;
  for (dom::key_value_pair field : fields) {
    if (field.key == "name" && MarkOnce(seen, 1) && field.value.type() == Type::STRING) {
      input.name.assign(field.value.get_string().value_unsafe());
    } else if (field.key == "datatype" && MarkOnce(seen, 2) &&
               field.value.type() == Type::STRING) {
      std::optional<DataType> datatype = ParseDataType(field.value.get_string().value_unsafe());
      if (!datatype || *datatype == DataType::kFp16) return false;
      input.datatype = *datatype;
    } else if (field.key == "shape" && MarkOnce(seen, 4)) {
      shape = field.value;
    } else if (field.key == "data" && MarkOnce(seen, 8)) {
      data = field.value;
    } else {
      return false;
    }
  }
  if (seen != 15) return false;
  size_t count = 0;
  if (!ReadShape(shape, input, count)) return false;
  if (input.datatype != DataType::kBytes) input.strings.clear();
  return ReadData(data, count, input);
}

// Reads "outputs", which is null or an array of objects with only a name.
bool ReadOutputs(dom::element outputs, std::vector<std::string>& names) {
  names.clear();
  if (outputs.type() == Type::NULL_VALUE) return true;
  dom::array list;
  if (outputs.get_array().get(list) != simdjson::SUCCESS) return false;
  for (dom::element output : list) {
    dom::object fields;
    if (output.get_object().get(fields) != simdjson::SUCCESS || fields.size() != 1) return false;
    dom::key_value_pair field = *fields.begin();
    if (field.key != "name" || field.value.type() != Type::STRING) return false;
    names.emplace_back(field.value.get_string().value_unsafe());
  }
  return true;
}

// Reads "inputs", a non-empty array of tensors with distinct names, into
// `tensors`, reusing the tensors already there.
bool ReadInputs(dom::element inputs, std::vector<InferInput>& tensors) {
  dom::array list;
  if (inputs.get_array().get(list) != simdjson::SUCCESS) return false;
  if (list.size() == 0 || list.size() >= kSaturatedSize) return false;
  tensors.resize(list.size());
  size_t index = 0;
  for (dom::element element : list) {
    InferInput& input = tensors[index];
    if (!ReadTensor(element, input)) return false;
    for (size_t earlier = 0; earlier < index; ++earlier) {
      if (tensors[earlier].name == input.name) return false;
    }
    ++index;
  }
  return true;
}

}  // namespace

bool ReadCommonInferRequest(std::string_view body, InferRequest& request) {
  // One parser per thread, so that its buffers are reused between requests.
  thread_local dom::parser parser;
  dom::object document;
  if (parser.parse(body.data(), body.size()).get_object().get(document) != simdjson::SUCCESS) {
    return false;
  }
  request.parameters = nullptr;
  request.outputs.clear();
  unsigned seen = 0;
  for (dom::key_value_pair field : document) {
    bool read = false;
    if (field.key == "id" && MarkOnce(seen, 1)) {
      const Type type = field.value.type();
      if (type == Type::STRING) {
        AssignText(request.id, field.value.get_string().value_unsafe());
      } else {
        request.id.reset();
      }
      read = type == Type::STRING || type == Type::NULL_VALUE;
    } else if (field.key == "inputs" && MarkOnce(seen, 2)) {
      read = ReadInputs(field.value, request.inputs);
    } else if (field.key == "outputs" && MarkOnce(seen, 4)) {
      read = ReadOutputs(field.value, request.outputs);
    }
    if (!read) return false;
  }
  if ((seen & 1) == 0) request.id.reset();
  return (seen & 2) != 0;
}

std::optional<InferRequest> ReadCommonInferRequest(std::string_view body) {
  InferRequest request;
  if (!ReadCommonInferRequest(body, request)) return std::nullopt;
  return request;
}

}  // namespace tandem::serving
