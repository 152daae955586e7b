#include "model/feature_pipeline.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "model/csv.h"
#include "model/test_util.h"

namespace tandem::model {
namespace {

using ::testing::HasSubstr;
using testing::ScratchDir;

// The feature pipeline of the job spec document.
Json FlightsSpecJson() {
  return Json::parse(R"({
    "Label": "delay",
    "Features": [
      {"Field": "distance", "Kind": "numeric"},
      {"Field": "date", "Kind": "datetime", "Format": "%Y-%m-%d %H:%M",
       "Parts": ["hour", "minute_of_day", "day_of_week", "day_of_month", "month"]},
      {"Field": "origin", "Kind": "categorical"},
      {"Field": "destination", "Kind": "categorical"}
    ]})");
}

FeaturePipelineSpec FlightsSpec() {
  auto spec = FeaturePipelineSpec::FromJson(FlightsSpecJson(), "FeaturePipeline");
  EXPECT_TRUE(spec) << spec.error().message();
  return *spec;
}

// A pipeline fitted on a few JSON records: origin counts JFK 3, LAX 3, SFO 5,
// ORD 1; destination BOS 2, SEA 1.
FeaturePipeline FittedFlights() {
  FeaturePipelineFitter fitter(FlightsSpec());
  auto add = [&](std::string_view origin, std::string_view destination) {
    Json record = {{"distance", 1}, {"date", "2023-01-01 00:00"}, {"origin", origin},
                   {"destination", destination}};
    EXPECT_TRUE(fitter.AddJsonRecord(record));
  };
  for (int i = 0; i < 3; ++i) add("JFK", "BOS");
  for (int i = 0; i < 3; ++i) add("LAX", "SEA");
  for (int i = 0; i < 5; ++i) add("SFO", "BOS");
  add("ORD", "BOS");
  auto pipeline = std::move(fitter).Finish();
  EXPECT_TRUE(pipeline) << pipeline.error().message();
  return *pipeline;
}

// Returns the error message of parsing a spec whose first feature is
// replaced by `feature`.
std::string SpecErrorWithFeature(const Json& feature) {
  Json json = FlightsSpecJson();
  json["Features"][1] = feature;
  auto spec = FeaturePipelineSpec::FromJson(json, "FeaturePipeline");
  EXPECT_FALSE(spec);
  if (spec) return "";
  EXPECT_EQ(spec.error().code(), ErrorCode::kInvalidArgument);
  return spec.error().message();
}

std::vector<uint32_t> Bits(const std::vector<float>& values) {
  std::vector<uint32_t> bits;
  for (float v : values) bits.push_back(std::bit_cast<uint32_t>(v));
  return bits;
}

// ---------------------------------------------------------------------------
// Spec parsing

TEST(FeaturePipelineSpecTest, ParsesJobSpecExample) {
  FeaturePipelineSpec spec = FlightsSpec();
  EXPECT_EQ(spec.label, "delay");
  ASSERT_EQ(spec.features.size(), 4u);
  EXPECT_EQ(spec.features[1].kind, FeatureKind::kDatetime);
  EXPECT_EQ(spec.features[1].format, "%Y-%m-%d %H:%M");
  EXPECT_EQ(spec.features[1].parts,
            (std::vector<DatetimePart>{DatetimePart::kHour, DatetimePart::kMinuteOfDay,
                                       DatetimePart::kDayOfWeek, DatetimePart::kDayOfMonth,
                                       DatetimePart::kMonth}));
  EXPECT_EQ(spec.features[2].kind, FeatureKind::kCategorical);
  EXPECT_EQ(spec.ToJson(), FlightsSpecJson());
}

TEST(FeaturePipelineSpecTest, DatetimeFormatDefaults) {
  Json json = FlightsSpecJson();
  json["Features"][1].erase("Format");
  auto spec = FeaturePipelineSpec::FromJson(json, "FeaturePipeline");
  ASSERT_TRUE(spec) << spec.error().message();
  EXPECT_EQ(spec->features[1].format, kDefaultDatetimeFormat);
}

TEST(FeaturePipelineSpecTest, UnknownKindNamesPath) {
  Json json = FlightsSpecJson();
  json["Features"][2]["Kind"] = "text";
  auto spec = FeaturePipelineSpec::FromJson(json, "FeaturePipeline");
  ASSERT_FALSE(spec);
  EXPECT_EQ(spec.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(spec.error().message(),
            "FeaturePipeline.Features[2].Kind: unknown kind \"text\", expected numeric, datetime "
            "or categorical");
}

TEST(FeaturePipelineSpecTest, MissingLabelIsRejected) {
  Json json = FlightsSpecJson();
  json.erase("Label");
  auto spec = FeaturePipelineSpec::FromJson(json, "FeaturePipeline");
  ASSERT_FALSE(spec);
  EXPECT_EQ(spec.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(spec.error().message(), HasSubstr("FeaturePipeline.Label"));
}

TEST(FeaturePipelineSpecTest, EmptyLabelIsRejected) {
  Json json = FlightsSpecJson();
  json["Label"] = "";
  auto spec = FeaturePipelineSpec::FromJson(json, "FeaturePipeline");
  ASSERT_FALSE(spec);
  EXPECT_EQ(spec.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(spec.error().message(), "FeaturePipeline.Label: must not be empty");
}

TEST(FeaturePipelineSpecTest, EmptyFeaturesIsRejected) {
  Json json = FlightsSpecJson();
  json["Features"] = Json::array();
  auto spec = FeaturePipelineSpec::FromJson(json, "FeaturePipeline");
  ASSERT_FALSE(spec);
  EXPECT_EQ(spec.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(spec.error().message(),
              HasSubstr("FeaturePipeline.Features: expected a non-empty array"));
}

TEST(FeaturePipelineSpecTest, UnknownKeyIsRejected) {
  Json json = FlightsSpecJson();
  json["Features"][0]["Scale"] = 2;
  auto spec = FeaturePipelineSpec::FromJson(json, "FeaturePipeline");
  ASSERT_FALSE(spec);
  EXPECT_EQ(spec.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(spec.error().message(), HasSubstr("FeaturePipeline.Features[0].Scale"));
}

TEST(FeaturePipelineSpecTest, VocabularyIsRejectedInSpecForm) {
  Json json = FlightsSpecJson();
  json["Features"][2]["Vocabulary"] = {"JFK"};
  auto spec = FeaturePipelineSpec::FromJson(json, "FeaturePipeline");
  ASSERT_FALSE(spec);
  EXPECT_EQ(spec.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(spec.error().message(), HasSubstr("FeaturePipeline.Features[2].Vocabulary"));
}

TEST(FeaturePipelineSpecTest, EmptyFieldIsRejected) {
  std::string message = SpecErrorWithFeature({{"Field", ""}, {"Kind", "numeric"}});
  EXPECT_EQ(message, "FeaturePipeline.Features[1].Field: must not be empty");
}

TEST(FeaturePipelineSpecTest, FormatOnNumericIsRejected) {
  std::string message =
      SpecErrorWithFeature({{"Field", "x"}, {"Kind", "numeric"}, {"Format", "%Y"}});
  EXPECT_EQ(message, "FeaturePipeline.Features[1]: only datetime features take Format");
}

TEST(FeaturePipelineSpecTest, PartsOnCategoricalIsRejected) {
  std::string message =
      SpecErrorWithFeature({{"Field", "x"}, {"Kind", "categorical"}, {"Parts", {"hour"}}});
  EXPECT_EQ(message, "FeaturePipeline.Features[1]: only datetime features take Parts");
}

TEST(FeaturePipelineSpecTest, DatetimeWithoutPartsIsRejected) {
  std::string message = SpecErrorWithFeature({{"Field", "x"}, {"Kind", "datetime"}});
  EXPECT_THAT(message, HasSubstr("FeaturePipeline.Features[1].Parts: required"));
}

TEST(FeaturePipelineSpecTest, UnknownPartIsRejected) {
  std::string message = SpecErrorWithFeature(
      {{"Field", "x"}, {"Kind", "datetime"}, {"Parts", {"hour", "week"}}});
  EXPECT_THAT(message, HasSubstr("FeaturePipeline.Features[1].Parts[1]: unknown part \"week\""));
}

TEST(FeaturePipelineSpecTest, RepeatedPartIsRejected) {
  std::string message = SpecErrorWithFeature(
      {{"Field", "x"}, {"Kind", "datetime"}, {"Parts", {"hour", "hour"}}});
  EXPECT_THAT(message, HasSubstr("FeaturePipeline.Features[1].Parts[1]: part \"hour\" is listed twice"));
}

TEST(FeaturePipelineSpecTest, UnsupportedDirectiveIsRejected) {
  std::string message = SpecErrorWithFeature(
      {{"Field", "x"}, {"Kind", "datetime"}, {"Format", "%d %b %Y"}, {"Parts", {"month"}}});
  EXPECT_THAT(message,
              HasSubstr("FeaturePipeline.Features[1].Format: unsupported directive %b"));
}

TEST(FeaturePipelineSpecTest, DuplicateFieldIsRejected) {
  std::string message = SpecErrorWithFeature({{"Field", "origin"}, {"Kind", "categorical"}});
  EXPECT_EQ(message,
            "FeaturePipeline.Features[2].Field: \"origin\" is already used by "
            "FeaturePipeline.Features[1]");
}

TEST(FeaturePipelineSpecTest, LabelAsFeatureIsRejected) {
  std::string message = SpecErrorWithFeature({{"Field", "delay"}, {"Kind", "numeric"}});
  EXPECT_THAT(message, HasSubstr("FeaturePipeline.Features[1].Field: \"delay\" is the label"));
}

// ---------------------------------------------------------------------------
// Fitting, names and JSON form

TEST(FeaturePipelineTest, VocabularyIsMostFrequentFirstTiesByValue) {
  FeaturePipeline pipeline = FittedFlights();
  EXPECT_EQ(pipeline.vocabulary(2), (std::vector<std::string>{"SFO", "JFK", "LAX", "ORD"}));
  EXPECT_EQ(pipeline.vocabulary(3), (std::vector<std::string>{"BOS", "SEA"}));
  EXPECT_TRUE(pipeline.vocabulary(0).empty());
}

TEST(FeaturePipelineTest, UnseenValueGetsVocabularySize) {
  FeaturePipeline pipeline = FittedFlights();
  std::vector<float> out(pipeline.num_features());
  Json record = {{"distance", 10}, {"date", "2023-01-01 00:00"}, {"origin", "ATL"},
                 {"destination", "SEA"}};
  ASSERT_TRUE(pipeline.TransformJson(record, out));
  EXPECT_EQ(out[6], 4.0f);  // origin: unseen
  EXPECT_EQ(out[7], 1.0f);  // destination: SEA
  record["origin"] = "JFK";
  ASSERT_TRUE(pipeline.TransformJson(record, out));
  EXPECT_EQ(out[6], 1.0f);
}

TEST(FeaturePipelineTest, FeatureNamesAndInputSchema) {
  FeaturePipeline pipeline = FittedFlights();
  EXPECT_EQ(pipeline.num_features(), 8u);
  EXPECT_EQ(pipeline.FeatureNames(),
            (std::vector<std::string>{"distance", "date_hour", "date_minute_of_day",
                                      "date_day_of_week", "date_day_of_month", "date_month",
                                      "origin", "destination"}));
  EXPECT_EQ(pipeline.InputSchema(),
            (std::vector<InputField>{{"distance", "number"},
                                     {"date", "datetime"},
                                     {"origin", "string"},
                                     {"destination", "string"}}));
}

TEST(FeaturePipelineTest, JsonRoundTripKeepsVocabularies) {
  FeaturePipeline pipeline = FittedFlights();
  Json json = pipeline.ToJson();
  EXPECT_EQ(json["Features"][2]["Vocabulary"], Json({"SFO", "JFK", "LAX", "ORD"}));
  EXPECT_FALSE(json["Features"][0].contains("Vocabulary"));
  auto restored = FeaturePipeline::FromJson(json, "FeaturePipeline");
  ASSERT_TRUE(restored) << restored.error().message();
  EXPECT_EQ(restored->ToJson(), json);
  EXPECT_EQ(restored->FeatureNames(), pipeline.FeatureNames());
  EXPECT_EQ(restored->vocabulary(2), pipeline.vocabulary(2));
}

TEST(FeaturePipelineTest, FittedFormNeedsVocabulary) {
  Json json = FittedFlights().ToJson();
  json["Features"][3].erase("Vocabulary");
  auto restored = FeaturePipeline::FromJson(json, "FeaturePipeline");
  ASSERT_FALSE(restored);
  EXPECT_EQ(restored.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(restored.error().message(), HasSubstr("FeaturePipeline.Features[3].Vocabulary"));
}

TEST(FeaturePipelineTest, RepeatedVocabularyValueIsRejected) {
  Json json = FittedFlights().ToJson();
  json["Features"][2]["Vocabulary"] = {"SFO", "JFK", "SFO"};
  auto restored = FeaturePipeline::FromJson(json, "FeaturePipeline");
  ASSERT_FALSE(restored);
  EXPECT_EQ(restored.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(restored.error().message(),
            "FeaturePipeline.Features[2].Vocabulary[2]: \"SFO\" repeats entry 0");
}

TEST(FeaturePipelineTest, NonStringVocabularyEntryIsRejected) {
  Json json = FittedFlights().ToJson();
  json["Features"][2]["Vocabulary"] = {"SFO", 7};
  auto restored = FeaturePipeline::FromJson(json, "FeaturePipeline");
  ASSERT_FALSE(restored);
  EXPECT_EQ(restored.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(restored.error().message(), HasSubstr("FeaturePipeline.Features[2].Vocabulary[1]"));
}

TEST(FeaturePipelineTest, FitsFromCsvFile) {
  ScratchDir dir;
  auto file = dir.Write("train.csv",
                        "delay,origin,destination,distance,date\n"
                        "1,JFK,BOS,100,2023-01-01 10:00\n"
                        "2,LAX,BOS,200,2023-01-02 11:00\n"
                        "3,LAX,SEA,300,2023-01-03 12:00\n");
  auto reader = CsvReader::Open(file);
  ASSERT_TRUE(reader);
  FeaturePipelineFitter fitter(FlightsSpec());
  auto layout = fitter.unfitted().BindCsvHeader(reader->header(), file.string(), true);
  ASSERT_TRUE(layout) << layout.error().message();
  Status failed = Ok();
  auto summary = reader->ReadRecords([&](const CsvRecord& record) {
    failed = fitter.AddCsvRecord(*layout, record.fields, "file " + file.string(), record.line);
    return failed.has_value();
  });
  ASSERT_TRUE(summary);
  ASSERT_TRUE(failed);
  EXPECT_EQ(fitter.records(), 3u);
  auto pipeline = std::move(fitter).Finish();
  ASSERT_TRUE(pipeline);
  EXPECT_EQ(pipeline->vocabulary(2), (std::vector<std::string>{"LAX", "JFK"}));
  EXPECT_EQ(pipeline->vocabulary(3), (std::vector<std::string>{"BOS", "SEA"}));
}

// ---------------------------------------------------------------------------
// Transform: CSV and JSON parity

TEST(FeaturePipelineTest, CsvAndJsonGiveIdenticalBits) {
  FeaturePipeline pipeline = FittedFlights();
  std::vector<std::string> header = {"destination", "delay", "date", "origin", "distance"};
  auto layout = pipeline.BindCsvHeader(header, "parity.csv", true);
  ASSERT_TRUE(layout) << layout.error().message();

  struct Case {
    std::string csv_distance;
    Json json_distance;
    std::string origin_text;
    Json origin_json;
  };
  const std::vector<Case> cases = {
      {"1.1", 1.1, "SFO", "SFO"},
      {"0.1", 0.1, "LAX", "LAX"},
      {"16777217", 16777217, "ORD", "ORD"},
      {"1e-3", 0.001, "", nullptr},
      {"-0", -0.0, "42", 42},
      {"-0", Json::parse("-0"), "1.5", 1.5},
      {"3.4028235e38", 3.4028235e38, "JFK", "JFK"},
      {"", nullptr, "XYZ", "XYZ"},
      {" 2.5 ", "2.5", "JFK", "JFK"},
      {"+7", 7, "JFK", "JFK"},
      {"123456789012", "123456789012", "JFK", "JFK"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    std::vector<std::string_view> fields = {"BOS", "5", "2024-02-29 23:59", c.origin_text,
                                            c.csv_distance};
    std::vector<float> from_csv(pipeline.num_features());
    Status csv = pipeline.TransformCsv(*layout, fields, "file parity.csv", i + 2, from_csv);
    ASSERT_TRUE(csv) << csv.error().message();

    Json record = {{"distance", c.json_distance}, {"date", "2024-02-29 23:59"},
                   {"origin", c.origin_json}, {"destination", "BOS"}};
    std::vector<float> from_json(pipeline.num_features());
    Status json = pipeline.TransformJson(record, from_json);
    ASSERT_TRUE(json) << json.error().message();
    EXPECT_EQ(Bits(from_csv), Bits(from_json)) << "case " << i;
  }
}

// Reduces a JSON value of a record to the typed form the way a caller of
// TransformValues with tensors does: numbers as doubles without their text.
RawFieldValue TypedValue(const Json& value) {
  if (value.is_null()) return RawFieldValue::Null();
  if (value.is_string()) return RawFieldValue::Text(value.get_ref<const std::string&>());
  return RawFieldValue::Number(value.get<double>());
}

TEST(FeaturePipelineTest, TypedValuesGiveJsonBits) {
  FeaturePipeline pipeline = FittedFlights();
  // distance, date, origin, destination; numbers are JSON floating-point
  // numbers, as a tensor's doubles are.
  const std::vector<std::vector<Json>> records = {
      {1.1, "2024-02-29 23:59", "SFO", "BOS"},
      {0.1, " 2024-01-01 00:00 ", "LAX", "SEA"},
      {16777217.0, "", "XYZ", ""},
      {-0.0, nullptr, nullptr, nullptr},
      {3.4028235e38, "1999-12-31 12:30", 42.0, 1.5},
      {nullptr, "2024-02-29 23:59", 0.1, 1e21},
      {" 2.5 ", "2024-02-29 23:59", "JFK", "ORD"},
  };
  for (size_t i = 0; i < records.size(); ++i) {
    const std::vector<Json>& values = records[i];
    Json record = {{"distance", values[0]}, {"date", values[1]}, {"origin", values[2]},
                   {"destination", values[3]}};
    std::vector<float> from_json(pipeline.num_features());
    Status json = pipeline.TransformJson(record, from_json);
    ASSERT_TRUE(json) << json.error().message();

    std::vector<RawFieldValue> typed;
    for (const Json& value : values) typed.push_back(TypedValue(value));
    std::vector<float> from_values(pipeline.num_features());
    Status converted = pipeline.TransformValues(typed, from_values);
    ASSERT_TRUE(converted) << converted.error().message();
    EXPECT_EQ(Bits(from_json), Bits(from_values)) << "record " << i;
  }
}

TEST(FeaturePipelineTest, TypedValueErrorsMatchJson) {
  FeaturePipeline pipeline = FittedFlights();
  const std::vector<std::vector<Json>> records = {
      {1e39, "2024-02-29 23:59", "SFO", "BOS"},
      {"12abc", "2024-02-29 23:59", "SFO", "BOS"},
      {1.0, 20240229.5, "SFO", "BOS"},
      {1.0, "2024-02-30 10:00", "SFO", "BOS"},
  };
  for (size_t i = 0; i < records.size(); ++i) {
    const std::vector<Json>& values = records[i];
    Json record = {{"distance", values[0]}, {"date", values[1]}, {"origin", values[2]},
                   {"destination", values[3]}};
    std::vector<float> out(pipeline.num_features());
    Status json = pipeline.TransformJson(record, out);
    ASSERT_FALSE(json) << "record " << i;

    std::vector<RawFieldValue> typed;
    for (const Json& value : values) typed.push_back(TypedValue(value));
    Status converted = pipeline.TransformValues(typed, out);
    ASSERT_FALSE(converted) << "record " << i;
    EXPECT_EQ(converted.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(converted.error().message(), json.error().message());
  }
}

TEST(FeaturePipelineTest, TypedValuesRejectWrongCounts) {
  FeaturePipeline pipeline = FittedFlights();
  std::vector<RawFieldValue> typed(3, RawFieldValue::Null());
  std::vector<float> out(pipeline.num_features());
  Status status = pipeline.TransformValues(typed, out);
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(status.error().message(), HasSubstr("the record 3 fields, expected 8 and 4"));

  typed.resize(4, RawFieldValue::Null());
  std::vector<float> short_out(2);
  status = pipeline.TransformValues(typed, short_out);
  ASSERT_FALSE(status);
  EXPECT_THAT(status.error().message(), HasSubstr("output has 2 values"));
}

TEST(FeaturePipelineTest, NumericValuesAreCorrectlyRounded) {
  FeaturePipeline pipeline = FittedFlights();
  auto layout = pipeline.InputOrderLayout();
  auto distance = [&](std::string_view text) {
    std::vector<std::string_view> fields = {text, "2023-01-01 00:00", "SFO", "BOS"};
    std::vector<float> out(pipeline.num_features());
    Status status = pipeline.TransformCsv(layout, fields, "file x.csv", 2, out);
    EXPECT_TRUE(status) << status.error().message();
    return std::bit_cast<uint32_t>(out[0]);
  };
  // Expected bits from Python: struct.pack('<f', float(text)).
  EXPECT_EQ(distance("1.1"), 1066192077u);
  EXPECT_EQ(distance("0.1"), 1036831949u);
  EXPECT_EQ(distance("16777217"), 1266679808u);
  EXPECT_EQ(distance("1e-3"), 981668463u);
  EXPECT_EQ(distance("3.4028235e38"), 2139095039u);
  EXPECT_EQ(distance("-0"), 0u);
}

TEST(FeaturePipelineTest, EmptyAndNullNumericAreMissing) {
  FeaturePipeline pipeline = FittedFlights();
  std::vector<float> out(pipeline.num_features());
  Json record = {{"distance", nullptr}, {"date", ""}, {"origin", "SFO"}, {"destination", "BOS"}};
  ASSERT_TRUE(pipeline.TransformJson(record, out));
  EXPECT_TRUE(std::isnan(out[0]));
  for (size_t i = 1; i <= 5; ++i) EXPECT_TRUE(std::isnan(out[i])) << i;
  record["distance"] = "";
  ASSERT_TRUE(pipeline.TransformJson(record, out));
  EXPECT_TRUE(std::isnan(out[0]));
  record["distance"] = "nan";
  ASSERT_TRUE(pipeline.TransformJson(record, out));
  EXPECT_TRUE(std::isnan(out[0]));
}

TEST(FeaturePipelineTest, BadCsvNumberNamesLocation) {
  FeaturePipeline pipeline = FittedFlights();
  auto layout = pipeline.InputOrderLayout();
  std::vector<std::string_view> fields = {"12abc", "2023-01-01 00:00", "SFO", "BOS"};
  std::vector<float> out(pipeline.num_features());
  Status status = pipeline.TransformCsv(layout, fields, "file train.csv", 17, out);
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(status.error().message(),
            "file train.csv line 17: field \"distance\": \"12abc\" is not a number");
}

TEST(FeaturePipelineTest, NonFiniteNumbersAreRejected) {
  FeaturePipeline pipeline = FittedFlights();
  auto layout = pipeline.InputOrderLayout();
  std::vector<float> out(pipeline.num_features());
  for (std::string_view text : {"inf", "-infinity", "1e39", "1e400"}) {
    std::vector<std::string_view> fields = {text, "2023-01-01 00:00", "SFO", "BOS"};
    Status status = pipeline.TransformCsv(layout, fields, "file train.csv", 3, out);
    ASSERT_FALSE(status) << text;
    EXPECT_EQ(status.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(status.error().message(), HasSubstr("field \"distance\"")) << text;
  }
}

TEST(FeaturePipelineTest, NumericTextInJsonNamesField) {
  FeaturePipeline pipeline = FittedFlights();
  std::vector<float> out(pipeline.num_features());
  Json record = {{"distance", "far"}, {"date", "2023-01-01 00:00"}, {"origin", "SFO"},
                 {"destination", "BOS"}};
  Status status = pipeline.TransformJson(record, out);
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(status.error().message(), "field \"distance\": \"far\" is not a number");
}

TEST(FeaturePipelineTest, MissingJsonFieldIsNamed) {
  FeaturePipeline pipeline = FittedFlights();
  std::vector<float> out(pipeline.num_features());
  Json record = {{"distance", 1}, {"date", "2023-01-01 00:00"}, {"destination", "BOS"}};
  Status status = pipeline.TransformJson(record, out);
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(status.error().message(), "missing field \"origin\"");
}

TEST(FeaturePipelineTest, WrongJsonTypesAreRejected) {
  FeaturePipeline pipeline = FittedFlights();
  std::vector<float> out(pipeline.num_features());
  Json record = {{"distance", true}, {"date", "2023-01-01 00:00"}, {"origin", "SFO"},
                 {"destination", "BOS"}};
  Status status = pipeline.TransformJson(record, out);
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(status.error().message(),
            "field \"distance\": expected a string, a number or null, got boolean");

  record["distance"] = 1;
  record["date"] = 20230101;
  status = pipeline.TransformJson(record, out);
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(status.error().message(), HasSubstr("field \"date\": expected a datetime string"));

  status = pipeline.TransformJson(Json::array({1, 2}), out);
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(status.error().message(), "record: expected an object, got array");
}

TEST(FeaturePipelineTest, ShortCsvRecordIsRejected) {
  FeaturePipeline pipeline = FittedFlights();
  std::vector<std::string_view> fields = {"1", "2023-01-01 00:00"};
  std::vector<float> out(pipeline.num_features());
  Status status = pipeline.TransformCsv(pipeline.InputOrderLayout(), fields, "request body", 1, out);
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(status.error().message(), "request body line 1: record has 2 fields, expected at least 4");
}

TEST(FeaturePipelineTest, WrongOutputSizeIsRejected) {
  FeaturePipeline pipeline = FittedFlights();
  std::vector<float> out(3);
  Status status = pipeline.TransformJson(Json::object(), out);
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(status.error().message(), HasSubstr("output has 3 values, expected 8"));
}

TEST(FeaturePipelineTest, MissingCsvColumnIsNamed) {
  FeaturePipeline pipeline = FittedFlights();
  std::vector<std::string> header = {"delay", "date", "origin", "destination"};
  auto layout = pipeline.BindCsvHeader(header, "train.csv", true);
  ASSERT_FALSE(layout);
  EXPECT_EQ(layout.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(layout.error().message(),
            "file train.csv: header has no column \"distance\", which "
            "FeaturePipeline.Features[0] reads");
}

TEST(FeaturePipelineTest, MissingLabelColumnIsNamedOnlyWhenRequired) {
  FeaturePipeline pipeline = FittedFlights();
  std::vector<std::string> header = {"distance", "date", "origin", "destination"};
  auto required = pipeline.BindCsvHeader(header, "train.csv", true);
  ASSERT_FALSE(required);
  EXPECT_EQ(required.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(required.error().message(), "file train.csv: header has no label column \"delay\"");
  auto optional = pipeline.BindCsvHeader(header, "score.csv", false);
  ASSERT_TRUE(optional);
  EXPECT_FALSE(optional->label_column.has_value());
}

TEST(FeaturePipelineTest, CsvLabelParsesAndRejectsEmpty) {
  FeaturePipeline pipeline = FittedFlights();
  std::vector<std::string> header = {"delay", "distance", "date", "origin", "destination"};
  auto layout = pipeline.BindCsvHeader(header, "train.csv", true);
  ASSERT_TRUE(layout);
  std::vector<std::string_view> fields = {"-12.5", "1", "2023-01-01 00:00", "SFO", "BOS"};
  auto label = pipeline.CsvLabel(*layout, fields, "file train.csv", 2);
  ASSERT_TRUE(label) << label.error().message();
  EXPECT_EQ(*label, -12.5f);

  fields[0] = "";
  label = pipeline.CsvLabel(*layout, fields, "file train.csv", 9);
  ASSERT_FALSE(label);
  EXPECT_EQ(label.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(label.error().message(), "file train.csv line 9: label \"delay\" is empty");

  fields[0] = "late";
  label = pipeline.CsvLabel(*layout, fields, "file train.csv", 10);
  ASSERT_FALSE(label);
  EXPECT_EQ(label.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(label.error().message(),
            "file train.csv line 10: field \"delay\": \"late\" is not a number");
}

// ---------------------------------------------------------------------------
// Datetimes

// Builds a pipeline with one datetime feature of all parts.
FeaturePipeline DatetimePipeline(std::string_view format) {
  FeaturePipelineSpec spec;
  spec.label = "y";
  spec.features.push_back({"when", FeatureKind::kDatetime, std::string(format),
                           {DatetimePart::kYear, DatetimePart::kMonth, DatetimePart::kDayOfMonth,
                            DatetimePart::kDayOfWeek, DatetimePart::kHour,
                            DatetimePart::kMinuteOfDay}});
  auto pipeline = FeaturePipeline::Create(std::move(spec), {{}});
  EXPECT_TRUE(pipeline) << pipeline.error().message();
  return *pipeline;
}

Result<std::vector<float>> DatetimeParts(const FeaturePipeline& pipeline, std::string_view text) {
  std::vector<float> out(pipeline.num_features());
  TANDEM_RETURN_IF_ERROR(pipeline.TransformJson(Json{{"when", text}}, out));
  return out;
}

TEST(FeaturePipelineDatetimeTest, PartsAcrossYears) {
  FeaturePipeline pipeline = DatetimePipeline(kDefaultDatetimeFormat);
  struct Case {
    std::string text;
    std::vector<float> parts;  // year, month, day, day_of_week (0 = Monday), hour, minute_of_day
  };
  // Days of the week checked with Python's datetime.date.weekday().
  const std::vector<Case> cases = {
      {"2023-01-01 00:00", {2023, 1, 1, 6, 0, 0}},
      {"2024-02-29 23:59", {2024, 2, 29, 3, 23, 1439}},
      {"2000-03-01 12:30", {2000, 3, 1, 2, 12, 750}},
      {"1999-12-31 07:05", {1999, 12, 31, 4, 7, 425}},
      {"2100-03-01 01:01", {2100, 3, 1, 0, 1, 61}},
      {"1970-01-01 00:00", {1970, 1, 1, 3, 0, 0}},
      {"2026-12-04 19:42", {2026, 12, 4, 4, 19, 1182}},
      {"2026-1-4 9:05", {2026, 1, 4, 6, 9, 545}},
  };
  for (const Case& c : cases) {
    auto parts = DatetimeParts(pipeline, c.text);
    ASSERT_TRUE(parts) << c.text << ": " << parts.error().message();
    EXPECT_EQ(*parts, c.parts) << c.text;
  }
}

TEST(FeaturePipelineDatetimeTest, OtherFormats) {
  auto parts = DatetimeParts(DatetimePipeline("%d/%m/%Y %H:%M:%S"), "05/01/2023 10:30:59");
  ASSERT_TRUE(parts) << parts.error().message();
  EXPECT_EQ(*parts, (std::vector<float>{2023, 1, 5, 3, 10, 630}));

  parts = DatetimeParts(DatetimePipeline("%FT%T"), "2023-01-05T10:30:00");
  ASSERT_TRUE(parts) << parts.error().message();
  EXPECT_EQ(*parts, (std::vector<float>{2023, 1, 5, 3, 10, 630}));

  parts = DatetimeParts(DatetimePipeline("%Y%m%d"), "20230105");
  ASSERT_TRUE(parts) << parts.error().message();
  EXPECT_EQ(*parts, (std::vector<float>{2023, 1, 5, 3, 0, 0}));

  // A space in the format matches any run of spaces, including none.
  parts = DatetimeParts(DatetimePipeline("%Y-%m-%d %H:%M"), "2023-01-05   10:30");
  ASSERT_TRUE(parts) << parts.error().message();
  EXPECT_EQ((*parts)[5], 630.0f);
}

TEST(FeaturePipelineDatetimeTest, BadValuesNameFieldValueAndFormat) {
  FeaturePipeline pipeline = DatetimePipeline(kDefaultDatetimeFormat);
  struct Case {
    std::string text;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"2023-02-29 10:00", "day 29 does not exist in 2023-02"},
      {"2023-13-01 10:00", "month 13 is out of range 1-12"},
      {"2023-01-01 24:00", "hour 24 is out of range 0-23"},
      {"2023-01-01", "expected the hour at position 11"},
      {"2023-01-01 10:00:00", "unexpected text at position 17"},
      {"yesterday", "expected the year at position 1"},
      {"2023/01/01 10:00", "expected '-' at position 5"},
  };
  for (const Case& c : cases) {
    auto parts = DatetimeParts(pipeline, c.text);
    ASSERT_FALSE(parts) << c.text;
    EXPECT_EQ(parts.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(parts.error().message(),
              fmt::format("field \"when\": \"{}\" does not match format \"%Y-%m-%d %H:%M\": {}",
                          c.text, c.reason));
  }
}

TEST(FeaturePipelineDatetimeTest, BadDatetimeInCsvNamesFileAndLine) {
  FeaturePipeline pipeline = DatetimePipeline(kDefaultDatetimeFormat);
  std::vector<std::string_view> fields = {"2023-02-30 00:00"};
  std::vector<float> out(pipeline.num_features());
  Status status = pipeline.TransformCsv(pipeline.InputOrderLayout(), fields, "file v.csv", 4, out);
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(status.error().message(),
              HasSubstr("file v.csv line 4: field \"when\": \"2023-02-30 00:00\""));
}

}  // namespace
}  // namespace tandem::model
