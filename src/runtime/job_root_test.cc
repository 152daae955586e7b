#include "runtime/job_root.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include "common/json_util.h"
#include "runtime/runtime_test_util.h"

namespace tandem::runtime {
namespace {

namespace fs = std::filesystem;
using testing::ReadText;
using testing::TempDir;
using testing::WriteText;

class JobRootTest : public ::testing::Test {
 protected:
  jobs::JobSpec Spec() {
    jobs::JobSpec spec;
    spec.training_job_name = "flights-1";
    spec.repository = "flights";
    spec.algorithm.algorithm_name = "xgboost";
    spec.feature_pipeline = {{"Label", "delay"}};
    spec.hyperparameters = {{"num_round", "10"}};
    spec.input_channels = {
        jobs::InputChannel{.name = "train", .path = (dir_.path() / "src" / "train").string()},
        jobs::InputChannel{.name = "validation", .content_type = "application/json",
                           .path = (dir_.path() / "src" / "validation.csv").string()},
    };
    spec.model_name = "flights-delay";
    return spec;
  }

  Json ReadJson(const fs::path& path) {
    auto parsed = ParseJson(ReadText(path), path.string());
    EXPECT_TRUE(parsed) << path;
    return parsed ? *parsed : Json();
  }

  TempDir dir_;
  JobRoot root_{dir_.path() / "root"};
};

TEST_F(JobRootTest, LayoutHasSageMakerFiles) {
  ASSERT_TRUE(LayOutJobRoot(root_, Spec(), "job-42"));
  for (const char* sub : {"input/config", "input/data", "model", "output/data", "checkpoints"}) {
    EXPECT_TRUE(fs::is_directory(root_.root / sub)) << sub;
  }
  EXPECT_EQ(ReadJson(root_.config_dir() / "hyperparameters.json"), Json({{"num_round", "10"}}));
  EXPECT_EQ(ReadJson(root_.config_dir() / "inputdataconfig.json"),
            Json::parse(R"({
              "train": {"ContentType": "text/csv", "TrainingInputMode": "File",
                        "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"},
              "validation": {"ContentType": "application/json", "TrainingInputMode": "File",
                             "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"}})"));
  Json resources = ReadJson(root_.config_dir() / "resourceconfig.json");
  EXPECT_EQ(resources["current_host"], "algo-1");
  EXPECT_EQ(resources["hosts"], Json::array({"algo-1"}));
  EXPECT_EQ(ReadJson(root_.config_dir() / "tandem-job.json"),
            Json::parse(R"({"JobId": "job-42", "TrainingJobName": "flights-1",
                            "Repository": "flights", "ModelName": "flights-delay",
                            "FeaturePipeline": {"Label": "delay"}})"));
}

TEST_F(JobRootTest, LayoutRemovesOldFailureFile) {
  WriteText(root_.failure_file(), "old failure");
  WriteText(root_.model_dir() / "keep.txt", "kept");
  ASSERT_TRUE(LayOutJobRoot(root_, Spec(), ""));
  EXPECT_FALSE(fs::exists(root_.failure_file()));
  EXPECT_EQ(ReadText(root_.model_dir() / "keep.txt"), "kept");
}

TEST_F(JobRootTest, FetchLinksDirectoryAndFile) {
  WriteText(dir_.path() / "src" / "train" / "a.csv", "a\n");
  WriteText(dir_.path() / "src" / "train" / "part" / "b.csv", "b\n");
  WriteText(dir_.path() / "src" / "validation.csv", "v\n");
  ASSERT_TRUE(LayOutJobRoot(root_, Spec(), ""));
  WriteText(root_.channel_dir("train") / "stale.csv", "from an earlier run");

  Status fetched = FetchChannels(root_, Spec(), FetchOptions{});
  ASSERT_TRUE(fetched) << fetched.error().message();
  EXPECT_EQ(ReadText(root_.channel_dir("train") / "a.csv"), "a\n");
  EXPECT_EQ(ReadText(root_.channel_dir("train") / "part" / "b.csv"), "b\n");
  EXPECT_EQ(ReadText(root_.channel_dir("validation") / "validation.csv"), "v\n");
  EXPECT_FALSE(fs::exists(root_.channel_dir("train") / "stale.csv"));

  // Same file system here, so the files are hard links, not copies.
  struct stat source {};
  struct stat linked {};
  ASSERT_EQ(::stat((dir_.path() / "src" / "train" / "a.csv").c_str(), &source), 0);
  ASSERT_EQ(::stat((root_.channel_dir("train") / "a.csv").c_str(), &linked), 0);
  EXPECT_EQ(source.st_ino, linked.st_ino);
}

TEST_F(JobRootTest, MissingChannelPathIsNotFound) {
  WriteText(dir_.path() / "src" / "train" / "a.csv", "a\n");
  ASSERT_TRUE(LayOutJobRoot(root_, Spec(), ""));
  Status fetched = FetchChannels(root_, Spec(), FetchOptions{});
  ASSERT_FALSE(fetched);
  EXPECT_EQ(fetched.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(fetched.error().message(),
            "channel validation: input path " + (dir_.path() / "src" / "validation.csv").string() +
                " does not exist");
}

TEST_F(JobRootTest, StagedChannelUsedWhenAccepted) {
  WriteText(dir_.path() / "src" / "train" / "a.csv", "a\n");
  ASSERT_TRUE(LayOutJobRoot(root_, Spec(), ""));
  WriteText(root_.channel_dir("validation") / "staged.csv", "staged\n");
  ASSERT_TRUE(FetchChannels(root_, Spec(), FetchOptions{.accept_staged_channels = true}));
  EXPECT_EQ(ReadText(root_.channel_dir("validation") / "staged.csv"), "staged\n");
  // Without the option the same state is an error.
  EXPECT_FALSE(FetchChannels(root_, Spec(), FetchOptions{}));
}

}  // namespace
}  // namespace tandem::runtime
