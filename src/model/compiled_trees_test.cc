#include "model/compiled_trees.h"

#include <xgboost/c_api.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/json_util.h"
#include "model/compiled_trees_simd.h"
#include "model/test_util.h"
#include "model/xgboost_predictor.h"

namespace tandem::model {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::ScratchDir;

// Reads numbers straight to float32, so that thresholds taken from a model
// are exactly the values the model holds.
using FloatJson = nlohmann::basic_json<std::map, std::vector, std::string, bool, std::int64_t,
                                       std::uint64_t, float>;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr size_t kColumns = 7;
constexpr size_t kTrainRows = 2000;
constexpr size_t kTestRows = 10000;

#define XGB_CHECK(call) ASSERT_EQ((call), 0) << #call << ": " << XGBGetLastError()

struct MatrixGuard {
  DMatrixHandle handle = nullptr;
  ~MatrixGuard() {
    if (handle != nullptr) XGDMatrixFree(handle);
  }
};
struct BoosterGuard {
  BoosterHandle handle = nullptr;
  ~BoosterGuard() {
    if (handle != nullptr) XGBoosterFree(handle);
  }
};

// Training data: columns 0-3 continuous in [-5, 5], columns 4-5 small
// integers (many ties, so split conditions fall on values that occur), column
// 6 mostly missing. About 10% of all values are NaN.
struct Dataset {
  std::vector<float> features;  // kTrainRows x kColumns, row-major
  std::vector<float> raw_target;
};

Dataset MakeTrainingData(unsigned seed) {
  std::mt19937 random(seed);
  std::uniform_real_distribution<float> uniform(-5.0f, 5.0f);
  std::uniform_int_distribution<int> small_int(0, 6);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  Dataset data;
  for (size_t r = 0; r < kTrainRows; ++r) {
    float x[kColumns];
    for (size_t c = 0; c < 4; ++c) x[c] = uniform(random);
    x[4] = static_cast<float>(small_int(random));
    x[5] = static_cast<float>(small_int(random)) - 3.0f;
    x[6] = unit(random) < 0.7f ? kNaN : uniform(random);
    for (size_t c = 0; c < 6; ++c) {
      if (unit(random) < 0.1f) x[c] = kNaN;
    }
    auto value = [](float v) { return std::isnan(v) ? 1.0f : v; };
    float target = 2.0f * value(x[0]) + (value(x[1]) > 0.5f ? 3.0f : -1.0f) -
                   value(x[2]) * value(x[3]) / 4.0f + 0.5f * value(x[4]) - value(x[5]) +
                   (std::isnan(x[6]) ? 0.0f : 1.5f) + 0.3f * (unit(random) - 0.5f);
    data.raw_target.push_back(target);
    data.features.insert(data.features.end(), x, x + kColumns);
  }
  return data;
}

// Maps the raw target into the label range an objective accepts.
std::vector<float> LabelsFor(const std::string& objective, const std::vector<float>& target) {
  std::vector<float> labels;
  for (float t : target) {
    if (objective.starts_with("binary:") || objective == "reg:logistic") {
      labels.push_back(objective == "reg:logistic" ? 1.0f / (1.0f + std::exp(-t / 4.0f))
                                                   : (t > 2.0f ? 1.0f : 0.0f));
    } else if (objective == "count:poisson") {
      labels.push_back(std::floor(std::exp(t / 6.0f)));
    } else if (objective == "reg:gamma" || objective == "reg:tweedie") {
      labels.push_back(std::exp(t / 6.0f));
    } else if (objective == "reg:squaredlogerror") {
      labels.push_back(std::max(t + 10.0f, 0.0f));
    } else if (objective.starts_with("multi:")) {
      labels.push_back(t < 0.0f ? 0.0f : (t < 4.0f ? 1.0f : 2.0f));
    } else if (objective == "rank:map") {
      labels.push_back(t > 2.0f ? 1.0f : 0.0f);
    } else if (objective.starts_with("rank:")) {
      labels.push_back(std::round(std::clamp(t / 4.0f + 2.0f, 0.0f, 4.0f)));
    } else {
      labels.push_back(t);
    }
  }
  return labels;
}

struct TrainSpec {
  std::string objective = "reg:squarederror";
  int rounds = 50;
  std::vector<std::pair<std::string, std::string>> params;  // besides objective
};

// Trains a booster with the XGBoost C API and saves it as JSON at `path`.
void Train(const TrainSpec& spec, const fs::path& path, unsigned seed = 3) {
  Dataset data = MakeTrainingData(seed);
  MatrixGuard matrix;
  XGB_CHECK(XGDMatrixCreateFromMat(data.features.data(), kTrainRows, kColumns, kNaN,
                                   &matrix.handle));
  std::vector<float> labels = LabelsFor(spec.objective, data.raw_target);
  XGB_CHECK(XGDMatrixSetFloatInfo(matrix.handle, "label", labels.data(), kTrainRows));
  BoosterGuard booster;
  XGB_CHECK(XGBoosterCreate(&matrix.handle, 1, &booster.handle));
  XGB_CHECK(XGBoosterSetParam(booster.handle, "objective", spec.objective.c_str()));
  XGB_CHECK(XGBoosterSetParam(booster.handle, "nthread", "1"));
  XGB_CHECK(XGBoosterSetParam(booster.handle, "seed", "7"));
  for (const auto& [name, value] : spec.params) {
    XGB_CHECK(XGBoosterSetParam(booster.handle, name.c_str(), value.c_str()));
  }
  for (int round = 0; round < spec.rounds; ++round) {
    XGB_CHECK(XGBoosterUpdateOneIter(booster.handle, round, matrix.handle));
  }
  XGB_CHECK(XGBoosterSaveModel(booster.handle, path.c_str()));
}

std::string ReadText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Returns every split condition of the model, per feature.
std::vector<std::vector<float>> SplitConditions(const fs::path& model) {
  FloatJson json = FloatJson::parse(ReadText(model));
  std::vector<std::vector<float>> conditions(kColumns);
  for (const FloatJson& tree : json["learner"]["gradient_booster"]["model"]["trees"]) {
    const FloatJson& left = tree["left_children"];
    for (size_t i = 0; i < left.size(); ++i) {
      if (left[i].get<int64_t>() == -1) continue;
      auto feature = tree["split_indices"][i].get<size_t>();
      conditions.at(feature).push_back(tree["split_conditions"][i].get<float>());
    }
  }
  return conditions;
}

// Test rows: a mix per value of ordinary values, NaN, +-0, split conditions
// of the model and their float neighbours, huge, infinite and tiny values.
std::vector<float> MakeTestRows(const std::vector<std::vector<float>>& conditions, unsigned seed) {
  std::mt19937 random(seed);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  std::uniform_real_distribution<float> wide(-8.0f, 8.0f);
  const float specials[] = {0.0f,
                            -0.0f,
                            kInf,
                            -kInf,
                            std::numeric_limits<float>::max(),
                            std::numeric_limits<float>::lowest(),
                            3.0e38f,
                            -1.0e30f,
                            std::numeric_limits<float>::min(),
                            -std::numeric_limits<float>::min(),
                            std::numeric_limits<float>::denorm_min(),
                            -std::numeric_limits<float>::denorm_min(),
                            1.0e-40f};
  std::vector<float> rows;
  rows.reserve(kTestRows * kColumns);
  for (size_t r = 0; r < kTestRows; ++r) {
    for (size_t c = 0; c < kColumns; ++c) {
      float pick = unit(random);
      float value = wide(random);
      if (pick < 0.15f) {
        value = kNaN;
      } else if (pick < 0.50f && !conditions[c].empty()) {
        float threshold = conditions[c][random() % conditions[c].size()];
        float step = unit(random);
        value = step < 0.6f ? threshold
                            : std::nextafter(threshold, step < 0.8f ? kInf : -kInf);
      } else if (pick < 0.60f) {
        value = specials[random() % std::size(specials)];
      } else if (pick < 0.65f) {
        value = std::round(value);
      }
      rows.push_back(value);
    }
  }
  return rows;
}

uint32_t Bits(float value) {
  uint32_t bits = 0;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits;
}

// Counts rows whose predictions differ in any bit and reports the first few.
void ExpectSameBits(const std::vector<float>& expected, const std::vector<float>& actual,
                    const std::vector<float>& rows, std::string_view what,
                    size_t columns = kColumns) {
  ASSERT_EQ(expected.size(), actual.size());
  size_t mismatches = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    if (Bits(expected[i]) == Bits(actual[i])) continue;
    if (++mismatches <= 5) {
      std::string row;
      for (size_t c = 0; c < columns; ++c) row += fmt::format(" {}", rows[i * columns + c]);
      ADD_FAILURE() << what << " row " << i << ":" << row << ": libxgboost "
                    << fmt::format("{} ({:#010x})", expected[i], Bits(expected[i]))
                    << ", compiled trees "
                    << fmt::format("{} ({:#010x})", actual[i], Bits(actual[i]));
    }
  }
  EXPECT_EQ(mismatches, 0u) << what;
}

