#include "model/xgboost_predictor.h"

#include <xgboost/c_api.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "model/package.h"
#include "model/self_test.h"
#include "model/test_util.h"

namespace tandem::model {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::ScratchDir;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr size_t kColumns = 4;

#define XGB_CHECK(call) ASSERT_EQ((call), 0) << #call << ": " << XGBGetLastError()

struct Dataset {
  size_t rows = 0;
  std::vector<float> features;  // rows x kColumns, row-major
  std::vector<float> labels;
};

// Synthetic regression data with about 10% missing values and a few rows
// that are missing entirely.
Dataset MakeData(size_t rows, unsigned seed) {
  std::mt19937 random(seed);
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  Dataset data;
  data.rows = rows;
  for (size_t r = 0; r < rows; ++r) {
    float x[kColumns];
    for (float& value : x) value = uniform(random) * 10.0f;
    data.labels.push_back(2.0f * x[0] + (x[1] > 5.0f ? 3.0f : 0.0f) - x[2] * x[3] / 10.0f);
    for (size_t c = 0; c < kColumns; ++c) {
      bool missing = r % 17 == 3 || uniform(random) < 0.1f;
      data.features.push_back(missing ? kNaN : x[c]);
    }
  }
  return data;
}

struct MatrixGuard {
  DMatrixHandle handle = nullptr;
  ~MatrixGuard() {
    if (handle) XGDMatrixFree(handle);
  }
};
struct BoosterGuard {
  BoosterHandle handle = nullptr;
  ~BoosterGuard() {
    if (handle) XGBoosterFree(handle);
  }
};

// Trains a small booster on `data` and saves it as JSON at `path`.
void TrainModel(const Dataset& data, const fs::path& path, const std::string& objective,
                const std::string& booster = "gbtree") {
  MatrixGuard matrix;
  XGB_CHECK(XGDMatrixCreateFromMat(data.features.data(), data.rows, kColumns, kNaN,
                                   &matrix.handle));
  std::vector<float> labels = data.labels;
  if (objective == "binary:logistic") {
    for (float& label : labels) label = label > 10.0f ? 1.0f : 0.0f;
  }
  XGB_CHECK(XGDMatrixSetFloatInfo(matrix.handle, "label", labels.data(), data.rows));
  BoosterGuard trained;
  XGB_CHECK(XGBoosterCreate(&matrix.handle, 1, &trained.handle));
  XGB_CHECK(XGBoosterSetParam(trained.handle, "booster", booster.c_str()));
  XGB_CHECK(XGBoosterSetParam(trained.handle, "objective", objective.c_str()));
  XGB_CHECK(XGBoosterSetParam(trained.handle, "max_depth", "4"));
  XGB_CHECK(XGBoosterSetParam(trained.handle, "eta", "0.3"));
  XGB_CHECK(XGBoosterSetParam(trained.handle, "nthread", "1"));
  XGB_CHECK(XGBoosterSetParam(trained.handle, "seed", "7"));
  for (int round = 0; round < 15; ++round) {
    XGB_CHECK(XGBoosterUpdateOneIter(trained.handle, round, matrix.handle));
  }
  XGB_CHECK(XGBoosterSaveModel(trained.handle, path.c_str()));
}

// Predicts with XGBoosterPredictFromDMatrix on a freshly loaded booster.
void ReferencePredictions(const fs::path& path, const Dataset& data, std::vector<float>& out) {
  BoosterGuard booster;
  XGB_CHECK(XGBoosterCreate(nullptr, 0, &booster.handle));
  XGB_CHECK(XGBoosterLoadModel(booster.handle, path.c_str()));
  MatrixGuard matrix;
  XGB_CHECK(XGDMatrixCreateFromMat(data.features.data(), data.rows, kColumns, kNaN,
                                   &matrix.handle));
  const char* config =
      R"({"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0, "strict_shape": false})";
  const bst_ulong* shape = nullptr;
  bst_ulong dims = 0;
  const float* result = nullptr;
  XGB_CHECK(XGBoosterPredictFromDMatrix(booster.handle, matrix.handle, config, &shape, &dims,
                                        &result));
  out.assign(result, result + data.rows);
}

