// The fast infer request reader against the full parser: for each body it
// either declines or returns exactly what the full parser returns.
#include "serving/infer_request_reader.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <random>
#include <string>
#include <vector>

namespace tandem::serving {
namespace {

// Compares two doubles bit for bit, treating every NaN as equal.
bool SameNumber(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return std::signbit(a) == std::signbit(b) && a == b;
}

void ExpectSameRequest(const InferRequest& fast, const InferRequest& full, const std::string& body) {
  EXPECT_EQ(fast.id, full.id) << body;
  EXPECT_EQ(fast.parameters, full.parameters) << body;
  EXPECT_EQ(fast.outputs, full.outputs) << body;
  ASSERT_EQ(fast.inputs.size(), full.inputs.size()) << body;
  for (size_t i = 0; i < fast.inputs.size(); ++i) {
    const InferInput& a = fast.inputs[i];
    const InferInput& b = full.inputs[i];
    EXPECT_EQ(a.name, b.name) << body;
    EXPECT_EQ(a.datatype, b.datatype) << body;
    EXPECT_EQ(a.shape, b.shape) << body;
    EXPECT_EQ(a.strings, b.strings) << body;
    ASSERT_EQ(a.numbers.size(), b.numbers.size()) << body;
    for (size_t j = 0; j < a.numbers.size(); ++j) {
      EXPECT_TRUE(SameNumber(a.numbers[j], b.numbers[j]))
          << body << " element " << j << ": " << a.numbers[j] << " vs " << b.numbers[j];
    }
  }
}

// Checks one body: a request the fast reader returns must equal the full
// parser's, and the full parser must accept it. Returns whether it was read.
bool CheckBody(const std::string& body) {
  std::optional<InferRequest> fast = ReadCommonInferRequest(body);
  if (!fast) return false;
  Result<Json> document = ParseRequestJson(body, "request body");
  EXPECT_TRUE(document.has_value()) << body;
  if (!document) return true;
  Result<InferRequest> full = InferRequestFromJson(*document);
  EXPECT_TRUE(full.has_value()) << body << ": the full parser rejects it: "
                                << full.error().message();
  if (full) ExpectSameRequest(*fast, *full, body);
  return true;
}

constexpr std::string_view kRawRecord =
    R"({"inputs":[{"name":"distance","datatype":"FP64","shape":[1],"data":[2345]},)"
    R"({"name":"date","datatype":"BYTES","shape":[1],"data":["2001-01-15 00:01"]},)"
    R"({"name":"origin","datatype":"BYTES","shape":[1],"data":["ANC"]}]})";

TEST(InferRequestReader, ReadsCommonBodies) {
  const std::vector<std::string> bodies = {
      std::string(kRawRecord),
      R"({"id": "r1", "inputs": [{"name": "features", "shape": [2, 2], "datatype": "FP32",
          "data": [1.5, null, -3, 4e2]}], "outputs": [{"name": "prediction"}]})",
      R"({"id": null, "outputs": null,
          "inputs": [{"data": [true, false, null], "shape": [3], "datatype": "BOOL", "name": "b"}]})",
      R"({"inputs": [{"name": "u", "datatype": "UINT64", "shape": [2],
          "data": [18446744073709551615, 0]}]})",
      R"({"inputs": [{"name": "i", "datatype": "INT64", "shape": [3],
          "data": [-9223372036854775808, 9223372036854775807, 0]}]})",
      R"({"inputs": [{"name": "i8", "datatype": "INT8", "shape": [2], "data": [-128, 127]}]})",
      R"({"inputs": [{"name": "s", "datatype": "BYTES", "shape": [2], "data": ["a\u00e9\"", null]}]})",
      R"({"inputs": [{"name": "e", "datatype": "FP64", "shape": [0], "data": []}]})",
      R"({"inputs": [{"name": "f", "datatype": "FP64", "shape": [1], "data": [0.1]}]})",
  };
  for (const std::string& body : bodies) EXPECT_TRUE(CheckBody(body)) << body;
}