// The kernels this CPU can run: kScalar always, kAvx2 and kAvx512 when the
// CPU supports them. kAuto picks one of these.
std::vector<TreeKernel> KernelsOfThisCpu() {
  std::vector<TreeKernel> kernels = {TreeKernel::kScalar};
  if (tree_simd::CpuSupportsAvx2()) kernels.push_back(TreeKernel::kAvx2);
  if (tree_simd::CpuSupportsAvx512()) kernels.push_back(TreeKernel::kAvx512);
  return kernels;
}

// Loads `model` with `kernel` forced. Returns null, after checking the reason,
// when a vector kernel rejects a tree deeper than it pads to.
std::unique_ptr<Predictor> LoadWithKernel(const fs::path& model, size_t columns,
                                          TreeKernel kernel) {
  auto compiled = LoadCompiledTrees(model, columns, {.kernel = kernel});
  if (!compiled && kernel != TreeKernel::kScalar &&
      compiled.error().code() == ErrorCode::kFailedPrecondition) {
    EXPECT_THAT(compiled.error().message(), HasSubstr("deeper than the 10 levels"));
    return nullptr;
  }
  EXPECT_TRUE(compiled) << compiled.error().message();
  if (!compiled) return nullptr;
  EXPECT_EQ((*compiled)->name(), "compiled_trees");
  EXPECT_EQ((*compiled)->num_features(), columns);
  return std::move(*compiled);
}

