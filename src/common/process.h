// Child processes started with posix_spawn, which is safe to call from a
// multithreaded program (no fork of the caller's threads and locks).
//
//   SpawnOptions options{.argv = {"/bin/sh", "-c", "echo hi"},
//                        .environment = {{"PATH", "/usr/bin:/bin"}},
//                        .working_dir = dir, .log_file = dir / "job.log"};
//   TANDEM_ASSIGN_OR_RETURN(ChildProcess child, ChildProcess::Spawn(options));
//   child.Signal(SIGTERM);
//   std::optional<ExitStatus> status = child.WaitFor(std::chrono::seconds(5));
//
// Process groups: a child started with kNewSession or kNewGroup leads its own
// process group (pgid == pid), and Signal() reaches every process in that group.
// When such a leader exits, the waiting call kills (SIGKILL) what is left of its
// group before reaping it, so no stray grandchild outlives the child. The
// leader stays a zombie until then, which keeps its pid from being reused.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace tandem {

enum class ProcessGroup {
  kInherit,     // stays in the caller's process group and session
  kNewGroup,    // leads a new process group in the caller's session
  kNewSession,  // leads a new session and process group (setsid)
};

struct SpawnOptions {
  // argv[0] is the program: a path, or a bare name looked up in the PATH of
  // `environment` (the caller's PATH when `environment` has none).
  std::vector<std::string> argv;
  // The child's complete environment; nothing of the caller's is inherited.
  std::map<std::string, std::string> environment;
  // Empty: the caller's working directory.
  std::filesystem::path working_dir;
  // Standard output and standard error are appended to this file, created with
  // mode 0644 when missing. Empty: both are inherited from the caller.
  std::filesystem::path log_file;
  ProcessGroup group = ProcessGroup::kNewSession;
};

// How a child ended: exactly one of exit_code and signal is set.
struct ExitStatus {
  std::optional<int> exit_code;
  std::optional<int> signal;

  bool success() const { return exit_code == 0; }
  // Returns "exit code 3" or "killed by signal 9".
  std::string Describe() const;
};

// One spawned child. Move-only; not thread-safe (one owner thread at a time).
// Destroying a ChildProcess that was not reaped kills its process group with
// SIGKILL and reaps it, so an early return never leaks a running child.
class ChildProcess {
 public:
  // Starts the child. Errors: kInvalidArgument for an empty argv; kNotFound
  // when the program, the working directory or the log file's directory does
  // not exist ("cannot start python3: not found in PATH=/usr/bin:/bin");
  // kPermissionDenied when the program is not executable; kInternal otherwise.
  // Each message names the program and the errno text.
  static Result<ChildProcess> Spawn(const SpawnOptions& options);

  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  // True once a wait call returned the exit status.
  bool reaped() const { return status_.has_value(); }
  // The exit status once reaped.
  const std::optional<ExitStatus>& status() const { return status_; }

  // Sends `signal` to the child's process group (to the child alone with
  // kInherit). A child that already exited is not an error.
  // Errors: kInternal with the errno text when kill() fails otherwise.
  Status Signal(int signal);

  // True when the child has exited, without reaping it: until a wait call
  // reaps it, its pid (and process group id) cannot be reused.
  bool HasExited();

  // Forgets the child without killing or reaping it and returns its pid; the
  // destructor then leaves it running.
  pid_t Release();

  // Returns the exit status if the child has exited (reaping it), else nullopt.
  // Never blocks.
  std::optional<ExitStatus> TryWait();

  // Waits up to `timeout` for the child to exit; nullopt when it is still running.
  std::optional<ExitStatus> WaitFor(std::chrono::milliseconds timeout);

  // Waits until the child exits.
  ExitStatus Wait();

  // Sends SIGTERM to the group, waits up to `grace`, then sends SIGKILL and
  // waits for the exit.
  ExitStatus Terminate(std::chrono::milliseconds grace);

 private:
  ChildProcess(pid_t pid, ProcessGroup group) : pid_(pid), group_(group) {}
  void KillAndReap();

  pid_t pid_ = -1;
  ProcessGroup group_ = ProcessGroup::kInherit;
  std::optional<ExitStatus> status_;
};

// Returns the process's start time in clock ticks since boot (field 22 of
// /proc/<pid>/stat), which tells a process apart from a later one that reuses
// its pid. nullopt when no such process exists or it is a zombie.
std::optional<uint64_t> ProcessStartTime(pid_t pid);

// Sends `signal` to every process whose session id is `session_id` (found by
// scanning /proc). Reaches processes that moved to another process group of
// that session. Returns the number of processes signalled.
int SignalSession(pid_t session_id, int signal);

// Returns the live session leaders (pid == session id) whose environment, as
// /proc/<pid>/environ shows it, contains the exact entry `name_equals_value`
// ("TANDEM_JOB_ID=job-1"). Finds only processes of users whose environ this
// process may read (the same user, or any as root).
std::vector<pid_t> FindSessionLeadersWithEnvironment(std::string_view name_equals_value);

}  // namespace tandem
