#include "runtime/trainer.h"

#include <signal.h>

#include <gtest/gtest.h>

#include <thread>

#include "common/crypto.h"
#include "common/json_util.h"
#include "common/process.h"
#include "runtime/runtime_test_util.h"

namespace tandem::runtime {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using testing::EntryPointSpec;
using testing::ReadText;
using testing::RecordingReporter;
using testing::TempDir;
using testing::WaitForFile;
using testing::WriteText;

class TrainerTest : public ::testing::Test {
 protected:
  TrainerOptions Options() {
    TrainerOptions options;
    options.root = JobRoot{dir_.path() / "root"};
    options.job_id = "job-1";
    options.stop_grace = std::chrono::seconds(30);
    options.base_environment = {{"PATH", "/usr/bin:/bin"}};
    options.tandem_environment = {{"TANDEM_JOB_ID", "job-1"}};
    return options;
  }

  int Run(const jobs::JobSpec& spec, const TrainerOptions& options) {
    return RunTrainingJob(spec, options, reporter_, stop_);
  }

  RuntimeEvent LastEvent() {
    auto events = reporter_.events();
    EXPECT_FALSE(events.empty());
    return events.empty() ? RuntimeEvent{} : events.back();
  }

  TempDir dir_;
  RecordingReporter reporter_;
  StopController stop_;
};

TEST_F(TrainerTest, EntryPointCompletes) {
  jobs::JobSpec spec = EntryPointSpec(dir_.path(), "succeed");
  TrainerOptions options = Options();
  std::vector<fs::path> uploaded;
  options.upload = [&](const fs::path& archive) -> Result<Json> {
    uploaded.push_back(archive);
    return Json{{"Digest", "sha256:" + *Sha256FileHex(archive)}, {"SizeBytes", fs::file_size(archive)}};
  };
  ASSERT_EQ(Run(spec, options), kExitCompleted);

  EXPECT_EQ(reporter_.StatusTrail(),
            (std::vector<std::string>{"InProgress/Downloading", "InProgress/Training",
                                      "InProgress/Uploading", "Completed/Completed"}));
  const JobRoot& root = options.root;
  EXPECT_EQ(ReadText(root.model_dir() / "copy.csv"), "delay,distance\n1,100\n");
  EXPECT_FALSE(fs::exists(root.failure_file()));

  // The entry point ran with the SM_* environment and nothing of the test's own.
  std::string env = ReadText(root.output_data_dir() / "env.txt");
  EXPECT_NE(env.find("SM_CHANNEL_TRAIN=" + root.channel_dir("train").string() + "\n"), std::string::npos);
  EXPECT_NE(env.find("SM_HP_NUM_ROUND=5\n"), std::string::npos);
  EXPECT_NE(env.find("TRAINING_JOB_NAME=test-job\n"), std::string::npos);
  EXPECT_NE(env.find("TANDEM_JOB_ID=job-1\n"), std::string::npos);
  EXPECT_EQ(env.find("GTEST"), std::string::npos);

  // A minimal manifest was added and the package reported.
  auto manifest = ParseJson(ReadText(root.model_dir() / "manifest.json"), "manifest");
  ASSERT_TRUE(manifest);
  EXPECT_EQ((*manifest)["Framework"], "custom");
  EXPECT_EQ((*manifest)["ModelName"], "test-model");
  EXPECT_EQ((*manifest)["Lineage"]["JobId"], "job-1");
  EXPECT_FALSE(manifest->contains("FeaturePipeline"));
  ASSERT_EQ(uploaded.size(), 1u);
  Json package = LastEvent().details["ModelPackage"];
  EXPECT_EQ(package["Digest"], "sha256:" + *Sha256FileHex(uploaded[0]));
  EXPECT_EQ(package["SizeBytes"], fs::file_size(uploaded[0]));
  EXPECT_EQ(package["Manifest"], *manifest);
}

TEST_F(TrainerTest, XgboostModelFromUserCodeGetsXgboostManifest) {
  ASSERT_EQ(Run(EntryPointSpec(dir_.path(), "write-xgboost-model"), Options()), kExitCompleted);
  auto manifest = ParseJson(ReadText(Options().root.model_dir() / "manifest.json"), "manifest");
  ASSERT_TRUE(manifest);
  EXPECT_EQ((*manifest)["Framework"], "xgboost");
  EXPECT_EQ((*manifest)["ModelFile"], "model.json");
}

TEST_F(TrainerTest, UploadFailureFailsJob) {
  TrainerOptions options = Options();
  options.upload = [](const fs::path&) -> Result<Json> {
    return Unavailable("control plane unreachable");
  };
  ASSERT_EQ(Run(EntryPointSpec(dir_.path(), "succeed"), options), kExitFailed);
  EXPECT_EQ(LastEvent().secondary_status, "Failed");
  EXPECT_EQ(LastEvent().message, "upload model package: control plane unreachable");
}

TEST_F(TrainerTest, UserFailureFileIsReasonTruncated) {
  jobs::JobSpec spec = EntryPointSpec(dir_.path(), "write-failure");
  spec.environment["FAILURE_BYTES"] = "2000";
  ASSERT_EQ(Run(spec, Options()), kExitFailed);
  RuntimeEvent last = LastEvent();
  EXPECT_EQ(last.status, "Failed");
  EXPECT_EQ(last.secondary_status, "Failed");
  EXPECT_EQ(last.message, std::string(1024, 'x'));
  // The user's file is left as written.
  EXPECT_EQ(fs::file_size(Options().root.failure_file()), 2000u);
}

TEST_F(TrainerTest, ExitCodeIsReasonWithoutFailureFile) {
  ASSERT_EQ(Run(EntryPointSpec(dir_.path(), "exit-2"), Options()), kExitFailed);
  EXPECT_EQ(LastEvent().message, "entry point exited with code 2");
  EXPECT_EQ(ReadText(Options().root.failure_file()), "entry point exited with code 2\n");
  EXPECT_EQ(reporter_.StatusTrail(),
            (std::vector<std::string>{"InProgress/Downloading", "InProgress/Training", "Failed/Failed"}));
}

TEST_F(TrainerTest, SigkillIsReason) {
  ASSERT_EQ(Run(EntryPointSpec(dir_.path(), "sigkill"), Options()), kExitFailed);
  EXPECT_EQ(LastEvent().message, "entry point was killed by signal 9");
}

TEST_F(TrainerTest, MissingProgramIsReason) {
  jobs::JobSpec spec = EntryPointSpec(dir_.path(), "succeed");
  spec.algorithm.entry_point = {"no-such-trainer"};
  ASSERT_EQ(Run(spec, Options()), kExitFailed);
  EXPECT_EQ(LastEvent().message, "cannot start no-such-trainer: not found in PATH=/usr/bin:/bin");
}

TEST_F(TrainerTest, MissingChannelPathFailsBeforeTraining) {
  jobs::JobSpec spec = EntryPointSpec(dir_.path(), "succeed");
  spec.input_channels[0].path = (dir_.path() / "absent").string();
  ASSERT_EQ(Run(spec, Options()), kExitFailed);
  EXPECT_EQ(reporter_.StatusTrail(),
            (std::vector<std::string>{"InProgress/Downloading", "Failed/Failed"}));
  EXPECT_EQ(LastEvent().message,
            "channel train: input path " + (dir_.path() / "absent").string() + " does not exist");
}

TEST_F(TrainerTest, StopForwardsSigterm) {
  jobs::JobSpec spec = EntryPointSpec(dir_.path(), "exit-on-term");
  TrainerOptions options = Options();
  int exit_code = -1;
  std::thread runner([&] { exit_code = Run(spec, options); });
  bool started = WaitForFile(options.root.output_data_dir() / "started");
  stop_.RequestStop();
  runner.join();
  ASSERT_TRUE(started);
  EXPECT_EQ(exit_code, kExitStopped);
  EXPECT_EQ(ReadText(options.root.output_data_dir() / "term"), "term\n");
  EXPECT_EQ(reporter_.StatusTrail().back(), "Stopped/Stopped");
}

TEST_F(TrainerTest, StopKillsAfterGrace) {
  jobs::JobSpec spec = EntryPointSpec(dir_.path(), "ignore-term");
  TrainerOptions options = Options();
  options.stop_grace = milliseconds(100);
  int exit_code = -1;
  std::thread runner([&] { exit_code = Run(spec, options); });
  bool started = WaitForFile(options.root.output_data_dir() / "started");
  stop_.RequestStop();
  runner.join();
  ASSERT_TRUE(started);
  EXPECT_EQ(exit_code, kExitStopped);
  pid_t pid = std::stoi(ReadText(options.root.output_data_dir() / "started"));
  EXPECT_FALSE(ProcessStartTime(pid).has_value());
  EXPECT_EQ(reporter_.StatusTrail().back(), "Stopped/Stopped");
}

TEST_F(TrainerTest, MaxRuntimeExceededFails) {
  jobs::JobSpec spec = EntryPointSpec(dir_.path(), "exit-on-term");
  spec.max_runtime_s = 7;
  TrainerOptions options = Options();
  int exit_code = -1;
  std::thread runner([&] { exit_code = Run(spec, options); });
  bool started = WaitForFile(options.root.output_data_dir() / "started");
  // The deadline passes now, as if the 7 s had run out.
  stop_.SetDeadline(std::chrono::steady_clock::now());
  runner.join();
  ASSERT_TRUE(started);
  EXPECT_EQ(exit_code, kExitFailed);
  RuntimeEvent last = LastEvent();
  EXPECT_EQ(last.status, "Failed");
  EXPECT_EQ(last.secondary_status, "MaxRuntimeExceeded");
  EXPECT_EQ(last.message, "MaxRuntimeInSeconds of 7 s exceeded");
  EXPECT_EQ(ReadText(options.root.output_data_dir() / "term"), "term\n");
}

TEST_F(TrainerTest, UnknownAlgorithmFails) {
  jobs::JobSpec spec = EntryPointSpec(dir_.path(), "succeed");
  spec.algorithm = jobs::AlgorithmSpecification{.algorithm_name = "no-such-algorithm"};
  ASSERT_EQ(Run(spec, Options()), kExitFailed);
  EXPECT_EQ(LastEvent().secondary_status, "Failed");
  EXPECT_NE(LastEvent().message.find("no-such-algorithm"), std::string::npos);
  EXPECT_NE(LastEvent().message.find("xgboost"), std::string::npos);
}

TEST_F(TrainerTest, BuiltInXgboostCompletesWithProgress) {
  std::string csv = "delay,distance,origin\n";
  for (int i = 0; i < 200; ++i) {
    csv += std::to_string(i % 7) + "," + std::to_string(100 + i * 3) + "," + (i % 2 ? "SFO" : "JFK") + "\n";
  }
  WriteText(dir_.path() / "data" / "train.csv", csv);
  jobs::JobSpec spec;
  spec.training_job_name = "xgb-job";
  spec.repository = "tests";
  spec.algorithm.algorithm_name = "xgboost";
  spec.feature_pipeline = Json::parse(R"({"Label": "delay", "Features": [
      {"Field": "distance", "Kind": "numeric"}, {"Field": "origin", "Kind": "categorical"}]})");
  spec.hyperparameters = {{"num_round", "5"}, {"max_depth", "3"}};
  spec.input_channels = {jobs::InputChannel{.name = "train", .path = (dir_.path() / "data").string()}};
  spec.model_name = "xgb-model";
  TrainerOptions options = Options();
  // An interval of 0 lets every progress report through.
  options.progress_interval = milliseconds(0);
  ASSERT_EQ(Run(spec, options), kExitCompleted) << LastEvent().message;

  EXPECT_EQ(reporter_.StatusTrail().back(), "Completed/Completed");
  int progress_events = 0;
  for (const RuntimeEvent& event : reporter_.events()) {
    if (!event.status.empty()) continue;
    ++progress_events;
    EXPECT_TRUE(event.details.contains("RowsRead"));
    EXPECT_TRUE(event.details.contains("Round"));
    EXPECT_TRUE(event.details.contains("TotalRounds"));
  }
  EXPECT_GT(progress_events, 0);
  Json package = LastEvent().details["ModelPackage"];
  EXPECT_EQ(package["Manifest"]["Framework"], "xgboost");
  EXPECT_TRUE(fs::exists(options.root.model_dir() / "model.json"));
}

TEST(ProgressThrottleTest, OnePerIntervalPlusPhaseChanges) {
  FakeClock clock(1000);
  ProgressThrottle throttle(clock, milliseconds(500));
  EXPECT_TRUE(throttle.ShouldSend("reading"));
  EXPECT_FALSE(throttle.ShouldSend("reading"));
  clock.Advance(499);
  EXPECT_FALSE(throttle.ShouldSend("reading"));
  EXPECT_TRUE(throttle.ShouldSend("training"));  // a phase change passes at once
  EXPECT_FALSE(throttle.ShouldSend("training"));
  clock.Advance(500);
  EXPECT_TRUE(throttle.ShouldSend("training"));

  // A burst of 1000 reports within one interval yields one.
  clock.Advance(500);
  int sent = 0;
  for (int i = 0; i < 1000; ++i) sent += throttle.ShouldSend("training") ? 1 : 0;
  EXPECT_EQ(sent, 1);
}

}  // namespace
}  // namespace tandem::runtime