// Predicts all rows with libxgboost and with the compiled trees, with each
// kernel of this CPU (as one batch, as single rows, and in batches of odd
// sizes) and compares bits.
void ExpectIdenticalToLibxgboost(const fs::path& model, unsigned seed = 17) {
  std::vector<float> rows = MakeTestRows(SplitConditions(model), seed);

  auto reference = LoadXGBoostPredictor(model, kColumns);
  ASSERT_TRUE(reference) << reference.error().message();
  std::vector<float> expected(kTestRows);
  ASSERT_TRUE((*reference)->Predict(rows.data(), kTestRows, expected.data()));

  for (TreeKernel kernel : KernelsOfThisCpu()) {
    SCOPED_TRACE(fmt::format("kernel {}", TreeKernelName(kernel)));
    std::unique_ptr<Predictor> compiled = LoadWithKernel(model, kColumns, kernel);
    if (compiled == nullptr) continue;

    std::vector<float> batch(kTestRows);
    ASSERT_TRUE(compiled->Predict(rows.data(), kTestRows, batch.data()));
    ExpectSameBits(expected, batch, rows, "one batch");

    std::vector<float> single(kTestRows);
    for (size_t r = 0; r < kTestRows; ++r) {
      ASSERT_TRUE(compiled->Predict(&rows[r * kColumns], 1, &single[r]));
    }
    ExpectSameBits(expected, single, rows, "single rows");

    std::vector<float> chunked(kTestRows);
    size_t sizes[] = {63, 64, 65, 1, 130, 999};
    for (size_t begin = 0, i = 0; begin < kTestRows; ++i) {
      size_t count = std::min(sizes[i % std::size(sizes)], kTestRows - begin);
      ASSERT_TRUE(compiled->Predict(&rows[begin * kColumns], count, &chunked[begin]));
      begin += count;
    }
    ExpectSameBits(expected, chunked, rows, "odd batches");
  }

  // kAuto gives the same bits as the kernels above.
  auto automatic = LoadCompiledTrees(model, kColumns);
  ASSERT_TRUE(automatic) << automatic.error().message();
  std::vector<float> batch(kTestRows);
  ASSERT_TRUE((*automatic)->Predict(rows.data(), kTestRows, batch.data()));
  ExpectSameBits(expected, batch, rows, "kernel auto");
}

// ---------------------------------------------------------------------------
// Bit-identical predictions on trained models

struct ModelCase {
  std::string name;
  TrainSpec spec;
};

std::ostream& operator<<(std::ostream& out, const ModelCase& c) { return out << c.name; }

class CompiledTreesMatchTest : public ::testing::TestWithParam<ModelCase> {};

TEST_P(CompiledTreesMatchTest, SameBitsAsLibxgboost) {
  ScratchDir scratch;
  fs::path model = scratch.path() / "model.json";
  ASSERT_NO_FATAL_FAILURE(Train(GetParam().spec, model));
  ExpectIdenticalToLibxgboost(model);
}

using Params = std::vector<std::pair<std::string, std::string>>;

