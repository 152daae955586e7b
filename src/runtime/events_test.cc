#include "runtime/events.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <vector>

#include "common/http.h"
#include "common/json_util.h"

namespace tandem::runtime {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// A control plane stub on 127.0.0.1 that records posted events and responds
// with 503 to the first `failures` requests.
class EventStub {
 public:
  explicit EventStub(int failures = 0) : failures_(failures) {
    router_.Add("POST", "/api/v1/jobs/{id}/events", [this](http::Request& request) {
      std::lock_guard lock(mutex_);
      attempts_.push_back(*ParseJson(request.body, "event"));
      authorization_ = request.Header("Authorization");
      if (failures_ > 0) {
        --failures_;
        return http::Response::Json(503, {{"error", "store busy"}, {"code", "unavailable"}});
      }
      accepted_.push_back(attempts_.back());
      return http::Response::Json(202, {{"Verdict", "Accepted"}, {"Duplicate", false}});
    });
    server_ = std::make_unique<http::Server>(http::ServerOptions{}, router_.AsHandler());
    auto port = server_->Start();
    EXPECT_TRUE(port) << port.error().message();
    url_ = "http://127.0.0.1:" + std::to_string(port.value_or(0));
  }

  const std::string& url() const { return url_; }
  std::vector<Json> attempts() {
    std::lock_guard lock(mutex_);
    return attempts_;
  }
  std::vector<Json> accepted() {
    std::lock_guard lock(mutex_);
    return accepted_;
  }
  std::string authorization() {
    std::lock_guard lock(mutex_);
    return authorization_;
  }

 private:
  std::mutex mutex_;
  int failures_;
  std::vector<Json> attempts_;
  std::vector<Json> accepted_;
  std::string authorization_;
  http::Router router_;
  std::unique_ptr<http::Server> server_;
  std::string url_;
};

RetryPolicy FastRetry() {
  return RetryPolicy{.window = seconds(10), .initial_backoff = milliseconds(10),
                     .max_backoff = milliseconds(50)};
}

std::unique_ptr<ControlPlaneEventReporter> MakeReporter(const std::string& url, RetryPolicy retry,
                                                        const Clock& clock) {
  return std::make_unique<ControlPlaneEventReporter>(
      std::make_unique<ControlPlaneClient>(url, "job-7", "job-secret"), retry, clock);
}

TEST(ControlPlaneEventReporterTest, PostsInOrderWithSequence) {
  EventStub stub;
  FakeClock clock(1'796'000'000'000);
  auto reporter = MakeReporter(stub.url(), FastRetry(), clock);
  reporter->Report({.status = "InProgress", .secondary_status = "Downloading", .message = "m1"});
  reporter->Report({.status = "InProgress", .secondary_status = "Training", .message = "m2"});
  reporter->Report({.status = "Completed", .secondary_status = "Completed", .message = "m3",
                    .details = {{"ModelPackage", {{"Digest", "sha256:ab"}}}}});
  ASSERT_TRUE(reporter->Flush(seconds(10)));

  std::vector<Json> events = stub.accepted();
  ASSERT_EQ(events.size(), 3u);
  std::vector<std::string> ids;
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i]["Sequence"], static_cast<int64_t>(i));
    EXPECT_EQ(events[i]["Source"], "runtime");
    EXPECT_EQ(events[i]["ObservedAt"], FormatTimestamp(1'796'000'000'000));
    ids.push_back(events[i]["EventId"]);
  }
  EXPECT_EQ(events[0]["SecondaryStatus"], "Downloading");
  EXPECT_EQ(events[1]["SecondaryStatus"], "Training");
  EXPECT_EQ(events[2]["TrainingJobStatus"], "Completed");
  EXPECT_EQ(events[2]["Details"]["ModelPackage"]["Digest"], "sha256:ab");
  EXPECT_NE(ids[0], ids[1]);
  EXPECT_NE(ids[1], ids[2]);
  EXPECT_EQ(stub.authorization(), "Bearer job-secret");
}

TEST(ControlPlaneEventReporterTest, TestSwitchDropsListedStatuses) {
  EventStub stub;
  FakeClock clock(1'796'000'000'000);
  ASSERT_EQ(::setenv("TANDEM_TEST_DROP_EVENTS", "Completed,Downloading", 1), 0);
  auto reporter = MakeReporter(stub.url(), FastRetry(), clock);
  ASSERT_EQ(::unsetenv("TANDEM_TEST_DROP_EVENTS"), 0);
  reporter->Report({.status = "InProgress", .secondary_status = "Downloading", .message = "m1"});
  reporter->Report({.status = "InProgress", .secondary_status = "Training", .message = "m2"});
  reporter->Report({.status = "Completed", .secondary_status = "Completed", .message = "m3"});
  ASSERT_TRUE(reporter->Flush(seconds(10)));

  std::vector<Json> events = stub.accepted();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["SecondaryStatus"], "Training");
  EXPECT_EQ(events[0]["Sequence"], 1);
}

