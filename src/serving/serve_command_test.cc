#include "serving/serve_command.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <optional>
#include <regex>
#include <thread>

#include "common/file_util.h"
#include "common/http.h"
#include "serving/model_source.h"
#include "serving/test_package.h"

extern char** environ;

namespace tandem::serving {
namespace {

using testing::BuildTestPackage;
using ::testing::HasSubstr;
using testing::ScratchDir;

constexpr auto kStartTimeout = std::chrono::seconds(60);

// The serve-only binary built next to this test.
std::string ServeTool() { return SERVE_TOOL_PATH; }

// A child process running the serve tool, killed if the test ends early.
class ServeProcess {
 public:
  ServeProcess(std::vector<std::string> args, const std::filesystem::path& log,
               std::vector<std::string> extra_env = {})
      : log_(log) {
    std::vector<std::string> argv_storage = {ServeTool(), "serve"};
    argv_storage.insert(argv_storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& arg : argv_storage) argv.push_back(arg.data());
    argv.push_back(nullptr);

    std::vector<std::string> env_storage;
    for (char** entry = environ; *entry != nullptr; ++entry) {
      if (std::string_view(*entry).starts_with("SAGEMAKER_BIND_TO_PORT=")) continue;
      env_storage.emplace_back(*entry);
    }
    env_storage.insert(env_storage.end(), extra_env.begin(), extra_env.end());
    std::vector<char*> env;
    for (std::string& entry : env_storage) env.push_back(entry.data());
    env.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    int error = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), env.data());
    posix_spawn_file_actions_destroy(&actions);
    EXPECT_EQ(error, 0) << "cannot start " << argv[0];
    if (error != 0) pid_ = -1;
  }

  ~ServeProcess() {
    if (pid_ > 0 && !exit_code_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  // Waits up to `timeout` for the exit; returns the exit code (128 + signal when killed).
  std::optional<int> WaitExit(std::chrono::seconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (pid_ > 0 && !exit_code_ && std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return exit_code_;
  }

  // Waits for the "listening" log line and returns the port it names.
  std::optional<uint16_t> WaitListening() {
    const std::regex pattern(R"(inference server listening host=\S+ port=(\d+))");
    auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
    while (std::chrono::steady_clock::now() < deadline) {
      std::string text = ReadFile(log_).value_or("");
      std::smatch match;
      if (std::regex_search(text, match, pattern)) return std::stoi(match[1]);
      if (WaitExit(std::chrono::seconds(0))) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return std::nullopt;
  }

  void Signal(int signal) { ::kill(pid_, signal); }
  std::string Log() const { return ReadFile(log_).value_or(""); }

 private:
  std::filesystem::path log_;
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
};

// Polls GET url+target until it returns `status`, for at most kStartTimeout.
bool WaitForStatus(const std::string& url, std::string_view target, int status) {
  auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    Result<http::Response> response =
        http::Fetch("GET", url + std::string(target), "", {}, std::chrono::seconds(2));
    if (response && response->status == status) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

// Returns a port that was free a moment ago on 127.0.0.1.
uint16_t FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

TEST(ServeCommand, ServesUntilSigterm) {
  ScratchDir scratch;
  ASSERT_TRUE(BuildTestPackage(scratch.path() / "package").has_value());
  ServeProcess process(
      {"--model", (scratch.path() / "package").string(), "--port", "0", "--threads", "2"},
      scratch.path() / "serve.log");
  std::optional<uint16_t> port = process.WaitListening();
  ASSERT_TRUE(port.has_value()) << process.Log();
  const std::string url = fmt::format("http://127.0.0.1:{}", *port);

  ASSERT_TRUE(WaitForStatus(url, "/ping", 200)) << process.Log();
  EXPECT_TRUE(WaitForStatus(url, "/v2/health/ready", 200));
  Result<http::Response> infer = http::Fetch(
      "POST", url + "/v2/models/flights-delay/infer",
      R"({"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP32", "data": [500, 1, 13, 2]}]})");
  ASSERT_TRUE(infer.has_value());
  EXPECT_EQ(infer->status, 200) << infer->body;

  process.Signal(SIGTERM);
  EXPECT_EQ(process.WaitExit(std::chrono::seconds(30)), 0) << process.Log();
  EXPECT_THAT(process.Log(), HasSubstr("inference server draining signal=SIGTERM"));
  EXPECT_THAT(process.Log(), HasSubstr("inference server stopped"));
}

TEST(ServeCommand, PortFromSageMakerVariable) {
  ScratchDir scratch;
  ASSERT_TRUE(BuildTestPackage(scratch.path() / "package").has_value());
  const uint16_t port = FreePort();
  ServeProcess process({"--model", (scratch.path() / "package").string()},
                       scratch.path() / "serve.log",
                       {fmt::format("SAGEMAKER_BIND_TO_PORT={}", port)});
  std::optional<uint16_t> listening = process.WaitListening();
  ASSERT_TRUE(listening.has_value()) << process.Log();
  EXPECT_EQ(*listening, port);
  EXPECT_TRUE(WaitForStatus(fmt::format("http://127.0.0.1:{}", port), "/ping", 200));
  process.Signal(SIGINT);
  EXPECT_EQ(process.WaitExit(std::chrono::seconds(30)), 0) << process.Log();
}

TEST(ServeCommand, NoModelExits2) {
  std::error_code error;
  if (std::filesystem::exists(kSageMakerModelDir, error)) {
    GTEST_SKIP() << kSageMakerModelDir << " exists on this machine";
  }
  ScratchDir scratch;
  ServeProcess process({"--port", "0"}, scratch.path() / "serve.log");
  EXPECT_EQ(process.WaitExit(std::chrono::seconds(30)), 2);
  EXPECT_THAT(process.Log(), HasSubstr("no model to serve"));
}

TEST(ServeCommand, BadRegistrySpecExits2) {
  ScratchDir scratch;
  ServeProcess process({"--model", "flights-delay:newest", "--port", "0"},
                       scratch.path() / "serve.log");
  EXPECT_EQ(process.WaitExit(std::chrono::seconds(30)), 2);
  EXPECT_THAT(process.Log(), HasSubstr("version \"newest\" must be a positive integer"));
}

}  // namespace
}  // namespace tandem::serving