INSTANTIATE_TEST_SUITE_P(
    Models, CompiledTreesMatchTest,
    ::testing::Values(
        ModelCase{"SquaredErrorDepth1", {"reg:squarederror", 50, Params{{"max_depth", "1"}}}},
        ModelCase{"SquaredErrorDepth6BaseScore",
                  {"reg:squarederror", 200, Params{{"max_depth", "6"}, {"base_score", "3.7"}}}},
        ModelCase{"SquaredErrorDepth8", {"reg:squarederror", 200, Params{{"max_depth", "8"}}}},
        ModelCase{"SquaredErrorDepth10Exact",
                  {"reg:squarederror", 60,
                   Params{{"max_depth", "10"}, {"tree_method", "exact"}, {"eta", "0.1"}}}},
        ModelCase{"SquaredErrorApprox",
                  {"reg:squarederror", 50, Params{{"max_depth", "5"}, {"tree_method", "approx"}}}},
        ModelCase{"SquaredErrorLossguide",
                  {"reg:squarederror", 50,
                   Params{{"tree_method", "hist"}, {"grow_policy", "lossguide"},
                          {"max_depth", "0"}, {"max_leaves", "40"}}}},
        ModelCase{"RandomForestRounds",
                  {"reg:squarederror", 20,
                   Params{{"max_depth", "4"}, {"num_parallel_tree", "3"}, {"subsample", "0.7"},
                          {"colsample_bynode", "0.6"}}}},
        ModelCase{"BinaryLogisticDepth3", {"binary:logistic", 100, Params{{"max_depth", "3"}}}},
        ModelCase{"BinaryLogisticDepth8BaseScore",
                  {"binary:logistic", 200, Params{{"max_depth", "8"}, {"base_score", "0.23"}}}},
        ModelCase{"RegLogistic", {"reg:logistic", 50, Params{{"max_depth", "4"}}}},
        ModelCase{"LogitRawBaseScore",
                  {"binary:logitraw", 50, Params{{"max_depth", "4"}, {"base_score", "0.8"}}}},
        ModelCase{"Hinge", {"binary:hinge", 30, Params{{"max_depth", "3"}}}},
        ModelCase{"Poisson", {"count:poisson", 100, Params{{"max_depth", "5"}}}},
        ModelCase{"PoissonBaseScore",
                  {"count:poisson", 50, Params{{"max_depth", "4"}, {"base_score", "1.7"}}}},
        ModelCase{"Gamma", {"reg:gamma", 50, Params{{"max_depth", "4"}}}},
        ModelCase{"Tweedie", {"reg:tweedie", 50, Params{{"max_depth", "4"}}}},
        ModelCase{"PseudoHuber", {"reg:pseudohubererror", 100, Params{{"max_depth", "6"}}}},
        ModelCase{"AbsoluteError", {"reg:absoluteerror", 100, Params{{"max_depth", "5"}}}},
        ModelCase{"SquaredLogError", {"reg:squaredlogerror", 50, Params{{"max_depth", "4"}}}},
        ModelCase{"RankPairwise", {"rank:pairwise", 50, Params{{"max_depth", "4"}}}},
        ModelCase{"RankNdcg", {"rank:ndcg", 30, Params{{"max_depth", "4"}}}},
        ModelCase{"RankMap", {"rank:map", 30, Params{{"max_depth", "4"}}}},
        ModelCase{"RegLinearAlias", {"reg:linear", 30, Params{{"max_depth", "4"}}}}),
    [](const ::testing::TestParamInfo<ModelCase>& info) { return info.param.name; });

// ---------------------------------------------------------------------------
// Hand-edited models: cases training does not reach

// A trained model as a nlohmann::json document to edit and save again.
class EditedModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_path_ = scratch_.path() / "base.json";
    ASSERT_NO_FATAL_FAILURE(Train({"binary:logistic", 10, Params{{"max_depth", "3"}}}, base_path_));
    auto parsed = ParseJson(ReadText(base_path_), "model");
    ASSERT_TRUE(parsed) << parsed.error().message();
    model_ = std::move(*parsed);
  }

  Json& Trees() { return model_["learner"]["gradient_booster"]["model"]["trees"]; }

  fs::path Save(std::string_view name) const { return scratch_.Write(name, model_.dump()); }

  // Loads the edited model and expects `code` with every piece of `parts` in
  // the message.
  void ExpectError(std::string_view name, ErrorCode code,
                   std::initializer_list<std::string_view> parts) {
    fs::path path = Save(name);
    auto loaded = LoadCompiledTrees(path, kColumns);
    ASSERT_FALSE(loaded) << name << " loaded";
    EXPECT_EQ(loaded.error().code(), code) << loaded.error().message();
    EXPECT_THAT(loaded.error().message(), HasSubstr(path.string()));
    for (std::string_view part : parts) {
      EXPECT_THAT(loaded.error().message(), HasSubstr(std::string(part)));
    }
  }

  // Sets every leaf of tree 0 to `value`.
  void SetLeaves(double value) {
    Json& tree = Trees()[0];
    for (size_t i = 0; i < tree["left_children"].size(); ++i) {
      if (tree["left_children"][i] == -1) tree["split_conditions"][i] = value;
    }
  }

  ScratchDir scratch_;
  fs::path base_path_;
  Json model_;
};

