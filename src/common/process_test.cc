#include "common/process.h"

#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace tandem {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;

class ProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "process_test_XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Read(const fs::path& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  // Waits (bounded) until `path` exists and is non-empty; returns its content.
  std::string WaitForFile(const fs::path& path) {
    for (int i = 0; i < 500; ++i) {
      std::error_code error;
      if (fs::exists(path, error) && fs::file_size(path, error) > 0) return Read(path);
      std::this_thread::sleep_for(milliseconds(10));
    }
    return "";
  }

  SpawnOptions Shell(std::string script) {
    return SpawnOptions{.argv = {"/bin/sh", "-c", std::move(script)},
                        .environment = {{"PATH", "/usr/bin:/bin"}},
                        .working_dir = dir_,
                        .log_file = dir_ / "out.log"};
  }

  fs::path dir_;
};

TEST_F(ProcessTest, OutputAppendsToLogFile) {
  {
    std::ofstream(dir_ / "out.log") << "earlier\n";
  }
  auto child = ChildProcess::Spawn(Shell("echo to-stdout; echo to-stderr >&2"));
  ASSERT_TRUE(child) << child.error().message();
  ExitStatus status = child->Wait();
  EXPECT_TRUE(status.success());
  EXPECT_EQ(Read(dir_ / "out.log"), "earlier\nto-stdout\nto-stderr\n");
}

TEST_F(ProcessTest, EnvironmentIsExactlyTheGivenOne) {
  SpawnOptions options{.argv = {"/usr/bin/env"},
                       .environment = {{"A", "1"}, {"B", "two words"}},
                       .log_file = dir_ / "out.log"};
  auto child = ChildProcess::Spawn(options);
  ASSERT_TRUE(child) << child.error().message();
  EXPECT_TRUE(child->Wait().success());
  EXPECT_EQ(Read(dir_ / "out.log"), "A=1\nB=two words\n");
}

TEST_F(ProcessTest, RunsInWorkingDirectory) {
  fs::create_directory(dir_ / "work");
  SpawnOptions options = Shell("pwd");
  options.working_dir = dir_ / "work";
  auto child = ChildProcess::Spawn(options);
  ASSERT_TRUE(child) << child.error().message();
  child->Wait();
  EXPECT_EQ(Read(dir_ / "out.log"), fs::canonical(dir_ / "work").string() + "\n");
}

TEST_F(ProcessTest, BareProgramNameSearchedInChildPath) {
  SpawnOptions options{.argv = {"true"}, .environment = {{"PATH", "/nonexistent:/bin:/usr/bin"}}};
  auto child = ChildProcess::Spawn(options);
  ASSERT_TRUE(child) << child.error().message();
  EXPECT_TRUE(child->Wait().success());
}

TEST_F(ProcessTest, ExitCodeDecoded) {
  auto child = ChildProcess::Spawn(Shell("exit 3"));
  ASSERT_TRUE(child);
  ExitStatus status = child->Wait();
  EXPECT_EQ(status.exit_code, 3);
  EXPECT_FALSE(status.signal.has_value());
  EXPECT_FALSE(status.success());
  EXPECT_EQ(status.Describe(), "exit code 3");
}

TEST_F(ProcessTest, SignalDecoded) {
  auto child = ChildProcess::Spawn(Shell("kill -9 $$"));
  ASSERT_TRUE(child);
  ExitStatus status = child->Wait();
  EXPECT_EQ(status.signal, 9);
  EXPECT_FALSE(status.exit_code.has_value());
  EXPECT_EQ(status.Describe(), "killed by signal 9");
}

