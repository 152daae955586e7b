// The job root: SageMaker's training container layout, under /opt/ml in a
// container or a per-job directory elsewhere.
//
//   input/config/hyperparameters.json   HyperParameters, a string -> string map
//   input/config/inputdataconfig.json   {"<channel>": {"ContentType", "TrainingInputMode": "File", ...}}
//   input/config/resourceconfig.json    {"current_host": "algo-1", "hosts": ["algo-1"], ...}
//   input/config/tandem-job.json        {"JobId", "TrainingJobName", "Repository", "ModelName",
//                                        "FeaturePipeline"}
//   input/data/<channel>/               the channel's files
//   model/                              becomes the model package
//   output/data/                        extra output files
//   output/failure                      the failure reason, written on failure
//   checkpoints/
#pragma once

#include <filesystem>
#include <string>

#include "common/status.h"
#include "jobs/job_spec.h"

namespace tandem::runtime {

// The SageMaker host name of the only instance of a job.
inline constexpr std::string_view kCurrentHost = "algo-1";

// Paths inside one job root.
struct JobRoot {
  std::filesystem::path root;

  std::filesystem::path input_dir() const { return root / "input"; }
  std::filesystem::path config_dir() const { return root / "input" / "config"; }
  std::filesystem::path data_dir() const { return root / "input" / "data"; }
  std::filesystem::path channel_dir(std::string_view channel) const { return data_dir() / channel; }
  std::filesystem::path model_dir() const { return root / "model"; }
  std::filesystem::path output_dir() const { return root / "output"; }
  std::filesystem::path output_data_dir() const { return root / "output" / "data"; }
  std::filesystem::path failure_file() const { return root / "output" / "failure"; }
  std::filesystem::path checkpoints_dir() const { return root / "checkpoints"; }
};

// Creates the directories of the layout and writes the four config files for
// `spec`. `job_id` is the control plane's id ("" in stand-alone mode).
// Existing files in model/ and output/ are left alone; an old output/failure
// is removed so that it cannot be mistaken for this run's.
// Errors: those of the file system, naming the path.
Status LayOutJobRoot(const JobRoot& root, const jobs::JobSpec& spec, std::string_view job_id);

// Options for FetchChannels.
struct FetchOptions {
  // Use a channel's files already in input/data/<channel>/ when its
  // FileDataSource.Path does not exist (SageMaker downloads channels there
  // before the container starts). Off in control-plane mode, where stale files
  // from an earlier run must not pass for this run's data.
  bool accept_staged_channels = false;
};

// Makes each channel's FileDataSource.Path available in input/data/<channel>/:
// a file is linked under its own name; a directory's files are linked with
// their paths relative to it. Hard links are used, and copies when the link
// fails (another file system, or a kernel that forbids the link).
// NOTE: a hard link shares the file with its source, so user code that writes
// to its input files changes the source data too.
// Errors: kNotFound "channel train: input path /x does not exist"; file
// system errors naming the channel and the file.
Status FetchChannels(const JobRoot& root, const jobs::JobSpec& spec, const FetchOptions& options);

}  // namespace tandem::runtime
