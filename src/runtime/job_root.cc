#include "runtime/job_root.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <system_error>

#include "common/file_util.h"
#include "common/json_util.h"

namespace tandem::runtime {
namespace {

namespace fs = std::filesystem;

// Config files are written without fsync. A job root serves one run of the
// job, so after a crash of the machine its process is gone and the root is
// never read again. The eight fsyncs of WriteFileAtomic took about 50 ms of
// every job start on an ext4 virtual disk (bench/start_latency).
Status WriteJson(const fs::path& path, const Json& value) {
  return WriteFile(path, value.dump(2) + "\n");
}

Json InputDataConfig(const jobs::JobSpec& spec) {
  Json config = Json::object();
  for (const jobs::InputChannel& channel : spec.input_channels) {
    config[channel.name] = {
        {"ContentType", channel.content_type},
        {"TrainingInputMode", "File"},
        {"S3DistributionType", "FullyReplicated"},
        {"RecordWrapperType", "None"},
    };
  }
  return config;
}

Json ResourceConfigJson() {
  return {
      {"current_host", kCurrentHost},
      {"hosts", Json::array({kCurrentHost})},
      {"current_instance_type", "local"},
      {"current_group_name", "homogeneousCluster"},
  };
}

Json TandemJob(const jobs::JobSpec& spec, std::string_view job_id) {
  return {
      {"JobId", job_id},
      {"TrainingJobName", spec.training_job_name},
      {"Repository", spec.repository},
      {"ModelName", spec.model_name},
      {"FeaturePipeline", spec.feature_pipeline},
  };
}

// Links `source` to `target`, copying when a hard link is impossible.
Status LinkOrCopy(const fs::path& source, const fs::path& target) {
  std::error_code error;
  fs::create_hard_link(source, target, error);
  if (!error) return Ok();
  std::error_code copy_error;
  fs::copy_file(source, target, fs::copy_options::overwrite_existing, copy_error);
  if (!copy_error) return Ok();
  return Internal(fmt::format("cannot link or copy {} to {}: {}", source.string(),
                              target.string(), copy_error.message()));
}

// Links every regular file under `source_dir` into `target_dir`, keeping relative paths.
Status LinkDirectory(const fs::path& source_dir, const fs::path& target_dir) {
  std::error_code error;
  fs::recursive_directory_iterator it(source_dir, fs::directory_options::follow_directory_symlink,
                                      error);
  for (; !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
    const fs::path relative = fs::relative(it->path(), source_dir);
    if (it->is_directory()) {
      TANDEM_RETURN_IF_ERROR(CreateDirectories(target_dir / relative));
    } else if (it->is_regular_file()) {
      TANDEM_RETURN_IF_ERROR(LinkOrCopy(it->path(), target_dir / relative));
    }
  }
  if (error) {
    return Internal(fmt::format("cannot list {}: {}", source_dir.string(), error.message()));
  }
  return Ok();
}

bool HasFiles(const fs::path& dir) {
  std::error_code error;
  return fs::is_directory(dir, error) && !fs::is_empty(dir, error);
}

Status FetchChannel(const JobRoot& root, const jobs::InputChannel& channel,
                    const FetchOptions& options) {
  const fs::path target = root.channel_dir(channel.name);
  const fs::path source = channel.path;
  std::error_code error;
  fs::file_status status = fs::status(source, error);

  if (!fs::exists(status)) {
    if (options.accept_staged_channels && HasFiles(target)) {
      spdlog::info("using staged channel channel={} dir={}", channel.name, target.string());
      return Ok();
    }
    return NotFound(fmt::format("input path {} does not exist", channel.path));
  }

  // A fresh directory each run, so no file of an earlier run is mixed in.
  fs::remove_all(target, error);
  if (error) {
    return Internal(fmt::format("cannot clear {}: {}", target.string(), error.message()));
  }
  TANDEM_RETURN_IF_ERROR(CreateDirectories(target));
  if (fs::is_directory(status)) return LinkDirectory(source, target);
  return LinkOrCopy(source, target / source.filename());
}

}  // namespace

Status LayOutJobRoot(const JobRoot& root, const jobs::JobSpec& spec, std::string_view job_id) {
  for (const fs::path& dir : {root.config_dir(), root.data_dir(), root.model_dir(),
                              root.output_data_dir(), root.checkpoints_dir()}) {
    TANDEM_RETURN_IF_ERROR(CreateDirectories(dir));
  }
  std::error_code error;
  fs::remove(root.failure_file(), error);
  if (error) {
    return Internal(fmt::format("cannot remove {}: {}", root.failure_file().string(),
                                error.message()));
  }

  TANDEM_RETURN_IF_ERROR(
      WriteJson(root.config_dir() / "hyperparameters.json", Json(spec.hyperparameters)));
  TANDEM_RETURN_IF_ERROR(WriteJson(root.config_dir() / "inputdataconfig.json", InputDataConfig(spec)));
  TANDEM_RETURN_IF_ERROR(WriteJson(root.config_dir() / "resourceconfig.json", ResourceConfigJson()));
  TANDEM_RETURN_IF_ERROR(WriteJson(root.config_dir() / "tandem-job.json", TandemJob(spec, job_id)));
  return Ok();
}

Status FetchChannels(const JobRoot& root, const jobs::JobSpec& spec, const FetchOptions& options) {
  for (const jobs::InputChannel& channel : spec.input_channels) {
    TANDEM_RETURN_IF_ERROR_CTX(FetchChannel(root, channel, options),
                               fmt::format("channel {}", channel.name));
  }
  return Ok();
}

}  // namespace tandem::runtime
