#include "runtime/training_environment.h"

#include <algorithm>
#include <cctype>
#include <vector>

#include "common/json_util.h"

namespace tandem::runtime {
namespace {

// SageMaker's toolkit decodes each hyperparameter value as JSON where it can.
Json DecodeHyperparameter(const std::string& value) {
  Json parsed = Json::parse(value, nullptr, /*allow_exceptions=*/false);
  return parsed.is_discarded() ? Json(value) : parsed;
}

}  // namespace

std::string EnvironmentSuffix(std::string_view name) {
  std::string suffix;
  suffix.reserve(name.size());
  for (char c : name) {
    unsigned char byte = static_cast<unsigned char>(c);
    suffix.push_back(std::isalnum(byte) ? static_cast<char>(std::toupper(byte)) : '_');
  }
  return suffix;
}

std::map<std::string, std::string> BuildTrainingEnvironment(const jobs::JobSpec& spec,
                                                           const TrainingEnvironmentInputs& inputs) {
  const JobRoot& root = inputs.root;
  std::map<std::string, std::string> env = inputs.base;
  for (const auto& [key, value] : spec.environment) env[key] = value;

  // Channels and hyperparameters, each as one JSON value and one variable per entry.
  std::vector<std::string> channel_names;
  Json channel_dirs = Json::object();
  Json input_data_config = Json::object();
  for (const jobs::InputChannel& channel : spec.input_channels) {
    channel_names.push_back(channel.name);
    channel_dirs[channel.name] = root.channel_dir(channel.name).string();
    input_data_config[channel.name] = {{"ContentType", channel.content_type},
                                       {"TrainingInputMode", "File"}};
    env["SM_CHANNEL_" + EnvironmentSuffix(channel.name)] = root.channel_dir(channel.name).string();
  }
  std::sort(channel_names.begin(), channel_names.end());
  Json hyperparameters = Json::object();
  for (const auto& [key, value] : spec.hyperparameters) {
    hyperparameters[key] = DecodeHyperparameter(value);
    env["SM_HP_" + EnvironmentSuffix(key)] = value;
  }
  const Json hosts = Json::array({kCurrentHost});
  const Json resource_config = {{"current_host", kCurrentHost}, {"hosts", hosts}};

  // The directories and host facts.
  env["SM_MODEL_DIR"] = root.model_dir().string();
  env["SM_INPUT_DIR"] = root.input_dir().string();
  env["SM_INPUT_CONFIG_DIR"] = root.config_dir().string();
  env["SM_OUTPUT_DIR"] = root.output_dir().string();
  env["SM_OUTPUT_DATA_DIR"] = root.output_data_dir().string();
  env["SM_CHANNELS"] = Json(channel_names).dump();
  env["SM_HPS"] = hyperparameters.dump();
  env["SM_NUM_CPUS"] = std::to_string(inputs.num_cpus);
  env["SM_NUM_GPUS"] = "0";
  env["SM_CURRENT_HOST"] = std::string(kCurrentHost);
  env["SM_HOSTS"] = hosts.dump();
  env["SM_INPUT_DATA_CONFIG"] = input_data_config.dump();
  env["SM_RESOURCE_CONFIG"] = resource_config.dump();
  env["TRAINING_JOB_NAME"] = spec.training_job_name;

  // Everything above in one document, as the toolkit's SM_TRAINING_ENV.
  const Json training_env = {
      {"job_name", spec.training_job_name},
      {"model_dir", env["SM_MODEL_DIR"]},
      {"input_dir", env["SM_INPUT_DIR"]},
      {"input_config_dir", env["SM_INPUT_CONFIG_DIR"]},
      {"output_dir", env["SM_OUTPUT_DIR"]},
      {"output_data_dir", env["SM_OUTPUT_DATA_DIR"]},
      {"channel_input_dirs", channel_dirs},
      {"hyperparameters", hyperparameters},
      {"input_data_config", input_data_config},
      {"resource_config", resource_config},
      {"current_host", kCurrentHost},
      {"hosts", hosts},
      {"num_cpus", inputs.num_cpus},
      {"num_gpus", 0},
  };
  env["SM_TRAINING_ENV"] = training_env.dump();

  for (const auto& [key, value] : inputs.tandem) env[key] = value;
  return env;
}

}  // namespace tandem::runtime
