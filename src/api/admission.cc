#include "api/admission.h"

#include <fmt/format.h>

#include <deque>

namespace tandem::api {
namespace {

using Queues = std::map<std::string, std::deque<WaitingJob>>;

bool UnderLimit(int64_t limit, int64_t count) { return limit == 0 || count < limit; }

bool RepositoryMayStart(const AdmissionLimits& limits, const RunningJobs& running,
                        const std::string& repository) {
  auto found = running.per_repository.find(repository);
  int64_t count = found == running.per_repository.end() ? 0 : found->second;
  return UnderLimit(limits.max_running_jobs_per_repository, count);
}

// Returns the first repository after `cursor` in name order, wrapping around,
// that has a waiting job and room under its own limit; end() when none has.
Queues::iterator NextTurn(Queues& queues, const AdmissionLimits& limits,
                          const RunningJobs& running, const std::string& cursor) {
  auto start = queues.upper_bound(cursor);
  for (size_t step = 0; step < queues.size(); ++step) {
    if (start == queues.end()) start = queues.begin();
    if (RepositoryMayStart(limits, running, start->first)) return start;
    ++start;
  }
  return queues.end();
}

}  // namespace

Status ValidateAdmissionLimits(const AdmissionLimits& limits) {
  if (limits.max_running_jobs < 0) {
    return InvalidArgument(fmt::format(
        "--max-running-jobs {} is invalid, expected 0 (unlimited) or more",
        limits.max_running_jobs));
  }
  if (limits.max_running_jobs_per_repository < 0) {
    return InvalidArgument(fmt::format(
        "--max-running-jobs-per-repository {} is invalid, expected 0 (unlimited) or more",
        limits.max_running_jobs_per_repository));
  }
  return Ok();
}

AdmissionDecision DecideAdmissions(const AdmissionLimits& limits, RunningJobs running,
                                   const std::vector<WaitingJob>& waiting,
                                   const std::string& cursor) {
  Queues queues;
  for (const WaitingJob& job : waiting) queues[job.repository].push_back(job);

  AdmissionDecision decision{.admitted = {}, .cursor = cursor};
  while (!queues.empty() && UnderLimit(limits.max_running_jobs, running.total)) {
    auto turn = NextTurn(queues, limits, running, decision.cursor);
    if (turn == queues.end()) break;

    decision.admitted.push_back(std::move(turn->second.front()));
    turn->second.pop_front();
    running.Add(turn->first);
    decision.cursor = turn->first;
    if (turn->second.empty()) queues.erase(turn);
  }
  return decision;
}

std::string WaitReason(const AdmissionLimits& limits, const RunningJobs& running,
                       const std::string& repository) {
  if (!UnderLimit(limits.max_running_jobs, running.total)) {
    return fmt::format("the limit of running jobs ({}) is reached", limits.max_running_jobs);
  }
  if (!RepositoryMayStart(limits, running, repository)) {
    return fmt::format("repository {} is at its limit of running jobs ({})", repository,
                       limits.max_running_jobs_per_repository);
  }
  return "";
}

}  // namespace tandem::api
