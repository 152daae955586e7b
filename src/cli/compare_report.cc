#include "cli/compare_report.h"

#include <fmt/format.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <set>

#include "cli/job_format.h"

namespace tandem::cli {
namespace {

const Json kEmptyObject = Json::object();
const Json kEmptyArray = Json::array();

std::string TextOf(const Json& object, std::string_view key) {
  if (!object.is_object()) return "-";
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return "-";
  if (it->is_string()) return it->get<std::string>().empty() ? "-" : it->get<std::string>();
  return it->dump();
}

const Json& ManifestOf(const CompareRun& run) {
  if (!run.model_version) return kEmptyObject;
  auto it = run.model_version->find("Manifest");
  return it != run.model_version->end() && it->is_object() ? *it : kEmptyObject;
}

const Json& FieldOf(const Json& object, std::string_view key, const Json& fallback) {
  auto it = object.find(key);
  return it == object.end() ? fallback : *it;
}

// Accumulates the rows of the report and its differences.
class ReportBuilder {
 public:
  ReportBuilder(const CompareRun& a, const CompareRun& b) {
    rows_.push_back({"", a.label, b.label, ""});
  }

  // Adds a row; unequal values count as a difference unless `counted` is false.
  void Compare(std::string item, const std::string& a, const std::string& b,
               std::string unequal_note = "differs", bool counted = true) {
    bool same = a == b;
    rows_.push_back({item, a, b, same ? "same" : unequal_note});
    if (!same && counted) differences_.push_back(fmt::format("{}: {} vs {}", item, a, b));
  }

  void AddRow(std::string item, std::string a, std::string b, std::string note) {
    rows_.push_back({std::move(item), std::move(a), std::move(b), std::move(note)});
  }

  void AddDifference(std::string difference) { differences_.push_back(std::move(difference)); }

  std::vector<std::string> differences() const { return differences_; }

  std::string Text() const {
    std::string text = FormatTable(rows_);
    if (differences_.empty()) {
      text += "result: no differences\n";
    } else {
      text += fmt::format("result: {} difference{}\n", differences_.size(),
                          differences_.size() == 1 ? "" : "s");
    }
    return text;
  }

 private:
  std::vector<std::vector<std::string>> rows_;
  std::vector<std::string> differences_;
};

std::string FormatMetric(const Json& metrics, const std::string& name) {
  auto it = metrics.find(name);
  if (it == metrics.end() || !it->is_number()) return "-";
  return fmt::format("{}", it->get<double>());
}

void CompareMetrics(const Json& manifest_a, const Json& manifest_b, ReportBuilder& report) {
  const Json& metrics_a = FieldOf(manifest_a, "Metrics", kEmptyObject);
  const Json& metrics_b = FieldOf(manifest_b, "Metrics", kEmptyObject);
  std::set<std::string> names;
  for (const auto& [name, unused] : metrics_a.items()) names.insert(name);
  for (const auto& [name, unused] : metrics_b.items()) names.insert(name);
  for (const std::string& name : names) {
    std::string a = FormatMetric(metrics_a, name);
    std::string b = FormatMetric(metrics_b, name);
    std::string note = "differs";
    if (a != "-" && b != "-") {
      note = fmt::format("differs by {}", metrics_b[name].get<double>() - metrics_a[name].get<double>());
    }
    report.Compare("metric " + name, a, b, note);
  }
}

// Returns the float32 the manifest recorded: Expected is a float32 stored as
// a double, so the conversion is exact.
float ExpectedOf(const Json& test) {
  auto it = test.find("Expected");
  if (it == test.end() || !it->is_number()) return std::nanf("");
  return static_cast<float>(it->get<double>());
}

SelfTestComparison CompareSelfTests(const Json& manifest_a, const Json& manifest_b) {
  const Json& tests_a = FieldOf(manifest_a, "SelfTests", kEmptyArray);
  const Json& tests_b = FieldOf(manifest_b, "SelfTests", kEmptyArray);
  SelfTestComparison result{.cases_a = tests_a.size(), .cases_b = tests_b.size()};
  size_t common = std::min(tests_a.size(), tests_b.size());
  for (size_t i = 0; i < common; ++i) {
    if (FieldOf(tests_a[i], "Record", Json()) != FieldOf(tests_b[i], "Record", Json())) {
      ++result.different_records;
      continue;
    }
    float a = ExpectedOf(tests_a[i]);
    float b = ExpectedOf(tests_b[i]);
    if (std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b)) {
      ++result.bit_identical;
    } else if (a == b) {
      ++result.equal_values;
    } else {
      ++result.different;
      double difference = std::fabs(static_cast<double>(a) - static_cast<double>(b));
      // A NaN difference (a missing value) counts as infinitely large.
      if (std::isnan(difference)) difference = INFINITY;
      result.max_abs_difference = std::max(result.max_abs_difference, difference);
    }
  }
  return result;
}

void ReportSelfTests(const SelfTestComparison& tests, ReportBuilder& report) {
  std::string note = fmt::format(
      "{} bit-identical, {} equal as values, {} differ (max abs difference {}), {} with "
      "different records",
      tests.bit_identical, tests.equal_values, tests.different, tests.max_abs_difference,
      tests.different_records);
  report.AddRow("self-test predictions", fmt::format("{} cases", tests.cases_a),
                fmt::format("{} cases", tests.cases_b), note);
  if (tests.cases_a != tests.cases_b) {
    report.AddDifference(fmt::format("self-test cases: {} vs {}", tests.cases_a, tests.cases_b));
  }
  if (tests.different > 0) {
    report.AddDifference(fmt::format("self-test predictions: {} differ, max abs difference {}",
                                     tests.different, tests.max_abs_difference));
  }
  if (tests.different_records > 0) {
    report.AddDifference(
        fmt::format("self-test records: {} cases differ", tests.different_records));
  }
}

}  // namespace

CompareReport CompareRuns(const CompareRun& a, const CompareRun& b) {
  ReportBuilder report(a, b);
  report.AddRow("job", TextOf(a.job, "JobId"), TextOf(b.job, "JobId"), "");
  report.AddRow("backend", TextOf(FieldOf(a.job, "Backend", kEmptyObject), "Name"),
                TextOf(FieldOf(b.job, "Backend", kEmptyObject), "Name"), "");
  report.Compare("status", TextOf(a.job, "TrainingJobStatus"), TextOf(b.job, "TrainingJobStatus"));
  std::string reason_a = TextOf(a.job, "FailureReason");
  std::string reason_b = TextOf(b.job, "FailureReason");
  if (reason_a != "-" || reason_b != "-") report.Compare("failure reason", reason_a, reason_b);

  CompareReport result;
  if (!a.model_version || !b.model_version) {
    report.Compare("model version", a.model_version ? "registered" : "-",
                   b.model_version ? "registered" : "-");
    result.differences = report.differences();
    result.text = report.Text();
    return result;
  }

  // Digests cover the lineage (job id, time), so they differ between any two
  // runs; the metrics and predictions below are the evidence.
  report.Compare("package digest", TextOf(*a.model_version, "PackageDigest"),
                 TextOf(*b.model_version, "PackageDigest"),
                 "differs (expected: the manifest's lineage names each job)", /*counted=*/false);
  const Json& manifest_a = ManifestOf(a);
  const Json& manifest_b = ManifestOf(b);
  CompareMetrics(manifest_a, manifest_b, report);
  result.self_tests = CompareSelfTests(manifest_a, manifest_b);
  ReportSelfTests(*result.self_tests, report);

  result.differences = report.differences();
  result.text = report.Text();
  return result;
}

}  // namespace tandem::cli
