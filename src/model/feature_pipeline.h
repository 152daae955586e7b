// The feature pipeline: turns a raw record (CSV cells or a JSON object) into
// the float32 inputs of a model, identically in training and in serving.
//
// The job spec's "FeaturePipeline" object (docs/job-spec.md) is parsed into a
// FeaturePipelineSpec. A FeaturePipelineFitter counts categorical values over
// the training records and produces a fitted FeaturePipeline, whose JSON form
// (the spec plus a "Vocabulary" array per categorical feature) goes into the
// model package's manifest.
//
// Determinism: every kind has exactly one conversion routine, used by both the
// CSV and the JSON entry points. Numeric text is parsed with std::from_chars to
// double (correctly rounded) and then rounded to float; a JSON number is taken
// as the double nlohmann::json parsed, then rounded to float, so "1.1" in a CSV
// cell and 1.1 in a JSON body give the same bits. Datetimes are parsed field
// by field without the C locale or the time zone, and the day of the week is
// computed from the civil date.
//
// Per kind (the "value" is a CSV cell or a JSON string; JSON null counts as
// an empty value):
//   numeric      1 input. Empty or "nan" -> NaN (missing). Leading and
//                trailing spaces and tabs are ignored, one leading '+' is
//                accepted. Anything else that is not a finite float32 is an
//                error. A JSON number is used directly.
//   datetime     1 input per part. Leading and trailing spaces and tabs are
//                ignored. Empty -> NaN for every part. A value that does not
//                match Format is an error. A JSON number is an error.
//   categorical  1 input: the value's index in the vocabulary, or the
//                vocabulary size for a value not seen in training. The empty
//                string is a value like any other. A JSON number is converted
//                to its shortest decimal text (42 -> "42", 1.5 -> "1.5").
// A JSON boolean, array or object is an error for every kind.
//
// Datetime Format directives (a subset of strptime, locale-free):
//   %Y year (1-4 digits), %m month (1-2 digits, 1-12), %d day (1-2, valid for
//   the month), %H hour (0-23), %M minute (0-59), %S second (0-60), %F = %Y-%m-%d,
//   %T = %H:%M:%S, %% a literal '%'. A space in Format matches zero or more
//   spaces; every other character matches itself. The whole value must match.
//   Fields absent from Format default to 1970-01-01 00:00:00.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_util.h"
#include "common/status.h"

namespace tandem::model {

enum class FeatureKind { kNumeric, kDatetime, kCategorical };

enum class DatetimePart { kYear, kMonth, kDayOfMonth, kDayOfWeek, kHour, kMinuteOfDay };

// Spec names: "numeric", "datetime", "categorical".
std::string_view FeatureKindName(FeatureKind kind);
// Spec names: "year", "month", "day_of_month", "day_of_week", "hour", "minute_of_day".
std::string_view DatetimePartName(DatetimePart part);

inline constexpr std::string_view kDefaultDatetimeFormat = "%Y-%m-%d %H:%M";

// One entry of FeaturePipeline.Features.
struct FeatureSpec {
  std::string field;
  FeatureKind kind = FeatureKind::kNumeric;
  std::string format;               // datetime only (default kDefaultDatetimeFormat); else empty
  std::vector<DatetimePart> parts;  // datetime only, at least one; else empty
};

// The job spec's FeaturePipeline object, before fitting.
struct FeaturePipelineSpec {
  std::string label;
  std::vector<FeatureSpec> features;

  // Parses and validates the object at `path` (for example "FeaturePipeline").
  // Errors (kInvalidArgument) name the path: a missing or empty Label or
  // Field, an empty Features array, an unknown Kind or part, Format or Parts
  // on a non-datetime feature, an unsupported Format directive, a field used
  // twice, the label used as a feature, an unknown key.
  static Result<FeaturePipelineSpec> FromJson(const Json& json, std::string_view path);

  // Returns the spec's JSON form; FromJson(ToJson()) gives an equal spec.
  Json ToJson() const;
};

// A raw input field of a model and its type: "number", "string" or "datetime".
struct InputField {
  std::string name;
  std::string type;

  bool operator==(const InputField&) const = default;
};

// One raw value of a record in the typed form that every entry point reduces
// its input to before conversion: a CSV cell is kText, a JSON string kText, a
// JSON number kNumber, JSON null kNull.
struct RawFieldValue {
  enum class Type { kNull, kText, kNumber };

  Type type = Type::kNull;
  // kText: the value. kNumber: the number's decimal text, which categorical
  // lookups and messages use. When it is empty, they use the shortest text
  // that parses back to `number` (std::to_chars), as for a JSON double.
  std::string_view text;
  double number = 0;  // kNumber only

  static RawFieldValue Null() { return {}; }
  static RawFieldValue Text(std::string_view text) { return {Type::kText, text, 0}; }
  static RawFieldValue Number(double number) { return {Type::kNumber, {}, number}; }
};

// Where each feature's field and the label sit in the records of one CSV
// layout. Resolved once per file (or request) and then reused for each record.
struct CsvLayout {
  std::vector<size_t> feature_columns;  // one per FeatureSpec, in spec order
  std::optional<size_t> label_column;
  size_t min_fields = 0;                // a record must have at least this many fields
};

// A fitted pipeline. Immutable after construction, so Transform* may be called
// from many threads at once. Copyable (vocabularies are shared).
class FeaturePipeline {
 public:
  // An empty pipeline with no features; a placeholder until assigned.
  FeaturePipeline();

