#include "serving/inference_service.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>

#include "common/crypto.h"
#include "common/file_util.h"
#include "common/http.h"
#include "model/package.h"
#include "model/xgboost_predictor.h"
#include "serving/model_manager.h"
#include "serving/sagemaker_protocol.h"
#include "serving/test_package.h"
#include "serving/test_server.h"

namespace tandem::serving {
namespace {

using testing::BuildTestPackage;
using ::testing::HasSubstr;
using testing::ScratchDir;
using testing::TestRecord;

constexpr auto kLoadTimeout = std::chrono::seconds(60);

// A real HTTP server on 127.0.0.1 with a port of its own, serving `sources`.
class RunningServer {
 public:
  explicit RunningServer(std::vector<ModelSource> sources, ModelManagerOptions options = {},
                         size_t max_body_bytes = 6 * 1024 * 1024)
      : models_(std::move(sources), std::move(options)),
        service_(models_),
        server_({.host = "127.0.0.1", .port = 0, .threads = 2, .max_body_bytes = max_body_bytes},
                Handler()) {
    Result<uint16_t> port = server_.Start();
    EXPECT_TRUE(port.has_value()) << port.error().message();
    port_ = port.value_or(0);
    client_ = std::make_unique<http::Client>(fmt::format("http://127.0.0.1:{}", port_));
    models_.StartLoading();
  }

  bool WaitLoaded() { return models_.WaitUntilSettled(kLoadTimeout); }
  InferenceService& service() { return service_; }

  http::Response Send(std::string_view method, std::string_view target, std::string_view body = "",
                      const http::HeaderList& headers = {}) {
    Result<http::Response> response = client_->Send(method, target, body, headers);
    EXPECT_TRUE(response.has_value())
        << method << " " << target << ": " << response.error().message();
    return response.value_or(http::Response{.status = -1});
  }

 private:
  http::Handler Handler() {
    service_.AddRoutes(router_);
    return router_.AsHandler();
  }

  ModelManager models_;
  InferenceService service_;
  http::Router router_;
  http::Server server_;
  uint16_t port_ = 0;
  std::unique_ptr<http::Client> client_;
};

ModelSource DirectorySource(const std::filesystem::path& dir) { return ModelSource{.dir = dir}; }

// Expects `response` to be an error with `status` whose message contains `needle`.
void ExpectError(const http::Response& response, int status, std::string_view needle) {
  EXPECT_EQ(response.status, status) << response.body;
  Result<Json> body = ParseJson(response.body, "response");
  ASSERT_TRUE(body.has_value()) << response.body;
  ASSERT_TRUE(body->contains("error")) << response.body;
  EXPECT_THAT(body->at("error").get<std::string>(), HasSubstr(needle));
}

// Builds a raw-record OIP request for records [first, first + count).
std::string RawRequest(int first, int count, std::string_view id = "") {
  Json distance = Json::array(), origin = Json::array(), dep = Json::array();
  for (int i = first; i < first + count; ++i) {
    Json record = TestRecord(i);
    distance.push_back(record["distance"]);
    origin.push_back(record["origin"]);
    dep.push_back(record["dep"]);
  }
  Json request = {
      {"inputs",
       {{{"name", "distance"}, {"shape", {count}}, {"datatype", "FP64"}, {"data", distance}},
        {{"name", "origin"}, {"shape", {count}}, {"datatype", "BYTES"}, {"data", origin}},
        {{"name", "dep"}, {"shape", {count}}, {"datatype", "BYTES"}, {"data", dep}}}}};
  if (!id.empty()) request["id"] = id;
  return request.dump();
}

std::vector<float> PredictionsOf(const http::Response& response) {
  Json body = Json::parse(response.body);
  std::vector<float> values;
  for (const Json& value : body.at("outputs").at(0).at("data")) {
    values.push_back(static_cast<float>(value.get<double>()));
  }
  return values;
}

class InferenceServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    scratch_ = new ScratchDir();
    Status built = BuildTestPackage(scratch_->path() / "good");
    ASSERT_TRUE(built.has_value()) << built.error().message();
    built = BuildTestPackage(scratch_->path() / "bad",
                             {.model_name = "flights-bad", .wrong_self_test = true});
    ASSERT_TRUE(built.has_value()) << built.error().message();
  }
  static void TearDownTestSuite() { delete scratch_; }

