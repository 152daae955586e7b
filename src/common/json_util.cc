#include "common/json_util.h"

#include <fmt/format.h>

namespace tandem {
namespace {

constexpr int kMaxDepth = 64;

// Returns the nesting depth of `value`, stopping early past `limit`.
int DepthOf(const Json& value, int limit) {
  if (limit < 0 || !value.is_structured()) return 0;
  int deepest = 0;
  for (const auto& child : value) {
    deepest = std::max(deepest, DepthOf(child, limit - 1));
    if (deepest > limit) break;
  }
  return deepest + 1;
}

std::unexpected<Error> TypeError(const Json& object, std::string_view key, std::string_view path,
                                 std::string_view expected) {
  return InvalidArgument(fmt::format("{}: expected {}, got {}", JoinPath(path, key), expected,
                                     JsonTypeName(object.at(std::string(key)))));
}

const Json* Find(const Json& object, std::string_view key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

}  // namespace

Result<Json> ParseJson(std::string_view text, std::string_view what) {
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return InvalidArgument(fmt::format("{}: empty, expected a JSON document", what));
  }
  Json value;
  try {
    value = Json::parse(text.begin(), text.end());
  } catch (const Json::parse_error& e) {
    return InvalidArgument(fmt::format("{}: invalid JSON at byte {}", what, e.byte));
  } catch (const Json::out_of_range&) {
    // nlohmann raises this for numbers beyond double's range, such as 1e400.
    return InvalidArgument(fmt::format("{}: a number is outside the range of a double", what));
  }
  if (DepthOf(value, kMaxDepth) > kMaxDepth) {
    return InvalidArgument(fmt::format("{}: JSON nested deeper than {} levels", what, kMaxDepth));
  }
  return value;
}

std::string DumpJson(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string JoinPath(std::string_view path, std::string_view key) {
  if (path.empty()) return std::string(key);
  return fmt::format("{}.{}", path, key);
}

std::string_view JsonTypeName(const Json& value) {
  switch (value.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::object: return "object";
    case Json::value_t::array: return "array";
    case Json::value_t::string: return "string";
    case Json::value_t::boolean: return "boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: return "integer";
    case Json::value_t::number_float: return "number";
    default: return "unknown";
  }
}

Status RequireObject(const Json& value, std::string_view path) {
  if (value.is_object()) return Ok();
  return InvalidArgument(fmt::format("{}: expected an object, got {}",
                                     path.empty() ? "document" : path, JsonTypeName(value)));
}

Status RejectUnknownFields(const Json& object, std::string_view path,
                           std::initializer_list<std::string_view> allowed) {
  for (const auto& [key, unused] : object.items()) {
    bool known = false;
    for (auto name : allowed) known = known || name == key;
    if (!known) return InvalidArgument(fmt::format("{}: unknown field", JoinPath(path, key)));
  }
  return Ok();
}

Result<std::optional<std::string>> GetOptionalString(const Json& object, std::string_view key,
                                                     std::string_view path) {
  const Json* field = Find(object, key);
  if (field == nullptr) return std::nullopt;
  if (!field->is_string()) return TypeError(object, key, path, "a string");
  return field->get<std::string>();
}

Result<std::optional<int64_t>> GetOptionalInt(const Json& object, std::string_view key,
                                              std::string_view path) {
  const Json* field = Find(object, key);
  if (field == nullptr) return std::nullopt;
  // nlohmann reports unsigned numbers as integers too, so check unsigned first.
  if (field->is_number_unsigned()) {
    uint64_t value = field->get<uint64_t>();
    if (value > static_cast<uint64_t>(INT64_MAX)) {
      return InvalidArgument(fmt::format("{}: integer out of range", JoinPath(path, key)));
    }
    return static_cast<int64_t>(value);
  }
  if (field->is_number_integer()) return field->get<int64_t>();
  return TypeError(object, key, path, "an integer");
}

Result<std::optional<double>> GetOptionalNumber(const Json& object, std::string_view key,
                                                std::string_view path) {
  const Json* field = Find(object, key);
  if (field == nullptr) return std::nullopt;
  if (!field->is_number()) return TypeError(object, key, path, "a number");
  return field->get<double>();
}

Result<std::optional<bool>> GetOptionalBool(const Json& object, std::string_view key,
                                            std::string_view path) {
  const Json* field = Find(object, key);
  if (field == nullptr) return std::nullopt;
  if (!field->is_boolean()) return TypeError(object, key, path, "a boolean");
  return field->get<bool>();
}

namespace {

template <typename T>
Result<T> Required(Result<std::optional<T>> value, std::string_view key, std::string_view path) {
  if (!value) return std::unexpected(value.error());
  if (!value->has_value()) {
    return InvalidArgument(fmt::format("{}: missing required field", JoinPath(path, key)));
  }
  return std::move(**value);
}

}  // namespace

Result<std::string> GetString(const Json& object, std::string_view key, std::string_view path) {
  return Required(GetOptionalString(object, key, path), key, path);
}
Result<int64_t> GetInt(const Json& object, std::string_view key, std::string_view path) {
  return Required(GetOptionalInt(object, key, path), key, path);
}
Result<double> GetNumber(const Json& object, std::string_view key, std::string_view path) {
  return Required(GetOptionalNumber(object, key, path), key, path);
}
Result<bool> GetBool(const Json& object, std::string_view key, std::string_view path) {
  return Required(GetOptionalBool(object, key, path), key, path);
}

}  // namespace tandem
