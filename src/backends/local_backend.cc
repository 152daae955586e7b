#include "backends/local_backend.h"

#include <signal.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <cstdlib>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/file_util.h"
#include "common/json_util.h"

namespace tandem::backends {
namespace {

namespace fs = std::filesystem;
using SteadyTime = std::chrono::steady_clock::time_point;

constexpr std::string_view kLaunchRecordName = "launch.json";
constexpr std::string_view kExitFileName = "exit.json";

std::string NativeId(pid_t pid) { return fmt::format("pid:{}", pid); }

Result<pid_t> ParseNativeId(std::string_view native_id) {
  constexpr std::string_view kPrefix = "pid:";
  pid_t pid = 0;
  if (native_id.starts_with(kPrefix)) {
    std::string_view digits = native_id.substr(kPrefix.size());
    auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), pid);
    if (error == std::errc() && end == digits.data() + digits.size() && pid > 0) return pid;
  }
  return InvalidArgument(
      fmt::format("native id \"{}\" is not a local backend id; expected pid:<number>", native_id));
}

Observation EndedObservation(const ExitStatus& status) {
  return Observation{
      .state = status.success() ? ObservedState::kSucceeded : ObservedState::kFailed,
      .reason = status.Describe(),
      .exit_code = status.exit_code,
  };
}

// Returns how a launch that is not our child ended: from the exit file its
// runtime writes just before exiting (TANDEM_EXIT_FILE), else kGone.
Observation UnwatchedEnd(const fs::path& job_dir, pid_t pid) {
  fs::path exit_path = job_dir / kExitFileName;
  auto text = ReadFile(exit_path);
  auto record = text ? ParseJson(*text, exit_path.string()) : std::unexpected(text.error());
  auto exit_code = record ? GetInt(*record, "ExitCode", "") : std::unexpected(record.error());
  if (exit_code) {
    ExitStatus status{.exit_code = static_cast<int>(*exit_code)};
    return EndedObservation(status);
  }
  return Observation{
      .state = ObservedState::kGone,
      .reason = fmt::format("process {} is no longer running and its exit status was not "
                            "recorded (the control plane was down when it ended)",
                            pid),
  };
}

// Turns a wall-clock time of an earlier launch into this process's steady clock.
SteadyTime SteadyFromUnixMillis(int64_t unix_millis) {
  int64_t age_ms = SystemClock::Instance().NowMillis() - unix_millis;
  return std::chrono::steady_clock::now() - std::chrono::milliseconds(age_ms);
}

}  // namespace

std::string_view Name(ObservedState state) {
  switch (state) {
    case ObservedState::kUnknown: return "Unknown";
    case ObservedState::kPending: return "Pending";
    case ObservedState::kRunning: return "Running";
    case ObservedState::kSucceeded: return "Succeeded";
    case ObservedState::kFailed: return "Failed";
    case ObservedState::kGone: return "Gone";
  }
  return "Unknown";
}

// One launch of `tandem train`, ours (child set) or found in a launch record
// written by an earlier backend (child empty). Guarded by LocalBackend::mutex_.
struct LocalBackend::LaunchRecord {
  std::string job_id;
  int64_t attempt = 1;
  fs::path job_dir;
  pid_t pid = 0;
  uint64_t start_time = 0;
  int64_t launched_at_ms = 0;
  int64_t max_runtime_seconds = 0;
  std::optional<ChildProcess> child;
  SteadyTime backstop_deadline;
  std::optional<SteadyTime> kill_deadline;  // set by Stop
  bool stop_requested = false;
  bool backstop_fired = false;
  std::optional<Observation> ended;  // set once the process is known to be gone

  // True while the recorded process still runs (not the pid reused by another).
  bool StillRunning() {
    if (ended) return false;
    if (child) return !child->HasExited();
    return ProcessStartTime(pid) == start_time;
  }

