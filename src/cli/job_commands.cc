#include "cli/job_commands.h"

#include <fmt/format.h>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <thread>

#include "cli/api_client.h"
#include "cli/compare_command.h"
#include "cli/job_format.h"
#include "cli/spec_template.h"
#include "cli/status_line.h"
#include "common/clock.h"
#include "common/http.h"

namespace tandem::cli {
namespace {

constexpr std::chrono::milliseconds kPollInterval{500};
constexpr int64_t kListPageMax = 1000;

// Options of every `tandem job` subcommand; one instance lives as long as the App.
struct JobOptions {
  ClientOptions client;
  std::string spec_file;
  std::string name;
  std::string job_id;
  bool json = false;
  bool follow = false;
  std::string repository;
  std::string status;
  std::string warm_pool_status;
  int64_t limit = 100;
  double timeout_seconds = 0;
  std::string compare_with;  // submit --compare-with BACKEND
};

std::string JobPath(const std::string& job_id) {
  return "/jobs/" + http::PercentEncode(job_id);
}

void PrintJson(const Json& value) { std::printf("%s\n", value.dump(2).c_str()); }

Result<int> Submit(const JobOptions& options) {
  TANDEM_ASSIGN_OR_RETURN(Json spec,
                          LoadJobSpec(options.spec_file, options.name, ProcessEnvironment()));
  TANDEM_ASSIGN_OR_RETURN(ApiClient client, ApiClient::FromOptions(options.client));
  if (!options.compare_with.empty()) {
    return SubmitAndCompare(client, std::move(spec),
                            CompareOptions{.backend = options.compare_with,
                                           .timeout_seconds = options.timeout_seconds});
  }
  TANDEM_ASSIGN_OR_RETURN(ApiResponse response, client.Call("POST", "/jobs", DumpJson(spec)));
  std::printf("%s\n", response.body.value("JobId", "").c_str());
  if (response.status == 200) {
    std::fprintf(stderr, "job %s already exists with the same spec\n",
                 response.body.value("TrainingJobName", "").c_str());
  }
  return 0;
}

// Shows the status line: rewritten in place on a terminal, else one line per
// change of everything but the elapsed time.
class StatusPrinter {
 public:
  StatusPrinter() : tty_(::isatty(STDOUT_FILENO) == 1) {}

  void Show(const Json& job) {
    std::string line = FormatStatusLine(job, SystemClock::Instance().NowMillis());
    if (tty_) {
      std::printf("\r%s\x1b[K", line.c_str());
      std::fflush(stdout);
      shown_ = true;
      return;
    }
    std::string key = FormatStatusLine(WithoutTimes(job), 0);
    if (key == last_key_) return;
    last_key_ = key;
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  }

  void Finish() {
    if (tty_ && shown_) std::printf("\n");
  }

 private:
  static Json WithoutTimes(Json job) {
    job.erase("CreationTime");
    return job;
  }

