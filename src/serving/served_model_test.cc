#include "serving/served_model.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>

#include "serving/test_package.h"

namespace tandem::serving {
namespace {

using ::testing::HasSubstr;
using testing::ScratchDir;
using testing::TestRecord;

class ServedModelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    scratch_ = new ScratchDir();
    Status built = testing::BuildTestPackage(scratch_->path() / "gbtree");
    ASSERT_TRUE(built.has_value()) << built.error().message();
    built = testing::BuildTestPackage(scratch_->path() / "dart", {.booster = "dart"});
    ASSERT_TRUE(built.has_value()) << built.error().message();
  }
  static void TearDownTestSuite() { delete scratch_; }
  static std::filesystem::path Gbtree() { return scratch_->path() / "gbtree"; }
  static std::filesystem::path Dart() { return scratch_->path() / "dart"; }

  // Encodes records [0, rows) with the model's pipeline.
  static FeatureBatch Records(const ServedModel& model, int rows) {
    std::vector<Json> records;
    for (int i = 0; i < rows; ++i) records.push_back(TestRecord(i));
    Result<FeatureBatch> batch = FeaturesFromRecords(records, model.pipeline());
    EXPECT_TRUE(batch.has_value()) << batch.error().message();
    return batch.value_or(FeatureBatch{});
  }

  static ScratchDir* scratch_;
};
ScratchDir* ServedModelTest::scratch_ = nullptr;

TEST_F(ServedModelTest, AutoPicksCompiledTrees) {
  Result<std::shared_ptr<const ServedModel>> model = ServedModel::Load(Gbtree(), "1");
  ASSERT_TRUE(model.has_value()) << model.error().message();
  EXPECT_EQ((*model)->predictor_name(), "compiled_trees");
  EXPECT_EQ((*model)->predictor_fallback_reason(), "");
  EXPECT_EQ((*model)->metadata().at("parameters").at("predictor"), "compiled_trees");
  EXPECT_FALSE((*model)->metadata().at("parameters").contains("predictor_fallback_reason"));
  EXPECT_TRUE((*model)->SelfTest().has_value());
}

TEST_F(ServedModelTest, CompiledMatchesLibxgboostBitForBit) {
  auto compiled = ServedModel::Load(Gbtree(), "1", {.predictor = PredictorChoice::kCompiled});
  auto reference = ServedModel::Load(Gbtree(), "1", {.predictor = PredictorChoice::kLibxgboost});
  ASSERT_TRUE(compiled.has_value()) << compiled.error().message();
  ASSERT_TRUE(reference.has_value()) << reference.error().message();
  EXPECT_EQ((*reference)->predictor_name(), "libxgboost");

  FeatureBatch batch = Records(**compiled, 500);
  Result<std::vector<float>> fast = (*compiled)->Predict(batch);
  Result<std::vector<float>> slow = (*reference)->Predict(batch);
  ASSERT_TRUE(fast.has_value());
  ASSERT_TRUE(slow.has_value());
  ASSERT_EQ(fast->size(), 500u);
  ASSERT_EQ(slow->size(), 500u);
  EXPECT_EQ(std::memcmp(fast->data(), slow->data(), fast->size() * sizeof(float)), 0);
}

TEST_F(ServedModelTest, AutoFallsBackToLibxgboostForDart) {
  Result<std::shared_ptr<const ServedModel>> model = ServedModel::Load(Dart(), "1");
  ASSERT_TRUE(model.has_value()) << model.error().message();
  EXPECT_EQ((*model)->predictor_name(), "libxgboost");
  EXPECT_THAT((*model)->predictor_fallback_reason(), HasSubstr("dart"));
  EXPECT_THAT(
      (*model)->metadata().at("parameters").at("predictor_fallback_reason").get<std::string>(),
      HasSubstr("dart"));
  EXPECT_TRUE((*model)->SelfTest().has_value());
}

TEST_F(ServedModelTest, CompiledOnlyRejectsDart) {
  Result<std::shared_ptr<const ServedModel>> model =
      ServedModel::Load(Dart(), "1", {.predictor = PredictorChoice::kCompiled});
  ASSERT_FALSE(model.has_value());
  EXPECT_EQ(model.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(model.error().message(), HasSubstr("dart"));
  EXPECT_THAT(model.error().message(), HasSubstr(Dart().string()));
}

TEST(PredictorChoiceTest, ParsesNames) {
  EXPECT_EQ(ParsePredictorChoice("auto").value(), PredictorChoice::kAuto);
  EXPECT_EQ(ParsePredictorChoice("compiled").value(), PredictorChoice::kCompiled);
  EXPECT_EQ(ParsePredictorChoice("libxgboost").value(), PredictorChoice::kLibxgboost);
  Result<PredictorChoice> bad = ParsePredictorChoice("xgboost");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(bad.error().message(), HasSubstr("\"xgboost\""));
}

}  // namespace
}  // namespace tandem::serving