  static std::filesystem::path Good() { return scratch_->path() / "good"; }
  static std::filesystem::path Bad() { return scratch_->path() / "bad"; }

  // Predictions computed offline: pipeline and predictor called directly.
  static std::vector<float> OfflinePredictions(int first, int count) {
    Result<model::LoadedPackage> package = model::LoadPackage(Good());
    EXPECT_TRUE(package.has_value());
    const model::FeaturePipeline& pipeline = package->manifest.feature_pipeline;
    auto predictor = model::LoadXGBoostPredictor(package->model_path, pipeline.num_features());
    EXPECT_TRUE(predictor.has_value());
    const size_t width = pipeline.num_features();
    std::vector<float> features(count * width);
    for (int i = 0; i < count; ++i) {
      EXPECT_TRUE(pipeline.TransformJson(TestRecord(first + i),
                                         std::span<float>(features).subspan(i * width, width)));
    }
    std::vector<float> out(count);
    EXPECT_TRUE((*predictor)->Predict(features.data(), count, out.data()));
    return out;
  }

  static ScratchDir* scratch_;
};

ScratchDir* InferenceServiceTest::scratch_ = nullptr;

TEST_F(InferenceServiceTest, ServerMetadataAndHealth) {
  RunningServer server({DirectorySource(Good())});
  ASSERT_TRUE(server.WaitLoaded());

  http::Response metadata = server.Send("GET", "/v2");
  EXPECT_EQ(metadata.status, 200);
  Json body = Json::parse(metadata.body);
  EXPECT_EQ(body.at("name"), "tandem");
  EXPECT_EQ(body.at("version"), TANDEM_VERSION);
  EXPECT_TRUE(body.at("extensions").is_array());

  EXPECT_EQ(server.Send("GET", "/v2/health/live").status, 200);
  http::Response ready = server.Send("GET", "/v2/health/ready");
  EXPECT_EQ(ready.status, 200) << ready.body;
  EXPECT_EQ(Json::parse(ready.body).at("ready"), true);

  http::Response ping = server.Send("GET", "/ping");
  EXPECT_EQ(ping.status, 200);
  EXPECT_EQ(ping.body, "");
}

TEST_F(InferenceServiceTest, ModelMetadata) {
  RunningServer server({DirectorySource(Good())});
  ASSERT_TRUE(server.WaitLoaded());
  for (std::string_view target :
       {"/v2/models/flights-delay", "/v2/models/flights-delay/versions/1"}) {
    http::Response response = server.Send("GET", target);
    ASSERT_EQ(response.status, 200) << target << ": " << response.body;
    Json metadata = Json::parse(response.body);
    EXPECT_EQ(metadata.at("name"), "flights-delay");
    EXPECT_EQ(metadata.at("versions"), Json::array({"1"}));
    EXPECT_EQ(metadata.at("platform"), "xgboost");
    const Json& inputs = metadata.at("inputs");
    ASSERT_EQ(inputs.size(), 4u);
    EXPECT_EQ(inputs[0].at("name"), "distance");
    EXPECT_EQ(inputs[0].at("datatype"), "FP32");
    EXPECT_EQ(inputs[0].at("shape"), Json::array({-1}));
    EXPECT_EQ(inputs[1].at("name"), "origin");
    EXPECT_EQ(inputs[1].at("datatype"), "BYTES");
    EXPECT_EQ(inputs[2].at("name"), "dep");
    EXPECT_EQ(inputs[2].at("datatype"), "BYTES");
    EXPECT_EQ(inputs[3].at("name"), "features");
    EXPECT_EQ(inputs[3].at("shape"), Json::array({-1, 4}));
    EXPECT_EQ(metadata.at("outputs")[0].at("name"), "prediction");
  }
  http::Response ready = server.Send("GET", "/v2/models/flights-delay/ready");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(Json::parse(ready.body).at("ready"), true);
  EXPECT_EQ(server.Send("GET", "/v2/models/flights-delay/versions/1/ready").status, 200);
}

