#include "model/csv.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>

namespace tandem::model {
namespace {

// Splits text into CSV records. Fields are views into the text, except quoted
// fields containing '""', which are unescaped into a scratch buffer owned by
// the parser and valid until the next call to Next().
class RecordParser {
 public:
  // `source` is the error prefix ("file X" or "request body").
  RecordParser(std::string_view text, std::string source)
      : pos_(text.data()), end_(text.data() + text.size()), source_(std::move(source)) {}

  // Parses the next non-empty record. Returns false at the end of the text.
  Result<bool> Next();

  std::span<const std::string_view> fields() const { return fields_; }
  size_t record_line() const { return record_line_; }
  const std::string& source() const { return source_; }
  bool at_end() const { return pos_ == end_; }

 private:
  struct EscapedField {
    size_t field_index;
    size_t offset;
    size_t size;
  };

  std::unexpected<Error> RecordError(std::string_view what) const {
    return InvalidArgument(fmt::format("{} line {}: {}", source_, record_line_, what));
  }

  // Each returns the position after the field's content, before the separator.
  Result<const char*> ParseUnquoted(const char* p);
  Result<const char*> ParseQuoted(const char* p);

  const char* pos_;
  const char* end_;
  std::string source_;
  size_t line_ = 1;
  size_t record_line_ = 0;
  std::vector<std::string_view> fields_;
  std::vector<EscapedField> escaped_;
  std::string scratch_;
};

Result<const char*> RecordParser::ParseUnquoted(const char* p) {
  const char* start = p;
  while (p != end_) {
    char c = *p;
    if (c == ',' || c == '\n') break;
    if (c == '\r' && p + 1 != end_ && p[1] == '\n') break;
    if (c == '"') {
      return RecordError(fmt::format(
          "field {} contains a quote but does not start with one; enclose the field in quotes "
          "and double the quotes inside it",
          fields_.size() + 1));
    }
    ++p;
  }
  fields_.emplace_back(start, static_cast<size_t>(p - start));
  return p;
}

Result<const char*> RecordParser::ParseQuoted(const char* p) {
  ++p;  // the opening quote
  const char* start = p;
  bool has_escapes = false;
  size_t scratch_start = scratch_.size();
  while (true) {
    const void* found = std::memchr(p, '"', static_cast<size_t>(end_ - p));
    const char* quote = static_cast<const char*>(found);
    const char* stop = quote == nullptr ? end_ : quote;
    for (const char* c = p; c != stop; ++c) line_ += (*c == '\n');
    if (quote == nullptr) {
      return RecordError(fmt::format("field {} has an unterminated quoted value",
                                     fields_.size() + 1));
    }
    if (quote + 1 != end_ && quote[1] == '"') {
      // A doubled quote: keep one and continue after both.
      scratch_.append(p, static_cast<size_t>(quote + 1 - p));
      has_escapes = true;
      p = quote + 2;
      continue;
    }
    if (has_escapes) {
      scratch_.append(p, static_cast<size_t>(quote - p));
      escaped_.push_back({fields_.size(), scratch_start, scratch_.size() - scratch_start});
      fields_.emplace_back();
    } else {
      fields_.emplace_back(start, static_cast<size_t>(quote - start));
    }
    return quote + 1;
  }
}

Result<bool> RecordParser::Next() {
  fields_.clear();
  escaped_.clear();
  scratch_.clear();

  // Skip empty lines.
  while (pos_ != end_) {
    if (*pos_ == '\n') {
      ++pos_;
      ++line_;
    } else if (*pos_ == '\r' && pos_ + 1 != end_ && pos_[1] == '\n') {
      pos_ += 2;
      ++line_;
    } else {
      break;
    }
  }
  if (pos_ == end_) return false;
  record_line_ = line_;

  // Parse fields until the end of the record.
  const char* p = pos_;
  while (true) {
    Result<const char*> after =
        (p != end_ && *p == '"') ? ParseQuoted(p) : ParseUnquoted(p);
    if (!after) return std::unexpected(after.error());
    p = *after;
    if (p == end_) break;
    if (*p == ',') {
      ++p;
      continue;
    }
    if (*p == '\n') {
      ++p;
      ++line_;
      break;
    }
    if (*p == '\r' && p + 1 != end_ && p[1] == '\n') {
      p += 2;
      ++line_;
      break;
    }
    return RecordError(fmt::format("field {} has text after its closing quote", fields_.size()));
  }
  pos_ = p;

  // The scratch buffer no longer grows, so views into it stay valid.
  for (const EscapedField& e : escaped_) {
    fields_[e.field_index] = std::string_view(scratch_).substr(e.offset, e.size);
  }
  return true;
}

// Strips a UTF-8 byte order mark, which spreadsheet exports often write.
std::string_view StripBom(std::string_view text) {
  constexpr std::string_view kBom = "\xEF\xBB\xBF";
  if (text.starts_with(kBom)) text.remove_prefix(kBom.size());
  return text;
}

}  // namespace

struct CsvReader::State {
  std::filesystem::path path;
  void* mapping = nullptr;
  size_t mapping_size = 0;
  std::vector<std::string> header;
  std::unique_ptr<RecordParser> parser;
  bool read_called = false;

