#include "backends/slurm_backend.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>
#include <utility>

#include "backends/warm_handoff.h"
#include "common/file_util.h"
#include "common/json_util.h"

namespace tandem::backends {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kNativePrefix = "slurm:";
constexpr std::string_view kEnvFileName = "slurm-job.env";
constexpr std::string_view kScriptName = "slurm-job.sh";
constexpr std::string_view kLaunchRecordName = "slurm-launch.json";
constexpr std::string_view kWarmFifoPath = "warm-worker/handoff";
constexpr std::string_view kWarmHandedName = "handed";
// How long past its keep-alive period an allocation no job was handed to
// waits before its batch script ends it.
constexpr int64_t kUnclaimedGraceSeconds = 10;

std::string NativeId(std::string_view slurm_job_id) {
  return fmt::format("{}{}", kNativePrefix, slurm_job_id);
}

bool AllDigits(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Returns "<job id>" or "<job id>.<step id>".
Result<std::string> ParseNativeId(std::string_view native_id) {
  std::string_view id = native_id.substr(std::min(native_id.size(), kNativePrefix.size()));
  size_t dot = id.find('.');
  bool valid = AllDigits(id.substr(0, dot)) &&
               (dot == std::string_view::npos || AllDigits(id.substr(dot + 1)));
  if (!native_id.starts_with(kNativePrefix) || !valid) {
    return InvalidArgument(fmt::format(
        "native id \"{}\" is not a Slurm backend id; expected slurm:<job id> or "
        "slurm:<job id>.<step id>",
        native_id));
  }
  return std::string(id);
}

// Returns the batch job name of a job's attempt: "tandem-<job id>", with
// "-attempt-<N>" appended after the first attempt.
std::string JobName(const LaunchRequest& request) {
  if (request.attempt <= 1) return fmt::format("tandem-{}", request.job_id);
  return fmt::format("tandem-{}-attempt-{}", request.job_id, request.attempt);
}

// Quotes `value` for a POSIX shell: inside single quotes only ' needs care.
std::string ShellQuote(std::string_view value) {
  std::string quoted = "'";
  for (char c : value) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return quoted + "'";
}

bool ValidEnvironmentName(std::string_view name) {
  if (name.empty() || (name.front() >= '0' && name.front() <= '9')) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  });
}

// Returns the job's ResourceConfig.KeepAlivePeriodInSeconds from its spec; 0
// when the request carries no spec.
Result<int64_t> KeepAliveSeconds(const LaunchRequest& request) {
  if (request.spec_json.empty()) return 0;
  std::string what = fmt::format("spec of job {}", request.job_id);
  TANDEM_ASSIGN_OR_RETURN(Json spec, ParseJson(request.spec_json, what));
  if (!spec.is_object() || !spec.contains("ResourceConfig")) return 0;
  const Json& resources = spec["ResourceConfig"];
  if (!resources.is_object() || !resources.contains("KeepAlivePeriodInSeconds")) return 0;
  TANDEM_ASSIGN_OR_RETURN(int64_t seconds, GetInt(resources, "KeepAlivePeriodInSeconds",
                                                  what + ": ResourceConfig"));
  if (seconds < 0) {
    return InvalidArgument(fmt::format(
        "{}: ResourceConfig.KeepAlivePeriodInSeconds must not be negative, got {}", what, seconds));
  }
  return seconds;
}

bool IsActive(ObservedState state) {
  return state == ObservedState::kPending || state == ObservedState::kRunning;
}

// Returns the first line of a command's output, for messages.
std::string Summary(std::string_view output) {
  std::string_view line = output.substr(0, output.find('\n'));
  while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.remove_suffix(1);
  return std::string(line.empty() ? "no output" : line);
}

