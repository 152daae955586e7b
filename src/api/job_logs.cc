#include "api/job_logs.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace tandem::api {
namespace {

bool IsContinuationByte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// Returns how many bytes of `data` to keep so it does not end inside a UTF-8
// sequence (a lead byte followed by fewer continuation bytes than it needs).
size_t CompleteUtf8Prefix(const std::string& data) {
  size_t n = data.size();
  size_t i = n;
  size_t continuation = 0;
  while (i > 0 && continuation < 3 && IsContinuationByte(data[i - 1])) {
    --i;
    ++continuation;
  }
  if (i == 0) return n;
  unsigned char lead = static_cast<unsigned char>(data[i - 1]);
  size_t needed = 0;
  if (lead >= 0xF0) {
    needed = 3;
  } else if (lead >= 0xE0) {
    needed = 2;
  } else if (lead >= 0xC0) {
    needed = 1;
  }
  if (needed > continuation) return i - 1;
  return n;
}

}  // namespace

Result<LogChunk> ReadLogChunk(const std::filesystem::path& path, int64_t offset, int64_t limit) {
  LogChunk chunk;
  chunk.next_offset = offset;
  std::error_code error;
  uint64_t size = std::filesystem::file_size(path, error);
  if (error == std::errc::no_such_file_or_directory) {
    chunk.at_end = true;
    return chunk;
  }
  if (error) {
    return Internal(fmt::format("cannot read log {}: {}", path.string(), error.message()));
  }
  if (static_cast<uint64_t>(offset) >= size) {
    chunk.at_end = true;
    return chunk;
  }

  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Internal(fmt::format("cannot open log {}: {}", path.string(), std::strerror(errno)));
  }
  in.seekg(offset);
  int64_t wanted = std::min<int64_t>(limit, static_cast<int64_t>(size) - offset);
  chunk.data.resize(static_cast<size_t>(wanted));
  in.read(chunk.data.data(), wanted);
  chunk.data.resize(static_cast<size_t>(in.gcount()));

  size_t keep = CompleteUtf8Prefix(chunk.data);
  if (keep > 0) chunk.data.resize(keep);
  chunk.next_offset = offset + static_cast<int64_t>(chunk.data.size());
  chunk.at_end = static_cast<uint64_t>(chunk.next_offset) >= size;
  return chunk;
}

}  // namespace tandem::api