TEST_F(InferenceServiceTest, UnknownModelOrVersionIs404) {
  RunningServer server({DirectorySource(Good())});
  ASSERT_TRUE(server.WaitLoaded());
  ExpectError(server.Send("GET", "/v2/models/nope"), 404, "model \"nope\" not found");
  ExpectError(server.Send("GET", "/v2/models/nope/ready"), 404, "model \"nope\" not found");
  ExpectError(server.Send("POST", "/v2/models/nope/infer", RawRequest(0, 1)), 404,
              "model \"nope\" not found");
  ExpectError(server.Send("GET", "/v2/models/flights-delay/versions/2"), 404,
              "model \"flights-delay\" has no loaded version \"2\"; loaded versions: 1");
  ExpectError(server.Send("POST", "/v2/models/flights-delay/versions/7/infer", RawRequest(0, 1)),
              404, "has no loaded version \"7\"");
}

TEST_F(InferenceServiceTest, RawAndEncodedGiveOfflinePredictions) {
  RunningServer server({DirectorySource(Good())});
  ASSERT_TRUE(server.WaitLoaded());
  constexpr int kRows = 20;
  std::vector<float> offline = OfflinePredictions(0, kRows);

  http::Response raw =
      server.Send("POST", "/v2/models/flights-delay/infer", RawRequest(0, kRows, "r-7"));
  ASSERT_EQ(raw.status, 200) << raw.body;
  Json raw_body = Json::parse(raw.body);
  EXPECT_EQ(raw_body.at("model_name"), "flights-delay");
  EXPECT_EQ(raw_body.at("model_version"), "1");
  EXPECT_EQ(raw_body.at("id"), "r-7");
  EXPECT_EQ(raw_body.at("outputs")[0].at("shape"), Json::array({kRows}));
  EXPECT_EQ(PredictionsOf(raw), offline);

  // The same rows as encoded features, computed by the package's pipeline.
  Result<model::LoadedPackage> package = model::LoadPackage(Good());
  ASSERT_TRUE(package.has_value());
  Json rows = Json::array();
  for (int i = 0; i < kRows; ++i) {
    std::vector<float> features(4);
    ASSERT_TRUE(package->manifest.feature_pipeline.TransformJson(TestRecord(i), features));
    Json row = Json::array();
    for (float value : features) row.push_back(std::isnan(value) ? Json() : Json(value));
    rows.push_back(row);
  }
  Json encoded_request = {
      {"inputs",
       {{{"name", "features"}, {"shape", {kRows, 4}}, {"datatype", "FP32"}, {"data", rows}}}},
      {"outputs", {{{"name", "prediction"}}}}};
  http::Response encoded =
      server.Send("POST", "/v2/models/flights-delay/versions/1/infer", encoded_request.dump());
  ASSERT_EQ(encoded.status, 200) << encoded.body;
  EXPECT_EQ(PredictionsOf(encoded), offline);
}

TEST_F(InferenceServiceTest, LargeBatch) {
  RunningServer server({DirectorySource(Good())});
  ASSERT_TRUE(server.WaitLoaded());
  constexpr int kRows = 10000;
  http::Response response =
      server.Send("POST", "/v2/models/flights-delay/infer", RawRequest(0, kRows));
  ASSERT_EQ(response.status, 200) << response.body.substr(0, 300);
  std::vector<float> predictions = PredictionsOf(response);
  ASSERT_EQ(predictions.size(), static_cast<size_t>(kRows));
  std::vector<float> offline = OfflinePredictions(0, kRows);
  EXPECT_EQ(predictions, offline);
}

