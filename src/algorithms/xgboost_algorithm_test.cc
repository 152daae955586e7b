#include "algorithms/xgboost_algorithm.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <sstream>
#include <unistd.h>
#include <string>
#include <vector>

#include "algorithms/algorithm.h"
#include "algorithms/xgboost_booster.h"
#include "common/crypto.h"
#include "common/file_util.h"
#include "common/json_util.h"
#include "model/manifest.h"
#include "model/package.h"
#include "model/self_test.h"
#include "model/xgboost_predictor.h"

namespace tandem::algorithms {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr char kHeader[] = "date,origin,destination,distance,note,delay\n";

// Builds flight-like CSV text whose delay is learnable from the features:
// delay = distance / 100 + 2 * hour + an origin effect + noise in [-2, 2].
// Every 97th record has an empty distance (a missing value).
std::string MakeFlightsCsv(int rows, uint32_t seed) {
  static const char* kAirports[] = {"SFO", "JFK", "ORD", "ATL", "DEN"};
  static const double kOriginEffect[] = {5, -3, 12, 0, -8};
  std::mt19937 random(seed);
  std::string csv = kHeader;
  for (int i = 0; i < rows; ++i) {
    int day = 1 + static_cast<int>(random() % 28);
    int hour = static_cast<int>(random() % 24);
    int minute = static_cast<int>(random() % 60);
    int origin = static_cast<int>(random() % 5);
    int destination = static_cast<int>(random() % 5);
    int distance = 100 + static_cast<int>(random() % 2900);
    double noise = static_cast<double>(random() % 4001) / 1000.0 - 2.0;
    double delay = distance / 100.0 + 2.0 * hour + kOriginEffect[origin] + noise;
    std::string distance_text = i % 97 == 5 ? "" : std::to_string(distance);
    if (i % 13 == 0 && !distance_text.empty()) distance_text += ".5";
    csv += fmt::format("2024-03-{:02d} {:02d}:{:02d},{},{},{},\"free, text\",{:.3f}\n", day, hour,
                       minute, kAirports[origin], kAirports[destination], distance_text, delay);
  }
  return csv;
}

Json PipelineJson() {
  return Json::parse(R"({
    "Label": "delay",
    "Features": [
      {"Field": "distance", "Kind": "numeric"},
      {"Field": "date", "Kind": "datetime", "Format": "%Y-%m-%d %H:%M",
       "Parts": ["hour", "day_of_week"]},
      {"Field": "origin", "Kind": "categorical"},
      {"Field": "destination", "Kind": "categorical"}
    ]})");
}

// A job root in a fresh temporary directory, removed at the end of the test.
class JobRoot {
 public:
  JobRoot() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    root_ = fs::temp_directory_path() /
            fmt::format("tandem-algorithms-{}-{}-{}", info->name(), getpid(), RandomHex(4));
    fs::create_directories(root_ / "input" / "config");
    fs::create_directories(root_ / "input" / "data");
  }
  ~JobRoot() {
    std::error_code ignored;
    fs::remove_all(root_, ignored);
  }

  const fs::path& root() const { return root_; }

  void WriteConfig(const std::map<std::string, std::string>& hyperparameters,
                   const Json& pipeline = PipelineJson()) {
    Json hps(hyperparameters);
    Write(root_ / "input/config/hyperparameters.json", hps.dump());
    Json job = {{"JobId", "job-123"},
                {"TrainingJobName", "flights-delay-1"},
                {"Repository", "flights"},
                {"ModelName", "flights-delay"},
                {"FeaturePipeline", pipeline}};
    Write(root_ / "input/config/tandem-job.json", job.dump());
    Write(root_ / "input/config/inputdataconfig.json",
          R"({"train": {"ContentType": "text/csv"}, "validation": {"ContentType": "text/csv"}})");
  }

  void WriteChannelFile(const std::string& channel, const std::string& name,
                        const std::string& content) {
    fs::create_directories(root_ / "input/data" / channel);
    Write(root_ / "input/data" / channel / name, content);
  }

  fs::path path(const std::string& relative) const { return root_ / relative; }

  // Writes the usual config and a 2,000-record train and 500-record validation channel.
  void WriteStandardJob(const std::map<std::string, std::string>& hyperparameters = {
                            {"num_round", "30"}, {"max_depth", "4"}, {"eta", "0.3"}}) {
    WriteConfig(hyperparameters);
    WriteChannelFile("train", "flights.csv", MakeFlightsCsv(2000, 1));
    WriteChannelFile("validation", "flights.csv", MakeFlightsCsv(500, 2));
  }

 private:
  static void Write(const fs::path& path, const std::string& content) {
    std::ofstream out(path, std::ios::binary);
    out << content;
  }

  fs::path root_;
};

