#include "runtime/warm_agent.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "backends/warm_handoff.h"
#include "runtime/trainer.h"

namespace tandem::runtime {
namespace {

constexpr int kExitBadHandoff = 2;
// A hand-off is far below this; more means the writer is not the backend.
constexpr size_t kMaxHandoffBytes = 1 << 20;

enum class WaitEnd { kMessage, kStopped, kParentGone, kError };

// Reads until a full line has arrived, or the wait ends otherwise.
WaitEnd WaitForLine(int fd, const WarmAgentOptions& options, StopController& stop,
                    std::string& line) {
  const pid_t parent = ::getppid();
  char buffer[4096];
  while (true) {
    if (stop.ShouldStop()) return WaitEnd::kStopped;
    if (::getppid() != parent) return WaitEnd::kParentGone;
    pollfd ready{.fd = fd, .events = POLLIN, .revents = 0};
    int polled = ::poll(&ready, 1, static_cast<int>(options.poll_interval.count()));
    if (polled < 0 && errno != EINTR) return WaitEnd::kError;
    if (polled <= 0) continue;
    ssize_t got = ::read(fd, buffer, sizeof(buffer));
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (got <= 0) return WaitEnd::kError;
    line.append(buffer, static_cast<size_t>(got));
    if (line.find('\n') != std::string::npos) return WaitEnd::kMessage;
    if (line.size() > kMaxHandoffBytes) return WaitEnd::kError;
  }
}

// Moves the process into the job: its directory, its log and its environment.
Status EnterJob(const backends::Handoff& handoff) {
  if (::chdir(handoff.job_dir.c_str()) != 0) {
    return Internal(fmt::format("cannot enter job directory {}: {}", handoff.job_dir.string(),
                                std::strerror(errno)));
  }
  std::filesystem::path log_path = handoff.job_dir / "job.log";
  int log = ::open(log_path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (log < 0) {
    return Internal(fmt::format("cannot open {}: {}", log_path.string(), std::strerror(errno)));
  }
  ::dup2(log, STDOUT_FILENO);
  ::dup2(log, STDERR_FILENO);
  ::close(log);
  ::clearenv();
  for (const auto& [name, value] : handoff.environment) ::setenv(name.c_str(), value.c_str(), 1);
  return Ok();
}

}  // namespace

int RunWarmAgent(const WarmAgentOptions& options, StopController& stop) {
  // O_RDWR keeps a writer open on our side, so the FIFO never reads as ended
  // before the backend writes.
  int fd = ::open(options.fifo.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    spdlog::error("cannot open the hand-off FIFO path={} error=\"{}\"", options.fifo,
                  std::strerror(errno));
    return kExitBadHandoff;
  }
  spdlog::info("warm worker waiting for a job pid={} fifo={}", ::getpid(), options.fifo);

  std::string line;
  WaitEnd end = WaitForLine(fd, options, stop, line);
  ::close(fd);
  switch (end) {
    case WaitEnd::kStopped:
      spdlog::info("warm worker stopped while waiting pid={}", ::getpid());
      return kExitStopped;
    case WaitEnd::kParentGone:
      spdlog::info("warm worker exiting because the control plane exited pid={}", ::getpid());
      return 0;
    case WaitEnd::kError:
      spdlog::error("cannot read the hand-off fifo={} error=\"{}\"", options.fifo,
                    std::strerror(errno));
      return kExitBadHandoff;
    case WaitEnd::kMessage:
      break;
  }

  Result<backends::Handoff> handoff = backends::ParseHandoff(line.substr(0, line.find('\n')));
  if (!handoff) {
    spdlog::error("invalid hand-off error=\"{}\"", handoff.error().message());
    return kExitBadHandoff;
  }
  if (Status entered = EnterJob(*handoff); !entered) {
    spdlog::error("cannot start the handed-off job error=\"{}\"", entered.error().message());
    return kExitBadHandoff;
  }
  TrainSettings settings = options.settings;
  settings.spec_json = handoff->spec_json;
  if (Status applied = ApplyEnvironment(settings); !applied) {
    spdlog::error("{}", applied.error().message());
    return kExitBadHandoff;
  }
  spdlog::info("warm worker running job job={} pid={}", settings.job_id, ::getpid());
  return RunTrain(settings, stop);
}

}  // namespace tandem::runtime
