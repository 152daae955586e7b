#include "cli/spec_template.h"

#include <fmt/format.h>

#include <cstdlib>

#include "common/file_util.h"

namespace tandem::cli {
namespace {

bool IsNameStart(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }

// Expands one string value; `field` names it in errors.
Result<std::string> ExpandString(std::string_view text, std::string_view field,
                                 const VariableLookup& lookup) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    bool dollar_brace = text[i] == '$' && i + 1 < text.size() && text[i + 1] == '{';
    bool dollar_dollar = text[i] == '$' && i + 1 < text.size() && text[i + 1] == '$';
    if (dollar_dollar) {
      out.push_back('$');
      ++i;
      continue;
    }
    if (!dollar_brace) {
      out.push_back(text[i]);
      continue;
    }
    size_t close = text.find('}', i + 2);
    if (close == std::string_view::npos) {
      return InvalidArgument(
          fmt::format("{}: \"${{\" at character {} has no closing '}}'", field, i));
    }
    std::string_view name = text.substr(i + 2, close - i - 2);
    bool valid = !name.empty() && IsNameStart(name[0]);
    for (char c : name) valid = valid && IsNameChar(c);
    if (!valid) {
      return InvalidArgument(fmt::format(
          "{}: \"${{{}}}\" is not a valid variable name, expected letters, digits and '_'",
          field, name));
    }
    std::optional<std::string> value = lookup(name);
    if (!value) {
      return InvalidArgument(fmt::format(
          "{}: environment variable {} is not defined; export it or edit the spec", field, name));
    }
    out.append(*value);
    i = close;
  }
  return out;
}

Status ExpandValue(Json& value, const std::string& field, const VariableLookup& lookup) {
  if (value.is_string()) {
    TANDEM_ASSIGN_OR_RETURN(std::string expanded,
                            ExpandString(value.get_ref<const std::string&>(), field, lookup));
    value = std::move(expanded);
  } else if (value.is_object()) {
    for (auto& [key, child] : value.items()) {
      TANDEM_RETURN_IF_ERROR(ExpandValue(child, JoinPath(field, key), lookup));
    }
  } else if (value.is_array()) {
    for (size_t i = 0; i < value.size(); ++i) {
      TANDEM_RETURN_IF_ERROR(ExpandValue(value[i], fmt::format("{}[{}]", field, i), lookup));
    }
  }
  return Ok();
}

// Replaces the string at `value` with base_dir/value when it is relative.
void ResolveOne(Json* value, const std::filesystem::path& base_dir) {
  if (value == nullptr || !value->is_string()) return;
  std::filesystem::path path(value->get<std::string>());
  if (path.empty() || path.is_absolute()) return;
  *value = (base_dir / path).lexically_normal().string();
}

Json* FindChild(Json* object, std::string_view key) {
  if (object == nullptr || !object->is_object()) return nullptr;
  auto it = object->find(key);
  return it == object->end() ? nullptr : &*it;
}

}  // namespace

VariableLookup ProcessEnvironment() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

Status ExpandVariables(Json& spec, const VariableLookup& lookup) {
  return ExpandValue(spec, "", lookup);
}

void ResolveRelativePaths(Json& spec, const std::filesystem::path& base_dir) {
  Json* channels = FindChild(&spec, "InputDataConfig");
  if (channels != nullptr && channels->is_array()) {
    for (Json& channel : *channels) {
      Json* file_source = FindChild(FindChild(&channel, "DataSource"), "FileDataSource");
      ResolveOne(FindChild(file_source, "Path"), base_dir);
    }
  }
  ResolveOne(FindChild(FindChild(&spec, "AlgorithmSpecification"), "SourceDir"), base_dir);
}

Result<Json> LoadJobSpec(const std::filesystem::path& file, const std::string& name_override,
                         const VariableLookup& lookup) {
  TANDEM_ASSIGN_OR_RETURN(std::string text, ReadFile(file));
  TANDEM_ASSIGN_OR_RETURN(Json spec, ParseJson(text, fmt::format("job spec {}", file.string())));
  if (!spec.is_object()) {
    return InvalidArgument(fmt::format("job spec {}: expected a JSON object, got {}",
                                       file.string(), JsonTypeName(spec)));
  }
  TANDEM_RETURN_IF_ERROR_CTX(ExpandVariables(spec, lookup),
                             fmt::format("job spec {}", file.string()));
  std::error_code error;
  std::filesystem::path absolute = std::filesystem::absolute(file, error);
  ResolveRelativePaths(spec, (error ? file : absolute).parent_path());
  if (!name_override.empty()) spec["TrainingJobName"] = name_override;
  return spec;
}

}  // namespace tandem::cli
