// Runs real batch jobs on the one-machine Slurm cluster of the ctest fixture
// `slurm` (scripts/slurm-test-cluster.sh), reached through the slurm.conf in
// TANDEM_TEST_SLURM_CONF. A shell script replaces `tandem train`, so the jobs
// take the backend's whole launch path without a control plane.
#include "backends/slurm_backend.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <thread>

#include "backends/slurm_test_cluster.h"
#include "common/file_util.h"

namespace tandem::backends {
namespace {

using testing::DownNode;
using testing::Shell;
using testing::SlurmConf;


namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using std::chrono::seconds;

constexpr std::string_view kToken = "tok-3f9c2a7d5e-secret";

// `tandem train` stand-in; TEST_MODE picks what it does.
constexpr std::string_view kFakeTandem = R"(#!/bin/sh
[ "$1" = train ] || { echo "expected the argument train, got $1"; exit 64; }
if [ "$2" = --warm-agent ]; then
  # The warm agent of a kept allocation: it notes where it runs, then acts on
  # the TEST_MODE of the job handed to it.
  echo "agent in Slurm job $SLURM_JOB_ID step $SLURM_STEP_ID" >> agent.log
  read -r handoff < "$3"
  case "$handoff" in
    *'"TEST_MODE":"sleep"'*)
      echo "agent runs a sleeping job" >> agent.log
      trap 'echo "agent received SIGTERM" >> agent.log; exit 143' TERM
      while :; do sleep 0.2; done ;;
  esac
  echo "agent ran a job" >> agent.log
  exit 0
fi
echo "first line of user code"
echo "job $TANDEM_JOB_ID token length ${#TANDEM_JOB_TOKEN} root $TANDEM_JOB_ROOT"
echo "attempt $TANDEM_JOB_ATTEMPT"
case "$TEST_MODE" in
  succeed) exit 0 ;;
  fail)
    mkdir -p "$TANDEM_JOB_ROOT/output"
    echo "bad input" > "$TANDEM_JOB_ROOT/output/failure"
    exit 1 ;;
  sleep)
    trap 'echo "received SIGTERM"; exit 143' TERM
    while :; do sleep 0.2; done ;;
  ignore_term)
    trap 'echo "ignored SIGTERM"' TERM
    while :; do sleep 0.2; done ;;
esac
exit 65
)";

std::string SlurmId(const std::string& native_id) { return native_id.substr(6); }

class SlurmBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(SlurmConf().empty())
        << "TANDEM_TEST_SLURM_CONF is not set: run this test through ctest, which starts the "
           "Slurm cluster (fixture `slurm`), or start one with scripts/slurm-test-cluster.sh "
           "and set TANDEM_TEST_SLURM_CONF to its slurm.conf";
    std::string pattern = (fs::temp_directory_path() / "tandem-slurm-backend-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    fs::permissions(dir_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                              fs::perms::others_read | fs::perms::others_exec);
    fs::path fake = dir_ / "fake-tandem";
    ASSERT_TRUE(WriteFileAtomic(fake, kFakeTandem, fs::perms::owner_all));
    options_.tandem_binary = fake;
    options_.slurm_conf = SlurmConf();
    options_.command_timeout = seconds(20);
    options_.time_limit_margin = seconds(0);
  }

  void TearDown() override {
    for (const std::string& native_id : launched_) Shell("scancel " + SlurmId(native_id));
    std::error_code error;
    fs::remove_all(dir_, error);
  }

  SlurmBackend& backend() {
    if (!backend_) backend_ = std::make_unique<SlurmBackend>(options_);
    return *backend_;
  }

  LaunchRequest Request(const std::string& job_id, const std::string& mode) {
    return LaunchRequest{
        .job_id = job_id,
        .job_name = job_id,
        .api_url = "http://127.0.0.1:1",
        .job_token = std::string(kToken),
        .job_dir = dir_ / job_id,
        .cpu_count = 1,
        .memory_mib = 256,
        .max_runtime_seconds = 3600,
        .environment = {{"TEST_MODE", mode}},
    };
  }

  std::string Launch(const LaunchRequest& request) {
    Result<LaunchInfo> info = backend().Launch(request);
    EXPECT_TRUE(info) << info.error().message();
    if (!info) return "";
    EXPECT_THAT(info->native_id, ::testing::StartsWith("slurm:"));
    launched_.push_back(info->native_id);
    return info->native_id;
  }

  // Polls Describe until `done` returns true or `limit` passes. Returns the last observation.
  Observation WaitFor(const std::string& native_id, const std::function<bool(const Observation&)>& done,
                      seconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    Observation last;
    while (std::chrono::steady_clock::now() < deadline) {
      Result<Observation> observed = backend().Describe(native_id);
      if (observed) {
        last = *observed;
        if (done(last)) return last;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    ADD_FAILURE() << "Describe(" << native_id << ") did not reach the expected state within "
                  << limit.count() << " s; last state " << Name(last.state) << ", reason \""
                  << last.reason << "\"";
    return last;
  }

  Observation WaitEnded(const std::string& native_id, seconds limit = seconds(60)) {
    return WaitFor(native_id, [](const Observation& o) {
      return o.state == ObservedState::kSucceeded || o.state == ObservedState::kFailed ||
             o.state == ObservedState::kGone;
    }, limit);
  }

  Observation WaitRunning(const std::string& native_id) {
    return WaitFor(native_id, [](const Observation& o) { return o.state == ObservedState::kRunning; },
                   seconds(60));
  }

  std::string JobLog(const std::string& job_id) {
    return ReadFile(dir_ / job_id / "job.log").value_or("");
  }

  // Waits until the job's log contains `text` (the batch script runs a moment
  // after Slurm reports RUNNING).
  bool WaitForLog(const std::string& job_id, std::string_view text) {
    for (int attempt = 0; attempt < 200; ++attempt) {
      if (JobLog(job_id).find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  fs::path dir_;
  SlurmOptions options_;
  std::unique_ptr<SlurmBackend> backend_;
  std::vector<std::string> launched_;
};

TEST_F(SlurmBackendTest, JobRunsToCompletion) {
  std::string native_id = Launch(Request("job-ok", "succeed"));
  ASSERT_FALSE(native_id.empty());

  Observation ended = WaitEnded(native_id);
  EXPECT_EQ(ended.state, ObservedState::kSucceeded);
  EXPECT_EQ(ended.exit_code, 0);
  std::string log = JobLog("job-ok");
  EXPECT_THAT(log, HasSubstr("first line of user code"));
  EXPECT_THAT(log, HasSubstr("job job-ok token length " + std::to_string(kToken.size())));
  EXPECT_THAT(log, HasSubstr("root " + (dir_ / "job-ok" / "root").string()));
}

TEST_F(SlurmBackendTest, FailureExitIsFailed) {
  std::string native_id = Launch(Request("job-fail", "fail"));
  ASSERT_FALSE(native_id.empty());

  Observation ended = WaitEnded(native_id);
  EXPECT_EQ(ended.state, ObservedState::kFailed);
  EXPECT_EQ(ended.exit_code, 1);
  EXPECT_EQ(ended.cause, EndCause::kUnspecified);
  EXPECT_THAT(ended.reason, HasSubstr("FAILED"));
  EXPECT_EQ(ReadFile(dir_ / "job-fail" / "root" / "output" / "failure").value_or(""), "bad input\n");
}

TEST_F(SlurmBackendTest, TokenStaysOffCommandLinesAndSlurm) {
  LaunchRequest request = Request("job-token", "sleep");
  for (const std::string& arg : backend().SbatchArgv(request)) {
    EXPECT_THAT(arg, Not(HasSubstr(kToken)));
  }
  std::string native_id = Launch(request);
  ASSERT_FALSE(native_id.empty());
  WaitRunning(native_id);

  ASSERT_TRUE(WaitForLog("job-token", "first line of user code"));
  EXPECT_FALSE(fs::exists(dir_ / "job-token" / "slurm-job.env"));
  EXPECT_THAT(ReadFile(dir_ / "job-token" / "slurm-job.sh").value_or(""), Not(HasSubstr(kToken)));
  std::string job_text = Shell("scontrol show job -dd " + SlurmId(native_id));
  EXPECT_THAT(job_text, HasSubstr("JobName=tandem-job-token"));
  EXPECT_THAT(job_text, Not(HasSubstr(kToken)));
  std::string script = Shell("scontrol write batch_script " + SlurmId(native_id) + " -");
  EXPECT_THAT(script, HasSubstr("exec"));
  EXPECT_THAT(script, Not(HasSubstr(kToken)));
  EXPECT_THAT(Shell("ps -eo args"), Not(HasSubstr(kToken)));
}

TEST_F(SlurmBackendTest, LaunchIsIdempotent) {
  LaunchRequest request = Request("job-twice", "sleep");
  std::string native_id = Launch(request);
  ASSERT_FALSE(native_id.empty());

  Result<LaunchInfo> again = backend().Launch(request);
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(again->native_id, native_id);
  EXPECT_TRUE(again->already_running);

  // Without the launch record, the job is found by its Slurm job name.
  fs::remove(dir_ / "job-twice" / "slurm-launch.json");
  Result<LaunchInfo> found = backend().Launch(request);
  ASSERT_TRUE(found) << found.error().message();
  EXPECT_EQ(found->native_id, native_id);
  EXPECT_TRUE(found->already_running);

  // Once the job ended, Launch still starts nothing.
  ASSERT_TRUE(backend().Stop(native_id, seconds(1)));
  WaitEnded(native_id);
  Result<LaunchInfo> after = backend().Launch(request);
  ASSERT_TRUE(after) << after.error().message();
  EXPECT_EQ(after->native_id, native_id);
  EXPECT_TRUE(after->already_ended);
  EXPECT_FALSE(after->already_running);
}

TEST_F(SlurmBackendTest, StopRunningSendsSigterm) {
  std::string native_id = Launch(Request("job-term", "sleep"));
  ASSERT_FALSE(native_id.empty());
  WaitRunning(native_id);
  ASSERT_TRUE(WaitForLog("job-term", "first line of user code"));

  Status stopped = backend().Stop(native_id, seconds(60));
  ASSERT_TRUE(stopped) << stopped.error().message();
  Observation ended = WaitEnded(native_id);
  EXPECT_EQ(ended.state, ObservedState::kFailed);
  EXPECT_EQ(ended.exit_code, 143);
  EXPECT_THAT(JobLog("job-term"), HasSubstr("received SIGTERM"));
}

TEST_F(SlurmBackendTest, StopRunningKillsAfterGrace) {
  std::string native_id = Launch(Request("job-stubborn", "ignore_term"));
  ASSERT_FALSE(native_id.empty());
  WaitRunning(native_id);
  ASSERT_TRUE(WaitForLog("job-stubborn", "first line of user code"));

  Status stopped = backend().Stop(native_id, seconds(1));
  ASSERT_TRUE(stopped) << stopped.error().message();
  Observation ended = WaitEnded(native_id);
  EXPECT_EQ(ended.state, ObservedState::kFailed);
  EXPECT_EQ(ended.cause, EndCause::kCancelled);
  EXPECT_THAT(JobLog("job-stubborn"), HasSubstr("ignored SIGTERM"));
}

TEST_F(SlurmBackendTest, StopPendingCancels) {
  // The blocker takes every CPU of the node, so the second job waits.
  LaunchRequest blocker = Request("job-blocker", "sleep");
  blocker.cpu_count = static_cast<int>(std::thread::hardware_concurrency());
  std::string blocker_id = Launch(blocker);
  ASSERT_FALSE(blocker_id.empty());
  WaitRunning(blocker_id);
  std::string native_id = Launch(Request("job-waiting", "succeed"));
  ASSERT_FALSE(native_id.empty());
  Result<Observation> waiting = backend().Describe(native_id);
  ASSERT_TRUE(waiting) << waiting.error().message();
  EXPECT_EQ(waiting->state, ObservedState::kPending);
  // Until the job starts, its environment waits in a file only the owner can read.
  fs::path env_file = dir_ / "job-waiting" / "slurm-job.env";
  EXPECT_EQ(fs::status(env_file).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_THAT(ReadFile(env_file).value_or(""), HasSubstr(kToken));

  Status stopped = backend().Stop(native_id, seconds(30));
  ASSERT_TRUE(stopped) << stopped.error().message();
  Observation ended = WaitEnded(native_id);
  EXPECT_EQ(ended.state, ObservedState::kFailed);
  EXPECT_EQ(ended.cause, EndCause::kCancelled);
  EXPECT_EQ(JobLog("job-waiting"), "");
  ASSERT_TRUE(backend().Stop(blocker_id, seconds(1)));
}

TEST_F(SlurmBackendTest, ScancelBehindBackendIsReported) {
  std::string native_id = Launch(Request("job-scancel", "sleep"));
  ASSERT_FALSE(native_id.empty());
  WaitRunning(native_id);

  Shell("scancel " + SlurmId(native_id));
  Observation ended = WaitEnded(native_id);
  EXPECT_EQ(ended.state, ObservedState::kFailed);
  EXPECT_EQ(ended.cause, EndCause::kCancelled);
  EXPECT_THAT(ended.reason, HasSubstr("CANCELLED"));
}

// A real node failure: the node goes DOWN under a running batch job, which
// has --no-requeue, so Slurm ends it NODE_FAIL. The job's next attempt is a
// batch job of its own that runs once the node is back.
TEST_F(SlurmBackendTest, NodeFailureThenNextAttemptRuns) {
  DownNode node;
  ASSERT_FALSE(node.name().empty()) << "sinfo listed no node";
  std::string first = Launch(Request("job-node-fail", "sleep"));
  ASSERT_FALSE(first.empty());
  WaitRunning(first);
  ASSERT_TRUE(WaitForLog("job-node-fail", "attempt 1"));

  EXPECT_EQ(node.Down(), "");
  Observation interrupted = WaitEnded(first);
  EXPECT_EQ(interrupted.state, ObservedState::kFailed);
  EXPECT_EQ(interrupted.cause, EndCause::kInterrupted);
  EXPECT_THAT(interrupted.reason, HasSubstr("NODE_FAIL"));
  node.Resume();

  LaunchRequest retry = Request("job-node-fail", "succeed");
  retry.attempt = 2;
  retry.job_dir = AttemptDir(dir_, "job-node-fail", 2);
  std::string second = Launch(retry);
  ASSERT_FALSE(second.empty());
  EXPECT_NE(second, first);
  EXPECT_THAT(Shell("scontrol show job -o " + SlurmId(second)),
              HasSubstr("JobName=tandem-job-node-fail-attempt-2"));
  Observation done = WaitEnded(second, seconds(120));
  EXPECT_EQ(done.state, ObservedState::kSucceeded) << done.reason;
  EXPECT_THAT(ReadFile(retry.job_dir / "job.log").value_or(""), HasSubstr("attempt 2"));

  // Each attempt stays idempotent: neither is submitted again.
  Result<LaunchInfo> again = backend().Launch(retry);
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(again->native_id, second);
  EXPECT_TRUE(again->already_ended);
  Result<LaunchInfo> first_again = backend().Launch(Request("job-node-fail", "sleep"));
  ASSERT_TRUE(first_again) << first_again.error().message();
  EXPECT_EQ(first_again->native_id, first);
  EXPECT_TRUE(first_again->already_ended);
}

TEST_F(SlurmBackendTest, TimeLimitIsMaxRuntimeExceeded) {
  // --time=1 (minute); slurmctld checks time limits about every 30 s.
  LaunchRequest request = Request("job-timeout", "sleep");
  request.max_runtime_seconds = 1;
  std::string native_id = Launch(request);
  ASSERT_FALSE(native_id.empty());
  EXPECT_THAT(Shell("scontrol show job -o " + SlurmId(native_id)), HasSubstr("TimeLimit=00:01:00"));

  Observation ended = WaitEnded(native_id, seconds(240));
  EXPECT_EQ(ended.state, ObservedState::kFailed);
  EXPECT_EQ(ended.cause, EndCause::kMaxRuntimeExceeded);
  EXPECT_THAT(ended.reason, HasSubstr("TIMEOUT"));
}

TEST_F(SlurmBackendTest, ImpossibleResourcesAreInvalid) {
  LaunchRequest request = Request("job-huge", "succeed");
  request.cpu_count = 100000;
  Result<LaunchInfo> info = backend().Launch(request);
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(info.error().message(), HasSubstr("More processors requested than permitted"));

  request.cpu_count = 1;
  request.memory_mib = int64_t{1} << 40;
  info = backend().Launch(request);
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(info.error().message(), HasSubstr("job-huge"));
}

TEST_F(SlurmBackendTest, UnreachableControllerIsUnavailable) {
  // A copy of the cluster's slurm.conf with a SlurmctldPort where no process listens.
  std::string conf = ReadFile(SlurmConf()).value_or("");
  conf = std::regex_replace(conf, std::regex("SlurmctldPort=[0-9]+"), "SlurmctldPort=9");
  fs::path broken = dir_ / "unreachable.conf";
  ASSERT_TRUE(WriteFileAtomic(broken, conf));
  options_.slurm_conf = broken;

  Result<LaunchInfo> info = backend().Launch(Request("job-down", "succeed"));
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().code(), ErrorCode::kUnavailable);
  EXPECT_THAT(info.error().message(), HasSubstr("job-down"));
  Result<Observation> observed = backend().Describe("slurm:1");
  ASSERT_FALSE(observed);
  EXPECT_EQ(observed.error().code(), ErrorCode::kUnavailable);
  Status stopped = backend().Stop("slurm:1", seconds(1));
  ASSERT_FALSE(stopped);
  EXPECT_EQ(stopped.error().code(), ErrorCode::kUnavailable);
}

TEST_F(SlurmBackendTest, StoppedControllerIsUnavailable) {
  std::string native_id = Launch(Request("job-outage", "sleep"));
  ASSERT_FALSE(native_id.empty());
  WaitRunning(native_id);

  // Stop slurmctld of the fixture's cluster (its pid file is in <dir>/run).
  fs::path cluster_dir = fs::path(SlurmConf()).parent_path();
  std::string pid = ReadFile(cluster_dir / "run" / "slurmctld.pid").value_or("");
  pid.erase(pid.find_last_not_of(" \n") + 1);  // the file ends with a newline
  ASSERT_FALSE(pid.empty());
  Shell("kill -TERM " + pid + "; while kill -0 " + pid + "; do sleep 0.1; done");

  Result<Observation> observed = backend().Describe(native_id);
  ASSERT_FALSE(observed);
  EXPECT_EQ(observed.error().code(), ErrorCode::kUnavailable);
  EXPECT_THAT(observed.error().message(), HasSubstr("slurmctld cannot be reached"));
  Result<LaunchInfo> info = backend().Launch(Request("job-during-outage", "succeed"));
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().code(), ErrorCode::kUnavailable);

  // Restarted from its saved state, slurmctld still has the job.
  Shell("slurmctld -f " + SlurmConf());
  Observation running = WaitRunning(native_id);
  EXPECT_EQ(running.state, ObservedState::kRunning);
}

TEST_F(SlurmBackendTest, ForgottenJobIsGone) {
  Result<Observation> observed = backend().Describe("slurm:999999");
  ASSERT_TRUE(observed) << observed.error().message();
  EXPECT_EQ(observed->state, ObservedState::kGone);
  EXPECT_THAT(observed->reason, HasSubstr("999999"));
  EXPECT_TRUE(backend().Stop("slurm:999999", seconds(1)));
}

TEST_F(SlurmBackendTest, MalformedNativeIdIsInvalid) {
  for (std::string_view id : {"pid:12", "slurm:", "slurm:12a", "12", "slurm:12.", "slurm:.0",
                              "slurm:12.x"}) {
    Result<Observation> observed = backend().Describe(id);
    ASSERT_FALSE(observed) << id;
    EXPECT_EQ(observed.error().code(), ErrorCode::kInvalidArgument) << id;
    EXPECT_EQ(backend().Stop(id, seconds(1)).error().code(), ErrorCode::kInvalidArgument) << id;
  }
}

// A request whose spec keeps the allocation for `keep_alive_seconds`.
LaunchRequest WithKeepAlive(LaunchRequest request, int keep_alive_seconds) {
  request.spec_json = fmt::format(R"({{"ResourceConfig": {{"KeepAlivePeriodInSeconds": {}}}}})",
                                  keep_alive_seconds);
  return request;
}

class SlurmWarmTest : public SlurmBackendTest {
 protected:
  // Launches a job that keeps its allocation and waits until its own run is
  // over; returns its native id and the kept worker's id.
  std::pair<std::string, std::string> KeepAllocation(const std::string& job_id) {
    std::string native_id = Launch(WithKeepAlive(Request(job_id, "succeed"), 120));
    EXPECT_TRUE(WaitForLog(job_id, "first line of user code"));
    Result<std::string> worker;
    for (int attempt = 0; attempt < 100; ++attempt) {
      worker = backend().StartWarmWorker(job_id, dir_ / job_id);
      if (worker) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_TRUE(worker) << worker.error().message();
    return {native_id, worker.value_or("")};
  }

  std::string AgentLog(const std::string& owner_job_id) {
    return ReadFile(dir_ / owner_job_id / "agent.log").value_or("");
  }
};

TEST_F(SlurmWarmTest, KeptAllocationRunsTheNextJobAsAStep) {
  auto [owner_id, worker] = KeepAllocation("job-owner");
  ASSERT_FALSE(worker.empty());
  EXPECT_EQ(worker, SlurmId(owner_id));
  EXPECT_TRUE(backend().WarmWorkerAlive(worker));
  EXPECT_THAT(Shell("scontrol show job -o " + worker), HasSubstr("JobState=RUNNING"));

  Result<LaunchInfo> reused = backend().LaunchOnWarmWorker(worker, Request("job-reuser", "succeed"));
  ASSERT_TRUE(reused) << reused.error().message();
  launched_.push_back(reused->native_id);
  EXPECT_EQ(reused->native_id, owner_id + ".0");
  EXPECT_FALSE(backend().WarmWorkerAlive(worker));

  Observation ended = WaitEnded(reused->native_id);
  EXPECT_EQ(ended.state, ObservedState::kSucceeded) << ended.reason;
  EXPECT_THAT(AgentLog("job-owner"), HasSubstr("agent in Slurm job " + worker + " step 0"));
  EXPECT_THAT(AgentLog("job-owner"), HasSubstr("agent ran a job"));

  // A repeated launch finds the step instead of submitting again.
  Result<LaunchInfo> again = backend().Launch(Request("job-reuser", "succeed"));
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(again->native_id, reused->native_id);
  EXPECT_TRUE(again->already_ended);
}

TEST_F(SlurmWarmTest, StopReachesTheJobOnAKeptAllocation) {
  auto [owner_id, worker] = KeepAllocation("job-owner-stop");
  ASSERT_FALSE(worker.empty());
  Result<LaunchInfo> reused =
      backend().LaunchOnWarmWorker(worker, Request("job-reuser-stop", "sleep"));
  ASSERT_TRUE(reused) << reused.error().message();
  launched_.push_back(reused->native_id);
  for (int attempt = 0; attempt < 100; ++attempt) {
    if (AgentLog("job-owner-stop").find("sleeping job") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(backend().Describe(reused->native_id)->state, ObservedState::kRunning);

  ASSERT_TRUE(backend().Stop(reused->native_id, seconds(30)));
  Observation ended = WaitEnded(reused->native_id);
  EXPECT_EQ(ended.state, ObservedState::kFailed);
  EXPECT_THAT(AgentLog("job-owner-stop"), HasSubstr("agent received SIGTERM"));
}

TEST_F(SlurmWarmTest, TerminateCancelsTheAllocationOnce) {
  fs::path calls = dir_ / "scancel.calls";
  fs::path wrapper = dir_ / "scancel-wrapper";
  ASSERT_TRUE(WriteFileAtomic(wrapper,
                              fmt::format("#!/bin/sh\necho \"$@\" >> '{}'\nexec scancel \"$@\"\n",
                                          calls.string()),
                              fs::perms::owner_all));
  options_.scancel_command = wrapper.string();
  auto [owner_id, worker] = KeepAllocation("job-owner-expiry");
  ASSERT_FALSE(worker.empty());

  backend().TerminateWarmWorker(worker);
  backend().TerminateWarmWorker(worker);
  Observation ended = WaitEnded(owner_id);
  EXPECT_EQ(ended.state, ObservedState::kFailed);
  EXPECT_EQ(ended.cause, EndCause::kCancelled);
  EXPECT_EQ(ReadFile(calls).value_or(""), worker + "\n");
  EXPECT_FALSE(backend().WarmWorkerAlive(worker));
  EXPECT_EQ(backend().LaunchOnWarmWorker(worker, Request("job-late", "succeed")).error().code(),
            ErrorCode::kFailedPrecondition);
}

TEST_F(SlurmWarmTest, CancelledAllocationIsNotReused) {
  auto [owner_id, worker] = KeepAllocation("job-owner-cancelled");
  ASSERT_FALSE(worker.empty());
  Shell("scancel " + worker);
  WaitEnded(owner_id);

  EXPECT_FALSE(backend().WarmWorkerAlive(worker));
  Result<LaunchInfo> reused =
      backend().LaunchOnWarmWorker(worker, Request("job-not-reused", "succeed"));
  ASSERT_FALSE(reused);
  EXPECT_EQ(reused.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_FALSE(fs::exists(dir_ / "job-not-reused" / "slurm-launch.json"));
}

TEST_F(SlurmWarmTest, UnclaimedAllocationEndsAfterItsKeepAlivePeriod) {
  // No control plane keeps or terminates this allocation, so its batch script ends it
  // after the keep-alive period (1 s) and the grace (10 s).
  std::string native_id = Launch(WithKeepAlive(Request("job-unclaimed", "succeed"), 1));
  Observation ended = WaitEnded(native_id);
  EXPECT_NE(ended.state, ObservedState::kGone);
  EXPECT_THAT(AgentLog("job-unclaimed"), HasSubstr("agent in Slurm job"));
  EXPECT_THAT(AgentLog("job-unclaimed"), Not(HasSubstr("agent ran a job")));
}

TEST_F(SlurmWarmTest, OnlyJobsWithAKeepAlivePeriodAreKept) {
  std::string native_id = Launch(Request("job-not-kept", "succeed"));
  WaitEnded(native_id);
  Result<std::string> worker = backend().StartWarmWorker("job-not-kept", dir_ / "job-not-kept");
  ASSERT_FALSE(worker);
  EXPECT_EQ(worker.error().code(), ErrorCode::kFailedPrecondition);
}

TEST_F(SlurmWarmTest, LongerJobIsNotHandedToTheAllocation) {
  auto [owner_id, worker] = KeepAllocation("job-owner-short");
  ASSERT_FALSE(worker.empty());
  LaunchRequest longer = Request("job-longer", "succeed");
  longer.max_runtime_seconds = 7200;
  Result<LaunchInfo> reused = backend().LaunchOnWarmWorker(worker, longer);
  ASSERT_FALSE(reused);
  EXPECT_THAT(reused.error().message(), HasSubstr("MaxRuntimeInSeconds 7200"));
  EXPECT_FALSE(backend().WarmWorkerAlive(worker));
  EXPECT_EQ(WaitEnded(owner_id).cause, EndCause::kCancelled);
}

TEST_F(SlurmBackendTest, KeepAliveWidensTheTimeLimit) {
  LaunchRequest request = WithKeepAlive(Request("job-time", "succeed"), 600);
  EXPECT_THAT(backend().SbatchArgv(request), ::testing::Contains("--time=130"));
  EXPECT_THAT(backend().SbatchArgv(Request("job-time", "succeed")),
              ::testing::Contains("--time=60"));
}

TEST_F(SlurmBackendTest, MalformedKeepAliveIsInvalid) {
  LaunchRequest request = Request("job-bad-keep", "succeed");
  request.spec_json = R"({"ResourceConfig": {"KeepAlivePeriodInSeconds": "ten"}})";
  Result<LaunchInfo> info = backend().Launch(request);
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(info.error().message(), HasSubstr("KeepAlivePeriodInSeconds"));
  request.spec_json = R"({"ResourceConfig": {"KeepAlivePeriodInSeconds": -5}})";
  info = backend().Launch(request);
  ASSERT_FALSE(info);
  EXPECT_THAT(info.error().message(), HasSubstr("must not be negative"));
  request.spec_json = "{not json";
  EXPECT_EQ(backend().Launch(request).error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(SlurmBackendTest, MalformedRequestIsInvalid) {
  LaunchRequest request = Request("job-bad", "succeed");
  request.cpu_count = 0;
  EXPECT_EQ(backend().Launch(request).error().code(), ErrorCode::kInvalidArgument);
  request = Request("job-bad", "succeed");
  request.job_dir = "relative/dir";
  EXPECT_EQ(backend().Launch(request).error().code(), ErrorCode::kInvalidArgument);
  request = Request("job-bad", "succeed");
  request.environment["NOT-A-NAME"] = "x";
  Result<LaunchInfo> info = backend().Launch(request);
  ASSERT_FALSE(info);
  EXPECT_THAT(info.error().message(), HasSubstr("NOT-A-NAME"));
}

}  // namespace
}  // namespace tandem::backends
