#include "serving/inference_protocol.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <charconv>
#include <cmath>
#include <limits>

namespace tandem::serving {
namespace {

using ::testing::HasSubstr;

// Parses `body` and expects kInvalidArgument (HTTP 400) with `needle` in the message.
void ExpectRejected(std::string_view body, std::string_view needle) {
  Result<InferRequest> request = ParseInferRequest(body);
  ASSERT_FALSE(request.has_value()) << body;
  EXPECT_EQ(request.error().code(), ErrorCode::kInvalidArgument) << body;
  EXPECT_EQ(HttpStatusFor(request.error().code()), 400);
  EXPECT_THAT(request.error().message(), HasSubstr(needle)) << body;
}

TEST(InferProtocol, ParsesFlatRequest) {
  Result<InferRequest> request = ParseInferRequest(R"({
    "id": "r-1", "parameters": {"trace": true},
    "inputs": [
      {"name": "distance", "shape": [3], "datatype": "FP64", "data": [1.5, null, 3]},
      {"name": "origin", "shape": [3], "datatype": "BYTES", "data": ["SFO", null, "JFK"]}],
    "outputs": [{"name": "prediction"}]})");
  ASSERT_TRUE(request.has_value()) << request.error().message();
  EXPECT_EQ(request->id, "r-1");
  EXPECT_TRUE(request->parameters.at("trace").get<bool>());
  ASSERT_EQ(request->inputs.size(), 2u);
  const InferInput& distance = request->inputs[0];
  EXPECT_EQ(distance.datatype, DataType::kFp64);
  EXPECT_EQ(distance.shape, std::vector<int64_t>({3}));
  ASSERT_EQ(distance.numbers.size(), 3u);
  EXPECT_EQ(distance.numbers[0], 1.5);
  EXPECT_TRUE(std::isnan(distance.numbers[1]));
  EXPECT_EQ(distance.numbers[2], 3.0);
  const InferInput& origin = request->inputs[1];
  ASSERT_EQ(origin.strings.size(), 3u);
  EXPECT_EQ(origin.strings[0], "SFO");
  EXPECT_FALSE(origin.strings[1].has_value());
  EXPECT_EQ(request->outputs, std::vector<std::string>({"prediction"}));
}

TEST(InferProtocol, ParsesNestedData) {
  Result<InferRequest> request = ParseInferRequest(
      R"({"inputs": [{"name": "features", "shape": [2, 3], "datatype": "INT32",
                      "data": [[1, 2, 3], [4, 5, 6]]}]})");
  ASSERT_TRUE(request.has_value()) << request.error().message();
  EXPECT_EQ(request->inputs[0].numbers, std::vector<double>({1, 2, 3, 4, 5, 6}));
  EXPECT_FALSE(request->id.has_value());
  EXPECT_TRUE(request->outputs.empty());
}

TEST(InferProtocol, ParsesEveryNumericDatatype) {
  struct Case {
    std::string_view datatype;
    std::string_view data;
    double expected;
  };
  const Case cases[] = {
      {"BOOL", "true", 1},
      {"UINT8", "255", 255},
      {"UINT16", "65535", 65535},
      {"UINT32", "4294967295", 4294967295.0},
      {"UINT64", "18446744073709551615", 18446744073709551615.0},
      {"INT8", "-128", -128},
      {"INT16", "-32768", -32768},
      {"INT32", "-2147483648", -2147483648.0},
      {"INT64", "-9223372036854775808", -9223372036854775808.0},
      {"FP32", "0.25", 0.25},
      {"FP64", "1e300", 1e300},
  };
  for (const Case& c : cases) {
    std::string body = fmt::format(
        R"({{"inputs": [{{"name": "x", "shape": [1], "datatype": "{}", "data": [{}]}}]}})",
        c.datatype, c.data);
    Result<InferRequest> request = ParseInferRequest(body);
    ASSERT_TRUE(request.has_value()) << c.datatype << ": " << request.error().message();
    EXPECT_EQ(request->inputs[0].numbers[0], c.expected) << c.datatype;
  }
}

TEST(InferProtocol, RejectsElementsOutsideDatatype) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"UINT8", "256"},   {"UINT8", "-1"},         {"INT8", "128"},
      {"INT16", "40000"}, {"INT32", "3000000000"}, {"INT64", "9223372036854775808"},
      {"UINT64", "-5"},   {"FP32", "1e+39"},
  };
  for (const auto& [datatype, value] : cases) {
    std::string body = fmt::format(
        R"({{"inputs": [{{"name": "x", "shape": [1], "datatype": "{}", "data": [{}]}}]}})",
        datatype, value);
    ExpectRejected(body, fmt::format("input \"x\": data element 0: {} is outside the range of {}",
                                     value, datatype));
  }
}

