#include "jobs/event.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "common/clock.h"

namespace tandem::jobs {
namespace {

using ::testing::HasSubstr;

const char* kDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

Json ValidEvent() {
  return Json::parse(R"({
    "EventId": "runtime-7",
    "Source": "runtime",
    "ObservedAt": "2026-12-04T19:42:05.123Z",
    "Sequence": 7,
    "Attempt": 2,
    "TrainingJobStatus": "InProgress",
    "SecondaryStatus": "Training",
    "Message": "round 57 of 200",
    "Details": {"RowsRead": 2700000, "Round": 57, "TotalRounds": 200}
  })");
}

TEST(Event, ParsesValidEvent) {
  Result<Event> event = ParseEvent(ValidEvent(), "job-0123456789ab");
  ASSERT_TRUE(event) << event.error().message();
  EXPECT_EQ(event->event_id, "runtime-7");
  EXPECT_EQ(event->job_id, "job-0123456789ab");
  EXPECT_EQ(event->source, EventSource::kRuntime);
  EXPECT_EQ(event->observed_at_ms, *ParseTimestamp("2026-12-04T19:42:05.123Z"));
  EXPECT_EQ(event->sequence, 7);
  EXPECT_EQ(event->attempt, 2);
  EXPECT_EQ(event->status, JobStatus::kInProgress);
  EXPECT_EQ(event->secondary_status, SecondaryStatus::kTraining);
  EXPECT_EQ(event->message, "round 57 of 200");
  EXPECT_EQ(event->details["Round"], 57);
}

TEST(Event, ParsesMinimalEvent) {
  Json document = {{"EventId", "e"}, {"Source", "backend"}, {"ObservedAt", "2026-01-01T00:00:00Z"}};
  Result<Event> event = ParseEvent(document, "job-1");
  ASSERT_TRUE(event) << event.error().message();
  EXPECT_FALSE(event->status.has_value());
  EXPECT_FALSE(event->secondary_status.has_value());
  EXPECT_FALSE(event->sequence.has_value());
  EXPECT_FALSE(event->attempt.has_value());
  EXPECT_EQ(event->details, Json::object());
  EXPECT_EQ(event->message, "");
}

TEST(Event, JsonRoundTrips) {
  Result<Event> event = ParseEvent(ValidEvent(), "job-1");
  ASSERT_TRUE(event);
  Result<Event> again = ParseEvent(EventToJson(*event), "job-1");
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(*again, *event);
  EXPECT_EQ(EventToJson(*event)["ObservedAt"], "2026-12-04T19:42:05.123Z");
}

TEST(Event, NamesRoundTrip) {
  for (auto source : {EventSource::kRuntime, EventSource::kBackend, EventSource::kReconciler,
                      EventSource::kApi}) {
    EXPECT_EQ(ParseEventSource(Name(source)), source);
  }
  for (int i = 0; i <= static_cast<int>(SecondaryStatus::kInterrupted); ++i) {
    auto status = static_cast<SecondaryStatus>(i);
    EXPECT_EQ(ParseSecondaryStatus(Name(status)), status);
    EXPECT_EQ(CheckStatusPair(StatusOf(status), status).has_value(), true);
  }
  for (int i = 0; i <= static_cast<int>(JobStatus::kStopped); ++i) {
    auto status = static_cast<JobStatus>(i);
    EXPECT_EQ(ParseJobStatus(Name(status)), status);
  }
  EXPECT_EQ(Name(SecondaryStatus::kMaxRuntimeExceeded), "MaxRuntimeExceeded");
  EXPECT_EQ(Name(JobStatus::kInProgress), "InProgress");
}

TEST(Event, ModelPackageParsed) {
  Json document = ValidEvent();
  document["TrainingJobStatus"] = "Completed";
  document["SecondaryStatus"] = "Completed";
  document["Details"] = {{"ModelPackage",
                          {{"Digest", kDigest}, {"SizeBytes", 1234},
                           {"Manifest", {{"FormatVersion", 1}}}}}};
  Result<Event> event = ParseEvent(document, "job-1");
  ASSERT_TRUE(event) << event.error().message();
  auto package = ModelPackageOf(*event);
  ASSERT_TRUE(package);
  ASSERT_TRUE(package->has_value());
  EXPECT_EQ((*package)->digest, kDigest);
  EXPECT_EQ((*package)->size_bytes, 1234);
  EXPECT_EQ((*package)->manifest["FormatVersion"], 1);
}

TEST(Event, NoModelPackage) {
  Result<Event> event = ParseEvent(ValidEvent(), "job-1");
  ASSERT_TRUE(event);
  auto package = ModelPackageOf(*event);
  ASSERT_TRUE(package);
  EXPECT_FALSE(package->has_value());
}

struct BadCase {
  std::string name;
  std::function<void(Json&)> mutate;
  std::string expected;
};

std::vector<BadCase> BadCases() {
  return {
      {"not an object", [](Json& e) { e = "event"; }, "event: expected an object, got string"},
      {"unknown field", [](Json& e) { e["JobName"] = "x"; }, "JobName: unknown field"},
      {"missing id", [](Json& e) { e.erase("EventId"); }, "EventId: missing required field"},
      {"empty id", [](Json& e) { e["EventId"] = ""; }, "EventId: must be 1-128 characters, got 0"},
      {"long id", [](Json& e) { e["EventId"] = std::string(129, 'e'); },
       "EventId: must be 1-128 characters, got 129"},
      {"id with space", [](Json& e) { e["EventId"] = "a b"; }, "EventId: contains a space"},
      {"id wrong type", [](Json& e) { e["EventId"] = 7; }, "EventId: expected a string, got integer"},
      {"missing source", [](Json& e) { e.erase("Source"); }, "Source: missing required field"},
      {"unknown source", [](Json& e) { e["Source"] = "slurm"; },
       "Source: unknown event source \"slurm\""},
      {"missing observed at", [](Json& e) { e.erase("ObservedAt"); },
       "ObservedAt: missing required field"},
      {"bad observed at", [](Json& e) { e["ObservedAt"] = "yesterday"; }, "ObservedAt: "},
      {"observed at number", [](Json& e) { e["ObservedAt"] = 1700000000; },
       "ObservedAt: expected a string, got integer"},
      {"negative sequence", [](Json& e) { e["Sequence"] = -1; }, "Sequence: -1 is negative"},
      {"sequence wrong type", [](Json& e) { e["Sequence"] = "7"; },
       "Sequence: expected an integer, got string"},
      {"zero attempt", [](Json& e) { e["Attempt"] = 0; },
       "Attempt: 0 is not an attempt number; attempts count from 1"},
      {"attempt wrong type", [](Json& e) { e["Attempt"] = 1.5; },
       "Attempt: expected an integer, got number"},
      {"unknown status", [](Json& e) { e["TrainingJobStatus"] = "Running"; },
       "TrainingJobStatus: unknown job status \"Running\""},
      {"lower-case status", [](Json& e) { e["TrainingJobStatus"] = "inprogress"; },
       "TrainingJobStatus: unknown job status \"inprogress\""},
      {"unknown secondary", [](Json& e) { e["SecondaryStatus"] = "Updating"; },
       "SecondaryStatus: unknown secondary status \"Updating\""},
      {"status pair mismatch", [](Json& e) { e["SecondaryStatus"] = "Completed"; },
       "SecondaryStatus: Completed cannot occur with TrainingJobStatus InProgress"},
      {"message too long", [](Json& e) { e["Message"] = std::string(4097, 'm'); },
       "Message: 4097 bytes, at most 4096"},
      {"details not object", [](Json& e) { e["Details"] = Json::array(); },
       "Details: expected an object, got array"},
      {"package without digest",
       [](Json& e) { e["Details"] = {{"ModelPackage", {{"SizeBytes", 1}}}}; },
       "Details.ModelPackage.Digest: missing required field"},
      {"package bad digest",
       [](Json& e) { e["Details"] = {{"ModelPackage", {{"Digest", "md5:00"}, {"SizeBytes", 1}}}}; },
       "Details.ModelPackage.Digest: \"md5:00\" is not"},
      {"package negative size",
       [](Json& e) { e["Details"] = {{"ModelPackage", {{"Digest", kDigest}, {"SizeBytes", -1}}}}; },
       "Details.ModelPackage.SizeBytes: -1 is negative"},
      {"package manifest not object",
       [](Json& e) {
         e["Details"] = {{"ModelPackage", {{"Digest", kDigest}, {"SizeBytes", 1}, {"Manifest", 1}}}};
       },
       "Details.ModelPackage.Manifest: expected an object"},
      {"package unknown field",
       [](Json& e) {
         e["Details"] = {{"ModelPackage", {{"Digest", kDigest}, {"SizeBytes", 1}, {"Url", "x"}}}};
       },
       "Details.ModelPackage.Url: unknown field"},
  };
}

TEST(Event, RejectsEachBadInput) {
  for (const BadCase& bad : BadCases()) {
    SCOPED_TRACE(bad.name);
    Json document = ValidEvent();
    bad.mutate(document);
    Result<Event> event = ParseEvent(document, "job-1");
    ASSERT_FALSE(event);
    EXPECT_EQ(event.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(event.error().message(), HasSubstr(bad.expected));
  }
}

TEST(Event, MessageAtLimitAccepted) {
  Json document = ValidEvent();
  document["Message"] = std::string(4096, 'm');
  document["EventId"] = std::string(128, 'e');
  EXPECT_TRUE(ParseEvent(document, "job-1"));
}

TEST(Event, AttemptEventIdKeepsFirstAttemptId) {
  EXPECT_EQ(AttemptEventId("backend-exit", 1), "backend-exit");
  EXPECT_EQ(AttemptEventId("backend-exit", 2), "backend-exit-attempt-2");
  EXPECT_EQ(AttemptEventId("reconciler-end", 31), "reconciler-end-attempt-31");
}

}  // namespace
}  // namespace tandem::jobs
