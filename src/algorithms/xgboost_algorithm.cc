#include "algorithms/xgboost_algorithm.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "algorithms/channel_reader.h"
#include "algorithms/xgboost_booster.h"
#include "algorithms/xgboost_hyperparameters.h"
#include "common/clock.h"
#include "common/file_util.h"
#include "common/json_util.h"
#include "model/feature_pipeline.h"
#include "model/manifest.h"
#include "model/package.h"
#include "model/self_test.h"
#include "model/xgboost_predictor.h"

namespace tandem::algorithms {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kTrainChannel = "train";
constexpr std::string_view kValidationChannel = "validation";
constexpr std::string_view kSampleFileName = "validation_sample.jsonl";

// Settings read from the job root's input/config files.
struct JobConfig {
  std::string job_id;
  std::string training_job_name;
  std::string repository;
  std::string model_name;
  model::FeaturePipelineSpec pipeline_spec;
  std::map<std::string, std::string> given_hyperparameters;
  XGBoostHyperparameters hyperparameters;
};

// Forwards progress to the context's callback, at most once per
// kMinInterval, except that the first report of each phase and forced
// reports always go through.
class ProgressReporter {
 public:
  explicit ProgressReporter(const std::function<void(const Progress&)>& sink) : sink_(sink) {}

  void Report(const Progress& progress, bool force = false) {
    if (!sink_) return;
    auto now = std::chrono::steady_clock::now();
    if (!force && progress.phase == last_phase_ && now - last_report_ < kMinInterval) return;
    last_phase_ = progress.phase;
    last_report_ = now;
    sink_(progress);
  }

