#include "cli/compare_command.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "cli/compare_report.h"
#include "cli/status_line.h"
#include "common/http.h"

namespace tandem::cli {
namespace {

constexpr std::chrono::milliseconds kPollInterval{500};
constexpr size_t kMaxNameLength = 63;

struct SubmittedRun {
  std::string label;
  std::string job_id;
  Json job;
};

Result<SubmittedRun> SubmitRun(ApiClient& client, const Json& spec) {
  TANDEM_ASSIGN_OR_RETURN(ApiResponse response, client.Call("POST", "/jobs", DumpJson(spec)));
  SubmittedRun run;
  run.job_id = response.body.value("JobId", "");
  run.label = response.body.contains("Backend")
                  ? response.body["Backend"].value("Name", std::string("-"))
                  : std::string("-");
  run.job = std::move(response.body);
  std::printf("%s  %s  backend %s%s\n", run.job_id.c_str(),
              run.job.value("TrainingJobName", "").c_str(), run.label.c_str(),
              response.status == 200 ? " (submitted before with the same spec)" : "");
  return run;
}

// Polls both jobs until each has ended, printing each status change.
Status WaitForBoth(ApiClient& client, std::vector<SubmittedRun>& runs, double timeout_seconds) {
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000));
  std::vector<std::string> shown(runs.size());
  while (true) {
    bool all_ended = true;
    for (size_t i = 0; i < runs.size(); ++i) {
      TANDEM_ASSIGN_OR_RETURN(ApiResponse response,
                              client.Call("GET", "/jobs/" + http::PercentEncode(runs[i].job_id)));
      runs[i].job = std::move(response.body);
      std::string status = fmt::format("{}/{}", runs[i].job.value("TrainingJobStatus", ""),
                                        runs[i].job.value("SecondaryStatus", ""));
      if (status != shown[i]) {
        std::printf("%s  %s\n", runs[i].job_id.c_str(), status.c_str());
        std::fflush(stdout);
        shown[i] = status;
      }
      all_ended = all_ended && IsTerminalJob(runs[i].job);
    }
    if (all_ended) return Ok();
    if (timeout_seconds > 0 && std::chrono::steady_clock::now() >= deadline) {
      return DeadlineExceeded(fmt::format("jobs {} and {} did not both end within {} seconds; they "
                                          "go on",
                                          runs[0].job_id, runs[1].job_id, timeout_seconds));
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

// Returns the model version the job registered, with its manifest.
Result<std::optional<Json>> ModelVersionOf(ApiClient& client, const Json& job) {
  auto it = job.find("ModelVersion");
  if (it == job.end() || !it->is_object()) return std::optional<Json>();
  std::string target = fmt::format("/models/{}/versions/{}",
                                   http::PercentEncode(it->value("ModelName", "")),
                                   it->value("Version", int64_t{0}));
  TANDEM_ASSIGN_OR_RETURN(ApiResponse response, client.Call("GET", target));
  return std::optional<Json>(std::move(response.body));
}

}  // namespace

Result<std::string> CompareRunName(const std::string& name, const std::string& backend) {
  std::string second = fmt::format("{}-vs-{}", name, backend);
  if (second.size() > kMaxNameLength) {
    return InvalidArgument(fmt::format(
        "--compare-with: the second run's name \"{}\" is {} characters, at most {}; give a "
        "shorter one with --name",
        second, second.size(), kMaxNameLength));
  }
  return second;
}

Result<int> SubmitAndCompare(ApiClient& client, Json spec, const CompareOptions& options) {
  std::string name = spec.value("TrainingJobName", "");
  TANDEM_ASSIGN_OR_RETURN(std::string second_name, CompareRunName(name, options.backend));

  // Step 1: the routed run, then the run on BACKEND.
  std::vector<SubmittedRun> runs;
  TANDEM_ASSIGN_OR_RETURN(SubmittedRun routed, SubmitRun(client, spec));
  if (routed.label == options.backend) {
    return InvalidArgument(fmt::format(
        "--compare-with {}: job {} was routed to backend {} already, so there is nothing to "
        "compare; it keeps running. Name another backend",
        options.backend, routed.job_id, options.backend));
  }
  runs.push_back(std::move(routed));
  spec["TrainingJobName"] = second_name;
  spec["Backend"] = options.backend;
  TANDEM_ASSIGN_OR_RETURN(SubmittedRun other, SubmitRun(client, spec));
  runs.push_back(std::move(other));

  // Step 2: wait for both, then fetch what each registered.
  TANDEM_RETURN_IF_ERROR(WaitForBoth(client, runs, options.timeout_seconds));
  std::vector<CompareRun> compared;
  for (SubmittedRun& run : runs) {
    TANDEM_ASSIGN_OR_RETURN(std::optional<Json> version, ModelVersionOf(client, run.job));
    compared.push_back(CompareRun{.label = run.label, .job = run.job, .model_version = version});
  }

  // Step 3: the report.
  CompareReport report = CompareRuns(compared[0], compared[1]);
  std::printf("\n%s", report.text.c_str());
  return report.differences.empty() ? 0 : 1;
}

}  // namespace tandem::cli
