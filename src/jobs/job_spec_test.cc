#include "jobs/job_spec.h"

#include <gmock/gmock.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <functional>
#include <string>

namespace tandem::jobs {
namespace {

using ::testing::HasSubstr;

Json ValidSpec() {
  return Json::parse(R"({
    "TrainingJobName": "flights-delay-1",
    "Repository": "flights",
    "AlgorithmSpecification": {"AlgorithmName": "xgboost"},
    "FeaturePipeline": {"Label": "delay", "Features": [{"Field": "distance", "Kind": "numeric"}]},
    "HyperParameters": {"num_round": "200", "eta": "0.1"},
    "InputDataConfig": [
      {"ChannelName": "train", "ContentType": "text/csv",
       "DataSource": {"FileDataSource": {"Path": "/var/lib/tandem/inputs/flights/train"}}},
      {"ChannelName": "validation",
       "DataSource": {"FileDataSource": {"Path": "/var/lib/tandem/inputs/flights/validation"}}}
    ],
    "OutputDataConfig": {"ModelName": "flights-delay"},
    "ResourceConfig": {"InstanceCount": 1, "CpuCount": 2, "MemoryMiB": 4096,
                       "KeepAlivePeriodInSeconds": 0},
    "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    "Environment": {"LOG_LEVEL": "info"}
  })");
}

Json EntryPointSpec() {
  Json spec = ValidSpec();
  spec["AlgorithmSpecification"] = {{"EntryPoint", {"python3", "train.py"}},
                                    {"SourceDir", "/srv/code/flights"}};
  spec.erase("FeaturePipeline");
  return spec;
}

TEST(JobSpec, ParsesValidSpec) {
  Result<JobSpec> spec = ParseJobSpec(ValidSpec());
  ASSERT_TRUE(spec) << spec.error().message();
  EXPECT_EQ(spec->training_job_name, "flights-delay-1");
  EXPECT_EQ(spec->repository, "flights");
  EXPECT_EQ(spec->algorithm.algorithm_name, "xgboost");
  EXPECT_TRUE(spec->feature_pipeline.is_object());
  EXPECT_EQ(spec->hyperparameters.at("num_round"), "200");
  ASSERT_EQ(spec->input_channels.size(), 2u);
  EXPECT_EQ(spec->input_channels[1].name, "validation");
  EXPECT_EQ(spec->input_channels[1].content_type, "text/csv");
  EXPECT_EQ(spec->input_channels[1].path, "/var/lib/tandem/inputs/flights/validation");
  EXPECT_EQ(spec->model_name, "flights-delay");
  EXPECT_EQ(spec->resources.cpu_count, 2);
  EXPECT_EQ(spec->resources.memory_mib, 4096);
  EXPECT_EQ(spec->max_runtime_s, 3600);
  EXPECT_EQ(spec->environment.at("LOG_LEVEL"), "info");
}

TEST(JobSpec, ParsesEntryPointSpec) {
  Result<JobSpec> spec = ParseJobSpec(EntryPointSpec());
  ASSERT_TRUE(spec) << spec.error().message();
  EXPECT_FALSE(spec->algorithm.algorithm_name.has_value());
  EXPECT_THAT(spec->algorithm.entry_point, ::testing::ElementsAre("python3", "train.py"));
  EXPECT_EQ(spec->algorithm.source_dir, "/srv/code/flights");
  EXPECT_TRUE(spec->feature_pipeline.is_null());
}

TEST(JobSpec, FillsDefaults) {
  Json document = ValidSpec();
  document.erase("ResourceConfig");
  document.erase("StoppingCondition");
  document.erase("HyperParameters");
  document["Environment"] = nullptr;
  Result<JobSpec> spec = ParseJobSpec(document);
  ASSERT_TRUE(spec) << spec.error().message();
  EXPECT_EQ(spec->resources.instance_count, 1);
  EXPECT_FALSE(spec->resources.cpu_count.has_value());
  EXPECT_EQ(spec->resources.keep_alive_period_s, 0);
  EXPECT_EQ(spec->max_runtime_s, 86400);
  EXPECT_TRUE(spec->hyperparameters.empty());
  EXPECT_TRUE(spec->environment.empty());
}

TEST(JobSpec, CanonicalJsonRoundTrips) {
  for (const Json& document : {ValidSpec(), EntryPointSpec()}) {
    Result<JobSpec> spec = ParseJobSpec(document);
    ASSERT_TRUE(spec) << spec.error().message();
    Json canonical = JobSpecToJson(*spec);
    Result<JobSpec> again = ParseJobSpec(canonical);
    ASSERT_TRUE(again) << again.error().message();
    EXPECT_EQ(*again, *spec);
    EXPECT_EQ(JobSpecToJson(*again), canonical);
  }
}

TEST(JobSpec, BackendRoundTrips) {
  Json document = ValidSpec();
  document["Backend"] = "slurm-a";
  Result<JobSpec> spec = ParseJobSpec(document);
  ASSERT_TRUE(spec) << spec.error().message();
  EXPECT_EQ(spec->backend, "slurm-a");
  Json canonical = JobSpecToJson(*spec);
  EXPECT_EQ(canonical["Backend"], "slurm-a");
  Result<JobSpec> again = ParseJobSpec(canonical);
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(*again, *spec);
}

TEST(JobSpec, BackendAbsentFromCanonicalJson) {
  Result<JobSpec> spec = ParseJobSpec(ValidSpec());
  ASSERT_TRUE(spec) << spec.error().message();
  EXPECT_FALSE(spec->backend);
  EXPECT_FALSE(JobSpecToJson(*spec).contains("Backend"));
}

TEST(JobSpec, WarmPoolFieldsRoundTrip) {
  Json document = ValidSpec();
  document["ResourceConfig"]["InstanceType"] = "ml.m5.xlarge";
  document["ResourceConfig"]["VolumeSizeInGB"] = 30;
  document["ResourceConfig"]["KeepAlivePeriodInSeconds"] = 600;
  document["RoleArn"] = "arn:aws:iam::111122223333:role/train";
  document["EnableNetworkIsolation"] = true;
  Result<JobSpec> spec = ParseJobSpec(document);
  ASSERT_TRUE(spec) << spec.error().message();
  EXPECT_EQ(spec->resources.instance_type, "ml.m5.xlarge");
  EXPECT_EQ(spec->resources.volume_size_gb, 30);
  EXPECT_EQ(spec->resources.keep_alive_period_s, 600);
  EXPECT_EQ(spec->role_arn, "arn:aws:iam::111122223333:role/train");
  EXPECT_TRUE(spec->enable_network_isolation);
  Result<JobSpec> again = ParseJobSpec(JobSpecToJson(*spec));
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(*again, *spec);
}

TEST(JobSpec, WarmPoolFieldsAbsentKeepDigest) {
  Json plain = ValidSpec();
  Json spelled_out = ValidSpec();
  spelled_out["EnableNetworkIsolation"] = false;
  auto first = ParseJobSpec(plain);
  auto second = ParseJobSpec(spelled_out);
  ASSERT_TRUE(first);
  ASSERT_TRUE(second);
  EXPECT_EQ(SpecDigest(*first), SpecDigest(*second));
  Json canonical = JobSpecToJson(*first);
  EXPECT_FALSE(canonical.contains("RoleArn"));
  EXPECT_FALSE(canonical.contains("EnableNetworkIsolation"));
  EXPECT_FALSE(canonical["ResourceConfig"].contains("InstanceType"));
  EXPECT_FALSE(canonical["ResourceConfig"].contains("VolumeSizeInGB"));
}

TEST(JobSpec, RetryStrategyRoundTrips) {
  Json document = ValidSpec();
  document["RetryStrategy"] = {{"MaximumRetryAttempts", 30}};
  Result<JobSpec> spec = ParseJobSpec(document);
  ASSERT_TRUE(spec) << spec.error().message();
  EXPECT_EQ(spec->max_retry_attempts, 30);
  Json canonical = JobSpecToJson(*spec);
  EXPECT_EQ(canonical["RetryStrategy"]["MaximumRetryAttempts"], 30);
  Result<JobSpec> again = ParseJobSpec(canonical);
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(*again, *spec);
}

TEST(JobSpec, RetryStrategyAbsentKeepsDigest) {
  Result<JobSpec> plain = ParseJobSpec(ValidSpec());
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->max_retry_attempts, std::nullopt);
  EXPECT_FALSE(JobSpecToJson(*plain).contains("RetryStrategy"));

