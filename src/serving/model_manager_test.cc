#include "serving/model_manager.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "serving/test_package.h"
#include "serving/test_server.h"

namespace tandem::serving {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::ScratchDir;

constexpr std::string_view kModel = "flights-delay";

// Packages built once: v20 and v35 (different tree counts, so different
// predictions) and a package whose self-test fails.
class ModelManagerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    packages_ = new ScratchDir();
    for (auto [name, options] :
         {std::pair{"v20", testing::TestPackageOptions{.rounds = 20}},
          std::pair{"v35", testing::TestPackageOptions{.rounds = 35}},
          std::pair{"bad", testing::TestPackageOptions{.wrong_self_test = true}}}) {
      Status built = testing::BuildTestPackage(packages_->path() / name, options);
      ASSERT_TRUE(built.has_value()) << built.error().message();
    }
  }
  static void TearDownTestSuite() { delete packages_; }

  // Copies package `package` to ROOT/flights-delay/VERSION.
  void Place(std::string_view package, std::string_view version) {
    const fs::path target = root() / kModel / version;
    fs::create_directories(target.parent_path());
    fs::copy(packages_->path() / package, target, fs::copy_options::recursive);
  }
  fs::path root() const { return root_.path() / "models"; }

  ModelManagerOptions Options(ServingMetrics* metrics = nullptr) {
    ModelManagerOptions options;
    options.model_root = root();
    options.poll_interval = std::chrono::hours(1);  // polls only through PollNow
    options.model_options.metrics = metrics;
    return options;
  }
  static ModelSource Named(std::string_view version) {
    Result<ModelSource> source = ParseModelSource(fmt::format("{}:{}", kModel, version));
    EXPECT_TRUE(source.has_value());
    return source.value_or(ModelSource{});
  }
  static std::string PrimaryVersion(const ModelManager& models) {
    Result<std::shared_ptr<const ServedModel>> model = models.Find(kModel);
    return model ? (*model)->version() : "error: " + model.error().message();
  }

  static ScratchDir* packages_;
  ScratchDir root_;
};
ScratchDir* ModelManagerTest::packages_ = nullptr;

TEST_F(ModelManagerTest, LatestLoadsHighestVersionOnly) {
  Place("v20", "1");
  Place("v35", "2");
  ModelManager models({Named("latest")}, Options());
  models.StartLoading();
  ASSERT_TRUE(models.WaitUntilSettled(testing::kLoadTimeout));
  EXPECT_EQ(PrimaryVersion(models), "2");
  Result<std::shared_ptr<const ServedModel>> old = models.Find(kModel, "1");
  ASSERT_FALSE(old.has_value());
  EXPECT_EQ(old.error().code(), ErrorCode::kNotFound);
  EXPECT_THAT(old.error().message(), HasSubstr("no loaded version \"1\"; loaded versions: 2"));
  EXPECT_TRUE(models.CheckReady().has_value());
}

TEST_F(ModelManagerTest, SpecificVersion) {
  Place("v20", "1");
  Place("v35", "2");
  ModelManager models({Named("1")}, Options());
  models.StartLoading();
  ASSERT_TRUE(models.WaitUntilSettled(testing::kLoadTimeout));
  EXPECT_EQ(PrimaryVersion(models), "1");
  EXPECT_THAT(models.Statuses().at(0).versions, ElementsAre("1"));
}

TEST_F(ModelManagerTest, PinnedLoadsEveryListedVersion) {
  Place("v20", "1");
  Place("v35", "2");
  Place("v35", "3");
  ModelManager models({Named("1,2")}, Options());
  models.StartLoading();
  ASSERT_TRUE(models.WaitUntilSettled(testing::kLoadTimeout));
  EXPECT_EQ(PrimaryVersion(models), "2");
  EXPECT_THAT(models.Statuses().at(0).versions, ElementsAre("1", "2"));
  EXPECT_TRUE(models.Find(kModel, "1").has_value());
  EXPECT_EQ(models.Find(kModel, "3").error().code(), ErrorCode::kNotFound);
}

TEST_F(ModelManagerTest, PollSwapsToNewVersion) {
  Place("v20", "1");
  ServingMetrics metrics;
  ModelManager models({Named("latest")}, Options(&metrics));
  models.StartLoading();
  ASSERT_TRUE(models.WaitUntilSettled(testing::kLoadTimeout));
  std::shared_ptr<const ServedModel> first = models.Find(kModel).value();
  EXPECT_EQ(first->version(), "1");

  Place("v35", "2");
  models.PollNow();
  ASSERT_TRUE(models.WaitUntilSettled(testing::kLoadTimeout));
  EXPECT_EQ(PrimaryVersion(models), "2");
  EXPECT_THAT(models.Statuses().at(0).versions, ElementsAre("2"));
  // A request still holding version 1 can finish on it.
  EXPECT_EQ(first->version(), "1");
  EXPECT_TRUE(first->SelfTest().has_value());

  const std::string text = metrics.Serialize();
  EXPECT_EQ(
      testing::MetricValue(text, R"(tandem_model_loads_total{model="flights-delay",result="ok"})"),
      2);
  EXPECT_EQ(
      testing::MetricValue(
          text,
          R"(tandem_model_info{model="flights-delay",predictor="compiled_trees",version="1"})"),
      0);
  EXPECT_EQ(
      testing::MetricValue(
          text,
          R"(tandem_model_info{model="flights-delay",predictor="compiled_trees",version="2"})"),
      1);
}

