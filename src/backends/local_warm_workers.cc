// The local backend's warm workers (see local_backend.h): a waiting
// `tandem train --warm-agent FIFO` per kept worker, and the hand-off of a job
// to it.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <thread>

#include "backends/local_backend.h"
#include "backends/warm_handoff.h"
#include "common/file_util.h"

namespace tandem::backends {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kWorkerDirName = "warm-worker";

// Opens the FIFO for writing once the agent has opened it for reading.
// Returns -1 when `timeout` passes first or the agent exits.
int OpenWhenReady(const fs::path& fifo, ChildProcess& agent, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0) return fd;
    // ENXIO: no reader yet, so the agent is still starting.
    if (errno != ENXIO || agent.HasExited() || std::chrono::steady_clock::now() >= deadline) {
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
}

}  // namespace

struct LocalBackend::WarmWorker {
  std::string id;
  std::string owner_job_id;
  fs::path fifo;
  std::optional<ChildProcess> child;
  // Set while LaunchOnWarmWorker uses the child; the reaper leaves it alone.
  bool handing_off = false;
};

std::string LocalBackend::WarmImage() const {
  std::error_code error;
  const fs::path& binary = options_.tandem_binary;
  auto size = fs::file_size(binary, error);
  if (error) return binary.string();
  auto modified = fs::last_write_time(binary, error);
  if (error) return binary.string();
  return fmt::format("{} size={} mtime={}", binary.string(), size,
                     modified.time_since_epoch().count());
}