// One thread by default: OpenMP threads that spin at barriers make tiny
// trainings slow when other processes share the cores.
AlgorithmContext ContextFor(const JobRoot& job, int num_cpus = 1) {
  AlgorithmContext context;
  context.job_root = job.root();
  context.num_cpus = num_cpus;
  context.runtime_version = "0.1.0-test";
  return context;
}

model::ModelManifest LoadManifest(const JobRoot& job) {
  auto package = model::LoadPackage(job.path("model"));
  EXPECT_TRUE(package) << package.error().message();
  return package ? package->manifest : model::ModelManifest{};
}

std::vector<Json> ReadJsonLines(const fs::path& path) {
  auto text = ReadFile(path);
  EXPECT_TRUE(text) << text.error().message();
  std::vector<Json> lines;
  std::istringstream stream(text ? *text : "");
  for (std::string line; std::getline(stream, line);) lines.push_back(Json::parse(line));
  return lines;
}

float JsonFloat(const Json& value) {
  return value.is_null() ? std::numeric_limits<float>::quiet_NaN()
                         : static_cast<float>(value.get<double>());
}

bool SameFloat(float a, float b) {
  return (std::isnan(a) && std::isnan(b)) || std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b);
}

#define ASSERT_OK(expr)                                        \
  do {                                                         \
    auto&& result_ = (expr);                                   \
    ASSERT_TRUE(result_) << result_.error().message();         \
  } while (false)

void ExpectError(const Status& status, ErrorCode code, const std::string& part) {
  ASSERT_FALSE(status) << "expected an error containing: " << part;
  EXPECT_EQ(status.error().code(), code) << status.error().message();
  EXPECT_THAT(status.error().message(), HasSubstr(part));
}

TEST(XGBoostAlgorithmTest, WritesPackageThatPassesSelfTests) {
  JobRoot job;
  job.WriteStandardJob();
  Status status = RunAlgorithm("xgboost", ContextFor(job));
  ASSERT_TRUE(status) << status.error().message();

  ASSERT_TRUE(fs::exists(job.path("model/model.json")));
  ASSERT_TRUE(fs::exists(job.path("model/manifest.json")));
  auto package = model::LoadPackage(job.path("model"));
  ASSERT_TRUE(package) << package.error().message();
  const model::ModelManifest& manifest = package->manifest;
  EXPECT_EQ(manifest.model_name, "flights-delay");
  EXPECT_EQ(manifest.objective, "reg:squarederror");
  EXPECT_EQ(manifest.feature_names,
            (std::vector<std::string>{"distance", "date_hour", "date_day_of_week", "origin",
                                      "destination"}));
  ASSERT_EQ(manifest.self_tests.size(), kSelfTestCases);

  auto predictor = model::LoadXGBoostPredictor(package->model_path,
                                               manifest.feature_pipeline.num_features());
  ASSERT_TRUE(predictor) << predictor.error().message();
  Status self_tests = model::RunSelfTests(*package, manifest.feature_pipeline, **predictor);
  EXPECT_TRUE(self_tests) << self_tests.error().message();
}