Status ValidateRequest(const LaunchRequest& request) {
  if (request.job_id.empty()) return InvalidArgument("launch request: job_id is empty");
  std::string context = fmt::format("launch request for job {}", request.job_id);
  if (request.job_dir.empty() || !request.job_dir.is_absolute()) {
    return InvalidArgument(fmt::format("{}: job_dir must be an absolute path, got \"{}\"", context,
                                       request.job_dir.string()));
  }
  if (request.cpu_count < 1) {
    return InvalidArgument(
        fmt::format("{}: cpu_count must be at least 1, got {}", context, request.cpu_count));
  }
  if (request.memory_mib < 0) {
    return InvalidArgument(
        fmt::format("{}: memory_mib must not be negative, got {}", context, request.memory_mib));
  }
  if (request.max_runtime_seconds < 1) {
    return InvalidArgument(fmt::format("{}: max_runtime_seconds must be at least 1, got {}",
                                       context, request.max_runtime_seconds));
  }
  for (const auto& [key, value] : request.environment) {
    if (!ValidEnvironmentName(key)) {
      return InvalidArgument(
          fmt::format("{}: environment variable name \"{}\" is not a valid shell name", context, key));
    }
  }
  Result<int64_t> keep_alive_seconds = KeepAliveSeconds(request);
  if (!keep_alive_seconds) return std::unexpected(keep_alive_seconds.error().WithContext(context));
  return Ok();
}

}  // namespace

SlurmBackend::SlurmBackend(SlurmOptions options) : options_(std::move(options)) {
  if (options_.tandem_binary.empty()) {
    std::error_code error;
    options_.tandem_binary = fs::read_symlink("/proc/self/exe", error);
  }
  const char* path = std::getenv("PATH");
  const char* home = std::getenv("HOME");
  const char* slurm_conf = std::getenv("SLURM_CONF");
  command_environment_ = {
      {"PATH", path ? path : "/usr/local/bin:/usr/bin:/bin"},
      {"HOME", home ? home : "/"},
      // Slurm's messages are matched as text, so they must not be translated.
      {"LC_ALL", "C"},
  };
  if (!options_.slurm_conf.empty()) {
    command_environment_["SLURM_CONF"] = options_.slurm_conf.string();
  } else if (slurm_conf) {
    command_environment_["SLURM_CONF"] = slurm_conf;
  }
  killer_ = std::thread([this] { KillLoop(); });
}

SlurmBackend::~SlurmBackend() {
  {
    std::lock_guard lock(mutex_);
    shutting_down_ = true;
  }
  wake_.notify_all();
  killer_.join();
}

Result<CommandOutput> SlurmBackend::Run(std::vector<std::string> argv) const {
  return RunCommand(argv, command_environment_, options_.command_timeout);
}

// Returns the job, or nullopt when slurmctld reports the id as invalid.
Result<std::optional<SlurmJobInfo>> SlurmBackend::ShowJob(const std::string& slurm_job_id) const {
  TANDEM_ASSIGN_OR_RETURN(CommandOutput shown,
                          Run({options_.scontrol_command, "show", "job", "-o", slurm_job_id}));
  if (SaysInvalidJobId(shown.output)) return std::nullopt;
  if (shown.status.success()) {
    if (Result<SlurmJobInfo> info = ParseScontrolShowJob(shown.output)) return *info;
  }
  if (SaysControllerUnreachable(shown.output)) {
    return Unavailable(fmt::format("slurmctld cannot be reached: {}", Summary(shown.output)));
  }

  // scontrol failed in another way or printed something unreadable: ask squeue.
  TANDEM_ASSIGN_OR_RETURN(CommandOutput queued,
                          Run({options_.squeue_command, "--noheader", "--states=all",
                               "--format=%i|%T", "--jobs", slurm_job_id}));
  if (SaysInvalidJobId(queued.output)) return std::nullopt;
  Result<std::vector<SqueueEntry>> entries = ParseSqueueLines(queued.output);
  if (!queued.status.success() || !entries || entries->empty()) {
    return Unavailable(fmt::format("cannot read Slurm job {}: scontrol printed \"{}\", squeue \"{}\"",
                                   slurm_job_id, Summary(shown.output), Summary(queued.output)));
  }
  return SlurmJobInfo{.job_id = slurm_job_id, .job_state = entries->front().job_state};
}