TEST_F(ProcessTest, MissingProgramIsNotFound) {
  SpawnOptions options{.argv = {"no-such-program-xyz"}, .environment = {{"PATH", "/usr/bin:/bin"}}};
  auto child = ChildProcess::Spawn(options);
  ASSERT_FALSE(child);
  EXPECT_EQ(child.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(child.error().message(),
            "cannot start no-such-program-xyz: not found in PATH=/usr/bin:/bin");
}

TEST_F(ProcessTest, MissingProgramPathIsNotFound) {
  auto child = ChildProcess::Spawn(SpawnOptions{.argv = {(dir_ / "absent").string()}});
  ASSERT_FALSE(child);
  EXPECT_EQ(child.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(child.error().message().find((dir_ / "absent").string()), std::string::npos);
  EXPECT_NE(child.error().message().find("No such file or directory"), std::string::npos);
}

TEST_F(ProcessTest, NonExecutableProgramIsPermissionDenied) {
  std::ofstream(dir_ / "script.sh") << "#!/bin/sh\nexit 0\n";
  fs::permissions(dir_ / "script.sh", fs::perms::owner_read | fs::perms::owner_write);
  auto child = ChildProcess::Spawn(SpawnOptions{.argv = {(dir_ / "script.sh").string()}});
  ASSERT_FALSE(child);
  EXPECT_EQ(child.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_NE(child.error().message().find("script.sh"), std::string::npos);
}

TEST_F(ProcessTest, MissingWorkingDirectoryIsNotFound) {
  SpawnOptions options = Shell("true");
  options.working_dir = dir_ / "absent";
  auto child = ChildProcess::Spawn(options);
  ASSERT_FALSE(child);
  EXPECT_EQ(child.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(child.error().message(), "cannot start /bin/sh: working directory " +
                                         (dir_ / "absent").string() + " does not exist");
}

TEST_F(ProcessTest, EmptyArgvIsInvalidArgument) {
  auto child = ChildProcess::Spawn(SpawnOptions{});
  ASSERT_FALSE(child);
  EXPECT_EQ(child.error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(ProcessTest, WaitForTimesOutWhileRunning) {
  auto child = ChildProcess::Spawn(Shell("sleep 30"));
  ASSERT_TRUE(child);
  EXPECT_FALSE(child->WaitFor(milliseconds(20)).has_value());
  EXPECT_FALSE(child->reaped());
  ASSERT_TRUE(child->Signal(SIGKILL));
  EXPECT_EQ(child->Wait().signal, SIGKILL);
}

TEST_F(ProcessTest, SignalReachesWholeGroup) {
  // The shell waits on a background sleep in its group; SIGTERM must end both.
  auto child = ChildProcess::Spawn(Shell("sleep 30 & echo $! > sleeper.pid; wait"));
  ASSERT_TRUE(child);
  std::string sleeper = WaitForFile(dir_ / "sleeper.pid");
  ASSERT_FALSE(sleeper.empty());
  pid_t sleeper_pid = std::stoi(sleeper);
  ASSERT_TRUE(child->Signal(SIGTERM));
  ExitStatus status = child->Wait();
  EXPECT_EQ(status.signal, SIGTERM);
  // The orphaned sleeper is reaped by init, not by us, so it may linger briefly as a zombie.
  for (int attempt = 0; attempt < 200 && ProcessStartTime(sleeper_pid).has_value(); ++attempt) {
    std::this_thread::sleep_for(milliseconds(25));
  }
  EXPECT_FALSE(ProcessStartTime(sleeper_pid).has_value());
}

TEST_F(ProcessTest, TerminateKillsAfterGrace) {
  auto child = ChildProcess::Spawn(Shell("trap '' TERM; echo ready > ready; while :; do sleep 1; done"));
  ASSERT_TRUE(child);
  ASSERT_FALSE(WaitForFile(dir_ / "ready").empty());
  ExitStatus status = child->Terminate(milliseconds(100));
  EXPECT_EQ(status.signal, SIGKILL);
}

TEST_F(ProcessTest, TerminateReturnsCleanExit) {
  auto child = ChildProcess::Spawn(Shell("trap 'exit 0' TERM; echo ready > ready; while :; do sleep 0.05; done"));
  ASSERT_TRUE(child);
  ASSERT_FALSE(WaitForFile(dir_ / "ready").empty());
  ExitStatus status = child->Terminate(seconds(30));
  EXPECT_EQ(status.exit_code, 0);
}

TEST_F(ProcessTest, LeftoverGroupMembersKilledAtExit) {
  auto child = ChildProcess::Spawn(Shell("(trap '' TERM; sleep 30) & echo $! > orphan.pid; exit 0"));
  ASSERT_TRUE(child);
  EXPECT_TRUE(child->Wait().success());
  pid_t orphan = std::stoi(WaitForFile(dir_ / "orphan.pid"));
  bool gone = false;
  for (int i = 0; i < 500 && !gone; ++i) {
    gone = !ProcessStartTime(orphan).has_value();
    if (!gone) std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_TRUE(gone);
}

TEST_F(ProcessTest, DestructorKillsUnreapedChild) {
  pid_t pid = 0;
  {
    auto child = ChildProcess::Spawn(Shell("sleep 30"));
    ASSERT_TRUE(child);
    pid = child->pid();
    ASSERT_TRUE(ProcessStartTime(pid).has_value());
  }
  EXPECT_FALSE(ProcessStartTime(pid).has_value());
}

TEST_F(ProcessTest, NewGroupLeadsOwnGroup) {
  SpawnOptions options = Shell("sleep 30");
  options.group = ProcessGroup::kNewGroup;
  auto child = ChildProcess::Spawn(options);
  ASSERT_TRUE(child);
  EXPECT_EQ(::getpgid(child->pid()), child->pid());
  EXPECT_EQ(::getsid(child->pid()), ::getsid(0));
  child->Terminate(milliseconds(0));
}

TEST_F(ProcessTest, NewSessionLeadsOwnSession) {
  auto child = ChildProcess::Spawn(Shell("sleep 30"));
  ASSERT_TRUE(child);
  EXPECT_EQ(::getsid(child->pid()), child->pid());
  child->Terminate(milliseconds(0));
}

TEST_F(ProcessTest, SignalSessionReachesOtherGroups) {
  // The inner shell moves the sleeper to a group of its own (set -m) within the session.
  auto child = ChildProcess::Spawn(Shell("set -m; sleep 30 & echo $! > sleeper.pid; wait"));
  ASSERT_TRUE(child);
  pid_t sleeper = std::stoi(WaitForFile(dir_ / "sleeper.pid"));
  ASSERT_EQ(::getsid(sleeper), child->pid());
  EXPECT_GE(SignalSession(child->pid(), SIGKILL), 2);
  child->Wait();
  bool gone = false;
  for (int i = 0; i < 500 && !gone; ++i) {
    gone = !ProcessStartTime(sleeper).has_value();
    if (!gone) std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_TRUE(gone);
}

TEST_F(ProcessTest, StartTimeOfMissingProcess) {
  EXPECT_TRUE(ProcessStartTime(::getpid()).has_value());
  EXPECT_FALSE(ProcessStartTime(0x3fffffff).has_value());
}

}  // namespace
}  // namespace tandem
