// Paged reads of a job's log file (GET /jobs/{id}/logs).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "common/status.h"

namespace tandem::api {

// Default and largest `limit` of one logs page, in bytes.
inline constexpr int64_t kDefaultLogPageBytes = int64_t{1} << 20;
inline constexpr int64_t kMaxLogPageBytes = int64_t{8} << 20;

struct LogChunk {
  std::string data;         // raw bytes of the log from `offset`
  int64_t next_offset = 0;  // offset + data.size()
  bool at_end = false;      // next_offset reached the end of the file as it was read
};

// Reads at most `limit` bytes of `path` from `offset`. A page that would end
// inside a UTF-8 sequence ends before it, unless that leaves it empty. A
// missing file reads as empty (the job may not have started writing yet).
// Errors: kInternal when the file exists but cannot be read.
Result<LogChunk> ReadLogChunk(const std::filesystem::path& path, int64_t offset, int64_t limit);

}  // namespace tandem::api