  Json with_null = ValidSpec();
  with_null["RetryStrategy"] = nullptr;
  Result<JobSpec> spec = ParseJobSpec(with_null);
  ASSERT_TRUE(spec) << spec.error().message();
  EXPECT_EQ(SpecDigest(*spec), SpecDigest(*plain));
}

TEST(JobSpec, DigestIgnoresSpelledOutDefaults) {
  Json plain = ValidSpec();
  plain.erase("StoppingCondition");
  plain["InputDataConfig"][0].erase("ContentType");
  Json explicit_defaults = ValidSpec();
  explicit_defaults["StoppingCondition"]["MaxRuntimeInSeconds"] = 86400;
  auto first = ParseJobSpec(plain);
  auto second = ParseJobSpec(explicit_defaults);
  ASSERT_TRUE(first);
  ASSERT_TRUE(second);
  EXPECT_EQ(SpecDigest(*first), SpecDigest(*second));
  EXPECT_TRUE(SpecDigest(*first).starts_with("sha256:"));
  EXPECT_EQ(SpecDigest(*first).size(), 7u + 64u);
}

TEST(JobSpec, DigestChangesWithHyperParameters) {
  Json changed = ValidSpec();
  changed["HyperParameters"]["eta"] = "0.2";
  auto first = ParseJobSpec(ValidSpec());
  auto second = ParseJobSpec(changed);
  ASSERT_TRUE(first);
  ASSERT_TRUE(second);
  EXPECT_NE(SpecDigest(*first), SpecDigest(*second));
}

