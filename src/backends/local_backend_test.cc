#include "backends/local_backend.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

#include "common/json_util.h"
#include "common/process.h"

namespace tandem::backends {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;

// A stand-in for the tandem binary: a shell script that acts on FAKE_MODE.
constexpr char kFakeTandem[] = R"(#!/bin/sh
[ "$1" = train ] || exit 64
env > "$TANDEM_JOB_ROOT/../env.txt"
echo launched >> "$TANDEM_JOB_ROOT/../launches.txt"
echo "fake runtime for $TANDEM_JOB_ID"
case "$FAKE_MODE" in
  exit3) exit 3 ;;
  ok) exit 0 ;;
  finish) sleep 0.5; echo '{"ExitCode": 0}' > "$TANDEM_EXIT_FILE"; exit 0 ;;
  stoppable) trap 'exit 143' TERM; echo started > "$TANDEM_JOB_ROOT/started"; while :; do sleep 0.05; done ;;
  stubborn) trap '' TERM; echo started > "$TANDEM_JOB_ROOT/started"; while :; do sleep 0.05; done ;;
esac
exit 99
)";

class LocalBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "local_backend_test_XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    fs::create_directories(dir_ / "jobs");
    std::ofstream(dir_ / "fake-tandem") << kFakeTandem;
    fs::permissions(dir_ / "fake-tandem", fs::perms::owner_all);
  }
  void TearDown() override { fs::remove_all(dir_); }

  LocalBackendOptions Options() {
    return LocalBackendOptions{.jobs_dir = dir_ / "jobs",
                               .tandem_binary = dir_ / "fake-tandem",
                               .poll_interval = milliseconds(10)};
  }

  std::unique_ptr<LocalBackend> MakeBackend(LocalBackendOptions options) {
    return std::make_unique<LocalBackend>(options, [this](const std::string& job_id,
                                                          const Observation& observation) {
      std::lock_guard lock(mutex_);
      exits_[job_id] = observation;
      exited_.notify_all();
    });
  }

  LaunchRequest Request(const std::string& job_id, const std::string& mode) {
    return LaunchRequest{.job_id = job_id,
                         .job_name = "name-" + job_id,
                         .repository = "repo",
                         .api_url = "http://127.0.0.1:1",
                         .job_token = "secret-token",
                         .job_dir = dir_ / "jobs" / job_id,
                         .environment = {{"FAKE_MODE", mode}}};
  }

  // Waits (bounded) for the ExitCallback of `job_id`.
  std::optional<Observation> WaitForExit(const std::string& job_id) {
    std::unique_lock lock(mutex_);
    exited_.wait_for(lock, seconds(20), [&] { return exits_.contains(job_id); });
    if (!exits_.contains(job_id)) return std::nullopt;
    return exits_[job_id];
  }

  bool WaitForFile(const fs::path& path) {
    for (int i = 0; i < 1000; ++i) {
      if (fs::exists(path)) return true;
      std::this_thread::sleep_for(milliseconds(10));
    }
    return false;
  }

  std::string Read(const fs::path& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  fs::path dir_;
  std::mutex mutex_;
  std::condition_variable exited_;
  std::map<std::string, Observation> exits_;
};