  Json Record() const {
    Json record = {{"JobId", job_id},
                   {"Attempt", attempt},
                   {"Pid", pid},
                   {"StartTime", start_time},
                   {"LaunchedAt", FormatTimestamp(launched_at_ms)},
                   {"MaxRuntimeSeconds", max_runtime_seconds}};
    if (ended && ended->state != ObservedState::kGone) {
      if (ended->exit_code) {
        record["ExitCode"] = *ended->exit_code;
      }
      record["State"] = Name(ended->state);
      record["Reason"] = ended->reason;
    }
    return record;
  }

  Status WriteRecord() const {
    return WriteFileAtomic(job_dir / kLaunchRecordName, Record().dump(2) + "\n");
  }
};

LocalBackend::LocalBackend(LocalBackendOptions options, ExitCallback on_exit)
    : options_(std::move(options)), on_exit_(std::move(on_exit)) {
  if (options_.tandem_binary.empty()) {
    std::error_code error;
    options_.tandem_binary = fs::read_symlink("/proc/self/exe", error);
  }
  LoadLaunchRecords();
  reaper_ = std::thread([this] { ReaperLoop(); });
}

LocalBackend::~LocalBackend() {
  {
    std::lock_guard lock(mutex_);
    shutting_down_ = true;
    KillWarmWorkers();
    // Children keep running; a later backend finds them through launch.json.
    for (auto& [key, launch] : launches_) {
      if (launch->child) launch->child->Release();
    }
  }
  wake_.notify_all();
  reaper_.join();
}

std::string LocalBackend::LaunchKey(std::string_view job_id, int64_t attempt) {
  return fmt::format("{}/{}", job_id, attempt);
}

void LocalBackend::LoadLaunchRecords() {
  std::error_code error;
  if (options_.jobs_dir.empty() || !fs::is_directory(options_.jobs_dir, error)) return;
  // A job's first attempt has its directory right under jobs_dir, and a later
  // attempt a directory inside the first one's.
  for (const fs::directory_entry& entry : fs::directory_iterator(options_.jobs_dir, error)) {
    LoadLaunchRecord(entry.path());
    std::error_code inner_error;
    for (const fs::directory_entry& inner : fs::directory_iterator(entry.path(), inner_error)) {
      if (inner.is_directory(inner_error)) LoadLaunchRecord(inner.path());
    }
  }
}

void LocalBackend::LoadLaunchRecord(const fs::path& job_dir) {
  fs::path record_path = job_dir / kLaunchRecordName;
  auto text = ReadFile(record_path);
  if (!text) return;
  auto record = ParseJson(*text, record_path.string());
  auto launch = std::make_shared<LaunchRecord>();
  launch->job_dir = job_dir;
  auto job_id = record ? GetString(*record, "JobId", "") : std::unexpected(record.error());
  auto pid = job_id ? GetInt(*record, "Pid", "") : std::unexpected(job_id.error());
  auto start = pid ? GetInt(*record, "StartTime", "") : std::unexpected(pid.error());
  auto launched = start ? GetString(*record, "LaunchedAt", "") : std::unexpected(start.error());
  auto launched_ms = launched ? ParseTimestamp(*launched) : std::unexpected(launched.error());
  if (!launched_ms) {
    spdlog::warn("ignoring unreadable launch record path={} error={}", record_path.string(),
                 launched_ms.error().message());
    return;
  }
  launch->job_id = *job_id;
  launch->attempt = record->value("Attempt", int64_t{1});
  launch->pid = static_cast<pid_t>(*pid);
  launch->start_time = static_cast<uint64_t>(*start);
  launch->launched_at_ms = *launched_ms;
  launch->max_runtime_seconds = record->value("MaxRuntimeSeconds", int64_t{86400});
  launch->backstop_deadline = SteadyFromUnixMillis(*launched_ms) +
                              std::chrono::seconds(launch->max_runtime_seconds) +
                              options_.backstop_grace;
  if (record->contains("State")) {
    bool succeeded = record->value("State", "") == Name(ObservedState::kSucceeded);
    launch->ended = Observation{
        .state = succeeded ? ObservedState::kSucceeded : ObservedState::kFailed,
        .reason = record->value("Reason", ""),
    };
    if (record->contains("ExitCode")) launch->ended->exit_code = record->value("ExitCode", 0);
  } else if (!launch->StillRunning()) {
    launch->ended = UnwatchedEnd(launch->job_dir, launch->pid);
  }
  launches_[LaunchKey(launch->job_id, launch->attempt)] = std::move(launch);
}

