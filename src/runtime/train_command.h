// `tandem train`: the job runtime, run inside every training job.
//
// Control-plane mode (TANDEM_JOB_ID set): reads the job from TANDEM_API_URL
// with TANDEM_JOB_TOKEN, lays the job root out at TANDEM_JOB_ROOT, runs it and
// reports each phase as an event.
// Stand-alone mode: `tandem train --job-root DIR --spec FILE`; SageMaker's
// plain `train` uses /opt/ml and the spec file named by TANDEM_JOB_SPEC_FILE.
// Channels already staged in input/data/ are used when their FileDataSource
// path does not exist. Events are only logged.
// Exit code: 0 Completed, 1 Failed, 143 Stopped, 2 when the job could not be
// read (no event can be sent then).
#pragma once

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "common/command.h"
#include "runtime/control_plane.h"
#include "runtime/stop_controller.h"

namespace tandem::runtime {

// Everything `tandem train` takes from its command line and environment.
struct TrainSettings {
  std::string job_root;   // --job-root, else TANDEM_JOB_ROOT, else /opt/ml
  std::string spec_file;  // --spec, else TANDEM_JOB_SPEC_FILE; stand-alone mode only
  std::string api_url;    // TANDEM_API_URL
  std::string job_id;     // TANDEM_JOB_ID; non-empty selects control-plane mode
  std::string job_token;  // TANDEM_JOB_TOKEN
  // TANDEM_JOB_ATTEMPT: the attempt this run is (1, 2, ...), sent with every
  // event; nullopt when unset, as for runs launched before retries existed.
  std::optional<int64_t> attempt;
  // The job's spec as JSON text, from a warm worker's hand-off; empty: the
  // spec is fetched from the control plane.
  std::string spec_json;
  // TANDEM_EXIT_FILE: where a control-plane mode run writes {"ExitCode": N}
  // just before it exits, so that a backend that is not the process's parent
  // (a restarted control plane) can still learn how it ended. Empty: none.
  std::string exit_file;
  // TANDEM_STOP_GRACE_SECONDS: SIGTERM to SIGKILL for the user's process.
  std::chrono::milliseconds stop_grace{std::chrono::seconds(30)};
  RetryPolicy retry;
};

// Fills the settings left empty from the environment (see TrainSettings).
// Errors: kInvalidArgument naming TANDEM_STOP_GRACE_SECONDS when it is not a
// non-negative integer, or TANDEM_JOB_ATTEMPT when it is not a positive one.
Status ApplyEnvironment(TrainSettings& settings);

// Runs one job in the mode the settings select and returns the exit code.
// `stop` receives stop requests; its deadline is set here from the spec.
int RunTrain(const TrainSettings& settings, StopController& stop);

void AddTrainCommand(CLI::App& app, CommandAction& action);

}  // namespace tandem::runtime