// Returns the Slurm job id of an earlier launch of the job: the one in
// slurm-launch.json, else the newest job with the job's name that Slurm lists.
Result<std::optional<std::string>> SlurmBackend::FindEarlierLaunch(
    const LaunchRequest& request) const {
  fs::path record_path = request.job_dir / kLaunchRecordName;
  if (Result<std::string> text = ReadFile(record_path)) {
    TANDEM_ASSIGN_OR_RETURN(Json record, ParseJson(*text, record_path.string()));
    TANDEM_ASSIGN_OR_RETURN(std::string slurm_job_id,
                            GetString(record, "SlurmJobId", record_path.string()));
    return slurm_job_id;
  }

  TANDEM_ASSIGN_OR_RETURN(CommandOutput queued,
                          Run({options_.squeue_command, "--noheader", "--states=all",
                               "--format=%i|%T", "--name", JobName(request)}));
  if (!queued.status.success()) {
    ErrorCode code = SaysControllerUnreachable(queued.output) ? ErrorCode::kUnavailable
                                                              : ErrorCode::kInternal;
    return std::unexpected(Error(code, fmt::format("squeue failed, so an earlier launch cannot be "
                                                   "ruled out: {}",
                                                   Summary(queued.output))));
  }
  TANDEM_ASSIGN_OR_RETURN(std::vector<SqueueEntry> entries, ParseSqueueLines(queued.output));
  if (entries.empty()) return std::nullopt;
  auto newest = std::max_element(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    return std::stoll(a.job_id) < std::stoll(b.job_id);
  });
  return newest->job_id;
}

Result<LaunchInfo> SlurmBackend::EarlierLaunchInfo(const std::string& slurm_job_id) {
  TANDEM_ASSIGN_OR_RETURN(Observation observed, Describe(NativeId(slurm_job_id)));
  if (observed.state == ObservedState::kUnknown) {
    return Unavailable(fmt::format("Slurm job {} is in a state the backend cannot read: {}",
                                   slurm_job_id, observed.reason));
  }
  bool active = IsActive(observed.state);
  return LaunchInfo{.native_id = NativeId(slurm_job_id),
                    .already_running = active,
                    .already_ended = !active};
}

std::map<std::string, std::string> SlurmBackend::JobEnvironment(const LaunchRequest& request) const {
  std::map<std::string, std::string> environment = {
      {"PATH", command_environment_.at("PATH")},
      {"HOME", command_environment_.at("HOME")},
      {"TANDEM_API_URL", request.api_url},
      {"TANDEM_JOB_ID", request.job_id},
      {"TANDEM_JOB_ATTEMPT", std::to_string(request.attempt)},
      {"TANDEM_JOB_TOKEN", request.job_token},
      {"TANDEM_JOB_ROOT", (request.job_dir / "root").string()},
      {"TANDEM_STOP_GRACE_SECONDS", std::to_string(options_.runtime_stop_grace.count())},
  };
  for (const auto& [key, value] : request.environment) environment[key] = value;
  return environment;
}

