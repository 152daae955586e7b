// The local backend's warm workers against a stand-in for `tandem train
// --warm-agent`: a shell script that reads the hand-off line from the FIFO
// and then acts like a job runtime.
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

#include "backends/local_backend.h"
#include "backends/warm_handoff.h"
#include "common/json_util.h"

namespace tandem::backends {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

// $1 train, $2 --warm-agent, $3 the FIFO. Writes the hand-off to
// handoff.json beside the FIFO, then follows the mode that MakeBackend writes
// in place of @MODE@.
constexpr char kFakeAgent[] = R"(#!/bin/sh
[ "$1" = train ] && [ "$2" = --warm-agent ] || exit 64
echo $$ > "$(dirname "$3")/agent.pid"
case "@MODE@" in
  never-ready) sleep 30; exit 0 ;;
esac
exec 3<> "$3"
read -r line <&3
printf "%s\n" "$line" > "$(dirname "$3")/handoff.json"
case "@MODE@" in
  ok) exit 0 ;;
  stoppable) trap 'exit 143' TERM; while :; do sleep 0.05; done ;;
esac
exit 99
)";

class LocalWarmWorkersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "local_warm_workers_test_XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    fs::create_directories(dir_ / "jobs");
  }
  void TearDown() override {
    backend_.reset();
    fs::remove_all(dir_);
  }

  void MakeBackend(const std::string& mode, milliseconds handoff_timeout = milliseconds(5000)) {
    std::string script = kFakeAgent;
    for (size_t at = script.find("@MODE@"); at != std::string::npos; at = script.find("@MODE@")) {
      script.replace(at, 6, mode);
    }
    std::ofstream(dir_ / "fake-tandem") << script;
    fs::permissions(dir_ / "fake-tandem", fs::perms::owner_all);
    LocalBackendOptions options{.jobs_dir = dir_ / "jobs",
                                .tandem_binary = dir_ / "fake-tandem",
                                .warm_handoff_timeout = handoff_timeout,
                                .poll_interval = milliseconds(10)};
    backend_ = std::make_unique<LocalBackend>(
        options, [this](const std::string& job_id, const Observation& observation) {
          std::lock_guard lock(mutex_);
          exits_[job_id] = observation;
          exited_.notify_all();
        });
  }

  LaunchRequest Request(const std::string& job_id) {
    return LaunchRequest{.job_id = job_id,
                         .job_name = "name-" + job_id,
                         .repository = "repo",
                         .api_url = "http://127.0.0.1:1",
                         .job_token = "secret-token",
                         .job_dir = dir_ / "jobs" / job_id,
                         .environment = {{"USER_VAR", "42"}},
                         .spec_json = R"({"TrainingJobName": "name-)" + job_id + R"("})"};
  }

  // Starts a worker for job "owner" and waits until its agent has started.
  std::string StartWorker() {
    auto worker = backend_->StartWarmWorker("owner", dir_ / "jobs" / "owner");
    EXPECT_TRUE(worker) << worker.error().message();
    WaitForFile(dir_ / "jobs" / "owner" / "warm-worker" / "agent.pid");
    return *worker;
  }

  // Waits for a file the fake agent writes; bounded at 10 s.
  static void WaitForFile(const fs::path& path) {
    for (int i = 0; i < 1000 && !fs::exists(path); ++i) std::this_thread::sleep_for(milliseconds(10));
    ASSERT_TRUE(fs::exists(path)) << path;
  }

  static std::string ReadAll(const fs::path& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  pid_t AgentPid() {
    return std::stoi(ReadAll(dir_ / "jobs" / "owner" / "warm-worker" / "agent.pid"));
  }

  std::optional<Observation> WaitForExit(const std::string& job_id) {
    std::unique_lock lock(mutex_);
    exited_.wait_for(lock, std::chrono::seconds(10), [&] { return exits_.contains(job_id); });
    auto it = exits_.find(job_id);
    if (it == exits_.end()) return std::nullopt;
    return it->second;
  }

  fs::path dir_;
  std::unique_ptr<LocalBackend> backend_;
  std::mutex mutex_;
  std::condition_variable exited_;
  std::map<std::string, Observation> exits_;
};

TEST_F(LocalWarmWorkersTest, HandsJobToWaitingWorker) {
  MakeBackend("ok");
  std::string worker = StartWorker();
  EXPECT_EQ(worker, "warm-owner");
  EXPECT_TRUE(backend_->WarmWorkerAlive(worker));

  auto launched = backend_->LaunchOnWarmWorker(worker, Request("job-b"));
  ASSERT_TRUE(launched) << launched.error().message();
  EXPECT_EQ(launched->native_id, fmt::format("pid:{}", AgentPid()));
  EXPECT_FALSE(backend_->WarmWorkerAlive(worker));

  std::optional<Observation> exit = WaitForExit("job-b");
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->state, ObservedState::kSucceeded);

  auto handoff = ParseHandoff(ReadAll(dir_ / "jobs" / "owner" / "warm-worker" / "handoff.json"));
  ASSERT_TRUE(handoff) << handoff.error().message();
  EXPECT_EQ(handoff->job_dir, dir_ / "jobs" / "job-b");
  EXPECT_EQ(handoff->environment["TANDEM_JOB_ID"], "job-b");
  EXPECT_EQ(handoff->environment["TANDEM_JOB_TOKEN"], "secret-token");
  EXPECT_EQ(handoff->environment["TANDEM_JOB_ROOT"], (dir_ / "jobs" / "job-b" / "root").string());
  EXPECT_EQ(handoff->environment["USER_VAR"], "42");
  EXPECT_EQ(handoff->spec_json, R"({"TrainingJobName": "name-job-b"})");
  EXPECT_TRUE(fs::exists(dir_ / "jobs" / "job-b" / "launch.json"));

  auto described = backend_->Describe(launched->native_id);
  ASSERT_TRUE(described);
  EXPECT_EQ(described->state, ObservedState::kSucceeded);
}

