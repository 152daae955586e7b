// End to end through the real binary: jobs that fail, are killed, are stopped
// or run out of time end in the right state with their reason and their logs,
// and bad requests get clear errors without harming stored jobs.
#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <regex>
#include <thread>

#include "harness.h"

namespace tandem::e2e {
namespace {

const std::filesystem::path kSourceDir = TANDEM_SOURCE_DIR;

class JobFailuresEndToEnd : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { control_plane_ = new ControlPlane(); }
  static void TearDownTestSuite() {
    delete control_plane_;
    control_plane_ = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(control_plane_->started()) << control_plane_->ServerLog();
  }

  // Writes `body` as an executable shell script in the input root and returns
  // a spec that runs it with the flights slice as its train channel.
  static Json ScriptJob(const std::string& name, const std::string& body) {
    std::filesystem::path dir = control_plane_->data_dir() / "inputs" / name;
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "run.sh") << "#!/bin/sh\n" << body << "\n";
    std::filesystem::permissions(dir / "run.sh", std::filesystem::perms::owner_all);
    return {
        {"TrainingJobName", name},
        {"Repository", "e2e"},
        {"AlgorithmSpecification", {{"EntryPoint", {"/bin/sh", "run.sh"}}, {"SourceDir", dir}}},
        {"InputDataConfig",
         {{{"ChannelName", "train"},
           {"DataSource",
            {{"FileDataSource", {{"Path", kSourceDir / "tests/data/flights/train"}}}}}}}},
        {"OutputDataConfig", {{"ModelName", name}}},
    };
  }

  static std::string Submit(const Json& spec) {
    auto response = control_plane_->Call("POST", "/api/v1/jobs", spec.dump());
    if (!response || (response->status != 201 && response->status != 200)) {
      ADD_FAILURE() << (response ? response->body : response.error().message());
      return "";
    }
    return Json::parse(response->body).value("JobId", "");
  }

  // Polls until the job reaches `secondary` or ends; returns its last JSON.
  static Json WaitForSecondary(const std::string& job_id, const std::string& secondary) {
    Json job;
    for (int attempt = 0; attempt < 600; ++attempt) {
      auto response = control_plane_->Call("GET", "/api/v1/jobs/" + job_id);
      if (response && response->status == 200) {
        job = Json::parse(response->body);
        if (job.value("SecondaryStatus", "") == secondary) return job;
        if (job.value("TrainingJobStatus", "") != "InProgress") return job;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return job;
  }

  static std::string Logs(const std::string& job_id) {
    auto response = control_plane_->Call("GET", "/api/v1/jobs/" + job_id + "/logs");
    if (!response || response->status != 200) return "";
    return Json::parse(response->body).value("Data", "");
  }

  static ControlPlane* control_plane_;
};

ControlPlane* JobFailuresEndToEnd::control_plane_ = nullptr;

TEST_F(JobFailuresEndToEnd, FailureFileBecomesReason) {
  std::string job_id = Submit(ScriptJob(
      "writes-failure",
      "echo 'reading the train channel'\n"
      "echo 'column delay has text on line 7' > \"$SM_OUTPUT_DIR/failure\"\nexit 3"));
  ASSERT_FALSE(job_id.empty());
  Json job = control_plane_->WaitForJob(job_id, std::chrono::seconds(120));
  EXPECT_EQ(job.value("TrainingJobStatus", ""), "Failed") << job.dump(2);
  EXPECT_NE(job.value("FailureReason", "").find("column delay has text on line 7"),
            std::string::npos)
      << job.dump(2);
  EXPECT_NE(Logs(job_id).find("reading the train channel"), std::string::npos);
}

TEST_F(JobFailuresEndToEnd, NonZeroExitWithoutFailureFile) {
  std::string job_id = Submit(ScriptJob("exits-two", "exit 2"));
  ASSERT_FALSE(job_id.empty());
  Json job = control_plane_->WaitForJob(job_id, std::chrono::seconds(120));
  EXPECT_EQ(job.value("TrainingJobStatus", ""), "Failed") << job.dump(2);
  EXPECT_NE(job.value("FailureReason", "").find("code 2"), std::string::npos) << job.dump(2);
}

TEST_F(JobFailuresEndToEnd, KilledRuntimeEndsFailed) {
  std::string job_id = Submit(ScriptJob("killed", "sleep 300"));
  ASSERT_FALSE(job_id.empty());
  Json job = WaitForSecondary(job_id, "Training");
  ASSERT_EQ(job.value("SecondaryStatus", ""), "Training") << job.dump(2);

  std::string native_id = job["Backend"].value("NativeId", "");
  ASSERT_TRUE(native_id.starts_with("pid:")) << job.dump(2);
  pid_t pid = std::stoi(native_id.substr(4));
  ASSERT_EQ(::kill(pid, SIGKILL), 0);

  job = control_plane_->WaitForJob(job_id, std::chrono::seconds(120));
  EXPECT_EQ(job.value("TrainingJobStatus", ""), "Failed") << job.dump(2);
  EXPECT_NE(job.value("FailureReason", "").find("signal 9"), std::string::npos) << job.dump(2);
}

TEST_F(JobFailuresEndToEnd, StopWhileTrainingEndsStopped) {
  std::string job_id = Submit(ScriptJob("stopped", "echo started\nsleep 300"));
  ASSERT_FALSE(job_id.empty());
  ASSERT_EQ(WaitForSecondary(job_id, "Training").value("SecondaryStatus", ""), "Training");

  CommandOutput stop = RunTandem({"job", "stop", job_id}, control_plane_->ClientEnvironment());
  ASSERT_EQ(stop.exit_code, 0) << stop.output;
  Json job = control_plane_->WaitForJob(job_id, std::chrono::seconds(120));
  EXPECT_EQ(job.value("TrainingJobStatus", ""), "Stopped") << job.dump(2);

  auto again = control_plane_->Call("POST", "/api/v1/jobs/" + job_id + "/stop");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 409) << again->body;
}

TEST_F(JobFailuresEndToEnd, MaxRuntimeExceeded) {
  Json spec = ScriptJob("too-slow", "sleep 300");
  spec["StoppingCondition"] = {{"MaxRuntimeInSeconds", 2}};
  std::string job_id = Submit(spec);
  ASSERT_FALSE(job_id.empty());
  Json job = control_plane_->WaitForJob(job_id, std::chrono::seconds(120));
  EXPECT_EQ(job.value("TrainingJobStatus", ""), "Failed") << job.dump(2);
  EXPECT_EQ(job.value("SecondaryStatus", ""), "MaxRuntimeExceeded") << job.dump(2);
}

TEST_F(JobFailuresEndToEnd, MissingChannelPathFailsWithPath) {
  Json spec = ScriptJob("missing-channel", "exit 0");
  std::string missing = (control_plane_->data_dir() / "inputs/no-such-dir").string();
  spec["InputDataConfig"][0]["DataSource"]["FileDataSource"]["Path"] = missing;
  std::string job_id = Submit(spec);
  ASSERT_FALSE(job_id.empty());
  Json job = control_plane_->WaitForJob(job_id, std::chrono::seconds(120));
  EXPECT_EQ(job.value("TrainingJobStatus", ""), "Failed") << job.dump(2);
  EXPECT_NE(job.value("FailureReason", "").find("no-such-dir"), std::string::npos) << job.dump(2);
}

TEST_F(JobFailuresEndToEnd, BadCsvNamesFileAndLine) {
  std::filesystem::path dir = control_plane_->data_dir() / "inputs/bad-csv";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "flights.csv") << "date,delay,distance,origin,destination\n"
                                        "2001-01-01 00:01,33,2176,LAS,PHL\n"
                                        "2001-01-01 00:02,12,far,ATL,SAV\n";
  std::ifstream spec_file(kSourceDir / "examples/flights/job-small.json");
  Json spec = Json::parse(spec_file);
  spec["TrainingJobName"] = "bad-csv";
  spec["InputDataConfig"] = {{{"ChannelName", "train"},
                              {"DataSource", {{"FileDataSource", {{"Path", dir}}}}}}};
  std::string job_id = Submit(spec);
  ASSERT_FALSE(job_id.empty());
  Json job = control_plane_->WaitForJob(job_id, std::chrono::seconds(120));
  EXPECT_EQ(job.value("TrainingJobStatus", ""), "Failed") << job.dump(2);
  std::string reason = job.value("FailureReason", "");
  EXPECT_NE(reason.find("flights.csv"), std::string::npos) << reason;
  EXPECT_NE(reason.find("3"), std::string::npos) << reason;
  EXPECT_NE(reason.find("distance"), std::string::npos) << reason;
}

