#include "model/manifest.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace tandem::model {
namespace {

using ::testing::HasSubstr;

Json PipelineJson() {
  return Json::parse(R"({
    "Label": "delay",
    "Features": [
      {"Field": "distance", "Kind": "numeric"},
      {"Field": "date", "Kind": "datetime", "Format": "%Y-%m-%d %H:%M", "Parts": ["hour"]},
      {"Field": "origin", "Kind": "categorical", "Vocabulary": ["SFO", "JFK"]}
    ]})");
}

ModelManifest SampleManifest() {
  ModelManifest manifest;
  manifest.model_name = "flights-delay";
  manifest.objective = "reg:squarederror";
  auto pipeline = FeaturePipeline::FromJson(PipelineJson(), "FeaturePipeline");
  EXPECT_TRUE(pipeline) << pipeline.error().message();
  manifest.feature_pipeline = *pipeline;
  manifest.input_schema = pipeline->InputSchema();
  manifest.feature_names = pipeline->FeatureNames();
  manifest.metrics = {{"Rmse", 12.5}, {"Mae", 8.25}, {"TrainRows", 900000}};
  manifest.lineage.job_id = "job-5f3a9c0d2e71";
  manifest.lineage.training_job_name = "flights-delay-1";
  manifest.lineage.repository = "flights";
  manifest.lineage.data_digests = {{"train", "sha256:" + std::string(64, 'a')}};
  manifest.lineage.hyper_parameters = {{"num_round", "200"}, {"eta", "0.1"}};
  manifest.lineage.runtime_version = "0.1.0";
  manifest.lineage.created_at = "2026-12-04T19:42:05.123Z";
  manifest.self_tests = {
      {Json{{"distance", 1200}, {"date", "2023-01-05 10:30"}, {"origin", "JFK"}}, 3.25},
  };
  return manifest;
}

// Parses SampleManifest's JSON after `edit` and expects an invalid-argument
// error; returns its message.
template <typename Edit>
std::string ErrorAfter(Edit edit) {
  Json json = SampleManifest().ToJson();
  edit(json);
  auto manifest = ModelManifest::FromJson(json);
  EXPECT_FALSE(manifest);
  if (manifest) return "";
  EXPECT_EQ(manifest.error().code(), ErrorCode::kInvalidArgument);
  return manifest.error().message();
}

TEST(ModelManifestTest, JsonRoundTrip) {
  ModelManifest original = SampleManifest();
  Json json = original.ToJson();
  EXPECT_EQ(json["FormatVersion"], 1);
  EXPECT_EQ(json["Framework"], "xgboost");
  EXPECT_EQ(json["ModelFile"], "model.json");
  EXPECT_EQ(json["OutputSchema"], Json::parse(R"([{"Name": "prediction", "Datatype": "FP32"}])"));
  EXPECT_EQ(json["InputSchema"][1], Json::parse(R"({"Name": "date", "Type": "datetime"})"));
  EXPECT_EQ(json["SelfTestTolerance"], 0.0);

  auto parsed = ModelManifest::Parse(json.dump(), "manifest.json");
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_EQ(parsed->ToJson(), json);
  EXPECT_EQ(parsed->model_name, "flights-delay");
  EXPECT_EQ(parsed->metrics.at("Rmse"), 12.5);
  EXPECT_EQ(parsed->lineage.data_digests.at("train"), "sha256:" + std::string(64, 'a'));
  EXPECT_EQ(parsed->feature_pipeline.vocabulary(2), (std::vector<std::string>{"SFO", "JFK"}));
  ASSERT_EQ(parsed->self_tests.size(), 1u);
  EXPECT_EQ(parsed->self_tests[0].expected, 3.25);
}

TEST(ModelManifestTest, FloatExpectedValueSurvivesTextExactly) {
  ModelManifest manifest = SampleManifest();
  const float value = 0.1f + 1e-7f;
  manifest.self_tests[0].expected = value;
  auto parsed = ModelManifest::Parse(manifest.ToJson().dump(), "manifest.json");
  ASSERT_TRUE(parsed);
  EXPECT_EQ(static_cast<float>(parsed->self_tests[0].expected), value);
}

TEST(ModelManifestTest, OptionalSectionsMayBeAbsent) {
  Json json = SampleManifest().ToJson();
  json.erase("Metrics");
  json.erase("Lineage");
  json.erase("SelfTests");
  json.erase("SelfTestTolerance");
  auto parsed = ModelManifest::FromJson(json);
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_TRUE(parsed->self_tests.empty());
  EXPECT_EQ(parsed->self_test_tolerance, 0);
}

TEST(ModelManifestTest, InvalidJsonNamesSource) {
  auto parsed = ModelManifest::Parse("{\"FormatVersion\": ", "/pkg/manifest.json");
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(parsed.error().message(), HasSubstr("/pkg/manifest.json"));
}

TEST(ModelManifestTest, ErrorsFromParseNameSource) {
  Json json = SampleManifest().ToJson();
  json["FormatVersion"] = 2;
  auto parsed = ModelManifest::Parse(json.dump(), "/pkg/manifest.json");
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().message(),
            "/pkg/manifest.json: FormatVersion: unsupported version 2; this build reads version 1");
}

