// SIGTERM while keep-alive clients are sending: readiness turns 503 at once,
// every request on a connection opened before the signal is answered, and the
// process exits 0.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <thread>

#include "common/http.h"
#include "serving/test_package.h"
#include "serving/test_server.h"

namespace tandem::serving {
namespace {

using ::testing::HasSubstr;
using testing::ScratchDir;

constexpr auto kTimeout = std::chrono::seconds(60);
constexpr int kThreads = 4;
constexpr int kRequestsPerThread = 500;

TEST(DrainUnderLoad, NoFailedRequestsAndExitZero) {
  ScratchDir scratch;
  ASSERT_TRUE(testing::BuildTestPackage(scratch.path() / "package").has_value());
  testing::ServeProcess process(
      SERVE_TOOL_PATH,
      {"--model", (scratch.path() / "package").string(), "--port", "0", "--threads", "2",
       "--drain-seconds", "60", "--drain-idle-seconds", "2"},
      scratch.path() / "serve.log");
  std::optional<uint16_t> port = process.WaitListening(kTimeout);
  ASSERT_TRUE(port.has_value()) << process.Log();
  const std::string url = fmt::format("http://127.0.0.1:{}", *port);
  ASSERT_TRUE(testing::WaitForStatus(url, "/v2/health/ready", 200, kTimeout)) << process.Log();

  // Each client opens its keep-alive connection with a first request before
  // the signal, then sends the rest; the signal goes out once the clients
  // have answers for at least a fifth of their requests.
  const std::string body =
      R"({"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP32", "data": [500, 1, 13, 2]}]})";
  std::atomic<int> connected{0};
  std::atomic<int> answered{0};
  std::atomic<int> failed{0};
  std::vector<std::string> first_errors(kThreads);
  std::vector<std::thread> clients;
  for (int t = 0; t < kThreads; ++t) {
    clients.emplace_back([&, t] {
      http::Client client(url);
      for (int i = 0; i < kRequestsPerThread; ++i) {
        Result<http::Response> response = client.Send("POST", "/v2/models/flights-delay/infer",
                                                      body, {}, std::chrono::seconds(30));
        if (i == 0) connected.fetch_add(1);
        if (response && response->status == 200) {
          answered.fetch_add(1);
          continue;
        }
        if (failed.fetch_add(1) == 0 || first_errors[t].empty()) {
          first_errors[t] = response
                                ? fmt::format("status {}: {}", response->status, response->body)
                                : response.error().message();
        }
      }
    });
  }
  const auto deadline = std::chrono::steady_clock::now() + kTimeout;
  while ((connected.load() < kThreads || answered.load() < kThreads * kRequestsPerThread / 5) &&
         failed.load() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  process.Signal(SIGTERM);
  const int answered_at_signal = answered.load();

  // Readiness reports 503 while the clients are still being served.
  EXPECT_TRUE(testing::WaitForStatus(url, "/v2/health/ready", 503, kTimeout)) << process.Log();

  for (std::thread& client : clients) client.join();
  EXPECT_EQ(failed.load(), 0) << fmt::format("{}", fmt::join(first_errors, " | "));
  EXPECT_EQ(answered.load(), kThreads * kRequestsPerThread);
  EXPECT_LT(answered_at_signal, kThreads * kRequestsPerThread) << "the signal came after the load";
  EXPECT_EQ(process.WaitExit(kTimeout), 0) << process.Log();
  EXPECT_THAT(process.Log(), HasSubstr("inference server draining signal=SIGTERM"));
  EXPECT_THAT(process.Log(), HasSubstr("inference server stopped"));
}

}  // namespace
}  // namespace tandem::serving
