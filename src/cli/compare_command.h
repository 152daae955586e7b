// The side-by-side run of `tandem job submit --compare-with BACKEND`: submits
// one spec twice, to the backend its repository is routed to and to BACKEND,
// waits for both jobs, and prints the CompareReport (cli/compare_report.h).
//
// It runs in the client because both runs are ordinary jobs: the control
// plane routes, launches, lists and stops them as any other, and the report
// needs nothing but the API's job and model version documents. A control
// plane resource would add state to keep and recover without adding facts.
#pragma once

#include <string>

#include "cli/api_client.h"
#include "common/json_util.h"

namespace tandem::cli {

struct CompareOptions {
  std::string backend;          // BACKEND, named in the second run's spec
  double timeout_seconds = 0;   // 0: wait for ever
};

// Returns the TrainingJobName of the second run: "<name>-vs-<backend>".
// Errors: kInvalidArgument when it breaks the name rules (1-63 characters).
Result<std::string> CompareRunName(const std::string& name, const std::string& backend);

// Submits `spec` as is and as CompareRunName with "Backend": BACKEND, prints
// both job ids, waits for both and prints the report. Submitting again
// returns the same two jobs, because the names are fixed.
// Returns 0 when the report finds no differences, else 1.
// Errors: those of the API (a route that forbids BACKEND is a 403); the
// routed backend being BACKEND already (kInvalidArgument, the first job keeps
// running); kDeadlineExceeded after the timeout (both jobs keep running).
Result<int> SubmitAndCompare(ApiClient& client, Json spec, const CompareOptions& options);

}  // namespace tandem::cli