Result<std::string> LocalBackend::StartWarmWorker(const std::string& owner_job_id,
                                                  const fs::path& owner_job_dir) {
  std::string context = fmt::format("start warm worker for job {}", owner_job_id);
  std::string id = "warm-" + owner_job_id;
  std::lock_guard lock(mutex_);
  if (shutting_down_) return FailedPrecondition(context + ": the backend is shutting down");
  if (warm_workers_.contains(id)) return id;

  // Step 1: a private directory with the hand-off FIFO and the agent's log.
  fs::path dir = owner_job_dir / kWorkerDirName;
  TANDEM_RETURN_IF_ERROR_CTX(CreateDirectories(dir), context);
  fs::path fifo = dir / "handoff.fifo";
  std::error_code ignored;
  fs::remove(fifo, ignored);
  if (::mkfifo(fifo.c_str(), 0600) != 0) {
    return Internal(fmt::format("{}: cannot create FIFO {}: {}", context, fifo.string(),
                                std::strerror(errno)));
  }

  // Step 2: the agent, with nothing of any job in its environment.
  SpawnOptions spawn{
      .argv = {options_.tandem_binary.string(), "train", "--warm-agent", fifo.string()},
      .environment = {{"PATH", std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin"},
                      {"HOME", std::getenv("HOME") ? std::getenv("HOME") : "/"}},
      .working_dir = dir,
      .log_file = dir / "agent.log",
      .group = ProcessGroup::kNewSession,
  };
  auto child = ChildProcess::Spawn(spawn);
  if (!child) return std::unexpected(child.error().WithContext(context));
  auto worker = std::make_shared<WarmWorker>();
  worker->id = id;
  worker->owner_job_id = owner_job_id;
  worker->fifo = fifo;
  worker->child.emplace(std::move(*child));
  spdlog::info("warm worker started worker={} job={} pid={}", id, owner_job_id,
               worker->child->pid());
  warm_workers_[id] = std::move(worker);
  return id;
}

bool LocalBackend::WarmWorkerAlive(std::string_view worker_id) {
  std::lock_guard lock(mutex_);
  auto it = warm_workers_.find(worker_id);
  if (it == warm_workers_.end() || it->second->handing_off) return false;
  return !it->second->child->HasExited();
}

Result<LaunchInfo> LocalBackend::LaunchOnWarmWorker(std::string_view worker_id,
                                                    const LaunchRequest& request) {
  if (request.job_id.empty()) return InvalidArgument("launch request: job_id is empty");
  if (request.job_dir.empty()) {
    return InvalidArgument(fmt::format("launch request for job {}: job_dir is empty", request.job_id));
  }

  // Step 1: claim the worker, so that neither the reaper nor a second
  // hand-off touches it.
  std::shared_ptr<WarmWorker> worker;
  {
    std::lock_guard lock(mutex_);
    auto it = warm_workers_.find(worker_id);
    if (it == warm_workers_.end() || it->second->handing_off || it->second->child->HasExited()) {
      return FailedPrecondition(fmt::format("warm worker {} is gone", worker_id));
    }
    if (launches_.contains(LaunchKey(request.job_id, request.attempt))) {
      return FailedPrecondition(
          fmt::format("job {} was launched before; it is not handed to warm worker {}",
                      request.job_id, worker_id));
    }
    worker = it->second;
    worker->handing_off = true;
  }

  // Step 2: wait, without the lock, until the agent listens.
  int fd = OpenWhenReady(worker->fifo, *worker->child, options_.warm_handoff_timeout);
  std::unique_lock lock(mutex_);
  if (fd < 0) {
    warm_workers_.erase(worker->id);
    worker->child->Terminate(std::chrono::milliseconds(0));
    return FailedPrecondition(fmt::format(
        "warm worker {} did not become ready within {} ms; it was terminated", worker->id,
        options_.warm_handoff_timeout.count()));
  }

  // Step 3: record the launch under the agent's pid before the agent can
  // start the job, so that its end is reported like any launch's.
  warm_workers_.erase(worker->id);
  std::string context = fmt::format("hand job {} to warm worker {}", request.job_id, worker->id);
  if (Status prepared = CreateDirectories(request.job_dir / "root"); !prepared) {
    ::close(fd);
    worker->child->Terminate(std::chrono::milliseconds(0));
    return std::unexpected(prepared.error().WithContext(context));
  }
  Result<LaunchInfo> launched =
      RecordLaunch(request, std::move(*worker->child), /*write_record=*/false);
  if (!launched) {
    ::close(fd);
    return std::unexpected(launched.error().WithContext(context));
  }
  std::string message =
      HandoffMessage(request.job_dir, JobEnvironment(request), request.spec_json);
  pid_t pid = 0;
  std::string_view digits = std::string_view(launched->native_id).substr(4);  // "pid:<pid>"
  std::from_chars(digits.data(), digits.data() + digits.size(), pid);
  lock.unlock();

  // Step 4: the hand-off itself. An agent that died in between leaves a
  // launch whose exit the reaper reports, as for a crashed cold launch.
  Status sent = WriteHandoff(fd, message);
  ::close(fd);
  if (!sent) {
    spdlog::error("warm hand-off failed job={} worker={} pid={} error={}", request.job_id,
                  worker->id, pid, sent.error().message());
    SignalSession(pid, SIGKILL);
    return launched;
  }

  // Step 5: launch.json, written while the agent already runs the job,
  // because its fsync would otherwise add to every warm start.
  // NOTE: a control plane that crashes before this write loses track of the
  // job, because the agent's /proc environment has no TANDEM_JOB_ROOT for
  // AdoptUnrecordedLaunch to find.
  lock.lock();
  if (Status written = WriteLaunchRecord(request.job_id, request.attempt); !written) {
    spdlog::error("cannot record a warm launch, killing it job={} pid={} error={}",
                  request.job_id, pid, written.error().message());
    SignalSession(pid, SIGKILL);
    return launched;
  }
  spdlog::info("job handed to warm worker job={} worker={} pid={}", request.job_id, worker->id,
               pid);
  return launched;
}

void LocalBackend::TerminateWarmWorker(std::string_view worker_id) {
  std::lock_guard lock(mutex_);
  auto it = warm_workers_.find(worker_id);
  if (it == warm_workers_.end() || it->second->handing_off) return;
  std::shared_ptr<WarmWorker> worker = it->second;
  warm_workers_.erase(it);
  worker->child->Terminate(std::chrono::milliseconds(0));
  spdlog::info("warm worker terminated worker={} job={}", worker->id, worker->owner_job_id);
}

void LocalBackend::ReapWarmWorkers() {
  for (auto it = warm_workers_.begin(); it != warm_workers_.end();) {
    WarmWorker& worker = *it->second;
    if (worker.handing_off || !worker.child->HasExited()) {
      ++it;
      continue;
    }
    ExitStatus status = *worker.child->TryWait();
    spdlog::warn("warm worker exited while waiting for a job worker={} job={} reason=\"{}\"",
                 worker.id, worker.owner_job_id, status.Describe());
    it = warm_workers_.erase(it);
  }
}

void LocalBackend::KillWarmWorkers() {
  for (auto& [id, worker] : warm_workers_) {
    if (!worker->handing_off) worker->child->Terminate(std::chrono::milliseconds(0));
  }
  warm_workers_.clear();
}

}  // namespace tandem::backends
