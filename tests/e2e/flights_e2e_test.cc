// End to end through the real binary: train on the committed slice of the
// flights data, register the model and serve it. The served predictions must
// equal libxgboost's batch predictions on the job's own feature rows, bit for bit.
#include <gtest/gtest.h>
#include <xgboost/c_api.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <regex>

#include "harness.h"

namespace tandem::e2e {
namespace {

const std::filesystem::path kSourceDir = TANDEM_SOURCE_DIR;

std::string FindJobId(const std::string& output) {
  std::smatch match;
  static const std::regex kJobId("job-[0-9a-f]{12}");
  return std::regex_search(output, match, kJobId) ? match.str() : "";
}

struct Sample {
  Json record;
  std::vector<float> features;
};

std::vector<Sample> ReadSamples(const std::filesystem::path& path) {
  std::vector<Sample> samples;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    Json row = Json::parse(line);
    Sample sample{row.at("Record"), {}};
    for (const Json& value : row.at("Features")) {
      sample.features.push_back(value.is_null() ? NAN : value.get<float>());
    }
    samples.push_back(std::move(sample));
  }
  return samples;
}

// Predicts with libxgboost's DMatrix batch path, the reference for parity.
std::vector<float> PredictWithLibxgboost(const std::filesystem::path& model_json,
                                         const std::vector<Sample>& samples) {
  size_t columns = samples.front().features.size();
  std::vector<float> matrix;
  for (const Sample& sample : samples) {
    matrix.insert(matrix.end(), sample.features.begin(), sample.features.end());
  }
  DMatrixHandle dmatrix = nullptr;
  BoosterHandle booster = nullptr;
  EXPECT_EQ(XGDMatrixCreateFromMat(matrix.data(), samples.size(), columns, NAN, &dmatrix), 0);
  EXPECT_EQ(XGBoosterCreate(nullptr, 0, &booster), 0);
  EXPECT_EQ(XGBoosterLoadModel(booster, model_json.c_str()), 0) << XGBGetLastError();
  bst_ulong length = 0;
  const float* values = nullptr;
  EXPECT_EQ(XGBoosterPredict(booster, dmatrix, 0, 0, 0, &length, &values), 0);
  std::vector<float> predictions(values, values + length);
  XGBoosterFree(booster);
  XGDMatrixFree(dmatrix);
  return predictions;
}

uint32_t Bits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits;
}

class FlightsEndToEnd : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { control_plane_ = new ControlPlane(); }
  static void TearDownTestSuite() {
    delete control_plane_;
    control_plane_ = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(control_plane_->started()) << control_plane_->ServerLog();
  }

  static ControlPlane* control_plane_;
};

ControlPlane* FlightsEndToEnd::control_plane_ = nullptr;

