// A fast reader for RFC 4180 CSV files and single CSV lines.
//
// Format: fields separated by ',', records ended by LF or CRLF (the last record
// may lack one), fields optionally enclosed in '"' with '"' inside a quoted
// field written as '""'. A quoted field may span lines. A quote inside an
// unquoted field is an error. Empty lines are skipped, so a file with a single
// column cannot hold an empty value on a line of its own.
//
// The file reader maps the file into memory and hands each record to a callback
// as string_views into the mapping (or into a per-record scratch buffer for
// quoted fields that contain '""'). Nothing is copied per field otherwise.
//
// Errors name the file and the 1-based line where the bad record starts:
//   "file /data/train.csv line 17: record has 5 fields, the header has 6".
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace tandem::model {

// One CSV record as the callback sees it. `fields` and the views in it are
// valid only during the callback; copy what must outlive it.
struct CsvRecord {
  size_t line = 0;  // 1-based line where the record starts; the header is line 1
  std::span<const std::string_view> fields;
};

// Called once per record. Returns false to stop reading early (the read then
// ends with `stopped_early` set and no error).
using CsvRecordCallback = std::function<bool(const CsvRecord& record)>;

struct CsvReadSummary {
  size_t records = 0;          // data records handed to the callback (header excluded)
  bool stopped_early = false;  // the callback returned false
};

// Reads one CSV file: a required header row, then data records that must each
// have as many fields as the header.
//
// Thread safety: a CsvReader is used by one thread at a time; separate readers
// are independent. Move-only.
class CsvReader {
 public:
  // Opens and maps `path` and parses its header row.
  // Errors: kNotFound when the file does not exist; kInvalidArgument when it is
  // not a regular file, is empty ("file X is empty, expected a header row") or
  // its header is malformed; kInternal when it cannot be read or mapped.
  static Result<CsvReader> Open(const std::filesystem::path& path);

  CsvReader(CsvReader&&) noexcept;
  CsvReader& operator=(CsvReader&&) noexcept;
  ~CsvReader();

  const std::filesystem::path& path() const;
  // Column names from the header row, in file order.
  const std::vector<std::string>& header() const;

  // Parses the data records in file order and calls `callback` for each,
  // until the end of the file or until `callback` returns false.
  // Errors (kInvalidArgument, naming file and line): a record whose field
  // count differs from the header's, an unterminated quoted field, a quote in
  // an unquoted field, text after a closing quote. Records before the bad one
  // have already been passed to `callback`.
  // REQUIRES: called at most once per reader.
  Result<CsvReadSummary> ReadRecords(const CsvRecordCallback& callback);

 private:
  struct State;
  explicit CsvReader(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// Parses CSV `text` that has no header row (for example an inference request
// body of content type text/csv) and calls `callback` for each record. Records
// may have different field counts; the caller checks them. `source` names the
// text in errors ("request body"), which otherwise read as for ReadRecords.
Result<CsvReadSummary> ParseCsvText(std::string_view text, std::string_view source,
                                    const CsvRecordCallback& callback);

// Parses exactly one CSV record from `line`; one trailing LF or CRLF is
// allowed. Errors (kInvalidArgument): malformed quoting, or more than one
// record in `line`.
Result<std::vector<std::string>> ParseCsvLine(std::string_view line);

}  // namespace tandem::model