TEST(JobSpec, AcceptsLimitValues) {
  Json document = ValidSpec();
  document["TrainingJobName"] = std::string(63, 'a');
  document["Repository"] = "team.a/flights_2-x";
  document["HyperParameters"] = Json::object();
  for (int i = 0; i < 100; ++i) document["HyperParameters"][fmt::format("k{}", i)] = "v";
  document["HyperParameters"][std::string(256, 'k')] = std::string(2500, 'v');
  document["HyperParameters"].erase("k0");
  document["ResourceConfig"] = {{"CpuCount", 1024}, {"MemoryMiB", 16777216},
                                {"KeepAlivePeriodInSeconds", 86400},
                                {"InstanceType", std::string(64, 'm')},
                                {"VolumeSizeInGB", 16384}};
  document["RoleArn"] = std::string(2048, 'r');
  document["StoppingCondition"]["MaxRuntimeInSeconds"] = 2419200;
  document["Environment"] = {{"A_1", std::string(512, 'x')}};
  Result<JobSpec> spec = ParseJobSpec(document);
  EXPECT_TRUE(spec) << spec.error().message();
}

struct BadCase {
  std::string name;
  std::function<void(Json&)> mutate;
  std::string expected;  // a substring of the message, starting with the field's path
};

std::vector<BadCase> BadCases() {
  return {
      {"not an object", [](Json& s) { s = Json::array(); }, "job spec: expected an object"},
      {"unknown top-level field", [](Json& s) { s["TrainingJobNmae"] = "x"; },
       "TrainingJobNmae: unknown field"},
      {"missing name", [](Json& s) { s.erase("TrainingJobName"); },
       "TrainingJobName: missing required field"},
      {"name wrong type", [](Json& s) { s["TrainingJobName"] = 5; },
       "TrainingJobName: expected a string, got integer"},
      {"name empty", [](Json& s) { s["TrainingJobName"] = ""; },
       "TrainingJobName: must be 1-63 characters, got 0"},
      {"name too long", [](Json& s) { s["TrainingJobName"] = std::string(64, 'a'); },
       "TrainingJobName: must be 1-63 characters, got 64"},
      {"name bad character", [](Json& s) { s["TrainingJobName"] = "a_b"; },
       "TrainingJobName: \"a_b\" contains '_'"},
      {"name leading dash", [](Json& s) { s["TrainingJobName"] = "-ab"; },
       "TrainingJobName: \"-ab\" must start and end with a letter or digit"},
      {"name trailing dash", [](Json& s) { s["TrainingJobName"] = "ab-"; },
       "TrainingJobName: \"ab-\" must start and end"},
      {"missing repository", [](Json& s) { s.erase("Repository"); },
       "Repository: missing required field"},
      {"repository too long", [](Json& s) { s["Repository"] = std::string(129, 'r'); },
       "Repository: must be 1-128 characters, got 129"},
      {"repository bad character", [](Json& s) { s["Repository"] = "a b"; },
       "Repository: \"a b\" contains ' '"},
      {"repository parent segment", [](Json& s) { s["Repository"] = "team/../other"; },
       "Repository: \"team/../other\" has an empty, '.' or '..' segment"},
      {"repository leading slash", [](Json& s) { s["Repository"] = "/team"; },
       "Repository: \"/team\" has an empty"},
      {"repository double slash", [](Json& s) { s["Repository"] = "team//x"; },
       "Repository: \"team//x\" has an empty"},
      {"missing algorithm", [](Json& s) { s.erase("AlgorithmSpecification"); },
       "AlgorithmSpecification: missing required field"},
      {"algorithm wrong type", [](Json& s) { s["AlgorithmSpecification"] = "xgboost"; },
       "AlgorithmSpecification: expected an object, got string"},
      {"unknown algorithm",
       [](Json& s) { s["AlgorithmSpecification"]["AlgorithmName"] = "lightgbm"; },
       "AlgorithmSpecification.AlgorithmName: unknown algorithm \"lightgbm\""},
      {"algorithm and entry point",
       [](Json& s) { s["AlgorithmSpecification"]["EntryPoint"] = {"x"}; },
       "AlgorithmSpecification: set exactly one of AlgorithmName"},
      {"neither algorithm nor entry point",
       [](Json& s) { s["AlgorithmSpecification"] = Json::object(); },
       "AlgorithmSpecification: set exactly one of AlgorithmName"},
      {"unknown algorithm field",
       [](Json& s) { s["AlgorithmSpecification"]["TrainingImage"] = "x"; },
       "AlgorithmSpecification.TrainingImage: unknown field"},
      {"source dir with algorithm name",
       [](Json& s) { s["AlgorithmSpecification"]["SourceDir"] = "/src"; },
       "AlgorithmSpecification.SourceDir: only allowed with EntryPoint"},
      {"entry point without source dir",
       [](Json& s) {
         s = EntryPointSpec();
         s["AlgorithmSpecification"].erase("SourceDir");
       },
       "AlgorithmSpecification.SourceDir: missing required field"},
      {"entry point relative source dir",
       [](Json& s) {
         s = EntryPointSpec();
         s["AlgorithmSpecification"]["SourceDir"] = "code/flights";
       },
       "AlgorithmSpecification.SourceDir: \"code/flights\" is not an absolute path"},
      {"entry point empty",
       [](Json& s) {
         s = EntryPointSpec();
         s["AlgorithmSpecification"]["EntryPoint"] = Json::array();
       },
       "AlgorithmSpecification.EntryPoint: expected a non-empty array of strings"},
      {"entry point not array",
       [](Json& s) {
         s = EntryPointSpec();
         s["AlgorithmSpecification"]["EntryPoint"] = "python3 train.py";
       },
       "AlgorithmSpecification.EntryPoint: expected a non-empty array of strings, got string"},
      {"entry point argument not string",
       [](Json& s) {
         s = EntryPointSpec();
         s["AlgorithmSpecification"]["EntryPoint"] = {"python3", 7};
       },
       "AlgorithmSpecification.EntryPoint[1]: expected a string, got integer"},
      {"entry point empty program",
       [](Json& s) {
         s = EntryPointSpec();
         s["AlgorithmSpecification"]["EntryPoint"] = {""};
       },
       "AlgorithmSpecification.EntryPoint[0]: the program name is empty"},
      {"feature pipeline with entry point",
       [](Json& s) {
         s = EntryPointSpec();
         s["FeaturePipeline"] = Json::object();
       },
       "FeaturePipeline: not allowed with AlgorithmSpecification.EntryPoint"},
      {"feature pipeline missing", [](Json& s) { s.erase("FeaturePipeline"); },
       "FeaturePipeline: missing required field"},
      {"feature pipeline not object", [](Json& s) { s["FeaturePipeline"] = Json::array(); },
       "FeaturePipeline: expected an object, got array"},
      {"101 hyperparameters",
       [](Json& s) {
         for (int i = 0; i < 101; ++i) s["HyperParameters"][fmt::format("p{}", i)] = "1";
         s["HyperParameters"].erase("num_round");
         s["HyperParameters"].erase("eta");
       },
       "HyperParameters: 101 entries, at most 100"},
      {"hyperparameter not string", [](Json& s) { s["HyperParameters"]["num_round"] = 200; },
       "HyperParameters.num_round: expected a string, got integer"},
      {"hyperparameters not object", [](Json& s) { s["HyperParameters"] = "x"; },
       "HyperParameters: expected an object, got string"},
      {"hyperparameter name too long",
       [](Json& s) { s["HyperParameters"][std::string(257, 'k')] = "1"; },
       "HyperParameters: name \"kkkk"},
      {"hyperparameter empty name", [](Json& s) { s["HyperParameters"][""] = "1"; },
       "HyperParameters: empty name"},
      {"hyperparameter value too long",
       [](Json& s) { s["HyperParameters"]["eta"] = std::string(2501, '1'); },
       "HyperParameters.eta: value longer than 2500 characters"},
      {"missing input config", [](Json& s) { s.erase("InputDataConfig"); },
       "InputDataConfig: missing required field"},
      {"input config not array", [](Json& s) { s["InputDataConfig"] = Json::object(); },
       "InputDataConfig: expected an array, got object"},
      {"no channels", [](Json& s) { s["InputDataConfig"] = Json::array(); },
       "InputDataConfig: 0 channels, expected 1-20"},
      {"21 channels",
       [](Json& s) {
         Json channel = s["InputDataConfig"][0];
         s["InputDataConfig"] = Json::array();
         for (int i = 0; i < 21; ++i) {
           channel["ChannelName"] = fmt::format("c{}", i);
           s["InputDataConfig"].push_back(channel);
         }
       },
       "InputDataConfig: 21 channels, expected 1-20"},
      {"duplicate channel",
       [](Json& s) { s["InputDataConfig"][1]["ChannelName"] = "train"; },
       "InputDataConfig[1].ChannelName: duplicate channel name \"train\""},
      {"channel not object", [](Json& s) { s["InputDataConfig"][1] = "train"; },
       "InputDataConfig[1]: expected an object, got string"},
      {"channel name missing", [](Json& s) { s["InputDataConfig"][0].erase("ChannelName"); },
       "InputDataConfig[0].ChannelName: missing required field"},
      {"channel name bad character",
       [](Json& s) { s["InputDataConfig"][0]["ChannelName"] = "tr/ain"; },
       "InputDataConfig[0].ChannelName: \"tr/ain\" contains '/'"},
      {"channel name too long",
       [](Json& s) { s["InputDataConfig"][0]["ChannelName"] = std::string(65, 'c'); },
       "InputDataConfig[0].ChannelName: must be 1-64 characters, got 65"},
      {"channel relative path",
       [](Json& s) {
         s["InputDataConfig"][1]["DataSource"]["FileDataSource"]["Path"] = "inputs/validation";
       },
       "InputDataConfig[1].DataSource.FileDataSource.Path: \"inputs/validation\" is not an "
       "absolute path"},
      {"channel path missing",
       [](Json& s) { s["InputDataConfig"][0]["DataSource"]["FileDataSource"].erase("Path"); },
       "InputDataConfig[0].DataSource.FileDataSource.Path: missing required field"},
      {"channel S3 source",
       [](Json& s) { s["InputDataConfig"][0]["DataSource"]["S3DataSource"] = Json::object(); },
       "InputDataConfig[0].DataSource.S3DataSource: unknown field"},
      {"channel data source missing",
       [](Json& s) { s["InputDataConfig"][0].erase("DataSource"); },
       "InputDataConfig[0].DataSource: missing required field"},
      {"channel content type empty",
       [](Json& s) { s["InputDataConfig"][0]["ContentType"] = ""; },
       "InputDataConfig[0].ContentType: must be 1-256 characters"},
      {"channel unknown field",
       [](Json& s) { s["InputDataConfig"][0]["InputMode"] = "File"; },
       "InputDataConfig[0].InputMode: unknown field"},
      {"missing output config", [](Json& s) { s.erase("OutputDataConfig"); },
       "OutputDataConfig: missing required field"},
      {"missing model name", [](Json& s) { s["OutputDataConfig"] = Json::object(); },
       "OutputDataConfig.ModelName: missing required field"},
      {"model name bad character",
       [](Json& s) { s["OutputDataConfig"]["ModelName"] = "flights.delay"; },
       "OutputDataConfig.ModelName: \"flights.delay\" contains '.'"},
      {"output S3 path",
       [](Json& s) { s["OutputDataConfig"]["S3OutputPath"] = "s3://b/k"; },
       "OutputDataConfig.S3OutputPath: unknown field"},
      {"resource config wrong type", [](Json& s) { s["ResourceConfig"] = "big"; },
       "ResourceConfig: expected an object, got string"},
      {"two instances", [](Json& s) { s["ResourceConfig"]["InstanceCount"] = 2; },
       "ResourceConfig.InstanceCount: 2 is not supported"},
      {"zero cpus", [](Json& s) { s["ResourceConfig"]["CpuCount"] = 0; },
       "ResourceConfig.CpuCount: 0 is out of range, expected 1-1024"},
      {"too many cpus", [](Json& s) { s["ResourceConfig"]["CpuCount"] = 1025; },
       "ResourceConfig.CpuCount: 1025 is out of range"},
      {"cpus not integer", [](Json& s) { s["ResourceConfig"]["CpuCount"] = 1.5; },
       "ResourceConfig.CpuCount: expected an integer, got number"},
      {"zero memory", [](Json& s) { s["ResourceConfig"]["MemoryMiB"] = 0; },
       "ResourceConfig.MemoryMiB: 0 is out of range, expected 1-16777216"},
      {"keep alive too long",
       [](Json& s) { s["ResourceConfig"]["KeepAlivePeriodInSeconds"] = 86401; },
       "ResourceConfig.KeepAlivePeriodInSeconds: 86401 is out of range, expected 0-86400"},
      {"keep alive negative",
       [](Json& s) { s["ResourceConfig"]["KeepAlivePeriodInSeconds"] = -1; },
       "ResourceConfig.KeepAlivePeriodInSeconds: -1 is out of range"},
      {"resource unknown field", [](Json& s) { s["ResourceConfig"]["VolumeKmsKeyId"] = "k"; },
       "ResourceConfig.VolumeKmsKeyId: unknown field"},
      {"instance type bad character",
       [](Json& s) { s["ResourceConfig"]["InstanceType"] = "ml m5"; },
       "ResourceConfig.InstanceType: \"ml m5\" is not an instance type"},
      {"instance type empty", [](Json& s) { s["ResourceConfig"]["InstanceType"] = ""; },
       "ResourceConfig.InstanceType: \"\" is not an instance type"},
      {"zero volume size", [](Json& s) { s["ResourceConfig"]["VolumeSizeInGB"] = 0; },
       "ResourceConfig.VolumeSizeInGB: 0 is out of range, expected 1-16384"},
      {"role arn empty", [](Json& s) { s["RoleArn"] = ""; },
       "RoleArn: must be 1-2048 characters, got 0"},
      {"role arn wrong type", [](Json& s) { s["RoleArn"] = 7; },
       "RoleArn: expected a string, got integer"},
      {"network isolation wrong type", [](Json& s) { s["EnableNetworkIsolation"] = "yes"; },
       "EnableNetworkIsolation: expected a boolean, got string"},
      {"zero max runtime",
       [](Json& s) { s["StoppingCondition"]["MaxRuntimeInSeconds"] = 0; },
       "StoppingCondition.MaxRuntimeInSeconds: 0 is out of range, expected 1-2419200"},
      {"max runtime too long",
       [](Json& s) { s["StoppingCondition"]["MaxRuntimeInSeconds"] = 2419201; },
       "StoppingCondition.MaxRuntimeInSeconds: 2419201 is out of range"},
      {"stopping unknown field",
       [](Json& s) { s["StoppingCondition"]["MaxWaitTimeInSeconds"] = 10; },
       "StoppingCondition.MaxWaitTimeInSeconds: unknown field"},
      {"environment SM_ name", [](Json& s) { s["Environment"]["SM_MODEL_DIR"] = "/x"; },
       "Environment.SM_MODEL_DIR: names starting with SM_ or TANDEM_ are reserved"},
      {"environment TANDEM_ name", [](Json& s) { s["Environment"]["TANDEM_JOB_TOKEN"] = "x"; },
       "Environment.TANDEM_JOB_TOKEN: names starting with SM_ or TANDEM_ are reserved"},
      {"environment value too long",
       [](Json& s) { s["Environment"]["LOG_LEVEL"] = std::string(513, 'x'); },
       "Environment.LOG_LEVEL: value longer than 512 characters"},
      {"environment not string", [](Json& s) { s["Environment"]["WORKERS"] = 4; },
       "Environment.WORKERS: expected a string, got integer"},
      {"environment bad name", [](Json& s) { s["Environment"]["A=B"] = "x"; },
       "Environment: \"A=B\" is not a variable name"},
      {"101 environment entries",
       [](Json& s) {
         for (int i = 0; i < 101; ++i) s["Environment"][fmt::format("V{}", i)] = "1";
         s["Environment"].erase("LOG_LEVEL");
       },
       "Environment: 101 entries, at most 100"},
      {"backend wrong type", [](Json& s) { s["Backend"] = 3; },
       "Backend: expected a string, got integer"},
      {"backend bad character", [](Json& s) { s["Backend"] = "slurm_a"; },
       "Backend: \"slurm_a\" contains '_'"},
      {"zero retry attempts", [](Json& s) { s["RetryStrategy"]["MaximumRetryAttempts"] = 0; },
       "RetryStrategy.MaximumRetryAttempts: 0 is out of range, expected 1-30"},
      {"31 retry attempts", [](Json& s) { s["RetryStrategy"]["MaximumRetryAttempts"] = 31; },
       "RetryStrategy.MaximumRetryAttempts: 31 is out of range, expected 1-30"},
      {"fractional retry attempts",
       [](Json& s) { s["RetryStrategy"]["MaximumRetryAttempts"] = 1.5; },
       "RetryStrategy.MaximumRetryAttempts: expected an integer, got number"},
      {"string retry attempts",
       [](Json& s) { s["RetryStrategy"]["MaximumRetryAttempts"] = "3"; },
       "RetryStrategy.MaximumRetryAttempts: expected an integer, got string"},
      {"retry strategy unknown field",
       [](Json& s) {
         s["RetryStrategy"] = {{"MaximumRetryAttempts", 2}, {"RetryOnUserError", true}};
       },
       "RetryStrategy.RetryOnUserError: unknown field"},
      {"retry strategy without attempts", [](Json& s) { s["RetryStrategy"] = Json::object(); },
       "RetryStrategy.MaximumRetryAttempts: missing required field"},
      {"retry strategy not object", [](Json& s) { s["RetryStrategy"] = 3; },
       "RetryStrategy: expected an object, got integer"},
  };
}

TEST(JobSpec, RejectsEachBadInput) {
  for (const BadCase& bad : BadCases()) {
    SCOPED_TRACE(bad.name);
    Json document = ValidSpec();
    bad.mutate(document);
    Result<JobSpec> spec = ParseJobSpec(document);
    ASSERT_FALSE(spec);
    EXPECT_EQ(spec.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(spec.error().message(), HasSubstr(bad.expected));
  }
}

TEST(JobSpec, ValueLengthsCountCharactersNotBytes) {
  Json document = ValidSpec();
  std::string two_byte_chars;
  for (int i = 0; i < 512; ++i) two_byte_chars += "\xc3\xa9";  // é
  document["Environment"]["GREETING"] = two_byte_chars;
  EXPECT_TRUE(ParseJobSpec(document));
}

}  // namespace
}  // namespace tandem::jobs
