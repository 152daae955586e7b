#include "runtime/train_command.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <cstdlib>
#include <memory>
#include <optional>
#include <thread>

#include "common/file_util.h"
#include "common/json_util.h"
#include "common/logging.h"
#include "jobs/job_spec.h"
#include "runtime/events.h"
#include "runtime/trainer.h"
#include "runtime/warm_agent.h"

namespace tandem::runtime {
namespace {

constexpr int kExitBadJob = 2;

using SteadyTime = std::chrono::steady_clock::time_point;

// MaxRuntimeInSeconds counts from the start of the runtime, input download included.
void SetMaxRuntimeDeadline(const jobs::JobSpec& spec, SteadyTime started, StopController& stop) {
  stop.SetDeadline(started + std::chrono::seconds(spec.max_runtime_s));
}

std::string EnvOr(const char* name, std::string fallback = "") {
  const char* value = std::getenv(name);
  return value ? std::string(value) : fallback;
}

// PATH and HOME, the only variables of the runtime's own environment that
// the user's entry point inherits.
std::map<std::string, std::string> BaseEnvironment() {
  std::map<std::string, std::string> base;
  base["PATH"] = EnvOr("PATH", "/usr/local/bin:/usr/bin:/bin");
  base["HOME"] = EnvOr("HOME", "/");
  return base;
}

int NumCpus(const jobs::JobSpec& spec) {
  if (spec.resources.cpu_count) return static_cast<int>(*spec.resources.cpu_count);
  return std::max(1U, std::thread::hardware_concurrency());
}

Result<jobs::JobSpec> ReadSpecFile(const std::string& path) {
  if (path.empty()) {
    return InvalidArgument(
        "no job spec: pass --spec FILE or set TANDEM_JOB_SPEC_FILE (or TANDEM_JOB_ID for a job of "
        "the control plane)");
  }
  TANDEM_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  TANDEM_ASSIGN_OR_RETURN(Json document, ParseJson(text, path));
  auto spec = jobs::ParseJobSpec(document);
  if (!spec) return std::unexpected(spec.error().WithContext(path));
  return spec;
}

// Parses the spec a warm worker's hand-off carried.
Result<jobs::JobSpec> ParseSpecText(const std::string& text) {
  TANDEM_ASSIGN_OR_RETURN(Json document, ParseJson(text, "Spec of the hand-off"));
  auto spec = jobs::ParseJobSpec(document);
  if (!spec) return std::unexpected(spec.error().WithContext("Spec"));
  return spec;
}

// Fetches the job and parses its Spec, retrying while the control plane is unreachable.
Result<jobs::JobSpec> FetchSpec(const TrainSettings& settings) {
  ControlPlaneClient client(settings.api_url, settings.job_id, settings.job_token);
  Json job;
  TANDEM_RETURN_IF_ERROR(RetryCall(settings.retry, "read job", [&]() -> Status {
    TANDEM_ASSIGN_OR_RETURN(job, client.GetJob());
    return Ok();
  }));
  if (!job.is_object() || !job.contains("Spec")) {
    return InvalidArgument(fmt::format("job {} from the control plane has no Spec", settings.job_id));
  }
  auto spec = jobs::ParseJobSpec(job["Spec"]);
  if (!spec) return std::unexpected(spec.error().WithContext("Spec"));
  return spec;
}

TrainerOptions BaseTrainerOptions(const TrainSettings& settings, const jobs::JobSpec& spec) {
  TrainerOptions options;
  options.root = JobRoot{settings.job_root};
  options.job_id = settings.job_id;
  options.num_cpus = NumCpus(spec);
  options.stop_grace = settings.stop_grace;
  options.base_environment = BaseEnvironment();
  options.tandem_environment["TANDEM_JOB_ROOT"] = settings.job_root;
  options.event_flush_timeout = settings.retry.window;
  return options;
}

int RunControlPlaneMode(const TrainSettings& settings, SteadyTime started, StopController& stop) {
  if (settings.api_url.empty()) {
    spdlog::error("TANDEM_JOB_ID is set but TANDEM_API_URL is not; cannot reach the control plane "
                  "job={}", settings.job_id);
    return kExitBadJob;
  }
  auto reporter = std::make_unique<ControlPlaneEventReporter>(
      std::make_unique<ControlPlaneClient>(settings.api_url, settings.job_id, settings.job_token),
      settings.retry, SystemClock::Instance(), settings.attempt);

  Result<jobs::JobSpec> spec =
      settings.spec_json.empty() ? FetchSpec(settings) : ParseSpecText(settings.spec_json);
  if (!spec) {
    spdlog::error("cannot read the job job={} error=\"{}\"", settings.job_id,
                  spec.error().message());
    // An invalid spec is worth a Failed event; an unreachable control plane is not reachable for it either.
    if (spec.error().code() != ErrorCode::kInvalidArgument) return kExitBadJob;
    reporter->Report({.status = "Failed", .secondary_status = "Failed",
                      .message = spec.error().message()});
    reporter->Flush(settings.retry.window);
    return kExitFailed;
  }

  SetMaxRuntimeDeadline(*spec, started, stop);
  TrainerOptions options = BaseTrainerOptions(settings, *spec);
  options.tandem_environment["TANDEM_JOB_ID"] = settings.job_id;
  options.tandem_environment["TANDEM_API_URL"] = settings.api_url;
  options.tandem_environment["TANDEM_JOB_TOKEN"] = settings.job_token;
  options.upload = [&settings](const std::filesystem::path& archive) -> Result<Json> {
    ControlPlaneClient client(settings.api_url, settings.job_id, settings.job_token);
    Json answer;
    TANDEM_RETURN_IF_ERROR(RetryCall(settings.retry, "upload model package", [&]() -> Status {
      TANDEM_ASSIGN_OR_RETURN(answer, client.PutModelPackage(archive));
      return Ok();
    }));
    return answer;
  };
  return RunTrainingJob(*spec, options, *reporter, stop);
}

int RunStandAloneMode(const TrainSettings& settings, SteadyTime started, StopController& stop) {
  auto spec = ReadSpecFile(settings.spec_file);
  if (!spec) {
    spdlog::error("cannot read the job spec error=\"{}\"", spec.error().message());
    return kExitBadJob;
  }
  SetMaxRuntimeDeadline(*spec, started, stop);
  TrainerOptions options = BaseTrainerOptions(settings, *spec);
  options.fetch.accept_staged_channels = true;
  LogEventReporter reporter(spec->training_job_name);
  return RunTrainingJob(*spec, options, reporter, stop);
}

}  // namespace

Status ApplyEnvironment(TrainSettings& settings) {
  if (settings.job_root.empty()) settings.job_root = EnvOr("TANDEM_JOB_ROOT", "/opt/ml");
  if (settings.spec_file.empty()) settings.spec_file = EnvOr("TANDEM_JOB_SPEC_FILE");
  if (settings.api_url.empty()) settings.api_url = EnvOr("TANDEM_API_URL");
  if (settings.job_id.empty()) settings.job_id = EnvOr("TANDEM_JOB_ID");
  if (settings.job_token.empty()) settings.job_token = EnvOr("TANDEM_JOB_TOKEN");
  if (settings.exit_file.empty()) settings.exit_file = EnvOr("TANDEM_EXIT_FILE");
  std::string grace = EnvOr("TANDEM_STOP_GRACE_SECONDS");
  if (!grace.empty()) {
    int64_t seconds = -1;
    auto [end, error] = std::from_chars(grace.data(), grace.data() + grace.size(), seconds);
    if (error != std::errc() || end != grace.data() + grace.size() || seconds < 0) {
      return InvalidArgument(fmt::format(
          "TANDEM_STOP_GRACE_SECONDS: expected a whole number of seconds, got \"{}\"", grace));
    }
    settings.stop_grace = std::chrono::seconds(seconds);
  }
  std::string attempt = EnvOr("TANDEM_JOB_ATTEMPT");
  if (!settings.attempt && !attempt.empty()) {
    int64_t number = 0;
    auto [end, error] = std::from_chars(attempt.data(), attempt.data() + attempt.size(), number);
    if (error != std::errc() || end != attempt.data() + attempt.size() || number < 1) {
      return InvalidArgument(fmt::format(
          "TANDEM_JOB_ATTEMPT: expected an attempt number of 1 or more, got \"{}\"", attempt));
    }
    settings.attempt = number;
  }
  return Ok();
}

int RunTrain(const TrainSettings& settings, StopController& stop) {
  const auto started = std::chrono::steady_clock::now();
  if (settings.job_id.empty()) return RunStandAloneMode(settings, started, stop);
  int exit_code = RunControlPlaneMode(settings, started, stop);
  if (!settings.exit_file.empty()) {
    Status written = WriteFileAtomic(settings.exit_file,
                                     Json{{"ExitCode", exit_code}}.dump() + "\n");
    if (!written) {
      spdlog::warn("cannot write the exit file job={} error=\"{}\"", settings.job_id,
                   written.error().message());
    }
  }
  return exit_code;
}

void AddTrainCommand(CLI::App& app, CommandAction& action) {
  auto settings = std::make_shared<TrainSettings>();
  auto log_level = std::make_shared<std::string>("info");
  auto warm_agent_fifo = std::make_shared<std::string>();
  CLI::App* command = app.add_subcommand(
      "train", "Run one training job (the job runtime inside every training job)");
  command->add_option("--job-root", settings->job_root,
                      "Job root directory (default: TANDEM_JOB_ROOT, else /opt/ml)");
  command->add_option("--spec", settings->spec_file,
                      "Job spec file for a stand-alone run (default: TANDEM_JOB_SPEC_FILE)");
  command->add_option("--log-level", *log_level, "Log level: trace, debug, info, warn, error")
      ->capture_default_str();
  command->add_option("--warm-agent", *warm_agent_fifo,
                      "Wait as a warm worker for a job handed over through this FIFO (started "
                      "by the local backend, not by users)");
  command->callback([settings, log_level, warm_agent_fifo, &action] {
    action = [settings, log_level, warm_agent_fifo]() -> int {
      if (Status logging = InitLogging("train", *log_level); !logging) {
        fmt::print(stderr, "tandem train: {}\n", logging.error().message());
        return kExitBadJob;
      }
      if (!warm_agent_fifo->empty()) {
        // The job's environment arrives with the hand-off, so none is read here.
        static StopController agent_stop;
        StopOnTerminationSignals(agent_stop);
        return RunWarmAgent({.fifo = *warm_agent_fifo, .settings = *settings}, agent_stop);
      }
      if (Status applied = ApplyEnvironment(*settings); !applied) {
        spdlog::error("{}", applied.error().message());
        return kExitBadJob;
      }
      // Signals are routed to one thread before any other thread starts.
      static StopController stop;
      StopOnTerminationSignals(stop);
      return RunTrain(*settings, stop);
    };
  });
}

}  // namespace tandem::runtime
