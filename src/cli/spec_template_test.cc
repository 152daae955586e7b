#include "cli/spec_template.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <fstream>
#include <map>

#include "common/crypto.h"
#include "common/file_util.h"

namespace tandem::cli {
namespace {

using ::testing::HasSubstr;

VariableLookup MapLookup(std::map<std::string, std::string> values) {
  return [values = std::move(values)](std::string_view name) -> std::optional<std::string> {
    auto it = values.find(std::string(name));
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

TEST(ExpandVariablesTest, ReplacesInNestedStrings) {
  Json spec = {{"TrainingJobName", "flights-${RUN}"},
               {"InputDataConfig",
                {{{"DataSource", {{"FileDataSource", {{"Path", "${ROOT}/train"}}}}}}}},
               {"AlgorithmSpecification", {{"EntryPoint", {"python3", "${SCRIPT}"}}}},
               {"ResourceConfig", {{"CpuCount", 2}}}};
  auto lookup = MapLookup({{"RUN", "7"}, {"ROOT", "/data"}, {"SCRIPT", "train.py"}});
  ASSERT_TRUE(ExpandVariables(spec, lookup));
  EXPECT_EQ(spec["TrainingJobName"], "flights-7");
  EXPECT_EQ(spec["InputDataConfig"][0]["DataSource"]["FileDataSource"]["Path"], "/data/train");
  EXPECT_EQ(spec["AlgorithmSpecification"]["EntryPoint"][1], "train.py");
  EXPECT_EQ(spec["ResourceConfig"]["CpuCount"], 2);
}

TEST(ExpandVariablesTest, KeepsDollarsThatAreNotReferences) {
  Json spec = {{"A", "cost $5 and $$HOME and ${X}${X}"}};
  ASSERT_TRUE(ExpandVariables(spec, MapLookup({{"X", "ab"}})));
  EXPECT_EQ(spec["A"], "cost $5 and $HOME and abab");
}

TEST(ExpandVariablesTest, LeavesKeysAlone) {
  Json spec = {{"Environment", {{"${KEY}", "v"}}}};
  ASSERT_TRUE(ExpandVariables(spec, MapLookup({{"KEY", "k"}})));
  EXPECT_TRUE(spec["Environment"].contains("${KEY}"));
}

TEST(ExpandVariablesTest, UndefinedVariableNamesItAndField) {
  Json spec = {{"InputDataConfig",
                {{{"DataSource", {{"FileDataSource", {{"Path", "${DATA_ROOT}/train"}}}}}}}}};
  Status status = ExpandVariables(spec, MapLookup({}));
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(status.error().message(), HasSubstr("DATA_ROOT"));
  EXPECT_THAT(status.error().message(),
              HasSubstr("InputDataConfig[0].DataSource.FileDataSource.Path"));
}

TEST(ExpandVariablesTest, UnclosedReferenceIsError) {
  Json spec = {{"TrainingJobName", "run-${RUN"}};
  Status status = ExpandVariables(spec, MapLookup({{"RUN", "1"}}));
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(status.error().message(), HasSubstr("TrainingJobName"));
  EXPECT_THAT(status.error().message(), HasSubstr("closing"));
}

TEST(ExpandVariablesTest, InvalidNameIsError) {
  for (const char* text : {"${}", "${1A}", "${A-B}"}) {
    Json spec = {{"HyperParameters", {{"eta", text}}}};
    Status status = ExpandVariables(spec, MapLookup({}));
    ASSERT_FALSE(status) << text;
    EXPECT_EQ(status.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(status.error().message(), HasSubstr("HyperParameters.eta"));
    EXPECT_THAT(status.error().message(), HasSubstr("not a valid variable name"));
  }
}

TEST(ResolveRelativePathsTest, PrefixesSpecDirectory) {
  Json spec = {
      {"InputDataConfig",
       {{{"DataSource", {{"FileDataSource", {{"Path", "data/../data/train"}}}}}},
        {{"DataSource", {{"FileDataSource", {{"Path", "/abs/validation"}}}}}}}},
      {"AlgorithmSpecification", {{"SourceDir", "./src"}}}};
  ResolveRelativePaths(spec, "/home/me/project");
  EXPECT_EQ(spec["InputDataConfig"][0]["DataSource"]["FileDataSource"]["Path"],
            "/home/me/project/data/train");
  EXPECT_EQ(spec["InputDataConfig"][1]["DataSource"]["FileDataSource"]["Path"],
            "/abs/validation");
  EXPECT_EQ(spec["AlgorithmSpecification"]["SourceDir"], "/home/me/project/src");
}

TEST(ResolveRelativePathsTest, IgnoresMissingAndMistypedFields) {
  Json spec = {{"InputDataConfig", {{{"DataSource", 3}}, {{"ChannelName", "x"}}}},
               {"AlgorithmSpecification", {{"SourceDir", 5}}}};
  Json before = spec;
  ResolveRelativePaths(spec, "/base");
  EXPECT_EQ(spec, before);
}

class LoadJobSpecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("tandem-cli-test-" + RandomHex(6));
    ASSERT_TRUE(CreateDirectories(dir_));
  }
  void TearDown() override {
    std::error_code error;
    std::filesystem::remove_all(dir_, error);
  }
  std::filesystem::path Write(std::string_view text) {
    std::filesystem::path path = dir_ / "spec.json";
    EXPECT_TRUE(WriteFileAtomic(path, text));
    return path;
  }
  std::filesystem::path dir_;
};

TEST_F(LoadJobSpecTest, ExpandsResolvesAndRenames) {
  auto path = Write(R"({"TrainingJobName": "a",
    "InputDataConfig": [{"DataSource": {"FileDataSource": {"Path": "${SUB}/train"}}}]})");
  auto spec = LoadJobSpec(path, "b", MapLookup({{"SUB", "inputs"}}));
  ASSERT_TRUE(spec) << spec.error().message();
  EXPECT_EQ((*spec)["TrainingJobName"], "b");
  EXPECT_EQ((*spec)["InputDataConfig"][0]["DataSource"]["FileDataSource"]["Path"],
            (dir_ / "inputs" / "train").string());
}

TEST_F(LoadJobSpecTest, InvalidJsonNamesFileAndByte) {
  auto path = Write("{\"TrainingJobName\": }");
  auto spec = LoadJobSpec(path, "", MapLookup({}));
  ASSERT_FALSE(spec);
  EXPECT_EQ(spec.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(spec.error().message(), HasSubstr(path.string()));
  EXPECT_THAT(spec.error().message(), HasSubstr("byte"));
}

TEST_F(LoadJobSpecTest, UndefinedVariableNamesFile) {
  auto path = Write(R"({"TrainingJobName": "${NOPE}"})");
  auto spec = LoadJobSpec(path, "", MapLookup({}));
  ASSERT_FALSE(spec);
  EXPECT_THAT(spec.error().message(), HasSubstr(path.string()));
  EXPECT_THAT(spec.error().message(), HasSubstr("NOPE"));
}

TEST_F(LoadJobSpecTest, NonObjectIsError) {
  auto spec = LoadJobSpec(Write("[1, 2]"), "", MapLookup({}));
  ASSERT_FALSE(spec);
  EXPECT_THAT(spec.error().message(), HasSubstr("expected a JSON object"));
}

TEST_F(LoadJobSpecTest, MissingFileIsNotFound) {
  auto spec = LoadJobSpec(dir_ / "absent.json", "", MapLookup({}));
  ASSERT_FALSE(spec);
  EXPECT_EQ(spec.error().code(), ErrorCode::kNotFound);
}

}  // namespace
}  // namespace tandem::cli
