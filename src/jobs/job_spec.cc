#include "jobs/job_spec.h"

#include <fmt/format.h>

#include <set>

#include "common/crypto.h"

namespace tandem::jobs {
namespace {

constexpr size_t kMaxNameLength = 63;
constexpr size_t kMaxRepositoryLength = 128;
constexpr size_t kMaxHyperParameters = 100;
constexpr size_t kMaxHyperParameterKey = 256;
constexpr size_t kMaxHyperParameterValue = 2500;
constexpr size_t kMaxChannels = 20;
constexpr size_t kMaxChannelNameLength = 64;
constexpr size_t kMaxContentTypeLength = 256;
constexpr size_t kMaxPathLength = 4096;
constexpr size_t kMaxEntryPointArgs = 256;
constexpr size_t kMaxEnvironmentEntries = 100;
constexpr size_t kMaxEnvironmentValue = 512;
constexpr size_t kMaxEnvironmentName = 256;
constexpr int64_t kMaxCpuCount = 1024;
constexpr int64_t kMaxMemoryMiB = 16777216;
constexpr int64_t kMaxVolumeSizeGb = 16384;
constexpr size_t kMaxInstanceTypeLength = 64;
constexpr size_t kMaxRoleArnLength = 2048;
constexpr int64_t kMaxRuntimeSeconds = 2419200;

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// Returns the number of Unicode code points in valid UTF-8 `text` (the JSON
// parser has already rejected invalid UTF-8).
size_t CodePoints(std::string_view text) {
  size_t count = 0;
  for (unsigned char c : text) count += (c & 0xC0) != 0x80 ? 1 : 0;
  return count;
}

// Shortens `text` for quoting in a message.
std::string Excerpt(std::string_view text) {
  constexpr size_t kMax = 40;
  if (text.size() <= kMax) return std::string(text);
  return fmt::format("{}...", text.substr(0, kMax));
}

std::string Indexed(std::string_view path, size_t index) {
  return fmt::format("{}[{}]", path, index);
}

// Returns the field as an object, nullptr when absent or null.
Result<const Json*> OptionalObject(const Json& parent, std::string_view key,
                                   std::string_view path) {
  auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) return nullptr;
  TANDEM_RETURN_IF_ERROR(RequireObject(*it, JoinPath(path, key)));
  return &*it;
}

Result<const Json*> RequiredObject(const Json& parent, std::string_view key,
                                   std::string_view path) {
  TANDEM_ASSIGN_OR_RETURN(const Json* object, OptionalObject(parent, key, path));
  if (object == nullptr) {
    return InvalidArgument(fmt::format("{}: missing required field", JoinPath(path, key)));
  }
  return object;
}

Status CheckRange(int64_t value, int64_t min, int64_t max, std::string_view path) {
  if (value >= min && value <= max) return Ok();
  return InvalidArgument(fmt::format("{}: {} is out of range, expected {}-{}", path, value, min, max));
}

Status CheckAbsolutePath(std::string_view value, std::string_view path) {
  if (value.empty() || value.front() != '/') {
    return InvalidArgument(fmt::format("{}: \"{}\" is not an absolute path", path, Excerpt(value)));
  }
  if (value.size() > kMaxPathLength) {
    return InvalidArgument(fmt::format("{}: longer than {} characters", path, kMaxPathLength));
  }
  if (value.find('\0') != std::string_view::npos) {
    return InvalidArgument(fmt::format("{}: contains a NUL character", path));
  }
  return Ok();
}

// Parses an object whose values must all be strings.
Result<std::map<std::string, std::string>> ParseStringMap(const Json& parent, std::string_view key,
                                                          std::string_view path) {
  std::map<std::string, std::string> result;
  TANDEM_ASSIGN_OR_RETURN(const Json* object, OptionalObject(parent, key, path));
  if (object == nullptr) return result;
  std::string map_path = JoinPath(path, key);
  for (const auto& [name, value] : object->items()) {
    if (!value.is_string()) {
      return InvalidArgument(fmt::format("{}.{}: expected a string, got {}", map_path, name,
                                         JsonTypeName(value)));
    }
    result.emplace(name, value.get<std::string>());
  }
  return result;
}

Status ValidateRepository(std::string_view repository) {
  if (repository.empty() || repository.size() > kMaxRepositoryLength) {
    return InvalidArgument(fmt::format("Repository: must be 1-{} characters, got {}",
                                       kMaxRepositoryLength, repository.size()));
  }
  for (char c : repository) {
    if (!IsAlnum(c) && c != '.' && c != '_' && c != '/' && c != '-') {
      return InvalidArgument(fmt::format(
          "Repository: \"{}\" contains '{}'; use only letters, digits and . _ / -",
          Excerpt(repository), c));
    }
  }
  // Repository names may end up in file paths and routing patterns, so each
  // '/'-separated segment must be a plain, non-empty name.
  size_t start = 0;
  while (start <= repository.size()) {
    size_t end = repository.find('/', start);
    if (end == std::string_view::npos) end = repository.size();
    std::string_view segment = repository.substr(start, end - start);
    if (segment.empty() || segment == "." || segment == "..") {
      return InvalidArgument(fmt::format(
          "Repository: \"{}\" has an empty, '.' or '..' segment; write names like team/project",
          Excerpt(repository)));
    }
    start = end + 1;
  }
  return Ok();
}

Result<AlgorithmSpecification> ParseAlgorithm(const Json& document) {
  constexpr std::string_view kPath = "AlgorithmSpecification";
  TANDEM_ASSIGN_OR_RETURN(const Json* object, RequiredObject(document, kPath, ""));
  TANDEM_RETURN_IF_ERROR(
      RejectUnknownFields(*object, kPath, {"AlgorithmName", "EntryPoint", "SourceDir"}));

  AlgorithmSpecification algorithm;
  TANDEM_ASSIGN_OR_RETURN(algorithm.algorithm_name,
                          GetOptionalString(*object, "AlgorithmName", kPath));
  TANDEM_ASSIGN_OR_RETURN(auto source_dir, GetOptionalString(*object, "SourceDir", kPath));
  auto entry_point = object->find("EntryPoint");
  bool has_entry_point = entry_point != object->end() && !entry_point->is_null();

  if (algorithm.algorithm_name.has_value() == has_entry_point) {
    return InvalidArgument(fmt::format(
        "{}: set exactly one of AlgorithmName (a built-in algorithm) or EntryPoint (a command)",
        kPath));
  }
  if (algorithm.algorithm_name) {
    if (*algorithm.algorithm_name != kXgboostAlgorithm) {
      return InvalidArgument(fmt::format(
          "{}.AlgorithmName: unknown algorithm \"{}\"; built-in algorithms: {}", kPath,
          Excerpt(*algorithm.algorithm_name), kXgboostAlgorithm));
    }
    if (source_dir) {
      return InvalidArgument(fmt::format(
          "{}.SourceDir: only allowed with EntryPoint, not with AlgorithmName", kPath));
    }
    return algorithm;
  }

  std::string entry_path = fmt::format("{}.EntryPoint", kPath);
  if (!entry_point->is_array() || entry_point->empty()) {
    return InvalidArgument(fmt::format("{}: expected a non-empty array of strings, got {}",
                                       entry_path, JsonTypeName(*entry_point)));
  }
  if (entry_point->size() > kMaxEntryPointArgs) {
    return InvalidArgument(
        fmt::format("{}: more than {} arguments", entry_path, kMaxEntryPointArgs));
  }
  for (size_t i = 0; i < entry_point->size(); ++i) {
    const Json& arg = (*entry_point)[i];
    if (!arg.is_string()) {
      return InvalidArgument(fmt::format("{}: expected a string, got {}",
                                         Indexed(entry_path, i), JsonTypeName(arg)));
    }
    algorithm.entry_point.push_back(arg.get<std::string>());
  }
  if (algorithm.entry_point.front().empty()) {
    return InvalidArgument(fmt::format("{}: the program name is empty", Indexed(entry_path, 0)));
  }
  if (!source_dir) {
    return InvalidArgument(fmt::format(
        "{}.SourceDir: missing required field (EntryPoint runs in SourceDir)", kPath));
  }
  TANDEM_RETURN_IF_ERROR(CheckAbsolutePath(*source_dir, fmt::format("{}.SourceDir", kPath)));
  algorithm.source_dir = *source_dir;
  return algorithm;
}

Status ValidateHyperParameters(const std::map<std::string, std::string>& hyperparameters) {
  if (hyperparameters.size() > kMaxHyperParameters) {
    return InvalidArgument(fmt::format("HyperParameters: {} entries, at most {} are allowed",
                                       hyperparameters.size(), kMaxHyperParameters));
  }
  for (const auto& [key, value] : hyperparameters) {
    if (key.empty()) return InvalidArgument("HyperParameters: empty name");
    if (CodePoints(key) > kMaxHyperParameterKey) {
      return InvalidArgument(fmt::format("HyperParameters: name \"{}\" is longer than {} characters",
                                         Excerpt(key), kMaxHyperParameterKey));
    }
    if (CodePoints(value) > kMaxHyperParameterValue) {
      return InvalidArgument(fmt::format("HyperParameters.{}: value longer than {} characters", key,
                                         kMaxHyperParameterValue));
    }
  }
  return Ok();
}

Status ValidateChannelName(std::string_view name, std::string_view path) {
  if (name.empty() || name.size() > kMaxChannelNameLength) {
    return InvalidArgument(fmt::format("{}: must be 1-{} characters, got {}", path,
                                       kMaxChannelNameLength, name.size()));
  }
  for (char c : name) {
    if (!IsAlnum(c) && c != '.' && c != '_' && c != '-') {
      return InvalidArgument(fmt::format(
          "{}: \"{}\" contains '{}'; use only letters, digits and . _ -", path, Excerpt(name), c));
    }
  }
  return Ok();
}

Result<InputChannel> ParseChannel(const Json& object, std::string_view path) {
  TANDEM_RETURN_IF_ERROR(RequireObject(object, path));
  TANDEM_RETURN_IF_ERROR(RejectUnknownFields(object, path, {"ChannelName", "ContentType", "DataSource"}));
  InputChannel channel;
  TANDEM_ASSIGN_OR_RETURN(channel.name, GetString(object, "ChannelName", path));
  TANDEM_RETURN_IF_ERROR(ValidateChannelName(channel.name, JoinPath(path, "ChannelName")));

  TANDEM_ASSIGN_OR_RETURN(auto content_type, GetOptionalString(object, "ContentType", path));
  if (content_type) {
    if (content_type->empty() || content_type->size() > kMaxContentTypeLength) {
      return InvalidArgument(fmt::format("{}: must be 1-{} characters",
                                         JoinPath(path, "ContentType"), kMaxContentTypeLength));
    }
    channel.content_type = *content_type;
  }

  std::string source_path = JoinPath(path, "DataSource");
  TANDEM_ASSIGN_OR_RETURN(const Json* source, RequiredObject(object, "DataSource", path));
  TANDEM_RETURN_IF_ERROR(RejectUnknownFields(*source, source_path, {"FileDataSource"}));
  std::string file_path = JoinPath(source_path, "FileDataSource");
  TANDEM_ASSIGN_OR_RETURN(const Json* file, RequiredObject(*source, "FileDataSource", source_path));
  TANDEM_RETURN_IF_ERROR(RejectUnknownFields(*file, file_path, {"Path"}));
  TANDEM_ASSIGN_OR_RETURN(channel.path, GetString(*file, "Path", file_path));
  TANDEM_RETURN_IF_ERROR(CheckAbsolutePath(channel.path, JoinPath(file_path, "Path")));
  return channel;
}

Result<std::vector<InputChannel>> ParseChannels(const Json& document) {
  constexpr std::string_view kPath = "InputDataConfig";
  auto it = document.find(kPath);
  if (it == document.end() || it->is_null()) {
    return InvalidArgument(fmt::format("{}: missing required field", kPath));
  }
  if (!it->is_array()) {
    return InvalidArgument(fmt::format("{}: expected an array, got {}", kPath, JsonTypeName(*it)));
  }
  if (it->empty() || it->size() > kMaxChannels) {
    return InvalidArgument(fmt::format("{}: {} channels, expected 1-{}", kPath, it->size(),
                                       kMaxChannels));
  }
  std::vector<InputChannel> channels;
  std::set<std::string> names;
  for (size_t i = 0; i < it->size(); ++i) {
    std::string path = Indexed(kPath, i);
    TANDEM_ASSIGN_OR_RETURN(InputChannel channel, ParseChannel((*it)[i], path));
    if (!names.insert(channel.name).second) {
      return InvalidArgument(fmt::format("{}.ChannelName: duplicate channel name \"{}\"", path,
                                         channel.name));
    }
    channels.push_back(std::move(channel));
  }
  return channels;
}

Result<std::string> ParseModelName(const Json& document) {
  constexpr std::string_view kPath = "OutputDataConfig";
  TANDEM_ASSIGN_OR_RETURN(const Json* object, RequiredObject(document, kPath, ""));
  TANDEM_RETURN_IF_ERROR(RejectUnknownFields(*object, kPath, {"ModelName"}));
  TANDEM_ASSIGN_OR_RETURN(std::string name, GetString(*object, "ModelName", kPath));
  TANDEM_RETURN_IF_ERROR(ValidateResourceName(name, JoinPath(kPath, "ModelName")));
  return name;
}

// InstanceType: SageMaker's names look like "ml.m5.xlarge".
Status ValidateInstanceType(std::string_view type) {
  bool valid = !type.empty() && type.size() <= kMaxInstanceTypeLength;
  for (char c : type) valid = valid && (IsAlnum(c) || c == '.' || c == '-' || c == '_');
  if (valid) return Ok();
  return InvalidArgument(fmt::format(
      "ResourceConfig.InstanceType: \"{}\" is not an instance type; use 1-{} letters, digits, "
      "'.', '-' or '_', e.g. ml.m5.xlarge",
      Excerpt(type), kMaxInstanceTypeLength));
}

// RoleArn and EnableNetworkIsolation: accepted for SageMaker's specs and
// compared by warm pools.
Status ParseRoleAndIsolation(const Json& document, JobSpec& spec) {
  TANDEM_ASSIGN_OR_RETURN(spec.role_arn, GetOptionalString(document, "RoleArn", ""));
  if (spec.role_arn && (spec.role_arn->empty() || spec.role_arn->size() > kMaxRoleArnLength)) {
    return InvalidArgument(
        fmt::format("RoleArn: must be 1-{} characters, got {}", kMaxRoleArnLength,
                    spec.role_arn->size()));
  }
  TANDEM_ASSIGN_OR_RETURN(auto isolation, GetOptionalBool(document, "EnableNetworkIsolation", ""));
  spec.enable_network_isolation = isolation.value_or(false);
  return Ok();
}

Result<ResourceConfig> ParseResources(const Json& document) {
  constexpr std::string_view kPath = "ResourceConfig";
  ResourceConfig resources;
  TANDEM_ASSIGN_OR_RETURN(const Json* object, OptionalObject(document, kPath, ""));
  if (object == nullptr) return resources;
  TANDEM_RETURN_IF_ERROR(RejectUnknownFields(
      *object, kPath,
      {"InstanceCount", "InstanceType", "CpuCount", "MemoryMiB", "VolumeSizeInGB",
       "KeepAlivePeriodInSeconds"}));

  TANDEM_ASSIGN_OR_RETURN(auto instances, GetOptionalInt(*object, "InstanceCount", kPath));
  if (instances && *instances != 1) {
    return InvalidArgument(fmt::format(
        "{}.InstanceCount: {} is not supported; no backend runs multi-instance jobs yet, use 1",
        kPath, *instances));
  }
  TANDEM_ASSIGN_OR_RETURN(resources.cpu_count, GetOptionalInt(*object, "CpuCount", kPath));
  if (resources.cpu_count) {
    TANDEM_RETURN_IF_ERROR(
        CheckRange(*resources.cpu_count, 1, kMaxCpuCount, JoinPath(kPath, "CpuCount")));
  }
  TANDEM_ASSIGN_OR_RETURN(resources.memory_mib, GetOptionalInt(*object, "MemoryMiB", kPath));
  if (resources.memory_mib) {
    TANDEM_RETURN_IF_ERROR(
        CheckRange(*resources.memory_mib, 1, kMaxMemoryMiB, JoinPath(kPath, "MemoryMiB")));
  }
  TANDEM_ASSIGN_OR_RETURN(auto keep_alive,
                          GetOptionalInt(*object, "KeepAlivePeriodInSeconds", kPath));
  if (keep_alive) {
    TANDEM_RETURN_IF_ERROR(CheckRange(*keep_alive, 0, kMaxKeepAliveCeilingSeconds,
                                      JoinPath(kPath, "KeepAlivePeriodInSeconds")));
    resources.keep_alive_period_s = *keep_alive;
  }
  TANDEM_ASSIGN_OR_RETURN(resources.instance_type, GetOptionalString(*object, "InstanceType", kPath));
  if (resources.instance_type) {
    TANDEM_RETURN_IF_ERROR(ValidateInstanceType(*resources.instance_type));
  }
  TANDEM_ASSIGN_OR_RETURN(resources.volume_size_gb,
                          GetOptionalInt(*object, "VolumeSizeInGB", kPath));
  if (resources.volume_size_gb) {
    TANDEM_RETURN_IF_ERROR(CheckRange(*resources.volume_size_gb, 1, kMaxVolumeSizeGb,
                                      JoinPath(kPath, "VolumeSizeInGB")));
  }
  return resources;
}

Result<int64_t> ParseMaxRuntime(const Json& document) {
  constexpr std::string_view kPath = "StoppingCondition";
  TANDEM_ASSIGN_OR_RETURN(const Json* object, OptionalObject(document, kPath, ""));
  if (object == nullptr) return kDefaultMaxRuntimeSeconds;
  TANDEM_RETURN_IF_ERROR(RejectUnknownFields(*object, kPath, {"MaxRuntimeInSeconds"}));
  TANDEM_ASSIGN_OR_RETURN(auto seconds, GetOptionalInt(*object, "MaxRuntimeInSeconds", kPath));
  if (!seconds) return kDefaultMaxRuntimeSeconds;
  TANDEM_RETURN_IF_ERROR(
      CheckRange(*seconds, 1, kMaxRuntimeSeconds, JoinPath(kPath, "MaxRuntimeInSeconds")));
  return *seconds;
}

Result<std::optional<int64_t>> ParseRetryStrategy(const Json& document) {
  constexpr std::string_view kPath = "RetryStrategy";
  TANDEM_ASSIGN_OR_RETURN(const Json* object, OptionalObject(document, kPath, ""));
  if (object == nullptr) return std::nullopt;
  TANDEM_RETURN_IF_ERROR(RejectUnknownFields(*object, kPath, {"MaximumRetryAttempts"}));
  TANDEM_ASSIGN_OR_RETURN(auto attempts, GetOptionalInt(*object, "MaximumRetryAttempts", kPath));
  if (!attempts) {
    return InvalidArgument("RetryStrategy.MaximumRetryAttempts: missing required field");
  }
  TANDEM_RETURN_IF_ERROR(
      CheckRange(*attempts, 1, kMaxRetryAttempts, JoinPath(kPath, "MaximumRetryAttempts")));
  return attempts;
}

Status ValidateEnvironment(const std::map<std::string, std::string>& environment) {
  if (environment.size() > kMaxEnvironmentEntries) {
    return InvalidArgument(fmt::format("Environment: {} entries, at most {} are allowed",
                                       environment.size(), kMaxEnvironmentEntries));
  }
  for (const auto& [name, value] : environment) {
    bool valid = !name.empty() && name.size() <= kMaxEnvironmentName &&
                 !(name.front() >= '0' && name.front() <= '9');
    for (char c : name) valid = valid && (IsAlnum(c) || c == '_');
    if (!valid) {
      return InvalidArgument(fmt::format(
          "Environment: \"{}\" is not a variable name; use letters, digits and _, not starting "
          "with a digit",
          Excerpt(name)));
    }
    if (name.starts_with("SM_") || name.starts_with("TANDEM_")) {
      return InvalidArgument(fmt::format(
          "Environment.{}: names starting with SM_ or TANDEM_ are reserved for the runtime", name));
    }
    if (CodePoints(value) > kMaxEnvironmentValue) {
      return InvalidArgument(fmt::format("Environment.{}: value longer than {} characters", name,
                                         kMaxEnvironmentValue));
    }
  }
  return Ok();
}

Result<Json> ParseFeaturePipeline(const Json& document, const AlgorithmSpecification& algorithm) {
  auto it = document.find("FeaturePipeline");
  bool present = it != document.end() && !it->is_null();
  if (!algorithm.algorithm_name) {
    if (present) {
      return InvalidArgument(
          "FeaturePipeline: not allowed with AlgorithmSpecification.EntryPoint; the entry point "
          "prepares its own features");
    }
    return Json();
  }
  if (!present) {
    return InvalidArgument(fmt::format(
        "FeaturePipeline: missing required field (required with AlgorithmName \"{}\")",
        *algorithm.algorithm_name));
  }
  TANDEM_RETURN_IF_ERROR(RequireObject(*it, "FeaturePipeline"));
  return *it;
}

}  // namespace

