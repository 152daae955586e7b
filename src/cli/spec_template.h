// Client-side preparation of a job spec before `tandem job submit` sends it:
// ${VAR} expansion from the environment and resolution of relative paths
// against the spec file's directory. Pure functions over JSON; thread-safe.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/json_util.h"
#include "common/status.h"

namespace tandem::cli {

// Returns the value of an environment variable, or std::nullopt when unset.
using VariableLookup = std::function<std::optional<std::string>(std::string_view name)>;

// Returns a lookup over the process environment (getenv).
VariableLookup ProcessEnvironment();

// Replaces every "${NAME}" in every string value of `spec` (object keys are
// left alone) with lookup(NAME). NAME is [A-Za-z_][A-Za-z0-9_]*; "$$" stands
// for a literal '$'; a '$' followed by anything else is kept as it is.
// Errors (kInvalidArgument, naming the field as "InputDataConfig[0].DataSource..."):
// an undefined variable, a "${" without its closing '}', an invalid name.
Status ExpandVariables(Json& spec, const VariableLookup& lookup);

// Makes each relative InputDataConfig[i].DataSource.FileDataSource.Path and
// AlgorithmSpecification.SourceDir absolute by prefixing `base_dir` (which
// should itself be absolute), normalized lexically. Fields that are absent or
// not strings are left for the server to reject.
void ResolveRelativePaths(Json& spec, const std::filesystem::path& base_dir);

// Reads the spec file at `file`, expands variables from `lookup`, resolves
// relative paths against the file's directory, and sets TrainingJobName to
// `name_override` when that is not empty. The server validates the rest.
// Errors: those of ReadFile; kInvalidArgument for invalid JSON (naming the
// file and byte), a document that is not an object, or a failed expansion.
Result<Json> LoadJobSpec(const std::filesystem::path& file, const std::string& name_override,
                         const VariableLookup& lookup);

}  // namespace tandem::cli
