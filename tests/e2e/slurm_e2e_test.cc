// End to end through `tandem server` with a routing configuration that sends
// the repository "flights" to a Slurm backend. The flights job on the
// committed slice runs as a Slurm batch job on the cluster of the ctest
// fixture `slurm` (scripts/slurm-test-cluster.sh, slurm.conf in
// TANDEM_TEST_SLURM_CONF). A job that names the local backend runs beside it,
// and both must train the same model.
#include <gtest/gtest.h>

#include <cstdlib>
#include <regex>

#include "common/file_util.h"
#include "harness.h"

namespace tandem::e2e {
namespace {

const std::filesystem::path kSourceDir = TANDEM_SOURCE_DIR;

std::string FindJobId(const std::string& output) {
  std::smatch match;
  static const std::regex kJobId("job-[0-9a-f]{12}");
  return std::regex_search(output, match, kJobId) ? match.str() : "";
}

std::string SlurmConf() {
  const char* conf = std::getenv("TANDEM_TEST_SLURM_CONF");
  return conf ? conf : "";
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

}  // namespace
}  // namespace tandem::e2e