Status SlurmBackend::WriteJobFiles(const LaunchRequest& request) const {
  std::map<std::string, std::string> environment = JobEnvironment(request);
  std::string env_text = "# The environment of tandem job " + request.job_id + "; secret.\n";
  for (const auto& [key, value] : environment) {
    env_text += fmt::format("export {}={}\n", key, ShellQuote(value));
  }
  TANDEM_RETURN_IF_ERROR(WriteFileAtomic(request.job_dir / kEnvFileName, env_text,
                                         fs::perms::owner_read | fs::perms::owner_write));

  std::string env_path = ShellQuote((request.job_dir / kEnvFileName).string());
  std::string tandem = ShellQuote(options_.tandem_binary.string());
  std::string script = fmt::format(
      "#!/bin/sh\n"
      "# tandem job {}: runs `tandem train` with the environment of {}, which it\n"
      "# deletes once read so that the job token does not stay on disk.\n"
      ". {}\n"
      "rm -f {}\n",
      request.job_id, kEnvFileName, env_path, env_path);
  TANDEM_ASSIGN_OR_RETURN(int64_t keep_alive_seconds, KeepAliveSeconds(request));
  if (keep_alive_seconds == 0) {
    script += fmt::format("exec {} train\n", tandem);
  } else {
    fs::path worker_dir = (request.job_dir / kWarmFifoPath).parent_path();
    std::string fifo = ShellQuote((request.job_dir / kWarmFifoPath).string());
    std::string handed = ShellQuote((worker_dir / kWarmHandedName).string());
    script += fmt::format(
        "{} train\n"
        "status=$?\n"
        "# Keep the allocation: a warm agent waits in step 0 for the next matching job.\n"
        "# Unless a job was handed to it, the agent is stopped {} s after the\n"
        "# keep-alive period, also when the control plane never kept the allocation.\n"
        "unset TANDEM_JOB_TOKEN TANDEM_JOB_ID TANDEM_JOB_ROOT\n"
        "mkdir -p -m 700 {} && rm -f {} {} && mkfifo -m 600 {} || exit $status\n"
        "(sleep {}; [ -e {} ] || kill -TERM $$) &\n"
        "exec srun --ntasks=1 --export=ALL {} train --warm-agent {}\n",
        tandem, kUnclaimedGraceSeconds, ShellQuote(worker_dir.string()), fifo, handed, fifo,
        keep_alive_seconds + kUnclaimedGraceSeconds, handed, tandem, fifo);
  }
  return WriteFileAtomic(request.job_dir / kScriptName, script,
                         fs::perms::owner_all | fs::perms::group_read | fs::perms::others_read);
}

std::vector<std::string> SlurmBackend::SbatchArgv(const LaunchRequest& request) const {
  std::vector<std::string> argv = {options_.sbatch_command, "--parsable"};
  argv.insert(argv.end(), options_.extra_sbatch_args.begin(), options_.extra_sbatch_args.end());
  if (!options_.partition.empty()) argv.push_back("--partition=" + options_.partition);
  if (!options_.account.empty()) argv.push_back("--account=" + options_.account);
  argv.push_back("--job-name=" + JobName(request));
  argv.push_back("--nodes=1");
  argv.push_back("--ntasks=1");
  argv.push_back(fmt::format("--cpus-per-task={}", request.cpu_count));
  if (request.memory_mib > 0) argv.push_back(fmt::format("--mem={}M", request.memory_mib));
  // A kept allocation must cover the keep-alive period and then a job of the
  // same maximum runtime (LaunchOnWarmWorker rejects longer ones).
  int64_t keep_alive_seconds = KeepAliveSeconds(request).value_or(0);
  int64_t seconds = request.max_runtime_seconds;
  if (keep_alive_seconds > 0) seconds = 2 * request.max_runtime_seconds + keep_alive_seconds;
  argv.push_back("--time=" + SlurmTimeLimit(seconds, options_.time_limit_margin.count()));
  argv.push_back("--no-requeue");
  argv.push_back("--export=NONE");
  argv.push_back("--chdir=" + request.job_dir.string());
  argv.push_back("--output=" + (request.job_dir / "job.log").string());
  argv.push_back("--open-mode=append");
  argv.push_back((request.job_dir / kScriptName).string());
  return argv;
}

