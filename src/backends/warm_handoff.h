// The message by which the local backend hands a job to a waiting warm
// worker (`tandem train --warm-agent FIFO`): one line of JSON,
//
//   {"JobDir": "/data/jobs/job-0123456789ab",
//    "Environment": {"TANDEM_JOB_ID": "job-0123456789ab", ...},
//    "Spec": "{\"TrainingJobName\": ...}"}
//
// Environment is the complete environment of the job's `tandem train`,
// including its job token, so the message is written only to a FIFO of mode
// 0600 and never logged. Spec, the job's canonical spec as JSON text, is
// optional; without it the agent fetches the spec from the control plane.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include "common/status.h"

namespace tandem::backends {

struct Handoff {
  std::filesystem::path job_dir;
  std::map<std::string, std::string> environment;
  std::string spec_json;  // "" when the message had no Spec
};

// Returns the message, ending in a newline; an empty `spec_json` is left out.
std::string HandoffMessage(const std::filesystem::path& job_dir,
                           const std::map<std::string, std::string>& environment,
                           const std::string& spec_json = "");

// Parses one message line (with or without its newline).
// Errors: kInvalidArgument naming the field at fault (JobDir must be an
// absolute path, Environment an object of strings, Spec a string); the
// message never quotes environment values.
Result<Handoff> ParseHandoff(std::string_view line);

// Writes all of `message` to the FIFO `fd`, switching it to blocking mode.
// SIGPIPE is blocked on this thread while writing, so an agent that died shows
// as an error rather than ending the process.
// Errors: kInternal naming the write failure (EPIPE when the agent died).
Status WriteHandoff(int fd, std::string_view message);

}  // namespace tandem::backends