TEST(InferProtocol, RejectsWrongElementType) {
  ExpectRejected(
      R"({"inputs": [{"name": "n", "shape": [2], "datatype": "INT32", "data": [1, 2.5]}]})",
      "input \"n\": data element 1: expected an integer for INT32, got number");
  ExpectRejected(R"({"inputs": [{"name": "s", "shape": [1], "datatype": "BYTES", "data": [7]}]})",
                 "input \"s\": data element 0: expected a string for BYTES, got integer");
  ExpectRejected(R"({"inputs": [{"name": "f", "shape": [1], "datatype": "FP32", "data": ["1"]}]})",
                 "input \"f\": data element 0: expected a number for FP32, got string");
  ExpectRejected(R"({"inputs": [{"name": "b", "shape": [1], "datatype": "BOOL", "data": [1]}]})",
                 "input \"b\": data element 0: expected true or false for BOOL, got integer");
  ExpectRejected(R"({"inputs": [{"name": "o", "shape": [1], "datatype": "FP32", "data": [{}]}]})",
                 "input \"o\": data element 0: expected a number for FP32, got object");
}

TEST(InferProtocol, RejectsShapeDataMismatch) {
  ExpectRejected(
      R"({"inputs": [{"name": "distance", "shape": [3], "datatype": "FP32", "data": [1, 2]}]})",
      "input \"distance\": shape [3] has 3 elements but data has 2");
  ExpectRejected(
      R"({"inputs": [{"name": "features", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3]}]})",
      "input \"features\": shape [2, 2] has 4 elements but data has 3");
}

TEST(InferProtocol, RejectsNestedDataOfWrongRank) {
  ExpectRejected(
      R"({"inputs": [{"name": "f", "shape": [2], "datatype": "FP32", "data": [[1], [2]]}]})",
      "input \"f\": nested data has more dimensions than shape [2]");
  ExpectRejected(
      R"({"inputs": [{"name": "f", "shape": [1, 2, 1], "datatype": "FP32", "data": [[1, 2]]}]})",
      "input \"f\": nested data does not have the rank of shape [1, 2, 1]");
  ExpectRejected(
      R"({"inputs": [{"name": "f", "shape": [2, 2], "datatype": "FP32", "data": [[1, 2], [3]]}]})",
      "input \"f\": nested data has 1 elements in dimension 1, shape [2, 2] expects 2");
  ExpectRejected(
      R"({"inputs": [{"name": "f", "shape": [2, 2], "datatype": "FP32", "data": [[1, 2], 3, 4]}]})",
      "input \"f\": nested data has 3 elements in dimension 0");
  ExpectRejected(
      R"({"inputs": [{"name": "f", "shape": [3], "datatype": "FP32", "data": [1, [2], 3]}]})",
      "input \"f\": data mixes nested arrays and single values");
}

TEST(InferProtocol, RejectsBadDatatype) {
  ExpectRejected(R"({"inputs": [{"name": "f", "shape": [1], "datatype": "FLOAT", "data": [1]}]})",
                 "input \"f\": unknown datatype \"FLOAT\"");
  ExpectRejected(R"({"inputs": [{"name": "f", "shape": [1], "datatype": "FP16", "data": [1]}]})",
                 "input \"f\": datatype FP16 needs the binary tensor data extension");
  ExpectRejected(R"({"inputs": [{"name": "f", "shape": [1], "data": [1]}]})",
                 "input \"f\": datatype: missing required field");
}

TEST(InferProtocol, RejectsMalformedTensorFields) {
  ExpectRejected(R"({"inputs": [{"shape": [1], "datatype": "FP32", "data": [1]}]})",
                 "inputs[0].name: missing required field");
  ExpectRejected(R"({"inputs": [{"name": "f", "datatype": "FP32", "data": [1]}]})",
                 "input \"f\": shape: missing required field");
  ExpectRejected(R"({"inputs": [{"name": "f", "shape": [-1], "datatype": "FP32", "data": []}]})",
                 "input \"f\": shape: dimensions must be non-negative integers, got -1");
  ExpectRejected(R"({"inputs": [{"name": "f", "shape": [1], "datatype": "FP32"}]})",
                 "input \"f\": data: missing required field");
  ExpectRejected(R"({"inputs": [{"name": "f", "shape": [1], "datatype": "FP32", "data": 1}]})",
                 "input \"f\": data: expected an array, got integer");
  ExpectRejected(
      R"({"inputs": [{"name": "f", "shape": [1], "datatype": "FP32", "data": [1], "dtype": 1}]})",
      "input \"f\".dtype: unknown field");
  ExpectRejected(R"({"inputs": [{"name": "f", "shape": [1], "datatype": "FP32", "data": [1]},
                                {"name": "f", "shape": [1], "datatype": "FP32", "data": [2]}]})",
                 "input \"f\": appears twice in inputs");
}

