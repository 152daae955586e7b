#include "store/store_rows.h"

#include <spdlog/spdlog.h>

#include <charconv>
#include <mutex>
#include <unordered_map>

namespace tandem::store::rows {
namespace {

constexpr std::string_view kPageTokenPrefix = "jobs-before:";

std::string Hex(std::string_view bytes) {
  std::string out;
  for (unsigned char c : bytes) out += fmt::format("{:02x}", c);
  return out;
}

// Returns the job seq a page token continues before, or an error naming it.
Result<int64_t> DecodePageToken(std::string_view token) {
  auto invalid = [&] {
    return InvalidArgument(fmt::format(
        "page_token: \"{}\" is not a token from a previous page; omit it to start over",
        token.substr(0, 64)));
  };
  if (token.size() % 2 != 0 || token.size() > 128) return invalid();
  std::string text;
  for (size_t i = 0; i < token.size(); i += 2) {
    unsigned value = 0;
    auto [end, error] = std::from_chars(token.data() + i, token.data() + i + 2, value, 16);
    if (error != std::errc() || end != token.data() + i + 2) return invalid();
    text += static_cast<char>(value);
  }
  if (!text.starts_with(kPageTokenPrefix)) return invalid();
  std::string_view digits = std::string_view(text).substr(kPageTokenPrefix.size());
  int64_t seq = 0;
  auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), seq);
  if (error != std::errc() || end != digits.data() + digits.size() || seq <= 0) return invalid();
  return seq;
}

}  // namespace

Result<jobs::JobSpec> ParseStoredSpec(const std::string& text, std::string_view field) {
  constexpr size_t kMaxCachedSpecs = 4096;
  static std::mutex mutex;
  static std::unordered_map<std::string, jobs::JobSpec> cache;
  {
    std::lock_guard lock(mutex);
    auto found = cache.find(text);
    if (found != cache.end()) return found->second;
  }
  TANDEM_ASSIGN_OR_RETURN(Json document, ParseStoredJson(text, field));
  TANDEM_ASSIGN_OR_RETURN(jobs::JobSpec spec, ParseStored(jobs::ParseJobSpec(document), field));
  std::lock_guard lock(mutex);
  if (cache.size() >= kMaxCachedSpecs) cache.clear();
  cache.emplace(text, spec);
  return spec;
}

Result<Json> ParseStoredJson(const std::string& text, std::string_view field) {
  auto parsed = ParseJson(text, field);
  if (!parsed) {
    return Internal(fmt::format("stored {} is corrupt: {}", field, parsed.error().message()));
  }
  return parsed;
}

Result<std::optional<int64_t>> CheckJobFilter(const JobFilter& filter) {
  if (filter.page_size < 1 || filter.page_size > kMaxPageSize) {
    return InvalidArgument(fmt::format("page_size: {} is out of range, expected 1-{}",
                                       filter.page_size, kMaxPageSize));
  }
  if (filter.page_token.empty()) return std::optional<int64_t>();
  TANDEM_ASSIGN_OR_RETURN(int64_t seq, DecodePageToken(filter.page_token));
  return std::optional<int64_t>(seq);
}

std::string EncodePageToken(int64_t seq) {
  return Hex(fmt::format("{}{}", kPageTokenPrefix, seq));
}

std::unexpected<Error> NameTakenError(const jobs::JobSpec& spec, std::string_view existing_id) {
  return AlreadyExists(fmt::format(
      "job name \"{}\" is already used in repository \"{}\" by job {} with a different spec; "
      "choose another TrainingJobName",
      spec.training_job_name, spec.repository, existing_id));
}

std::unexpected<Error> AttemptMovedOn(std::string_view job_id, int64_t attempt,
                                      int64_t current) {
  return FailedPrecondition(fmt::format(
      "job {}: the launch of attempt {} is not recorded because the job is on attempt {}", job_id,
      attempt, current));
}

Job NewJob(const jobs::JobSpec& spec, std::string id, std::string spec_digest,
           std::string job_token_digest, int64_t now_ms) {
  Job job;
  job.id = std::move(id);
  job.name = spec.training_job_name;
  job.repository = spec.repository;
  job.spec = spec;
  job.spec_digest = std::move(spec_digest);
  job.state = jobs::InitialJobState(now_ms);
  job.created_ms = job.updated_ms = job.last_event_ms = now_ms;
  job.job_token_digest = std::move(job_token_digest);
  job.row_version = 1;
  return job;
}

