// Admission policy: which waiting jobs may start now, given limits on the
// number of running jobs overall and per repository. Pure: no store, no
// backend, no clock, so every rule is tested without servers.
//
// Rules, applied one admitted job at a time until no further job fits:
//   - within a repository, jobs start in the order of `waiting` (first in,
//     first out; callers pass them oldest first);
//   - between repositories, turns go round robin in repository name order,
//     starting after `cursor` (the repository that got the last turn), and a
//     repository at its own limit is passed over until one of its jobs ends;
//   - a limit of 0 means unlimited.
// So with an overall limit of 1, repository A with 100 waiting jobs and B
// with 1, the order is A, B, A, A, ... and B never waits behind all of A.
//
// Threads: the functions are pure and thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"

namespace tandem::api {

struct AdmissionLimits {
  int64_t max_running_jobs = 0;                 // over every repository; 0: unlimited
  int64_t max_running_jobs_per_repository = 0;  // for each repository; 0: unlimited

  bool unlimited() const {
    return max_running_jobs == 0 && max_running_jobs_per_repository == 0;
  }
};

// Checks that both limits are 0 or more. Errors: kInvalidArgument naming the
// limit (by its server flag) and the value.
Status ValidateAdmissionLimits(const AdmissionLimits& limits);

// A job that was stored but not launched.
struct WaitingJob {
  std::string job_id;
  std::string repository;
};

// Jobs that hold capacity now (launched and not ended), per repository.
struct RunningJobs {
  int64_t total = 0;
  std::map<std::string, int64_t> per_repository;

  void Add(const std::string& repository) {
    ++total;
    ++per_repository[repository];
  }
};

struct AdmissionDecision {
  std::vector<WaitingJob> admitted;  // in the order they should be launched
  std::string cursor;                // the repository that got the last turn; pass it next time
};

// Picks the waiting jobs that may start now. `waiting` must be oldest first.
// `cursor` is AdmissionDecision::cursor of the previous call ("" at first).
AdmissionDecision DecideAdmissions(const AdmissionLimits& limits, RunningJobs running,
                                   const std::vector<WaitingJob>& waiting,
                                   const std::string& cursor);

// Returns why `repository` cannot start a job now ("the limit of running jobs
// (3) is reached"), or "" when it could.
std::string WaitReason(const AdmissionLimits& limits, const RunningJobs& running,
                       const std::string& repository);

}  // namespace tandem::api
