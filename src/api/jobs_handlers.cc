// Routes of the jobs resource: submit, list, get, stop and logs.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <limits>

#include "algorithms/algorithm.h"
#include "api/admission_controller.h"
#include "api/api_context.h"
#include "api/input_roots.h"
#include "api/job_lifecycle.h"
#include "api/job_logs.h"
#include "common/file_util.h"
#include "jobs/warm_pool.h"
#include "store/api_json.h"

namespace tandem::api {
namespace {

// Chooses the job's backend from its repository and its Backend field.
// Errors: those of BackendSet::Route (400 or 403 with the reason).
Result<RouteChoice> RouteJob(const ApiContext& context, const jobs::JobSpec& spec) {
  if (context.backends == nullptr) {
    return Unavailable("no compute backend is configured");
  }
  Result<RouteChoice> route = context.backends->Route(spec.repository, spec.backend);
  if (!route) {
    spdlog::info("job rejected by routing name={} repository={} error={}",
                 spec.training_job_name, spec.repository, route.error().message());
  }
  return route;
}

// POST /jobs: validate, confine paths, route, store (idempotent), launch once or queue.
Result<http::Response> SubmitJob(ApiContext& context, http::Request& request) {
  TANDEM_RETURN_IF_ERROR(context.auth.RequireAdmin(request));
  TANDEM_ASSIGN_OR_RETURN(Json document, ParseJson(request.body, "request body"));
  TANDEM_ASSIGN_OR_RETURN(jobs::JobSpec spec, jobs::ParseJobSpec(document));
  if (spec.algorithm.algorithm_name) {
    // Caught here, a typo fails the submit instead of the job a moment later.
    TANDEM_RETURN_IF_ERROR(algorithms::ValidateAlgorithmInputs(
        *spec.algorithm.algorithm_name, spec.hyperparameters, spec.feature_pipeline));
  }
  TANDEM_RETURN_IF_ERROR(ConfineSpecPaths(spec, context.options.input_roots));
  TANDEM_RETURN_IF_ERROR(jobs::CheckKeepAlivePeriod(spec, context.options.max_keep_alive_seconds));
  TANDEM_ASSIGN_OR_RETURN(RouteChoice route, RouteJob(context, spec));

  std::string job_token = context.auth.JobToken(spec.repository, spec.training_job_name);
  TANDEM_ASSIGN_OR_RETURN(
      store::CreateJobResult created,
      context.store.CreateJob(spec, JobTokenDigest(job_token), context.clock.NowMillis()));
  if (!created.created) {
    spdlog::debug("job resubmitted with the same spec job={}", created.job.id);
    return JobResponse(200, created.job);
  }
  spdlog::info("job created job={} name={} repository={} backend={} route={}", created.job.id,
               created.job.name, created.job.repository, route.backend, route.route);

  // The backend is stored before the launch, so a failed launch still shows it.
  store::Job job = created.job;
  TANDEM_RETURN_IF_ERROR(context.store.SetBackend(job.id, route.backend, ""));
  job.backend = route.backend;
  TANDEM_ASSIGN_OR_RETURN(store::Job launched, context.admission->Submit(job, job_token));
  return JobResponse(201, launched);
}

Result<store::JobFilter> ParseJobFilter(const http::Request& request) {
  store::JobFilter filter;
  filter.repository = request.Query("repository");
  filter.name = request.Query("name");
  if (std::optional<std::string> status = request.Query("status")) {
    Result<jobs::JobStatus> parsed = jobs::ParseJobStatus(*status);
    if (!parsed) return std::unexpected(parsed.error().WithContext("query parameter status"));
    filter.status = *parsed;
  }
  if (std::optional<std::string> warm = request.Query("warm_pool_status")) {
    Result<jobs::WarmPoolStatus> parsed = jobs::ParseWarmPoolStatus(*warm);
    if (!parsed) {
      return std::unexpected(parsed.error().WithContext("query parameter warm_pool_status"));
    }
    filter.warm_pool_status = *parsed;
  }
  TANDEM_ASSIGN_OR_RETURN(filter.page_size,
                          QueryInt(request, "page_size", store::kDefaultPageSize, 1,
                                   store::kMaxPageSize));
  filter.page_token = request.Query("page_token").value_or("");
  return filter;
}

Result<http::Response> ListJobs(ApiContext& context, http::Request& request) {
  TANDEM_ASSIGN_OR_RETURN(store::JobFilter filter, ParseJobFilter(request));
  TANDEM_ASSIGN_OR_RETURN(store::JobPage page, context.store.ListJobs(filter));
  Json jobs = Json::array();
  const int64_t now_ms = context.clock.NowMillis();
  for (const store::Job& job : page.jobs) jobs.push_back(store::JobToJson(job, now_ms));
  Json body = {{"Jobs", std::move(jobs)}};
  if (!page.next_page_token.empty()) body["NextPageToken"] = page.next_page_token;
  return http::Response::Json(200, body);
}

Result<http::Response> GetJob(ApiContext& context, http::Request& request) {
  TANDEM_ASSIGN_OR_RETURN(store::Job job, context.store.GetJob(request.PathParam("id")));
  return http::Response::Json(200, store::JobToJson(job, context.clock.NowMillis()));
}

Result<http::Response> StopJobRoute(ApiContext& context, http::Request& request) {
  TANDEM_RETURN_IF_ERROR(context.auth.RequireAdmin(request));
  TANDEM_ASSIGN_OR_RETURN(store::Job job, StopJob(context, request.PathParam("id")));
  return JobResponse(200, job);
}

// GET /jobs/{id}/logs: a page of the job.log of the job's current attempt,
// DATA_DIR/jobs/<id>/job.log for attempt 1 (backends::AttemptDir).
// NOTE: after a retry the offsets start over in the next attempt's log. The
// logs of earlier attempts stay on disk only, because serving them would
// take an attempt parameter.
Result<http::Response> GetJobLogs(ApiContext& context, http::Request& request) {
  TANDEM_ASSIGN_OR_RETURN(int64_t offset,
                          QueryInt(request, "offset", 0, 0, std::numeric_limits<int64_t>::max()));
  TANDEM_ASSIGN_OR_RETURN(int64_t limit,
                          QueryInt(request, "limit", kDefaultLogPageBytes, 1, kMaxLogPageBytes));
  // Read the status before the file: a job that had ended then has its whole
  // log on disk by the time the file is read.
  TANDEM_ASSIGN_OR_RETURN(store::Job job, context.store.GetJob(request.PathParam("id")));
  bool ended = jobs::IsTerminal(job.state.status);

  // Job ids come from the store, but the path is confined all the same.
  std::filesystem::path relative = backends::AttemptDir("", job.id, job.state.attempt) / "job.log";
  TANDEM_ASSIGN_OR_RETURN(std::filesystem::path log_path,
                          ConfinePath(context.jobs_dir(), relative));
  TANDEM_ASSIGN_OR_RETURN(LogChunk chunk, ReadLogChunk(log_path, offset, limit));
  return http::Response::Json(200, {{"Data", std::move(chunk.data)},
                                    {"NextOffset", chunk.next_offset},
                                    {"Complete", ended && chunk.at_end}});
}

}  // namespace

void AddJobRoutes(http::Router& router, ApiContext& context) {
  router.Add("POST", "/api/v1/jobs", BindRoute(context, SubmitJob));
  router.Add("GET", "/api/v1/jobs", BindRoute(context, ListJobs));
  router.Add("GET", "/api/v1/jobs/{id}", BindRoute(context, GetJob));
  router.Add("POST", "/api/v1/jobs/{id}/stop", BindRoute(context, StopJobRoute));
  router.Add("GET", "/api/v1/jobs/{id}/logs", BindRoute(context, GetJobLogs));
}

}  // namespace tandem::api
