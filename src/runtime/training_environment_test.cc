#include "runtime/training_environment.h"

#include <gtest/gtest.h>

#include "common/json_util.h"

namespace tandem::runtime {
namespace {

jobs::JobSpec TwoChannelSpec() {
  jobs::JobSpec spec;
  spec.training_job_name = "flights-1";
  spec.repository = "flights";
  spec.algorithm.entry_point = {"python3", "train.py"};
  spec.algorithm.source_dir = "/src";
  spec.hyperparameters = {{"num_round", "200"}, {"eta", "0.1"}, {"objective", "reg:squarederror"},
                          {"max-depth", "8"}};
  spec.input_channels = {
      jobs::InputChannel{.name = "train", .path = "/data/train"},
      jobs::InputChannel{.name = "validation.v2", .content_type = "application/json",
                         .path = "/data/validation"},
  };
  spec.model_name = "flights-delay";
  spec.environment = {{"LOG_LEVEL", "debug"}, {"PATH", "/opt/bin"}};
  return spec;
}

TrainingEnvironmentInputs Inputs() {
  return TrainingEnvironmentInputs{
      .root = JobRoot{"/opt/ml"},
      .num_cpus = 4,
      .base = {{"PATH", "/usr/bin:/bin"}, {"HOME", "/home/u"}},
      .tandem = {{"TANDEM_JOB_ID", "job-1"}, {"TANDEM_JOB_ROOT", "/opt/ml"}},
  };
}

TEST(TrainingEnvironmentTest, ExactVariables) {
  std::map<std::string, std::string> env = BuildTrainingEnvironment(TwoChannelSpec(), Inputs());
  std::map<std::string, std::string> expected = {
      {"HOME", "/home/u"},
      {"PATH", "/opt/bin"},
      {"LOG_LEVEL", "debug"},
      {"SM_MODEL_DIR", "/opt/ml/model"},
      {"SM_INPUT_DIR", "/opt/ml/input"},
      {"SM_INPUT_CONFIG_DIR", "/opt/ml/input/config"},
      {"SM_OUTPUT_DIR", "/opt/ml/output"},
      {"SM_OUTPUT_DATA_DIR", "/opt/ml/output/data"},
      {"SM_CHANNELS", R"(["train","validation.v2"])"},
      {"SM_CHANNEL_TRAIN", "/opt/ml/input/data/train"},
      {"SM_CHANNEL_VALIDATION_V2", "/opt/ml/input/data/validation.v2"},
      {"SM_HPS", R"({"eta":0.1,"max-depth":8,"num_round":200,"objective":"reg:squarederror"})"},
      {"SM_HP_ETA", "0.1"},
      {"SM_HP_MAX_DEPTH", "8"},
      {"SM_HP_NUM_ROUND", "200"},
      {"SM_HP_OBJECTIVE", "reg:squarederror"},
      {"SM_NUM_CPUS", "4"},
      {"SM_NUM_GPUS", "0"},
      {"SM_CURRENT_HOST", "algo-1"},
      {"SM_HOSTS", R"(["algo-1"])"},
      {"SM_INPUT_DATA_CONFIG",
       R"({"train":{"ContentType":"text/csv","TrainingInputMode":"File"},)"
       R"("validation.v2":{"ContentType":"application/json","TrainingInputMode":"File"}})"},
      {"SM_RESOURCE_CONFIG", R"({"current_host":"algo-1","hosts":["algo-1"]})"},
      {"TRAINING_JOB_NAME", "flights-1"},
      {"TANDEM_JOB_ID", "job-1"},
      {"TANDEM_JOB_ROOT", "/opt/ml"},
  };
  std::string training_env = env["SM_TRAINING_ENV"];
  env.erase("SM_TRAINING_ENV");
  EXPECT_EQ(env, expected);

  auto parsed = ParseJson(training_env, "SM_TRAINING_ENV");
  ASSERT_TRUE(parsed);
  EXPECT_EQ((*parsed)["job_name"], "flights-1");
  EXPECT_EQ((*parsed)["model_dir"], "/opt/ml/model");
  EXPECT_EQ((*parsed)["channel_input_dirs"]["validation.v2"], "/opt/ml/input/data/validation.v2");
  EXPECT_EQ((*parsed)["hyperparameters"]["num_round"], 200);
  EXPECT_EQ((*parsed)["hosts"], Json::array({"algo-1"}));
  EXPECT_EQ((*parsed)["num_cpus"], 4);
  EXPECT_EQ((*parsed)["num_gpus"], 0);
  EXPECT_EQ((*parsed)["output_data_dir"], "/opt/ml/output/data");
}

TEST(TrainingEnvironmentTest, TandemVariablesWinOverSpec) {
  jobs::JobSpec spec = TwoChannelSpec();
  TrainingEnvironmentInputs inputs = Inputs();
  inputs.tandem["PATH"] = "/tandem/bin";
  EXPECT_EQ(BuildTrainingEnvironment(spec, inputs)["PATH"], "/tandem/bin");
}

TEST(TrainingEnvironmentTest, NoHyperparametersGivesEmptyObject) {
  jobs::JobSpec spec = TwoChannelSpec();
  spec.hyperparameters.clear();
  auto env = BuildTrainingEnvironment(spec, Inputs());
  EXPECT_EQ(env["SM_HPS"], "{}");
}

TEST(TrainingEnvironmentTest, SuffixReplacesPunctuation) {
  EXPECT_EQ(EnvironmentSuffix("train"), "TRAIN");
  EXPECT_EQ(EnvironmentSuffix("my-channel.v2_x"), "MY_CHANNEL_V2_X");
}

}  // namespace
}  // namespace tandem::runtime