std::map<std::string, std::string> LocalBackend::JobEnvironment(
    const LaunchRequest& request) const {
  std::map<std::string, std::string> environment = {
      {"PATH", std::getenv("PATH") ? std::getenv("PATH") : "/usr/local/bin:/usr/bin:/bin"},
      {"HOME", std::getenv("HOME") ? std::getenv("HOME") : "/"},
      {"TANDEM_API_URL", request.api_url},
      {"TANDEM_JOB_ID", request.job_id},
      {"TANDEM_JOB_ATTEMPT", std::to_string(request.attempt)},
      {"TANDEM_JOB_TOKEN", request.job_token},
      {"TANDEM_JOB_ROOT", (request.job_dir / "root").string()},
      {"TANDEM_STOP_GRACE_SECONDS", std::to_string(options_.runtime_stop_grace.count())},
      {"TANDEM_EXIT_FILE", (request.job_dir / kExitFileName).string()},
  };
  // Test only: lets a test server make its runtimes lose events (runtime/events.h).
  if (const char* dropped = std::getenv("TANDEM_TEST_DROP_EVENTS")) {
    environment["TANDEM_TEST_DROP_EVENTS"] = dropped;
  }
  for (const auto& [key, value] : request.environment) environment[key] = value;
  return environment;
}

Result<LaunchInfo> LocalBackend::Launch(const LaunchRequest& request) {
  if (request.job_id.empty()) return InvalidArgument("launch request: job_id is empty");
  if (request.job_dir.empty()) {
    return InvalidArgument(fmt::format("launch request for job {}: job_dir is empty", request.job_id));
  }
  std::string context = fmt::format("launch job {}", request.job_id);
  std::lock_guard lock(mutex_);

  // Step 1: an attempt launched before, running or ended, is not started again.
  if (auto it = launches_.find(LaunchKey(request.job_id, request.attempt)); it != launches_.end()) {
    bool running = it->second->StillRunning();
    return LaunchInfo{.native_id = NativeId(it->second->pid),
                      .already_running = running,
                      .already_ended = !running};
  }
  if (std::optional<LaunchInfo> adopted = AdoptUnrecordedLaunch(request)) return *adopted;

  // Step 2: the job directory, the environment and the command line.
  TANDEM_RETURN_IF_ERROR_CTX(CreateDirectories(request.job_dir / "root"), context);
  std::map<std::string, std::string> environment = JobEnvironment(request);
  SpawnOptions spawn{
      .argv = {options_.tandem_binary.string(), "train"},
      .environment = std::move(environment),
      .working_dir = request.job_dir,
      .log_file = request.job_dir / "job.log",
      .group = ProcessGroup::kNewSession,
  };

  // Step 3: start it and record it before answering, so that a restarted
  // control plane can find it.
  auto child = ChildProcess::Spawn(spawn);
  if (!child) return std::unexpected(child.error().WithContext(context));
  return RecordLaunch(request, std::move(*child));
}

