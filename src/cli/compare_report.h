// The report of `tandem job submit --compare-with BACKEND`: the differences
// between two runs of one job spec on two backends, from the API's JSON forms
// of each job and of the model version it registered (with its manifest).
//
// Compared: the final status and failure reason, the model package digest,
// each manifest metric, and the self-test cases: the same records, and the
// recorded predictions bit for bit (as float32) and as values (the largest
// absolute difference). Package digests cover the manifest's lineage (job id,
// creation time), so two runs always differ there. The report shows them with
// that note and does not count them as a difference.
//
// Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/json_util.h"

namespace tandem::cli {

// One side of the comparison.
struct CompareRun {
  std::string label;  // e.g. the backend's name
  Json job;           // GET /jobs/{id}
  std::optional<Json> model_version;  // GET /models/{name}/versions/{v}, when registered
};

struct SelfTestComparison {
  size_t cases_a = 0;
  size_t cases_b = 0;
  size_t bit_identical = 0;     // same float32 bits
  size_t equal_values = 0;      // equal as values but not bit for bit (0 and -0)
  size_t different = 0;         // different values
  size_t different_records = 0; // cases whose input records differ
  double max_abs_difference = 0;
};

struct CompareReport {
  std::vector<std::string> differences;  // one line per difference, empty when none
  std::optional<SelfTestComparison> self_tests;  // absent unless both runs registered a model
  std::string text;  // the report, one item per line
};

// Compares two runs. A missing field shows as "-", and a side without a
// model version counts as one difference ("model version").
CompareReport CompareRuns(const CompareRun& a, const CompareRun& b);

}  // namespace tandem::cli