TEST_F(InferenceServiceTest, BadInferRequestsAre400) {
  RunningServer server({DirectorySource(Good())});
  ASSERT_TRUE(server.WaitLoaded());
  const std::string target = "/v2/models/flights-delay/infer";
  ExpectError(
      server.Send(
          "POST", target,
          R"({"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3]}]})"),
      400, "input \"features\": shape [1, 4] has 4 elements but data has 3");
  ExpectError(
      server.Send(
          "POST", target,
          R"({"inputs": [{"name": "features", "shape": [1, 4], "datatype": "BYTES", "data": ["1", "2", "3", "4"]}]})"),
      400, "input \"features\": datatype BYTES cannot hold encoded features");
  ExpectError(
      server.Send(
          "POST", target,
          R"({"inputs": [{"name": "distance", "shape": [1], "datatype": "FP32", "data": [1]},
                                         {"name": "carrier", "shape": [1], "datatype": "BYTES", "data": ["AA"]}]})"),
      400, "unknown input \"carrier\"");
  ExpectError(
      server.Send(
          "POST", target,
          R"({"inputs": [{"name": "distance", "shape": [1], "datatype": "FP32", "data": [1]}]})"),
      400, "missing input \"origin\"");
  ExpectError(
      server.Send(
          "POST", target,
          R"({"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}],
                              "outputs": [{"name": "scores"}]})"),
      400, "unknown output \"scores\"");
  ExpectError(
      server.Send(
          "POST", target,
          R"({"inputs": [{"name": "features", "shape": [0, 4], "datatype": "FP32", "data": []}]})"),
      400, "input \"features\": empty batch");
  ExpectError(
      server.Send(
          "POST", target,
          R"({"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP32", "data": [1, NaN, 3, 4]}]})"),
      400, "NaN and Infinity are not JSON");
  ExpectError(
      server.Send(
          "POST", target,
          R"({"inputs": [{"name": "features", "shape": [2, 2], "datatype": "FP32", "data": [[1, 2], [3]]}]})"),
      400, "input \"features\": nested data has 1 elements in dimension 1");
  ExpectError(
      server.Send(
          "POST", target,
          R"({"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]})",
          {{"Inference-Header-Content-Length", "10"}}),
      400, "binary tensor data extension is not supported");
}

// FP64, INT64 and BOOL tensors where FP32 is advertised are rounded to the
// nearest float32 (BOOL as 0 or 1) and predict as the FP32 tensor would.
TEST_F(InferenceServiceTest, EncodedDatatypesConvertToFloat32) {
  RunningServer server({DirectorySource(Good())});
  ASSERT_TRUE(server.WaitLoaded());
  const std::string target = "/v2/models/flights-delay/infer";
  auto request = [](std::string_view datatype, const Json& data) {
    return Json{{"inputs",
                 {{{"name", "features"}, {"shape", {1, 4}}, {"datatype", datatype}, {"data", data}}}}}
        .dump();
  };
  http::Response fp32 = server.Send("POST", target, request("FP32", {500, 1, 0, 1}));
  ASSERT_EQ(fp32.status, 200) << fp32.body;
  const std::vector<float> expected = PredictionsOf(fp32);
  for (auto [datatype, data] :
       {std::pair{"FP64", Json{500.00000000001, 1.0, 0.0, 1.0}}, std::pair{"INT64", Json{500, 1, 0, 1}},
        std::pair{"INT8", Json{100, 1, 0, 1}}, std::pair{"BOOL", Json{true, true, false, true}}}) {
    http::Response response = server.Send("POST", target, request(datatype, data));
    ASSERT_EQ(response.status, 200) << datatype << ": " << response.body;
    if (std::string_view(datatype) == "FP64" || std::string_view(datatype) == "INT64") {
      EXPECT_EQ(PredictionsOf(response), expected) << datatype;
    }
  }
  // BOOL true is 1: equal to the FP32 row [1, 1, 0, 1].
  http::Response ones = server.Send("POST", target, request("FP32", {1, 1, 0, 1}));
  http::Response bools = server.Send("POST", target, request("BOOL", {true, true, false, true}));
  EXPECT_EQ(PredictionsOf(ones), PredictionsOf(bools));

  ExpectError(server.Send("POST", target, request("FP32", {1e39, 1, 0, 1})), 400,
              "input \"features\"");
  ExpectError(server.Send("POST", target, request("INT8", {300, 1, 0, 1})), 400,
              "input \"features\"");
  ExpectError(
      server.Send("POST", target,
                  R"({"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP32", "data": [1, Infinity, 3, 4]}]})"),
      400, "NaN and Infinity are not JSON");
  ExpectError(
      server.Send("POST", target,
                  R"({"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP32", "data": [1, -Infinity, 3, 4]}]})"),
      400, "NaN and Infinity are not JSON");
}