TEST_F(FlightsEndToEnd, TrainRegisterServeWithParity) {
  const ControlPlane& plane = *control_plane_;

  // Submit the small flights job through the CLI and wait for it.
  CommandOutput submit = RunTandem(
      {"job", "submit", (kSourceDir / "examples/flights/job-small.json").string()},
      plane.ClientEnvironment());
  ASSERT_EQ(submit.exit_code, 0) << submit.output;
  std::string job_id = FindJobId(submit.output);
  ASSERT_FALSE(job_id.empty()) << submit.output;

  CommandOutput wait = RunTandem({"job", "wait", job_id}, plane.ClientEnvironment());
  ASSERT_EQ(wait.exit_code, 0) << wait.output << "\n" << plane.ServerLog();
  EXPECT_NE(wait.output.find("Completed"), std::string::npos) << wait.output;

  Json job = plane.WaitForJob(job_id, std::chrono::seconds(10));
  ASSERT_EQ(job.value("TrainingJobStatus", ""), "Completed") << job.dump(2);
  ASSERT_TRUE(job.contains("ModelVersion")) << job.dump(2);
  int64_t version = job["ModelVersion"]["Version"].get<int64_t>();
  std::string model_ref = "flights-delay-small:" + std::to_string(version);

  // The registry shows the version with metrics and lineage.
  CommandOutput describe = RunTandem({"model", "describe", model_ref}, plane.ClientEnvironment());
  ASSERT_EQ(describe.exit_code, 0) << describe.output;
  EXPECT_NE(describe.output.find("Rmse"), std::string::npos) << describe.output;
  EXPECT_NE(describe.output.find(job_id), std::string::npos) << describe.output;

  // Serve that version from the registry.
  InferenceServer server({"--model", model_ref, "--registry", plane.url()});
  ASSERT_TRUE(server.WaitReady(std::chrono::seconds(120))) << server.Log();

  // Send the held-out rows the job sampled, as raw records, column by column.
  std::filesystem::path root = plane.data_dir() / "jobs" / job_id / "root";
  std::vector<Sample> samples = ReadSamples(root / "output/data/validation_sample.jsonl");
  ASSERT_GE(samples.size(), 500u);
  Json inputs = Json::array();
  for (const char* field : {"date", "distance", "origin", "destination"}) {
    Json data = Json::array();
    bool numeric = std::string(field) == "distance";
    for (const Sample& sample : samples) data.push_back(sample.record.at(field));
    inputs.push_back({{"name", field},
                      {"datatype", numeric ? "FP64" : "BYTES"},
                      {"shape", {samples.size()}},
                      {"data", data}});
  }
  Json request = {{"inputs", inputs}};
  auto response = http::Fetch("POST", server.url() + "/v2/models/flights-delay-small/infer",
                              request.dump(), {{"Content-Type", "application/json"}});
  ASSERT_TRUE(response) << response.error().message();
  ASSERT_EQ(response->status, 200) << response->body;
  Json answer = Json::parse(response->body);
  const Json& served = answer["outputs"][0]["data"];
  ASSERT_EQ(served.size(), samples.size());

  // Compare with libxgboost's batch predictions on the job's own feature rows.
  std::vector<float> expected = PredictWithLibxgboost(root / "model/model.json", samples);
  ASSERT_EQ(expected.size(), samples.size());
  for (size_t i = 0; i < samples.size(); ++i) {
    float got = served[i].get<float>();
    ASSERT_EQ(Bits(got), Bits(expected[i]))
        << "row " << i << ": served " << got << ", libxgboost " << expected[i];
  }

  // SageMaker's route returns the same predictions for the same records.
  Json instances = Json::array();
  for (size_t i = 0; i < 10; ++i) instances.push_back(samples[i].record);
  auto invocation = http::Fetch("POST", server.url() + "/invocations",
                                Json{{"instances", instances}}.dump(),
                                {{"Content-Type", "application/json"}});
  ASSERT_TRUE(invocation) << invocation.error().message();
  ASSERT_EQ(invocation->status, 200) << invocation->body;
  Json predictions = Json::parse(invocation->body)["predictions"];
  ASSERT_EQ(predictions.size(), 10u);
  for (size_t i = 0; i < 10; ++i) {
    EXPECT_EQ(Bits(predictions[i].get<float>()), Bits(expected[i])) << "row " << i;
  }
}

TEST_F(FlightsEndToEnd, PythonEntryPointRunsUnderContract) {
  const ControlPlane& plane = *control_plane_;
  CommandOutput submit = RunTandem(
      {"job", "submit", (kSourceDir / "examples/python/job.json").string()},
      plane.ClientEnvironment());
  ASSERT_EQ(submit.exit_code, 0) << submit.output;
  std::string job_id = FindJobId(submit.output);
  ASSERT_FALSE(job_id.empty()) << submit.output;

  Json job = plane.WaitForJob(job_id, std::chrono::seconds(300));
  ASSERT_EQ(job.value("TrainingJobStatus", ""), "Completed")
      << job.dump(2) << "\n" << RunTandem({"job", "logs", job_id}, plane.ClientEnvironment()).output;
  EXPECT_TRUE(job.contains("ModelVersion")) << job.dump(2);
}

}  // namespace
}  // namespace tandem::e2e