// NOTE: sbatch rejects CPUs or memory beyond every node only on clusters with
// EnforcePartLimits=ALL (the test cluster sets it). Elsewhere such a job is
// accepted and stays PENDING with reason PartitionConfig or BadConstraints, which
// Describe reports as Pending. Failing it would take a check of those reasons.
Result<std::string> SlurmBackend::Submit(const LaunchRequest& request) const {
  TANDEM_ASSIGN_OR_RETURN(CommandOutput submitted, Run(SbatchArgv(request)));
  if (!submitted.status.success()) {
    ErrorCode code = ClassifySbatchFailure(submitted.output);
    return std::unexpected(Error(code, fmt::format("sbatch failed ({}): {}",
                                                   submitted.status.Describe(),
                                                   Summary(submitted.output))));
  }
  return ParseSbatchJobId(submitted.output);
}

Result<LaunchInfo> SlurmBackend::Launch(const LaunchRequest& request) {
  TANDEM_RETURN_IF_ERROR(ValidateRequest(request));
  std::string context = fmt::format("launch job {} on Slurm", request.job_id);

  // Step 1: a job submitted before is never submitted again.
  TANDEM_RETURN_IF_ERROR_CTX(CreateDirectories(request.job_dir / "root"), context);
  Result<std::optional<std::string>> earlier = FindEarlierLaunch(request);
  if (!earlier) return std::unexpected(earlier.error().WithContext(context));
  if (*earlier) {
    spdlog::info("job already submitted to Slurm job={} slurm_job_id={}", request.job_id, **earlier);
    Result<LaunchInfo> info = EarlierLaunchInfo(**earlier);
    if (!info) return std::unexpected(info.error().WithContext(context));
    return info;
  }

  // Step 2: the environment file, the batch script, sbatch.
  TANDEM_RETURN_IF_ERROR_CTX(WriteJobFiles(request), context);
  Result<std::string> slurm_job_id = Submit(request);
  if (!slurm_job_id) {
    spdlog::warn("sbatch failed job={} error=\"{}\"", request.job_id, slurm_job_id.error().message());
    return std::unexpected(slurm_job_id.error().WithContext(context));
  }

  // Step 3: record the Slurm job id, so that a later Launch finds it even
  // after Slurm has forgotten the job.
  Json record = {{"JobId", request.job_id},
                 {"Attempt", request.attempt},
                 {"SlurmJobId", *slurm_job_id},
                 {"KeepAliveSeconds", KeepAliveSeconds(request).value_or(0)},
                 {"MaxRuntimeSeconds", request.max_runtime_seconds}};
  if (Status written = WriteFileAtomic(request.job_dir / kLaunchRecordName, record.dump(2) + "\n");
      !written) {
    spdlog::warn("cannot record Slurm job id job={} slurm_job_id={} error=\"{}\"", request.job_id,
                 *slurm_job_id, written.error().message());
  }
  spdlog::info("job launched job={} attempt={} backend=slurm slurm_job_id={} cpus={} memory_mib={} "
               "job_dir={}",
               request.job_id, request.attempt, *slurm_job_id, request.cpu_count,
               request.memory_mib, request.job_dir.string());
  return LaunchInfo{.native_id = NativeId(*slurm_job_id)};
}

Status SlurmBackend::Cancel(const std::string& slurm_job_id, bool signal_term_only) const {
  std::vector<std::string> argv = {options_.scancel_command};
  if (signal_term_only) argv.push_back("--signal=TERM");
  if (signal_term_only && slurm_job_id.find('.') == std::string::npos) argv.push_back("--full");
  argv.push_back(slurm_job_id);
  TANDEM_ASSIGN_OR_RETURN(CommandOutput cancelled, Run(argv));
  // scancel of a job that already ended prints "already completing or completed".
  bool ended = cancelled.output.find("already completing or completed") != std::string::npos ||
               SaysInvalidJobId(cancelled.output);
  if (cancelled.status.success() || ended) return Ok();
  ErrorCode code =
      SaysControllerUnreachable(cancelled.output) ? ErrorCode::kUnavailable : ErrorCode::kInternal;
  return std::unexpected(Error(code, fmt::format("scancel of Slurm job {} failed: {}",
                                                 slurm_job_id, Summary(cancelled.output))));
}

