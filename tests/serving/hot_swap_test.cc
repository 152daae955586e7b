// Twenty swaps between two versions through POST /v2/repository/.../load
// while clients send requests: every response is a 200 from one of the two
// versions, with that version's prediction. The clients are either four
// keep-alive client threads, bounded in request count, or a wrk run,
// bounded in time and stopped with SIGINT once the swaps are done.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <map>
#include <sstream>
#include <thread>

#include "common/file_util.h"
#include "common/process.h"
#include "serving/served_model.h"
#include "serving/test_package.h"
#include "serving/test_server.h"

namespace tandem::serving {
namespace {

using testing::ScratchDir;

constexpr int kThreads = 4;
// Each client sends at least kMinRequests and goes on until the swaps are done,
// up to kMaxRequests.
constexpr int kMinRequests = 300;
constexpr int kMaxRequests = 20000;
constexpr int kSwaps = 20;
constexpr std::string_view kToken = "hot-swap-token";
constexpr std::string_view kInferPath = "/v2/models/flights-delay/infer";
// The body each client sends.
constexpr std::string_view kBody =
    R"({"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP32", "data": [500, 1, 13, 2]}]})";
// Upper bound of the wrk run. The test stops wrk with SIGINT long before.
constexpr std::string_view kWrkMaxDuration = "60s";
constexpr auto kWaitForRequests = std::chrono::seconds(20);

// Returns the count of 200 responses from `version` in the server's metrics.
double ResponsesFrom(testing::TestServer& server, std::string_view version) {
  return testing::MetricValue(
             server.metrics().Serialize(),
             fmt::format(R"(tandem_inference_requests_total{{code="200",model="flights-delay",version="{}"}})",
                         version))
      .value_or(0);
}

// Polls until `version` has sent `count` responses, for at most kWaitForRequests.
bool WaitResponsesFrom(testing::TestServer& server, std::string_view version, double count) {
  const auto deadline = std::chrono::steady_clock::now() + kWaitForRequests;
  while (ResponsesFrom(server, version) < count) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// Returns the key=value fields of the line that starts with "HOT_SWAP " in
// `log`, or an empty map when there is none.
std::map<std::string, std::string> SummaryFields(const std::string& log) {
  std::map<std::string, std::string> fields;
  const size_t start = log.find("HOT_SWAP ");
  if (start == std::string::npos) return fields;
  std::istringstream line(log.substr(start, log.find('\n', start) - start));
  std::string field;
  while (line >> field) {
    const size_t equals = field.find('=');
    if (equals != std::string::npos) fields[field.substr(0, equals)] = field.substr(equals + 1);
  }
  return fields;
}

// Versions 1 and 2 of flights-delay in a model root, the response each sends
// to kBody, and a server with the repository routes that serves version 1.
class HotSwapUnderLoad : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = scratch_.path() / "models";
    for (auto [version, rounds] : {std::pair{"1", 20}, std::pair{"2", 35}}) {
      ASSERT_TRUE(testing::BuildTestPackage(root_ / "flights-delay" / version, {.rounds = rounds})
                      .has_value());
      auto model = ServedModel::Load(root_ / "flights-delay" / version, version);
      ASSERT_TRUE(model.has_value()) << model.error().message();
      Result<std::vector<float>> prediction =
          (*model)->Predict({.rows = 1, .values = {500, 1, 13, 2}});
      ASSERT_TRUE(prediction.has_value());
      expected_body_[version] =
          EncodeInferResponse("flights-delay", version, std::nullopt, *prediction);
    }
    ASSERT_NE(expected_body_["1"], expected_body_["2"]);

    testing::TestServerOptions options;
    options.manager.model_root = root_;
    options.admin_token = std::string(kToken);
    options.threads = kThreads;
    server_ = std::make_unique<testing::TestServer>(
        std::vector<ModelSource>{*ParseModelSource("flights-delay:1")}, options);
    ASSERT_TRUE(server_->WaitLoaded());
  }

  // Loads version 2, 1, 2, ... kSwaps times and returns how many loads succeeded.
  int SwapVersions() {
    int swaps_ok = 0;
    for (int swap = 0; swap < kSwaps; ++swap) {
      const std::string version = swap % 2 == 0 ? "2" : "1";
      http::Response load =
          server_->Send("POST", "/v2/repository/models/flights-delay/load",
                        fmt::format(R"({{"parameters": {{"version": "{}"}}}})", version),
                        {{"Authorization", fmt::format("Bearer {}", kToken)}});
      EXPECT_EQ(load.status, 200) << load.body;
      swaps_ok += load.status == 200 ? 1 : 0;
    }
    return swaps_ok;
  }

  void ExpectLoadsCounted() {
    EXPECT_EQ(testing::MetricValue(server_->metrics().Serialize(),
                                   R"(tandem_model_loads_total{model="flights-delay",result="ok"})"),
              kSwaps + 1);
  }