TEST(XGBoostAlgorithmTest, MetricsBeatBaseline) {
  JobRoot job;
  job.WriteStandardJob();
  ASSERT_OK(RunAlgorithm("xgboost", ContextFor(job)));
  model::ModelManifest manifest = LoadManifest(job);

  EXPECT_EQ(manifest.metrics.at("TrainRows"), 2000);
  EXPECT_EQ(manifest.metrics.at("ValidationRows"), 500);
  EXPECT_EQ(manifest.metrics.at("EvaluationRows"), 500);
  EXPECT_EQ(manifest.metrics.at("EvaluatedOnTrain"), 0);
  // The target's standard deviation is above 10, and the features include
  // every input of the target, so the model's error is far below the baseline's.
  EXPECT_GT(manifest.metrics.at("BaselineRmse"), 10);
  EXPECT_LT(manifest.metrics.at("Rmse"), 0.3 * manifest.metrics.at("BaselineRmse"));
  EXPECT_LT(manifest.metrics.at("Mae"), 0.3 * manifest.metrics.at("BaselineMae"));
}

TEST(XGBoostAlgorithmTest, LineageRecordsDigestsAndHyperparameters) {
  JobRoot job;
  job.WriteStandardJob({{"num_round", "5"}, {"seed", "7"}});
  ASSERT_OK(RunAlgorithm("xgboost", ContextFor(job)));
  model::ModelManifest manifest = LoadManifest(job);

  auto train_digest = Sha256FileHex(job.path("input/data/train/flights.csv"));
  ASSERT_TRUE(train_digest);
  EXPECT_EQ(manifest.lineage.data_digests.at("train"), "sha256:" + *train_digest);
  EXPECT_TRUE(manifest.lineage.data_digests.contains("validation"));
  EXPECT_EQ(manifest.lineage.hyper_parameters,
            (std::map<std::string, std::string>{{"num_round", "5"}, {"seed", "7"}}));
  EXPECT_EQ(manifest.lineage.job_id, "job-123");
  EXPECT_EQ(manifest.lineage.training_job_name, "flights-delay-1");
  EXPECT_EQ(manifest.lineage.repository, "flights");
  EXPECT_EQ(manifest.lineage.runtime_version, "0.1.0-test");
  EXPECT_FALSE(manifest.lineage.created_at.empty());
}

TEST(XGBoostAlgorithmTest, MultiFileChannelDigestIsSha256sumListing) {
  JobRoot job;
  job.WriteConfig({{"num_round", "3"}});
  std::string part_a = MakeFlightsCsv(300, 3);
  std::string part_b = MakeFlightsCsv(200, 4);
  job.WriteChannelFile("train", "part-b.csv", part_b);
  job.WriteChannelFile("train", "part-a.csv", part_a);
  ASSERT_OK(RunAlgorithm("xgboost", ContextFor(job)));
  model::ModelManifest manifest = LoadManifest(job);

  std::string listing = fmt::format("{}  part-a.csv\n{}  part-b.csv\n", Sha256Hex(part_a),
                                    Sha256Hex(part_b));
  EXPECT_EQ(manifest.lineage.data_digests.at("train"), "sha256:" + Sha256Hex(listing));
  EXPECT_EQ(manifest.metrics.at("TrainRows"), 500);
}

