#include "model/feature_pipeline.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <limits>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <fmt/format.h>

namespace tandem::model {
namespace {

// ---------------------------------------------------------------------------
// Names

constexpr std::pair<FeatureKind, std::string_view> kKindNames[] = {
    {FeatureKind::kNumeric, "numeric"},
    {FeatureKind::kDatetime, "datetime"},
    {FeatureKind::kCategorical, "categorical"},
};

constexpr std::pair<DatetimePart, std::string_view> kPartNames[] = {
    {DatetimePart::kYear, "year"},
    {DatetimePart::kMonth, "month"},
    {DatetimePart::kDayOfMonth, "day_of_month"},
    {DatetimePart::kDayOfWeek, "day_of_week"},
    {DatetimePart::kHour, "hour"},
    {DatetimePart::kMinuteOfDay, "minute_of_day"},
};

std::optional<FeatureKind> KindFromName(std::string_view name) {
  for (const auto& [kind, kind_name] : kKindNames) {
    if (kind_name == name) return kind;
  }
  return std::nullopt;
}

std::optional<DatetimePart> PartFromName(std::string_view name) {
  for (const auto& [part, part_name] : kPartNames) {
    if (part_name == name) return part;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// Datetime formats

enum class TokenType { kYear, kMonth, kDay, kHour, kMinute, kSecond, kLiteral, kSpaces };

struct FormatToken {
  TokenType type;
  char literal = 0;
};

using CompiledFormat = std::vector<FormatToken>;

// Compiles a strptime-style format into tokens. Errors name the directive.
Result<CompiledFormat> CompileFormat(std::string_view format, std::string_view path) {
  CompiledFormat tokens;
  for (size_t i = 0; i < format.size(); ++i) {
    char c = format[i];
    if (c == ' ') {
      tokens.push_back({TokenType::kSpaces});
      continue;
    }
    if (c != '%') {
      tokens.push_back({TokenType::kLiteral, c});
      continue;
    }
    if (i + 1 == format.size()) {
      return InvalidArgument(fmt::format("{}: format \"{}\" ends with a lone '%'", path, format));
    }
    char directive = format[++i];
    switch (directive) {
      case 'Y': tokens.push_back({TokenType::kYear}); break;
      case 'm': tokens.push_back({TokenType::kMonth}); break;
      case 'd': tokens.push_back({TokenType::kDay}); break;
      case 'H': tokens.push_back({TokenType::kHour}); break;
      case 'M': tokens.push_back({TokenType::kMinute}); break;
      case 'S': tokens.push_back({TokenType::kSecond}); break;
      case '%': tokens.push_back({TokenType::kLiteral, '%'}); break;
      case 'F':
        tokens.insert(tokens.end(), {{TokenType::kYear}, {TokenType::kLiteral, '-'},
                                     {TokenType::kMonth}, {TokenType::kLiteral, '-'},
                                     {TokenType::kDay}});
        break;
      case 'T':
        tokens.insert(tokens.end(), {{TokenType::kHour}, {TokenType::kLiteral, ':'},
                                     {TokenType::kMinute}, {TokenType::kLiteral, ':'},
                                     {TokenType::kSecond}});
        break;
      default:
        return InvalidArgument(fmt::format(
            "{}: unsupported directive %{} in format \"{}\"; supported: %Y %m %d %H %M %S %F %T %%",
            path, directive, format));
    }
  }
  return tokens;
}

struct CivilTime {
  int year = 1970;
  int month = 1;
  int day = 1;
  int hour = 0;
  int minute = 0;
  int second = 0;
};

struct NumberRule {
  int max_digits;
  int min_value;
  int max_value;
  std::string_view name;
};

NumberRule RuleFor(TokenType type) {
  switch (type) {
    case TokenType::kYear: return {4, 0, 9999, "year"};
    case TokenType::kMonth: return {2, 1, 12, "month"};
    case TokenType::kDay: return {2, 1, 31, "day"};
    case TokenType::kHour: return {2, 0, 23, "hour"};
    case TokenType::kMinute: return {2, 0, 59, "minute"};
    default: return {2, 0, 60, "second"};
  }
}

int* FieldFor(TokenType type, CivilTime& time) {
  switch (type) {
    case TokenType::kYear: return &time.year;
    case TokenType::kMonth: return &time.month;
    case TokenType::kDay: return &time.day;
    case TokenType::kHour: return &time.hour;
    case TokenType::kMinute: return &time.minute;
    default: return &time.second;
  }
}

// Matches `text` against `format`. On failure returns the reason.
std::optional<std::string> ParseCivilTime(const CompiledFormat& format, std::string_view text,
                                          CivilTime& time) {
  size_t pos = 0;
  for (const FormatToken& token : format) {
    if (token.type == TokenType::kSpaces) {
      while (pos < text.size() && text[pos] == ' ') ++pos;
      continue;
    }
    if (token.type == TokenType::kLiteral) {
      if (pos >= text.size() || text[pos] != token.literal) {
        return fmt::format("expected '{}' at position {}", token.literal, pos + 1);
      }
      ++pos;
      continue;
    }
    NumberRule rule = RuleFor(token.type);
    int value = 0;
    int digits = 0;
    while (pos < text.size() && digits < rule.max_digits && text[pos] >= '0' && text[pos] <= '9') {
      value = value * 10 + (text[pos] - '0');
      ++pos;
      ++digits;
    }
    if (digits == 0) return fmt::format("expected the {} at position {}", rule.name, pos + 1);
    if (value < rule.min_value || value > rule.max_value) {
      return fmt::format("{} {} is out of range {}-{}", rule.name, value, rule.min_value,
                         rule.max_value);
    }
    *FieldFor(token.type, time) = value;
  }
  if (pos != text.size()) return fmt::format("unexpected text at position {}", pos + 1);
  const std::chrono::year_month_day date{std::chrono::year(time.year),
                                         std::chrono::month(static_cast<unsigned>(time.month)),
                                         std::chrono::day(static_cast<unsigned>(time.day))};
  if (!date.ok()) {
    return fmt::format("day {} does not exist in {:04}-{:02}", time.day, time.year, time.month);
  }
  return std::nullopt;
}

// Monday = 0 ... Sunday = 6, from the proleptic Gregorian calendar.
int DayOfWeek(const CivilTime& time) {
  const std::chrono::year_month_day date{std::chrono::year(time.year),
                                         std::chrono::month(static_cast<unsigned>(time.month)),
                                         std::chrono::day(static_cast<unsigned>(time.day))};
  return static_cast<int>(std::chrono::weekday(std::chrono::sys_days(date)).iso_encoding()) - 1;
}

float PartValue(DatetimePart part, const CivilTime& time) {
  switch (part) {
    case DatetimePart::kYear: return static_cast<float>(time.year);
    case DatetimePart::kMonth: return static_cast<float>(time.month);
    case DatetimePart::kDayOfMonth: return static_cast<float>(time.day);
    case DatetimePart::kDayOfWeek: return static_cast<float>(DayOfWeek(time));
    case DatetimePart::kHour: return static_cast<float>(time.hour);
    case DatetimePart::kMinuteOfDay: return static_cast<float>(time.hour * 60 + time.minute);
  }
  return std::numeric_limits<float>::quiet_NaN();
}

// ---------------------------------------------------------------------------
// Raw values: RawFieldValue is the one form every entry point reduces a
// record's value to.

// Holds the decimal text of a number for the lifetime of a RawFieldValue.
struct NumberText {
  char buffer[64];
};

std::string_view TrimBlanks(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// Returns the text of a kNumber value: its own, or else the shortest decimal
// form of the double, written into `storage`.
std::string_view NumberTextOf(const RawFieldValue& raw, NumberText& storage) {
  if (!raw.text.empty()) return raw.text;
  char* first = storage.buffer;
  std::to_chars_result written =
      std::to_chars(first, storage.buffer + sizeof(storage.buffer), raw.number);
  return std::string_view(first, static_cast<size_t>(written.ptr - first));
}

// Reduces a JSON value to a RawFieldValue. Errors name the field.
Result<RawFieldValue> RawFromJson(const Json& value, std::string_view field, NumberText& storage) {
  RawFieldValue raw;
  char* first = storage.buffer;
  char* last = storage.buffer + sizeof(storage.buffer);
  std::to_chars_result written{first, std::errc()};
  switch (value.type()) {
    case Json::value_t::null:
      return raw;
    case Json::value_t::string:
      raw.type = RawFieldValue::Type::kText;
      raw.text = value.get_ref<const std::string&>();
      return raw;
    case Json::value_t::number_integer: {
      auto v = value.get<int64_t>();
      raw.number = static_cast<double>(v);
      written = std::to_chars(first, last, v);
      break;
    }
    case Json::value_t::number_unsigned: {
      auto v = value.get<uint64_t>();
      raw.number = static_cast<double>(v);
      written = std::to_chars(first, last, v);
      break;
    }
    case Json::value_t::number_float:
      raw.number = value.get<double>();
      written = std::to_chars(first, last, raw.number);
      break;
    default:
      return InvalidArgument(fmt::format("field \"{}\": expected a string, a number or null, got {}",
                                         field, JsonTypeName(value)));
  }
  raw.type = RawFieldValue::Type::kNumber;
  raw.text = std::string_view(first, static_cast<size_t>(written.ptr - first));
  return raw;
}

// Rounds a double to float32; NaN stays NaN (missing), -0 becomes +0 so that
// "-0" in CSV and -0 in JSON (an integer there) give the same bits. Returns
// nullopt when the rounding overflows float32.
std::optional<float> ToFloat(double value) {
  if (std::isnan(value)) return std::numeric_limits<float>::quiet_NaN();
  float result = static_cast<float>(value);
  if (!std::isfinite(result)) return std::nullopt;
  if (result == 0.0f) result = 0.0f;
  return result;
}

std::unexpected<Error> OutsideFloatRange(std::string_view field, std::string_view text) {
  return InvalidArgument(
      fmt::format("field \"{}\": \"{}\" is outside the float32 range", field, text));
}

// The single numeric conversion used for features and labels.
Result<float> NumericValue(const RawFieldValue& raw, std::string_view field) {
  if (raw.type == RawFieldValue::Type::kNull) return std::numeric_limits<float>::quiet_NaN();
  if (raw.type == RawFieldValue::Type::kNumber) {
    if (std::optional<float> value = ToFloat(raw.number)) return *value;
    NumberText storage;
    return OutsideFloatRange(field, NumberTextOf(raw, storage));
  }
  std::string_view text = TrimBlanks(raw.text);
  if (text.empty()) return std::numeric_limits<float>::quiet_NaN();
  std::string_view digits = text;
  if (digits.front() == '+') digits.remove_prefix(1);
  double value = 0;
  auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (error == std::errc::result_out_of_range) return OutsideFloatRange(field, raw.text);
  if (error != std::errc() || end != digits.data() + digits.size() || std::isinf(value)) {
    return InvalidArgument(fmt::format("field \"{}\": \"{}\" is not a number", field, raw.text));
  }
  if (std::optional<float> result = ToFloat(value)) return *result;
  return OutsideFloatRange(field, raw.text);
}

// The text a categorical value is looked up by.
std::string_view CategoricalText(const RawFieldValue& raw, NumberText& storage) {
  switch (raw.type) {
    case RawFieldValue::Type::kNull:
      return {};
    case RawFieldValue::Type::kNumber:
      return NumberTextOf(raw, storage);
    case RawFieldValue::Type::kText:
      break;
  }
  return raw.text;
}

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
};

template <typename V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

// ---------------------------------------------------------------------------
// Spec parsing

Result<std::vector<DatetimePart>> ParseParts(const Json& parts, std::string_view path) {
  if (!parts.is_array() || parts.empty()) {
    return InvalidArgument(fmt::format("{}: expected a non-empty array of part names, got {}",
                                       path, parts.is_array() ? "an empty array" : JsonTypeName(parts)));
  }
  std::vector<DatetimePart> result;
  for (size_t i = 0; i < parts.size(); ++i) {
    std::string item_path = fmt::format("{}[{}]", path, i);
    if (!parts[i].is_string()) {
      return InvalidArgument(fmt::format("{}: expected a string, got {}", item_path,
                                         JsonTypeName(parts[i])));
    }
    const auto& name = parts[i].get_ref<const std::string&>();
    std::optional<DatetimePart> part = PartFromName(name);
    if (!part) {
      return InvalidArgument(fmt::format(
          "{}: unknown part \"{}\", expected year, month, day_of_month, day_of_week, hour or "
          "minute_of_day",
          item_path, name));
    }
    if (std::find(result.begin(), result.end(), *part) != result.end()) {
      return InvalidArgument(fmt::format("{}: part \"{}\" is listed twice", item_path, name));
    }
    result.push_back(*part);
  }
  return result;
}

Result<std::vector<std::string>> ParseVocabulary(const Json& feature, std::string_view path) {
  std::string vocabulary_path = JoinPath(path, "Vocabulary");
  auto it = feature.find("Vocabulary");
  if (it == feature.end() || !it->is_array()) {
    return InvalidArgument(fmt::format(
        "{}: expected an array of strings (the fitted categories), got {}", vocabulary_path,
        it == feature.end() ? "nothing" : JsonTypeName(*it)));
  }
  std::vector<std::string> vocabulary;
  vocabulary.reserve(it->size());
  for (size_t i = 0; i < it->size(); ++i) {
    const Json& item = (*it)[i];
    if (!item.is_string()) {
      return InvalidArgument(fmt::format("{}[{}]: expected a string, got {}", vocabulary_path, i,
                                         JsonTypeName(item)));
    }
    vocabulary.push_back(item.get<std::string>());
  }
  return vocabulary;
}

// Parses one Features entry. With `vocabulary` non-null (the fitted form),
// categorical features must carry "Vocabulary", which is stored there.
Result<FeatureSpec> ParseFeature(const Json& feature, std::string_view path,
                                 std::vector<std::string>* vocabulary) {
  TANDEM_RETURN_IF_ERROR(RequireObject(feature, path));
  if (vocabulary != nullptr) {
    TANDEM_RETURN_IF_ERROR(
        RejectUnknownFields(feature, path, {"Field", "Kind", "Format", "Parts", "Vocabulary"}));
  } else {
    TANDEM_RETURN_IF_ERROR(RejectUnknownFields(feature, path, {"Field", "Kind", "Format", "Parts"}));
  }

  FeatureSpec spec;
  TANDEM_ASSIGN_OR_RETURN(spec.field, GetString(feature, "Field", path));
  if (spec.field.empty()) {
    return InvalidArgument(fmt::format("{}: must not be empty", JoinPath(path, "Field")));
  }
  TANDEM_ASSIGN_OR_RETURN(std::string kind_name, GetString(feature, "Kind", path));
  std::optional<FeatureKind> kind = KindFromName(kind_name);
  if (!kind) {
    return InvalidArgument(fmt::format(
        "{}: unknown kind \"{}\", expected numeric, datetime or categorical",
        JoinPath(path, "Kind"), kind_name));
  }
  spec.kind = *kind;

  TANDEM_ASSIGN_OR_RETURN(std::optional<std::string> format,
                          GetOptionalString(feature, "Format", path));
  bool has_parts = feature.contains("Parts") && !feature["Parts"].is_null();
  if (spec.kind != FeatureKind::kDatetime) {
    if (format || has_parts) {
      return InvalidArgument(fmt::format("{}: only datetime features take {}", path,
                                         format ? "Format" : "Parts"));
    }
  } else {
    spec.format = format.value_or(std::string(kDefaultDatetimeFormat));
    TANDEM_RETURN_IF_ERROR(CompileFormat(spec.format, JoinPath(path, "Format")));
    if (!has_parts) {
      return InvalidArgument(fmt::format("{}: required for a datetime feature, for example "
                                         "[\"hour\", \"day_of_week\"]",
                                         JoinPath(path, "Parts")));
    }
    TANDEM_ASSIGN_OR_RETURN(spec.parts, ParseParts(feature["Parts"], JoinPath(path, "Parts")));
  }

  if (vocabulary != nullptr) {
    bool has_vocabulary = feature.contains("Vocabulary");
    if (spec.kind == FeatureKind::kCategorical) {
      TANDEM_ASSIGN_OR_RETURN(*vocabulary, ParseVocabulary(feature, path));
    } else if (has_vocabulary) {
      return InvalidArgument(fmt::format("{}: only categorical features take Vocabulary", path));
    }
  }
  return spec;
}

// Parses a FeaturePipeline object; `vocabularies` as for ParseFeature.
Result<FeaturePipelineSpec> ParseSpec(const Json& json, std::string_view path,
                                      std::vector<std::vector<std::string>>* vocabularies) {
  TANDEM_RETURN_IF_ERROR(RequireObject(json, path));
  TANDEM_RETURN_IF_ERROR(RejectUnknownFields(json, path, {"Label", "Features"}));
  FeaturePipelineSpec spec;
  TANDEM_ASSIGN_OR_RETURN(spec.label, GetString(json, "Label", path));
  if (spec.label.empty()) {
    return InvalidArgument(fmt::format("{}: must not be empty", JoinPath(path, "Label")));
  }

  std::string features_path = JoinPath(path, "Features");
  auto features = json.find("Features");
  if (features == json.end() || !features->is_array() || features->empty()) {
    return InvalidArgument(fmt::format("{}: expected a non-empty array of features, got {}",
                                       features_path,
                                       features == json.end() ? "nothing"
                                       : features->is_array() ? "an empty array"
                                                              : JsonTypeName(*features)));
  }

  std::unordered_map<std::string, size_t> field_index;
  for (size_t i = 0; i < features->size(); ++i) {
    std::string feature_path = fmt::format("{}[{}]", features_path, i);
    std::vector<std::string> vocabulary;
    TANDEM_ASSIGN_OR_RETURN(
        FeatureSpec feature,
        ParseFeature((*features)[i], feature_path, vocabularies ? &vocabulary : nullptr));
    if (feature.field == spec.label) {
      return InvalidArgument(fmt::format("{}.Field: \"{}\" is the label; a label cannot be a feature",
                                         feature_path, feature.field));
    }
    auto [it, inserted] = field_index.emplace(feature.field, i);
    if (!inserted) {
      return InvalidArgument(fmt::format("{}.Field: \"{}\" is already used by {}[{}]",
                                         feature_path, feature.field, features_path, it->second));
    }
    spec.features.push_back(std::move(feature));
    if (vocabularies) vocabularies->push_back(std::move(vocabulary));
  }
  return spec;
}

Json FeatureToJson(const FeatureSpec& feature) {
  Json json = {{"Field", feature.field}, {"Kind", FeatureKindName(feature.kind)}};
  if (feature.kind == FeatureKind::kDatetime) {
    json["Format"] = feature.format;
    Json parts = Json::array();
    for (DatetimePart part : feature.parts) parts.push_back(DatetimePartName(part));
    json["Parts"] = std::move(parts);
  }
  return json;
}

}  // namespace

std::string_view FeatureKindName(FeatureKind kind) {
  for (const auto& [k, name] : kKindNames) {
    if (k == kind) return name;
  }
  return "unknown";
}

std::string_view DatetimePartName(DatetimePart part) {
  for (const auto& [p, name] : kPartNames) {
    if (p == part) return name;
  }
  return "unknown";
}

Result<FeaturePipelineSpec> FeaturePipelineSpec::FromJson(const Json& json, std::string_view path) {
  return ParseSpec(json, path, nullptr);
}

Json FeaturePipelineSpec::ToJson() const {
  Json features = Json::array();
  for (const FeatureSpec& feature : this->features) features.push_back(FeatureToJson(feature));
  return {{"Label", label}, {"Features", std::move(features)}};
}

// ---------------------------------------------------------------------------
// FeaturePipeline

struct CompiledFeature {
  size_t offset = 0;  // index of the feature's first output
  CompiledFormat format;
  std::vector<std::string> vocabulary;
  StringMap<uint32_t> codes;
};

struct FeaturePipeline::Impl {
  FeaturePipelineSpec spec;
  std::vector<CompiledFeature> features;
  size_t num_features = 0;

  // Converts one value of features[index]; the one path for CSV and JSON.
  Status Convert(size_t index, const RawFieldValue& raw, float* out) const;
  // Prefixes a CSV record's location ("file train.csv line 3") to an error.
  static Error AtLine(const Error& error, std::string_view source, size_t line) {
    return error.WithContext(fmt::format("{} line {}", source, line));
  }
};

Status FeaturePipeline::Impl::Convert(size_t index, const RawFieldValue& raw, float* out) const {
  const FeatureSpec& spec_feature = spec.features[index];
  const CompiledFeature& feature = features[index];
  float* target = out + feature.offset;
  switch (spec_feature.kind) {
    case FeatureKind::kNumeric: {
      TANDEM_ASSIGN_OR_RETURN(*target, NumericValue(raw, spec_feature.field));
      return Ok();
    }
    case FeatureKind::kCategorical: {
      NumberText storage;
      auto it = feature.codes.find(CategoricalText(raw, storage));
      *target = static_cast<float>(it == feature.codes.end() ? feature.vocabulary.size()
                                                             : it->second);
      return Ok();
    }
    case FeatureKind::kDatetime: {
      NumberText storage;
      if (raw.type == RawFieldValue::Type::kNumber) {
        return InvalidArgument(fmt::format(
            "field \"{}\": expected a datetime string in format \"{}\", got the number {}",
            spec_feature.field, spec_feature.format, NumberTextOf(raw, storage)));
      }
      std::string_view text = TrimBlanks(CategoricalText(raw, storage));
      if (text.empty()) {
        std::fill_n(target, spec_feature.parts.size(), std::numeric_limits<float>::quiet_NaN());
        return Ok();
      }
      CivilTime time;
      if (std::optional<std::string> why = ParseCivilTime(feature.format, text, time)) {
        return InvalidArgument(fmt::format("field \"{}\": \"{}\" does not match format \"{}\": {}",
                                           spec_feature.field, raw.text, spec_feature.format,
                                           *why));
      }
      for (size_t p = 0; p < spec_feature.parts.size(); ++p) {
        target[p] = PartValue(spec_feature.parts[p], time);
      }
      return Ok();
    }
  }
  return Internal("unknown feature kind");
}

FeaturePipeline::FeaturePipeline() : impl_(std::make_shared<Impl>()) {}
FeaturePipeline::FeaturePipeline(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

Result<FeaturePipeline> FeaturePipeline::Create(FeaturePipelineSpec spec,
                                                std::vector<std::vector<std::string>> vocabularies) {
  if (vocabularies.size() != spec.features.size()) {
    return InvalidArgument(fmt::format("feature pipeline: {} vocabularies for {} features",
                                       vocabularies.size(), spec.features.size()));
  }
  auto impl = std::make_shared<Impl>();
  for (size_t i = 0; i < spec.features.size(); ++i) {
    const FeatureSpec& feature = spec.features[i];
    std::string path = fmt::format("FeaturePipeline.Features[{}]", i);
    CompiledFeature compiled;
    compiled.offset = impl->num_features;
    switch (feature.kind) {
      case FeatureKind::kNumeric:
        impl->num_features += 1;
        break;
      case FeatureKind::kDatetime: {
        if (feature.parts.empty()) {
          return InvalidArgument(fmt::format("{}.Parts: must not be empty", path));
        }
        TANDEM_ASSIGN_OR_RETURN(compiled.format, CompileFormat(feature.format, path + ".Format"));
        impl->num_features += feature.parts.size();
        break;
      }
      case FeatureKind::kCategorical: {
        compiled.vocabulary = std::move(vocabularies[i]);
        // Codes are float32 values, exact only up to 2^24.
        if (compiled.vocabulary.size() >= (size_t{1} << 24)) {
          return InvalidArgument(fmt::format("{}.Vocabulary: {} values, the maximum is {}", path,
                                             compiled.vocabulary.size(), (size_t{1} << 24) - 1));
        }
        for (size_t code = 0; code < compiled.vocabulary.size(); ++code) {
          auto [it, inserted] =
              compiled.codes.emplace(compiled.vocabulary[code], static_cast<uint32_t>(code));
          if (!inserted) {
            return InvalidArgument(fmt::format("{}.Vocabulary[{}]: \"{}\" repeats entry {}", path,
                                               code, compiled.vocabulary[code], it->second));
          }
        }
        impl->num_features += 1;
        break;
      }
    }
    impl->features.push_back(std::move(compiled));
  }
  impl->spec = std::move(spec);
  return FeaturePipeline(std::move(impl));
}

Result<FeaturePipeline> FeaturePipeline::FromJson(const Json& json, std::string_view path) {
  std::vector<std::vector<std::string>> vocabularies;
  TANDEM_ASSIGN_OR_RETURN(FeaturePipelineSpec spec, ParseSpec(json, path, &vocabularies));
  Result<FeaturePipeline> pipeline = Create(std::move(spec), std::move(vocabularies));
  if (!pipeline) {
    // Create names paths from "FeaturePipeline"; restate them from `path`.
    std::string message = pipeline.error().message();
    constexpr std::string_view kPrefix = "FeaturePipeline";
    if (message.starts_with(kPrefix)) message.replace(0, kPrefix.size(), path);
    return InvalidArgument(std::move(message));
  }
  return pipeline;
}

Json FeaturePipeline::ToJson() const {
  Json json = impl_->spec.ToJson();
  for (size_t i = 0; i < impl_->spec.features.size(); ++i) {
    if (impl_->spec.features[i].kind == FeatureKind::kCategorical) {
      json["Features"][i]["Vocabulary"] = impl_->features[i].vocabulary;
    }
  }
  return json;
}

const FeaturePipelineSpec& FeaturePipeline::spec() const { return impl_->spec; }
const std::string& FeaturePipeline::label() const { return impl_->spec.label; }

const std::vector<std::string>& FeaturePipeline::vocabulary(size_t feature_index) const {
  return impl_->features.at(feature_index).vocabulary;
}

size_t FeaturePipeline::num_features() const { return impl_->num_features; }

std::vector<std::string> FeaturePipeline::FeatureNames() const {
  std::vector<std::string> names;
  names.reserve(impl_->num_features);
  for (const FeatureSpec& feature : impl_->spec.features) {
    if (feature.kind != FeatureKind::kDatetime) {
      names.push_back(feature.field);
      continue;
    }
    for (DatetimePart part : feature.parts) {
      names.push_back(fmt::format("{}_{}", feature.field, DatetimePartName(part)));
    }
  }
  return names;
}

std::vector<InputField> FeaturePipeline::InputSchema() const {
  std::vector<InputField> schema;
  for (const FeatureSpec& feature : impl_->spec.features) {
    std::string type = feature.kind == FeatureKind::kNumeric    ? "number"
                       : feature.kind == FeatureKind::kDatetime ? "datetime"
                                                                : "string";
    schema.push_back({feature.field, std::move(type)});
  }
  return schema;
}

Result<CsvLayout> FeaturePipeline::BindCsvHeader(std::span<const std::string> header,
                                                 std::string_view file, bool require_label) const {
  std::unordered_map<std::string_view, size_t> columns;
  for (size_t i = 0; i < header.size(); ++i) columns.emplace(header[i], i);

  CsvLayout layout;
  for (size_t i = 0; i < impl_->spec.features.size(); ++i) {
    const std::string& field = impl_->spec.features[i].field;
    auto it = columns.find(field);
    if (it == columns.end()) {
      return InvalidArgument(fmt::format(
          "file {}: header has no column \"{}\", which FeaturePipeline.Features[{}] reads",
          file, field, i));
    }
    layout.feature_columns.push_back(it->second);
    layout.min_fields = std::max(layout.min_fields, it->second + 1);
  }
  auto label = columns.find(impl_->spec.label);
  if (label != columns.end()) {
    layout.label_column = label->second;
    layout.min_fields = std::max(layout.min_fields, label->second + 1);
  } else if (require_label) {
    return InvalidArgument(fmt::format("file {}: header has no label column \"{}\"", file,
                                       impl_->spec.label));
  }
  return layout;
}

CsvLayout FeaturePipeline::InputOrderLayout() const {
  CsvLayout layout;
  for (size_t i = 0; i < impl_->spec.features.size(); ++i) layout.feature_columns.push_back(i);
  layout.min_fields = impl_->spec.features.size();
  return layout;
}

namespace {

Status CheckFieldCount(const CsvLayout& layout, std::span<const std::string_view> fields,
                       std::string_view source, size_t line) {
  if (fields.size() >= layout.min_fields) return Ok();
  return InvalidArgument(fmt::format("{} line {}: record has {} fields, expected at least {}",
                                     source, line, fields.size(), layout.min_fields));
}

}  // namespace

Status FeaturePipeline::TransformCsv(const CsvLayout& layout,
                                     std::span<const std::string_view> fields,
                                     std::string_view source, size_t line,
                                     std::span<float> out) const {
  if (out.size() != impl_->num_features || layout.feature_columns.size() != impl_->features.size()) {
    return InvalidArgument(fmt::format(
        "feature pipeline: output has {} values and layout {} columns, expected {} and {}",
        out.size(), layout.feature_columns.size(), impl_->num_features, impl_->features.size()));
  }
  TANDEM_RETURN_IF_ERROR(CheckFieldCount(layout, fields, source, line));
  for (size_t i = 0; i < impl_->features.size(); ++i) {
    RawFieldValue raw{RawFieldValue::Type::kText, fields[layout.feature_columns[i]]};
    Status converted = impl_->Convert(i, raw, out.data());
    if (!converted) return std::unexpected(Impl::AtLine(converted.error(), source, line));
  }
  return Ok();
}

Status FeaturePipeline::TransformJson(const Json& record, std::span<float> out) const {
  if (out.size() != impl_->num_features) {
    return InvalidArgument(fmt::format("feature pipeline: output has {} values, expected {}",
                                       out.size(), impl_->num_features));
  }
  if (!record.is_object()) {
    return InvalidArgument(fmt::format("record: expected an object, got {}", JsonTypeName(record)));
  }
  for (size_t i = 0; i < impl_->features.size(); ++i) {
    const std::string& field = impl_->spec.features[i].field;
    auto it = record.find(field);
    if (it == record.end()) return InvalidArgument(fmt::format("missing field \"{}\"", field));
    NumberText storage;
    TANDEM_ASSIGN_OR_RETURN(RawFieldValue raw, RawFromJson(*it, field, storage));
    TANDEM_RETURN_IF_ERROR(impl_->Convert(i, raw, out.data()));
  }
  return Ok();
}

Status FeaturePipeline::TransformValues(std::span<const RawFieldValue> values,
                                        std::span<float> out) const {
  if (out.size() != impl_->num_features || values.size() != impl_->features.size()) {
    return InvalidArgument(fmt::format(
        "feature pipeline: output has {} values and the record {} fields, expected {} and {}",
        out.size(), values.size(), impl_->num_features, impl_->features.size()));
  }
  for (size_t i = 0; i < impl_->features.size(); ++i) {
    TANDEM_RETURN_IF_ERROR(impl_->Convert(i, values[i], out.data()));
  }
  return Ok();
}

Result<float> FeaturePipeline::CsvLabel(const CsvLayout& layout,
                                        std::span<const std::string_view> fields,
                                        std::string_view source, size_t line) const {
  if (!layout.label_column) {
    return InvalidArgument(fmt::format("{}: no label column \"{}\" in the layout", source,
                                       impl_->spec.label));
  }
  TANDEM_RETURN_IF_ERROR(CheckFieldCount(layout, fields, source, line));
  RawFieldValue raw{RawFieldValue::Type::kText, fields[*layout.label_column]};
  Result<float> label = NumericValue(raw, impl_->spec.label);
  if (!label) return std::unexpected(Impl::AtLine(label.error(), source, line));
  if (std::isnan(*label)) {
    return InvalidArgument(fmt::format("{} line {}: label \"{}\" is empty", source, line,
                                       impl_->spec.label));
  }
  return *label;
}

// ---------------------------------------------------------------------------
// FeaturePipelineFitter

struct FeaturePipelineFitter::State {
  FeaturePipelineSpec spec;
  FeaturePipeline unfitted;
  std::vector<size_t> categorical;               // indices of categorical features
  std::vector<StringMap<uint64_t>> counts;       // parallel to `categorical`
  size_t records = 0;

  void Count(size_t slot, std::string_view value) {
    StringMap<uint64_t>& map = counts[slot];
    auto it = map.find(value);
    if (it != map.end()) {
      ++it->second;
    } else {
      map.emplace(std::string(value), 1);
    }
  }
};

FeaturePipelineFitter::FeaturePipelineFitter(FeaturePipelineSpec spec)
    : state_(std::make_unique<State>()) {
  for (size_t i = 0; i < spec.features.size(); ++i) {
    if (spec.features[i].kind == FeatureKind::kCategorical) state_->categorical.push_back(i);
  }
  state_->counts.resize(state_->categorical.size());
  Result<FeaturePipeline> unfitted =
      FeaturePipeline::Create(spec, std::vector<std::vector<std::string>>(spec.features.size()));
  // A spec from FeaturePipelineSpec::FromJson always compiles; a hand-built
  // one that does not is reported again by Finish().
  if (unfitted) state_->unfitted = std::move(*unfitted);
  state_->spec = std::move(spec);
}

FeaturePipelineFitter::~FeaturePipelineFitter() = default;
FeaturePipelineFitter::FeaturePipelineFitter(FeaturePipelineFitter&&) noexcept = default;
FeaturePipelineFitter& FeaturePipelineFitter::operator=(FeaturePipelineFitter&&) noexcept = default;

Status FeaturePipelineFitter::AddCsvRecord(const CsvLayout& layout,
                                           std::span<const std::string_view> fields,
                                           std::string_view source, size_t line) {
  TANDEM_RETURN_IF_ERROR(CheckFieldCount(layout, fields, source, line));
  for (size_t slot = 0; slot < state_->categorical.size(); ++slot) {
    state_->Count(slot, fields[layout.feature_columns[state_->categorical[slot]]]);
  }
  ++state_->records;
  return Ok();
}

Status FeaturePipelineFitter::AddJsonRecord(const Json& record) {
  if (!record.is_object()) {
    return InvalidArgument(fmt::format("record: expected an object, got {}", JsonTypeName(record)));
  }
  for (size_t slot = 0; slot < state_->categorical.size(); ++slot) {
    const std::string& field = state_->spec.features[state_->categorical[slot]].field;
    auto it = record.find(field);
    if (it == record.end()) return InvalidArgument(fmt::format("missing field \"{}\"", field));
    NumberText storage;
    TANDEM_ASSIGN_OR_RETURN(RawFieldValue raw, RawFromJson(*it, field, storage));
    state_->Count(slot, CategoricalText(raw, storage));
  }
  ++state_->records;
  return Ok();
}

size_t FeaturePipelineFitter::records() const { return state_->records; }

const FeaturePipeline& FeaturePipelineFitter::unfitted() const { return state_->unfitted; }

Result<FeaturePipeline> FeaturePipelineFitter::Finish() && {
  std::vector<std::vector<std::string>> vocabularies(state_->spec.features.size());
  for (size_t slot = 0; slot < state_->categorical.size(); ++slot) {
    std::vector<std::pair<std::string, uint64_t>> entries;
    entries.reserve(state_->counts[slot].size());
    for (auto& [value, count] : state_->counts[slot]) entries.emplace_back(value, count);
    state_->counts[slot].clear();
    std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
      if (a.second != b.second) return a.second > b.second;
      return a.first < b.first;
    });
    std::vector<std::string>& vocabulary = vocabularies[state_->categorical[slot]];
    vocabulary.reserve(entries.size());
    for (auto& entry : entries) vocabulary.push_back(std::move(entry.first));
  }
  return FeaturePipeline::Create(std::move(state_->spec), std::move(vocabularies));
}

}  // namespace tandem::model