TEST_F(LocalBackendTest, LaunchRunsTrainWithJobEnvironment) {
  auto backend = MakeBackend(Options());
  auto launched = backend->Launch(Request("job-1", "ok"));
  ASSERT_TRUE(launched) << launched.error().message();
  EXPECT_FALSE(launched->already_running);
  EXPECT_TRUE(launched->native_id.starts_with("pid:"));

  auto observation = WaitForExit("job-1");
  ASSERT_TRUE(observation);
  EXPECT_EQ(observation->state, ObservedState::kSucceeded);
  EXPECT_EQ(observation->exit_code, 0);
  EXPECT_EQ(observation->reason, "exit code 0");

  const fs::path job_dir = dir_ / "jobs" / "job-1";
  EXPECT_TRUE(fs::is_directory(job_dir / "root"));
  EXPECT_EQ(Read(job_dir / "job.log"), "fake runtime for job-1\n");

  std::map<std::string, std::string> env;
  std::istringstream lines(Read(job_dir / "env.txt"));
  for (std::string line; std::getline(lines, line);) {
    env[line.substr(0, line.find('='))] = line.substr(line.find('=') + 1);
  }
  EXPECT_EQ(env["TANDEM_JOB_ID"], "job-1");
  EXPECT_EQ(env["TANDEM_JOB_TOKEN"], "secret-token");
  EXPECT_EQ(env["TANDEM_API_URL"], "http://127.0.0.1:1");
  EXPECT_EQ(env["TANDEM_JOB_ROOT"], (job_dir / "root").string());
  EXPECT_EQ(env["TANDEM_STOP_GRACE_SECONDS"], "20");
  EXPECT_EQ(env["FAKE_MODE"], "ok");
  EXPECT_EQ(env["PWD"], job_dir.string());
  // Nothing else of the test's environment is inherited (sh adds PWD, SHLVL, _).
  for (const auto& [key, value] : env) {
    EXPECT_TRUE(key.starts_with("TANDEM_") || key == "FAKE_MODE" || key == "PATH" ||
                key == "HOME" || key == "PWD" || key == "SHLVL" || key == "_" || key == "OLDPWD")
        << key;
  }

  auto record = ParseJson(Read(job_dir / "launch.json"), "launch.json");
  ASSERT_TRUE(record);
  EXPECT_EQ("pid:" + std::to_string((*record)["Pid"].get<int>()), launched->native_id);
  EXPECT_EQ((*record)["JobId"], "job-1");
  EXPECT_EQ((*record)["ExitCode"], 0);
  EXPECT_EQ((*record)["State"], "Succeeded");
}

TEST_F(LocalBackendTest, ExitCodeReportedAndDescribed) {
  auto backend = MakeBackend(Options());
  auto launched = backend->Launch(Request("job-3", "exit3"));
  ASSERT_TRUE(launched);
  auto observation = WaitForExit("job-3");
  ASSERT_TRUE(observation);
  EXPECT_EQ(observation->state, ObservedState::kFailed);
  EXPECT_EQ(observation->reason, "exit code 3");
  EXPECT_EQ(observation->exit_code, 3);

  auto described = backend->Describe(launched->native_id);
  ASSERT_TRUE(described);
  EXPECT_EQ(described->state, ObservedState::kFailed);
  EXPECT_EQ(described->reason, "exit code 3");
  EXPECT_EQ(described->exit_code, 3);
}

TEST_F(LocalBackendTest, RelaunchOfRunningJobIsIdempotent) {
  auto backend = MakeBackend(Options());
  auto first = backend->Launch(Request("job-2", "stoppable"));
  ASSERT_TRUE(first);
  auto second = backend->Launch(Request("job-2", "stoppable"));
  ASSERT_TRUE(second);
  EXPECT_TRUE(second->already_running);
  EXPECT_EQ(second->native_id, first->native_id);

  auto described = backend->Describe(first->native_id);
  ASSERT_TRUE(described);
  EXPECT_EQ(described->state, ObservedState::kRunning);
  ASSERT_TRUE(backend->Stop(first->native_id, seconds(30)));
  ASSERT_TRUE(WaitForExit("job-2"));
}

TEST_F(LocalBackendTest, StopSendsSigterm) {
  auto backend = MakeBackend(Options());
  auto launched = backend->Launch(Request("job-4", "stoppable"));
  ASSERT_TRUE(launched);
  ASSERT_TRUE(WaitForFile(dir_ / "jobs" / "job-4" / "root" / "started"));
  ASSERT_TRUE(backend->Stop(launched->native_id, seconds(30)));
  auto observation = WaitForExit("job-4");
  ASSERT_TRUE(observation);
  EXPECT_EQ(observation->state, ObservedState::kFailed);
  EXPECT_EQ(observation->reason, "stopped on request: exit code 143");
  // Stopping a job that ended succeeds.
  EXPECT_TRUE(backend->Stop(launched->native_id, seconds(30)));
}

