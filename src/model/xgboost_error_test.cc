#include "model/xgboost_error.h"

#include <gtest/gtest.h>
#include <xgboost/c_api.h>

namespace tandem::model {
namespace {

TEST(LastXGBoostErrorTest, DropsPrefixAndStackTrace) {
  DMatrixHandle dmatrix = nullptr;
  float values[2] = {1.0f, 2.0f};
  ASSERT_EQ(XGDMatrixCreateFromMat(values, 2, 1, -1.0f, &dmatrix), 0);
  ASSERT_EQ(XGDMatrixSetFloatInfo(dmatrix, "label", values, 2), 0);
  BoosterHandle booster = nullptr;
  ASSERT_EQ(XGBoosterCreate(&dmatrix, 1, &booster), 0);
  ASSERT_NE(XGBoosterSetParam(booster, "objective", "reg:no-such-objective"), -2);
  ASSERT_NE(XGBoosterUpdateOneIter(booster, 0, dmatrix), 0);

  std::string message = LastXGBoostError();
  EXPECT_FALSE(message.empty());
  EXPECT_NE(message.front(), '[') << message;
  EXPECT_EQ(message.find("Stack trace"), std::string::npos) << message;
  EXPECT_NE(message.find("no-such-objective"), std::string::npos) << message;

  XGDMatrixFree(dmatrix);
  XGBoosterFree(booster);
}

}  // namespace
}  // namespace tandem::model
