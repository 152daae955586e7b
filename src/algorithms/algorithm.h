// Built-in training algorithms, run by `tandem train` inside a job root.
//
// A built-in algorithm reads the SageMaker job root layout:
//   input/config/hyperparameters.json   string -> string map (SageMaker's form)
//   input/config/inputdataconfig.json   {"train": {"ContentType": "text/csv", ...}, ...}
//   input/config/tandem-job.json        {"JobId", "TrainingJobName", "Repository",
//                                        "ModelName", "FeaturePipeline": {...}}
//   input/data/train/                   required: one or more CSV files with a header row
//   input/data/validation/              optional: same layout as train
// and writes the model package into model/ and diagnostic files into output/data/.
// It never writes output/failure: the runtime turns the returned error into that file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace tandem::algorithms {

// A progress report. `phase` is one of:
//   "reading"       first pass over the train channel (fitting the feature
//                   pipeline); `rows_read` counts its records so far
//   "transforming"  second pass, turning a channel into features; `rows_read`
//                   counts that channel's records, `message` names the channel
//   "training"      `round` boosting rounds of `total_rounds` are done
//   "evaluating", "writing"
// `message` is a short human-readable line.
struct Progress {
  std::string phase;
  int64_t rows_read = 0;
  int round = 0;
  int total_rounds = 0;
  std::string message;
};

// Everything an algorithm needs from its caller. Both callbacks are optional
// (empty means "no reports" and "never stop") and are called on the thread that
// called RunAlgorithm.
struct AlgorithmContext {
  // Root of the SageMaker layout: input/config, input/data/<channel>, model, output.
  std::filesystem::path job_root;
  // Threads for training and prediction (SM_NUM_CPUS); values below 1 count as 1.
  int num_cpus = 1;
  // Recorded in the manifest's lineage (TANDEM_VERSION).
  std::string runtime_version;
  // Receives progress, at most a few times per second plus once per phase change.
  std::function<void(const Progress&)> on_progress;
  // Polled between CSV chunks and between boosting rounds; returning true makes
  // RunAlgorithm return kAborted soon after.
  std::function<bool()> should_stop;
};

// Returns the names RunAlgorithm accepts, sorted: {"xgboost"}.
std::vector<std::string> AlgorithmNames();

// Runs the built-in algorithm `name` on `context.job_root` and blocks until it ends.
// On success model/ contains model.json and manifest.json, and output/data/
// contains validation_sample.jsonl. Errors:
//   kNotFound          unknown `name` (the message lists the known names), or a
//                      missing input/config file or train channel
//   kInvalidArgument   bad hyperparameters, feature pipeline or data; the message
//                      names the hyperparameter, or the channel, file and line
//   kAborted           should_stop returned true
//   kInternal          libxgboost or the file system failed unexpectedly
// Files already written to model/ are left in place on failure.
Status RunAlgorithm(std::string_view name, const AlgorithmContext& context);

// Checks, before a job is stored, what RunAlgorithm would reject at its start:
// the algorithm's name, its hyperparameters and the FeaturePipeline object of
// the job spec. Errors are kNotFound for an unknown name and kInvalidArgument
// naming the hyperparameter or the pipeline field.
Status ValidateAlgorithmInputs(std::string_view name,
                               const std::map<std::string, std::string>& hyperparameters,
                               const nlohmann::json& feature_pipeline);

}  // namespace tandem::algorithms