TEST_F(InferenceServiceTest, BodyOverLimitIs413) {
  RunningServer server({DirectorySource(Good())}, {}, 1024);
  ASSERT_TRUE(server.WaitLoaded());
  std::string body = RawRequest(0, 100);
  ASSERT_GT(body.size(), 1024u);
  EXPECT_EQ(server.Send("POST", "/v2/models/flights-delay/infer", body).status, 413);
  EXPECT_EQ(server.Send("POST", "/invocations", body).status, 413);
}

// Requests to inference routes that the HTTP server or the router rejects
// before they reach a model are counted with model="" and version="".
TEST_F(InferenceServiceTest, RejectedInferenceRequestsCounted) {
  testing::TestServerOptions options;
  options.max_body_bytes = 1024;
  testing::TestServer server({DirectorySource(Good())}, options);
  ASSERT_TRUE(server.WaitLoaded());
  const std::string body = RawRequest(0, 100);
  ASSERT_GT(body.size(), 1024u);
  EXPECT_EQ(server.Send("POST", "/v2/models/flights-delay/infer", body).status, 413);
  EXPECT_EQ(server.Send("POST", "/invocations", body).status, 413);
  EXPECT_EQ(server.Send("GET", "/v2/models/flights-delay/infer").status, 405);
  EXPECT_EQ(server.Send("PUT", "/invocations").status, 405);
  EXPECT_EQ(server.Send("POST", "/v2/models/flights%zz/infer", "{}").status, 400);
  // Not an inference route: not counted.
  EXPECT_EQ(server.Send("POST", "/v2/health/live").status, 405);

  const std::string metrics = server.metrics().Serialize();
  auto count = [&](std::string_view code) {
    return testing::MetricValue(
        metrics,
        fmt::format(R"(tandem_inference_requests_total{{code="{}",model="",version=""}})", code));
  };
  EXPECT_EQ(count("413"), 2);
  EXPECT_EQ(count("405"), 2);
  EXPECT_EQ(count("400"), 1);
}

TEST_F(InferenceServiceTest, InvocationsContentTypes) {
  RunningServer server({DirectorySource(Good())});
  ASSERT_TRUE(server.WaitLoaded());
  std::vector<float> offline = OfflinePredictions(0, 3);
  auto predictions_json = [](const http::Response& response) {
    std::vector<float> values;
    Json body = Json::parse(response.body);
    for (const Json& value : body.at("predictions")) {
      values.push_back(static_cast<float>(value.get<double>()));
    }
    return values;
  };

  Json records = {TestRecord(0), TestRecord(1), TestRecord(2)};
  http::Response instances =
      server.Send("POST", "/invocations", Json{{"instances", records}}.dump(),
                  {{"Content-Type", "application/json"}});
  ASSERT_EQ(instances.status, 200) << instances.body;
  EXPECT_EQ(instances.content_type, "application/json");
  EXPECT_EQ(predictions_json(instances), offline);

  http::Response array =
      server.Send("POST", "/invocations", records.dump(), {{"Content-Type", "application/json"}});
  ASSERT_EQ(array.status, 200) << array.body;
  EXPECT_EQ(predictions_json(array), offline);

  http::Response single = server.Send("POST", "/invocations", TestRecord(1).dump(),
                                      {{"Content-Type", "application/json"}});
  ASSERT_EQ(single.status, 200) << single.body;
  EXPECT_EQ(predictions_json(single), std::vector<float>({offline[1]}));

  std::string lines =
      fmt::format("{}\n{}\n{}\n", TestRecord(0).dump(), TestRecord(1).dump(), TestRecord(2).dump());
  http::Response jsonlines =
      server.Send("POST", "/invocations", lines,
                  {{"Content-Type", "application/jsonlines"}, {"Accept", "application/json"}});
  ASSERT_EQ(jsonlines.status, 200) << jsonlines.body;
  EXPECT_EQ(predictions_json(jsonlines), offline);

  std::string csv;
  for (int i = 0; i < 3; ++i) {
    Json record = TestRecord(i);
    std::string distance = record["distance"].is_null() ? "" : record["distance"].dump();
    csv += fmt::format("{},{},{}\n", distance, record["origin"].get<std::string>(),
                       record["dep"].get<std::string>());
  }
  http::Response csv_response =
      server.Send("POST", "/invocations", csv, {{"Content-Type", "text/csv"}});
  ASSERT_EQ(csv_response.status, 200) << csv_response.body;
  EXPECT_EQ(csv_response.content_type, "text/csv");
  std::string expected_csv;
  for (float value : offline) expected_csv += fmt::format("{}\n", value);
  EXPECT_EQ(csv_response.body, expected_csv);
}