TEST_F(ModelManagerTest, FailedSelfTestKeepsServingVersion) {
  Place("v20", "1");
  ServingMetrics metrics;
  ModelManager models({Named("latest")}, Options(&metrics));
  models.StartLoading();
  ASSERT_TRUE(models.WaitUntilSettled(testing::kLoadTimeout));

  Place("bad", "2");
  models.PollNow();
  ASSERT_TRUE(models.WaitUntilSettled(testing::kLoadTimeout));
  EXPECT_EQ(PrimaryVersion(models), "1");
  EXPECT_TRUE(models.CheckReady().has_value());
  EXPECT_THAT(models.Statuses().at(0).reason, HasSubstr("self-test case 0"));
  EXPECT_EQ(testing::MetricValue(
                metrics.Serialize(),
                R"(tandem_model_loads_total{model="flights-delay",result="self_test_failed"})"),
            1);

  // The failed version is not retried by the next poll.
  models.PollNow();
  ASSERT_TRUE(models.WaitUntilSettled(testing::kLoadTimeout));
  EXPECT_EQ(testing::MetricValue(
                metrics.Serialize(),
                R"(tandem_model_loads_total{model="flights-delay",result="self_test_failed"})"),
            1);
  std::vector<RepositoryEntry> index = models.Index();
  auto failed = std::find_if(index.begin(), index.end(),
                             [](const RepositoryEntry& entry) { return entry.version == "2"; });
  ASSERT_NE(failed, index.end());
  EXPECT_EQ(failed->state, "UNAVAILABLE");
  EXPECT_THAT(failed->reason, HasSubstr("self-test case 0"));
}

TEST_F(ModelManagerTest, ExtraVersionsStayLoaded) {
  Place("v20", "1");
  Place("v35", "2");
  ModelManagerOptions options = Options();
  options.extra_versions[std::string(kModel)] = {"1"};
  ModelManager models({Named("latest")}, options);
  models.StartLoading();
  ASSERT_TRUE(models.WaitUntilSettled(testing::kLoadTimeout));
  EXPECT_EQ(PrimaryVersion(models), "2");
  EXPECT_THAT(models.Statuses().at(0).versions, ElementsAre("1", "2"));
}

TEST_F(ModelManagerTest, RepositoryLoadByPathSwapsAndUnloads) {
  Place("v20", "1");
  Place("v35", "4");
  fs::create_directories(root() / "staging");
  fs::copy(packages_->path() / "v35", root() / "staging" / "next", fs::copy_options::recursive);
  ModelManager models({Named("1")}, Options());
  models.StartLoading();
  ASSERT_TRUE(models.WaitUntilSettled(testing::kLoadTimeout));

  Result<std::shared_ptr<const ServedModel>> loaded =
      models.Load({.name = std::string(kModel), .path = "staging/next"});
  ASSERT_TRUE(loaded.has_value()) << loaded.error().message();
  // One more than the highest version loaded (1) or on disk (4).
  EXPECT_EQ((*loaded)->version(), "5");
  EXPECT_EQ(PrimaryVersion(models), "5");

  loaded = models.Load({.name = std::string(kModel), .version = "1"});
  ASSERT_TRUE(loaded.has_value()) << loaded.error().message();
  EXPECT_EQ(PrimaryVersion(models), "1");

  Status unload_primary = models.Unload(std::string(kModel), "1");
  ASSERT_FALSE(unload_primary.has_value());
  EXPECT_EQ(unload_primary.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(unload_primary.error().message(), HasSubstr("primary version"));

  ASSERT_TRUE(models.Unload(std::string(kModel), "").has_value());
  EXPECT_EQ(models.Find(kModel).error().code(), ErrorCode::kNotFound);
  EXPECT_THAT(models.CheckReady().error().message(), HasSubstr("no model is configured"));
  EXPECT_EQ(models.Unload(std::string(kModel), "").error().code(), ErrorCode::kNotFound);
}

TEST_F(ModelManagerTest, RepositoryLoadRejectsBadArguments) {
  Place("v20", "1");
  ModelManager models({Named("1")}, Options());
  models.StartLoading();
  ASSERT_TRUE(models.WaitUntilSettled(testing::kLoadTimeout));
  const std::string name(kModel);

  struct Case {
    LoadRequest request;
    ErrorCode code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{.name = name, .path = "../outside"}, ErrorCode::kInvalidArgument, "inside --model-root"},
      {{.name = name, .path = "/etc"}, ErrorCode::kInvalidArgument, "relative path"},
      {{.name = name, .path = "absent"}, ErrorCode::kNotFound, "is not a directory"},
      {{.name = name, .version = "v2"}, ErrorCode::kInvalidArgument, "parameters.version \"v2\""},
      {{.name = name, .version = "9"}, ErrorCode::kNotFound, "version 9"},
      {{.name = "bad_name"}, ErrorCode::kInvalidArgument, "model name \"bad_name\""},
      {{.name = "other-model", .path = "flights-delay/1"},
       ErrorCode::kInvalidArgument,
       "holds model \"flights-delay\", not \"other-model\""},
  };
  for (const Case& test : cases) {
    Result<std::shared_ptr<const ServedModel>> loaded = models.Load(test.request);
    ASSERT_FALSE(loaded.has_value()) << test.message;
    EXPECT_EQ(loaded.error().code(), test.code) << loaded.error().message();
    EXPECT_THAT(loaded.error().message(), HasSubstr(test.message));
  }
  EXPECT_EQ(PrimaryVersion(models), "1");
  EXPECT_EQ(models.Statuses().size(), 1u);  // failed loads of new models add no slot
}