TEST(ControlPlaneEventReporterTest, RetryReusesEventId) {
  EventStub stub(/*failures=*/1);
  auto reporter = MakeReporter(stub.url(), FastRetry(), SystemClock::Instance());
  reporter->Report({.status = "InProgress", .secondary_status = "Training", .message = "go"});
  reporter->Report({.status = "Failed", .secondary_status = "Failed", .message = "boom"});
  ASSERT_TRUE(reporter->Flush(seconds(10)));

  std::vector<Json> attempts = stub.attempts();
  ASSERT_EQ(attempts.size(), 3u);
  EXPECT_EQ(attempts[0], attempts[1]);  // the same document, event id included
  std::vector<Json> accepted = stub.accepted();
  ASSERT_EQ(accepted.size(), 2u);
  EXPECT_EQ(accepted[0]["EventId"], attempts[0]["EventId"]);
  EXPECT_EQ(accepted[0]["Sequence"], 0);
  EXPECT_EQ(accepted[1]["Sequence"], 1);
  EXPECT_EQ(accepted[1]["Message"], "boom");
}

TEST(ControlPlaneEventReporterTest, ProgressHasNoStatusFields) {
  EventStub stub;
  auto reporter = MakeReporter(stub.url(), FastRetry(), SystemClock::Instance());
  reporter->Report({.message = "round 3 of 10", .details = {{"Round", 3}, {"TotalRounds", 10}}});
  ASSERT_TRUE(reporter->Flush(seconds(10)));
  std::vector<Json> accepted = stub.accepted();
  ASSERT_EQ(accepted.size(), 1u);
  EXPECT_FALSE(accepted[0].contains("TrainingJobStatus"));
  EXPECT_FALSE(accepted[0].contains("SecondaryStatus"));
  EXPECT_EQ(accepted[0]["Details"]["Round"], 3);
}

TEST(ControlPlaneEventReporterTest, AttemptSentWhenSet) {
  EventStub stub;
  auto reporter = std::make_unique<ControlPlaneEventReporter>(
      std::make_unique<ControlPlaneClient>(stub.url(), "job-7", "job-secret"), FastRetry(),
      SystemClock::Instance(), 2);
  reporter->Report({.status = "InProgress", .secondary_status = "Training", .message = "m"});
  reporter->Report({.message = "round 1"});
  ASSERT_TRUE(reporter->Flush(seconds(10)));
  std::vector<Json> accepted = stub.accepted();
  ASSERT_EQ(accepted.size(), 2u);
  EXPECT_EQ(accepted[0]["Attempt"], 2);
  EXPECT_EQ(accepted[1]["Attempt"], 2);

  EventStub plain_stub;
  auto plain = MakeReporter(plain_stub.url(), FastRetry(), SystemClock::Instance());
  plain->Report({.status = "InProgress", .secondary_status = "Training", .message = "m"});
  ASSERT_TRUE(plain->Flush(seconds(10)));
  ASSERT_EQ(plain_stub.accepted().size(), 1u);
  EXPECT_FALSE(plain_stub.accepted()[0].contains("Attempt"));
}

TEST(ControlPlaneEventReporterTest, LongMessageTruncated) {
  EventStub stub;
  auto reporter = MakeReporter(stub.url(), FastRetry(), SystemClock::Instance());
  reporter->Report({.status = "Failed", .secondary_status = "Failed", .message = std::string(5000, 'e')});
  ASSERT_TRUE(reporter->Flush(seconds(10)));
  ASSERT_EQ(stub.accepted().size(), 1u);
  EXPECT_EQ(stub.accepted()[0]["Message"].get<std::string>().size(), 4096u);
}

TEST(ControlPlaneEventReporterTest, UnreachableControlPlaneGivesUp) {
  // Nothing listens on this port once the stub is gone.
  std::string url;
  {
    EventStub gone;
    url = gone.url();
  }
  RetryPolicy retry{.window = milliseconds(200), .initial_backoff = milliseconds(10),
                    .max_backoff = milliseconds(20)};
  auto reporter = MakeReporter(url, retry, SystemClock::Instance());
  reporter->Report({.status = "InProgress", .secondary_status = "Training"});
  EXPECT_TRUE(reporter->Flush(seconds(10)));  // the event was given up on, not stuck
}

TEST(ControlPlaneEventReporterTest, RejectedEventNotRetried) {
  http::Router router;
  std::atomic<int> calls = 0;
  router.Add("POST", "/api/v1/jobs/{id}/events", [&](http::Request&) {
    ++calls;
    return http::Response::Json(400, {{"error", "SecondaryStatus: unknown"}, {"code", "invalid_argument"}});
  });
  http::Server server(http::ServerOptions{.threads = 1}, router.AsHandler());
  auto port = server.Start();
  ASSERT_TRUE(port);
  auto reporter = MakeReporter("http://127.0.0.1:" + std::to_string(*port), FastRetry(),
                               SystemClock::Instance());
  reporter->Report({.status = "InProgress", .secondary_status = "Bogus"});
  ASSERT_TRUE(reporter->Flush(seconds(10)));
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace tandem::runtime
