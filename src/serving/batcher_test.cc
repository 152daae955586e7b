#include "serving/batcher.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "model/compiled_trees.h"
#include "serving/served_model.h"
#include "serving/test_package.h"
#include "serving/test_server.h"

namespace tandem::serving {
namespace {

using ::testing::HasSubstr;
using testing::ScratchDir;
using testing::TestRecord;

// Wraps a real predictor and counts calls and rows.
class CountingPredictor : public model::Predictor {
 public:
  explicit CountingPredictor(const model::Predictor& inner) : inner_(inner) {}
  std::string_view name() const override { return "counting"; }
  size_t num_features() const override { return inner_.num_features(); }
  Status Predict(const float* features, size_t rows, float* out) const override {
    calls.fetch_add(1);
    total_rows.fetch_add(rows);
    if (fail) return Internal("predictor failure injected by the test");
    return inner_.Predict(features, rows, out);
  }
  mutable std::atomic<int> calls{0};
  mutable std::atomic<size_t> total_rows{0};
  bool fail = false;

 private:
  const model::Predictor& inner_;
};

class BatcherTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    scratch_ = new ScratchDir();
    Status built = testing::BuildTestPackage(scratch_->path() / "package");
    ASSERT_TRUE(built.has_value()) << built.error().message();
    auto model = ServedModel::Load(scratch_->path() / "package", "1");
    ASSERT_TRUE(model.has_value()) << model.error().message();
    model_ = new std::shared_ptr<const ServedModel>(*model);
    auto predictor = model::LoadCompiledTrees(scratch_->path() / "package" / "model.json",
                                              (*model)->pipeline().num_features());
    ASSERT_TRUE(predictor.has_value()) << predictor.error().message();
    predictor_ = predictor->release();
  }
  static void TearDownTestSuite() {
    delete predictor_;
    delete model_;
    delete scratch_;
  }

  // Encoded features of records [first, first + rows).
  static std::vector<float> Features(int first, int rows) {
    std::vector<Json> records;
    for (int i = first; i < first + rows; ++i) records.push_back(TestRecord(i));
    return FeaturesFromRecords(records, (*model_)->pipeline()).value().values;
  }
  static std::vector<float> Direct(const std::vector<float>& features) {
    std::vector<float> out(features.size() / predictor_->num_features());
    EXPECT_TRUE(predictor_->Predict(features.data(), out.size(), out.data()).has_value());
    return out;
  }

  static ScratchDir* scratch_;
  static std::shared_ptr<const ServedModel>* model_;
  static model::Predictor* predictor_;
};
ScratchDir* BatcherTest::scratch_ = nullptr;
std::shared_ptr<const ServedModel>* BatcherTest::model_ = nullptr;
model::Predictor* BatcherTest::predictor_ = nullptr;

// Four one-row requests with max_rows 4 and a delay far beyond the test's
// run time: the batch closes on its row count, so exactly one call runs.
TEST_F(BatcherTest, MergesConcurrentRequestsIntoOneCall) {
  CountingPredictor counting(*predictor_);
  PredictBatcher batcher(counting, {.max_rows = 4, .max_delay = std::chrono::seconds(30)}, nullptr);
  std::vector<std::vector<float>> outputs(4, std::vector<float>(1));
  std::vector<std::vector<float>> inputs;
  for (int i = 0; i < 4; ++i) inputs.push_back(Features(i, 1));
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      if (!batcher.Predict(inputs[i].data(), 1, outputs[i].data())) failures.fetch_add(1);
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(counting.calls.load(), 1);
  EXPECT_EQ(counting.total_rows.load(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(outputs[i], Direct(inputs[i])) << "request " << i;
}

TEST_F(BatcherTest, ConcurrentRequestsGetTheirOwnRows) {
  CountingPredictor counting(*predictor_);
  PredictBatcher batcher(counting, {.max_rows = 16, .max_delay = std::chrono::microseconds(2000)},
                         nullptr);
  constexpr int kThreads = 6;
  constexpr int kRequests = 40;
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRequests; ++r) {
        const int first = t * 1000 + r * 7;
        const int rows = 1 + (t + r) % 5;
        std::vector<float> features = Features(first, rows);
        std::vector<float> out(rows);
        if (!batcher.Predict(features.data(), rows, out.data()) || out != Direct(features)) {
          mismatches.fetch_add(1);
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_LE(counting.calls.load(), kThreads * kRequests);
}

TEST_F(BatcherTest, LargeRequestRunsAlone) {
  CountingPredictor counting(*predictor_);
  PredictBatcher batcher(counting, {.max_rows = 8, .max_delay = std::chrono::seconds(30)}, nullptr);
  std::vector<float> features = Features(0, 20);
  std::vector<float> out(20);
  ASSERT_TRUE(batcher.Predict(features.data(), 20, out.data()).has_value());
  EXPECT_EQ(counting.calls.load(), 1);
  EXPECT_EQ(out, Direct(features));
}

TEST_F(BatcherTest, PredictorErrorReachesEveryRequest) {
  CountingPredictor counting(*predictor_);
  counting.fail = true;
  PredictBatcher batcher(counting, {.max_rows = 2, .max_delay = std::chrono::seconds(30)}, nullptr);
  std::vector<float> features = Features(0, 1);
  std::vector<Status> results(2, Ok());
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&, i] {
      std::vector<float> out(1);
      results[i] = batcher.Predict(features.data(), 1, out.data());
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const Status& result : results) {
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().code(), ErrorCode::kInternal);
    EXPECT_THAT(result.error().message(), HasSubstr("injected"));
  }
}

// Over HTTP, with more server threads than clients: batched answers equal
// the unbatched server's, request by request.
TEST_F(BatcherTest, BatchedServerAnswersAsUnbatched) {
  ModelSource source{.dir = scratch_->path() / "package"};
  testing::TestServer plain({source});
  testing::TestServer batched(
      {source},
      {.manager = {.model_options = {.batching = {.max_rows = 64,
                                                  .max_delay = std::chrono::microseconds(1000)}}},
       .threads = 8});
  ASSERT_TRUE(plain.WaitLoaded());
  ASSERT_TRUE(batched.WaitLoaded());

  constexpr int kClients = 6;
  constexpr int kRequests = 25;
  std::atomic<int> mismatches{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      for (int r = 0; r < kRequests; ++r) {
        const int rows = 1 + (c + r) % 3;
        std::vector<float> features = Features(c * 100 + r, rows);
        Json request = {{"inputs",
                         {{{"name", "features"},
                           {"shape", {rows, static_cast<int>(predictor_->num_features())}},
                           {"datatype", "FP32"},
                           {"data", features}}}}};
        http::Response a = plain.Send("POST", "/v2/models/flights-delay/infer", request.dump());
        http::Response b = batched.Send("POST", "/v2/models/flights-delay/infer", request.dump());
        if (a.status != 200 || b.status != 200 || a.body != b.body) mismatches.fetch_add(1);
      }
    });
  }
  for (std::thread& client : clients) client.join();
  EXPECT_EQ(mismatches.load(), 0);
  std::string metrics = batched.Send("GET", "/metrics").body;
  EXPECT_THAT(
      metrics,
      HasSubstr(
          "tandem_inference_queue_duration_seconds_count{model=\"flights-delay\",version=\"1\"}"));
}

}  // namespace
}  // namespace tandem::serving