TEST_F(InferenceServiceTest, InvocationsNegotiationAndAttributes) {
  RunningServer server({DirectorySource(Good())});
  ASSERT_TRUE(server.WaitLoaded());
  const std::string record = TestRecord(4).dump();

  http::Response plain = server.Send("POST", "/invocations", "1,SFO,2024-01-01 10:00",
                                     {{"Content-Type", "text/plain"}});
  ExpectError(plain, 415, "Content-Type \"text/plain\" is not supported");

  ExpectError(server.Send("POST", "/invocations", record,
                          {{"Content-Type", "application/json"}, {"Accept", "text/html"}}),
              406, "Accept \"text/html\" matches no supported type");

  http::Response as_csv = server.Send("POST", "/invocations", record,
                                      {{"Content-Type", "application/json"},
                                       {"Accept", "text/csv"},
                                       {std::string(kCustomAttributesHeader), "trace=abc,x=1"}});
  ASSERT_EQ(as_csv.status, 200) << as_csv.body;
  EXPECT_EQ(as_csv.content_type, "text/csv");
  EXPECT_EQ(as_csv.Header(kCustomAttributesHeader), "trace=abc,x=1");
  EXPECT_EQ(as_csv.body, fmt::format("{}\n", OfflinePredictions(4, 1)[0]));

  ExpectError(server.Send("POST", "/invocations", R"({"instances": [{"distance": 1}]})",
                          {{"Content-Type", "application/json"}}),
              400, "record 0: missing field \"origin\"");
  ExpectError(server.Send("POST", "/invocations", "1,SFO\n", {{"Content-Type", "text/csv"}}), 400,
              "line 1: row has 2 fields, expected 3");
}

TEST_F(InferenceServiceTest, FailedSelfTestIsNotReady) {
  RunningServer server({DirectorySource(Bad())});
  ASSERT_TRUE(server.WaitLoaded());
  http::Response ready = server.Send("GET", "/v2/health/ready");
  EXPECT_EQ(ready.status, 503);
  Json ready_body = Json::parse(ready.body);
  EXPECT_EQ(ready_body.at("ready"), false);
  EXPECT_THAT(ready_body.at("error").get<std::string>(), HasSubstr("self-test case 0"));
  EXPECT_EQ(ready_body.at("models")[0].at("state"), "failed");

  EXPECT_EQ(server.Send("GET", "/ping").status, 503);

  http::Response model_ready = server.Send("GET", "/v2/models/flights-bad/ready");
  EXPECT_EQ(model_ready.status, 503);
  Json model_body = Json::parse(model_ready.body);
  EXPECT_EQ(model_body.at("ready"), false);
  EXPECT_THAT(model_body.at("error").get<std::string>(),
              HasSubstr("model \"flights-bad\" failed to load"));
  EXPECT_THAT(model_body.at("error").get<std::string>(), HasSubstr("self-test case 0 failed"));

  ExpectError(server.Send("POST", "/v2/models/flights-bad/infer", RawRequest(0, 1)), 503,
              "self-test case 0 failed");
  ExpectError(server.Send("POST", "/invocations", TestRecord(0).dump()), 503,
              "self-test case 0 failed");
}

TEST_F(InferenceServiceTest, OneFailedModelKeepsServerNotReady) {
  RunningServer server({DirectorySource(Good()), DirectorySource(Bad())});
  ASSERT_TRUE(server.WaitLoaded());
  EXPECT_EQ(server.Send("GET", "/v2/health/ready").status, 503);
  EXPECT_EQ(server.Send("GET", "/v2/models/flights-delay/ready").status, 200);
  EXPECT_EQ(server.Send("POST", "/v2/models/flights-delay/infer", RawRequest(0, 1)).status, 200);
}