Status ValidateResourceName(std::string_view name, std::string_view path) {
  if (name.empty() || name.size() > kMaxNameLength) {
    return InvalidArgument(
        fmt::format("{}: must be 1-{} characters, got {}", path, kMaxNameLength, name.size()));
  }
  for (char c : name) {
    if (!IsAlnum(c) && c != '-') {
      return InvalidArgument(fmt::format(
          "{}: \"{}\" contains '{}'; use only letters, digits and -", path, Excerpt(name), c));
    }
  }
  if (!IsAlnum(name.front()) || !IsAlnum(name.back())) {
    return InvalidArgument(
        fmt::format("{}: \"{}\" must start and end with a letter or digit", path, name));
  }
  return Ok();
}

Result<JobSpec> ParseJobSpec(const Json& document) {
  TANDEM_RETURN_IF_ERROR(RequireObject(document, "job spec"));
  TANDEM_RETURN_IF_ERROR(RejectUnknownFields(
      document, "",
      {"TrainingJobName", "Repository", "Backend", "AlgorithmSpecification", "FeaturePipeline",
       "HyperParameters", "InputDataConfig", "OutputDataConfig", "ResourceConfig",
       "StoppingCondition", "RetryStrategy", "Environment", "RoleArn",
       "EnableNetworkIsolation"}));
  JobSpec spec;

  // Identity: name and repository.
  TANDEM_ASSIGN_OR_RETURN(spec.training_job_name, GetString(document, "TrainingJobName", ""));
  TANDEM_RETURN_IF_ERROR(ValidateResourceName(spec.training_job_name, "TrainingJobName"));
  TANDEM_ASSIGN_OR_RETURN(spec.repository, GetString(document, "Repository", ""));
  TANDEM_RETURN_IF_ERROR(ValidateRepository(spec.repository));
  TANDEM_ASSIGN_OR_RETURN(spec.backend, GetOptionalString(document, "Backend", ""));
  if (spec.backend) TANDEM_RETURN_IF_ERROR(ValidateResourceName(*spec.backend, "Backend"));

  // What runs: the algorithm and, for a built-in one, its features.
  TANDEM_ASSIGN_OR_RETURN(spec.algorithm, ParseAlgorithm(document));
  TANDEM_ASSIGN_OR_RETURN(spec.feature_pipeline, ParseFeaturePipeline(document, spec.algorithm));
  TANDEM_ASSIGN_OR_RETURN(spec.hyperparameters, ParseStringMap(document, "HyperParameters", ""));
  TANDEM_RETURN_IF_ERROR(ValidateHyperParameters(spec.hyperparameters));

  // Inputs and output.
  TANDEM_ASSIGN_OR_RETURN(spec.input_channels, ParseChannels(document));
  TANDEM_ASSIGN_OR_RETURN(spec.model_name, ParseModelName(document));

  // Where and how long it runs.
  TANDEM_ASSIGN_OR_RETURN(spec.resources, ParseResources(document));
  TANDEM_ASSIGN_OR_RETURN(spec.max_runtime_s, ParseMaxRuntime(document));
  TANDEM_ASSIGN_OR_RETURN(spec.max_retry_attempts, ParseRetryStrategy(document));
  TANDEM_ASSIGN_OR_RETURN(spec.environment, ParseStringMap(document, "Environment", ""));
  TANDEM_RETURN_IF_ERROR(ValidateEnvironment(spec.environment));
  TANDEM_RETURN_IF_ERROR(ParseRoleAndIsolation(document, spec));
  return spec;
}

