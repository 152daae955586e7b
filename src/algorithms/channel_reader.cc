#include "algorithms/channel_reader.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <optional>
#include <random>
#include <span>
#include <system_error>

#include "common/crypto.h"
#include "model/csv.h"

namespace tandem::algorithms {
namespace {

namespace fs = std::filesystem;

// Called for each data record of a channel with the layout of its file and
// the record's source for errors ("file PATH").
using RecordVisitor = std::function<Status(const model::CsvLayout& layout,
                                           const model::CsvRecord& record,
                                           std::string_view source)>;

// Reads one file of a channel, calling `visit` per record and polling
// `control` every kRecordsPerChunk records. `records` counts over all files.
Status VisitFile(const fs::path& path, const model::FeaturePipeline& layout_source,
                 const ReadControl& control, const RecordVisitor& visit, int64_t& records) {
  std::string file = path.string();
  if (control.should_stop && control.should_stop()) {
    return Aborted(fmt::format("stopped on request before reading file {}", file));
  }
  TANDEM_ASSIGN_OR_RETURN(model::CsvReader reader, model::CsvReader::Open(path));
  TANDEM_ASSIGN_OR_RETURN(model::CsvLayout layout,
                          layout_source.BindCsvHeader(reader.header(), file, /*require_label=*/true));

  const std::string source = "file " + file;
  Status visit_status = Ok();
  bool stopped = false;
  auto result = reader.ReadRecords([&](const model::CsvRecord& record) {
    visit_status = visit(layout, record, source);
    if (!visit_status) return false;
    ++records;
    if (records % kRecordsPerChunk == 0) {
      if (control.on_records) control.on_records(records);
      if (control.should_stop && control.should_stop()) {
        stopped = true;
        return false;
      }
    }
    return true;
  });
  TANDEM_RETURN_IF_ERROR(visit_status);
  TANDEM_RETURN_IF_ERROR(result);
  if (stopped) {
    return Aborted(fmt::format("stopped on request while reading file {} after {} records", file,
                               records));
  }
  return Ok();
}

// Visits every record of every file of `channel` in order; returns the count.
Result<int64_t> VisitChannel(const ChannelFiles& channel,
                             const model::FeaturePipeline& layout_source,
                             const ReadControl& control, const RecordVisitor& visit) {
  int64_t records = 0;
  for (const fs::path& path : channel.files) {
    TANDEM_RETURN_IF_ERROR_CTX(VisitFile(path, layout_source, control, visit, records),
                               fmt::format("channel {}", channel.channel));
  }
  if (control.on_records) control.on_records(records);
  return records;
}

std::string_view TrimBlanks(std::string_view text) {
  size_t begin = text.find_first_not_of(" \t");
  if (begin == std::string_view::npos) return {};
  size_t end = text.find_last_not_of(" \t");
  return text.substr(begin, end - begin + 1);
}

bool IsNanText(std::string_view text) {
  return text.size() == 3 && (text[0] | 0x20) == 'n' && (text[1] | 0x20) == 'a' &&
         (text[2] | 0x20) == 'n';
}

// Reservoir sampling (algorithm R) of `capacity` items. The engine
// is std::mt19937 with a fixed seed, whose output sequence the C++ standard
// fixes, so a given input always gives the same sample.
class Reservoir {
 public:
  explicit Reservoir(size_t capacity) : capacity_(capacity) {}

  // Returns the slot in which to keep item `index` (0-based, offered in
  // order), or nullopt to drop it. Slot == current size means append.
  std::optional<size_t> Offer(size_t index) {
    if (index < capacity_) return index;
    size_t slot = static_cast<size_t>(engine_() % (index + 1));
    if (slot < capacity_) return slot;
    return std::nullopt;
  }

