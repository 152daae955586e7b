// Builds the backends named in the routing configuration from their type:
// "local" (backends/local_backend.h) and "slurm".
#pragma once

#include <filesystem>

#include "api/backend_set.h"
#include "api/routing_config.h"
#include "backends/backend.h"

namespace tandem::api {

struct BackendFactoryOptions {
  std::filesystem::path jobs_dir;  // <data_dir>/jobs
  backends::ExitCallback on_exit;  // ControlPlane::ExitCallback()
};

// Returns a factory for BackendSet. A "local" entry takes no options.
BackendFactory MakeBackendFactory(BackendFactoryOptions options);

// Returns the validator for ParseRoutingConfig that checks each entry's
// options for its type, naming the entry in errors.
BackendOptionsValidator BackendOptionsValidatorForTypes();

}  // namespace tandem::api