TEST_F(JobFailuresEndToEnd, BadRequestsGetClearErrors) {
  auto truncated = control_plane_->Call("POST", "/api/v1/jobs", "{\"TrainingJobName\": \"x\"");
  ASSERT_TRUE(truncated);
  EXPECT_EQ(truncated->status, 400);
  EXPECT_NE(truncated->body.find("invalid JSON"), std::string::npos) << truncated->body;

  Json missing_field = ScriptJob("no-output", "exit 0");
  missing_field.erase("OutputDataConfig");
  auto missing = control_plane_->Call("POST", "/api/v1/jobs", missing_field.dump());
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 400);
  EXPECT_NE(missing->body.find("OutputDataConfig"), std::string::npos) << missing->body;

  Json outside = ScriptJob("outside-root", "exit 0");
  outside["InputDataConfig"][0]["DataSource"]["FileDataSource"]["Path"] = "/etc";
  auto confined = control_plane_->Call("POST", "/api/v1/jobs", outside.dump());
  ASSERT_TRUE(confined);
  EXPECT_EQ(confined->status, 403) << confined->body;

  auto unknown = control_plane_->Call("GET", "/api/v1/jobs/job-000000000000");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);

  auto unknown_model = control_plane_->Call("GET", "/api/v1/models/no-such-model");
  ASSERT_TRUE(unknown_model);
  EXPECT_EQ(unknown_model->status, 404);

  auto no_token = http::Fetch("POST", control_plane_->url() + "/api/v1/jobs",
                              ScriptJob("no-token", "exit 0").dump());
  ASSERT_TRUE(no_token);
  EXPECT_EQ(no_token->status, 401);

  std::string oversized(64 * 1024 * 1024, ' ');
  auto too_large = control_plane_->Call("POST", "/api/v1/jobs", oversized);
  ASSERT_TRUE(too_large);
  EXPECT_EQ(too_large->status, 413);

  // Nothing stored was harmed: the server still lists jobs.
  auto list = control_plane_->Call("GET", "/api/v1/jobs");
  ASSERT_TRUE(list);
  EXPECT_EQ(list->status, 200);
}

}  // namespace
}  // namespace tandem::e2e
