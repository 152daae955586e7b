#include "serving/feature_batch.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <string_view>
#include <vector>

#include "serving/sagemaker_protocol.h"

namespace tandem::serving {
namespace {

using ::testing::HasSubstr;

// Features: distance (numeric), origin (categorical: SFO=0, JFK=1, unseen=2),
// dep (datetime: hour, day_of_week) -> 4 model inputs.
model::FeaturePipeline TestPipeline() {
  Json spec = Json::parse(R"({
    "Label": "delay",
    "Features": [
      {"Field": "distance", "Kind": "numeric"},
      {"Field": "origin", "Kind": "categorical"},
      {"Field": "dep", "Kind": "datetime", "Parts": ["hour", "day_of_week"]}]})");
  auto parsed = model::FeaturePipelineSpec::FromJson(spec, "FeaturePipeline");
  EXPECT_TRUE(parsed.has_value()) << parsed.error().message();
  auto pipeline = model::FeaturePipeline::Create(*parsed, {{}, {"SFO", "JFK"}, {}});
  EXPECT_TRUE(pipeline.has_value()) << pipeline.error().message();
  return *pipeline;
}

Result<FeatureBatch> FromBody(std::string_view body) {
  TANDEM_ASSIGN_OR_RETURN(InferRequest request, ParseInferRequest(body));
  return FeaturesFromInferRequest(request, TestPipeline());
}

void ExpectRejected(std::string_view body, std::string_view needle) {
  Result<FeatureBatch> batch = FromBody(body);
  ASSERT_FALSE(batch.has_value()) << body;
  EXPECT_EQ(batch.error().code(), ErrorCode::kInvalidArgument) << body;
  EXPECT_THAT(batch.error().message(), HasSubstr(needle)) << body;
}

constexpr std::string_view kRawBody = R"({"inputs": [
  {"name": "distance", "shape": [3], "datatype": "FP32", "data": [100, null, 2.5]},
  {"name": "origin", "shape": [3], "datatype": "BYTES", "data": ["SFO", "JFK", "XXX"]},
  {"name": "dep", "shape": [3, 1], "datatype": "BYTES",
   "data": [["2024-01-01 13:45"], ["2024-01-06 00:10"], [null]]}]})";

TEST(FeatureBatch, RawRecords) {
  Result<FeatureBatch> batch = FromBody(kRawBody);
  ASSERT_TRUE(batch.has_value()) << batch.error().message();
  ASSERT_EQ(batch->rows, 3u);
  ASSERT_EQ(batch->values.size(), 12u);
  // 2024-01-01 is a Monday (day_of_week 0); 2024-01-06 a Saturday (5).
  EXPECT_EQ(batch->values[0], 100.0f);
  EXPECT_EQ(batch->values[1], 0.0f);
  EXPECT_EQ(batch->values[2], 13.0f);
  EXPECT_EQ(batch->values[3], 0.0f);
  EXPECT_TRUE(std::isnan(batch->values[4]));
  EXPECT_EQ(batch->values[5], 1.0f);
  EXPECT_EQ(batch->values[6], 0.0f);
  EXPECT_EQ(batch->values[7], 5.0f);
  EXPECT_EQ(batch->values[8], 2.5f);
  EXPECT_EQ(batch->values[9], 2.0f);
  EXPECT_TRUE(std::isnan(batch->values[10]));
  EXPECT_TRUE(std::isnan(batch->values[11]));
}

TEST(FeatureBatch, ReusedBatchEqualsFresh) {
  const model::FeaturePipeline pipeline = TestPipeline();
  const std::vector<std::string_view> bodies = {
      kRawBody,
      R"({"inputs": [
        {"name": "dep", "shape": [1], "datatype": "BYTES", "data": ["2024-01-06 00:10"]},
        {"name": "origin", "shape": [1], "datatype": "BYTES", "data": ["JFK"]},
        {"name": "distance", "shape": [1], "datatype": "INT32", "data": [7]}]})",
      R"({"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP32",
                      "data": [1, 2, 3, 4]}]})",
      kRawBody,
  };
  FeatureBatch reused;
  for (std::string_view body : bodies) {
    Result<InferRequest> request = ParseInferRequest(body);
    ASSERT_TRUE(request.has_value()) << request.error().message();
    Result<FeatureBatch> fresh = FeaturesFromInferRequest(*request, pipeline);
    ASSERT_TRUE(fresh.has_value()) << fresh.error().message();
    ASSERT_TRUE(FeaturesFromInferRequest(*request, pipeline, reused)) << body;
    EXPECT_EQ(reused.rows, fresh->rows) << body;
    ASSERT_EQ(reused.values.size(), fresh->values.size()) << body;
    for (size_t i = 0; i < reused.values.size(); ++i) {
      EXPECT_EQ(std::bit_cast<uint32_t>(reused.values[i]), std::bit_cast<uint32_t>(fresh->values[i]))
          << body << " value " << i;
    }
  }
}