TEST(XGBoostAlgorithmTest, SampleReproducesPredictionsWithLibxgboost) {
  JobRoot job;
  job.WriteStandardJob();
  ASSERT_OK(RunAlgorithm("xgboost", ContextFor(job)));
  model::ModelManifest manifest = LoadManifest(job);
  std::vector<Json> lines = ReadJsonLines(job.path("output/data/validation_sample.jsonl"));
  ASSERT_EQ(lines.size(), 500u);

  const size_t width = manifest.feature_pipeline.num_features();
  std::vector<float> features;
  std::vector<float> expected;
  for (size_t i = 0; i < lines.size(); ++i) {
    const Json& line = lines[i];
    ASSERT_TRUE(line.contains("Record"));
    ASSERT_TRUE(line.contains("Label"));
    ASSERT_EQ(line["Features"].size(), width);
    std::vector<float> from_record(width);
    ASSERT_TRUE(manifest.feature_pipeline.TransformJson(line["Record"], from_record));
    for (size_t f = 0; f < width; ++f) {
      float value = JsonFloat(line["Features"][f]);
      EXPECT_TRUE(SameFloat(value, from_record[f])) << "line " << i + 1 << " feature " << f;
      features.push_back(value);
    }
    expected.push_back(JsonFloat(line["Prediction"]));
  }

  auto matrix = DenseDMatrix::Create(features, lines.size(), width, 1);
  ASSERT_TRUE(matrix) << matrix.error().message();
  auto booster = Booster::Load(job.path("model/model.json"));
  ASSERT_TRUE(booster) << booster.error().message();
  auto batch = booster->Predict(*matrix);
  ASSERT_TRUE(batch) << batch.error().message();

  auto predictor = model::LoadXGBoostPredictor(job.path("model/model.json"), width);
  ASSERT_TRUE(predictor) << predictor.error().message();
  std::vector<float> served(lines.size());
  ASSERT_TRUE((*predictor)->Predict(features.data(), lines.size(), served.data()));

  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_TRUE(SameFloat((*batch)[i], expected[i])) << "line " << i + 1;
    EXPECT_TRUE(SameFloat(served[i], expected[i])) << "line " << i + 1;
  }
}

TEST(XGBoostAlgorithmTest, MissingDistanceBecomesNullInSample) {
  JobRoot job;
  job.WriteStandardJob({{"num_round", "3"}});
  ASSERT_OK(RunAlgorithm("xgboost", ContextFor(job)));
  std::vector<Json> lines = ReadJsonLines(job.path("output/data/validation_sample.jsonl"));
  ASSERT_GT(lines.size(), 5u);
  // MakeFlightsCsv leaves record 5 (0-based) without a distance.
  EXPECT_TRUE(lines[5]["Record"]["distance"].is_null());
  EXPECT_TRUE(lines[5]["Features"][0].is_null());
  EXPECT_TRUE(lines[0]["Record"]["distance"].is_number());
  EXPECT_TRUE(lines[0]["Record"]["origin"].is_string());
  EXPECT_FALSE(lines[0]["Record"].contains("delay"));
  EXPECT_FALSE(lines[0]["Record"].contains("note"));
}

TEST(XGBoostAlgorithmTest, WithoutValidationEvaluatesOnTrain) {
  JobRoot job;
  job.WriteConfig({{"num_round", "10"}});
  job.WriteChannelFile("train", "flights.csv", MakeFlightsCsv(1500, 5));
  ASSERT_OK(RunAlgorithm("xgboost", ContextFor(job)));
  model::ModelManifest manifest = LoadManifest(job);

  EXPECT_EQ(manifest.metrics.at("EvaluatedOnTrain"), 1);
  EXPECT_EQ(manifest.metrics.at("ValidationRows"), 0);
  EXPECT_EQ(manifest.metrics.at("EvaluationRows"), 1500);
  EXPECT_FALSE(manifest.lineage.data_digests.contains("validation"));
  EXPECT_EQ(ReadJsonLines(job.path("output/data/validation_sample.jsonl")).size(), kSampleRecords);
}

TEST(XGBoostAlgorithmTest, SameSeedGivesSameModel) {
  std::string models[2];
  for (std::string& model : models) {
    JobRoot job;
    job.WriteStandardJob({{"num_round", "10"}, {"subsample", "0.7"}, {"seed", "3"}});
    ASSERT_OK(RunAlgorithm("xgboost", ContextFor(job, /*num_cpus=*/2)));
    auto text = ReadFile(job.path("model/model.json"));
    ASSERT_TRUE(text);
    model = *text;
  }
  EXPECT_EQ(models[0], models[1]);
}

