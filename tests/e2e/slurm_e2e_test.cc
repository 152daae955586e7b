// End to end through `tandem server` with a routing configuration that sends
// the repository "flights" to a Slurm backend. The flights job on the
// committed slice runs as a Slurm batch job on the cluster of the ctest
// fixture `slurm` (scripts/slurm-test-cluster.sh, slurm.conf in
// TANDEM_TEST_SLURM_CONF). A job that names the local backend runs beside it,
// and both must train the same model.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <regex>
#include <thread>

#include "backends/slurm_test_cluster.h"
#include "common/file_util.h"
#include "harness.h"

namespace tandem::e2e {
namespace {

using backends::testing::DownNode;
using backends::testing::Shell;
using backends::testing::SlurmConf;


const std::filesystem::path kSourceDir = TANDEM_SOURCE_DIR;

std::string FindJobId(const std::string& output) {
  std::smatch match;
  static const std::regex kJobId("job-[0-9a-f]{12}");
  return std::regex_search(output, match, kJobId) ? match.str() : "";
}

// Writes the routing configuration: "flights" to Slurm, with the local
// backend allowed when a job spec names it; everything else local.
std::filesystem::path WriteConfig(const std::filesystem::path& dir) {
  Json config = {
      {"Backends",
       {{"local", {{"Type", "local"}}},
        {"slurm",
         {{"Type", "slurm"},
          {"SlurmConf", SlurmConf()},
          {"TandemBinary", TANDEM_BINARY},
          {"TimeLimitMarginSeconds", 60}}}}},
      {"Routes", {{{"Repository", "flights"}, {"Backend", "slurm"}, {"AllowedBackends", {"local"}}}}},
      {"Default", {{"Backend", "local"}}},
  };
  std::filesystem::path path = dir / "routing.json";
  EXPECT_TRUE(WriteFileAtomic(path, config.dump(2)));
  return path;
}

std::string Submit(const ControlPlane& plane, const std::filesystem::path& spec) {
  CommandOutput submit = RunTandem({"job", "submit", spec.string()}, plane.ClientEnvironment());
  EXPECT_EQ(submit.exit_code, 0) << submit.output << "\n" << plane.ServerLog();
  std::string job_id = FindJobId(submit.output);
  EXPECT_FALSE(job_id.empty()) << submit.output;
  return job_id;
}

TEST(SlurmEndToEnd, FlightsJobRunsOnSlurm) {
  ASSERT_FALSE(SlurmConf().empty())
      << "TANDEM_TEST_SLURM_CONF is not set: run this test through ctest, which starts the "
         "Slurm cluster (fixture `slurm`)";
  TempDir config_dir;
  ControlPlane plane({"--config", WriteConfig(config_dir.path()).string()});
  ASSERT_TRUE(plane.started()) << plane.ServerLog();

  // The same spec twice: routed to Slurm, and on the local backend by name.
  Json spec = Json::parse(*ReadFile(kSourceDir / "examples/flights/job-small.json"));
  for (Json& channel : spec["InputDataConfig"]) {
    std::string relative = channel["DataSource"]["FileDataSource"]["Path"];
    channel["DataSource"]["FileDataSource"]["Path"] =
        (kSourceDir / "examples/flights" / relative).lexically_normal().string();
  }
  std::filesystem::path slurm_spec = config_dir.path() / "slurm-job.json";
  ASSERT_TRUE(WriteFileAtomic(slurm_spec, spec.dump(2)));
  spec["Backend"] = "local";
  spec["TrainingJobName"] = "flights-delay-small-local";
  std::filesystem::path local_spec = config_dir.path() / "local-job.json";
  ASSERT_TRUE(WriteFileAtomic(local_spec, spec.dump(2)));
  std::string slurm_job = Submit(plane, slurm_spec);
  std::string local_job = Submit(plane, local_spec);
  ASSERT_FALSE(slurm_job.empty());
  ASSERT_FALSE(local_job.empty());

  // Both complete and register a model version.
  for (const std::string& job_id : {slurm_job, local_job}) {
    Json job = plane.WaitForJob(job_id, std::chrono::seconds(400));
    ASSERT_EQ(job.value("TrainingJobStatus", ""), "Completed")
        << job.dump(2) << "\n"
        << RunTandem({"job", "logs", job_id}, plane.ClientEnvironment()).output << "\n"
        << plane.ServerLog();
    EXPECT_TRUE(job.contains("ModelVersion")) << job.dump(2);
  }

  // `tandem job describe` names the backend and the Slurm job id.
  std::string launch_record =
      ReadFile(plane.data_dir() / "jobs" / slurm_job / "slurm-launch.json").value_or("{}");
  std::string slurm_job_id = Json::parse(launch_record).value("SlurmJobId", "");
  ASSERT_FALSE(slurm_job_id.empty()) << launch_record;
  CommandOutput describe = RunTandem({"job", "describe", slurm_job}, plane.ClientEnvironment());
  ASSERT_EQ(describe.exit_code, 0) << describe.output;
  EXPECT_NE(describe.output.find("slurm"), std::string::npos) << describe.output;
  EXPECT_NE(describe.output.find("slurm:" + slurm_job_id), std::string::npos) << describe.output;
  CommandOutput local_describe =
      RunTandem({"job", "describe", local_job}, plane.ClientEnvironment());
  EXPECT_NE(local_describe.output.find("pid:"), std::string::npos) << local_describe.output;

  // The same spec gives the same model on both backends.
  std::string slurm_model =
      ReadFile(plane.data_dir() / "jobs" / slurm_job / "root/model/model.json").value_or("");
  std::string local_model =
      ReadFile(plane.data_dir() / "jobs" / local_job / "root/model/model.json").value_or("");
  ASSERT_FALSE(slurm_model.empty());
  EXPECT_EQ(slurm_model, local_model);
}

TEST(SlurmEndToEnd, WarmPoolReusesTheAllocation) {
  ASSERT_FALSE(SlurmConf().empty())
      << "TANDEM_TEST_SLURM_CONF is not set: run this test through ctest, which starts the "
         "Slurm cluster (fixture `slurm`)";
  TempDir config_dir;
  ControlPlane plane({"--config", WriteConfig(config_dir.path()).string()});
  ASSERT_TRUE(plane.started()) << plane.ServerLog();

  Json spec = Json::parse(*ReadFile(kSourceDir / "examples/flights/job-small.json"));
  for (Json& channel : spec["InputDataConfig"]) {
    std::string relative = channel["DataSource"]["FileDataSource"]["Path"];
    channel["DataSource"]["FileDataSource"]["Path"] =
        (kSourceDir / "examples/flights" / relative).lexically_normal().string();
  }
  spec["ResourceConfig"]["KeepAlivePeriodInSeconds"] = 300;
  std::filesystem::path first_spec = config_dir.path() / "first.json";
  ASSERT_TRUE(WriteFileAtomic(first_spec, spec.dump(2)));
  spec["TrainingJobName"] = "flights-delay-small-warm";
  std::filesystem::path second_spec = config_dir.path() / "second.json";
  ASSERT_TRUE(WriteFileAtomic(second_spec, spec.dump(2)));

  // The first job completes and keeps its allocation.
  std::string first = Submit(plane, first_spec);
  ASSERT_FALSE(first.empty());
  Json first_job = plane.WaitForJob(first, std::chrono::seconds(400));
  ASSERT_EQ(first_job.value("TrainingJobStatus", ""), "Completed") << first_job.dump(2);
  for (int attempt = 0; attempt < 100 && !first_job.contains("WarmPoolStatus"); ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    first_job = plane.WaitForJob(first, std::chrono::seconds(10));
  }
  ASSERT_TRUE(first_job.contains("WarmPoolStatus")) << first_job.dump(2) << "\n" << plane.ServerLog();
  ASSERT_EQ(first_job["WarmPoolStatus"].value("Status", ""), "Available")
      << first_job.dump(2) << "\n" << plane.ServerLog();

  // The second job runs as step 0 of the first job's Slurm job.
  std::string second = Submit(plane, second_spec);
  ASSERT_FALSE(second.empty());
  Json second_job = plane.WaitForJob(second, std::chrono::seconds(400));
  ASSERT_EQ(second_job.value("TrainingJobStatus", ""), "Completed")
      << second_job.dump(2) << "\n"
      << RunTandem({"job", "logs", second}, plane.ClientEnvironment()).output << "\n"
      << plane.ServerLog();
  auto slurm_id = [&](const std::string& job_id) {
    std::string record =
        ReadFile(plane.data_dir() / "jobs" / job_id / "slurm-launch.json").value_or("{}");
    return Json::parse(record).value("SlurmJobId", "");
  };
  ASSERT_FALSE(slurm_id(first).empty());
  EXPECT_EQ(slurm_id(second), slurm_id(first) + ".0");
  first_job = plane.WaitForJob(first, std::chrono::seconds(10));
  EXPECT_EQ(first_job["WarmPoolStatus"].value("ReusedByJob", ""), second) << first_job.dump(2);
}

// Polls the job (at most `limit`, 200 ms apart) until `done` holds; returns its last JSON.
Json PollJob(const ControlPlane& plane, const std::string& job_id,
             const std::function<bool(const Json&)>& done, std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  Json job;
  while (std::chrono::steady_clock::now() < deadline) {
    Result<http::Response> response = plane.Call("GET", "/api/v1/jobs/" + job_id);
    if (response && response->status == 200) {
      job = Json::parse(response->body);
      if (done(job)) return job;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return job;
}

// A real node failure: the node goes DOWN while the flights job runs on
// Slurm, which ends the batch job NODE_FAIL. The spec's RetryStrategy makes
// tandem run the job again as attempt 2 once the node is back, and that
// attempt completes and registers the model.
TEST(SlurmEndToEnd, NodeFailureIsRetried) {
  ASSERT_FALSE(SlurmConf().empty())
      << "TANDEM_TEST_SLURM_CONF is not set: run this test through ctest, which starts the "
         "Slurm cluster (fixture `slurm`)";
  DownNode node;
  ASSERT_FALSE(node.name().empty()) << "sinfo listed no node";
  TempDir config_dir;
  ControlPlane plane({"--config", WriteConfig(config_dir.path()).string(),
                      "--reconcile-interval-seconds", "1", "--reconcile-quiet-seconds", "0"});
  ASSERT_TRUE(plane.started()) << plane.ServerLog();

  Json spec = Json::parse(*ReadFile(kSourceDir / "examples/flights/job-small.json"));
  for (Json& channel : spec["InputDataConfig"]) {
    std::string relative = channel["DataSource"]["FileDataSource"]["Path"];
    channel["DataSource"]["FileDataSource"]["Path"] =
        (kSourceDir / "examples/flights" / relative).lexically_normal().string();
  }
  spec["TrainingJobName"] = "flights-delay-small-retried";
  spec["RetryStrategy"] = {{"MaximumRetryAttempts", 2}};
  std::filesystem::path spec_path = config_dir.path() / "retried.json";
  ASSERT_TRUE(WriteFileAtomic(spec_path, spec.dump(2)));
  std::string job_id = Submit(plane, spec_path);
  ASSERT_FALSE(job_id.empty());

  // Step 1: the first attempt's batch job runs; then its node fails.
  std::string first_slurm_id;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    std::string record =
        ReadFile(plane.data_dir() / "jobs" / job_id / "slurm-launch.json").value_or("");
    if (!record.empty()) first_slurm_id = Json::parse(record).value("SlurmJobId", "");
    if (!first_slurm_id.empty() &&
        Shell("scontrol show job -o " + first_slurm_id).find("JobState=RUNNING") !=
            std::string::npos) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_FALSE(first_slurm_id.empty()) << plane.ServerLog();
  EXPECT_EQ(node.Down(), "");

  // Step 2: the reconciler reads NODE_FAIL from Slurm and the job is retried.
  Json retried = PollJob(
      plane, job_id, [](const Json& job) { return job.value("AttemptCount", 0) >= 2; },
      std::chrono::seconds(120));
  ASSERT_EQ(retried.value("AttemptCount", 0), 2) << retried.dump(2) << "\n" << plane.ServerLog();
  EXPECT_EQ(retried.value("TrainingJobStatus", ""), "InProgress") << retried.dump(2);
  node.Resume();

  // Step 3: attempt 2 runs as a new batch job and completes.
  Json job = plane.WaitForJob(job_id, std::chrono::seconds(400));
  ASSERT_EQ(job.value("TrainingJobStatus", ""), "Completed")
      << job.dump(2) << "\n"
      << RunTandem({"job", "logs", job_id}, plane.ClientEnvironment()).output << "\n"
      << plane.ServerLog();
  EXPECT_EQ(job.value("AttemptCount", 0), 2);
  EXPECT_TRUE(job.contains("ModelVersion")) << job.dump(2);
  bool interrupted_entry = false;
  bool restarting_entry = false;
  for (const Json& entry : job["SecondaryStatusTransitions"]) {
    if (entry["Status"] == "Interrupted") {
      interrupted_entry = entry["Attempt"] == 1 &&
                          entry.value("StatusMessage", "").find("NODE_FAIL") != std::string::npos;
    }
    if (entry["Status"] == "Restarting") restarting_entry = entry["Attempt"] == 2;
  }
  EXPECT_TRUE(interrupted_entry) << job.dump(2);
  EXPECT_TRUE(restarting_entry) << job.dump(2);
  std::string second_record =
      ReadFile(plane.data_dir() / "jobs" / job_id / "attempt-2" / "slurm-launch.json")
          .value_or("{}");
  std::string second_slurm_id = Json::parse(second_record).value("SlurmJobId", "");
  EXPECT_FALSE(second_slurm_id.empty()) << second_record;
  EXPECT_NE(second_slurm_id, first_slurm_id);
}

}  // namespace
}  // namespace tandem::e2e