// Compares float vectors bit for bit.
void ExpectSameBits(const std::vector<float>& expected, const std::vector<float>& actual) {
  ASSERT_EQ(expected.size(), actual.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    uint32_t a = 0;
    uint32_t b = 0;
    std::memcpy(&a, &expected[i], sizeof(a));
    std::memcpy(&b, &actual[i], sizeof(b));
    ASSERT_EQ(a, b) << "row " << i << ": expected " << expected[i] << ", got " << actual[i];
  }
}

class XGBoostPredictorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = MakeData(300, 11);
    model_path_ = scratch_.path() / "model.json";
    TrainModel(data_, model_path_, "reg:squarederror");
  }

  ScratchDir scratch_;
  Dataset data_;
  fs::path model_path_;
};

TEST_F(XGBoostPredictorTest, MatchesDMatrixPredictionBitForBit) {
  std::vector<float> expected;
  ReferencePredictions(model_path_, data_, expected);
  auto predictor = LoadXGBoostPredictor(model_path_, kColumns);
  ASSERT_TRUE(predictor) << predictor.error().message();
  EXPECT_EQ((*predictor)->name(), "libxgboost");
  EXPECT_EQ((*predictor)->num_features(), kColumns);
  std::vector<float> actual(data_.rows);
  ASSERT_TRUE((*predictor)->Predict(data_.features.data(), data_.rows, actual.data()));
  ExpectSameBits(expected, actual);
  // Row 3 is entirely missing and still gets a prediction.
  EXPECT_TRUE(std::isfinite(actual[3]));
}

TEST_F(XGBoostPredictorTest, SingleRowsMatchBatch) {
  auto predictor = LoadXGBoostPredictor(model_path_, kColumns, {.threads_per_call = 1});
  ASSERT_TRUE(predictor) << predictor.error().message();
  std::vector<float> batch(data_.rows);
  ASSERT_TRUE((*predictor)->Predict(data_.features.data(), data_.rows, batch.data()));
  std::vector<float> single(data_.rows);
  for (size_t r = 0; r < data_.rows; ++r) {
    ASSERT_TRUE((*predictor)->Predict(&data_.features[r * kColumns], 1, &single[r]));
  }
  ExpectSameBits(batch, single);
}

TEST_F(XGBoostPredictorTest, ZeroRowsWritesNothing) {
  auto predictor = LoadXGBoostPredictor(model_path_, kColumns);
  ASSERT_TRUE(predictor);
  float untouched = 42.0f;
  ASSERT_TRUE((*predictor)->Predict(nullptr, 0, &untouched));
  EXPECT_EQ(untouched, 42.0f);
}

