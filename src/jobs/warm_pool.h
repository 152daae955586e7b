// Warm pools with SageMaker's semantics: the rules that do not depend on a
// backend or a database. A job that ends with ResourceConfig.KeepAlivePeriodInSeconds > 0
// keeps its worker for that long; a later job whose match key is identical
// runs on that worker instead of a new one.
//
// The warm pool status of a job that kept its worker moves only along this
// table (CanMove checks every move):
//
//   (none)    -> Available   the job ended and its worker is kept
//   Available -> InUse       a matching job took the worker
//   Available -> Terminated  the keep-alive period ran out, the worker died,
//                            or the control plane shut down
//   InUse     -> Reused      the job that took the worker ended
//   InUse     -> Terminated  the hand-off to that job failed
//
// Reused and Terminated are final.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "jobs/job_spec.h"

namespace tandem::jobs {

enum class WarmPoolStatus { kAvailable, kInUse, kReused, kTerminated };

// Returns SageMaker's spelling: "Available", "InUse", "Reused", "Terminated".
std::string_view Name(WarmPoolStatus status);

// Parses SageMaker's spelling (case-sensitive). Errors: kInvalidArgument
// naming the text and listing the valid names.
Result<WarmPoolStatus> ParseWarmPoolStatus(std::string_view text);

// True when the table above allows the move; `from` is nullopt for a job
// that has no warm pool status yet.
bool CanMove(std::optional<WarmPoolStatus> from, WarmPoolStatus to);

// The warm pool of one job, as stored with the job.
struct WarmPoolState {
  WarmPoolStatus status = WarmPoolStatus::kAvailable;
  // The job that took the worker; set from InUse on.
  std::string reused_by_job;
  // When the worker was kept (the end of the job), Unix milliseconds.
  int64_t retained_ms = 0;
  // When billing for the kept worker stopped: the hand-off to another job or
  // the termination. Unset while the status is Available.
  std::optional<int64_t> released_ms;
  // retained_ms + KeepAlivePeriodInSeconds: when an unused worker is terminated.
  int64_t expires_ms = 0;

  friend bool operator==(const WarmPoolState&, const WarmPoolState&) = default;
};

// Returns SageMaker's ResourceRetainedBillableTimeInSeconds: whole seconds
// from retained_ms to released_ms, or to `now_ms` while still Available.
// Never negative.
int64_t RetainedBillableSeconds(const WarmPoolState& state, int64_t now_ms);

// The fields two jobs must share for one to run on the other's kept worker.
// SageMaker's rule compares instance type and count, volume size, role,
// network isolation and image. tandem adds CpuCount and MemoryMiB, which size
// a worker where there are no instance types, and the repository, so that one
// team's job never runs on another team's worker. Everything else may differ:
// name, hyperparameters, channels, algorithm or entry point, feature
// pipeline, environment, model name, MaxRuntimeInSeconds and the keep-alive
// period itself.
struct MatchKey {
  std::string repository;
  std::string instance_type;
  int64_t instance_count = 1;
  std::optional<int64_t> cpu_count;
  std::optional<int64_t> memory_mib;
  std::optional<int64_t> volume_size_gb;
  std::string role_arn;
  bool network_isolation = false;
  // The image the backend starts workers from (the local backend: the tandem
  // binary's path, size and modification time).
  std::string image;

  friend bool operator==(const MatchKey&, const MatchKey&) = default;
};

// Returns the match key of `spec` on a backend whose image is `image`.
MatchKey MatchKeyOf(const JobSpec& spec, std::string image);

// Returns the spec names of the fields in which `a` and `b` differ, in the
// order of MatchKey: "Repository", "ResourceConfig.InstanceType", ...,
// "Image". Returns an empty list when they match.
std::vector<std::string> MatchKeyDifferences(const MatchKey& a, const MatchKey& b);

// Checks KeepAlivePeriodInSeconds against this control plane's maximum.
// Errors: kInvalidArgument naming ResourceConfig.KeepAlivePeriodInSeconds,
// the value and the maximum.
Status CheckKeepAlivePeriod(const JobSpec& spec, int64_t max_keep_alive_s);

}  // namespace tandem::jobs
