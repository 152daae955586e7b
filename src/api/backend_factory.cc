#include "api/backend_factory.h"

#include <fmt/format.h>

#include "backends/local_backend.h"
#include "backends/slurm_backend.h"
#include "backends/slurm_options.h"

namespace tandem::api {
namespace {

Status ValidateOptions(const BackendConfig& config, std::string_view where) {
  if (config.type == kLocalBackendType) return RejectUnknownFields(config.options, where, {});
  if (config.type == kSlurmBackendType) {
    Result<backends::SlurmOptions> options = backends::ParseSlurmOptions(config.options, where);
    if (!options) return std::unexpected(options.error());
    return Ok();
  }
  return InvalidArgument(fmt::format("{}.Type: \"{}\" is not a backend type", where, config.type));
}

}  // namespace

BackendOptionsValidator BackendOptionsValidatorForTypes() { return ValidateOptions; }

BackendFactory MakeBackendFactory(BackendFactoryOptions options) {
  return [options = std::move(options)](const std::string& name, const BackendConfig& config)
             -> Result<std::shared_ptr<backends::Backend>> {
    std::string where = "Backends." + name;
    TANDEM_RETURN_IF_ERROR(ValidateOptions(config, where));
    if (config.type == kSlurmBackendType) {
      TANDEM_ASSIGN_OR_RETURN(backends::SlurmOptions slurm,
                              backends::ParseSlurmOptions(config.options, where));
      return std::shared_ptr<backends::Backend>(
          std::make_shared<backends::SlurmBackend>(std::move(slurm)));
    }
    return std::shared_ptr<backends::Backend>(std::make_shared<backends::LocalBackend>(
        backends::LocalBackendOptions{.jobs_dir = options.jobs_dir}, options.on_exit));
  };
}

}  // namespace tandem::api