  bool tty_;
  bool shown_ = false;
  std::string last_key_;
};

Result<int> Wait(const JobOptions& options) {
  TANDEM_ASSIGN_OR_RETURN(ApiClient client, ApiClient::FromOptions(options.client));
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(static_cast<int64_t>(options.timeout_seconds * 1000));
  StatusPrinter printer;
  Json job;
  while (true) {
    TANDEM_ASSIGN_OR_RETURN(ApiResponse response, client.Call("GET", JobPath(options.job_id)));
    job = std::move(response.body);
    printer.Show(job);
    if (IsTerminalJob(job)) break;
    if (options.timeout_seconds > 0 && std::chrono::steady_clock::now() >= deadline) {
      printer.Finish();
      return DeadlineExceeded(fmt::format("job {} did not end within {} seconds; it goes on",
                                          options.job_id, options.timeout_seconds));
    }
    std::this_thread::sleep_for(kPollInterval);
  }
  printer.Finish();

  std::string status = job.value("TrainingJobStatus", "");
  std::string reason = job.value("FailureReason", "");
  if (reason.empty()) {
    std::printf("job %s %s\n", options.job_id.c_str(), status.c_str());
  } else {
    std::printf("job %s %s: %s\n", options.job_id.c_str(), status.c_str(), reason.c_str());
  }
  return status == "Completed" ? 0 : 1;
}

Result<int> Describe(const JobOptions& options) {
  TANDEM_ASSIGN_OR_RETURN(ApiClient client, ApiClient::FromOptions(options.client));
  TANDEM_ASSIGN_OR_RETURN(ApiResponse response, client.Call("GET", JobPath(options.job_id)));
  if (options.json) {
    PrintJson(response.body);
  } else {
    std::printf("%s", FormatJobDescription(response.body).c_str());
  }
  return 0;
}

// Builds the query of one GET /jobs page.
std::string ListTarget(const JobOptions& options, int64_t page_size, const std::string& token) {
  std::string target = fmt::format("/jobs?page_size={}", page_size);
  if (!options.repository.empty()) {
    target += "&repository=" + http::PercentEncode(options.repository);
  }
  if (!options.status.empty()) target += "&status=" + http::PercentEncode(options.status);
  if (!options.warm_pool_status.empty()) {
    target += "&warm_pool_status=" + http::PercentEncode(options.warm_pool_status);
  }
  if (!token.empty()) target += "&page_token=" + http::PercentEncode(token);
  return target;
}

Result<int> List(const JobOptions& options) {
  if (options.limit < 1) {
    return InvalidArgument(fmt::format("--limit {} is invalid, expected 1 or more", options.limit));
  }
  TANDEM_ASSIGN_OR_RETURN(ApiClient client, ApiClient::FromOptions(options.client));
  Json jobs = Json::array();
  std::string token;
  while (static_cast<int64_t>(jobs.size()) < options.limit) {
    int64_t page_size =
        std::min<int64_t>(kListPageMax, options.limit - static_cast<int64_t>(jobs.size()));
    TANDEM_ASSIGN_OR_RETURN(ApiResponse response,
                            client.Call("GET", ListTarget(options, page_size, token)));
    for (Json& job : response.body.value("Jobs", Json::array())) jobs.push_back(std::move(job));
    token = response.body.value("NextPageToken", "");
    if (token.empty()) break;
  }
  if (options.json) {
    PrintJson(jobs);
  } else {
    std::printf("%s", FormatJobTable(jobs).c_str());
  }
  return 0;
}

Result<int> Logs(const JobOptions& options) {
  TANDEM_ASSIGN_OR_RETURN(ApiClient client, ApiClient::FromOptions(options.client));
  int64_t offset = 0;
  while (true) {
    TANDEM_ASSIGN_OR_RETURN(
        ApiResponse response,
        client.Call("GET", fmt::format("{}/logs?offset={}", JobPath(options.job_id), offset)));
    std::string data = response.body.value("Data", "");
    std::fwrite(data.data(), 1, data.size(), stdout);
    std::fflush(stdout);
    offset = response.body.value("NextOffset", offset);
    if (response.body.value("Complete", false)) break;
    if (data.empty()) {
      if (!options.follow) break;
      std::this_thread::sleep_for(kPollInterval);
    }
  }
  return 0;
}

Result<int> Stop(const JobOptions& options) {
  TANDEM_ASSIGN_OR_RETURN(ApiClient client, ApiClient::FromOptions(options.client));
  TANDEM_ASSIGN_OR_RETURN(ApiResponse response,
                          client.Call("POST", JobPath(options.job_id) + "/stop"));
  std::printf("job %s %s\n", options.job_id.c_str(),
              response.body.value("TrainingJobStatus", "").c_str());
  return 0;
}

}  // namespace

void AddJobCommands(CLI::App& app, CommandAction& action) {
  CLI::App* job = app.add_subcommand("job", "submit and follow training jobs");
  job->require_subcommand(1);
  auto options = std::make_shared<JobOptions>();

  CLI::App* submit =
      AddClientSubcommand(*job, "submit", "submit a job spec (JSON); prints the job id", options,
                    action, Submit);
  submit->add_option("spec", options->spec_file, "job spec file")->required();
  submit->add_option("--name", options->name, "override the spec's TrainingJobName");
  submit->add_option("--compare-with", options->compare_with,
                     "also run the spec on this backend (as NAME-vs-BACKEND), wait for both "
                     "and print their differences; exits 0 only when there are none");
  submit->add_option("--timeout", options->timeout_seconds,
                     "with --compare-with: give up waiting after this many seconds (0: wait for "
                     "ever)");

  CLI::App* wait = AddClientSubcommand(
      *job, "wait", "follow a job until it ends; exits 0 only when it Completed", options,
      action, Wait);
  wait->add_option("id", options->job_id, "job id")->required();
  wait->add_option("--timeout", options->timeout_seconds,
                   "give up after this many seconds (0: wait for ever)");

  CLI::App* describe =
      AddClientSubcommand(*job, "describe", "show one job", options, action, Describe);
  describe->add_option("id", options->job_id, "job id")->required();
  describe->add_flag("--json", options->json, "print the job as JSON");

  CLI::App* list = AddClientSubcommand(*job, "list", "list jobs, newest first", options, action, List);
  list->add_option("--repository", options->repository, "only jobs of this repository");
  list->add_option("--status", options->status,
                   "only jobs with this TrainingJobStatus (InProgress, Completed, ...)");
  list->add_option("--warm-pool-status", options->warm_pool_status,
                   "only jobs whose kept worker has this WarmPoolStatus (Available, InUse, "
                   "Reused, Terminated)");
  list->add_option("--limit", options->limit, "show at most this many jobs")
      ->default_val(100);
  list->add_flag("--json", options->json, "print the jobs as JSON");

  CLI::App* logs = AddClientSubcommand(*job, "logs", "print a job's log", options, action, Logs);
  logs->add_option("id", options->job_id, "job id")->required();
  logs->add_flag("--follow,-f", options->follow, "keep printing until the job ends");

  CLI::App* stop = AddClientSubcommand(*job, "stop", "stop a running job", options, action, Stop);
  stop->add_option("id", options->job_id, "job id")->required();
}

}  // namespace tandem::cli