TEST(FeatureBatch, EncodedEqualsRaw) {
  Result<FeatureBatch> raw = FromBody(kRawBody);
  ASSERT_TRUE(raw.has_value()) << raw.error().message();
  Result<FeatureBatch> encoded = FromBody(R"({"inputs": [{"name": "features", "shape": [3, 4],
      "datatype": "FP64", "data": [[100, 0, 13, 0], [null, 1, 0, 5], [2.5, 2, null, null]]}]})");
  ASSERT_TRUE(encoded.has_value()) << encoded.error().message();
  ASSERT_EQ(encoded->rows, 3u);
  ASSERT_EQ(encoded->values.size(), raw->values.size());
  for (size_t i = 0; i < raw->values.size(); ++i) {
    if (std::isnan(raw->values[i])) {
      EXPECT_TRUE(std::isnan(encoded->values[i])) << i;
    } else {
      EXPECT_EQ(encoded->values[i], raw->values[i]) << i;
    }
  }
}

TEST(FeatureBatch, SingleRank2InputIsEncoded) {
  Result<FeatureBatch> batch = FromBody(
      R"({"inputs": [{"name": "input__0", "shape": [1, 4], "datatype": "BOOL", "data": [true, false, true, true]}]})");
  ASSERT_TRUE(batch.has_value()) << batch.error().message();
  EXPECT_EQ(batch->values, std::vector<float>({1, 0, 1, 1}));
}

TEST(FeatureBatch, RejectsMissingField) {
  ExpectRejected(R"({"inputs": [
      {"name": "distance", "shape": [1], "datatype": "FP32", "data": [1]},
      {"name": "origin", "shape": [1], "datatype": "BYTES", "data": ["SFO"]}]})",
                 "missing input \"dep\" (raw field of type datetime)");
}

TEST(FeatureBatch, RejectsUnknownInput) {
  ExpectRejected(R"({"inputs": [
      {"name": "distance", "shape": [1], "datatype": "FP32", "data": [1]},
      {"name": "origin", "shape": [1], "datatype": "BYTES", "data": ["SFO"]},
      {"name": "dest", "shape": [1], "datatype": "BYTES", "data": ["JFK"]}]})",
                 "unknown input \"dest\"; expected the raw fields \"distance\" (number)");
  ExpectRejected(
      R"({"inputs": [{"name": "distanse", "shape": [1], "datatype": "FP32", "data": [1]}]})",
      "unknown input \"distanse\"");
}

TEST(FeatureBatch, RejectsWrongRawDatatype) {
  ExpectRejected(R"({"inputs": [
      {"name": "distance", "shape": [1], "datatype": "BYTES", "data": ["1"]},
      {"name": "origin", "shape": [1], "datatype": "BYTES", "data": ["SFO"]},
      {"name": "dep", "shape": [1], "datatype": "BYTES", "data": ["2024-01-01 10:00"]}]})",
                 "input \"distance\": datatype BYTES does not fit raw field type number");
  ExpectRejected(R"({"inputs": [
      {"name": "distance", "shape": [1], "datatype": "FP32", "data": [1]},
      {"name": "origin", "shape": [1], "datatype": "INT32", "data": [3]},
      {"name": "dep", "shape": [1], "datatype": "BYTES", "data": ["2024-01-01 10:00"]}]})",
                 "input \"origin\": datatype INT32 does not fit raw field type string; send BYTES");
}

