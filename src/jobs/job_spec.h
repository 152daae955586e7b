// The training job spec (docs/job-spec.md): its parsed form, strict
// validation, and the canonical JSON that is stored, returned and digested.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_util.h"
#include "common/status.h"

namespace tandem::jobs {

// Built-in algorithms accepted in AlgorithmSpecification.AlgorithmName.
inline constexpr std::string_view kXgboostAlgorithm = "xgboost";

struct AlgorithmSpecification {
  // Exactly one of the two is set: a built-in algorithm, or a user command run
  // in `source_dir`.
  std::optional<std::string> algorithm_name;
  std::vector<std::string> entry_point;  // argv; non-empty iff algorithm_name is unset
  std::string source_dir;                // absolute; set iff entry_point is

  friend bool operator==(const AlgorithmSpecification&, const AlgorithmSpecification&) = default;
};

struct InputChannel {
  std::string name;                       // ChannelName
  std::string content_type = "text/csv";  // ContentType
  std::string path;                       // DataSource.FileDataSource.Path, absolute

  friend bool operator==(const InputChannel&, const InputChannel&) = default;
};

struct ResourceConfig {
  int64_t instance_count = 1;
  std::optional<int64_t> cpu_count;   // absent: the backend's default
  std::optional<int64_t> memory_mib;  // absent: the backend's default
  int64_t keep_alive_period_s = 0;    // KeepAlivePeriodInSeconds
  // InstanceType and VolumeSizeInGB: recorded and part of the warm pool match
  // key (jobs/warm_pool.h); the local backend does not act on them.
  std::optional<std::string> instance_type;
  std::optional<int64_t> volume_size_gb;

  friend bool operator==(const ResourceConfig&, const ResourceConfig&) = default;
};

inline constexpr int64_t kDefaultMaxRuntimeSeconds = 86400;
// The largest KeepAlivePeriodInSeconds a spec may carry. A control plane
// applies its own, lower maximum at submit (3600 s unless configured).
inline constexpr int64_t kMaxKeepAliveCeilingSeconds = 86400;
// RetryStrategy.MaximumRetryAttempts must lie in 1-30, as in SageMaker.
inline constexpr int64_t kMaxRetryAttempts = 30;

struct JobSpec {
  std::string training_job_name;
  std::string repository;
  // Backend: the name of a configured backend to run on instead of the
  // routed one (a tandem extension). The control plane's routes decide
  // whether the repository may name it.
  std::optional<std::string> backend;
  AlgorithmSpecification algorithm;
  // The FeaturePipeline object, parsed by the model module; null when the
  // algorithm is an EntryPoint.
  Json feature_pipeline;
  std::map<std::string, std::string> hyperparameters;
  std::vector<InputChannel> input_channels;  // InputDataConfig, in the submitted order
  std::string model_name;                    // OutputDataConfig.ModelName
  ResourceConfig resources;
  int64_t max_runtime_s = kDefaultMaxRuntimeSeconds;  // StoppingCondition.MaxRuntimeInSeconds
  std::map<std::string, std::string> environment;
  // RoleArn and EnableNetworkIsolation: recorded and part of the warm pool
  // match key; the local backend does not act on them.
  std::optional<std::string> role_arn;
  bool enable_network_isolation = false;
  // RetryStrategy.MaximumRetryAttempts: how many times an interrupted job
  // (node failure, preemption) is launched again; absent: never.
  std::optional<int64_t> max_retry_attempts;

  friend bool operator==(const JobSpec&, const JobSpec&) = default;
};

// Parses and validates a submitted spec against every rule of
// docs/job-spec.md. Unknown fields are rejected; a JSON null counts as absent.
// Errors: kInvalidArgument with the path of the field at fault, e.g.
// `InputDataConfig[1].ChannelName: duplicate channel name "train"`.
// Paths must be absolute here; confining them to the server's input roots is
// the caller's job (ConfinePath).
Result<JobSpec> ParseJobSpec(const Json& document);

// Returns the canonical JSON form: every field with its default filled in,
// maps with sorted keys, absent optional fields omitted. ParseJobSpec accepts
// it and returns an equal JobSpec.
Json JobSpecToJson(const JobSpec& spec);

// Returns "sha256:" and the hex SHA-256 of the compact canonical JSON, so two
// specs that differ only in defaults spelled out or key order get one digest.
std::string SpecDigest(const JobSpec& spec);

// Validates a name with the TrainingJobName rules: 1-63 characters of
// [a-zA-Z0-9-], starting and ending with a letter or digit. `path` names the
// field in the error.
Status ValidateResourceName(std::string_view name, std::string_view path);

}  // namespace tandem::jobs
