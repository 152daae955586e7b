#include "runtime/trainer.h"

#include <signal.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>

#include "algorithms/algorithm.h"
#include "common/file_util.h"
#include "common/process.h"
#include "model/manifest.h"
#include "model/package.h"
#include "runtime/training_environment.h"

namespace tandem::runtime {
namespace {

namespace fs = std::filesystem;

// The end of a phase that did not succeed: a failure (stop == kNone) or a stop.
struct Interruption {
  StopReason stop = StopReason::kNone;
  std::string reason;
  // True when the user's code (or the built-in algorithm) failed, so that a
  // reason the user wrote to output/failure takes precedence.
  bool from_training = false;
};

Interruption Failure(std::string reason, bool from_training = false) {
  return Interruption{.reason = std::move(reason), .from_training = from_training};
}

std::string JobLabel(const jobs::JobSpec& spec, const TrainerOptions& options) {
  return options.job_id.empty() ? spec.training_job_name : options.job_id;
}

// Returns the first 1024 bytes of output/failure with trailing white space
// removed, or "" when the file is missing or empty.
std::string UserFailureReason(const JobRoot& root) {
  auto text = ReadFilePrefix(root.failure_file(), kMaxFailureReasonBytes);
  if (!text) return "";
  std::string reason = std::move(*text);
  while (!reason.empty() && std::isspace(static_cast<unsigned char>(reason.back()))) {
    reason.pop_back();
  }
  return reason;
}

std::string DescribeEntryPointExit(const ExitStatus& status) {
  if (status.exit_code) return fmt::format("entry point exited with code {}", *status.exit_code);
  if (status.signal) return fmt::format("entry point was killed by signal {}", *status.signal);
  return "entry point ended with an unknown exit status";
}

std::string ProgressMessage(const algorithms::Progress& progress) {
  if (!progress.message.empty()) return progress.message;
  if (progress.total_rounds > 0) {
    return fmt::format("round {} of {}", progress.round, progress.total_rounds);
  }
  return fmt::format("{}: {} rows read", progress.phase, progress.rows_read);
}

// Runs a built-in algorithm in this process.
std::optional<Interruption> RunBuiltInAlgorithm(const std::string& name, const TrainerOptions& options,
                                                EventReporter& events, StopController& stop) {
  ProgressThrottle throttle(*options.clock, options.progress_interval);
  // Each report fills in only its own phase's fields, and the job's Progress is
  // the latest event's Details, so events carry running totals.
  algorithms::Progress totals;
  algorithms::AlgorithmContext context{
      .job_root = options.root.root,
      .num_cpus = options.num_cpus,
      .runtime_version = TANDEM_VERSION,
      .on_progress =
          [&](const algorithms::Progress& progress) {
            totals.rows_read = std::max(totals.rows_read, progress.rows_read);
            if (progress.total_rounds > 0) {
              totals.round = progress.round;
              totals.total_rounds = progress.total_rounds;
            }
            if (!throttle.ShouldSend(progress.phase)) return;
            events.Report(RuntimeEvent{
                .message = ProgressMessage(progress),
                .details = {{"Phase", progress.phase},
                            {"RowsRead", totals.rows_read},
                            {"Round", totals.round},
                            {"TotalRounds", totals.total_rounds}},
            });
          },
      .should_stop = [&] { return stop.ShouldStop(); },
  };
  Status result = algorithms::RunAlgorithm(name, context);
  if (result) {
    // The throttle may have dropped the last reports, so the final totals go out once more.
    events.Report(RuntimeEvent{
        .message = fmt::format("training finished: {} rows read, {} rounds", totals.rows_read,
                               totals.round),
        .details = {{"Phase", "finished"},
                    {"RowsRead", totals.rows_read},
                    {"Round", totals.round},
                    {"TotalRounds", totals.total_rounds}},
    });
    return std::nullopt;
  }
  if (result.error().code() == ErrorCode::kAborted && stop.ShouldStop()) {
    return Interruption{.stop = stop.reason()};
  }
  return Failure(result.error().message(), /*from_training=*/true);
}

// Runs the user's entry point as a child process in its own process group,
// forwarding a stop as SIGTERM and SIGKILL after the grace.
std::optional<Interruption> RunEntryPoint(const jobs::JobSpec& spec, const TrainerOptions& options,
                                          StopController& stop) {
  TrainingEnvironmentInputs inputs{
      .root = options.root,
      .num_cpus = options.num_cpus,
      .base = options.base_environment,
      .tandem = options.tandem_environment,
  };
  SpawnOptions spawn{
      .argv = spec.algorithm.entry_point,
      .environment = BuildTrainingEnvironment(spec, inputs),
      .working_dir = spec.algorithm.source_dir,
      .group = ProcessGroup::kNewGroup,
  };
  auto child = ChildProcess::Spawn(spawn);
  if (!child) return Failure(child.error().message(), /*from_training=*/true);
  spdlog::info("entry point started job={} pid={} program={}", JobLabel(spec, options),
               child->pid(), spec.algorithm.entry_point.front());

  while (true) {
    if (auto status = child->WaitFor(std::chrono::milliseconds(200))) {
      spdlog::info("entry point ended job={} status=\"{}\"", JobLabel(spec, options),
                   status->Describe());
      if (status->success()) return std::nullopt;
      return Failure(DescribeEntryPointExit(*status), /*from_training=*/true);
    }
    if (StopReason reason = stop.reason(); reason != StopReason::kNone) {
      spdlog::info("stopping entry point job={} pid={} grace_ms={}", JobLabel(spec, options),
                   child->pid(), options.stop_grace.count());
      ExitStatus status = child->Terminate(options.stop_grace);
      spdlog::info("entry point ended job={} status=\"{}\"", JobLabel(spec, options),
                   status.Describe());
      return Interruption{.stop = reason};
    }
  }
}

bool IsXgboostModel(const fs::path& path) {
  auto text = ReadFile(path);
  if (!text) return false;
  Json model = Json::parse(*text, nullptr, /*allow_exceptions=*/false);
  return model.is_object() && model.contains("learner");
}

// Writes the minimal manifest of a model that user code produced.
Status WriteDefaultManifest(const jobs::JobSpec& spec, const TrainerOptions& options) {
  const fs::path model_dir = options.root.model_dir();
  const bool xgboost = IsXgboostModel(model_dir / model::kDefaultModelFileName);
  Json manifest = {
      {"FormatVersion", model::kManifestFormatVersion},
      {"ModelName", spec.model_name},
      {"Framework", xgboost ? "xgboost" : "custom"},
      {"Lineage",
       {{"JobId", options.job_id},
        {"TrainingJobName", spec.training_job_name},
        {"Repository", spec.repository},
        {"HyperParameters", spec.hyperparameters},
        {"RuntimeVersion", TANDEM_VERSION},
        {"CreatedAt", FormatTimestamp(options.clock->NowMillis())}}},
      {"SelfTests", Json::array()},
  };
  if (xgboost) manifest["ModelFile"] = model::kDefaultModelFileName;
  return WriteFileAtomic(model_dir / model::kManifestFileName, manifest.dump(2) + "\n");
}

// Archives model/ (adding a manifest when it has none) and uploads it; returns
// the Details.ModelPackage of the Completed event.
Result<Json> PackageModel(const jobs::JobSpec& spec, const TrainerOptions& options) {
  const fs::path manifest_path = options.root.model_dir() / model::kManifestFileName;
  std::error_code error;
  if (!fs::exists(manifest_path, error)) {
    TANDEM_RETURN_IF_ERROR_CTX(WriteDefaultManifest(spec, options), "write manifest");
  }
  TANDEM_ASSIGN_OR_RETURN(std::string manifest_text, ReadFile(manifest_path));
  TANDEM_ASSIGN_OR_RETURN(Json manifest, ParseJson(manifest_text, manifest_path.string()));

  const fs::path archive = options.root.output_dir() / "model-package.tar";
  auto package = model::ArchivePackage(options.root.model_dir(), archive);
  if (!package) return std::unexpected(package.error().WithContext("archive model package"));
  if (options.upload) {
    auto answer = options.upload(archive);
    if (!answer) return std::unexpected(answer.error().WithContext("upload model package"));
    if (answer->value("Digest", "") != package->digest) {
      spdlog::warn("control plane computed another package digest job={} ours={} theirs={}",
                   JobLabel(spec, options), package->digest, answer->value("Digest", ""));
    }
  }
  return Json{{"Digest", package->digest},
              {"SizeBytes", package->size_bytes},
              {"Manifest", std::move(manifest)}};
}

// Reports how the job ended and returns the exit code.
int Finish(const jobs::JobSpec& spec, const TrainerOptions& options, EventReporter& events,
           const Interruption& end) {
  const std::string job = JobLabel(spec, options);
  if (end.stop == StopReason::kStopRequested) {
    spdlog::info("job stopped job={}", job);
    events.Report({.status = "Stopped", .secondary_status = "Stopped",
                   .message = "stopped on request"});
    events.Flush(options.event_flush_timeout);
    return kExitStopped;
  }

  std::string reason = end.reason;
  std::string secondary = "Failed";
  if (end.stop == StopReason::kMaxRuntimeExceeded) {
    reason = fmt::format("MaxRuntimeInSeconds of {} s exceeded", spec.max_runtime_s);
    secondary = "MaxRuntimeExceeded";
  } else if (end.from_training) {
    if (std::string user_reason = UserFailureReason(options.root); !user_reason.empty()) {
      reason = std::move(user_reason);
    }
  }
  // Leave the reason where SageMaker's contract puts it, unless the user did.
  std::error_code error;
  if (!fs::exists(options.root.failure_file(), error) && fs::is_directory(options.root.output_dir(), error)) {
    if (Status written = WriteFileAtomic(options.root.failure_file(), reason + "\n"); !written) {
      spdlog::warn("cannot write failure file job={} error=\"{}\"", job, written.error().message());
    }
  }
  spdlog::info("job failed job={} secondary_status={} reason=\"{}\"", job, secondary, reason);
  events.Report({.status = "Failed", .secondary_status = secondary, .message = reason});
  events.Flush(options.event_flush_timeout);
  return kExitFailed;
}

}  // namespace

bool ProgressThrottle::ShouldSend(std::string_view phase) {
  const int64_t now = clock_.NowMillis();
  if (sent_any_ && phase == last_phase_ && now - last_sent_ms_ < interval_ms_) return false;
  sent_any_ = true;
  last_phase_ = std::string(phase);
  last_sent_ms_ = now;
  return true;
}

int RunTrainingJob(const jobs::JobSpec& spec, const TrainerOptions& options, EventReporter& events,
                   StopController& stop) {
  const std::string job = JobLabel(spec, options);
  const JobRoot& root = options.root;
  spdlog::info("job started job={} name={} job_root={}", job, spec.training_job_name,
               root.root.string());

  // Step 1: lay out the job root as SageMaker's contract describes it.
  events.Report({.status = "InProgress", .secondary_status = "Downloading",
                 .message = "preparing the job root and input channels"});
  if (Status laid_out = LayOutJobRoot(root, spec, options.job_id); !laid_out) {
    return Finish(spec, options, events, Failure(laid_out.error().message()));
  }

  // Step 2: make each channel's files available under input/data/<channel>/.
  if (Status fetched = FetchChannels(root, spec, options.fetch); !fetched) {
    return Finish(spec, options, events, Failure(fetched.error().message()));
  }
  if (stop.ShouldStop()) return Finish(spec, options, events, {.stop = stop.reason()});

  // Step 3: train, with the built-in algorithm or the user's entry point.
  std::optional<Interruption> trained;
  if (spec.algorithm.algorithm_name) {
    events.Report({.status = "InProgress", .secondary_status = "Training",
                   .message = "training with built-in algorithm " + *spec.algorithm.algorithm_name});
    trained = RunBuiltInAlgorithm(*spec.algorithm.algorithm_name, options, events, stop);
  } else {
    events.Report({.status = "InProgress", .secondary_status = "Training",
                   .message = "running entry point " + spec.algorithm.entry_point.front()});
    trained = RunEntryPoint(spec, options, stop);
  }
  if (trained) return Finish(spec, options, events, *trained);
  if (stop.ShouldStop()) return Finish(spec, options, events, {.stop = stop.reason()});

  // Step 4: package model/ and upload it.
  events.Report({.status = "InProgress", .secondary_status = "Uploading",
                 .message = "uploading the model package"});
  auto package = PackageModel(spec, options);
  if (!package) return Finish(spec, options, events, Failure(package.error().message()));

  // Step 5: report completion with the package it produced.
  spdlog::info("job completed job={} digest={} size_bytes={}", job,
               (*package)["Digest"].get<std::string>(), (*package)["SizeBytes"].get<uint64_t>());
  events.Report({.status = "Completed", .secondary_status = "Completed",
                 .message = "training job completed",
                 .details = {{"ModelPackage", std::move(*package)}}});
  events.Flush(options.event_flush_timeout);
  return kExitCompleted;
}

}  // namespace tandem::runtime