TEST_F(EditedModelTest, ExtremeMarginsMatchLibxgboost) {
  // Margins below -88.7 reach the clamp in libxgboost's sigmoid; large ones
  // overflow exp for the exp objectives.
  // libxgboost reads each objective's parameters from the model, so each
  // case carries the objective object it needs.
  const Json logistic = {{"name", "binary:logistic"},
                         {"reg_loss_param", {{"scale_pos_weight", "1"}}}};
  const Json poisson = {{"name", "count:poisson"},
                        {"poisson_regression_param", {{"max_delta_step", "0.7"}}}};
  const Json squared = {{"name", "reg:squarederror"},
                        {"reg_loss_param", {{"scale_pos_weight", "1"}}}};
  const Json hinge = {{"name", "binary:hinge"}};
  const std::pair<Json, double> cases[] = {
      {logistic, -100.0}, {logistic, 100.0}, {logistic, -88.0}, {poisson, 100.0},
      {poisson, -120.0},  {squared, 3e38},   {hinge, -0.0}};
  int index = 0;
  for (const auto& [objective, leaf] : cases) {
    SCOPED_TRACE(fmt::format("{} leaf {}", objective.dump(), leaf));
    model_["learner"]["objective"] = objective;
    SetLeaves(leaf);
    ExpectIdenticalToLibxgboost(Save(fmt::format("extreme{}.json", index++)));
  }
}

TEST_F(EditedModelTest, TreesSummedInIdOrder) {
  // libxgboost places each tree by its "id"; float sums depend on the order.
  Json& trees = Trees();
  std::reverse(trees.begin(), trees.end());
  ExpectIdenticalToLibxgboost(Save("reversed.json"));
}

TEST_F(EditedModelTest, SingleLeafTreeMatchesLibxgboost) {
  // A tree that is only a leaf, in a group of deeper trees: the vector
  // kernels repeat its leaf down to the group's depth.
  Json& tree = Trees()[0];
  tree["tree_param"]["num_nodes"] = "1";
  for (const char* key : {"split_indices", "split_conditions", "default_left", "split_type",
                          "base_weights", "loss_changes", "sum_hessian"}) {
    if (tree.contains(key)) tree[key] = Json::array({tree[key][0]});
  }
  tree["left_children"] = Json::array({-1});
  tree["right_children"] = Json::array({-1});
  tree["parents"] = Json::array({2147483647});
  ExpectIdenticalToLibxgboost(Save("leaf.json"));
}

TEST_F(EditedModelTest, NegativeZeroMarginKeepsSign) {
  // base_score -0 and every leaf -0 give a margin of -0.0f. The vector
  // kernels also add the leaves of their unused lanes, which must not turn
  // it into +0.0f.
  model_["learner"]["objective"] = {{"name", "reg:squarederror"},
                                    {"reg_loss_param", {{"scale_pos_weight", "1"}}}};
  model_["learner"]["learner_model_param"]["base_score"] = "-0E0";
  for (Json& tree : Trees()) {
    for (size_t i = 0; i < tree["left_children"].size(); ++i) {
      if (tree["left_children"][i] == -1) tree["split_conditions"][i] = -0.0;
    }
  }
  fs::path path = Save("negative_zero.json");
  ExpectIdenticalToLibxgboost(path);

  std::vector<float> row(kColumns, 1.0f);
  for (TreeKernel kernel : KernelsOfThisCpu()) {
    SCOPED_TRACE(fmt::format("kernel {}", TreeKernelName(kernel)));
    std::unique_ptr<Predictor> compiled = LoadWithKernel(path, kColumns, kernel);
    ASSERT_NE(compiled, nullptr);
    float out = 1.0f;
    ASSERT_TRUE(compiled->Predict(row.data(), 1, &out));
    EXPECT_EQ(Bits(out), Bits(-0.0f));
  }
}