TEST_F(InferenceServiceTest, MissingPackageIsNotReady) {
  RunningServer server({DirectorySource(scratch_->path() / "absent")});
  ASSERT_TRUE(server.WaitLoaded());
  ExpectError(server.Send("GET", "/v2/health/ready"), 503,
              "directory " + (scratch_->path() / "absent").string() + " failed to load");
  // The manifest was never read, so no model name is known and the name is unknown.
  ExpectError(server.Send("GET", "/v2/models/flights-delay"), 404,
              "model \"flights-delay\" not found; this server serves: no models");
}

TEST_F(InferenceServiceTest, ZeroModelsIsNotReady) {
  RunningServer server({});
  ASSERT_TRUE(server.WaitLoaded());
  ExpectError(server.Send("GET", "/v2/health/ready"), 503, "no model is configured");
  EXPECT_EQ(server.Send("GET", "/ping").status, 503);
  EXPECT_EQ(server.Send("GET", "/v2/health/live").status, 200);
}

TEST_F(InferenceServiceTest, DrainingIsNotReady) {
  RunningServer server({DirectorySource(Good())});
  ASSERT_TRUE(server.WaitLoaded());
  server.service().SetDraining();
  ExpectError(server.Send("GET", "/v2/health/ready"), 503, "shutting down");
  EXPECT_EQ(server.Send("GET", "/ping").status, 503);
  EXPECT_EQ(server.Send("GET", "/v2/models/flights-delay/ready").status, 503);
  EXPECT_EQ(server.Send("POST", "/v2/models/flights-delay/infer", RawRequest(0, 1)).status, 200);
}

// A fake control plane serving one registered version (2) of flights-delay.
class FakeRegistry {
 public:
  explicit FakeRegistry(const std::filesystem::path& package_dir,
                        const std::filesystem::path& work) {
    Result<model::PackageInfo> info = model::ArchivePackage(package_dir, work / "package.tar");
    EXPECT_TRUE(info.has_value()) << info.error().message();
    digest_ = info->digest;
    archive_ = ReadFile(work / "package.tar").value_or("");
    router_.Add("GET", "/api/v1/models/{name}/versions/{v}", [this](http::Request& request) {
      if (!Known(request)) return http::Response::Json(404, {{"error", "no such version"}});
      return http::Response::Json(
          200, {{"ModelName", "flights-delay"}, {"Version", 2}, {"PackageDigest", digest_}});
    });
    router_.Add("GET", "/api/v1/models/{name}/versions/{v}/package",
                [this](http::Request& request) {
                  if (!Known(request))
                    return http::Response::Json(404, {{"error", "no such version"}});
                  ++downloads_;
                  return http::Response::Text(200, archive_, "application/x-tar");
                });
    server_ = std::make_unique<http::Server>(http::ServerOptions{.host = "127.0.0.1"},
                                             router_.AsHandler());
    Result<uint16_t> port = server_->Start();
    EXPECT_TRUE(port.has_value());
    url_ = fmt::format("http://127.0.0.1:{}", port.value_or(0));
  }

  const std::string& url() const { return url_; }
  int downloads() const { return downloads_.load(); }

 private:
  static bool Known(const http::Request& request) {
    const std::string version = request.PathParam("v");
    return request.PathParam("name") == "flights-delay" && (version == "2" || version == "latest");
  }

  std::string digest_;
  std::string archive_;
  std::atomic<int> downloads_{0};
  http::Router router_;
  std::unique_ptr<http::Server> server_;
  std::string url_;
};