std::optional<LaunchInfo> LocalBackend::AdoptUnrecordedLaunch(const LaunchRequest& request) {
  // The log file is opened just before the spawn, so without it no earlier
  // launch can have started and the /proc scan is skipped.
  std::error_code error;
  if (!fs::exists(request.job_dir / "job.log", error)) return std::nullopt;
  // NOTE: a runtime that started without a record and has already exited
  // is not found here, so its job starts again. That needs a runtime whose
  // end never reached the store (killed, or its reports failed for the whole
  // retry window); closing it would take a record written before the spawn.
  // The job root is the attempt's own, so an earlier attempt is never adopted.
  std::vector<pid_t> found = FindSessionLeadersWithEnvironment(
      fmt::format("TANDEM_JOB_ROOT={}", (request.job_dir / "root").string()));
  if (found.empty()) return std::nullopt;

  auto launch = std::make_shared<LaunchRecord>();
  launch->job_id = request.job_id;
  launch->attempt = request.attempt;
  launch->job_dir = request.job_dir;
  launch->pid = found.front();
  launch->start_time = ProcessStartTime(launch->pid).value_or(0);
  launch->launched_at_ms = SystemClock::Instance().NowMillis();
  launch->max_runtime_seconds = request.max_runtime_seconds;
  launch->backstop_deadline = std::chrono::steady_clock::now() +
                              std::chrono::seconds(request.max_runtime_seconds) +
                              options_.backstop_grace;
  if (Status written = launch->WriteRecord(); !written) {
    spdlog::warn("cannot record an adopted launch job={} pid={} error={}", request.job_id,
                 launch->pid, written.error().message());
  }
  launches_[LaunchKey(request.job_id, request.attempt)] = launch;
  spdlog::warn("found a running launch that its control plane did not record; adopting it "
               "job={} pid={}",
               request.job_id, launch->pid);
  wake_.notify_all();
  return LaunchInfo{.native_id = NativeId(launch->pid), .already_running = true};
}

Result<LaunchInfo> LocalBackend::RecordLaunch(const LaunchRequest& request, ChildProcess child,
                                              bool write_record) {
  auto launch = std::make_shared<LaunchRecord>();
  launch->job_id = request.job_id;
  launch->attempt = request.attempt;
  launch->job_dir = request.job_dir;
  launch->pid = child.pid();
  launch->start_time = ProcessStartTime(child.pid()).value_or(0);
  launch->launched_at_ms = SystemClock::Instance().NowMillis();
  launch->max_runtime_seconds = request.max_runtime_seconds;
  launch->backstop_deadline = std::chrono::steady_clock::now() +
                              std::chrono::seconds(request.max_runtime_seconds) +
                              options_.backstop_grace;
  launch->child.emplace(std::move(child));
  if (Status written = write_record ? launch->WriteRecord() : Ok(); !written) {
    launch->child->Terminate(std::chrono::milliseconds(0));
    return std::unexpected(written.error().WithContext(
        fmt::format("launch job {}", request.job_id)));
  }
  launches_[LaunchKey(request.job_id, request.attempt)] = launch;
  spdlog::info("job launched job={} attempt={} backend=local pid={} job_dir={}", request.job_id,
               request.attempt, launch->pid, request.job_dir.string());
  wake_.notify_all();
  return LaunchInfo{.native_id = NativeId(launch->pid), .already_running = false};
}

Status LocalBackend::WriteLaunchRecord(const std::string& job_id, int64_t attempt) {
  auto it = launches_.find(LaunchKey(job_id, attempt));
  if (it == launches_.end()) {
    return NotFound(fmt::format("no launch of job {} attempt {}", job_id, attempt));
  }
  return it->second->WriteRecord();
}

std::shared_ptr<LocalBackend::LaunchRecord> LocalBackend::FindByPid(pid_t pid) {
  // A pid may appear in several records over time; prefer the live one, else
  // the latest launch.
  std::shared_ptr<LaunchRecord> found;
  for (auto& [key, launch] : launches_) {
    if (launch->pid != pid) continue;
    if (!launch->ended) return launch;
    if (!found || launch->launched_at_ms > found->launched_at_ms) found = launch;
  }
  return found;
}

Status LocalBackend::Stop(std::string_view native_id, std::chrono::seconds grace) {
  TANDEM_ASSIGN_OR_RETURN(pid_t pid, ParseNativeId(native_id));
  std::lock_guard lock(mutex_);
  std::shared_ptr<LaunchRecord> launch = FindByPid(pid);
  if (!launch) {
    return NotFound(fmt::format("no job launched by the local backend has native id {}", native_id));
  }
  if (!launch->StillRunning()) return Ok();

  // SIGTERM reaches the runtime only (its own process group); the runtime
  // forwards it to the user's process and reports Stopped.
  if (launch->child) {
    TANDEM_RETURN_IF_ERROR(launch->child->Signal(SIGTERM));
  } else if (::kill(-launch->pid, SIGTERM) != 0 && errno != ESRCH) {
    return Internal(fmt::format("cannot send SIGTERM to process group {}: {}", launch->pid,
                                std::strerror(errno)));
  }
  launch->stop_requested = true;
  SteadyTime deadline = std::chrono::steady_clock::now() + grace;
  if (!launch->kill_deadline || deadline < *launch->kill_deadline) launch->kill_deadline = deadline;
  spdlog::info("job stop requested job={} backend=local pid={} grace_s={}", launch->job_id,
               launch->pid, grace.count());
  wake_.notify_all();
  return Ok();
}

