#include "algorithms/xgboost_hyperparameters.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>

namespace tandem::algorithms {
namespace {

using ::testing::HasSubstr;

std::string ValueOf(const std::vector<std::pair<std::string, std::string>>& params,
                    const std::string& name) {
  auto it = std::find_if(params.begin(), params.end(),
                         [&](const auto& param) { return param.first == name; });
  return it == params.end() ? "<absent>" : it->second;
}

TEST(XGBoostHyperparametersTest, EmptyMapGivesDefaults) {
  auto parsed = ParseXGBoostHyperparameters({});
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_EQ(parsed->num_round, 100);
  EXPECT_EQ(parsed->max_depth, 6);
  EXPECT_EQ(parsed->eta, 0.3);
  EXPECT_EQ(parsed->objective, "reg:squarederror");
  EXPECT_EQ(parsed->tree_method, "hist");
  EXPECT_EQ(parsed->seed, 0);
}

TEST(XGBoostHyperparametersTest, ParsesTypedValues) {
  auto parsed = ParseXGBoostHyperparameters({{"num_round", "200"},
                                             {"max_depth", "8"},
                                             {"eta", "0.1"},
                                             {"subsample", "0.8"},
                                             {"objective", "binary:logistic"},
                                             {"tree_method", "approx"},
                                             {"max_bin", "64"},
                                             {"seed", "42"}});
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_EQ(parsed->num_round, 200);
  EXPECT_EQ(parsed->max_depth, 8);
  EXPECT_EQ(parsed->eta, 0.1);
  EXPECT_EQ(parsed->subsample, 0.8);
  EXPECT_EQ(parsed->objective, "binary:logistic");
  EXPECT_EQ(parsed->tree_method, "approx");
  EXPECT_EQ(parsed->max_bin, 64);
  EXPECT_EQ(parsed->seed, 42);
}

TEST(XGBoostHyperparametersTest, RejectsBadValuesNamingThem) {
  struct Case {
    std::string name;
    std::string value;
    std::string expected;
  };
  const Case cases[] = {
      {"num_round", "abc", "hyperparameter num_round: \"abc\" is not an integer"},
      {"num_round", "0", "hyperparameter num_round: 0 is out of range [1, 10000]"},
      {"num_round", "10001", "out of range"},
      {"num_round", "1.5", "is not an integer"},
      {"num_round", "", "is not an integer"},
      {"max_depth", "65", "hyperparameter max_depth: 65 is out of range [0, 64]"},
      {"eta", "0", "hyperparameter eta: 0 is out of range (0, 1]"},
      {"eta", "1.5", "out of range"},
      {"eta", "nan", "hyperparameter eta: \"nan\" is not a number"},
      {"eta", "0.1x", "is not a number"},
      {"subsample", "-0.5", "hyperparameter subsample"},
      {"lambda", "-1", "hyperparameter lambda"},
      {"objective", "multi:softmax", "hyperparameter objective: \"multi:softmax\" is not one of"},
      {"tree_method", "gpu_hist", "hyperparameter tree_method: \"gpu_hist\""},
      {"seed", "-1", "hyperparameter seed"},
      {"tweedie_variance_power", "2", "out of range (1, 2)"},
  };
  for (const Case& c : cases) {
    auto parsed = ParseXGBoostHyperparameters({{c.name, c.value}});
    ASSERT_FALSE(parsed) << c.name << "=" << c.value;
    EXPECT_EQ(parsed.error().code(), ErrorCode::kInvalidArgument) << c.name << "=" << c.value;
    EXPECT_THAT(parsed.error().message(), HasSubstr(c.expected)) << c.name << "=" << c.value;
  }
}

TEST(XGBoostHyperparametersTest, RejectsUnknownNameListingKnown) {
  auto parsed = ParseXGBoostHyperparameters({{"depth", "3"}});
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(parsed.error().message(), HasSubstr("unknown hyperparameter \"depth\""));
  EXPECT_THAT(parsed.error().message(), HasSubstr("max_depth"));
  EXPECT_THAT(parsed.error().message(), HasSubstr("num_round"));
}

TEST(XGBoostHyperparametersTest, BoosterParamsCarryThreadsAndOmitNumRound) {
  auto parsed = ParseXGBoostHyperparameters({{"eta", "0.1"}, {"num_round", "7"}});
  ASSERT_TRUE(parsed) << parsed.error().message();
  auto params = parsed->BoosterParams(2);
  EXPECT_EQ(ValueOf(params, "nthread"), "2");
  EXPECT_EQ(ValueOf(params, "eta"), "0.1");
  EXPECT_EQ(ValueOf(params, "tree_method"), "hist");
  EXPECT_EQ(ValueOf(params, "num_round"), "<absent>");
  EXPECT_EQ(ValueOf(params, "tweedie_variance_power"), "<absent>");
  EXPECT_EQ(ValueOf(parsed->BoosterParams(0), "nthread"), "1");
}

TEST(XGBoostHyperparametersTest, TweedieGetsItsVariancePower) {
  auto parsed = ParseXGBoostHyperparameters(
      {{"objective", "reg:tweedie"}, {"tweedie_variance_power", "1.2"}});
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_EQ(ValueOf(parsed->BoosterParams(1), "tweedie_variance_power"), "1.2");
}

TEST(XGBoostHyperparametersTest, ToJsonListsEveryValue) {
  auto parsed = ParseXGBoostHyperparameters({{"num_round", "7"}});
  ASSERT_TRUE(parsed) << parsed.error().message();
  Json json = parsed->ToJson();
  EXPECT_EQ(json["num_round"], "7");
  EXPECT_EQ(json["max_depth"], "6");
  EXPECT_EQ(json.size(), KnownXGBoostHyperparameters().size());
}

TEST(HyperparameterMapTest, AcceptsStringsNumbersAndBooleans) {
  auto map = ParseHyperparameterMap(R"({"num_round": "10", "max_depth": 3, "eta": 0.5})");
  ASSERT_TRUE(map) << map.error().message();
  EXPECT_EQ((*map)["num_round"], "10");
  EXPECT_EQ((*map)["max_depth"], "3");
  EXPECT_EQ((*map)["eta"], "0.5");
}

TEST(HyperparameterMapTest, RejectsNestedValueNamingKey) {
  auto map = ParseHyperparameterMap(R"({"num_round": {"value": 10}})");
  ASSERT_FALSE(map);
  EXPECT_EQ(map.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(map.error().message(), HasSubstr("num_round"));
}

TEST(HyperparameterMapTest, RejectsNonObject) {
  auto map = ParseHyperparameterMap(R"(["num_round"])");
  ASSERT_FALSE(map);
  EXPECT_EQ(map.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(map.error().message(), HasSubstr("hyperparameters.json"));
}

}  // namespace
}  // namespace tandem::algorithms