Status SlurmBackend::Stop(std::string_view native_id, std::chrono::seconds grace) {
  // A step id signals only the step, so the kept allocation's batch script
  // ends with it rather than before it.
  TANDEM_ASSIGN_OR_RETURN(std::string slurm_job_id, ParseNativeId(native_id));
  std::string context = fmt::format("stop Slurm job {}", slurm_job_id);
  Result<std::optional<SlurmJobInfo>> job = ShowJob(slurm_job_id.substr(0, slurm_job_id.find('.')));
  if (!job) return std::unexpected(job.error().WithContext(context));
  if (!*job) return Ok();  // slurmctld no longer lists it, so it ended long ago.

  ObservedState state = SlurmStateRuleFor((*job)->job_state).state;
  if (state == ObservedState::kPending) {
    TANDEM_RETURN_IF_ERROR_CTX(Cancel(slurm_job_id, false), context);
    spdlog::info("pending Slurm job cancelled slurm_job_id={}", slurm_job_id);
    return Ok();
  }
  if (state != ObservedState::kRunning) return Ok();

  // The runtime handles SIGTERM: it stops the user's process within its own
  // grace and reports Stopped. The kill after `grace` is the backstop.
  TANDEM_RETURN_IF_ERROR_CTX(Cancel(slurm_job_id, true), context);
  {
    std::lock_guard lock(mutex_);
    pending_kills_.push_back(
        {.slurm_job_id = slurm_job_id, .deadline = std::chrono::steady_clock::now() + grace});
  }
  wake_.notify_all();
  spdlog::info("job stop requested backend=slurm slurm_job_id={} grace_s={}", slurm_job_id,
               grace.count());
  return Ok();
}

// A job on a kept allocation ("<job id>.<step id>") is the allocation's last
// step: the batch script ends with it, so the allocation's state is the step's.
Result<Observation> SlurmBackend::Describe(std::string_view native_id) {
  TANDEM_ASSIGN_OR_RETURN(std::string id, ParseNativeId(native_id));
  std::string slurm_job_id = id.substr(0, id.find('.'));
  Result<std::optional<SlurmJobInfo>> job = ShowJob(slurm_job_id);
  if (!job) {
    return std::unexpected(job.error().WithContext(fmt::format("describe Slurm job {}", slurm_job_id)));
  }
  if (!*job) {
    return Observation{
        .state = ObservedState::kGone,
        .reason = fmt::format("Slurm no longer knows job {}: it ended more than MinJobAge ago, "
                              "or slurmctld lost its state",
                              slurm_job_id),
    };
  }
  return ObservationFor(**job);
}

void SlurmBackend::KillLoop() {
  std::unique_lock lock(mutex_);
  while (!shutting_down_) {
    auto now = std::chrono::steady_clock::now();
    std::vector<std::string> due;
    std::erase_if(pending_kills_, [&](const PendingKill& kill) {
      if (kill.deadline > now) return false;
      due.push_back(kill.slurm_job_id);
      return true;
    });

    // scancel runs without the lock, so Stop is never blocked behind it.
    if (!due.empty()) {
      lock.unlock();
      for (const std::string& slurm_job_id : due) {
        if (Status cancelled = Cancel(slurm_job_id, false); !cancelled) {
          spdlog::warn("scancel after the stop grace failed slurm_job_id={} error=\"{}\"",
                       slurm_job_id, cancelled.error().message());
        } else {
          spdlog::info("Slurm job cancelled after the stop grace slurm_job_id={}", slurm_job_id);
        }
      }
      lock.lock();
      continue;
    }

    if (pending_kills_.empty()) {
      wake_.wait(lock);
    } else {
      auto next = std::min_element(pending_kills_.begin(), pending_kills_.end(),
                                   [](const auto& a, const auto& b) { return a.deadline < b.deadline; });
      wake_.wait_until(lock, next->deadline);
    }
  }
}

