// Events: every report about a job (from `tandem train`, a backend, the
// reconciler or the API itself) in the form of docs/api.md.
//
//   {"EventId": "...", "Source": "runtime", "ObservedAt": "2026-12-04T19:42:05.123Z",
//    "Sequence": 7, "Attempt": 1, "TrainingJobStatus": "InProgress", "SecondaryStatus": "Training",
//    "Message": "round 57 of 200", "Details": {"Round": 57}}
//
// EventId, Source and ObservedAt are required; the rest is optional. An event
// with neither status is a progress report.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/json_util.h"
#include "common/status.h"
#include "jobs/job.h"

namespace tandem::jobs {

enum class EventSource { kRuntime, kBackend, kReconciler, kApi };

// Returns "runtime", "backend", "reconciler" or "api".
std::string_view Name(EventSource source);
// Errors: kInvalidArgument naming the text and listing the valid names.
Result<EventSource> ParseEventSource(std::string_view text);

inline constexpr size_t kMaxEventIdLength = 128;
inline constexpr size_t kMaxEventMessageBytes = 4096;

struct Event {
  std::string event_id;  // 1-128 printable ASCII characters, unique per job
  std::string job_id;
  EventSource source = EventSource::kRuntime;
  int64_t observed_at_ms = 0;      // when the source saw it happen
  std::optional<int64_t> sequence;  // the source's own counter, >= 0; stored, not ordered on
  // The attempt the report is about (>= 1); absent: the job's current attempt.
  // The state machine rejects an event of any other attempt.
  std::optional<int64_t> attempt;
  std::optional<JobStatus> status;
  std::optional<SecondaryStatus> secondary_status;
  std::string message;             // at most 4096 bytes
  Json details = Json::object();   // always an object

  friend bool operator==(const Event&, const Event&) = default;
};

// Parses an event posted for job `job_id`. Rejects unknown fields, unknown
// status names, a status pair that cannot occur together (InProgress with
// Completed), and a malformed Details.ModelPackage (see ModelPackageOf).
// Every Source is accepted here; the HTTP layer decides which sources a
// caller may post as (a job token must not post "api" events).
// Errors: kInvalidArgument naming the field ("ObservedAt: ...").
Result<Event> ParseEvent(const Json& document, std::string_view job_id);

// Returns the docs/api.md form (without the job id). ParseEvent accepts it.
Json EventToJson(const Event& event);

// Returns the id of a control plane event that happens once per attempt:
// `base` for attempt 1, "<base>-attempt-<N>" for attempt N > 1, so that the
// ids of attempt 1 stay those of jobs that never retry.
std::string AttemptEventId(std::string_view base, int64_t attempt);

// Fails unless `status` and `secondary` may occur together (see job.h).
Status CheckStatusPair(JobStatus status, SecondaryStatus secondary);

// The model package a Completed event reports: Details.ModelPackage.
struct ModelPackageRef {
  std::string digest;             // "sha256:" + 64 lower-case hex digits
  int64_t size_bytes = 0;
  Json manifest = Json::object();  // the package's manifest.json; {} when not sent
};

// Returns the event's Details.ModelPackage, or nullopt when there is none.
// Errors: kInvalidArgument naming "Details.ModelPackage.<field>" when it is
// present but malformed (Digest, SizeBytes >= 0 required; Manifest an object).
Result<std::optional<ModelPackageRef>> ModelPackageOf(const Event& event);

}  // namespace tandem::jobs
