// Configuration of the Slurm backend and its parser for the control plane's
// configuration file.
//
// The JSON object (all keys optional, unknown keys rejected):
//   {"Partition": "debug", "Account": "ml-team",
//    "TandemBinary": "/shared/bin/tandem", "SlurmConf": "/etc/slurm/slurm.conf",
//    "SbatchCommand": "sbatch", "ScancelCommand": "scancel",
//    "ScontrolCommand": "scontrol", "SqueueCommand": "squeue",
//    "CommandTimeoutSeconds": 30, "TimeLimitMarginSeconds": 300,
//    "RuntimeStopGraceSeconds": 20, "ExtraSbatchArgs": ["--qos=normal"]}
// ExtraSbatchArgs are single arguments, each an option with its value:
// "--constraint=avx2", not "--constraint", "avx2".
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_util.h"
#include "common/status.h"

namespace tandem::backends {

struct SlurmOptions {
  // sbatch --partition and --account; empty: the cluster's default.
  std::string partition;
  std::string account;
  // `tandem` as the compute nodes see it (an absolute path); empty: this
  // process's own executable, which is right only when the nodes share it.
  std::filesystem::path tandem_binary;
  // Set as SLURM_CONF for every Slurm command; empty: the control plane's own
  // SLURM_CONF, else Slurm's default (/etc/slurm/slurm.conf).
  std::filesystem::path slurm_conf;
  // The Slurm commands: names looked up in PATH, or absolute paths.
  std::string sbatch_command = "sbatch";
  std::string scancel_command = "scancel";
  std::string scontrol_command = "scontrol";
  std::string squeue_command = "squeue";
  // How long one Slurm command may run before it is killed and the call
  // fails with kUnavailable.
  std::chrono::seconds command_timeout{30};
  // Added to MaxRuntimeInSeconds for sbatch --time, so that the runtime stops
  // the job first and reports MaxRuntimeExceeded itself; Slurm's TIMEOUT is
  // the backstop for a runtime that hangs.
  std::chrono::seconds time_limit_margin{300};
  // Set as TANDEM_STOP_GRACE_SECONDS: how long the runtime gives the user's
  // process between SIGTERM and SIGKILL. Keep it below the grace passed to Stop.
  std::chrono::seconds runtime_stop_grace{20};
  // Passed to sbatch before the backend's own options (e.g. "--qos=high",
  // "--constraint=avx2"). Options the backend sets itself are rejected.
  std::vector<std::string> extra_sbatch_args;
};

// Parses the Slurm backend's object of the configuration file. `where` names
// the object in errors ("backends.slurm"). Errors: kInvalidArgument naming the
// key and the expected value.
Result<SlurmOptions> ParseSlurmOptions(const Json& object, std::string_view where);

}  // namespace tandem::backends
