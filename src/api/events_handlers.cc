// Routes of a job's events and model package: the calls `tandem train` makes
// with its job token.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "api/api_context.h"
#include "api/job_lifecycle.h"
#include "api/reconciler.h"
#include "store/api_json.h"

namespace tandem::api {
namespace {

// The ustar magic at offset 257 of a tar header ("ustar\0" or "ustar ").
constexpr size_t kTarMagicOffset = 257;
constexpr std::string_view kTarMagic = "ustar";

Result<http::Response> ListEvents(ApiContext& context, http::Request& request) {
  TANDEM_ASSIGN_OR_RETURN(std::vector<store::StoredEvent> events,
                          context.store.ListEvents(request.PathParam("id")));
  Json list = Json::array();
  for (const store::StoredEvent& event : events) list.push_back(store::StoredEventToJson(event));
  return http::Response::Json(200, {{"Events", std::move(list)}});
}

// Fails unless the model package an event names was uploaded with its size,
// so a registered version never points at a missing package.
Status CheckPackageUploaded(ApiContext& context, const jobs::Event& event) {
  TANDEM_ASSIGN_OR_RETURN(std::optional<jobs::ModelPackageRef> package,
                          jobs::ModelPackageOf(event));
  if (!package) return Ok();
  Result<std::filesystem::path> path = context.artifacts.PathOf(package->digest);
  if (!path) {
    return InvalidArgument(fmt::format(
        "Details.ModelPackage.Digest: no package {} was uploaded; PUT it to "
        "/api/v1/jobs/{}/model-package first",
        package->digest, event.job_id));
  }
  std::error_code error;
  uintmax_t size = std::filesystem::file_size(*path, error);
  if (!error && static_cast<int64_t>(size) != package->size_bytes) {
    return InvalidArgument(fmt::format(
        "Details.ModelPackage.SizeBytes: {} does not match the uploaded package {} of {} bytes",
        package->size_bytes, package->digest, size));
  }
  return Ok();
}

// POST /jobs/{id}/events: the admin token may post as any source, a job
// token only as "runtime" (backend, reconciler and api events come from the
// control plane itself).
Result<http::Response> PostEvent(ApiContext& context, http::Request& request) {
  TANDEM_ASSIGN_OR_RETURN(store::Job job, context.store.GetJob(request.PathParam("id")));
  TANDEM_ASSIGN_OR_RETURN(Caller caller, context.auth.RequireAdminOrJob(request, job));
  TANDEM_ASSIGN_OR_RETURN(Json document, ParseJson(request.body, "request body"));
  TANDEM_ASSIGN_OR_RETURN(jobs::Event event, jobs::ParseEvent(document, job.id));
  if (caller == Caller::kJob && event.source != jobs::EventSource::kRuntime) {
    return PermissionDenied(fmt::format(
        "Source: a job token may post only \"runtime\" events, got \"{}\"",
        jobs::Name(event.source)));
  }
  TANDEM_RETURN_IF_ERROR(CheckPackageUploaded(context, event));
  TANDEM_ASSIGN_OR_RETURN(store::ApplyResult result, ApplyAndLog(context, event));
  Json body = {{"Verdict", jobs::Name(result.verdict)}, {"Duplicate", result.duplicate}};
  if (!result.reason.empty()) body["Reason"] = result.reason;
  return http::Response::Json(202, body);
}

bool IsTarContentType(std::string_view content_type) {
  std::string_view media = content_type.substr(0, content_type.find(';'));
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  return media == "application/x-tar";
}

// PUT /jobs/{id}/model-package: stores the package archive by digest and
// records the upload as an "api" event (reconciler.h). The registration
// itself happens when the job's Completed event names the digest.
Result<http::Response> PutModelPackage(ApiContext& context, http::Request& request) {
  TANDEM_ASSIGN_OR_RETURN(store::Job job, context.store.GetJob(request.PathParam("id")));
  TANDEM_RETURN_IF_ERROR(context.auth.RequireAdminOrJob(request, job));
  if (!IsTarContentType(request.Header("Content-Type"))) {
    return UnsupportedMediaType(fmt::format(
        "Content-Type \"{}\" is not accepted, expected application/x-tar",
        request.Header("Content-Type")));
  }
  if (jobs::IsTerminal(job.state.status)) {
    return FailedPrecondition(fmt::format("job {} has already ended ({}); its model package can "
                                          "no longer change",
                                          job.id, jobs::Name(job.state.status)));
  }
  if (request.body.size() < kTarMagicOffset + kTarMagic.size() ||
      request.body.compare(kTarMagicOffset, kTarMagic.size(), kTarMagic) != 0) {
    return InvalidArgument(fmt::format("request body ({} bytes) is not a tar archive",
                                       request.body.size()));
  }
  TANDEM_ASSIGN_OR_RETURN(registry::ArtifactInfo stored, context.artifacts.Put(request.body));
  spdlog::info("model package stored job={} digest={} size_bytes={}", job.id, stored.digest,
               stored.size_bytes);
  // Recorded as an event, so the reconciler can complete the job from it when
  // the runtime's Completed event is lost.
  TANDEM_RETURN_IF_ERROR(
      ApplyAndLog(context, PackageUploadedEvent(job.id, stored, context.clock.NowMillis())));
  return http::Response::Json(201, {{"Digest", stored.digest}, {"SizeBytes", stored.size_bytes}});
}

}  // namespace

void AddEventRoutes(http::Router& router, ApiContext& context) {
  router.Add("GET", "/api/v1/jobs/{id}/events", BindRoute(context, ListEvents));
  router.Add("POST", "/api/v1/jobs/{id}/events", BindRoute(context, PostEvent));
  router.Add("PUT", "/api/v1/jobs/{id}/model-package", BindRoute(context, PutModelPackage));
}

}  // namespace tandem::api