TEST(FeatureBatch, RejectsRawShapes) {
  ExpectRejected(R"({"inputs": [
      {"name": "distance", "shape": [1, 2], "datatype": "FP32", "data": [1, 2]},
      {"name": "origin", "shape": [1], "datatype": "BYTES", "data": ["SFO"]},
      {"name": "dep", "shape": [1], "datatype": "BYTES", "data": ["2024-01-01 10:00"]}]})",
                 "input \"distance\": shape [1, 2] is not [n] or [n, 1]");
  ExpectRejected(R"({"inputs": [
      {"name": "distance", "shape": [2], "datatype": "FP32", "data": [1, 2]},
      {"name": "origin", "shape": [1], "datatype": "BYTES", "data": ["SFO"]},
      {"name": "dep", "shape": [2], "datatype": "BYTES", "data": ["2024-01-01 10:00", ""]}]})",
                 "input \"origin\": has 1 rows but input \"distance\" has 2");
}

TEST(FeatureBatch, RejectsEmptyBatch) {
  ExpectRejected(R"({"inputs": [
      {"name": "distance", "shape": [0], "datatype": "FP32", "data": []},
      {"name": "origin", "shape": [0], "datatype": "BYTES", "data": []},
      {"name": "dep", "shape": [0], "datatype": "BYTES", "data": []}]})",
                 "input \"distance\": empty batch (shape [0])");
  ExpectRejected(
      R"({"inputs": [{"name": "features", "shape": [0, 4], "datatype": "FP32", "data": []}]})",
      "input \"features\": empty batch (shape [0, 4])");
}

TEST(FeatureBatch, RejectsBadEncodedInput) {
  ExpectRejected(
      R"({"inputs": [{"name": "features", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]})",
      "input \"features\": shape [1, 3] does not match [n, 4]");
  ExpectRejected(
      R"({"inputs": [{"name": "features", "shape": [4], "datatype": "FP32", "data": [1, 2, 3, 4]}]})",
      "input \"features\": shape [4] does not match [n, 4]");
  ExpectRejected(
      R"({"inputs": [{"name": "features", "shape": [1, 4], "datatype": "BYTES", "data": ["1", "2", "3", "4"]}]})",
      "input \"features\": datatype BYTES cannot hold encoded features");
  ExpectRejected(
      R"({"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 1e300, 4]}]})",
      "input \"features\": row 0 column 2: 1e+300 is outside the float32 range");
  ExpectRejected(R"({"inputs": [
      {"name": "features", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]},
      {"name": "distance", "shape": [1], "datatype": "FP32", "data": [1]}]})",
                 "input \"features\": encoded features must be the only input");
}

TEST(FeatureBatch, PipelineErrorNamesRowAndField) {
  ExpectRejected(R"({"inputs": [
      {"name": "distance", "shape": [2], "datatype": "FP32", "data": [1, 2]},
      {"name": "origin", "shape": [2], "datatype": "BYTES", "data": ["SFO", "JFK"]},
      {"name": "dep", "shape": [2], "datatype": "BYTES", "data": ["2024-01-01 10:00", "soon"]}]})",
                 "row 1: ");
  Result<FeatureBatch> batch = FromBody(R"({"inputs": [
      {"name": "distance", "shape": [1], "datatype": "FP32", "data": [1]},
      {"name": "origin", "shape": [1], "datatype": "BYTES", "data": ["SFO"]},
      {"name": "dep", "shape": [1], "datatype": "BYTES", "data": ["soon"]}]})");
  ASSERT_FALSE(batch.has_value());
  EXPECT_THAT(batch.error().message(), HasSubstr("dep"));
}

TEST(FeatureBatch, RejectsUnknownOutput) {
  Result<InferRequest> request = ParseInferRequest(R"({
    "inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}],
    "outputs": [{"name": "prediction"}, {"name": "probabilities"}]})");
  ASSERT_TRUE(request.has_value()) << request.error().message();
  Status status = CheckRequestedOutputs(*request);
  ASSERT_FALSE(status.has_value());
  EXPECT_EQ(status.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(status.error().message(), HasSubstr("unknown output \"probabilities\""));
}