TEST_F(LocalBackendTest, StopKillsAfterGrace) {
  auto backend = MakeBackend(Options());
  auto launched = backend->Launch(Request("job-5", "stubborn"));
  ASSERT_TRUE(launched);
  ASSERT_TRUE(WaitForFile(dir_ / "jobs" / "job-5" / "root" / "started"));
  ASSERT_TRUE(backend->Stop(launched->native_id, seconds(0)));
  auto observation = WaitForExit("job-5");
  ASSERT_TRUE(observation);
  EXPECT_EQ(observation->reason, "stopped on request: killed by signal 9");
  EXPECT_FALSE(observation->exit_code.has_value());
}

TEST_F(LocalBackendTest, BackstopKillsJobPastMaxRuntime) {
  LocalBackendOptions options = Options();
  options.backstop_grace = seconds(0);
  auto backend = MakeBackend(options);
  LaunchRequest request = Request("job-6", "stubborn");
  request.max_runtime_seconds = 0;
  ASSERT_TRUE(backend->Launch(request));
  auto observation = WaitForExit("job-6");
  ASSERT_TRUE(observation);
  EXPECT_EQ(observation->state, ObservedState::kFailed);
  EXPECT_EQ(observation->reason,
            "killed after running longer than MaxRuntimeInSeconds of 0 s plus 0 s: killed by signal 9");
}

TEST_F(LocalBackendTest, DescribeUnknownPidIsGone) {
  auto backend = MakeBackend(Options());
  auto described = backend->Describe("pid:4194000");
  ASSERT_TRUE(described);
  EXPECT_EQ(described->state, ObservedState::kGone);
  EXPECT_EQ(described->reason, "no job launched by the local backend has process id 4194000");
}

