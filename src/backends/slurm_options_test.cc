#include "backends/slurm_options.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <string>

namespace tandem::backends {
namespace {

constexpr std::string_view kWhere = "backends.slurm";

Error ParseError(std::string_view text) {
  Result<SlurmOptions> options = ParseSlurmOptions(Json::parse(text), kWhere);
  EXPECT_FALSE(options) << text;
  return options ? Error(ErrorCode::kInternal, "parsed") : options.error();
}

TEST(ParseSlurmOptions, Defaults) {
  Result<SlurmOptions> options = ParseSlurmOptions(Json::object(), kWhere);
  ASSERT_TRUE(options) << options.error().message();
  EXPECT_EQ(options->partition, "");
  EXPECT_EQ(options->sbatch_command, "sbatch");
  EXPECT_EQ(options->command_timeout, std::chrono::seconds(30));
  EXPECT_EQ(options->time_limit_margin, std::chrono::seconds(300));
  EXPECT_TRUE(options->extra_sbatch_args.empty());
}

TEST(ParseSlurmOptions, EveryKey) {
  Result<SlurmOptions> options = ParseSlurmOptions(Json::parse(R"({
    "Partition": "debug", "Account": "ml", "TandemBinary": "/shared/bin/tandem",
    "SlurmConf": "/etc/slurm/slurm.conf", "SbatchCommand": "/usr/bin/sbatch",
    "ScancelCommand": "scancel", "ScontrolCommand": "scontrol", "SqueueCommand": "squeue",
    "CommandTimeoutSeconds": 5, "TimeLimitMarginSeconds": 0, "RuntimeStopGraceSeconds": 10,
    "ExtraSbatchArgs": ["--qos=high", "--constraint=avx2"]})"),
                                                   kWhere);
  ASSERT_TRUE(options) << options.error().message();
  EXPECT_EQ(options->partition, "debug");
  EXPECT_EQ(options->account, "ml");
  EXPECT_EQ(options->tandem_binary, "/shared/bin/tandem");
  EXPECT_EQ(options->slurm_conf, "/etc/slurm/slurm.conf");
  EXPECT_EQ(options->sbatch_command, "/usr/bin/sbatch");
  EXPECT_EQ(options->command_timeout, std::chrono::seconds(5));
  EXPECT_EQ(options->time_limit_margin, std::chrono::seconds(0));
  EXPECT_EQ(options->runtime_stop_grace, std::chrono::seconds(10));
  EXPECT_EQ(options->extra_sbatch_args,
            (std::vector<std::string>{"--qos=high", "--constraint=avx2"}));
}

TEST(ParseSlurmOptions, RejectsUnknownKey) {
  Error error = ParseError(R"({"Partiton": "debug"})");
  EXPECT_EQ(error.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(error.message().find("backends.slurm"), std::string::npos) << error.message();
  EXPECT_NE(error.message().find("Partiton"), std::string::npos) << error.message();
}

TEST(ParseSlurmOptions, RejectsNonObject) {
  Error error = ParseError(R"(["debug"])");
  EXPECT_EQ(error.code(), ErrorCode::kInvalidArgument);
}

TEST(ParseSlurmOptions, RejectsWrongTypes) {
  EXPECT_NE(ParseError(R"({"Partition": 3})").message().find("backends.slurm.Partition"),
            std::string::npos);
  EXPECT_NE(ParseError(R"({"CommandTimeoutSeconds": "30"})")
                .message()
                .find("backends.slurm.CommandTimeoutSeconds"),
            std::string::npos);
  EXPECT_NE(ParseError(R"({"ExtraSbatchArgs": "--qos=high"})")
                .message()
                .find("expected an array of strings"),
            std::string::npos);
  EXPECT_NE(ParseError(R"({"ExtraSbatchArgs": [1]})").message().find("ExtraSbatchArgs[0]"),
            std::string::npos);
}

TEST(ParseSlurmOptions, RejectsBadNames) {
  Error error = ParseError(R"({"Partition": "a b"})");
  EXPECT_NE(error.message().find("backends.slurm.Partition"), std::string::npos) << error.message();
  EXPECT_NE(ParseError(R"({"Account": "--all"})").message().find("backends.slurm.Account"),
            std::string::npos);
}

TEST(ParseSlurmOptions, RejectsRelativePaths) {
  Error error = ParseError(R"({"TandemBinary": "bin/tandem"})");
  EXPECT_NE(error.message().find("backends.slurm.TandemBinary: expected an absolute path"),
            std::string::npos)
      << error.message();
  EXPECT_NE(ParseError(R"({"SlurmConf": "slurm.conf"})").message().find("SlurmConf"),
            std::string::npos);
}

TEST(ParseSlurmOptions, RejectsOutOfRangeSeconds) {
  Error error = ParseError(R"({"CommandTimeoutSeconds": 0})");
  EXPECT_NE(error.message().find("expected 1 to 600 seconds, got 0"), std::string::npos)
      << error.message();
  EXPECT_FALSE(ParseSlurmOptions(Json::parse(R"({"TimeLimitMarginSeconds": -1})"), kWhere));
}

TEST(ParseSlurmOptions, RejectsEmptyCommand) {
  Error error = ParseError(R"({"SbatchCommand": ""})");
  EXPECT_NE(error.message().find("backends.slurm.SbatchCommand"), std::string::npos)
      << error.message();
}

TEST(ParseSlurmOptions, RejectsManagedSbatchOptions) {
  for (std::string_view arg : {"--time=10", "--export=ALL", "-J", "--mem=1G", "--output=x"}) {
    Error error = ParseError(fmt::format(R"({{"ExtraSbatchArgs": ["{}"]}})", arg));
    EXPECT_NE(error.message().find("is set by the Slurm backend"), std::string::npos)
        << error.message();
  }
  EXPECT_NE(ParseError(R"({"ExtraSbatchArgs": ["high"]})").message().find("starting with '-'"),
            std::string::npos);
}

}  // namespace
}  // namespace tandem::backends