TEST_F(EditedModelTest, WideRowsMatchLibxgboost) {
  // 20 features are more than one AVX2 or AVX-512 register holds, so the
  // vector kernels gather each value from the row instead of permuting a
  // register. Features 0-12 are new and unused; the trees' features move up.
  constexpr size_t kWide = 20;
  constexpr size_t kShift = kWide - kColumns;
  model_["learner"]["learner_model_param"]["num_feature"] = std::to_string(kWide);
  for (Json& tree : Trees()) {
    tree["tree_param"]["num_feature"] = std::to_string(kWide);
    for (Json& feature : tree["split_indices"]) feature = feature.get<int64_t>() + kShift;
  }
  fs::path path = Save("wide.json");

  std::vector<float> narrow = MakeTestRows(SplitConditions(base_path_), 23);
  std::vector<float> rows;
  rows.reserve(kTestRows * kWide);
  for (size_t r = 0; r < kTestRows; ++r) {
    for (size_t c = 0; c < kShift; ++c) rows.push_back(static_cast<float>(c) - 6.5f);
    rows.insert(rows.end(), &narrow[r * kColumns], &narrow[(r + 1) * kColumns]);
  }
  auto reference = LoadXGBoostPredictor(path, kWide);
  ASSERT_TRUE(reference) << reference.error().message();
  std::vector<float> expected(kTestRows);
  ASSERT_TRUE((*reference)->Predict(rows.data(), kTestRows, expected.data()));

  for (TreeKernel kernel : KernelsOfThisCpu()) {
    SCOPED_TRACE(fmt::format("kernel {}", TreeKernelName(kernel)));
    std::unique_ptr<Predictor> compiled = LoadWithKernel(path, kWide, kernel);
    ASSERT_NE(compiled, nullptr);
    std::vector<float> batch(kTestRows);
    ASSERT_TRUE(compiled->Predict(rows.data(), kTestRows, batch.data()));
    ExpectSameBits(expected, batch, rows, "one batch", kWide);
    std::vector<float> single(kTestRows);
    for (size_t r = 0; r < kTestRows; ++r) {
      ASSERT_TRUE(compiled->Predict(&rows[r * kWide], 1, &single[r]));
    }
    ExpectSameBits(expected, single, rows, "single rows", kWide);
  }
}

TEST_F(EditedModelTest, CategoricalSplitUnsupported) {
  Trees()[0]["split_type"][0] = 1;
  ExpectError("categorical.json", ErrorCode::kFailedPrecondition,
              {"categorical splits", "trees[0]", "libxgboost"});
}

TEST_F(EditedModelTest, VectorLeavesUnsupported) {
  Trees()[1]["tree_param"]["size_leaf_vector"] = "3";
  ExpectError("vector.json", ErrorCode::kFailedPrecondition, {"vector leaves", "trees[1]"});
}

TEST_F(EditedModelTest, UnknownObjectiveUnsupported) {
  model_["learner"]["objective"]["name"] = "survival:cox";
  ExpectError("cox.json", ErrorCode::kFailedPrecondition, {"objective \"survival:cox\""});
}

TEST_F(EditedModelTest, MultiTargetUnsupported) {
  model_["learner"]["learner_model_param"]["num_target"] = "2";
  ExpectError("targets.json", ErrorCode::kFailedPrecondition, {"multi-target", "num_target 2"});
}

TEST_F(EditedModelTest, RightChildNotNextToLeftUnsupported) {
  Json& tree = Trees()[0];
  ASSERT_EQ(tree["left_children"][0], 1);
  tree["right_children"][0] = 3;
  ExpectError("apart.json", ErrorCode::kFailedPrecondition,
              {"node 0 whose right child 3 does not follow its left child 1"});
}

TEST_F(EditedModelTest, MissingLearnerInvalid) {
  model_.erase("learner");
  ExpectError("nolearner.json", ErrorCode::kInvalidArgument, {"learner: missing field"});
}

TEST_F(EditedModelTest, ChildOutOfRangeInvalid) {
  Json& tree = Trees()[2];
  int64_t size = static_cast<int64_t>(tree["left_children"].size());
  tree["left_children"][0] = size + 40;
  tree["right_children"][0] = size + 41;
  ExpectError("child.json", ErrorCode::kInvalidArgument,
              {"trees[2].left_children[0]", fmt::format("child index {} is out of range",
                                                        size + 40)});
}

TEST_F(EditedModelTest, ChildPointingToRootInvalid) {
  Trees()[0]["left_children"][0] = 0;
  ExpectError("root.json", ErrorCode::kInvalidArgument,
              {"trees[0].left_children[0]", "child index 0 is out of range"});
}

TEST_F(EditedModelTest, CycleInvalid) {
  Json& tree = Trees()[0];
  // Node 1 becomes a split whose children are itself and node 2.
  ASSERT_GE(tree["left_children"].size(), 3u);
  tree["left_children"][1] = 1;
  tree["right_children"][1] = 2;
  ExpectError("cycle.json", ErrorCode::kInvalidArgument, {"trees[0]", "reached twice"});
}