  ~State() {
    if (mapping != nullptr) munmap(mapping, mapping_size);
  }
};

CsvReader::CsvReader(std::unique_ptr<State> state) : state_(std::move(state)) {}
CsvReader::CsvReader(CsvReader&&) noexcept = default;
CsvReader& CsvReader::operator=(CsvReader&&) noexcept = default;
CsvReader::~CsvReader() = default;

const std::filesystem::path& CsvReader::path() const { return state_->path; }
const std::vector<std::string>& CsvReader::header() const { return state_->header; }

Result<CsvReader> CsvReader::Open(const std::filesystem::path& path) {
  auto state = std::make_unique<State>();
  state->path = path;
  const std::string name = path.string();

  // Map the file.
  int fd = ::open(name.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) return NotFound(fmt::format("file {} not found", name));
    return Internal(fmt::format("cannot open file {}: {}", name, std::strerror(err)));
  }
  struct stat info {};
  if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd);
    return InvalidArgument(fmt::format("{} is not a regular file", name));
  }
  if (info.st_size > 0) {
    state->mapping_size = static_cast<size_t>(info.st_size);
    void* mapping = mmap(nullptr, state->mapping_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (mapping == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      return Internal(fmt::format("cannot map file {}: {}", name, std::strerror(err)));
    }
    state->mapping = mapping;
    madvise(mapping, state->mapping_size, MADV_SEQUENTIAL);
  }
  ::close(fd);

  // Parse the header row.
  std::string_view text(static_cast<const char*>(state->mapping), state->mapping_size);
  state->parser = std::make_unique<RecordParser>(StripBom(text), fmt::format("file {}", name));
  Result<bool> has_header = state->parser->Next();
  if (!has_header) return std::unexpected(has_header.error());
  if (!*has_header) {
    return InvalidArgument(fmt::format("file {} is empty, expected a header row", name));
  }
  std::unordered_map<std::string_view, size_t> seen;
  for (std::string_view column : state->parser->fields()) {
    auto [it, inserted] = seen.emplace(column, state->header.size());
    if (!inserted) {
      return InvalidArgument(fmt::format("file {} line 1: header repeats column \"{}\" "
                                         "(columns {} and {})",
                                         name, column, it->second + 1, state->header.size() + 1));
    }
    state->header.emplace_back(column);
  }
  return CsvReader(std::move(state));
}

Result<CsvReadSummary> CsvReader::ReadRecords(const CsvRecordCallback& callback) {
  if (state_->read_called) {
    return FailedPrecondition(
        fmt::format("file {}: records were already read; open the file again", state_->path.string()));
  }
  state_->read_called = true;
  RecordParser& parser = *state_->parser;
  const size_t expected_fields = state_->header.size();
  CsvReadSummary summary;
  while (true) {
    Result<bool> more = parser.Next();
    if (!more) return std::unexpected(more.error());
    if (!*more) break;
    if (parser.fields().size() != expected_fields) {
      return InvalidArgument(fmt::format("{} line {}: record has {} fields, the header has {}",
                                         parser.source(), parser.record_line(),
                                         parser.fields().size(), expected_fields));
    }
    ++summary.records;
    if (!callback(CsvRecord{parser.record_line(), parser.fields()})) {
      summary.stopped_early = true;
      break;
    }
  }
  return summary;
}

Result<CsvReadSummary> ParseCsvText(std::string_view text, std::string_view source,
                                    const CsvRecordCallback& callback) {
  RecordParser parser(text, std::string(source));
  CsvReadSummary summary;
  while (true) {
    Result<bool> more = parser.Next();
    if (!more) return std::unexpected(more.error());
    if (!*more) break;
    ++summary.records;
    if (!callback(CsvRecord{parser.record_line(), parser.fields()})) {
      summary.stopped_early = true;
      break;
    }
  }
  return summary;
}

Result<std::vector<std::string>> ParseCsvLine(std::string_view line) {
  RecordParser parser(line, "CSV line");
  Result<bool> found = parser.Next();
  if (!found) return std::unexpected(found.error());
  if (!*found) return std::vector<std::string>{std::string()};
  std::vector<std::string> fields(parser.fields().begin(), parser.fields().end());
  if (!parser.at_end()) {
    return InvalidArgument("CSV line: expected one record, found a line break after it");
  }
  return fields;
}

}  // namespace tandem::model
