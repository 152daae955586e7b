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
// (when registered), WarmPoolStatus (when the job kept its worker) and Spec
// (canonical). Never the job token digest. `now_ms` is the time at which
// WarmPoolStatus.ResourceRetainedBillableTimeInSeconds of a worker still
// Available is counted.
Json JobToJson(const Job& job, int64_t now_ms);

// JobToJson at the system clock's current time.
Json JobToJson(const Job& job);

// SageMaker's WarmPoolStatus: {"Status", "ResourceRetainedBillableTimeInSeconds"}
// and "ReusedByJob" once another job took the worker.
Json WarmPoolToJson(const jobs::WarmPoolState& state, int64_t now_ms);

// An inbox row: the event's own form plus "ReceivedAt", "Verdict" and "Reason".
Json StoredEventToJson(const StoredEvent& event);

// {"ModelName", "LatestVersion", "CreationTime", "LastModifiedTime"}.
Json ModelSummaryToJson(const ModelSummary& model);

// {"ModelName", "Version", "JobId", "TrainingJobName", "PackageDigest",
//  "PackageSizeBytes", "CreationTime"} and, when `with_manifest`, "Manifest".
Json ModelVersionToJson(const ModelVersion& version, bool with_manifest);

// {"ModelName", "Alias", "Version", "LastModifiedTime"}.
Json ModelAliasToJson(const ModelAlias& alias);

}  // namespace tandem::store