EventDecision DecideEvent(const Job& job, const jobs::Event& event, bool has_package,
                          int64_t now_ms) {
  EventDecision decision;
  decision.transition =
      jobs::Apply(job.state, event, job.spec.max_retry_attempts.value_or(0));
  decision.changed = decision.transition.state != job.state;

  bool completed_now = !jobs::IsTerminal(job.state.status) &&
                       decision.transition.state.status == jobs::JobStatus::kCompleted;
  decision.register_package = completed_now && has_package && !job.model_version;

  // The row is written even for a rejected event: last_event_ms records every arrival.
  decision.job = job;
  decision.job.state = decision.transition.state;
  decision.job.last_event_ms = now_ms;
  if (decision.changed) decision.job.updated_ms = now_ms;
  // A retry clears the native id in the same write as the new attempt, so the
  // admission controller launches the new attempt even after a crash.
  if (decision.job.state.attempt != job.state.attempt) decision.job.native_id.clear();
  decision.job.row_version = job.row_version + 1;
  return decision;
}

ModelVersion NewModelVersion(const Job& job, const jobs::ModelPackageRef& package,
                             int64_t version, int64_t now_ms) {
  return ModelVersion{.model_name = job.spec.model_name,
                      .version = version,
                      .job_id = job.id,
                      .training_job_name = job.name,
                      .package_digest = package.digest,
                      .package_size_bytes = package.size_bytes,
                      .manifest = package.manifest,
                      .created_ms = now_ms};
}

ApplyResult DuplicateResult(const StoredEvent& seen, Job job) {
  spdlog::debug("duplicate event dropped job={} event={}", job.id, seen.event.event_id);
  return ApplyResult{.duplicate = true,
                     .verdict = seen.verdict,
                     .reason = seen.reason,
                     .job = std::move(job)};
}

PendingApply PendingFromDecision(const Job& before, EventDecision decision,
                                 std::optional<ModelVersion> registered) {
  if (registered) {
    decision.job.model_version = ModelVersionRef{registered->model_name, registered->version};
  }
  PendingApply pending{.status_before = before.state.status};
  pending.result.verdict = decision.transition.verdict;
  pending.result.reason = std::move(decision.transition.reason);
  pending.result.job = std::move(decision.job);
  pending.result.registered = std::move(registered);
  return pending;
}

std::vector<Result<std::optional<jobs::ModelPackageRef>>> PackagesOf(
    std::span<const jobs::Event> events) {
  std::vector<Result<std::optional<jobs::ModelPackageRef>>> packages;
  packages.reserve(events.size());
  for (const jobs::Event& event : events) packages.push_back(jobs::ModelPackageOf(event));
  return packages;
}

void LogApplied(const jobs::Event& event, const PendingApply& applied) {
  const ApplyResult& result = applied.result;
  if (result.duplicate) return;
  if (result.verdict == jobs::Verdict::kRejected) {
    spdlog::debug("event rejected job={} event={} reason=\"{}\"", result.job.id, event.event_id,
                  result.reason);
  } else if (result.job.state.status != applied.status_before) {
    spdlog::info("job status changed job={} status={} secondary_status={}", result.job.id,
                 jobs::Name(result.job.state.status),
                 jobs::Name(result.job.state.secondary_status));
  }
}

std::vector<Result<ApplyResult>> FinishBatch(std::span<const jobs::Event> events,
                                             std::vector<Result<PendingApply>> pending,
                                             const Status& committed) {
  std::vector<Result<ApplyResult>> results;
  results.reserve(events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    if (i >= pending.size()) {
      results.push_back(std::unexpected(committed.error()));
    } else if (!pending[i]) {
      results.push_back(std::unexpected(std::move(pending[i].error())));
    } else if (!committed) {
      results.push_back(std::unexpected(committed.error()));
    } else {
      LogApplied(events[i], *pending[i]);
      results.push_back(std::move(pending[i]->result));
    }
  }
  return results;
}

}  // namespace tandem::store::rows