Json JobSpecToJson(const JobSpec& spec) {
  Json algorithm = Json::object();
  if (spec.algorithm.algorithm_name) {
    algorithm["AlgorithmName"] = *spec.algorithm.algorithm_name;
  } else {
    algorithm["EntryPoint"] = spec.algorithm.entry_point;
    algorithm["SourceDir"] = spec.algorithm.source_dir;
  }

  Json channels = Json::array();
  for (const InputChannel& channel : spec.input_channels) {
    channels.push_back({{"ChannelName", channel.name},
                        {"ContentType", channel.content_type},
                        {"DataSource", {{"FileDataSource", {{"Path", channel.path}}}}}});
  }

  Json resources = {{"InstanceCount", spec.resources.instance_count},
                    {"KeepAlivePeriodInSeconds", spec.resources.keep_alive_period_s}};
  if (spec.resources.cpu_count) resources["CpuCount"] = *spec.resources.cpu_count;
  if (spec.resources.memory_mib) resources["MemoryMiB"] = *spec.resources.memory_mib;
  if (spec.resources.instance_type) resources["InstanceType"] = *spec.resources.instance_type;
  if (spec.resources.volume_size_gb) resources["VolumeSizeInGB"] = *spec.resources.volume_size_gb;

  Json document = {
      {"TrainingJobName", spec.training_job_name},
      {"Repository", spec.repository},
      {"AlgorithmSpecification", algorithm},
      {"HyperParameters", spec.hyperparameters},
      {"InputDataConfig", channels},
      {"OutputDataConfig", {{"ModelName", spec.model_name}}},
      {"ResourceConfig", resources},
      {"StoppingCondition", {{"MaxRuntimeInSeconds", spec.max_runtime_s}}},
      {"Environment", spec.environment},
  };
  if (!spec.feature_pipeline.is_null()) document["FeaturePipeline"] = spec.feature_pipeline;
  // Absent optional fields stay out, so digests of older specs do not change.
  if (spec.role_arn) document["RoleArn"] = *spec.role_arn;
  if (spec.enable_network_isolation) document["EnableNetworkIsolation"] = true;
  if (spec.backend) document["Backend"] = *spec.backend;
  if (spec.max_retry_attempts) {
    document["RetryStrategy"] = {{"MaximumRetryAttempts", *spec.max_retry_attempts}};
  }
  return document;
}

std::string SpecDigest(const JobSpec& spec) {
  return "sha256:" + Sha256Hex(DumpJson(JobSpecToJson(spec)));
}

}  // namespace tandem::jobs
