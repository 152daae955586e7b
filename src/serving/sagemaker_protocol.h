// SageMaker hosting contract for POST /invocations: content negotiation,
// parsing of JSON and JSON Lines bodies into raw records, and encoding of
// predictions. Pure functions without I/O; any thread may call them.
//
// Request bodies by Content-Type (parameters such as "; charset=utf-8" are ignored):
//   application/json       {"instances": [record, ...]}, one record object, or
//                          an array of record objects
//   application/jsonlines  one record object per line; blank lines are skipped
//                          (also accepted: application/jsonl, application/x-jsonlines)
//   text/csv               rows of raw fields in the model's input order, no
//                          header. The caller parses them with the model's pipeline.
// A record is a JSON object mapping raw field names to values.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_util.h"
#include "common/status.h"

namespace tandem::serving {

enum class MediaType { kJson, kJsonLines, kCsv };

// Returns the canonical name: "application/json", "application/jsonlines", "text/csv".
std::string_view MediaTypeName(MediaType type);

// Header carrying opaque caller data that /invocations passes back unchanged.
inline constexpr std::string_view kCustomAttributesHeader = "X-Amzn-SageMaker-Custom-Attributes";

// Reads a Content-Type header. An empty header means application/json.
// Errors: kUnsupportedMediaType naming the type and the supported ones.
Result<MediaType> ParseContentType(std::string_view content_type);

// Picks the response type from an Accept header: the supported type with the
// highest q value, earlier entries winning ties. An empty header, "*/*" or
// "text/*"-style wildcards that match `request_type` give `request_type`.
// Returns nullopt when nothing acceptable is supported (respond with 406).
std::optional<MediaType> NegotiateAccept(std::string_view accept, MediaType request_type);

// Parses an application/json body into records (see the file comment).
// Errors (kInvalidArgument): invalid JSON, a body that is neither an object
// nor an array, an "instances" value that is not an array, an element that is
// not an object ("instances[3]: expected an object, got array"), no records.
Result<std::vector<Json>> ParseJsonRecords(std::string_view body);

// Parses an application/jsonlines body into records.
// Errors (kInvalidArgument): a line that is not a JSON object, naming its
// 1-based line number; no records.
Result<std::vector<Json>> ParseJsonLinesRecords(std::string_view body);

// Encodes predictions as `type`:
//   application/json       {"predictions": [0.25, 0.75]}
//   application/jsonlines  {"prediction": 0.25}\n{"prediction": 0.75}\n
//   text/csv               0.25\n0.75\n
// Floats are written as by AppendFloat (shortest round-trip form).
std::string EncodePredictions(MediaType type, std::span<const float> predictions);

}  // namespace tandem::serving