  // Parses the fitted JSON form: the spec's fields plus, on each categorical
  // feature, "Vocabulary": an array of distinct strings (code = index).
  // Errors (kInvalidArgument) as for FeaturePipelineSpec::FromJson, and for a
  // missing or non-string Vocabulary entry or a duplicated value.
  static Result<FeaturePipeline> FromJson(const Json& json, std::string_view path);

  // Builds a pipeline from a spec and the vocabularies of its categorical
  // features (`vocabularies[i]` for features[i]; ignored for other kinds).
  // Errors (kInvalidArgument): a size mismatch or a duplicate value.
  static Result<FeaturePipeline> Create(FeaturePipelineSpec spec,
                                        std::vector<std::vector<std::string>> vocabularies);

  // Returns the fitted JSON form; FromJson(ToJson()) gives an equal pipeline.
  Json ToJson() const;

  const FeaturePipelineSpec& spec() const;
  const std::string& label() const;
  // The vocabulary of features[feature_index]; empty for non-categorical.
  const std::vector<std::string>& vocabulary(size_t feature_index) const;

  // Number of float32 inputs per record (the length of FeatureNames()).
  size_t num_features() const;
  // Model input names in order: the field for numeric and categorical
  // features, "<field>_<part>" for each datetime part ("date_hour").
  std::vector<std::string> FeatureNames() const;
  // The raw fields a record must carry, in spec order: numeric -> "number",
  // datetime -> "datetime", categorical -> "string".
  std::vector<InputField> InputSchema() const;

  // Resolves column positions from a CSV header. With `require_label` the
  // label column must be present too. Errors (kInvalidArgument): a feature or
  // label column missing from the header, naming the column and `file`.
  Result<CsvLayout> BindCsvHeader(std::span<const std::string> header, std::string_view file,
                                  bool require_label) const;

  // The layout of header-less CSV whose fields are the InputSchema() fields
  // in order, without a label (text/csv inference requests).
  CsvLayout InputOrderLayout() const;

  // Writes num_features() values for one CSV record into `out`.
  // `source` and `line` only name the record in errors. `source` is where the
  // record comes from, such as "file train.csv" or "request body".
  // Errors (kInvalidArgument): "file F line N: field \"distance\": ..." for
  // a bad value or a record with too few fields; out.size() != num_features().
  Status TransformCsv(const CsvLayout& layout, std::span<const std::string_view> fields,
                      std::string_view source, size_t line, std::span<float> out) const;

  // Writes num_features() values for one JSON record object (field -> string,
  // number or null) into `out`. Keys not used by the pipeline are ignored.
  // Errors (kInvalidArgument): not an object, a missing field ("missing field
  // \"origin\""), a value of the wrong JSON type, a bad value.
  Status TransformJson(const Json& record, std::span<float> out) const;

  // Writes num_features() values for one record given as one value per
  // feature in spec order: values[i] is the field of spec().features[i].
  // TransformCsv and TransformJson convert through the same code, so a record
  // gives the same bits whichever entry point it takes.
  // Errors (kInvalidArgument): a bad value, naming the field as TransformJson
  // does; values.size() != spec().features.size(); out.size() != num_features().
  Status TransformValues(std::span<const RawFieldValue> values, std::span<float> out) const;

  // Parses the label of one CSV record as float32 (same rules as a numeric
  // feature). Errors (kInvalidArgument): no label column in `layout`, an
  // empty or non-numeric label, naming `source` (as for TransformCsv), line
  // and the label column.
  Result<float> CsvLabel(const CsvLayout& layout, std::span<const std::string_view> fields,
                         std::string_view source, size_t line) const;

 private:
  struct Impl;
  explicit FeaturePipeline(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;
};

// Learns the categorical vocabularies from training records: values ordered by
// count, most frequent first, ties by byte-wise ascending value.
// Thread safety: one thread at a time.
class FeaturePipelineFitter {
 public:
  explicit FeaturePipelineFitter(FeaturePipelineSpec spec);
  ~FeaturePipelineFitter();
  FeaturePipelineFitter(FeaturePipelineFitter&&) noexcept;
  FeaturePipelineFitter& operator=(FeaturePipelineFitter&&) noexcept;

  // Counts the categorical values of one CSV record.
  // Errors (kInvalidArgument): a record with too few fields, naming `source`
  // (as for FeaturePipeline::TransformCsv) and line.
  Status AddCsvRecord(const CsvLayout& layout, std::span<const std::string_view> fields,
                      std::string_view source, size_t line);

  // Counts the categorical values of one JSON record (same value rules as
  // FeaturePipeline::TransformJson).
  Status AddJsonRecord(const Json& record);

  // Records counted so far.
  size_t records() const;

  // Returns the fitted pipeline. The fitter may not be used afterwards.
  Result<FeaturePipeline> Finish() &&;

  // A pipeline of this spec with empty vocabularies, whose BindCsvHeader can
  // lay out files before fitting.
  const FeaturePipeline& unfitted() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace tandem::model
