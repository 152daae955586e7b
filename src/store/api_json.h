// The docs/api.md JSON forms of stored records, shared by the HTTP handlers
// and the CLI so that each record has exactly one JSON shape. Times are
// ISO 8601 UTC strings (common/clock.h FormatTimestamp).
#pragma once

#include "common/json_util.h"
#include "store/store.h"

namespace tandem::store {

// The job as GET /jobs/{id} returns it: JobId, TrainingJobName, Repository,
// TrainingJobStatus, SecondaryStatus, FailureReason, CreationTime,
// TrainingStartTime and TrainingEndTime (when set), LastModifiedTime,
// SecondaryStatusTransitions, Progress, Backend (when routed), ModelVersion
// (when registered) and Spec (canonical). Never the job token digest.
Json JobToJson(const Job& job);

// An inbox row: the event's own form plus "ReceivedAt", "Verdict" and "Reason".
Json StoredEventToJson(const StoredEvent& event);

// {"ModelName", "LatestVersion", "CreationTime", "LastModifiedTime"}.
Json ModelSummaryToJson(const ModelSummary& model);

// {"ModelName", "Version", "JobId", "TrainingJobName", "PackageDigest",
//  "PackageSizeBytes", "CreationTime"} and, when `with_manifest`, "Manifest".
Json ModelVersionToJson(const ModelVersion& version, bool with_manifest);

}  // namespace tandem::store