// Bodies outside the common form, valid or not, are left to the full parser.
TEST(InferRequestReader, DeclinesOtherBodies) {
  const std::vector<std::string> bodies = {
      "",
      "   ",
      "[]",
      "{}",
      R"({"inputs": []})",
      R"({"inputs": [{"name": "f", "datatype": "FP32", "shape": [1], "data": [NaN]}]})",
      R"({"inputs": [{"name": "f", "datatype": "FP32", "shape": [2], "data": [[1], [2]]}]})",
      R"({"inputs": [{"name": "f", "datatype": "FP32", "shape": [2], "data": [1]}]})",
      R"({"inputs": [{"name": "f", "datatype": "FP32", "shape": [1], "data": [1e39]}]})",
      R"({"inputs": [{"name": "f", "datatype": "FP64", "shape": [1], "data": [1e400]}]})",
      R"({"inputs": [{"name": "f", "datatype": "FP64", "shape": [1], "data": [-0.0]}]})",
      R"({"inputs": [{"name": "f", "datatype": "FP16", "shape": [1], "data": [1]}]})",
      R"({"inputs": [{"name": "f", "datatype": "INT8", "shape": [1], "data": [128]}]})",
      R"({"inputs": [{"name": "f", "datatype": "INT8", "shape": [1], "data": [1.0]}]})",
      R"({"inputs": [{"name": "f", "datatype": "INT64", "shape": [1], "data": [9223372036854775808]}]})",
      R"({"inputs": [{"name": "f", "datatype": "UINT8", "shape": [1], "data": [-1]}]})",
      R"({"inputs": [{"name": "f", "datatype": "BOOL", "shape": [1], "data": [1]}]})",
      R"({"inputs": [{"name": "f", "datatype": "BYTES", "shape": [1], "data": [1]}]})",
      R"({"inputs": [{"name": "f", "datatype": "FP32", "shape": [-1], "data": []}]})",
      R"({"inputs": [{"name": "f", "datatype": "FP32", "shape": [1], "data": [1],
          "parameters": {"binary_data_size": 4}}]})",
      R"({"inputs": [{"name": "f", "datatype": "FP32", "shape": [1], "data": [1]}],
          "parameters": {"x": 1}})",
      R"({"inputs": [{"name": "f", "name": "g", "datatype": "FP32", "shape": [1], "data": [1]}]})",
      R"({"inputs": [{"name": "f", "datatype": "FP32", "shape": [1], "data": [1]},
                     {"name": "f", "datatype": "FP32", "shape": [1], "data": [2]}]})",
      R"({"inputs": [{"name": "f", "datatype": "FP32", "shape": [1], "data": [1]}],
          "inputs": [{"name": "g", "datatype": "FP32", "shape": [1], "data": [1]}]})",
      R"({"inputs": [{"name": "f", "datatype": "FP32", "shape": [1], "data": [1]}], "extra": 1})",
      R"({"inputs": [{"name": "f", "datatype": "FP32", "shape": [1], "data": [1]}], "id": 7})",
      R"({"inputs": [{"name": "f", "datatype": "FP32", "shape": [1], "data": [1]}],
          "outputs": [{"name": "prediction", "parameters": {"binary_data": true}}]})",
      R"({"inputs": [{"name": "f", "datatype": "FP32", "shape": [1], "data": [1]}]} trailing)",
      // Invalid JSON of every kind.
      R"({"inputs": [{"name": "f", "datatype": "FP32", "shape": [1], "data": [1]}]}})",
      R"({"inputs": [{"name": "f", "datatype": "FP32", "shape": [1], "data": [1]}]}{})",
      R"({"inputs": [{"name": "f", "datatype": "FP32", "shape": [1], "data": [1]}],})",
      R"({"inputs": [{"name": "f", "datatype": "FP32", "shape": [1], "data": [1,]}]})",
      R"({"inputs": [{"name": "f", "datatype": "FP32", "shape": [1], "data": [1 2]}]})",
      R"({"inputs": [{"name": "f" "datatype": "FP32", "shape": [1], "data": [1]}]})",
      R"({"inputs": [{"name": "f", "datatype": "FP32", "shape": [1], "data": [01]}]})",
      R"({"inputs": [{"name": "f", "datatype": "FP32", "shape": [1], "data": [1.]}]})",
      R"({"inputs": [{"name": "f", "datatype": "FP32", "shape": [1], "data": [+1]}]})",
      R"({"inputs": [{"name": "f", "datatype": "BYTES", "shape": [1], "data": ["a\x"]}]})",
      std::string(R"({"inputs": [{"name": "f", "datatype": "BYTES", "shape": [1], "data": [")") +
          "\xff" + R"("]}]})",
      R"({"inputs": [{"name": "f", "datatype": "BYTES", "shape": [1], "data": ["a)",
      R"({"inputs": [{"name": "f", "datatype": "FP32", "shape": [1], "data": [1]}])",
      R"({"inputs": [{"name": "f", "datatype": "FP32", "shape": [1], "data": [tru]}]})",
      R"({"inputs": [{"name": "f", "datatype": "BOOL", "shape": [1], "data": [nul]}]})",
  };
  for (const std::string& body : bodies) {
    EXPECT_FALSE(ReadCommonInferRequest(body).has_value()) << body;
  }
}