TEST_F(LocalBackendTest, MalformedNativeIdIsInvalid) {
  auto backend = MakeBackend(Options());
  for (const char* id : {"job:12", "pid:", "pid:12x", "pid:-4", ""}) {
    auto described = backend->Describe(id);
    ASSERT_FALSE(described) << id;
    EXPECT_EQ(described.error().code(), ErrorCode::kInvalidArgument) << id;
    EXPECT_NE(described.error().message().find("expected pid:<number>"), std::string::npos);
  }
  auto stopped = backend->Stop("job:12", seconds(1));
  ASSERT_FALSE(stopped);
  EXPECT_EQ(stopped.error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(LocalBackendTest, StopUnknownPidIsNotFound) {
  auto backend = MakeBackend(Options());
  auto stopped = backend->Stop("pid:4194000", seconds(1));
  ASSERT_FALSE(stopped);
  EXPECT_EQ(stopped.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(stopped.error().message(), "no job launched by the local backend has native id pid:4194000");
}

TEST_F(LocalBackendTest, EmptyJobIdIsInvalid) {
  auto backend = MakeBackend(Options());
  LaunchRequest request = Request("", "ok");
  auto launched = backend->Launch(request);
  ASSERT_FALSE(launched);
  EXPECT_EQ(launched.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(launched.error().message(), "launch request: job_id is empty");
}

TEST_F(LocalBackendTest, MissingBinaryFailsLaunch) {
  LocalBackendOptions options = Options();
  options.tandem_binary = dir_ / "absent";
  auto backend = MakeBackend(options);
  auto launched = backend->Launch(Request("job-7", "ok"));
  ASSERT_FALSE(launched);
  EXPECT_EQ(launched.error().code(), ErrorCode::kNotFound);
  EXPECT_TRUE(launched.error().message().starts_with("launch job job-7: cannot start"));
}

TEST_F(LocalBackendTest, RestartedBackendFindsRunningJob) {
  std::string native_id;
  {
    auto first = MakeBackend(Options());
    auto launched = first->Launch(Request("job-8", "stoppable"));
    ASSERT_TRUE(launched);
    native_id = launched->native_id;
    ASSERT_TRUE(WaitForFile(dir_ / "jobs" / "job-8" / "root" / "started"));
  }
  auto second = MakeBackend(Options());
  auto described = second->Describe(native_id);
  ASSERT_TRUE(described);
  EXPECT_EQ(described->state, ObservedState::kRunning);
  auto relaunched = second->Launch(Request("job-8", "stoppable"));
  ASSERT_TRUE(relaunched);
  EXPECT_TRUE(relaunched->already_running);
  EXPECT_EQ(relaunched->native_id, native_id);

  ASSERT_TRUE(second->Stop(native_id, seconds(0)));
  // This test process is still the parent, so the test reaps the child. The
  // second backend then finds it gone without a recorded exit status.
  pid_t pid = std::stoi(native_id.substr(4));
  int raw = 0;
  ASSERT_EQ(::waitpid(pid, &raw, 0), pid);
  described = second->Describe(native_id);
  ASSERT_TRUE(described);
  EXPECT_EQ(described->state, ObservedState::kGone);
  EXPECT_NE(described->reason.find("no longer running"), std::string::npos);
}

TEST_F(LocalBackendTest, RestartedBackendReadsRecordedExit) {
  std::string native_id;
  {
    auto first = MakeBackend(Options());
    auto launched = first->Launch(Request("job-9", "exit3"));
    ASSERT_TRUE(launched);
    native_id = launched->native_id;
    ASSERT_TRUE(WaitForExit("job-9"));
  }
  auto second = MakeBackend(Options());
  auto described = second->Describe(native_id);
  ASSERT_TRUE(described);
  EXPECT_EQ(described->state, ObservedState::kFailed);
  EXPECT_EQ(described->reason, "exit code 3");
  EXPECT_EQ(described->exit_code, 3);
}

TEST_F(LocalBackendTest, EndedLaunchIsNotStartedAgain) {
  auto backend = MakeBackend(Options());
  auto first = backend->Launch(Request("job-10", "ok"));
  ASSERT_TRUE(first);
  ASSERT_TRUE(WaitForExit("job-10"));

  auto again = backend->Launch(Request("job-10", "ok"));
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->already_ended);
  EXPECT_FALSE(again->already_running);
  EXPECT_EQ(again->native_id, first->native_id);

  // A restarted backend finds the ended launch in launch.json.
  backend.reset();
  auto restarted = MakeBackend(Options());
  auto third = restarted->Launch(Request("job-10", "ok"));
  ASSERT_TRUE(third);
  EXPECT_TRUE(third->already_ended);
  EXPECT_EQ(third->native_id, first->native_id);
  EXPECT_EQ(Read(dir_ / "jobs" / "job-10" / "launches.txt"), "launched\n");
}

// A retried job's next attempt is a launch of its own, in its own directory,
// and each attempt stays idempotent, also for a restarted backend.
TEST_F(LocalBackendTest, LaterAttemptIsNewLaunch) {
  auto backend = MakeBackend(Options());
  auto first = backend->Launch(Request("job-20", "ok"));
  ASSERT_TRUE(first) << first.error().message();
  std::optional<Observation> first_exit = WaitForExit("job-20");
  ASSERT_TRUE(first_exit);
  EXPECT_EQ(first_exit->attempt, 1);
  {
    std::lock_guard lock(mutex_);
    exits_.clear();
  }

  LaunchRequest retry = Request("job-20", "ok");
  retry.attempt = 2;
  retry.job_dir = AttemptDir(dir_ / "jobs", "job-20", 2);
  EXPECT_EQ(retry.job_dir, dir_ / "jobs" / "job-20" / "attempt-2");
  auto second = backend->Launch(retry);
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_FALSE(second->already_ended);
  EXPECT_FALSE(second->already_running);
  EXPECT_NE(second->native_id, first->native_id);
  std::optional<Observation> second_exit = WaitForExit("job-20");
  ASSERT_TRUE(second_exit);
  EXPECT_EQ(second_exit->attempt, 2);
  EXPECT_NE(Read(retry.job_dir / "env.txt").find("TANDEM_JOB_ATTEMPT=2\n"), std::string::npos);
  EXPECT_NE(Read(dir_ / "jobs" / "job-20" / "env.txt").find("TANDEM_JOB_ATTEMPT=1\n"),
            std::string::npos);

  auto again = backend->Launch(retry);
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->already_ended);
  EXPECT_EQ(again->native_id, second->native_id);

  backend.reset();
  auto restarted = MakeBackend(Options());
  auto first_again = restarted->Launch(Request("job-20", "ok"));
  ASSERT_TRUE(first_again);
  EXPECT_TRUE(first_again->already_ended);
  EXPECT_EQ(first_again->native_id, first->native_id);
  auto second_again = restarted->Launch(retry);
  ASSERT_TRUE(second_again);
  EXPECT_TRUE(second_again->already_ended);
  EXPECT_EQ(second_again->native_id, second->native_id);
  auto described = restarted->Describe(second->native_id);
  ASSERT_TRUE(described);
  EXPECT_EQ(described->attempt, 2);
  EXPECT_EQ(described->state, ObservedState::kSucceeded);
  EXPECT_EQ(Read(retry.job_dir / "launches.txt"), "launched\n");
  EXPECT_EQ(Read(dir_ / "jobs" / "job-20" / "launches.txt"), "launched\n");
}

// A launch of an earlier backend ends unwatched; its runtime's exit file
// still tells success from failure.
TEST_F(LocalBackendTest, RestartedBackendReadsExitFile) {
  std::string native_id;
  {
    auto first = MakeBackend(Options());
    auto launched = first->Launch(Request("job-13", "finish"));
    ASSERT_TRUE(launched);
    native_id = launched->native_id;
  }
  auto second = MakeBackend(Options());
  std::optional<Observation> described;
  for (int i = 0; i < 400; ++i) {
    auto result = second->Describe(native_id);
    ASSERT_TRUE(result);
    if (result->state != ObservedState::kRunning) {
      described = *result;
      break;
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
  ASSERT_TRUE(described);
  EXPECT_EQ(described->state, ObservedState::kSucceeded);
  EXPECT_EQ(described->exit_code, 0);
  EXPECT_EQ(described->reason, "exit code 0");
  pid_t pid = std::stoi(native_id.substr(4));
  int raw = 0;
  EXPECT_EQ(::waitpid(pid, &raw, 0), pid);
}

// A control plane killed between the spawn and launch.json leaves a runtime
// without a record; the next Launch adopts it instead of starting another.
TEST_F(LocalBackendTest, UnrecordedRunningLaunchIsAdopted) {
  fs::path job_dir = dir_ / "jobs" / "job-11";
  fs::create_directories(job_dir / "root");
  SpawnOptions spawn{.argv = {(dir_ / "fake-tandem").string(), "train"},
                     .environment = {{"PATH", "/usr/bin:/bin"},
                                     {"TANDEM_JOB_ID", "job-11"},
                                     {"TANDEM_JOB_ROOT", (job_dir / "root").string()},
                                     {"FAKE_MODE", "stoppable"}},
                     .working_dir = job_dir,
                     .log_file = job_dir / "job.log",
                     .group = ProcessGroup::kNewSession};
  auto orphan = ChildProcess::Spawn(spawn);
  ASSERT_TRUE(orphan) << orphan.error().message();
  ASSERT_TRUE(WaitForFile(job_dir / "root" / "started"));

  auto backend = MakeBackend(Options());
  auto launched = backend->Launch(Request("job-11", "stoppable"));
  ASSERT_TRUE(launched) << launched.error().message();
  EXPECT_TRUE(launched->already_running);
  EXPECT_EQ(launched->native_id, fmt::format("pid:{}", orphan->pid()));
  EXPECT_EQ(Read(job_dir / "launches.txt"), "launched\n");
  auto record = ParseJson(Read(job_dir / "launch.json"), "launch.json");
  ASSERT_TRUE(record) << record.error().message();
  EXPECT_EQ((*record)["Pid"], orphan->pid());

  auto described = backend->Describe(launched->native_id);
  ASSERT_TRUE(described);
  EXPECT_EQ(described->state, ObservedState::kRunning);
  ASSERT_TRUE(backend->Stop(launched->native_id, seconds(0)));
  EXPECT_TRUE(orphan->WaitFor(seconds(20)).has_value());
}

}  // namespace
}  // namespace tandem::backends