TEST_F(LocalWarmWorkersTest, StopDuringReuse) {
  MakeBackend("stoppable");
  std::string worker = StartWorker();
  auto launched = backend_->LaunchOnWarmWorker(worker, Request("job-b"));
  ASSERT_TRUE(launched) << launched.error().message();
  WaitForFile(dir_ / "jobs" / "owner" / "warm-worker" / "handoff.json");

  ASSERT_TRUE(backend_->Stop(launched->native_id, std::chrono::seconds(5)));
  std::optional<Observation> exit = WaitForExit("job-b");
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->state, ObservedState::kFailed);
  EXPECT_EQ(exit->reason, "stopped on request: exit code 143");
}

TEST_F(LocalWarmWorkersTest, DeadWorkerRefused) {
  MakeBackend("stoppable");
  std::string worker = StartWorker();
  ASSERT_EQ(::kill(AgentPid(), SIGKILL), 0);
  for (int i = 0; i < 1000 && backend_->WarmWorkerAlive(worker); ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_FALSE(backend_->WarmWorkerAlive(worker));

  auto launched = backend_->LaunchOnWarmWorker(worker, Request("job-b"));
  ASSERT_FALSE(launched);
  EXPECT_EQ(launched.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(launched.error().message(), "warm worker warm-owner is gone");
  EXPECT_FALSE(fs::exists(dir_ / "jobs" / "job-b" / "launch.json"));
}

TEST_F(LocalWarmWorkersTest, WorkerNeverReadyIsTerminated) {
  MakeBackend("never-ready", milliseconds(200));
  std::string worker = StartWorker();
  pid_t pid = AgentPid();
  auto launched = backend_->LaunchOnWarmWorker(worker, Request("job-b"));
  ASSERT_FALSE(launched);
  EXPECT_EQ(launched.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(launched.error().message(),
            "warm worker warm-owner did not become ready within 200 ms; it was terminated");
  EXPECT_NE(::kill(pid, 0), 0);  // reaped, so the pid no longer exists
  EXPECT_FALSE(backend_->WarmWorkerAlive(worker));
}

TEST_F(LocalWarmWorkersTest, TerminateKillsWaitingWorker) {
  MakeBackend("stoppable");
  std::string worker = StartWorker();
  pid_t pid = AgentPid();
  backend_->TerminateWarmWorker(worker);
  EXPECT_FALSE(backend_->WarmWorkerAlive(worker));
  EXPECT_NE(::kill(pid, 0), 0);
  backend_->TerminateWarmWorker(worker);  // a second call is harmless
  auto launched = backend_->LaunchOnWarmWorker(worker, Request("job-b"));
  EXPECT_FALSE(launched);
}

TEST_F(LocalWarmWorkersTest, ImageNamesBinary) {
  MakeBackend("ok");
  std::string image = backend_->WarmImage();
  EXPECT_TRUE(image.starts_with((dir_ / "fake-tandem").string() + " size=")) << image;
}

TEST(WarmHandoff, RoundTrips) {
  std::string message =
      HandoffMessage("/data/jobs/job-1", {{"A", "1"}, {"B", "x y"}}, R"({"TrainingJobName": "a"})");
  EXPECT_TRUE(message.ends_with("\n"));
  auto parsed = ParseHandoff(message);
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_EQ(parsed->job_dir, "/data/jobs/job-1");
  EXPECT_EQ(parsed->environment, (std::map<std::string, std::string>{{"A", "1"}, {"B", "x y"}}));
  EXPECT_EQ(parsed->spec_json, R"({"TrainingJobName": "a"})");
}

TEST(WarmHandoff, SpecIsOptional) {
  std::string message = HandoffMessage("/data/jobs/job-1", {});
  EXPECT_EQ(message.find("Spec"), std::string::npos);
  auto parsed = ParseHandoff(message);
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_EQ(parsed->spec_json, "");
}

TEST(WarmHandoff, RejectsMalformed) {
  struct Case {
    std::string line;
    std::string expected;
  };
  std::vector<Case> cases = {
      {"not json", "warm worker hand-off"},
      {R"({"JobDir": "jobs/1", "Environment": {}})",
       "warm worker hand-off: JobDir \"jobs/1\" is not an absolute path"},
      {R"({"JobDir": "/j", "Environment": []})", "warm worker hand-off: Environment must be an object"},
      {R"({"JobDir": "/j", "Environment": {"TOKEN": 5}})",
       "warm worker hand-off: Environment.TOKEN must be a string"},
      {R"({"JobDir": "/j", "Environment": {}, "Extra": 1})", "Extra: unknown field"},
      {R"({"JobDir": "/j", "Environment": {}, "Spec": {}})", "Spec: expected a string"},
  };
  for (const Case& c : cases) {
    auto parsed = ParseHandoff(c.line);
    ASSERT_FALSE(parsed) << c.line;
    EXPECT_EQ(parsed.error().code(), ErrorCode::kInvalidArgument) << c.line;
    EXPECT_NE(parsed.error().message().find(c.expected), std::string::npos)
        << parsed.error().message();
  }
}

}  // namespace
}  // namespace tandem::backends
