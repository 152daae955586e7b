// Twenty swaps between two versions through POST /v2/repository/.../load
// while four keep-alive clients send requests (bounded in count): every answer is a 200 from one
// of the two versions, with that version's prediction.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

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

TEST(HotSwapUnderLoad, EveryAnswerComesFromOneOfTheVersions) {
  ScratchDir scratch;
  const std::filesystem::path root = scratch.path() / "models";
  for (auto [version, rounds] : {std::pair{"1", 20}, std::pair{"2", 35}}) {
    ASSERT_TRUE(testing::BuildTestPackage(root / "flights-delay" / version, {.rounds = rounds})
                    .has_value());
  }

  // The body each client sends, and the prediction each version gives for it.
  const std::string body =
      R"({"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP32", "data": [500, 1, 13, 2]}]})";
  std::map<std::string, std::string> expected_body;
  for (std::string version : {"1", "2"}) {
    auto model = ServedModel::Load(root / "flights-delay" / version, version);
    ASSERT_TRUE(model.has_value()) << model.error().message();
    Result<std::vector<float>> prediction =
        (*model)->Predict({.rows = 1, .values = {500, 1, 13, 2}});
    ASSERT_TRUE(prediction.has_value());
    expected_body[version] =
        EncodeInferResponse("flights-delay", version, std::nullopt, *prediction);
  }
  ASSERT_NE(expected_body["1"], expected_body["2"]);

  testing::TestServerOptions options;
  options.manager.model_root = root;
  options.admin_token = std::string(kToken);
  options.threads = 4;
  testing::TestServer server({*ParseModelSource("flights-delay:1")}, options);
  ASSERT_TRUE(server.WaitLoaded());

  std::atomic<int> unexpected{0};
  std::atomic<bool> swaps_done{false};
  std::atomic<bool> capped{false};
  std::vector<std::string> first_unexpected(kThreads);
  std::vector<std::thread> clients;
  for (int t = 0; t < kThreads; ++t) {
    clients.emplace_back([&, t] {
      for (int i = 0; i < kMaxRequests; ++i) {
        if (i >= kMinRequests && swaps_done.load()) return;
        http::Response response = server.Send("POST", "/v2/models/flights-delay/infer", body);
        if (response.status == 200 &&
            (response.body == expected_body["1"] || response.body == expected_body["2"])) {
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
  int swaps_ok = 0;
  for (int swap = 0; swap < kSwaps; ++swap) {
    const std::string version = swap % 2 == 0 ? "2" : "1";
    http::Response load =
        server.Send("POST", "/v2/repository/models/flights-delay/load",
                    fmt::format(R"({{"parameters": {{"version": "{}"}}}})", version),
                    {{"Authorization", fmt::format("Bearer {}", kToken)}});
    EXPECT_EQ(load.status, 200) << load.body;
    swaps_ok += load.status == 200 ? 1 : 0;
  }
  swaps_done.store(true);
  for (std::thread& client : clients) client.join();

  EXPECT_EQ(swaps_ok, kSwaps);
  EXPECT_EQ(unexpected.load(), 0) << fmt::format("{}", fmt::join(first_unexpected, " | "));
  EXPECT_FALSE(capped.load()) << "a client reached kMaxRequests before the swaps were done";
  EXPECT_EQ(testing::MetricValue(server.metrics().Serialize(),
                                 R"(tandem_model_loads_total{model="flights-delay",result="ok"})"),
            kSwaps + 1);
}

}  // namespace
}  // namespace tandem::serving