// One InferRequest read into again and again, as the server's threads do,
// contains each time exactly what a fresh read returns.
TEST(InferRequestReader, ReusedRequestEqualsFreshRead) {
  const std::vector<std::string> bodies = {
      R"({"id": "a-long-request-id-beyond-short-strings", "outputs": [{"name": "prediction"}],
          "inputs": [{"name": "s", "datatype": "BYTES", "shape": [3],
                      "data": ["a string longer than sixteen bytes", null, "x"]},
                     {"name": "n", "datatype": "FP64", "shape": [3], "data": [1, 2, 3]},
                     {"name": "b", "datatype": "BOOL", "shape": [1], "data": [true]}]})",
      R"({"inputs": [{"name": "s", "datatype": "FP32", "shape": [1], "data": [0.5]}]})",
      R"({"id": null, "inputs": [{"name": "n", "datatype": "BYTES", "shape": [2],
                                  "data": [null, "short"]},
                                 {"name": "s", "datatype": "BYTES", "shape": [2],
                                  "data": ["y", null]}]})",
      std::string(kRawRecord),
      R"({"id": "r", "inputs": [{"name": "f", "datatype": "FP32", "shape": [2], "data": [1]}]})",
      std::string(kRawRecord),
  };
  InferRequest reused;
  for (const std::string& body : bodies) {
    std::optional<InferRequest> fresh = ReadCommonInferRequest(body);
    const bool read = ReadCommonInferRequest(body, reused);
    ASSERT_EQ(read, fresh.has_value()) << body;
    if (read) ExpectSameRequest(reused, *fresh, body);
  }
}

// Common bodies with random bytes deleted, replaced or inserted, which are
// mostly invalid JSON: whatever the reader returns, the full parser must
// accept and read the same.
TEST(InferRequestReader, MutatedBodiesMatchFullParser) {
  const std::vector<std::string> seeds = {
      std::string(kRawRecord),
      R"({"id": "r1", "inputs": [{"name": "f", "shape": [2, 2], "datatype": "FP32",
          "data": [1.5, null, -3, 4e2]}], "outputs": [{"name": "prediction"}]})",
      R"({"inputs": [{"name": "s", "datatype": "BYTES", "shape": [2], "data": ["a\u00e9\"", null]}]})",
  };
  constexpr std::string_view kBytes = "{}[]\",:\\ 0123456789.eE+-truefalsn\x01\x80\xff";
  std::mt19937_64 random(20261205);
  int read = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string body = seeds[random() % seeds.size()];
    const int edits = 1 + static_cast<int>(random() % 3);
    for (int edit = 0; edit < edits && !body.empty(); ++edit) {
      const size_t at = random() % body.size();
      const char byte = kBytes[random() % kBytes.size()];
      switch (random() % 3) {
        case 0:
          body.erase(at, 1);
          break;
        case 1:
          body[at] = byte;
          break;
        default:
          body.insert(body.begin() + static_cast<ptrdiff_t>(at), byte);
          break;
      }
    }
    if (CheckBody(body)) ++read;
  }
  // Some edits keep the body valid (a digit for a digit, a space added).
  EXPECT_GT(read, 100);
}

// Random single-row bodies in the common form, with numbers of every shape:
// whatever the reader returns equals the full parser's request.
TEST(InferRequestReader, RandomNumbersMatchFullParser) {
  std::mt19937_64 random(20261204);
  const std::vector<std::string> datatypes = {"FP32", "FP64", "INT8",  "INT16", "INT32",
                                              "INT64", "UINT8", "UINT16", "UINT32", "UINT64"};
  int read = 0;
  for (int i = 0; i < 2000; ++i) {
    const std::string& datatype = datatypes[random() % datatypes.size()];
    std::string element;
    switch (random() % 5) {
      case 0:
        element = std::to_string(static_cast<int64_t>(random()));
        break;
      case 1:
        element = std::to_string(random());
        break;
      case 2:
        element = std::to_string(static_cast<int>(random() % 600) - 300);
        break;
      case 3:
        element = fmt::format("{}", std::bit_cast<double>(random()));
        break;
      default:
        element = fmt::format("{:.9g}e{}", static_cast<double>(random() % 100000) / 7.0,
                              static_cast<int>(random() % 80) - 40);
        break;
    }
    const std::string body = fmt::format(
        R"({{"inputs": [{{"name": "x", "datatype": "{}", "shape": [1], "data": [{}]}}]}})",
        datatype, element);
    if (CheckBody(body)) ++read;
  }
  EXPECT_GT(read, 500);
}

}  // namespace
}  // namespace tandem::serving