  ScratchDir scratch_;
  std::filesystem::path root_;
  std::map<std::string, std::string> expected_body_;
  std::unique_ptr<testing::TestServer> server_;
};

TEST_F(HotSwapUnderLoad, EveryAnswerComesFromOneOfTheVersions) {
  std::atomic<int> unexpected{0};
  std::atomic<bool> swaps_done{false};
  std::atomic<bool> capped{false};
  std::vector<std::string> first_unexpected(kThreads);
  std::vector<std::thread> clients;
  for (int t = 0; t < kThreads; ++t) {
    clients.emplace_back([&, t] {
      for (int i = 0; i < kMaxRequests; ++i) {
        if (i >= kMinRequests && swaps_done.load()) return;
        http::Response response = server_->Send("POST", kInferPath, kBody);
        if (response.status == 200 &&
            (response.body == expected_body_["1"] || response.body == expected_body_["2"])) {
          continue;
        }
        if (unexpected.fetch_add(1) == 0 || first_unexpected[t].empty()) {
          first_unexpected[t] = fmt::format("status {}: {}", response.status, response.body);
        }
      }
      capped.store(true);
    });
  }

  // Swap on this thread while the clients run.
  const int swaps_ok = SwapVersions();
  swaps_done.store(true);
  for (std::thread& client : clients) client.join();

  EXPECT_EQ(swaps_ok, kSwaps);
  EXPECT_EQ(unexpected.load(), 0) << fmt::format("{}", fmt::join(first_unexpected, " | "));
  EXPECT_FALSE(capped.load()) << "a client reached kMaxRequests before the swaps were done";
  ExpectLoadsCounted();
}

// wrk (2 threads, 8 connections) runs while the versions are swapped, and
// its Lua script checks every response (hot_swap.lua).
TEST_F(HotSwapUnderLoad, WrkRunGetsOnlyVersionResponses) {
  const std::filesystem::path body_file = scratch_.path() / "body.json";
  const std::filesystem::path log_file = scratch_.path() / "wrk.log";
  ASSERT_TRUE(WriteFileAtomic(body_file, kBody).has_value());
  for (std::string version : {"1", "2"}) {
    ASSERT_TRUE(WriteFileAtomic(scratch_.path() / ("expected-" + version),
                                expected_body_[version])
                    .has_value());
  }

  // wrk comes with scripts/install-deps.sh, which the test script runs first.
  Result<ChildProcess> wrk = ChildProcess::Spawn(
      {.argv = {"wrk", "-t2", "-c8", fmt::format("-d{}", kWrkMaxDuration), "--timeout", "5s", "-s",
                HOT_SWAP_LUA_PATH, server_->url() + std::string(kInferPath)},
       .environment = {{"PATH", "/usr/local/bin:/usr/bin:/bin"},
                       {"HOT_SWAP_BODY_FILE", body_file.string()},
                       {"HOT_SWAP_EXPECTED_1", (scratch_.path() / "expected-1").string()},
                       {"HOT_SWAP_EXPECTED_2", (scratch_.path() / "expected-2").string()}},
       .log_file = log_file,
       .group = ProcessGroup::kInherit});
  ASSERT_TRUE(wrk.has_value()) << wrk.error().message()
                               << " (scripts/install-deps.sh installs wrk)";

  // Swap once wrk's requests arrive, then let the last version serve some too.
  ASSERT_TRUE(WaitResponsesFrom(*server_, "1", 200)) << ReadFile(log_file).value_or("");
  const int swaps_ok = SwapVersions();
  const double last_version_before = ResponsesFrom(*server_, "1");
  EXPECT_TRUE(WaitResponsesFrom(*server_, "1", last_version_before + 200));

  // wrk ends its run on SIGINT and prints the summary.
  ASSERT_TRUE(wrk->Signal(SIGINT).has_value());
  std::optional<ExitStatus> exit = wrk->WaitFor(std::chrono::seconds(30));
  ASSERT_TRUE(exit.has_value()) << "wrk did not stop within 30 s of SIGINT";
  EXPECT_TRUE(exit->success()) << exit->Describe();
  const std::string log = ReadFile(log_file).value_or("");
  std::map<std::string, std::string> summary = SummaryFields(log);
  ASSERT_FALSE(summary.empty()) << "wrk printed no HOT_SWAP line: " << log;

  EXPECT_EQ(swaps_ok, kSwaps);
  EXPECT_GT(std::stoll(summary["requests"]), 0) << log;
  EXPECT_GT(std::stoll(summary["version_1"]), 0) << log;
  EXPECT_GT(std::stoll(summary["version_2"]), 0) << log;
  EXPECT_EQ(summary["unexpected"], "0") << log;
  EXPECT_EQ(summary["status_errors"], "0") << log;
  EXPECT_EQ(summary["connect_errors"], "0") << log;
  EXPECT_EQ(summary["read_errors"], "0") << log;
  EXPECT_EQ(summary["write_errors"], "0") << log;
  EXPECT_EQ(summary["timeouts"], "0") << log;
  ExpectLoadsCounted();
}

}  // namespace
}  // namespace tandem::serving
