#include "jobs/event.h"

#include <fmt/format.h>

#include <array>
#include <utility>

#include "common/clock.h"

namespace tandem::jobs {
namespace {

constexpr std::array<std::pair<EventSource, std::string_view>, 4> kSourceNames = {{
    {EventSource::kRuntime, "runtime"},
    {EventSource::kBackend, "backend"},
    {EventSource::kReconciler, "reconciler"},
    {EventSource::kApi, "api"},
}};

Status ValidateEventId(std::string_view id) {
  if (id.empty() || id.size() > kMaxEventIdLength) {
    return InvalidArgument(fmt::format("EventId: must be 1-{} characters, got {}",
                                       kMaxEventIdLength, id.size()));
  }
  for (char c : id) {
    if (c < 0x21 || c > 0x7e) {
      return InvalidArgument(
          "EventId: contains a space, control or non-ASCII character; use printable ASCII");
    }
  }
  return Ok();
}

bool IsSha256Digest(std::string_view digest) {
  constexpr std::string_view kPrefix = "sha256:";
  if (!digest.starts_with(kPrefix) || digest.size() != kPrefix.size() + 64) return false;
  for (char c : digest.substr(kPrefix.size())) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// Parses the two status fields and checks that they may occur together.
Status ParseStatuses(const Json& document, Event& event) {
  TANDEM_ASSIGN_OR_RETURN(auto status, GetOptionalString(document, "TrainingJobStatus", ""));
  if (status) {
    auto parsed = ParseJobStatus(*status);
    TANDEM_RETURN_IF_ERROR_CTX(parsed, "TrainingJobStatus");
    event.status = *parsed;
  }
  TANDEM_ASSIGN_OR_RETURN(auto secondary, GetOptionalString(document, "SecondaryStatus", ""));
  if (secondary) {
    auto parsed = ParseSecondaryStatus(*secondary);
    TANDEM_RETURN_IF_ERROR_CTX(parsed, "SecondaryStatus");
    event.secondary_status = *parsed;
  }
  if (event.status && event.secondary_status) {
    TANDEM_RETURN_IF_ERROR(CheckStatusPair(*event.status, *event.secondary_status));
  }
  return Ok();
}

}  // namespace

std::string_view Name(EventSource source) {
  for (const auto& [value, name] : kSourceNames) {
    if (value == source) return name;
  }
  return "runtime";  // unreachable: the table lists every enumerator
}

Result<EventSource> ParseEventSource(std::string_view text) {
  for (const auto& [value, name] : kSourceNames) {
    if (name == text) return value;
  }
  return InvalidArgument(fmt::format(
      "unknown event source \"{}\"; expected one of runtime, backend, reconciler, api", text));
}

Status CheckStatusPair(JobStatus status, SecondaryStatus secondary) {
  if (StatusOf(secondary) == status) return Ok();
  return InvalidArgument(fmt::format(
      "SecondaryStatus: {} cannot occur with TrainingJobStatus {}; it belongs to {}",
      Name(secondary), Name(status), Name(StatusOf(secondary))));
}

Result<Event> ParseEvent(const Json& document, std::string_view job_id) {
  TANDEM_RETURN_IF_ERROR(RequireObject(document, "event"));
  TANDEM_RETURN_IF_ERROR(RejectUnknownFields(
      document, "",
      {"EventId", "Source", "ObservedAt", "Sequence", "Attempt", "TrainingJobStatus",
       "SecondaryStatus", "Message", "Details"}));
  Event event;
  event.job_id = std::string(job_id);

  // Identity: id, source and observation time.
  TANDEM_ASSIGN_OR_RETURN(event.event_id, GetString(document, "EventId", ""));
  TANDEM_RETURN_IF_ERROR(ValidateEventId(event.event_id));
  TANDEM_ASSIGN_OR_RETURN(std::string source, GetString(document, "Source", ""));
  auto parsed_source = ParseEventSource(source);
  TANDEM_RETURN_IF_ERROR_CTX(parsed_source, "Source");
  event.source = *parsed_source;
  TANDEM_ASSIGN_OR_RETURN(std::string observed_at, GetString(document, "ObservedAt", ""));
  auto observed_ms = ParseTimestamp(observed_at);
  TANDEM_RETURN_IF_ERROR_CTX(observed_ms, "ObservedAt");
  event.observed_at_ms = *observed_ms;
  TANDEM_ASSIGN_OR_RETURN(event.sequence, GetOptionalInt(document, "Sequence", ""));
  if (event.sequence && *event.sequence < 0) {
    return InvalidArgument(fmt::format("Sequence: {} is negative", *event.sequence));
  }
  TANDEM_ASSIGN_OR_RETURN(event.attempt, GetOptionalInt(document, "Attempt", ""));
  if (event.attempt && *event.attempt < 1) {
    return InvalidArgument(
        fmt::format("Attempt: {} is not an attempt number; attempts count from 1", *event.attempt));
  }

  // What it reports.
  TANDEM_RETURN_IF_ERROR(ParseStatuses(document, event));
  TANDEM_ASSIGN_OR_RETURN(auto message, GetOptionalString(document, "Message", ""));
  if (message && message->size() > kMaxEventMessageBytes) {
    return InvalidArgument(fmt::format("Message: {} bytes, at most {} are allowed",
                                       message->size(), kMaxEventMessageBytes));
  }
  event.message = message.value_or("");
  auto details = document.find("Details");
  if (details != document.end() && !details->is_null()) {
    TANDEM_RETURN_IF_ERROR(RequireObject(*details, "Details"));
    event.details = *details;
  }
  TANDEM_RETURN_IF_ERROR(ModelPackageOf(event));
  return event;
}

Json EventToJson(const Event& event) {
  Json document = {
      {"EventId", event.event_id},
      {"Source", Name(event.source)},
      {"ObservedAt", FormatTimestamp(event.observed_at_ms)},
      {"Message", event.message},
      {"Details", event.details},
  };
  if (event.sequence) document["Sequence"] = *event.sequence;
  if (event.attempt) document["Attempt"] = *event.attempt;
  if (event.status) document["TrainingJobStatus"] = Name(*event.status);
  if (event.secondary_status) document["SecondaryStatus"] = Name(*event.secondary_status);
  return document;
}

Result<std::optional<ModelPackageRef>> ModelPackageOf(const Event& event) {
  constexpr std::string_view kPath = "Details.ModelPackage";
  if (!event.details.is_object()) return std::nullopt;
  auto it = event.details.find("ModelPackage");
  if (it == event.details.end() || it->is_null()) return std::nullopt;
  TANDEM_RETURN_IF_ERROR(RequireObject(*it, kPath));
  TANDEM_RETURN_IF_ERROR(RejectUnknownFields(*it, kPath, {"Digest", "SizeBytes", "Manifest"}));

  ModelPackageRef package;
  TANDEM_ASSIGN_OR_RETURN(package.digest, GetString(*it, "Digest", kPath));
  if (!IsSha256Digest(package.digest)) {
    return InvalidArgument(fmt::format(
        "{}.Digest: \"{}\" is not \"sha256:\" followed by 64 lower-case hex digits", kPath,
        package.digest.substr(0, 80)));
  }
  TANDEM_ASSIGN_OR_RETURN(package.size_bytes, GetInt(*it, "SizeBytes", kPath));
  if (package.size_bytes < 0) {
    return InvalidArgument(fmt::format("{}.SizeBytes: {} is negative", kPath, package.size_bytes));
  }
  auto manifest = it->find("Manifest");
  if (manifest != it->end() && !manifest->is_null()) {
    TANDEM_RETURN_IF_ERROR(RequireObject(*manifest, fmt::format("{}.Manifest", kPath)));
    package.manifest = *manifest;
  }
  return package;
}

std::string AttemptEventId(std::string_view base, int64_t attempt) {
  if (attempt <= 1) return std::string(base);
  return fmt::format("{}-attempt-{}", base, attempt);
}

}  // namespace tandem::jobs