TEST_F(ModelManagerTest, PathLoadNeedsModelRoot) {
  Place("v20", "1");
  ModelManager models({ModelSource{.dir = root() / kModel / "1"}}, {});
  models.StartLoading();
  ASSERT_TRUE(models.WaitUntilSettled(testing::kLoadTimeout));
  Result<std::shared_ptr<const ServedModel>> loaded =
      models.Load({.name = std::string(kModel), .path = "x"});
  ASSERT_FALSE(loaded.has_value());
  EXPECT_EQ(loaded.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(loaded.error().message(), HasSubstr("--model-root"));
}

TEST_F(ModelManagerTest, IndexListsLoadedAndUnloadedVersions) {
  Place("v20", "1");
  Place("v35", "2");
  ModelManager models({Named("1")}, Options());
  models.StartLoading();
  ASSERT_TRUE(models.WaitUntilSettled(testing::kLoadTimeout));
  std::vector<RepositoryEntry> index = models.Index();
  ASSERT_EQ(index.size(), 2u);
  EXPECT_EQ(index[0].name, kModel);
  EXPECT_EQ(index[0].version, "1");
  EXPECT_EQ(index[0].state, "READY");
  EXPECT_EQ(index[1].version, "2");
  EXPECT_EQ(index[1].state, "UNAVAILABLE");
  EXPECT_EQ(index[1].reason, "not loaded");
}

TEST_F(ModelManagerTest, NamedModelWithoutRootOrRegistryFails) {
  ModelManager models({Named("latest")}, {});
  models.StartLoading();
  ASSERT_TRUE(models.WaitUntilSettled(testing::kLoadTimeout));
  Status ready = models.CheckReady();
  ASSERT_FALSE(ready.has_value());
  EXPECT_EQ(ready.error().code(), ErrorCode::kUnavailable);
  EXPECT_THAT(ready.error().message(), HasSubstr("no --registry URL"));
}

TEST(ModelSourceTest, ParsesVersionPolicies) {
  Result<ModelSource> latest = ParseModelSource("flights-delay:latest");
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->policy, VersionPolicy::kLatest);
  Result<ModelSource> specific = ParseModelSource("flights-delay:3");
  ASSERT_TRUE(specific.has_value());
  EXPECT_EQ(specific->policy, VersionPolicy::kSpecific);
  EXPECT_THAT(specific->versions, ElementsAre("3"));
  Result<ModelSource> pinned = ParseModelSource("flights-delay:1,3");
  ASSERT_TRUE(pinned.has_value());
  EXPECT_EQ(pinned->policy, VersionPolicy::kPinned);
  EXPECT_THAT(pinned->versions, ElementsAre("1", "3"));

  Result<ModelSource> twice = ParseModelSource("flights-delay:3,3");
  ASSERT_FALSE(twice.has_value());
  EXPECT_EQ(twice.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(twice.error().message(), HasSubstr("version 3 is listed twice"));
  Result<ModelSource> empty_item = ParseModelSource("flights-delay:1,");
  ASSERT_FALSE(empty_item.has_value());
  EXPECT_THAT(empty_item.error().message(), HasSubstr("version \"1,\""));
}

TEST(VersionOrderTest, NumbersCompareNumerically) {
  EXPECT_TRUE(VersionLess("2", "10"));
  EXPECT_FALSE(VersionLess("10", "2"));
  EXPECT_TRUE(VersionLess("1", "2"));
}

}  // namespace
}  // namespace tandem::serving