TEST(XGBoostAlgorithmTest, ReportsEveryPhaseAndFinalRound) {
  JobRoot job;
  job.WriteStandardJob({{"num_round", "12"}});
  AlgorithmContext context = ContextFor(job);
  std::vector<Progress> reports;
  context.on_progress = [&reports](const Progress& progress) { reports.push_back(progress); };
  ASSERT_OK(RunAlgorithm("xgboost", context));

  std::vector<std::string> phases;
  for (const Progress& progress : reports) {
    if (phases.empty() || phases.back() != progress.phase) phases.push_back(progress.phase);
  }
  EXPECT_EQ(phases, (std::vector<std::string>{"reading", "transforming", "training", "evaluating",
                                              "writing"}));
  const Progress* last_training = nullptr;
  for (const Progress& progress : reports) {
    if (progress.phase == "training") last_training = &progress;
  }
  ASSERT_NE(last_training, nullptr);
  EXPECT_EQ(last_training->round, 12);
  EXPECT_EQ(last_training->total_rounds, 12);
}

TEST(XGBoostAlgorithmTest, StopBeforeReadingAborts) {
  JobRoot job;
  job.WriteStandardJob();
  AlgorithmContext context = ContextFor(job);
  context.should_stop = [] { return true; };
  Status status = RunAlgorithm("xgboost", context);
  ExpectError(status, ErrorCode::kAborted, "stopped on request");
  EXPECT_FALSE(fs::exists(job.path("model/model.json")));
}

TEST(XGBoostAlgorithmTest, StopDuringTrainingAborts) {
  JobRoot job;
  job.WriteStandardJob({{"num_round", "50"}});
  AlgorithmContext context = ContextFor(job);
  bool training = false;
  context.on_progress = [&training](const Progress& progress) {
    if (progress.phase == "training") training = true;
  };
  context.should_stop = [&training] { return training; };
  Status status = RunAlgorithm("xgboost", context);
  ExpectError(status, ErrorCode::kAborted, "boosting rounds");
  EXPECT_FALSE(fs::exists(job.path("model/model.json")));
}

TEST(XGBoostAlgorithmTest, UnknownAlgorithmIsNotFound) {
  JobRoot job;
  job.WriteStandardJob();
  Status status = RunAlgorithm("lightgbm", ContextFor(job));
  ExpectError(status, ErrorCode::kNotFound, "unknown algorithm \"lightgbm\"");
  EXPECT_THAT(status.error().message(), HasSubstr("xgboost"));
  EXPECT_EQ(AlgorithmNames(), std::vector<std::string>{"xgboost"});
}

TEST(XGBoostAlgorithmTest, MissingTrainChannelIsNotFound) {
  JobRoot job;
  job.WriteConfig({});
  job.WriteChannelFile("validation", "flights.csv", MakeFlightsCsv(50, 2));
  ExpectError(RunAlgorithm("xgboost", ContextFor(job)), ErrorCode::kNotFound,
              "channel train not found");
}

TEST(XGBoostAlgorithmTest, EmptyTrainDirectoryIsRejected) {
  JobRoot job;
  job.WriteConfig({});
  fs::create_directories(job.path("input/data/train"));
  ExpectError(RunAlgorithm("xgboost", ContextFor(job)), ErrorCode::kInvalidArgument,
              "contains no files");
}

TEST(XGBoostAlgorithmTest, EmptyCsvFileIsRejected) {
  JobRoot job;
  job.WriteConfig({});
  job.WriteChannelFile("train", "empty.csv", "");
  Status status = RunAlgorithm("xgboost", ContextFor(job));
  ExpectError(status, ErrorCode::kInvalidArgument, "empty.csv");
  EXPECT_THAT(status.error().message(), HasSubstr("empty"));
  EXPECT_THAT(status.error().message(), HasSubstr("channel train"));
}

TEST(XGBoostAlgorithmTest, HeaderOnlyCsvIsRejected) {
  JobRoot job;
  job.WriteConfig({});
  job.WriteChannelFile("train", "flights.csv", kHeader);
  ExpectError(RunAlgorithm("xgboost", ContextFor(job)), ErrorCode::kInvalidArgument,
              "channel train: no data records");
}

TEST(XGBoostAlgorithmTest, MissingLabelColumnIsRejected) {
  JobRoot job;
  job.WriteConfig({});
  job.WriteChannelFile("train", "flights.csv",
                       "date,origin,destination,distance\n2024-03-01 10:00,SFO,JFK,300\n");
  Status status = RunAlgorithm("xgboost", ContextFor(job));
  ExpectError(status, ErrorCode::kInvalidArgument, "delay");
  EXPECT_THAT(status.error().message(), HasSubstr("flights.csv"));
}