// ---- Warm workers: kept allocations (see slurm_backend.h) ----

namespace {

constexpr auto kWarmHandoffTimeout = std::chrono::seconds(10);

// Opens the FIFO for writing once the agent has opened it for reading;
// returns -1 when the timeout passes first.
int OpenFifoWhenReady(const fs::path& fifo) {
  const auto deadline = std::chrono::steady_clock::now() + kWarmHandoffTimeout;
  while (true) {
    int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0) return fd;
    // ENXIO: no reader yet; ENOENT: the batch script has not made the FIFO yet.
    if ((errno != ENXIO && errno != ENOENT) || std::chrono::steady_clock::now() >= deadline) {
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

}  // namespace

std::string SlurmBackend::WarmImage() const {
  std::error_code error;
  auto size = fs::file_size(options_.tandem_binary, error);
  if (error) return "";
  auto modified = fs::last_write_time(options_.tandem_binary, error);
  if (error) return "";
  return fmt::format("slurm:{}:{}:{}", options_.tandem_binary.string(), size,
                     modified.time_since_epoch().count());
}

bool SlurmBackend::AllocationRunning(const std::string& slurm_job_id) const {
  Result<std::optional<SlurmJobInfo>> job = ShowJob(slurm_job_id);
  return job && *job && (*job)->job_state == "RUNNING";
}

Result<std::string> SlurmBackend::StartWarmWorker(const std::string& owner_job_id,
                                                  const fs::path& owner_job_dir) {
  std::string context = fmt::format("keep the allocation of job {}", owner_job_id);
  fs::path record_path = owner_job_dir / kLaunchRecordName;
  Result<std::string> text = ReadFile(record_path);
  if (!text) return std::unexpected(text.error().WithContext(context));
  Result<Json> record = ParseJson(*text, record_path.string());
  if (!record) return std::unexpected(record.error().WithContext(context));
  Result<std::string> slurm_job_id = GetString(*record, "SlurmJobId", record_path.string());
  if (!slurm_job_id) return std::unexpected(slurm_job_id.error().WithContext(context));
  int64_t keep_alive_seconds = GetInt(*record, "KeepAliveSeconds", record_path.string()).value_or(0);
  int64_t max_runtime = GetInt(*record, "MaxRuntimeSeconds", record_path.string()).value_or(0);
  if (keep_alive_seconds <= 0 || slurm_job_id->find('.') != std::string::npos) {
    return FailedPrecondition(fmt::format(
        "{}: Slurm job {} was not submitted to be kept (no keep-alive period, or it ran on a kept "
        "allocation)",
        context, *slurm_job_id));
  }
  if (!AllocationRunning(*slurm_job_id)) {
    return FailedPrecondition(
        fmt::format("{}: Slurm job {} is not running any more", context, *slurm_job_id));
  }
  std::lock_guard lock(mutex_);
  kept_[*slurm_job_id] = KeptAllocation{.slurm_job_id = *slurm_job_id,
                                        .fifo = owner_job_dir / kWarmFifoPath,
                                        .max_runtime_seconds = max_runtime};
  spdlog::info("Slurm allocation kept job={} slurm_job_id={}", owner_job_id, *slurm_job_id);
  return *slurm_job_id;
}

bool SlurmBackend::WarmWorkerAlive(std::string_view worker_id) {
  {
    std::lock_guard lock(mutex_);
    auto it = kept_.find(worker_id);
    if (it == kept_.end() || it->second.handing_off) return false;
  }
  return AllocationRunning(std::string(worker_id));
}

Result<LaunchInfo> SlurmBackend::LaunchOnWarmWorker(std::string_view worker_id,
                                                    const LaunchRequest& request) {
  TANDEM_RETURN_IF_ERROR(ValidateRequest(request));
  std::string context =
      fmt::format("hand job {} to the kept Slurm allocation {}", request.job_id, worker_id);

  // Step 1: claim the allocation, so that no second hand-off or terminate touches it.
  KeptAllocation kept;
  {
    std::lock_guard lock(mutex_);
    auto it = kept_.find(worker_id);
    if (it == kept_.end() || it->second.handing_off) {
      return FailedPrecondition(fmt::format("{}: the allocation is gone", context));
    }
    it->second.handing_off = true;
    kept = it->second;
  }
  if (request.max_runtime_seconds > kept.max_runtime_seconds) {
    // The pool marks the worker Terminated after any failed hand-off, so the
    // allocation goes too.
    {
      std::lock_guard lock(mutex_);
      kept_.erase(kept.slurm_job_id);
    }
    (void)Cancel(kept.slurm_job_id, false);
    return FailedPrecondition(fmt::format(
        "{}: MaxRuntimeInSeconds {} is above the {} s the allocation was sized for; it was "
        "cancelled",
        context, request.max_runtime_seconds, kept.max_runtime_seconds));
  }

  // Step 2: Slurm must still run the allocation, and its agent must listen.
  int fd = AllocationRunning(kept.slurm_job_id) ? OpenFifoWhenReady(kept.fifo) : -1;
  {
    std::lock_guard lock(mutex_);
    kept_.erase(kept.slurm_job_id);
  }
  if (fd < 0) {
    (void)Cancel(kept.slurm_job_id, false);
    return FailedPrecondition(fmt::format(
        "{}: the allocation has ended or its agent did not listen within {} s; it was cancelled",
        context, kWarmHandoffTimeout.count()));
  }

  // Step 3: the launch record first, so that a repeated Launch finds the step.
  std::string step_id = kept.slurm_job_id + ".0";
  Json record = {{"JobId", request.job_id}, {"SlurmJobId", step_id}};
  Status prepared = CreateDirectories(request.job_dir / "root");
  if (prepared) {
    prepared = WriteFileAtomic(request.job_dir / kLaunchRecordName, record.dump(2) + "\n");
  }
  if (prepared) {
    // The batch script leaves an allocation alone once this file exists.
    prepared = WriteFileAtomic(kept.fifo.parent_path() / kWarmHandedName, request.job_id + "\n");
  }
  if (!prepared) {
    ::close(fd);
    (void)Cancel(kept.slurm_job_id, false);
    return std::unexpected(prepared.error().WithContext(context));
  }

  // Step 4: the hand-off. An agent that died in between ends the allocation,
  // which Describe then reports for the job.
  Status sent = WriteHandoff(fd, HandoffMessage(request.job_dir, JobEnvironment(request),
                                               request.spec_json));
  ::close(fd);
  if (!sent) {
    spdlog::error("warm hand-off failed job={} slurm_job_id={} error={}", request.job_id,
                  kept.slurm_job_id, sent.error().message());
    (void)Cancel(kept.slurm_job_id, false);
  } else {
    spdlog::info("job handed to a kept Slurm allocation job={} slurm_step={}", request.job_id,
                 step_id);
  }
  return LaunchInfo{.native_id = NativeId(step_id)};
}

void SlurmBackend::TerminateWarmWorker(std::string_view worker_id) {
  {
    std::lock_guard lock(mutex_);
    auto it = kept_.find(worker_id);
    if (it == kept_.end() || it->second.handing_off) return;
    kept_.erase(it);
  }
  std::string slurm_job_id(worker_id);
  if (Status cancelled = Cancel(slurm_job_id, false); !cancelled) {
    spdlog::warn("cannot cancel a kept Slurm allocation slurm_job_id={} error=\"{}\"",
                 slurm_job_id, cancelled.error().message());
    return;
  }
  spdlog::info("kept Slurm allocation cancelled slurm_job_id={}", slurm_job_id);
}

}  // namespace tandem::backends
