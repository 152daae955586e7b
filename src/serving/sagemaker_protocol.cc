#include "serving/sagemaker_protocol.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>

#include "serving/inference_protocol.h"

namespace tandem::serving {
namespace {

std::string_view Trim(std::string_view text) {
  size_t begin = text.find_first_not_of(" \t");
  if (begin == std::string_view::npos) return {};
  size_t end = text.find_last_not_of(" \t");
  return text.substr(begin, end - begin + 1);
}

std::string ToLower(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return lower;
}

// Returns the lower-cased "type/subtype" of a media range, without parameters.
std::string BareMediaType(std::string_view media_range) {
  return ToLower(Trim(media_range.substr(0, media_range.find(';'))));
}

std::optional<MediaType> ExactMediaType(std::string_view bare) {
  if (bare == "application/json") return MediaType::kJson;
  if (bare == "application/jsonlines" || bare == "application/jsonl" ||
      bare == "application/x-jsonlines") {
    return MediaType::kJsonLines;
  }
  if (bare == "text/csv") return MediaType::kCsv;
  return std::nullopt;
}

// Returns the q parameter of a media range (1 when absent or unreadable).
double QualityOf(std::string_view media_range) {
  size_t position = 0;
  while ((position = media_range.find(';', position)) != std::string_view::npos) {
    std::string_view parameter = Trim(media_range.substr(position + 1));
    parameter = parameter.substr(0, parameter.find(';'));
    if (parameter.starts_with("q=") || parameter.starts_with("Q=")) {
      double q = 1;
      std::string_view value = Trim(parameter.substr(2));
      auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), q);
      return error == std::errc() ? q : 1;
    }
    ++position;
  }
  return 1;
}

// Returns the type a media range selects, given the request's own type.
std::optional<MediaType> MatchMediaRange(std::string_view bare, MediaType request_type) {
  if (std::optional<MediaType> exact = ExactMediaType(bare)) return exact;
  if (bare == "*/*" || bare == "*") return request_type;
  if (bare == "application/*") {
    return request_type == MediaType::kCsv ? MediaType::kJson : request_type;
  }
  if (bare == "text/*") return MediaType::kCsv;
  return std::nullopt;
}

Result<Json> RecordAt(const Json& value, std::string_view path) {
  if (!value.is_object()) {
    return InvalidArgument(
        fmt::format("{}: expected an object (a record), got {}", path, JsonTypeName(value)));
  }
  return value;
}

}  // namespace

std::string_view MediaTypeName(MediaType type) {
  switch (type) {
    case MediaType::kJson:
      return "application/json";
    case MediaType::kJsonLines:
      return "application/jsonlines";
    case MediaType::kCsv:
      return "text/csv";
  }
  return "application/json";
}

Result<MediaType> ParseContentType(std::string_view content_type) {
  std::string bare = BareMediaType(content_type);
  if (bare.empty()) return MediaType::kJson;
  if (std::optional<MediaType> type = ExactMediaType(bare)) return *type;
  return UnsupportedMediaType(
      fmt::format("Content-Type \"{}\" is not supported; send "
                  "application/json, application/jsonlines or text/csv",
                  bare));
}

std::optional<MediaType> NegotiateAccept(std::string_view accept, MediaType request_type) {
  if (Trim(accept).empty()) return request_type;
  std::optional<MediaType> best;
  double best_quality = 0;
  size_t start = 0;
  while (start <= accept.size()) {
    size_t end = accept.find(',', start);
    if (end == std::string_view::npos) end = accept.size();
    std::string_view media_range = accept.substr(start, end - start);
    start = end + 1;

    double quality = QualityOf(media_range);
    std::optional<MediaType> type = MatchMediaRange(BareMediaType(media_range), request_type);
    if (type && quality > best_quality) {
      best = type;
      best_quality = quality;
    }
  }
  return best;
}

Result<std::vector<Json>> ParseJsonRecords(std::string_view body) {
  TANDEM_ASSIGN_OR_RETURN(Json document, ParseRequestJson(body, "request body"));
  std::vector<Json> records;
  if (document.is_object()) {
    auto instances = document.find("instances");
    if (instances == document.end()) {
      records.push_back(std::move(document));
      return records;
    }
    if (!instances->is_array()) {
      return InvalidArgument(
          fmt::format("instances: expected an array of records, got {}", JsonTypeName(*instances)));
    }
    document = std::move(*instances);
    if (document.empty()) return InvalidArgument("instances: empty, expected at least one record");
    records.reserve(document.size());
    for (size_t i = 0; i < document.size(); ++i) {
      TANDEM_ASSIGN_OR_RETURN(Json record, RecordAt(document[i], fmt::format("instances[{}]", i)));
      records.push_back(std::move(record));
    }
    return records;
  }
  if (!document.is_array()) {
    return InvalidArgument(
        fmt::format("request body: expected a record, an array of records or "
                    "{{\"instances\": [...]}}, got {}",
                    JsonTypeName(document)));
  }
  if (document.empty()) return InvalidArgument("request body: empty array, expected records");
  records.reserve(document.size());
  for (size_t i = 0; i < document.size(); ++i) {
    TANDEM_ASSIGN_OR_RETURN(Json record, RecordAt(document[i], fmt::format("request body[{}]", i)));
    records.push_back(std::move(record));
  }
  return records;
}

Result<std::vector<Json>> ParseJsonLinesRecords(std::string_view body) {
  std::vector<Json> records;
  size_t line_number = 0;
  size_t start = 0;
  while (start < body.size()) {
    size_t end = body.find('\n', start);
    if (end == std::string_view::npos) end = body.size();
    std::string_view line = body.substr(start, end - start);
    start = end + 1;
    ++line_number;
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (Trim(line).empty()) continue;

    const std::string where = fmt::format("line {}", line_number);
    TANDEM_ASSIGN_OR_RETURN(Json value, ParseRequestJson(line, where));
    TANDEM_ASSIGN_OR_RETURN(Json record, RecordAt(value, where));
    records.push_back(std::move(record));
  }
  if (records.empty()) return InvalidArgument("request body: no records, expected one per line");
  return records;
}

std::string EncodePredictions(MediaType type, std::span<const float> predictions) {
  std::string out;
  out.reserve(32 + predictions.size() * 16);
  switch (type) {
    case MediaType::kJson:
      out.append("{\"predictions\":[");
      for (size_t i = 0; i < predictions.size(); ++i) {
        if (i > 0) out.push_back(',');
        AppendFloat(out, predictions[i]);
      }
      out.append("]}");
      break;
    case MediaType::kJsonLines:
      for (float prediction : predictions) {
        out.append("{\"prediction\":");
        AppendFloat(out, prediction);
        out.append("}\n");
      }
      break;
    case MediaType::kCsv:
      for (float prediction : predictions) {
        // An empty field marks a non-finite prediction in CSV.
        if (std::isfinite(prediction)) AppendFloat(out, prediction);
        out.push_back('\n');
      }
      break;
  }
  return out;
}

}  // namespace tandem::serving
