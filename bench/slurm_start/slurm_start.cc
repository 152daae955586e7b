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

// Stands in for `tandem train`, and for `tandem train --warm-agent FIFO`,
// which takes the job root from the hand-off.
constexpr std::string_view kUserCode = R"sh(#!/bin/sh
if [ "$2" = --warm-agent ]; then
  read -r handoff < "$3"
  TANDEM_JOB_ROOT=$(printf '%s' "$handoff" | sed 's/.*"TANDEM_JOB_ROOT":"\([^"]*\)".*/\1/')
fi
date +%s%N > "$TANDEM_JOB_ROOT/../first-line"
exit 0
)sh";
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

// Returns the request for one benchmark job in `job_dir`.
backends::LaunchRequest BenchRequest(const fs::path& job_dir, const std::string& job_id) {
  return backends::LaunchRequest{.job_id = job_id,
                                  .job_name = job_id,
                                  .api_url = "http://127.0.0.1:1",
                                  .job_token = "bench-token",
                                  .job_dir = job_dir,
                                  .memory_mib = 128,
                                  .max_runtime_seconds = 600};
}

// Waits for the job's first line and its end; returns the first line's time.
Result<int64_t> WaitForJob(backends::Backend& backend, const fs::path& job_dir,
                           const std::string& job_id, const backends::LaunchInfo& info) {
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
  return *first_line_ns;
}

// Launches one job and returns the milliseconds from Launch to the first
// line of the script, after waiting for the job to end.
Result<double> RunOne(backends::Backend& backend, const fs::path& job_dir, const std::string& job_id) {
  int64_t submitted_ns = NowNanos();
  TANDEM_ASSIGN_OR_RETURN(backends::LaunchInfo info,
                          backend.Launch(BenchRequest(job_dir, job_id)));
  TANDEM_ASSIGN_OR_RETURN(int64_t first_line_ns, WaitForJob(backend, job_dir, job_id, info));
  return static_cast<double>(first_line_ns - submitted_ns) / 1e6;
}

// Starts a job that keeps its allocation, then measures a second job handed
// to that allocation, from LaunchOnWarmWorker to its first line.
Result<double> RunWarmOne(backends::Backend& backend, const fs::path& dir, int index) {
  std::string owner_id = fmt::format("{}-owner-{}", backend.name(), index);
  backends::LaunchRequest owner = BenchRequest(dir / owner_id, owner_id);
  owner.spec_json = R"({"ResourceConfig": {"KeepAlivePeriodInSeconds": 60}})";
  if (Result<backends::LaunchInfo> launched = backend.Launch(owner); !launched) {
    return std::unexpected(launched.error());
  }
  Result<std::string> worker = Unavailable("not started");
  auto deadline = std::chrono::steady_clock::now() + kJobLimit;
  while (!worker && std::chrono::steady_clock::now() < deadline) {
    if (fs::exists(dir / owner_id / "first-line")) worker = backend.StartWarmWorker(owner_id, dir / owner_id);
    if (!worker) std::this_thread::sleep_for(milliseconds(20));
  }
  if (!worker) return std::unexpected(worker.error());

  std::string job_id = fmt::format("{}-warm-{}", backend.name(), index);
  int64_t submitted_ns = NowNanos();
  TANDEM_ASSIGN_OR_RETURN(backends::LaunchInfo info,
                          backend.LaunchOnWarmWorker(*worker, BenchRequest(dir / job_id, job_id)));
  TANDEM_ASSIGN_OR_RETURN(int64_t first_line_ns, WaitForJob(backend, dir / job_id, job_id, info));
  return static_cast<double>(first_line_ns - submitted_ns) / 1e6;
}

Result<Figures> MeasureWarm(backends::Backend& backend, const fs::path& dir, int jobs) {
  Figures figures;
  for (int i = 0; i < jobs; ++i) {
    TANDEM_ASSIGN_OR_RETURN(double latency, RunWarmOne(backend, dir, i));
    figures.latencies_ms.push_back(latency);
  }
  return figures;
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
  std::printf("%-10s jobs %3zu  p50 %8.1f ms  p99 %8.1f ms  min %8.1f ms  max %8.1f ms\n",
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
  Result<Figures> warm_figures = MeasureWarm(slurm, dir / "slurm-warm", jobs);
  for (const auto* result : {&local_figures, &slurm_figures, &warm_figures}) {
    if (!*result) {
      std::fprintf(stderr, "%s\n", result->error().message().c_str());
      return 1;
    }
  }

  std::printf("submit to first line of user code, %d jobs each, one at a time\n", jobs);
  Print("local", *local_figures);
  Print("slurm", *slurm_figures);
  Print("slurm warm", *warm_figures);
  std::printf("ratio slurm/local  p50 %.1fx  p99 %.1fx\n",
              slurm_figures->Percentile(0.5) / local_figures->Percentile(0.5),
              slurm_figures->Percentile(0.99) / local_figures->Percentile(0.99));
  std::printf("ratio slurm cold/warm  p50 %.1fx  p99 %.1fx\n",
              slurm_figures->Percentile(0.5) / warm_figures->Percentile(0.5),
              slurm_figures->Percentile(0.99) / warm_figures->Percentile(0.99));
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