TEST(FeatureBatch, LargeRawBatch) {
  constexpr int kRows = 10000;
  std::string distance, origin, dep;
  for (int row = 0; row < kRows; ++row) {
    const char* separator = row > 0 ? "," : "";
    distance += fmt::format("{}{}", separator, row);
    origin += fmt::format("{}\"{}\"", separator, row % 2 == 0 ? "SFO" : "JFK");
    dep += fmt::format("{}\"2024-01-01 {:02}:00\"", separator, row % 24);
  }
  std::string body = fmt::format(R"({{"inputs": [
      {{"name": "distance", "shape": [{0}], "datatype": "INT64", "data": [{1}]}},
      {{"name": "origin", "shape": [{0}], "datatype": "BYTES", "data": [{2}]}},
      {{"name": "dep", "shape": [{0}], "datatype": "BYTES", "data": [{3}]}}]}})",
                                 kRows, distance, origin, dep);
  Result<FeatureBatch> batch = FromBody(body);
  ASSERT_TRUE(batch.has_value()) << batch.error().message();
  ASSERT_EQ(batch->rows, static_cast<size_t>(kRows));
  EXPECT_EQ(batch->values[4 * 9999 + 0], 9999.0f);
  EXPECT_EQ(batch->values[4 * 9999 + 1], 1.0f);
  EXPECT_EQ(batch->values[4 * 9999 + 2], static_cast<float>(9999 % 24));
}

TEST(FeatureBatch, RecordsMatchTensors) {
  Result<std::vector<Json>> records = ParseJsonRecords(R"({"instances": [
      {"distance": 100, "origin": "SFO", "dep": "2024-01-01 13:45"},
      {"distance": null, "origin": "JFK", "dep": "2024-01-06 00:10", "ignored": 1}]})");
  ASSERT_TRUE(records.has_value()) << records.error().message();
  Result<FeatureBatch> batch = FeaturesFromRecords(*records, TestPipeline());
  ASSERT_TRUE(batch.has_value()) << batch.error().message();
  Result<FeatureBatch> raw = FromBody(kRawBody);
  ASSERT_TRUE(raw.has_value());
  ASSERT_EQ(batch->rows, 2u);
  for (size_t i = 0; i < 8; ++i) {
    if (std::isnan(raw->values[i])) {
      EXPECT_TRUE(std::isnan(batch->values[i])) << i;
    } else {
      EXPECT_EQ(batch->values[i], raw->values[i]) << i;
    }
  }
}

TEST(FeatureBatch, RecordErrorsNameRecordAndField) {
  Result<std::vector<Json>> records =
      ParseJsonRecords(R"([{"distance": 1, "origin": "SFO", "dep": "2024-01-01 13:45"},
                           {"distance": 1, "dep": "2024-01-01 13:45"}])");
  ASSERT_TRUE(records.has_value());
  Result<FeatureBatch> batch = FeaturesFromRecords(*records, TestPipeline());
  ASSERT_FALSE(batch.has_value());
  EXPECT_EQ(batch.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(batch.error().message(), HasSubstr("record 1: missing field \"origin\""));
}

TEST(FeatureBatch, Csv) {
  Result<FeatureBatch> batch =
      FeaturesFromCsv("100,SFO,2024-01-01 13:45\n,JFK,2024-01-06 00:10\r\n", TestPipeline());
  ASSERT_TRUE(batch.has_value()) << batch.error().message();
  ASSERT_EQ(batch->rows, 2u);
  EXPECT_EQ(batch->values[0], 100.0f);
  EXPECT_EQ(batch->values[2], 13.0f);
  EXPECT_TRUE(std::isnan(batch->values[4]));
  EXPECT_EQ(batch->values[7], 5.0f);
}

TEST(FeatureBatch, CsvErrorsNameLine) {
  Result<FeatureBatch> short_row =
      FeaturesFromCsv("100,SFO,2024-01-01 13:45\n100,SFO\n", TestPipeline());
  ASSERT_FALSE(short_row.has_value());
  EXPECT_EQ(short_row.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(short_row.error().message(),
              ::testing::StartsWith("request body line 2: row has 2 fields, expected 3"));

  Result<FeatureBatch> bad_value = FeaturesFromCsv("abc,SFO,2024-01-01 13:45\n", TestPipeline());
  ASSERT_FALSE(bad_value.has_value());
  EXPECT_THAT(bad_value.error().message(), ::testing::StartsWith("request body line 1: "));
  EXPECT_THAT(bad_value.error().message(), HasSubstr("distance"));

  Result<FeatureBatch> empty = FeaturesFromCsv("\n", TestPipeline());
  ASSERT_FALSE(empty.has_value());
  EXPECT_THAT(empty.error().message(), HasSubstr("empty batch"));
}

}  // namespace
}  // namespace tandem::serving