TEST(InferProtocol, RejectsMalformedRequest) {
  ExpectRejected("[]", "request body: expected an object, got array");
  ExpectRejected("{}", "inputs: missing required field");
  ExpectRejected(R"({"inputs": []})", "inputs: empty, expected at least one tensor");
  ExpectRejected(R"({"inputs": {}})", "inputs: expected an array, got object");
  ExpectRejected(R"({"id": 5, "inputs": []})", "id: expected a string, got integer");
  ExpectRejected(R"({"input": []})", "input: unknown field");
  ExpectRejected(R"({"inputs": [1]})", "inputs[0]: expected an object, got integer");
  ExpectRejected(R"({"inputs": [{"name": "f", "shape": [1], "datatype": "FP32", "data": [1]}],
                     "outputs": [{"label": "x"}]})",
                 "outputs[0].name: missing required field");
  ExpectRejected("", "request body: empty");
  ExpectRejected("{\"inputs\": [", "request body: invalid JSON");
}

TEST(InferProtocol, RejectsNonFiniteTokens) {
  ExpectRejected(R"({"inputs": [{"name": "f", "shape": [1], "datatype": "FP32", "data": [NaN]}]})",
                 "NaN and Infinity are not JSON: send null for a missing value");
  ExpectRejected(
      R"({"inputs": [{"name": "f", "shape": [1], "datatype": "FP32", "data": [-Infinity]}]})",
      "NaN and Infinity are not JSON");
  ExpectRejected(
      R"({"inputs": [{"name": "f", "shape": [1], "datatype": "FP64", "data": [1e400]}]})",
      "a number is outside the range of a double");
}

TEST(InferProtocol, NaNInsideStringIsNoHint) {
  Result<InferRequest> request = ParseInferRequest(R"({"inputs": [{"name": "NaN"}] )");
  ASSERT_FALSE(request.has_value());
  EXPECT_THAT(request.error().message(), ::testing::Not(HasSubstr("NaN and Infinity")));
}

TEST(InferProtocol, RejectsBinaryData) {
  ExpectRejected(R"({"inputs": [{"name": "f", "shape": [1], "datatype": "FP32", "data": [1],
                                 "parameters": {"binary_data_size": 4}}]})",
                 "input \"f\": parameters.binary_data_size: the binary tensor data extension is "
                 "not supported");
  ExpectRejected(R"({"inputs": [{"name": "f", "shape": [1], "datatype": "FP32", "data": [1]}],
                     "outputs": [{"name": "prediction", "parameters": {"binary_data": true}}]})",
                 "output \"prediction\": parameters.binary_data");
  Result<InferRequest> allowed = ParseInferRequest(
      R"({"inputs": [{"name": "f", "shape": [1], "datatype": "FP32", "data": [1]}],
          "outputs": [{"name": "prediction", "parameters": {"binary_data": false}}]})");
  EXPECT_TRUE(allowed.has_value()) << allowed.error().message();
}

TEST(InferProtocol, ParsesLargeNestedBatch) {
  constexpr int kRows = 10000;
  std::string body =
      R"({"inputs": [{"name": "features", "shape": [10000, 3], "datatype": "FP32", "data": [)";
  for (int row = 0; row < kRows; ++row) {
    if (row > 0) body.push_back(',');
    body.append(fmt::format("[{},{},{}]", row, row * 0.5, -row));
  }
  body.append("]}]}");
  Result<InferRequest> request = ParseInferRequest(body);
  ASSERT_TRUE(request.has_value()) << request.error().message();
  ASSERT_EQ(request->inputs[0].numbers.size(), 3u * kRows);
  EXPECT_EQ(request->inputs[0].numbers[3 * 9999 + 1], 9999 * 0.5);
}

