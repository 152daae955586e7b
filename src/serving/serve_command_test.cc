#include "serving/serve_command.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <optional>
#include <thread>

#include "common/file_util.h"
#include "common/http.h"
#include "serving/model_source.h"
#include "serving/test_package.h"
#include "serving/test_server.h"

namespace tandem::serving {
namespace {

using testing::BuildTestPackage;
using ::testing::HasSubstr;
using testing::ScratchDir;

constexpr auto kStartTimeout = std::chrono::seconds(60);

// A child process running the serve tool built next to this test.
class ServeProcess : public testing::ServeProcess {
 public:
  ServeProcess(std::vector<std::string> args, const std::filesystem::path& log,
               std::vector<std::string> extra_env = {})
      : testing::ServeProcess(SERVE_TOOL_PATH, std::move(args), log, std::move(extra_env)) {}
  std::optional<uint16_t> WaitListening() {
    return testing::ServeProcess::WaitListening(kStartTimeout);
  }
};

bool WaitForStatus(const std::string& url, std::string_view target, int status) {
  return testing::WaitForStatus(url, target, status, kStartTimeout);
}

// Sends one row of the test package's features to its infer route.
Result<http::Response> InferOneRow(const std::string& url) {
  return http::Fetch(
      "POST", url + "/v2/models/flights-delay/infer",
      R"({"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP32", "data": [500, 1, 13, 2]}]})");
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
  Result<http::Response> infer = InferOneRow(url);
  ASSERT_TRUE(infer.has_value());
  EXPECT_EQ(infer->status, 200) << infer->body;

  process.Signal(SIGTERM);
  EXPECT_EQ(process.WaitExit(std::chrono::seconds(30)), 0) << process.Log();
  EXPECT_THAT(process.Log(), HasSubstr("inference server draining signal=SIGTERM"));
  EXPECT_THAT(process.Log(), HasSubstr("inference server stopped"));
}

// --pin-threads only changes where the HTTP threads run (the pinning itself
// is tested in common_http_connection_test), so the server must respond as usual.
TEST(ServeCommand, PinnedThreadsServe) {
  ScratchDir scratch;
  ASSERT_TRUE(BuildTestPackage(scratch.path() / "package").has_value());
  ServeProcess process({"--model", (scratch.path() / "package").string(), "--port", "0",
                        "--threads", "2", "--pin-threads"},
                       scratch.path() / "serve.log");
  std::optional<uint16_t> port = process.WaitListening();
  ASSERT_TRUE(port.has_value()) << process.Log();
  const std::string url = fmt::format("http://127.0.0.1:{}", *port);

  ASSERT_TRUE(WaitForStatus(url, "/v2/health/ready", 200)) << process.Log();
  for (int i = 0; i < 8; ++i) {  // each Fetch opens a connection, and the server spreads them
    Result<http::Response> infer = InferOneRow(url);
    ASSERT_TRUE(infer.has_value());
    EXPECT_EQ(infer->status, 200) << infer->body;
  }
  process.Signal(SIGTERM);
  EXPECT_EQ(process.WaitExit(std::chrono::seconds(30)), 0) << process.Log();
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
  EXPECT_THAT(process.Log(),
              HasSubstr("version \"newest\" must be \"latest\", a positive integer"));
}

TEST(ServeCommand, AliasWithoutRegistryExits2) {
  ScratchDir scratch;
  ServeProcess process({"--model", "flights-delay@production", "--port", "0"},
                       scratch.path() / "serve.log");
  EXPECT_EQ(process.WaitExit(std::chrono::seconds(30)), 2);
  EXPECT_THAT(process.Log(), HasSubstr("--model flights-delay@production: an alias is resolved "
                                       "by the control plane; pass --registry URL"));
}

TEST(ServeCommand, ExitOnLoadFailureExits1) {
  ScratchDir scratch;
  ASSERT_TRUE(BuildTestPackage(scratch.path() / "package", {.wrong_self_test = true}).has_value());
  ServeProcess process({"--model", (scratch.path() / "package").string(), "--port", "0",
                        "--exit-on-load-failure"},
                       scratch.path() / "serve.log");
  EXPECT_EQ(process.WaitExit(std::chrono::seconds(60)), 1);
  EXPECT_THAT(process.Log(), HasSubstr("a model failed to load and --exit-on-load-failure is set"));
  EXPECT_THAT(process.Log(), HasSubstr("self-test"));
}

TEST(ServeCommand, FailedLoadStaysUpWithoutExitFlag) {
  ScratchDir scratch;
  ASSERT_TRUE(BuildTestPackage(scratch.path() / "package", {.wrong_self_test = true}).has_value());
  ServeProcess process({"--model", (scratch.path() / "package").string(), "--port", "0"},
                       scratch.path() / "serve.log");
  std::optional<uint16_t> port = process.WaitListening();
  ASSERT_TRUE(port.has_value()) << process.Log();
  const std::string url = fmt::format("http://127.0.0.1:{}", *port);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (process.Log().find("model load failed") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(WaitForStatus(url, "/v2/health/ready", 503));
  EXPECT_TRUE(WaitForStatus(url, "/v2/health/live", 200));
  process.Signal(SIGTERM);
  EXPECT_EQ(process.WaitExit(std::chrono::seconds(60)), 0) << process.Log();
}

// Each bad option value exits 2 before listening, with a message naming the option.
TEST(ServeCommand, BadOptionsExit2) {
  ScratchDir scratch;
  ASSERT_TRUE(BuildTestPackage(scratch.path() / "package").has_value());
  ASSERT_TRUE(WriteFileAtomic(scratch.path() / "empty-token", "  \n").has_value());
  const std::string package = (scratch.path() / "package").string();
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--predictor", "fast"}, "--predictor \"fast\": expected auto, compiled or libxgboost"},
      {{"--canary", "flights-delay:2=1.5"}, "fraction \"1.5\" must be a number from 0 to 1"},
      {{"--canary", "flights-delay:2"}, "expected NAME:VERSION=FRACTION"},
      {{"--shadow", "flights-delay:two"}, "version \"two\" must be a positive integer"},
      {{"--admin-token-file", (scratch.path() / "empty-token").string()}, "is empty"},
      {{"--max-batch-rows", "0"}, "--max-batch-rows 0"},
      {{"--poll-seconds", "-1"}, "--poll-seconds -1"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    std::vector<std::string> args = {"--model", package, "--port", "0"};
    args.insert(args.end(), cases[i].first.begin(), cases[i].first.end());
    ServeProcess process(args, scratch.path() / fmt::format("serve-{}.log", i));
    EXPECT_EQ(process.WaitExit(std::chrono::seconds(30)), 2) << cases[i].second;
    EXPECT_THAT(process.Log(), HasSubstr(cases[i].second));
  }
}

}  // namespace
}  // namespace tandem::serving
