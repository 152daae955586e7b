// The control plane's side of the scheduler (src/schedules/scheduler.h): the
// RunLauncher that submits and stops runs, and the leader check that lets
// one server of several run the scheduler.
//
// ApiRunLauncher dispatches each call through the API's own router, as
// `POST /api/v1/jobs` and `POST /api/v1/jobs/{id}/stop` with the admin token,
// so a run passes exactly the checks, routing and queueing of a job a user
// submits. No socket is involved. Thread-safe when the router's handlers are.
#pragma once

#include <string>

#include "common/http.h"
#include "schedules/scheduler.h"
#include "store/store.h"

namespace tandem::api {

class ApiRunLauncher final : public schedules::RunLauncher {
 public:
  // `router` carries the routes of ControlPlane::AddRoutes; it and `store`
  // must outlive the launcher. The token never leaves this process.
  ApiRunLauncher(const http::Router& router, std::string admin_token, store::Store& store);

  // Errors: the error the API returned, with its code (kInvalidArgument for
  // 400, kAlreadyExists for 409 on a taken name, ...) and message.
  Result<store::CreateJobResult> Submit(const jobs::JobSpec& spec) override;
  Status Stop(const std::string& job_id) override;

 private:
  Result<Json> Dispatch(const std::string& target, const Json& body, int* status);

  const http::Router& router_;
  const std::string admin_token_;
  store::Store& store_;
};

// Returns the scheduler's leader check for `database`, the value of
// `tandem server --database`. Over PostgreSQL the check returns whether this
// process holds the "scheduler" advisory lock, and takes the lock when it is
// free (a standby tries every 3 s at most). Over SQLite it is nullptr, because one process owns the database. The
// check is not thread-safe, so call it from the scheduler's thread only.
schedules::Scheduler::LeaderCheck ScheduleLeaderCheck(const std::string& database);

}  // namespace tandem::api