Result<Observation> LocalBackend::Describe(std::string_view native_id) {
  TANDEM_ASSIGN_OR_RETURN(pid_t pid, ParseNativeId(native_id));
  std::lock_guard lock(mutex_);
  std::shared_ptr<LaunchRecord> launch = FindByPid(pid);
  if (!launch) {
    return Observation{
        .state = ObservedState::kGone,
        .reason = fmt::format("no job launched by the local backend has process id {}", pid),
    };
  }
  if (!launch->ended && !launch->child && !launch->StillRunning()) {
    launch->ended = UnwatchedEnd(launch->job_dir, pid);
  }
  // Our own child is reported Running until the reaper has collected its exit
  // status, so that the ExitCallback and Describe never disagree.
  Observation observation =
      launch->ended ? *launch->ended : Observation{.state = ObservedState::kRunning};
  observation.attempt = launch->attempt;
  return observation;
}

std::optional<Observation> LocalBackend::ReapIfExited(LaunchRecord& launch) {
  if (!launch.child || !launch.child->HasExited()) return std::nullopt;
  // The runtime's session may still hold the user's processes; the leader is
  // unreaped here, so its session id cannot have been reused yet.
  SignalSession(launch.pid, SIGKILL);
  ExitStatus status = *launch.child->TryWait();
  Observation observation = EndedObservation(status);
  observation.attempt = launch.attempt;
  if (launch.backstop_fired) {
    observation.reason = fmt::format(
        "killed after running longer than MaxRuntimeInSeconds of {} s plus {} s: {}",
        launch.max_runtime_seconds, options_.backstop_grace.count(), observation.reason);
  } else if (launch.stop_requested) {
    observation.reason = "stopped on request: " + observation.reason;
  }
  return observation;
}

void LocalBackend::ReaperLoop() {
  std::unique_lock lock(mutex_);
  while (!shutting_down_) {
    std::vector<std::pair<std::string, Observation>> exits;
    ReapWarmWorkers();
    SteadyTime now = std::chrono::steady_clock::now();
    for (auto& [key, launch] : launches_) {
      const std::string& job_id = launch->job_id;
      if (launch->ended) continue;

      // Step 1: collect exits of our own children.
      if (auto observation = ReapIfExited(*launch)) {
        launch->ended = *observation;
        if (Status written = launch->WriteRecord(); !written) {
          spdlog::warn("cannot record exit status job={} error={}", job_id,
                       written.error().message());
        }
        spdlog::info("job process ended job={} backend=local pid={} reason=\"{}\"", job_id,
                     launch->pid, observation->reason);
        exits.emplace_back(job_id, *observation);
        continue;
      }

      // Step 2: enforce the Stop grace and the max-runtime backstop.
      bool backstop = now >= launch->backstop_deadline;
      bool stop_grace_over = launch->kill_deadline && now >= *launch->kill_deadline;
      if ((backstop || stop_grace_over) && launch->StillRunning()) {
        if (backstop && !launch->backstop_fired) {
          spdlog::warn("job exceeded its maximum runtime, killing it job={} pid={} max_runtime_s={}",
                       job_id, launch->pid, launch->max_runtime_seconds);
        }
        launch->backstop_fired = launch->backstop_fired || backstop;
        SignalSession(launch->pid, SIGKILL);
      }
    }

    // Step 3: report exits without holding the lock, so the callback may call back in.
    if (!exits.empty() && on_exit_) {
      lock.unlock();
      for (const auto& [job_id, observation] : exits) on_exit_(job_id, observation);
      lock.lock();
    }
    wake_.wait_for(lock, options_.poll_interval);
  }
}

}  // namespace tandem::backends
