// Human-readable renderings of jobs and models (JSON forms of docs/api.md)
// for `tandem job describe|list` and `tandem model describe|list`.
// Pure functions; thread-safe. Fields absent from the JSON are left out.
#pragma once

#include <string>
#include <vector>

#include "common/json_util.h"

namespace tandem::cli {

// Returns a multi-line description of one job: identity, status and failure
// reason, times, secondary status transitions with their times and messages,
// progress, backend and the model version the job registered.
std::string FormatJobDescription(const Json& job);

// Returns a table with one row per job of `jobs` (an array):
// JOB ID, NAME, REPOSITORY, STATUS, SECONDARY, CREATED.
std::string FormatJobTable(const Json& jobs);

// Returns a table with one row per model of `models` (an array of
// {"ModelName", "LatestVersion", "CreationTime", "LastModifiedTime"}).
std::string FormatModelTable(const Json& models);

// Returns a multi-line description of one model version (the response
// of GET /models/{name}/versions/{v}): version, job, created, package digest,
// metrics (Rmse and Mae next to BaselineRmse and BaselineMae), lineage and the
// number of self-test cases.
std::string FormatModelVersionDescription(const Json& version);

// Returns `rows` laid out in columns separated by two spaces, the first row
// being the header. Rows shorter than the header are padded with "".
std::string FormatTable(const std::vector<std::vector<std::string>>& rows);

}  // namespace tandem::cli
