// The environment of a user entry point: SageMaker's SM_* variables for the
// job root and spec, so that code written for SageMaker's training toolkit
// runs unchanged.
#pragma once

#include <map>
#include <string>

#include "jobs/job_spec.h"
#include "runtime/job_root.h"

namespace tandem::runtime {

struct TrainingEnvironmentInputs {
  JobRoot root;
  int num_cpus = 1;
  // Variables inherited from the runtime's own environment (PATH, HOME); the
  // spec's Environment may override them.
  std::map<std::string, std::string> base;
  // TANDEM_* variables for the job (TANDEM_JOB_ID, TANDEM_JOB_ROOT, ...); set last.
  std::map<std::string, std::string> tandem;
};

// Returns the complete environment for the entry point, in increasing
// precedence: `base`, the spec's Environment, the SM_* variables and
// TRAINING_JOB_NAME, then `tandem`. The SM_* set:
//   SM_MODEL_DIR, SM_INPUT_DIR, SM_INPUT_CONFIG_DIR, SM_OUTPUT_DIR, SM_OUTPUT_DATA_DIR,
//   SM_CHANNELS (JSON list of channel names, sorted), SM_CHANNEL_<NAME> (its directory),
//   SM_HPS (JSON object), SM_HP_<NAME> (the raw value), SM_NUM_CPUS, SM_NUM_GPUS (0),
//   SM_CURRENT_HOST, SM_HOSTS (JSON list), SM_INPUT_DATA_CONFIG, SM_RESOURCE_CONFIG,
//   SM_TRAINING_ENV (JSON object with all of the above).
// <NAME> is the channel or hyperparameter name in upper case with every
// character other than a letter, digit or '_' replaced by '_'. In SM_HPS a
// value that parses as JSON (200, 0.1, true) is stored parsed, as SageMaker's
// toolkit does; any other value is stored as a string.
std::map<std::string, std::string> BuildTrainingEnvironment(const jobs::JobSpec& spec,
                                                           const TrainingEnvironmentInputs& inputs);

// Returns `name` as an environment variable suffix: upper case, with every
// character other than [A-Z0-9_] replaced by '_'.
std::string EnvironmentSuffix(std::string_view name);

}  // namespace tandem::runtime