TEST(ModelManifestTest, UnsupportedFormatVersion) {
  EXPECT_EQ(ErrorAfter([](Json& j) { j["FormatVersion"] = 2; }),
            "FormatVersion: unsupported version 2; this build reads version 1");
}

TEST(ModelManifestTest, MissingModelName) {
  EXPECT_THAT(ErrorAfter([](Json& j) { j.erase("ModelName"); }), HasSubstr("ModelName"));
}

TEST(ModelManifestTest, InvalidModelName) {
  EXPECT_THAT(ErrorAfter([](Json& j) { j["ModelName"] = "-bad name"; }),
              HasSubstr("ModelName: \"-bad name\" is not a valid model name"));
}

TEST(ModelManifestTest, UnsupportedFramework) {
  EXPECT_EQ(ErrorAfter([](Json& j) { j["Framework"] = "sklearn"; }),
            "Framework: unsupported framework \"sklearn\", expected xgboost");
}

TEST(ModelManifestTest, ModelFileMustBePlainName) {
  for (std::string bad : {"../model.json", "/etc/passwd", "sub/model.json", "..", "",
                          "manifest.json"}) {
    EXPECT_THAT(ErrorAfter([&](Json& j) { j["ModelFile"] = bad; }),
                HasSubstr("ModelFile: \"" + bad + "\" is not a plain file name"))
        << bad;
  }
}

TEST(ModelManifestTest, EmptyObjective) {
  EXPECT_EQ(ErrorAfter([](Json& j) { j["Objective"] = ""; }), "Objective: must not be empty");
}

TEST(ModelManifestTest, UnknownTopLevelKey) {
  EXPECT_EQ(ErrorAfter([](Json& j) { j["Extra"] = 1; }), "Extra: unknown field");
}

TEST(ModelManifestTest, UnknownInputType) {
  EXPECT_THAT(ErrorAfter([](Json& j) { j["InputSchema"][0]["Type"] = "float"; }),
              HasSubstr("InputSchema[0].Type: unknown type \"float\""));
}

TEST(ModelManifestTest, InputSchemaMustMatchPipeline) {
  EXPECT_THAT(ErrorAfter([](Json& j) { j["InputSchema"][2]["Name"] = "dest"; }),
              HasSubstr("InputSchema: "));
}

TEST(ModelManifestTest, FeatureNamesMustMatchPipeline) {
  EXPECT_THAT(ErrorAfter([](Json& j) { j["FeatureNames"][1] = "hour"; }),
              HasSubstr("FeatureNames: [\"distance\",\"hour\",\"origin\"] does not match"));
}

TEST(ModelManifestTest, WrongOutputSchema) {
  EXPECT_THAT(ErrorAfter([](Json& j) { j["OutputSchema"][0]["Datatype"] = "FP64"; }),
              HasSubstr("OutputSchema: expected"));
}

TEST(ModelManifestTest, PipelineErrorsNameTheirPath) {
  EXPECT_EQ(ErrorAfter([](Json& j) { j["FeaturePipeline"]["Features"][1]["Kind"] = "text"; }),
            "FeaturePipeline.Features[1].Kind: unknown kind \"text\", expected numeric, datetime "
            "or categorical");
}

TEST(ModelManifestTest, MalformedDigest) {
  EXPECT_THAT(ErrorAfter([](Json& j) { j["Lineage"]["DataDigests"]["train"] = "md5:abc"; }),
              HasSubstr("Lineage.DataDigests.train: \"md5:abc\" is not a digest"));
}

TEST(ModelManifestTest, NonStringHyperParameter) {
  EXPECT_EQ(ErrorAfter([](Json& j) { j["Lineage"]["HyperParameters"]["eta"] = 0.1; }),
            "Lineage.HyperParameters.eta: expected a string, got number");
}

TEST(ModelManifestTest, NonNumericMetric) {
  EXPECT_EQ(ErrorAfter([](Json& j) { j["Metrics"]["Rmse"] = "low"; }),
            "Metrics.Rmse: expected a number, got string");
}

TEST(ModelManifestTest, SelfTestRecordMustBeObject) {
  EXPECT_EQ(ErrorAfter([](Json& j) { j["SelfTests"][0]["Record"] = Json::array(); }),
            "SelfTests[0].Record: expected an object, got array");
}

TEST(ModelManifestTest, SelfTestExpectedMustBeNumber) {
  EXPECT_THAT(ErrorAfter([](Json& j) { j["SelfTests"][0]["Expected"] = "3"; }),
              HasSubstr("SelfTests[0].Expected"));
}

TEST(ModelManifestTest, NegativeTolerance) {
  EXPECT_EQ(ErrorAfter([](Json& j) { j["SelfTestTolerance"] = -1; }),
            "SelfTestTolerance: -1 is invalid, expected a finite number >= 0");
}

TEST(ModelManifestTest, UnknownLineageKey) {
  EXPECT_EQ(ErrorAfter([](Json& j) { j["Lineage"]["Owner"] = "me"; }),
            "Lineage.Owner: unknown field");
}

}  // namespace
}  // namespace tandem::model