TEST_F(EditedModelTest, FeatureOutOfRangeInvalid) {
  Trees()[1]["split_indices"][0] = 7;
  ExpectError("feature.json", ErrorCode::kInvalidArgument,
              {"trees[1].split_indices[0]", "feature index 7 is out of range 0..6"});
}

TEST_F(EditedModelTest, ShortArrayInvalid) {
  Trees()[0]["split_conditions"].erase(0);
  ExpectError("short.json", ErrorCode::kInvalidArgument,
              {"trees[0].split_conditions", "expected", "tree_param.num_nodes"});
}

TEST_F(EditedModelTest, MistypedFieldInvalid) {
  Trees()[0]["default_left"][0] = "yes";
  ExpectError("mistyped.json", ErrorCode::kInvalidArgument,
              {"trees[0].default_left[0]", "expected a number, got string"});
}

TEST_F(EditedModelTest, BadBaseScoreInvalid) {
  model_["learner"]["learner_model_param"]["base_score"] = "half";
  ExpectError("base.json", ErrorCode::kInvalidArgument, {"base_score", "\"half\""});
}

TEST_F(EditedModelTest, LogisticBaseScoreOutOfRangeInvalid) {
  model_["learner"]["learner_model_param"]["base_score"] = "1.5E0";
  ExpectError("base1.json", ErrorCode::kInvalidArgument, {"base_score", "must be in (0, 1)"});
  // libxgboost rejects the model too.
  EXPECT_FALSE(LoadXGBoostPredictor(scratch_.path() / "base1.json", kColumns));
}

TEST_F(EditedModelTest, DuplicateTreeIdInvalid) {
  Trees()[1]["id"] = 0;
  ExpectError("ids.json", ErrorCode::kInvalidArgument, {"trees[1].id", "used twice"});
}

TEST_F(EditedModelTest, TreeInfoLengthInvalid) {
  model_["learner"]["gradient_booster"]["model"]["tree_info"].push_back(0);
  ExpectError("info.json", ErrorCode::kInvalidArgument, {"tree_info", "11 entries for 10 trees"});
}

TEST_F(EditedModelTest, TruncatedFileInvalid) {
  std::string text = ReadText(base_path_);
  for (size_t length : {size_t{0}, size_t{1}, text.size() / 3, text.size() - 1}) {
    fs::path path = scratch_.Write(fmt::format("truncated{}.json", length), text.substr(0, length));
    auto loaded = LoadCompiledTrees(path, kColumns);
    ASSERT_FALSE(loaded) << "length " << length;
    EXPECT_EQ(loaded.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(loaded.error().message(), HasSubstr("invalid JSON at byte"));
    EXPECT_THAT(loaded.error().message(), HasSubstr(path.string()));
  }
}

TEST_F(EditedModelTest, NotAnObjectInvalid) {
  fs::path path = scratch_.Write("array.json", "[1, 2]");
  auto loaded = LoadCompiledTrees(path, kColumns);
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(loaded.error().message(), HasSubstr("document: expected an object, got array"));
}

TEST_F(EditedModelTest, FeatureCountMismatchInvalid) {
  auto loaded = LoadCompiledTrees(base_path_, kColumns + 1);
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(loaded.error().message(),
            fmt::format("model {} expects 7 features, the feature pipeline gives 8",
                        base_path_.string()));
}

TEST_F(EditedModelTest, MissingFileNotFound) {
  auto loaded = LoadCompiledTrees(scratch_.path() / "absent.json", kColumns);
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code(), ErrorCode::kNotFound);
  EXPECT_THAT(loaded.error().message(), HasSubstr("absent.json"));
}

// ---------------------------------------------------------------------------
// Unsupported trained models

TEST(CompiledTreesUnsupportedTest, DartBooster) {
  ScratchDir scratch;
  fs::path model = scratch.path() / "dart.json";
  ASSERT_NO_FATAL_FAILURE(
      Train({"reg:squarederror", 10, Params{{"booster", "dart"}, {"rate_drop", "0.2"}}}, model));
  auto loaded = LoadCompiledTrees(model, kColumns);
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(loaded.error().message(), HasSubstr("booster \"dart\""));
}

TEST(CompiledTreesUnsupportedTest, LinearBooster) {
  ScratchDir scratch;
  fs::path model = scratch.path() / "linear.json";
  ASSERT_NO_FATAL_FAILURE(Train({"reg:squarederror", 5, Params{{"booster", "gblinear"}}}, model));
  auto loaded = LoadCompiledTrees(model, kColumns);
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(loaded.error().message(), HasSubstr("booster \"gblinear\""));
}