 private:
  size_t capacity_;
  std::mt19937 engine_{20240601};
};

}  // namespace

Result<ChannelFiles> ListChannelFiles(const fs::path& dir, std::string_view channel) {
  std::error_code error;
  fs::file_status status = fs::status(dir, error);
  if (!fs::exists(status)) {
    return NotFound(fmt::format("channel {}: directory {} not found", channel, dir.string()));
  }
  if (!fs::is_directory(status)) {
    return InvalidArgument(
        fmt::format("channel {}: {} is not a directory", channel, dir.string()));
  }
  ChannelFiles result{std::string(channel), {}};
  for (fs::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
    std::string name = it->path().filename().string();
    if (!name.starts_with(".") && it->is_regular_file(error)) result.files.push_back(it->path());
  }
  if (error) {
    return Internal(fmt::format("channel {}: cannot list directory {}: {}", channel, dir.string(),
                                error.message()));
  }
  if (result.files.empty()) {
    return InvalidArgument(fmt::format(
        "channel {}: directory {} contains no files; expected one or more CSV files with a header row",
        channel, dir.string()));
  }
  std::sort(result.files.begin(), result.files.end());
  return result;
}

Result<std::string> ChannelDigest(const ChannelFiles& channel) {
  if (channel.files.size() == 1) {
    TANDEM_ASSIGN_OR_RETURN(std::string hex, Sha256FileHex(channel.files.front()));
    return "sha256:" + hex;
  }
  std::string listing;
  for (const fs::path& path : channel.files) {
    TANDEM_ASSIGN_OR_RETURN(std::string hex, Sha256FileHex(path));
    listing += fmt::format("{}  {}\n", hex, path.filename().string());
  }
  return "sha256:" + Sha256Hex(listing);
}

Result<int64_t> FitChannel(const ChannelFiles& channel, model::FeaturePipelineFitter& fitter,
                           const ReadControl& control) {
  return VisitChannel(
      channel, fitter.unfitted(), control,
      [&fitter](const model::CsvLayout& layout, const model::CsvRecord& record,
                std::string_view source) {
        return fitter.AddCsvRecord(layout, record.fields, source, record.line);
      });
}

Result<ChannelTable> ReadChannelTable(const ChannelFiles& channel,
                                      const model::FeaturePipeline& pipeline, size_t max_samples,
                                      const ReadControl& control) {
  ChannelTable table;
  table.num_features = pipeline.num_features();
  Reservoir reservoir(max_samples);
  const auto& specs = pipeline.spec().features;
  const size_t width = table.num_features;

  auto visit = [&](const model::CsvLayout& layout, const model::CsvRecord& record,
                   std::string_view source) -> Status {
    size_t offset = table.features.size();
    table.features.resize(offset + width);
    std::span<float> row(table.features.data() + offset, width);
    TANDEM_RETURN_IF_ERROR(pipeline.TransformCsv(layout, record.fields, source, record.line, row));
    TANDEM_ASSIGN_OR_RETURN(float label,
                            pipeline.CsvLabel(layout, record.fields, source, record.line));

    size_t row_index = table.labels.size();
    if (std::optional<size_t> slot = reservoir.Offer(row_index)) {
      SampleRecord sample{row_index, Json::object(), std::vector<float>(row.begin(), row.end())};
      for (size_t i = 0; i < specs.size(); ++i) {
        sample.record[specs[i].field] =
            RawFieldToJson(specs[i].kind, record.fields[layout.feature_columns[i]]);
      }
      if (*slot == table.samples.size()) {
        table.samples.push_back(std::move(sample));
      } else {
        table.samples[*slot] = std::move(sample);
      }
    }
    table.labels.push_back(label);
    return Ok();
  };
  TANDEM_RETURN_IF_ERROR(VisitChannel(channel, pipeline, control, visit));
  std::sort(table.samples.begin(), table.samples.end(),
            [](const SampleRecord& a, const SampleRecord& b) { return a.row < b.row; });

  if (table.rows() == 0) {
    return InvalidArgument(fmt::format(
        "channel {}: no data records in {} file(s); each file needs a header row and the "
        "channel at least one data record",
        channel.channel, channel.files.size()));
  }
  return table;
}

Json RawFieldToJson(model::FeatureKind kind, std::string_view cell) {
  if (kind != model::FeatureKind::kNumeric) return std::string(cell);

  std::string_view text = TrimBlanks(cell);
  if (text.empty() || IsNanText(text)) return nullptr;
  if (text.starts_with('+')) text.remove_prefix(1);
  const char* end = text.data() + text.size();
  int64_t integer = 0;
  auto parsed_integer = std::from_chars(text.data(), end, integer);
  // "-0" stays a real so that it keeps its sign, as the CSV cell does.
  bool negative_zero = integer == 0 && text.starts_with('-');
  if (parsed_integer.ec == std::errc() && parsed_integer.ptr == end && !negative_zero) {
    return integer;
  }
  double real = 0;
  auto parsed_real = std::from_chars(text.data(), end, real);
  if (parsed_real.ec == std::errc() && parsed_real.ptr == end) return real;
  // The pipeline rejects such a cell before a record is sampled; keep the text.
  return std::string(cell);
}

}  // namespace tandem::algorithms
