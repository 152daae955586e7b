// Submit-to-first-line-of-user-code latency of the Slurm backend, next to the
// local backend as the peer measured in the same run.
//
//   build/<dir>/bench/slurm_start --slurm-conf /tmp/tandem-slurm/slurm.conf [--jobs 20]
//
// Each backend launches the same script in place of `tandem train`, one job
// at a time: its first line writes the wall-clock time into the job
// directory. The latency is that time minus the time just before Launch; each
// job is waited for until it ends before the next one starts. The Slurm jobs
// go to the cluster that --slurm-conf names (scripts/slurm-test-cluster.sh
// starts one). Prints p50, p99 (the maximum for fewer than 100 jobs) and the
// ratio of Slurm to local.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "backends/local_backend.h"
#include "backends/slurm_backend.h"
#include "common/file_util.h"

namespace tandem::bench {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

constexpr std::string_view kUserCode = R"(#!/bin/sh
date +%s%N > "$TANDEM_JOB_ROOT/../first-line"
exit 0
)";
constexpr auto kJobLimit = std::chrono::seconds(60);

int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Figures {
  std::vector<double> latencies_ms;
  double Percentile(double fraction) const {
    std::vector<double> sorted = latencies_ms;
    std::sort(sorted.begin(), sorted.end());
    size_t index = static_cast<size_t>(fraction * static_cast<double>(sorted.size() - 1) + 0.5);
    return sorted[std::min(index, sorted.size() - 1)];
  }
};

bool Ended(backends::ObservedState state) {
  return state == backends::ObservedState::kSucceeded ||
         state == backends::ObservedState::kFailed || state == backends::ObservedState::kGone;
}

// Launches one job and returns the milliseconds from Launch to the first
// line of the script, after waiting for the job to end.
Result<double> RunOne(backends::Backend& backend, const fs::path& job_dir, const std::string& job_id) {
  backends::LaunchRequest request{.job_id = job_id,
                                  .job_name = job_id,
                                  .api_url = "http://127.0.0.1:1",
                                  .job_token = "bench-token",
                                  .job_dir = job_dir,
                                  .memory_mib = 128,
                                  .max_runtime_seconds = 600};
  int64_t submitted_ns = NowNanos();
  TANDEM_ASSIGN_OR_RETURN(backends::LaunchInfo info, backend.Launch(request));

  auto deadline = std::chrono::steady_clock::now() + kJobLimit;
  std::optional<int64_t> first_line_ns;
  bool ended = false;
  while (std::chrono::steady_clock::now() < deadline && !(first_line_ns && ended)) {
    if (!first_line_ns) {
      if (Result<std::string> text = ReadFile(job_dir / "first-line"); text && !text->empty()) {
        first_line_ns = std::stoll(*text);
      }
    }
    if (first_line_ns && !ended) {
      Result<backends::Observation> observed = backend.Describe(info.native_id);
      ended = observed && Ended(observed->state);
    }
    std::this_thread::sleep_for(milliseconds(first_line_ns ? 50 : 2));
  }
  if (!first_line_ns || !ended) {
    return DeadlineExceeded(fmt::format("job {} ({}) did not start and end within {} s", job_id,
                                        info.native_id, kJobLimit.count()));
  }
  return static_cast<double>(*first_line_ns - submitted_ns) / 1e6;
}

Result<Figures> Measure(backends::Backend& backend, const fs::path& dir, int jobs) {
  Figures figures;
  for (int i = 0; i < jobs; ++i) {
    std::string job_id = fmt::format("{}-{}", backend.name(), i);
    TANDEM_ASSIGN_OR_RETURN(double latency, RunOne(backend, dir / job_id, job_id));
    figures.latencies_ms.push_back(latency);
  }
  return figures;
}

void Print(std::string_view name, const Figures& figures) {
  std::printf("%-6s jobs %3zu  p50 %8.1f ms  p99 %8.1f ms  min %8.1f ms  max %8.1f ms\n",
              std::string(name).c_str(), figures.latencies_ms.size(), figures.Percentile(0.5),
              figures.Percentile(0.99), figures.Percentile(0.0), figures.Percentile(1.0));
}

int Run(const std::string& slurm_conf, int jobs) {
  std::string pattern = (fs::temp_directory_path() / "tandem-slurm-start-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    std::fprintf(stderr, "cannot create a directory under %s\n", fs::temp_directory_path().c_str());
    return 1;
  }
  fs::path dir = pattern;
  fs::path script = dir / "user-code";
  if (Status written = WriteFileAtomic(script, kUserCode, fs::perms::owner_all); !written) {
    std::fprintf(stderr, "%s\n", written.error().message().c_str());
    return 1;
  }

  backends::LocalBackend local({.jobs_dir = dir / "local", .tandem_binary = script,
                                .poll_interval = milliseconds(10)},
                               nullptr);
  backends::SlurmBackend slurm({.tandem_binary = script, .slurm_conf = slurm_conf});
  Result<Figures> local_figures = Measure(local, dir / "local", jobs);
  Result<Figures> slurm_figures = Measure(slurm, dir / "slurm", jobs);
  for (const auto* result : {&local_figures, &slurm_figures}) {
    if (!*result) {
      std::fprintf(stderr, "%s\n", result->error().message().c_str());
      return 1;
    }
  }

  std::printf("submit to first line of user code, %d jobs each, one at a time\n", jobs);
  Print("local", *local_figures);
  Print("slurm", *slurm_figures);
  std::printf("ratio slurm/local  p50 %.1fx  p99 %.1fx\n",
              slurm_figures->Percentile(0.5) / local_figures->Percentile(0.5),
              slurm_figures->Percentile(0.99) / local_figures->Percentile(0.99));
  std::error_code error;
  fs::remove_all(dir, error);
  return 0;
}

}  // namespace
}  // namespace tandem::bench

int main(int argc, char** argv) {
  CLI::App app{"Submit-to-first-line latency of the Slurm backend next to the local backend"};
  std::string slurm_conf;
  int jobs = 20;
  app.add_option("--slurm-conf", slurm_conf, "absolute path of the cluster's slurm.conf")
      ->required();
  app.add_option("--jobs", jobs, "jobs per backend, run one at a time")
      ->check(CLI::Range(1, 200));
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);
  return tandem::bench::Run(slurm_conf, jobs);
}
