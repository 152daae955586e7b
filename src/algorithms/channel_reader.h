// Reading a CSV input channel (input/data/<channel>/) for a built-in
// algorithm: listing its files, fitting the feature pipeline on it, and
// turning it into a float32 feature matrix with labels.
//
// Every pass reads the files again through the CSV reader's memory mapping,
// so no raw records are kept. Memory use is the feature matrix
// (rows x features x 4 bytes), the labels and a small sample of raw records.
//
// Thread safety: functions share no state; one thread per call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_util.h"
#include "common/status.h"
#include "model/feature_pipeline.h"

namespace tandem::algorithms {

// Records between two calls of ReadControl's callbacks.
inline constexpr int64_t kRecordsPerChunk = 16384;

// Callbacks polled before each file and once per kRecordsPerChunk records.
// Both may be empty.
struct ReadControl {
  // Returning true stops the read with kAborted.
  std::function<bool()> should_stop;
  // Receives the number of records read so far in this pass, over all files.
  std::function<void(int64_t records)> on_records;
};

// The files of one channel, in name order.
struct ChannelFiles {
  std::string channel;
  std::vector<std::filesystem::path> files;
};

// Lists the regular files directly in `dir` (hidden names starting with '.'
// are skipped), sorted by name. Errors: kNotFound when `dir` does not exist,
// kInvalidArgument when it is not a directory or contains no files.
Result<ChannelFiles> ListChannelFiles(const std::filesystem::path& dir, std::string_view channel);

// Returns the channel's digest as "sha256:<64 hex>": for a single file the
// SHA-256 of its content (what `sha256sum FILE` prints), for several files the
// SHA-256 of the `sha256sum` listing of its files in name order, one
// "<hex>  <name>\n" line each. Errors: those of reading the files.
Result<std::string> ChannelDigest(const ChannelFiles& channel);

// Counts the categorical values of every record of `channel` into `fitter`
// and returns the number of records. Errors are prefixed with "channel <name>: ".
// They are kInvalidArgument for an unreadable CSV file, a header without a
// feature or label column, or a record with too few fields, and kAborted
// when `control` requests a stop.
Result<int64_t> FitChannel(const ChannelFiles& channel, model::FeaturePipelineFitter& fitter,
                           const ReadControl& control);

// One record kept from a channel for self-tests and samples.
struct SampleRecord {
  size_t row = 0;  // 0-based data record index within the channel
  // The raw fields as an inference request carries them: numeric fields as
  // JSON numbers (empty or "nan" as null), other kinds as strings. The label
  // and columns the pipeline does not use are left out.
  Json record;
  std::vector<float> features;  // the record's num_features values
};

// A channel transformed by a fitted pipeline.
struct ChannelTable {
  size_t num_features = 0;
  std::vector<float> features;  // rows() x num_features, row-major, NaN = missing
  std::vector<float> labels;    // one per row
  std::vector<SampleRecord> samples;  // sorted by row

  size_t rows() const { return labels.size(); }
};

// Reads every record of `channel` through `pipeline`, with the label column
// required. Keeps a sample of up to `max_samples` records drawn uniformly
// over the channel by reservoir sampling with a fixed seed, so the same files
// always give the same sample. Errors (prefixed with
// "channel <name>: "): kInvalidArgument naming the file and line for a bad
// feature value, a missing or non-numeric label, a missing column;
// kInvalidArgument when the channel has no data records; kAborted from `control`.
Result<ChannelTable> ReadChannelTable(const ChannelFiles& channel,
                                      const model::FeaturePipeline& pipeline, size_t max_samples,
                                      const ReadControl& control);

// Converts one CSV cell of a feature of `kind` into the JSON value an
// inference request would carry (see ChannelTable::sample_records).
Json RawFieldToJson(model::FeatureKind kind, std::string_view cell);

}  // namespace tandem::algorithms
