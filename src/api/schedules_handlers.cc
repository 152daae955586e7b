// Routes of the schedules resource: create, list, get, pause, resume and
// delete (docs/api.md, "Schedules"). The scheduler itself runs elsewhere
// (schedules/scheduler.h); these routes only change what it reads.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "algorithms/algorithm.h"
#include "api/api_context.h"
#include "api/input_roots.h"
#include "schedules/cron.h"
#include "schedules/schedule_spec.h"

namespace tandem::api {
namespace {

constexpr int64_t kDefaultRunLimit = 20;
constexpr int64_t kMaxRunLimit = 200;
constexpr int kNextRunTimes = 5;

Json ScheduleToJson(const store::Schedule& schedule) {
  Json document = {
      {"ScheduleName", schedule.name},
      {"Repository", schedule.repository},
      {"ScheduleExpression", schedule.expression},
      {"OverlapPolicy", store::Name(schedule.overlap_policy)},
      {"Paused", schedule.paused},
      {"JobTemplate", schedule.job_template},
      {"CreationTime", FormatTimestamp(schedule.created_ms)},
      {"LastModifiedTime", FormatTimestamp(schedule.updated_ms)},
  };
  if (schedule.last_slot_ms) document["LastSlotTime"] = FormatTimestamp(*schedule.last_slot_ms);
  if (schedule.queued_slot_ms) {
    document["QueuedSlotTime"] = FormatTimestamp(*schedule.queued_slot_ms);
  }
  return document;
}

// Gives the template the checks a submitted job gets, so that a mistake fails
// the create instead of every run.
Status CheckTemplate(const ApiContext& context, const store::Schedule& schedule) {
  TANDEM_ASSIGN_OR_RETURN(jobs::JobSpec spec, schedules::RunJobSpec(schedule, 0));
  if (spec.algorithm.algorithm_name) {
    TANDEM_RETURN_IF_ERROR_CTX(
        algorithms::ValidateAlgorithmInputs(*spec.algorithm.algorithm_name, spec.hyperparameters,
                                            spec.feature_pipeline),
        "JobTemplate");
  }
  TANDEM_RETURN_IF_ERROR_CTX(ConfineSpecPaths(spec, context.options.input_roots), "JobTemplate");
  return Ok();
}

// POST /schedules: validate, check the template, store (idempotent).
Result<http::Response> CreateSchedule(ApiContext& context, http::Request& request) {
  TANDEM_RETURN_IF_ERROR(context.auth.RequireAdmin(request));
  TANDEM_ASSIGN_OR_RETURN(Json document, ParseJson(request.body, "request body"));
  TANDEM_ASSIGN_OR_RETURN(store::Schedule schedule, schedules::ParseScheduleDefinition(document));
  TANDEM_RETURN_IF_ERROR(CheckTemplate(context, schedule));
  TANDEM_ASSIGN_OR_RETURN(store::CreateScheduleResult created,
                          context.store.CreateSchedule(schedule, context.clock.NowMillis()));
  if (!created.created) return http::Response::Json(200, ScheduleToJson(created.schedule));
  spdlog::info("schedule created schedule={} repository={} expression=\"{}\" overlap={}",
               schedule.name, schedule.repository, schedule.expression,
               store::Name(schedule.overlap_policy));
  return http::Response::Json(201, ScheduleToJson(created.schedule));
}

Result<http::Response> ListSchedules(ApiContext& context, http::Request& request) {
  TANDEM_ASSIGN_OR_RETURN(std::vector<store::Schedule> schedules,
                          context.store.ListSchedules(request.Query("repository")));
  Json list = Json::array();
  for (const store::Schedule& schedule : schedules) list.push_back(ScheduleToJson(schedule));
  return http::Response::Json(200, {{"Schedules", std::move(list)}});
}

Json RunToJson(ApiContext& context, const store::ScheduleRun& run) {
  Json document = {{"SlotTime", FormatTimestamp(run.slot_ms)},
                   {"FiredTime", FormatTimestamp(run.fired_ms)},
                   {"JobId", run.job_id},
                   {"TrainingJobName", run.job_name}};
  Result<store::Job> job = context.store.GetJob(run.job_id);
  if (job) {
    document["TrainingJobStatus"] = jobs::Name(job->state.status);
    document["SecondaryStatus"] = jobs::Name(job->state.secondary_status);
  }
  return document;
}

// GET /schedules/{name}: the schedule, its next due times and its latest runs.
Result<http::Response> GetSchedule(ApiContext& context, http::Request& request) {
  TANDEM_ASSIGN_OR_RETURN(int64_t run_limit,
                          QueryInt(request, "run_limit", kDefaultRunLimit, 1, kMaxRunLimit));
  TANDEM_ASSIGN_OR_RETURN(store::Schedule schedule,
                          context.store.GetSchedule(request.PathParam("name")));
  TANDEM_ASSIGN_OR_RETURN(std::vector<store::ScheduleRun> runs,
                          context.store.ListScheduleRuns(schedule.name, run_limit));
  TANDEM_ASSIGN_OR_RETURN(schedules::CronSchedule cron,
                          schedules::CronSchedule::Parse(schedule.expression));

  Json document = ScheduleToJson(schedule);
  Json next_times = Json::array();
  int64_t after = context.clock.NowMillis();
  for (int i = 0; i < kNextRunTimes && !schedule.paused; ++i) {
    after = cron.Next(after);
    next_times.push_back(FormatTimestamp(after));
  }
  document["NextRunTimes"] = std::move(next_times);
  Json run_list = Json::array();
  for (const store::ScheduleRun& run : runs) run_list.push_back(RunToJson(context, run));
  document["Runs"] = std::move(run_list);
  return http::Response::Json(200, document);
}

Result<http::Response> PauseSchedule(ApiContext& context, http::Request& request) {
  TANDEM_RETURN_IF_ERROR(context.auth.RequireAdmin(request));
  TANDEM_ASSIGN_OR_RETURN(store::Schedule schedule,
                          context.store.SetSchedulePaused(request.PathParam("name"), true,
                                                          std::nullopt,
                                                          context.clock.NowMillis()));
  spdlog::info("schedule paused schedule={}", schedule.name);
  return http::Response::Json(200, ScheduleToJson(schedule));
}

// POST /schedules/{name}/resume: the slots that passed while paused count as
// handled, so resuming starts no catch-up run.
Result<http::Response> ResumeSchedule(ApiContext& context, http::Request& request) {
  TANDEM_RETURN_IF_ERROR(context.auth.RequireAdmin(request));
  TANDEM_ASSIGN_OR_RETURN(store::Schedule schedule,
                          context.store.GetSchedule(request.PathParam("name")));
  TANDEM_ASSIGN_OR_RETURN(schedules::CronSchedule cron,
                          schedules::CronSchedule::Parse(schedule.expression));
  int64_t now = context.clock.NowMillis();
  std::optional<int64_t> handled_until;
  if (schedule.paused) handled_until = cron.Previous(now);
  TANDEM_ASSIGN_OR_RETURN(schedule,
                          context.store.SetSchedulePaused(schedule.name, false, handled_until, now));
  spdlog::info("schedule resumed schedule={}", schedule.name);
  return http::Response::Json(200, ScheduleToJson(schedule));
}

Result<http::Response> DeleteSchedule(ApiContext& context, http::Request& request) {
  TANDEM_RETURN_IF_ERROR(context.auth.RequireAdmin(request));
  std::string name = request.PathParam("name");
  TANDEM_RETURN_IF_ERROR(context.store.DeleteSchedule(name));
  spdlog::info("schedule deleted schedule={}", name);
  return http::Response::Json(200, {{"ScheduleName", name}, {"Deleted", true}});
}

}  // namespace

void AddScheduleRoutes(http::Router& router, ApiContext& context) {
  router.Add("POST", "/api/v1/schedules", BindRoute(context, CreateSchedule));
  router.Add("GET", "/api/v1/schedules", BindRoute(context, ListSchedules));
  router.Add("GET", "/api/v1/schedules/{name}", BindRoute(context, GetSchedule));
  router.Add("POST", "/api/v1/schedules/{name}/pause", BindRoute(context, PauseSchedule));
  router.Add("POST", "/api/v1/schedules/{name}/resume", BindRoute(context, ResumeSchedule));
  router.Add("DELETE", "/api/v1/schedules/{name}", BindRoute(context, DeleteSchedule));
}

}  // namespace tandem::api