 private:
  static constexpr auto kMinInterval = std::chrono::milliseconds(250);
  const std::function<void(const Progress&)>& sink_;
  std::string last_phase_;
  std::chrono::steady_clock::time_point last_report_;
};

Result<Json> ReadJsonFile(const fs::path& path) {
  TANDEM_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return ParseJson(text, path.filename().string());
}

// Reads input/config/tandem-job.json: the model name, the lineage ids and
// the feature pipeline. Other keys are ignored.
Status ReadTandemJob(const fs::path& path, JobConfig& config) {
  TANDEM_ASSIGN_OR_RETURN(Json job, ReadJsonFile(path));
  TANDEM_RETURN_IF_ERROR(RequireObject(job, "tandem-job.json"));
  TANDEM_ASSIGN_OR_RETURN(config.model_name, GetString(job, "ModelName", "tandem-job.json"));
  TANDEM_ASSIGN_OR_RETURN(auto job_id, GetOptionalString(job, "JobId", "tandem-job.json"));
  TANDEM_ASSIGN_OR_RETURN(auto name, GetOptionalString(job, "TrainingJobName", "tandem-job.json"));
  TANDEM_ASSIGN_OR_RETURN(auto repository, GetOptionalString(job, "Repository", "tandem-job.json"));
  config.job_id = job_id.value_or("");
  config.training_job_name = name.value_or("");
  config.repository = repository.value_or("");
  if (!job.contains("FeaturePipeline")) {
    return InvalidArgument(
        "tandem-job.json: missing field FeaturePipeline; the xgboost algorithm needs the job "
        "spec's FeaturePipeline to know the label and the features");
  }
  TANDEM_ASSIGN_OR_RETURN(config.pipeline_spec,
                          model::FeaturePipelineSpec::FromJson(job["FeaturePipeline"],
                                                               "FeaturePipeline"));
  return Ok();
}

// Checks inputdataconfig.json, when present: train and validation must be CSV.
Status CheckInputDataConfig(const fs::path& path) {
  std::error_code error;
  if (!fs::exists(path, error)) return Ok();
  TANDEM_ASSIGN_OR_RETURN(Json config, ReadJsonFile(path));
  TANDEM_RETURN_IF_ERROR(RequireObject(config, "inputdataconfig.json"));
  for (const auto& [channel, entry] : config.items()) {
    std::string where = JoinPath("inputdataconfig.json", channel);
    TANDEM_RETURN_IF_ERROR(RequireObject(entry, where));
    TANDEM_ASSIGN_OR_RETURN(auto content_type, GetOptionalString(entry, "ContentType", where));
    if (channel != kTrainChannel && channel != kValidationChannel) {
      spdlog::warn("channel ignored by the xgboost algorithm channel={}", channel);
      continue;
    }
    std::string type = content_type.value_or("text/csv");
    if (type != "text/csv" && type != "csv" && !type.starts_with("text/csv;")) {
      return InvalidArgument(fmt::format(
          "channel {}: content type \"{}\" is not supported; the xgboost algorithm reads text/csv",
          channel, type));
    }
  }
  return Ok();
}

// Step 1: reads and validates everything under input/config.
Result<JobConfig> ReadJobConfig(const fs::path& config_dir) {
  JobConfig config;
  fs::path hyperparameters_path = config_dir / "hyperparameters.json";
  std::error_code error;
  if (fs::exists(hyperparameters_path, error)) {
    TANDEM_ASSIGN_OR_RETURN(std::string text, ReadFile(hyperparameters_path));
    TANDEM_ASSIGN_OR_RETURN(config.given_hyperparameters, ParseHyperparameterMap(text));
  }
  TANDEM_ASSIGN_OR_RETURN(config.hyperparameters,
                          ParseXGBoostHyperparameters(config.given_hyperparameters));
  TANDEM_RETURN_IF_ERROR(ReadTandemJob(config_dir / "tandem-job.json", config));
  TANDEM_RETURN_IF_ERROR(CheckInputDataConfig(config_dir / "inputdataconfig.json"));
  return config;
}

ReadControl MakeReadControl(const AlgorithmContext& context, ProgressReporter& reporter,
                            std::string phase, std::string message) {
  ReadControl control;
  control.should_stop = context.should_stop;
  control.on_records = [&reporter, phase = std::move(phase),
                        message = std::move(message)](int64_t records) {
    reporter.Report(Progress{.phase = phase, .rows_read = records, .message = message});
  };
  return control;
}

// Step 2: fits the feature pipeline on the train channel.
Result<model::FeaturePipeline> FitPipeline(const JobConfig& config, const ChannelFiles& train,
                                           const AlgorithmContext& context,
                                           ProgressReporter& reporter) {
  model::FeaturePipelineFitter fitter(config.pipeline_spec);
  ReadControl control = MakeReadControl(context, reporter, "reading",
                                        "fitting the feature pipeline on channel train");
  TANDEM_ASSIGN_OR_RETURN(int64_t records, FitChannel(train, fitter, control));
  spdlog::info("feature pipeline fitted channel=train records={} files={}", records,
               train.files.size());
  return std::move(fitter).Finish();
}

// Step 3: transforms one channel into features and labels.
Result<ChannelTable> TransformChannel(const ChannelFiles& channel,
                                      const model::FeaturePipeline& pipeline,
                                      const AlgorithmContext& context,
                                      ProgressReporter& reporter) {
  ReadControl control = MakeReadControl(context, reporter, "transforming",
                                        fmt::format("transforming channel {}", channel.channel));
  TANDEM_ASSIGN_OR_RETURN(ChannelTable table,
                          ReadChannelTable(channel, pipeline, kSampleRecords, control));
  spdlog::info("channel transformed channel={} records={} features={}", channel.channel,
               table.rows(), table.num_features);
  return table;
}

Result<DenseDMatrix> MakeMatrix(const ChannelTable& table, int nthread) {
  TANDEM_ASSIGN_OR_RETURN(DenseDMatrix matrix,
                          DenseDMatrix::Create(table.features, table.rows(), table.num_features,
                                               nthread));
  TANDEM_RETURN_IF_ERROR(matrix.SetLabels(table.labels));
  return matrix;
}

// Step 4: trains round by round, polling should_stop before each round.
Result<Booster> Train(const XGBoostHyperparameters& hyperparameters, const DenseDMatrix& train,
                      const AlgorithmContext& context, ProgressReporter& reporter) {
  TANDEM_ASSIGN_OR_RETURN(Booster booster, Booster::Create(train));
  for (const auto& [name, value] : hyperparameters.BoosterParams(context.num_cpus)) {
    TANDEM_RETURN_IF_ERROR(booster.SetParam(name, value));
  }
  const int total = hyperparameters.num_round;
  for (int round = 0; round < total; ++round) {
    if (context.should_stop && context.should_stop()) {
      return Aborted(fmt::format("stopped on request after {} of {} boosting rounds", round, total));
    }
    TANDEM_RETURN_IF_ERROR(booster.UpdateOneIter(round, train));
    reporter.Report(Progress{.phase = "training", .round = round + 1, .total_rounds = total,
                             .message = fmt::format("boosting round {} of {}", round + 1, total)},
                    /*force=*/round + 1 == total);
  }
  return booster;
}

double Mean(const std::vector<float>& values) {
  double sum = 0;
  for (float v : values) sum += v;
  return values.empty() ? 0 : sum / static_cast<double>(values.size());
}

// Step 5: computes the manifest's metrics from predictions on the evaluation rows.
std::map<std::string, double> ComputeMetrics(const std::vector<float>& predictions,
                                             const ChannelTable& evaluation, double train_mean,
                                             size_t train_rows, size_t validation_rows) {
  double squared = 0, absolute = 0, baseline_squared = 0, baseline_absolute = 0;
  for (size_t i = 0; i < evaluation.rows(); ++i) {
    double label = evaluation.labels[i];
    double error = static_cast<double>(predictions[i]) - label;
    squared += error * error;
    absolute += std::abs(error);
    baseline_squared += (train_mean - label) * (train_mean - label);
    baseline_absolute += std::abs(train_mean - label);
  }
  double n = static_cast<double>(evaluation.rows());
  return {
      {"Rmse", std::sqrt(squared / n)},
      {"Mae", absolute / n},
      {"BaselineRmse", std::sqrt(baseline_squared / n)},
      {"BaselineMae", baseline_absolute / n},
      {"TrainRows", static_cast<double>(train_rows)},
      {"ValidationRows", static_cast<double>(validation_rows)},
      {"EvaluationRows", n},
      {"EvaluatedOnTrain", validation_rows == 0 ? 1.0 : 0.0},
  };
}

// Picks kSelfTestCases sample records spread evenly over the sample.
std::vector<model::SelfTestCase> MakeSelfTests(const ChannelTable& evaluation,
                                               const std::vector<float>& predictions) {
  std::vector<model::SelfTestCase> cases;
  size_t samples = evaluation.samples.size();
  size_t count = std::min(samples, kSelfTestCases);
  for (size_t i = 0; i < count; ++i) {
    const SampleRecord& sample = evaluation.samples[i * samples / count];
    cases.push_back({sample.record, static_cast<double>(predictions[sample.row])});
  }
  return cases;
}

// Formats a float32 in the shortest text that parses back to the same float,
// or null when it is NaN or infinite (JSON has no such numbers).
std::string FloatJson(float value) {
  return std::isfinite(value) ? fmt::format("{}", value) : std::string("null");
}

// Step 7: writes output/data/validation_sample.jsonl.
Status WriteSample(const fs::path& path, const ChannelTable& evaluation,
                   const std::vector<float>& predictions) {
  std::string text;
  for (const SampleRecord& sample : evaluation.samples) {
    text += fmt::format(R"({{"Record":{},"Label":{},"Features":[)", DumpJson(sample.record),
                        FloatJson(evaluation.labels[sample.row]));
    for (size_t f = 0; f < sample.features.size(); ++f) {
      if (f > 0) text += ',';
      text += FloatJson(sample.features[f]);
    }
    text += fmt::format(R"(],"Prediction":{}}})", FloatJson(predictions[sample.row]));
    text += '\n';
  }
  return WriteFileAtomic(path, text);
}

// Step 8: loads the written package as a server would and runs its self-tests.
Status VerifyPackage(const fs::path& model_dir) {
  TANDEM_ASSIGN_OR_RETURN(model::LoadedPackage package, model::LoadPackage(model_dir));
  const model::FeaturePipeline& pipeline = package.manifest.feature_pipeline;
  TANDEM_ASSIGN_OR_RETURN(auto predictor, model::LoadXGBoostPredictor(
                                              package.model_path, pipeline.num_features()));
  return model::RunSelfTests(package, pipeline, *predictor);
}

Result<std::optional<ChannelFiles>> ListValidationChannel(const fs::path& data_dir) {
  std::error_code error;
  if (!fs::exists(data_dir / kValidationChannel, error)) return std::nullopt;
  TANDEM_ASSIGN_OR_RETURN(ChannelFiles files,
                          ListChannelFiles(data_dir / kValidationChannel, kValidationChannel));
  return files;
}

Result<std::map<std::string, std::string>> DigestChannels(
    const ChannelFiles& train, const std::optional<ChannelFiles>& validation) {
  std::map<std::string, std::string> digests;
  TANDEM_ASSIGN_OR_RETURN(digests[train.channel], ChannelDigest(train));
  if (validation) {
    TANDEM_ASSIGN_OR_RETURN(digests[validation->channel], ChannelDigest(*validation));
  }
  return digests;
}

}  // namespace

