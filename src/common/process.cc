#include "common/process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>

namespace tandem {
namespace {

namespace fs = std::filesystem;

std::string ErrnoText(int error) { return std::strerror(error); }

std::unexpected<Error> SpawnError(int error, const std::string& message) {
  switch (error) {
    case ENOENT:
    case ENOTDIR:
      return NotFound(message);
    case EACCES:
    case EPERM:
      return PermissionDenied(message);
    default:
      return Internal(message);
  }
}

// Looks `name` up in the colon-separated `path_list` as execvp would.
std::optional<std::string> SearchPath(const std::string& name, const std::string& path_list) {
  std::stringstream stream(path_list);
  std::string dir;
  while (std::getline(stream, dir, ':')) {
    fs::path candidate = (dir.empty() ? fs::path(".") : fs::path(dir)) / name;
    if (::access(candidate.c_str(), X_OK) == 0 && !fs::is_directory(candidate)) {
      return candidate.string();
    }
  }
  return std::nullopt;
}

Result<std::string> ResolveProgram(const SpawnOptions& options) {
  const std::string& name = options.argv.front();
  if (name.find('/') != std::string::npos) return name;
  std::string path_list;
  if (auto it = options.environment.find("PATH"); it != options.environment.end()) {
    path_list = it->second;
  } else if (const char* own = std::getenv("PATH")) {
    path_list = own;
  }
  if (auto found = SearchPath(name, path_list)) return *found;
  return NotFound(fmt::format("cannot start {}: not found in PATH={}", name, path_list));
}

// Owns the posix_spawn attribute and file-action objects for one call.
class SpawnSetup {
 public:
  SpawnSetup() {
    posix_spawnattr_init(&attributes_);
    posix_spawn_file_actions_init(&actions_);
  }
  ~SpawnSetup() {
    posix_spawnattr_destroy(&attributes_);
    posix_spawn_file_actions_destroy(&actions_);
    if (log_fd_ >= 0) ::close(log_fd_);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;

  // Prepares the group, signal state and file descriptors; returns an errno
  // value and the object it concerns on failure.
  int Prepare(const SpawnOptions& options, std::string& failed_object) {
    short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    if (options.group == ProcessGroup::kNewSession) flags |= POSIX_SPAWN_SETSID;
    if (options.group == ProcessGroup::kNewGroup) {
      flags |= POSIX_SPAWN_SETPGROUP;
      posix_spawnattr_setpgroup(&attributes_, 0);
    }
    posix_spawnattr_setflags(&attributes_, flags);

    // The caller may block signals for a sigwait thread or ignore SIGPIPE; the
    // child starts with an empty mask and default dispositions.
    sigset_t empty_mask;
    sigemptyset(&empty_mask);
    posix_spawnattr_setsigmask(&attributes_, &empty_mask);
    sigset_t defaults;
    sigemptyset(&defaults);
    for (int s = 1; s < 32; ++s) {
      if (s != SIGKILL && s != SIGSTOP) sigaddset(&defaults, s);
    }
    posix_spawnattr_setsigdefault(&attributes_, &defaults);

    posix_spawn_file_actions_addopen(&actions_, 0, "/dev/null", O_RDONLY, 0);
    if (!options.log_file.empty()) {
      log_fd_ = ::open(options.log_file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
      if (log_fd_ < 0) {
        failed_object = "log file " + options.log_file.string();
        return errno;
      }
      posix_spawn_file_actions_adddup2(&actions_, log_fd_, 1);
      posix_spawn_file_actions_adddup2(&actions_, log_fd_, 2);
    }
    // Descriptors the caller opened without O_CLOEXEC must not leak into the child.
    posix_spawn_file_actions_addclosefrom_np(&actions_, 3);
    if (!options.working_dir.empty()) {
      posix_spawn_file_actions_addchdir_np(&actions_, options.working_dir.c_str());
    }
    return 0;
  }

  const posix_spawnattr_t* attributes() const { return &attributes_; }
  const posix_spawn_file_actions_t* actions() const { return &actions_; }

 private:
  posix_spawnattr_t attributes_;
  posix_spawn_file_actions_t actions_;
  int log_fd_ = -1;
};

ExitStatus DecodeWaitStatus(int raw) {
  if (WIFEXITED(raw)) return ExitStatus{.exit_code = WEXITSTATUS(raw)};
  if (WIFSIGNALED(raw)) return ExitStatus{.signal = WTERMSIG(raw)};
  return ExitStatus{};
}

// Reads the fields of /proc/<pid>/stat that follow the "(comm)" field; the
// first returned field is the state (field 3 of proc(5)).
std::optional<std::vector<std::string>> ReadStatFields(const fs::path& stat_path) {
  std::ifstream in(stat_path);
  if (!in) return std::nullopt;
  std::string line;
  std::getline(in, line);
  // The command name may itself contain ')' and spaces, so split after the last ')'.
  size_t close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(line.substr(close + 1));
  std::vector<std::string> fields;
  std::string field;
  while (rest >> field) fields.push_back(field);
  return fields;
}

}  // namespace

std::string ExitStatus::Describe() const {
  if (exit_code) return fmt::format("exit code {}", *exit_code);
  if (signal) return fmt::format("killed by signal {}", *signal);
  return "exit status unknown";
}

Result<ChildProcess> ChildProcess::Spawn(const SpawnOptions& options) {
  if (options.argv.empty()) return InvalidArgument("cannot start a process: argv is empty");
  const std::string& name = options.argv.front();
  TANDEM_ASSIGN_OR_RETURN(std::string program, ResolveProgram(options));

  // posix_spawn reports a failed chdir as the same ENOENT as a missing
  // program, so check the directory first for a message that names it.
  if (!options.working_dir.empty()) {
    std::error_code error;
    if (!fs::is_directory(options.working_dir, error)) {
      return NotFound(fmt::format("cannot start {}: working directory {} does not exist", name,
                                  options.working_dir.string()));
    }
  }

  SpawnSetup setup;
  std::string failed_object;
  if (int error = setup.Prepare(options, failed_object); error != 0) {
    return SpawnError(error,
                      fmt::format("cannot start {}: {}: {}", name, failed_object, ErrnoText(error)));
  }

  std::vector<char*> argv;
  for (const std::string& arg : options.argv) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (const auto& [key, value] : options.environment) env_strings.push_back(key + "=" + value);
  std::vector<char*> envp;
  for (std::string& entry : env_strings) envp.push_back(entry.data());
  envp.push_back(nullptr);

  pid_t pid = -1;
  int error = ::posix_spawn(&pid, program.c_str(), setup.actions(), setup.attributes(),
                            argv.data(), envp.data());
  if (error != 0) {
    return SpawnError(error, fmt::format("cannot start {}: {}", program, ErrnoText(error)));
  }
  return ChildProcess(pid, options.group);
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), group_(other.group_), status_(other.status_) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    KillAndReap();
    pid_ = std::exchange(other.pid_, -1);
    group_ = other.group_;
    status_ = other.status_;
  }
  return *this;
}

ChildProcess::~ChildProcess() { KillAndReap(); }

void ChildProcess::KillAndReap() {
  if (pid_ <= 0 || status_) return;
  Signal(SIGKILL);
  Wait();
}

Status ChildProcess::Signal(int signal) {
  if (pid_ <= 0 || status_) return Ok();
  pid_t target = group_ == ProcessGroup::kInherit ? pid_ : -pid_;
  if (::kill(target, signal) != 0 && errno != ESRCH) {
    return Internal(fmt::format("cannot send signal {} to process {}: {}", signal, pid_,
                                ErrnoText(errno)));
  }
  return Ok();
}

bool ChildProcess::HasExited() {
  if (status_) return true;
  if (pid_ <= 0) return false;
  siginfo_t info{};
  int rc;
  do {
    rc = ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    // ECHILD: something else in this program reaped the child, so the status is lost.
    status_ = ExitStatus{};
    return true;
  }
  return info.si_pid != 0;
}

pid_t ChildProcess::Release() { return std::exchange(pid_, -1); }

std::optional<ExitStatus> ChildProcess::TryWait() {
  // Look without reaping first: while the leader is a zombie its pid cannot be
  // reused, so killing the rest of its group cannot hit an unrelated process.
  if (!HasExited()) return std::nullopt;
  if (status_) return status_;

  if (group_ != ProcessGroup::kInherit) ::kill(-pid_, SIGKILL);
  int raw = 0;
  pid_t reaped;
  do {
    reaped = ::waitpid(pid_, &raw, 0);
  } while (reaped < 0 && errno == EINTR);
  status_ = reaped == pid_ ? DecodeWaitStatus(raw) : ExitStatus{};
  return status_;
}

std::optional<ExitStatus> ChildProcess::WaitFor(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::milliseconds(1);
  while (true) {
    if (auto status = TryWait()) return status;
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return std::nullopt;
    std::this_thread::sleep_for(
        std::min<std::chrono::nanoseconds>(pause, deadline - now));
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
}

ExitStatus ChildProcess::Wait() {
  if (pid_ <= 0 && !status_) return ExitStatus{};  // released or moved from
  while (true) {
    if (auto status = WaitFor(std::chrono::hours(1))) return *status;
  }
}

ExitStatus ChildProcess::Terminate(std::chrono::milliseconds grace) {
  Signal(SIGTERM);
  if (auto status = WaitFor(grace)) return *status;
  Signal(SIGKILL);
  return Wait();
}

std::optional<uint64_t> ProcessStartTime(pid_t pid) {
  auto fields = ReadStatFields(fs::path("/proc") / std::to_string(pid) / "stat");
  // Field 22 (starttime) is the 20th after the command name.
  if (!fields || fields->size() < 20) return std::nullopt;
  if ((*fields)[0] == "Z" || (*fields)[0] == "X") return std::nullopt;
  try {
    return std::stoull((*fields)[19]);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

int SignalSession(pid_t session_id, int signal) {
  if (session_id <= 0) return 0;
  int signalled = 0;
  std::error_code error;
  for (const fs::directory_entry& entry : fs::directory_iterator("/proc", error)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    pid_t pid = static_cast<pid_t>(std::stol(name));
    if (pid == ::getpid()) continue;
    auto fields = ReadStatFields(entry.path() / "stat");
    // Field 6 (session) is the 4th after the command name.
    if (!fields || fields->size() < 4 || (*fields)[3] != std::to_string(session_id)) continue;
    if (::kill(pid, signal) == 0) ++signalled;
  }
  return signalled;
}

std::vector<pid_t> FindSessionLeadersWithEnvironment(std::string_view name_equals_value) {
  std::vector<pid_t> found;
  std::error_code error;
  for (const fs::directory_entry& entry : fs::directory_iterator("/proc", error)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    auto fields = ReadStatFields(entry.path() / "stat");
    // Field 6 (session) is the 4th after the command name.
    if (!fields || fields->size() < 4 || (*fields)[3] != name) continue;
    if ((*fields)[0] == "Z" || (*fields)[0] == "X") continue;
    std::ifstream in(entry.path() / "environ", std::ios::binary);
    std::string variable;
    while (std::getline(in, variable, '\0')) {
      if (variable == name_equals_value) {
        found.push_back(static_cast<pid_t>(std::stol(name)));
        break;
      }
    }
  }
  return found;
}

}  // namespace tandem