TEST(XGBoostAlgorithmTest, TextInLabelNamesFileAndLine) {
  JobRoot job;
  job.WriteConfig({});
  std::string csv = MakeFlightsCsv(10, 1);
  csv += "2024-03-01 10:00,SFO,JFK,300,x,late\n";  // line 12: header + 10 records + this one
  job.WriteChannelFile("train", "flights.csv", csv);
  Status status = RunAlgorithm("xgboost", ContextFor(job));
  ExpectError(status, ErrorCode::kInvalidArgument, "flights.csv line 12");
  EXPECT_THAT(status.error().message(), HasSubstr("delay"));
}

TEST(XGBoostAlgorithmTest, BadValidationFeatureNamesLine) {
  JobRoot job;
  job.WriteConfig({});
  job.WriteChannelFile("train", "flights.csv", MakeFlightsCsv(100, 1));
  job.WriteChannelFile("validation", "bad.csv",
                       std::string(kHeader) + "2024-03-01 10:00,SFO,JFK,far,x,3.5\n");
  Status status = RunAlgorithm("xgboost", ContextFor(job));
  ExpectError(status, ErrorCode::kInvalidArgument, "channel validation");
  EXPECT_THAT(status.error().message(), HasSubstr("bad.csv line 2"));
  EXPECT_THAT(status.error().message(), HasSubstr("distance"));
}

TEST(XGBoostAlgorithmTest, UnknownHyperparameterIsRejected) {
  JobRoot job;
  job.WriteStandardJob({{"num_rounds", "10"}});
  Status status = RunAlgorithm("xgboost", ContextFor(job));
  ExpectError(status, ErrorCode::kInvalidArgument, "unknown hyperparameter \"num_rounds\"");
  EXPECT_THAT(status.error().message(), HasSubstr("num_round,"));
}

TEST(XGBoostAlgorithmTest, NonIntegerNumRoundIsRejected) {
  JobRoot job;
  job.WriteStandardJob({{"num_round", "abc"}});
  ExpectError(RunAlgorithm("xgboost", ContextFor(job)), ErrorCode::kInvalidArgument,
              "hyperparameter num_round: \"abc\" is not an integer");
}

TEST(XGBoostAlgorithmTest, LogisticObjectiveRejectsDelayLabels) {
  JobRoot job;
  job.WriteStandardJob({{"num_round", "3"}, {"objective", "binary:logistic"}});
  ExpectError(RunAlgorithm("xgboost", ContextFor(job)), ErrorCode::kInvalidArgument,
              "boosting round 1");
}

TEST(XGBoostAlgorithmTest, MissingTandemJobIsNotFound) {
  JobRoot job;
  job.WriteStandardJob();
  fs::remove(job.path("input/config/tandem-job.json"));
  ExpectError(RunAlgorithm("xgboost", ContextFor(job)), ErrorCode::kNotFound,
              "tandem-job.json");
}

TEST(XGBoostAlgorithmTest, MissingFeaturePipelineIsRejected) {
  JobRoot job;
  job.WriteStandardJob();
  std::ofstream(job.path("input/config/tandem-job.json")) << R"({"ModelName": "m"})";
  ExpectError(RunAlgorithm("xgboost", ContextFor(job)), ErrorCode::kInvalidArgument,
              "FeaturePipeline");
}

TEST(XGBoostAlgorithmTest, NonCsvContentTypeIsRejected) {
  JobRoot job;
  job.WriteStandardJob();
  std::ofstream(job.path("input/config/inputdataconfig.json"))
      << R"({"train": {"ContentType": "application/x-parquet"}})";
  Status status = RunAlgorithm("xgboost", ContextFor(job));
  ExpectError(status, ErrorCode::kInvalidArgument, "application/x-parquet");
  EXPECT_THAT(status.error().message(), HasSubstr("channel train"));
}

}  // namespace
}  // namespace tandem::algorithms
