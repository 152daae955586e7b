// The OIP model repository extension over a ModelManager:
//
//   POST /v2/repository/index                 [{"name", "version", "state", "reason"}]
//        body (optional): {"ready": true} lists READY entries only
//   POST /v2/repository/models/{m}/load       200 {} once the version serves as primary
//        body (optional): {"parameters": {"version": "3", "path": "flights/3"}}
//   POST /v2/repository/models/{m}/unload     200 {} once unloaded
//        body (optional): {"parameters": {"version": "2"}} unloads one version
//
// These routes change what the server serves, so each needs
// "Authorization: Bearer TOKEN" with the token read from --admin-token-file
// (401 without or with a wrong one). Without an admin token every route
// answers 403 saying how to enable them.
//
// Load and unload block their HTTP thread until the loader thread has done
// the work; inference requests keep running on the other threads.
#pragma once

#include <string>

#include "common/http.h"
#include "serving/model_manager.h"

namespace tandem::serving {

class RepositoryService {
 public:
  // `models` must outlive the service. An empty `admin_token` disables the routes.
  RepositoryService(ModelManager& models, std::string admin_token)
      : models_(models), admin_token_(std::move(admin_token)) {}
  RepositoryService(const RepositoryService&) = delete;
  RepositoryService& operator=(const RepositoryService&) = delete;

  // Adds the routes above to `router`. The service must outlive the router.
  void AddRoutes(http::Router& router);

 private:
  Status Authorize(const http::Request& request) const;
  http::Response Index(const http::Request& request) const;
  http::Response Load(const http::Request& request) const;
  http::Response Unload(const http::Request& request) const;

  ModelManager& models_;
  const std::string admin_token_;
};

// Reads the admin token: the file's content without surrounding whitespace.
// Errors: the file's read errors; kInvalidArgument for an empty token.
Result<std::string> ReadAdminToken(const std::string& path);

}  // namespace tandem::serving