TEST_F(InferenceServiceTest, RegistryModelLatest) {
  ScratchDir work;
  FakeRegistry registry(Good(), work.path());
  Result<ModelSource> source = ParseModelSource("flights-delay:latest");
  ASSERT_TRUE(source.has_value()) << source.error().message();
  ModelManagerOptions options{.registry_url = registry.url(), .cache_dir = work.path() / "cache"};
  {
    RunningServer server({*source}, options);
    ASSERT_TRUE(server.WaitLoaded());
    http::Response ready = server.Send("GET", "/v2/health/ready");
    EXPECT_EQ(ready.status, 200) << ready.body;
    http::Response response =
        server.Send("POST", "/v2/models/flights-delay/versions/2/infer", RawRequest(0, 5));
    ASSERT_EQ(response.status, 200) << response.body;
    EXPECT_EQ(Json::parse(response.body).at("model_version"), "2");
    EXPECT_EQ(PredictionsOf(response), OfflinePredictions(0, 5));
  }
  EXPECT_TRUE(
      std::filesystem::is_regular_file(work.path() / "cache/flights-delay/2/manifest.json"));
  EXPECT_EQ(registry.downloads(), 1);

  // A second server finds the package in the cache.
  RunningServer again({*source}, options);
  ASSERT_TRUE(again.WaitLoaded());
  EXPECT_EQ(again.Send("GET", "/v2/health/ready").status, 200);
  EXPECT_EQ(registry.downloads(), 1);
}

TEST_F(InferenceServiceTest, RegistryUnknownVersionIsNotReady) {
  ScratchDir work;
  FakeRegistry registry(Good(), work.path());
  RunningServer server(
      {ModelSource{.kind = ModelSource::Kind::kRegistry, .name = "flights-delay", .version = "9"}},
      {.registry_url = registry.url(), .cache_dir = work.path() / "cache"});
  ASSERT_TRUE(server.WaitLoaded());
  ExpectError(server.Send("GET", "/v2/health/ready"), 503, "versions/9: not found");
  ExpectError(server.Send("GET", "/v2/models/flights-delay/ready"), 503, "failed to load");
}

TEST(ModelSourceTest, ParsesSpecs) {
  Result<ModelSource> registry = ParseModelSource("flights-delay:3");
  ASSERT_TRUE(registry.has_value());
  EXPECT_EQ(registry->kind, ModelSource::Kind::kRegistry);
  EXPECT_EQ(registry->name, "flights-delay");
  EXPECT_EQ(registry->version, "3");

  Result<ModelSource> directory = ParseModelSource("/models/flights:3");
  ASSERT_TRUE(directory.has_value());
  EXPECT_EQ(directory->kind, ModelSource::Kind::kDirectory);

  Result<ModelSource> plain = ParseModelSource("package-dir");
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(plain->kind, ModelSource::Kind::kDirectory);

  Result<ModelSource> bad_version = ParseModelSource("flights-delay:newest");
  ASSERT_FALSE(bad_version.has_value());
  EXPECT_EQ(bad_version.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(bad_version.error().message(), HasSubstr("version \"newest\""));

  Result<ModelSource> bad_name = ParseModelSource("flights_delay:1");
  ASSERT_FALSE(bad_name.has_value());
  EXPECT_THAT(bad_name.error().message(), HasSubstr("model name \"flights_delay\""));

  EXPECT_FALSE(ParseModelSource("").has_value());
}

TEST(ModelSourceTest, ParsesAliases) {
  Result<ModelSource> alias = ParseModelSource("flights-delay@production");
  ASSERT_TRUE(alias.has_value()) << alias.error().message();
  EXPECT_EQ(alias->kind, ModelSource::Kind::kRegistry);
  EXPECT_EQ(alias->policy, VersionPolicy::kAlias);
  EXPECT_EQ(alias->name, "flights-delay");
  EXPECT_EQ(alias->alias, "production");
  EXPECT_EQ(alias->Describe(), "model flights-delay alias production");

  struct Case {
    std::string spec;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"flights-delay@", "alias \"\""},
      {"flights-delay@7", "alias \"7\""},
      {"flights-delay@latest", "alias \"latest\""},
      {"flights-delay@prod_1", "alias \"prod_1\""},
      {"flights_delay@production", "model name \"flights_delay\""},
      {"@production", "model name \"\""},
  };
  for (const Case& test : cases) {
    Result<ModelSource> parsed = ParseModelSource(test.spec);
    ASSERT_FALSE(parsed.has_value()) << test.spec;
    EXPECT_EQ(parsed.error().code(), ErrorCode::kInvalidArgument) << test.spec;
    EXPECT_THAT(parsed.error().message(), HasSubstr(test.error)) << test.spec;
  }
}

}  // namespace
}  // namespace tandem::serving