TEST_F(XGBoostPredictorTest, ConcurrentPredictGivesIdenticalResults) {
  std::vector<float> expected;
  ReferencePredictions(model_path_, data_, expected);
  auto predictor = LoadXGBoostPredictor(model_path_, kColumns, {.threads_per_call = 1});
  ASSERT_TRUE(predictor);
  const Predictor& shared = **predictor;

  constexpr int kThreads = 4;
  constexpr int kIterations = 50;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::atomic<int> mismatches{0};
  std::atomic<int> failures{0};
  std::atomic<int> completed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<float> out(data_.rows);
      for (int i = 0; i < kIterations && std::chrono::steady_clock::now() < deadline; ++i) {
        // Each thread uses different batch sizes so calls overlap in varied ways.
        size_t start = static_cast<size_t>((t * 37 + i * 11) % 200);
        size_t rows = 1 + static_cast<size_t>((t + i) % 7) * 15;
        if (!shared.Predict(&data_.features[start * kColumns], rows, out.data())) {
          ++failures;
          continue;
        }
        if (std::memcmp(out.data(), &expected[start], rows * sizeof(float)) != 0) ++mismatches;
        ++completed;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(completed.load(), kThreads * kIterations);
}

TEST_F(XGBoostPredictorTest, FeatureCountMismatchIsInvalid) {
  auto predictor = LoadXGBoostPredictor(model_path_, kColumns + 1);
  ASSERT_FALSE(predictor);
  EXPECT_EQ(predictor.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(predictor.error().message(),
            fmt::format("model {} expects 4 features, the feature pipeline gives 5",
                        model_path_.string()));
}

TEST_F(XGBoostPredictorTest, MissingFileIsNotFound) {
  auto predictor = LoadXGBoostPredictor(scratch_.path() / "absent.json", kColumns);
  ASSERT_FALSE(predictor);
  EXPECT_EQ(predictor.error().code(), ErrorCode::kNotFound);
  EXPECT_THAT(predictor.error().message(), HasSubstr("absent.json"));
}

TEST_F(XGBoostPredictorTest, GarbageFileIsInvalidAndNamed) {
  fs::path garbage = scratch_.Write("broken.json", "{\"learner\": 12");
  auto predictor = LoadXGBoostPredictor(garbage, kColumns);
  ASSERT_FALSE(predictor);
  EXPECT_EQ(predictor.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(predictor.error().message(),
              HasSubstr("libxgboost cannot load model " + garbage.string()));
}

TEST(XGBoostPredictorObjectiveTest, LogisticOutputIsTransformed) {
  ScratchDir scratch;
  Dataset data = MakeData(200, 5);
  fs::path path = scratch.path() / "logistic.json";
  TrainModel(data, path, "binary:logistic");
  std::vector<float> expected;
  ReferencePredictions(path, data, expected);
  auto predictor = LoadXGBoostPredictor(path, kColumns);
  ASSERT_TRUE(predictor) << predictor.error().message();
  std::vector<float> actual(data.rows);
  ASSERT_TRUE((*predictor)->Predict(data.features.data(), data.rows, actual.data()));
  ExpectSameBits(expected, actual);
  for (float p : actual) {
    EXPECT_GE(p, 0.0f);
    EXPECT_LE(p, 1.0f);
  }
}

TEST(XGBoostPredictorObjectiveTest, DartMatchesDMatrixPrediction) {
  ScratchDir scratch;
  Dataset data = MakeData(200, 3);
  fs::path path = scratch.path() / "dart.json";
  TrainModel(data, path, "reg:squarederror", "dart");
  std::vector<float> expected;
  ReferencePredictions(path, data, expected);
  auto predictor = LoadXGBoostPredictor(path, kColumns);
  ASSERT_TRUE(predictor) << predictor.error().message();
  std::vector<float> actual(data.rows);
  ASSERT_TRUE((*predictor)->Predict(data.features.data(), data.rows, actual.data()));
  // libxgboost 1.7 weights dart trees differently on its two paths, so the
  // results may differ in the last bits.
  for (size_t i = 0; i < data.rows; ++i) {
    EXPECT_NEAR(expected[i], actual[i], 1e-5 * std::fabs(expected[i]) + 1e-6) << "row " << i;
  }
}

TEST(XGBoostPredictorObjectiveTest, LinearBoosterIsRejected) {
  ScratchDir scratch;
  Dataset data = MakeData(100, 9);
  // gblinear cannot handle missing values, so fill them.
  for (float& value : data.features) {
    if (std::isnan(value)) value = 0.0f;
  }
  fs::path path = scratch.path() / "linear.json";
  TrainModel(data, path, "reg:squarederror", "gblinear");
  auto predictor = LoadXGBoostPredictor(path, kColumns);
  ASSERT_FALSE(predictor);
  EXPECT_EQ(predictor.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(predictor.error().message(),
              HasSubstr(fmt::format("model {} uses booster \"gblinear\"", path.string())));
}

// ---------------------------------------------------------------------------
// Self-tests

class SelfTestTest : public XGBoostPredictorTest {
 protected:
  void SetUp() override {
    XGBoostPredictorTest::SetUp();
    auto pipeline = FeaturePipeline::FromJson(Json::parse(R"({"Label": "y", "Features": [
        {"Field": "a", "Kind": "numeric"}, {"Field": "b", "Kind": "numeric"},
        {"Field": "c", "Kind": "numeric"}, {"Field": "d", "Kind": "numeric"}]})"),
                                              "FeaturePipeline");
    ASSERT_TRUE(pipeline) << pipeline.error().message();
    pipeline_ = *pipeline;
    auto predictor = LoadXGBoostPredictor(model_path_, kColumns);
    ASSERT_TRUE(predictor) << predictor.error().message();
    predictor_ = std::move(*predictor);

    package_.dir = scratch_.path();
    package_.model_path = model_path_;
    package_.manifest.model_name = "tiny";
    package_.manifest.objective = "reg:squarederror";
    package_.manifest.feature_pipeline = pipeline_;
    // Expected values come from the predictor itself, as the training job does.
    std::vector<Json> records = {
        {{"a", 1.5}, {"b", "7"}, {"c", 2}, {"d", nullptr}},
        {{"a", "9.25"}, {"b", 0}, {"c", ""}, {"d", 4}},
    };
    for (const Json& record : records) {
      std::vector<float> features(kColumns);
      ASSERT_TRUE(pipeline_.TransformJson(record, features));
      float prediction = 0;
      ASSERT_TRUE(predictor_->Predict(features.data(), 1, &prediction));
      package_.manifest.self_tests.push_back({record, prediction});
    }
  }

  FeaturePipeline pipeline_;
  std::unique_ptr<Predictor> predictor_;
  LoadedPackage package_;
};

TEST_F(SelfTestTest, PassesWithRecordedPredictions) {
  Status status = RunSelfTests(package_, pipeline_, *predictor_);
  EXPECT_TRUE(status) << status.error().message();
}

TEST_F(SelfTestTest, PassesAfterManifestRoundTrip) {
  // Expected values must survive manifest.json exactly.
  package_.manifest.input_schema = pipeline_.InputSchema();
  package_.manifest.feature_names = pipeline_.FeatureNames();
  ASSERT_TRUE(WriteManifest(scratch_.path(), package_.manifest));
  auto loaded = LoadPackage(scratch_.path());
  ASSERT_TRUE(loaded) << loaded.error().message();
  Status status = RunSelfTests(*loaded, loaded->manifest.feature_pipeline, *predictor_);
  EXPECT_TRUE(status) << status.error().message();
}

TEST_F(SelfTestTest, WrongExpectedValueFails) {
  float recorded = static_cast<float>(package_.manifest.self_tests[1].expected);
  float wrong = std::nextafter(recorded, 1e9f);
  package_.manifest.self_tests[1].expected = wrong;
  Status status = RunSelfTests(package_, pipeline_, *predictor_);
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(status.error().message(),
              HasSubstr(fmt::format("model tiny: self-test case 1 failed: expected {}, got {}",
                                    wrong, recorded)));
}

TEST_F(SelfTestTest, ToleranceAllowsSmallDifference) {
  float recorded = static_cast<float>(package_.manifest.self_tests[0].expected);
  package_.manifest.self_tests[0].expected = recorded + 0.01;
  package_.manifest.self_test_tolerance = 0.05;
  Status status = RunSelfTests(package_, pipeline_, *predictor_);
  EXPECT_TRUE(status) << status.error().message();
  package_.manifest.self_test_tolerance = 0.001;
  status = RunSelfTests(package_, pipeline_, *predictor_);
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kFailedPrecondition);
}

TEST_F(SelfTestTest, UntransformableRecordNamesCase) {
  package_.manifest.self_tests[1].record.erase("c");
  Status status = RunSelfTests(package_, pipeline_, *predictor_);
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(status.error().message(), "model tiny: self-test case 1: missing field \"c\"");
}

TEST_F(SelfTestTest, FeatureCountMismatchFails) {
  auto other = FeaturePipeline::FromJson(
      Json::parse(R"({"Label": "y", "Features": [{"Field": "a", "Kind": "numeric"}]})"),
      "FeaturePipeline");
  ASSERT_TRUE(other);
  Status status = RunSelfTests(package_, *other, *predictor_);
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(status.error().message(), HasSubstr("the predictor takes 4 features"));
}

}  // namespace
}  // namespace tandem::model