Status RunXGBoost(const AlgorithmContext& context) {
  const fs::path config_dir = context.job_root / "input" / "config";
  const fs::path data_dir = context.job_root / "input" / "data";
  const fs::path model_dir = context.job_root / "model";
  const fs::path output_data_dir = context.job_root / "output" / "data";
  const int nthread = std::max(1, context.num_cpus);
  ProgressReporter reporter(context.on_progress);

  // 1. Read the job configuration and hyperparameters; find the channels.
  TANDEM_ASSIGN_OR_RETURN(JobConfig config, ReadJobConfig(config_dir));
  auto train_files = ListChannelFiles(data_dir / kTrainChannel, kTrainChannel);
  if (!train_files && train_files.error().code() == ErrorCode::kNotFound) {
    return NotFound(fmt::format(
        "channel train not found: {} does not exist; the xgboost algorithm needs a train channel",
        (data_dir / kTrainChannel).string()));
  }
  TANDEM_RETURN_IF_ERROR(train_files);
  TANDEM_ASSIGN_OR_RETURN(std::optional<ChannelFiles> validation_files,
                          ListValidationChannel(data_dir));

  // 2. Fit the feature pipeline on the train channel.
  TANDEM_ASSIGN_OR_RETURN(model::FeaturePipeline pipeline,
                          FitPipeline(config, *train_files, context, reporter));

  // 3. Transform train and validation into float32 matrices.
  TANDEM_ASSIGN_OR_RETURN(ChannelTable train, TransformChannel(*train_files, pipeline, context,
                                                               reporter));
  std::optional<ChannelTable> validation;
  if (validation_files) {
    TANDEM_ASSIGN_OR_RETURN(validation,
                            TransformChannel(*validation_files, pipeline, context, reporter));
  }
  TANDEM_ASSIGN_OR_RETURN(DenseDMatrix train_matrix, MakeMatrix(train, nthread));
  std::optional<DenseDMatrix> validation_matrix;
  if (validation) {
    TANDEM_ASSIGN_OR_RETURN(validation_matrix, MakeMatrix(*validation, nthread));
  }
  // libxgboost keeps its own copy of the values, so ours can go.
  train.features = {};
  if (validation) validation->features = {};

  // 4. Train, round by round.
  spdlog::info("training started rounds={} objective={} tree_method={} threads={}",
               config.hyperparameters.num_round, config.hyperparameters.objective,
               config.hyperparameters.tree_method, nthread);
  {
    TANDEM_ASSIGN_OR_RETURN(Booster booster,
                            Train(config.hyperparameters, train_matrix, context, reporter));
    TANDEM_RETURN_IF_ERROR(CreateDirectories(model_dir));
    TANDEM_RETURN_IF_ERROR(booster.SaveModel(model_dir / model::kDefaultModelFileName));
  }
  spdlog::info("training finished rounds={}", config.hyperparameters.num_round);

  // 5. Evaluate with the saved model, so that every recorded prediction is
  //    what the model file gives, not what the in-memory booster gave.
  reporter.Report(Progress{.phase = "evaluating", .message = "evaluating the model"});
  TANDEM_ASSIGN_OR_RETURN(Booster saved, Booster::Load(model_dir / model::kDefaultModelFileName));
  TANDEM_RETURN_IF_ERROR(saved.SetParam("nthread", fmt::format("{}", nthread)));
  const ChannelTable& evaluation = validation ? *validation : train;
  TANDEM_ASSIGN_OR_RETURN(std::vector<float> predictions,
                          saved.Predict(validation_matrix ? *validation_matrix : train_matrix));
  std::map<std::string, double> metrics =
      ComputeMetrics(predictions, evaluation, Mean(train.labels), train.rows(),
                     validation ? validation->rows() : 0);
  spdlog::info("evaluation finished on={} rows={} rmse={} baseline_rmse={}",
               validation ? "validation" : "train", evaluation.rows(), metrics["Rmse"],
               metrics["BaselineRmse"]);

  // 6. Write the manifest with lineage and self-tests.
  reporter.Report(Progress{.phase = "writing", .message = "writing the model package"});
  model::ModelManifest manifest;
  manifest.model_name = config.model_name;
  manifest.objective = config.hyperparameters.objective;
  manifest.input_schema = pipeline.InputSchema();
  manifest.feature_names = pipeline.FeatureNames();
  manifest.feature_pipeline = pipeline;
  manifest.metrics = std::move(metrics);
  manifest.lineage.job_id = config.job_id;
  manifest.lineage.training_job_name = config.training_job_name;
  manifest.lineage.repository = config.repository;
  TANDEM_ASSIGN_OR_RETURN(manifest.lineage.data_digests,
                          DigestChannels(*train_files, validation_files));
  manifest.lineage.hyper_parameters = config.given_hyperparameters;
  manifest.lineage.runtime_version = context.runtime_version;
  manifest.lineage.created_at = FormatTimestamp(SystemClock::Instance().NowMillis());
  manifest.self_tests = MakeSelfTests(evaluation, predictions);
  TANDEM_RETURN_IF_ERROR(model::WriteManifest(model_dir, manifest));

  // 7. Write the evaluation sample for the serving demo and parity tests.
  TANDEM_RETURN_IF_ERROR(CreateDirectories(output_data_dir));
  TANDEM_RETURN_IF_ERROR(WriteSample(output_data_dir / kSampleFileName, evaluation, predictions));

  // 8. Check the package the way a server loads it.
  TANDEM_RETURN_IF_ERROR_CTX(VerifyPackage(model_dir), "the written model package fails its check");
  spdlog::info("model package written dir={} model={}", model_dir.string(), config.model_name);
  return Ok();
}

}  // namespace tandem::algorithms
