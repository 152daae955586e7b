// Typed access to JSON documents from outside (API bodies, job specs, config
// files, inference requests) with errors that name the field at fault.
//
// `path` arguments are the dotted location of the enclosing object as a user
// would write it ("ResourceConfig", "InputDataConfig[0]"); errors read
// "ResourceConfig.InstanceCount: expected an integer, got string".
// All errors are ErrorCode::kInvalidArgument.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace tandem {

using Json = nlohmann::json;

// Parses `text`; `what` names the document in the error ("request body").
// Rejects empty input, trailing garbage and nesting deeper than 64 levels.
Result<Json> ParseJson(std::string_view text, std::string_view what);

// Serializes compactly; invalid UTF-8 in strings is replaced, never thrown on.
std::string DumpJson(const Json& value);

// Returns "path.key" (or "key" when path is empty).
std::string JoinPath(std::string_view path, std::string_view key);

// Returns the JSON type name used in messages: "string", "integer", "object", ...
std::string_view JsonTypeName(const Json& value);

// Fails unless `value` is an object.
Status RequireObject(const Json& value, std::string_view path);

// Fails when `object` has a key not in `allowed`, naming the first such key.
Status RejectUnknownFields(const Json& object, std::string_view path,
                           std::initializer_list<std::string_view> allowed);

// Required fields: missing or mistyped is an error.
Result<std::string> GetString(const Json& object, std::string_view key, std::string_view path);
Result<int64_t> GetInt(const Json& object, std::string_view key, std::string_view path);
Result<double> GetNumber(const Json& object, std::string_view key, std::string_view path);
Result<bool> GetBool(const Json& object, std::string_view key, std::string_view path);

// Optional fields: absent or null gives std::nullopt; present but mistyped is an error.
Result<std::optional<std::string>> GetOptionalString(const Json& object, std::string_view key,
                                                     std::string_view path);
Result<std::optional<int64_t>> GetOptionalInt(const Json& object, std::string_view key,
                                              std::string_view path);
Result<std::optional<double>> GetOptionalNumber(const Json& object, std::string_view key,
                                                std::string_view path);
Result<std::optional<bool>> GetOptionalBool(const Json& object, std::string_view key,
                                            std::string_view path);

}  // namespace tandem
