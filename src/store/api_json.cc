#include "store/api_json.h"

#include "common/clock.h"

namespace tandem::store {
namespace {

void SetTime(Json& document, const char* key, const std::optional<int64_t>& unix_ms) {
  if (unix_ms) document[key] = FormatTimestamp(*unix_ms);
}

Json TransitionsToJson(const std::vector<jobs::StatusTransition>& transitions) {
  Json list = Json::array();
  for (const auto& entry : transitions) {
    Json item = {{"Status", jobs::Name(entry.status)},
                 {"StartTime", FormatTimestamp(entry.start_ms)},
                 {"StatusMessage", entry.message},
                 {"Attempt", entry.attempt}};
    SetTime(item, "EndTime", entry.end_ms);
    list.push_back(std::move(item));
  }
  return list;
}

}  // namespace

Json WarmPoolToJson(const jobs::WarmPoolState& state, int64_t now_ms) {
  Json document = {{"Status", jobs::Name(state.status)},
                   {"ResourceRetainedBillableTimeInSeconds",
                    jobs::RetainedBillableSeconds(state, now_ms)}};
  if (!state.reused_by_job.empty()) document["ReusedByJob"] = state.reused_by_job;
  return document;
}

Json JobToJson(const Job& job) { return JobToJson(job, SystemClock::Instance().NowMillis()); }

Json JobToJson(const Job& job, int64_t now_ms) {
  const jobs::JobState& state = job.state;
  Json document = {
      {"JobId", job.id},
      {"TrainingJobName", job.name},
      {"Repository", job.repository},
      {"TrainingJobStatus", jobs::Name(state.status)},
      {"SecondaryStatus", jobs::Name(state.secondary_status)},
      {"FailureReason", state.failure_reason},
      {"AttemptCount", state.attempt},
      {"CreationTime", FormatTimestamp(job.created_ms)},
      {"LastModifiedTime", FormatTimestamp(job.updated_ms)},
      {"SecondaryStatusTransitions", TransitionsToJson(state.transitions)},
      {"Progress", state.progress},
      {"Spec", jobs::JobSpecToJson(job.spec)},
  };
  SetTime(document, "TrainingStartTime", state.training_start_ms);
  SetTime(document, "TrainingEndTime", state.training_end_ms);
  if (!job.backend.empty()) {
    document["Backend"] = {{"Name", job.backend}, {"NativeId", job.native_id}};
  }
  if (job.model_version) {
    document["ModelVersion"] = {{"ModelName", job.model_version->model_name},
                                {"Version", job.model_version->version}};
  }
  if (job.warm_pool) document["WarmPoolStatus"] = WarmPoolToJson(*job.warm_pool, now_ms);
  return document;
}

Json StoredEventToJson(const StoredEvent& event) {
  Json document = jobs::EventToJson(event.event);
  document["ReceivedAt"] = FormatTimestamp(event.received_ms);
  document["Verdict"] = jobs::Name(event.verdict);
  document["Reason"] = event.reason;
  return document;
}

Json ModelSummaryToJson(const ModelSummary& model) {
  return {{"ModelName", model.model_name},
          {"LatestVersion", model.latest_version},
          {"CreationTime", FormatTimestamp(model.created_ms)},
          {"LastModifiedTime", FormatTimestamp(model.updated_ms)}};
}

Json ModelVersionToJson(const ModelVersion& version, bool with_manifest) {
  Json document = {{"ModelName", version.model_name},
                   {"Version", version.version},
                   {"JobId", version.job_id},
                   {"TrainingJobName", version.training_job_name},
                   {"PackageDigest", version.package_digest},
                   {"PackageSizeBytes", version.package_size_bytes},
                   {"CreationTime", FormatTimestamp(version.created_ms)}};
  if (with_manifest) document["Manifest"] = version.manifest;
  return document;
}

Json ModelAliasToJson(const ModelAlias& alias) {
  return {{"ModelName", alias.model_name},
          {"Alias", alias.alias},
          {"Version", alias.version},
          {"LastModifiedTime", FormatTimestamp(alias.updated_ms)}};
}

}  // namespace tandem::store