TEST(InferProtocol, ResponseFloatsRoundTrip) {
  const float values[] = {0.1f,
                          1.0f / 3.0f,
                          123456.789f,
                          -7.5e-8f,
                          std::numeric_limits<float>::max(),
                          std::numeric_limits<float>::denorm_min()};
  std::string body = EncodeInferResponse("flights \"delay\"", "3", std::string("req-9"), values);
  Json document = Json::parse(body);
  EXPECT_EQ(document.at("model_name"), "flights \"delay\"");
  EXPECT_EQ(document.at("model_version"), "3");
  EXPECT_EQ(document.at("id"), "req-9");
  const Json& output = document.at("outputs").at(0);
  EXPECT_EQ(output.at("name"), "prediction");
  EXPECT_EQ(output.at("datatype"), "FP32");
  EXPECT_EQ(output.at("shape"), Json::array({6}));
  const Json& data = output.at("data");
  ASSERT_EQ(data.size(), 6u);
  for (size_t i = 0; i < data.size(); ++i) {
    // Parse the printed text directly to float, as a float32 client would.
    std::string text = data[i].dump();
    float parsed = 0;
    std::from_chars(text.data(), text.data() + text.size(), parsed);
    EXPECT_EQ(parsed, values[i]) << text;
    EXPECT_EQ(static_cast<float>(data[i].get<double>()), values[i]) << text;
  }
}

TEST(InferProtocol, ResponseEscapesStrings) {
  const float values[] = {1.5f};
  std::string body = EncodeInferResponse("m\\1", "v\"2", std::string("a\x01" "b\nc\x1f"), values);
  EXPECT_EQ(body,
            R"({"model_name":"m\\1","model_version":"v\"2","id":"a\u0001b\u000ac\u001f",)"
            R"("outputs":[{"name":"prediction","datatype":"FP32","shape":[1],"data":[1.5]}]})");
}

TEST(InferProtocol, DataTypeNamesRoundTrip) {
  for (DataType type : {DataType::kBool, DataType::kUint8, DataType::kUint16, DataType::kUint32,
                        DataType::kUint64, DataType::kInt8, DataType::kInt16, DataType::kInt32,
                        DataType::kInt64, DataType::kFp16, DataType::kFp32, DataType::kFp64,
                        DataType::kBytes}) {
    EXPECT_EQ(ParseDataType(DataTypeName(type)), type) << DataTypeName(type);
  }
  const std::vector<std::string_view> unknown = {"",        "FP",    "FP3",  "fp32",
                                                  "FP32 ",   " FP32", "BYTESX", "BOOLEAN",
                                                  "INT",     "UINT128", std::string_view("FP32\0", 5)};
  for (std::string_view name : unknown) {
    EXPECT_EQ(ParseDataType(name), std::nullopt) << name;
  }
}

TEST(InferProtocol, ParseIntoReusedRequest) {
  InferRequest request;
  ASSERT_TRUE(ParseInferRequest(
      R"({"id": "r1", "inputs": [{"name": "x", "datatype": "BYTES", "shape": [1], "data": ["a"]}]})",
      request));
  // A body outside the fast reader's form replaces everything.
  ASSERT_TRUE(ParseInferRequest(
      R"({"parameters": {"p": 1}, "inputs": [{"name": "y", "datatype": "FP32", "shape": [2, 1],
          "data": [[1], [2]]}]})",
      request));
  EXPECT_EQ(request.id, std::nullopt);
  EXPECT_EQ(request.parameters, Json({{"p", 1}}));
  ASSERT_EQ(request.inputs.size(), 1u);
  EXPECT_EQ(request.inputs[0].name, "y");
  EXPECT_EQ(request.inputs[0].numbers, (std::vector<double>{1, 2}));
  EXPECT_TRUE(request.inputs[0].strings.empty());

  Status failed = ParseInferRequest(R"({"inputs": [{"name": "f", "data": [NaN]}]})", request);
  ASSERT_FALSE(failed);
  EXPECT_THAT(failed.error().message(), HasSubstr("NaN and Infinity are not JSON"));
}

TEST(InferProtocol, ResponseOmitsAbsentIdAndNullsNaN) {
  const float values[] = {std::numeric_limits<float>::quiet_NaN()};
  std::string body = EncodeInferResponse("m", "1", std::nullopt, values);
  Json document = Json::parse(body);
  EXPECT_FALSE(document.contains("id"));
  EXPECT_TRUE(document.at("outputs").at(0).at("data").at(0).is_null());
}

}  // namespace
}  // namespace tandem::serving