TEST(CompiledTreesUnsupportedTest, MultiClass) {
  ScratchDir scratch;
  fs::path model = scratch.path() / "multiclass.json";
  ASSERT_NO_FATAL_FAILURE(Train({"multi:softprob", 5,
                                 Params{{"num_class", "3"}, {"max_depth", "3"}}},
                                model));
  auto loaded = LoadCompiledTrees(model, kColumns);
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(loaded.error().message(), HasSubstr("multi-class model (num_class 3)"));
}

// ---------------------------------------------------------------------------
// Kernel choice

TEST(CompiledTreesKernelTest, VectorKernelRejectsDeepTrees) {
  // Without a depth limit this model grows trees 13 levels deep, more than
  // the 10 that the vector kernels pad trees to. kAuto falls back to kScalar
  // (SquaredErrorLossguide above checks its bits); a forced kernel fails.
  ScratchDir scratch;
  fs::path model = scratch.path() / "deep.json";
  ASSERT_NO_FATAL_FAILURE(Train({"reg:squarederror", 50,
                                 Params{{"tree_method", "hist"}, {"grow_policy", "lossguide"},
                                        {"max_depth", "0"}, {"max_leaves", "40"}}},
                                model));
  for (TreeKernel kernel : {TreeKernel::kAvx2, TreeKernel::kAvx512}) {
    SCOPED_TRACE(fmt::format("kernel {}", TreeKernelName(kernel)));
    auto loaded = LoadCompiledTrees(model, kColumns, {.kernel = kernel});
    ASSERT_FALSE(loaded);
    EXPECT_EQ(loaded.error().code(), ErrorCode::kFailedPrecondition);
    EXPECT_THAT(loaded.error().message(), HasSubstr(model.string()));
    EXPECT_THAT(loaded.error().message(),
                HasSubstr(fmt::format("kernel {} cannot run", TreeKernelName(kernel))));
  }
  auto automatic = LoadCompiledTrees(model, kColumns);
  ASSERT_TRUE(automatic) << automatic.error().message();
}

TEST(CompiledTreesKernelTest, KernelMissingFromCpuRejected) {
  bool avx2 = tree_simd::CpuSupportsAvx2();
  bool avx512 = tree_simd::CpuSupportsAvx512();
  if (avx2 && avx512) GTEST_SKIP() << "this CPU supports every kernel";
  ScratchDir scratch;
  fs::path model = scratch.path() / "model.json";
  ASSERT_NO_FATAL_FAILURE(Train({"reg:squarederror", 10, Params{{"max_depth", "3"}}}, model));
  auto loaded = LoadCompiledTrees(model, kColumns,
                                  {.kernel = avx512 ? TreeKernel::kAvx2 : TreeKernel::kAvx512});
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(loaded.error().message(), HasSubstr("the CPU does not support"));
}

// ---------------------------------------------------------------------------
// Predictor contract

class CompiledTreesContractTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = scratch_.path() / "model.json";
    ASSERT_NO_FATAL_FAILURE(Train({"binary:logistic", 40, Params{{"max_depth", "5"}}}, model_));
  }
  ScratchDir scratch_;
  fs::path model_;
};

TEST_F(CompiledTreesContractTest, ZeroRowsWritesNothing) {
  auto compiled = LoadCompiledTrees(model_, kColumns);
  ASSERT_TRUE(compiled) << compiled.error().message();
  float untouched = 42.0f;
  ASSERT_TRUE((*compiled)->Predict(nullptr, 0, &untouched));
  EXPECT_EQ(untouched, 42.0f);
}

TEST_F(CompiledTreesContractTest, ConcurrentPredictGivesSameBits) {
  std::vector<float> rows = MakeTestRows(SplitConditions(model_), 5);
  auto compiled = LoadCompiledTrees(model_, kColumns);
  ASSERT_TRUE(compiled) << compiled.error().message();
  const Predictor& shared = **compiled;
  std::vector<float> expected(kTestRows);
  ASSERT_TRUE(shared.Predict(rows.data(), kTestRows, expected.data()));

  constexpr int kThreads = 4;
  constexpr int kIterations = 200;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::atomic<int> mismatches{0};
  std::atomic<int> completed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<float> out(kTestRows);
      for (int i = 0; i < kIterations && std::chrono::steady_clock::now() < deadline; ++i) {
        size_t start = static_cast<size_t>((t * 389 + i * 97) % 9000);
        size_t count = 1 + static_cast<size_t>((t + i) % 9) * 110;
        if (!shared.Predict(&rows[start * kColumns], count, out.data()) ||
            std::memcmp(out.data(), &expected[start], count * sizeof(float)) != 0) {
          ++mismatches;
        }
        ++completed;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(completed.load(), kThreads * kIterations);
}

}  // namespace
}  // namespace tandem::model
