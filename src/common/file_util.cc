#include "common/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "common/crypto.h"

namespace tandem {
namespace {

namespace fs = std::filesystem;

// Maps an errno from an operation on `path` to the most specific error.
std::unexpected<Error> ErrnoError(int error_number, std::string_view action,
                                  const fs::path& path) {
  std::string message =
      fmt::format("cannot {} {}: {}", action, path.string(), std::strerror(error_number));
  switch (error_number) {
    case ENOENT:
    case ENOTDIR: return NotFound(std::move(message));
    case EACCES:
    case EPERM:
    case EROFS: return PermissionDenied(std::move(message));
    case EISDIR: return InvalidArgument(std::move(message));
    case EEXIST: return AlreadyExists(std::move(message));
    case ENOSPC:
    case EDQUOT: return ResourceExhausted(std::move(message));
    default: return Internal(std::move(message));
  }
}

// Closes the descriptor on scope exit.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }
  // Closes now and returns close()'s errno (0 on success).
  int Close() {
    int result = ::close(fd_);
    fd_ = -1;
    return result == 0 ? 0 : errno;
  }

 private:
  int fd_;
};

Result<int> OpenForReading(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return NotFound(fmt::format("file {} not found", path.string()));
    return ErrnoError(errno, "open", path);
  }
  struct stat info {};
  if (::fstat(fd, &info) == 0 && S_ISDIR(info.st_mode)) {
    ::close(fd);
    return InvalidArgument(fmt::format("{} is a directory, expected a file", path.string()));
  }
  return fd;
}

// Reads up to `max_bytes` from `fd`, retrying on EINTR.
Result<std::string> ReadUpTo(int fd, size_t max_bytes, const fs::path& path) {
  std::string data;
  char block[1 << 16];
  while (data.size() < max_bytes) {
    size_t want = std::min(sizeof(block), max_bytes - data.size());
    ssize_t count = ::read(fd, block, want);
    if (count < 0 && errno == EINTR) continue;
    if (count < 0) return ErrnoError(errno, "read", path);
    if (count == 0) break;
    data.append(block, size_t(count));
  }
  return data;
}

Status WriteAll(int fd, std::string_view data, const fs::path& path) {
  while (!data.empty()) {
    ssize_t count = ::write(fd, data.data(), data.size());
    if (count < 0 && errno == EINTR) continue;
    if (count < 0) return ErrnoError(errno, "write", path);
    data.remove_prefix(size_t(count));
  }
  return Ok();
}

// True when `path` equals `root` or lies below it; both must be normalized.
bool IsWithin(const fs::path& path, const fs::path& root) {
  auto path_it = path.begin();
  for (auto root_it = root.begin(); root_it != root.end(); ++root_it, ++path_it) {
    if (root_it->empty()) continue;  // a trailing separator in root
    if (path_it == path.end() || *path_it != *root_it) return false;
  }
  return true;
}

}  // namespace

Result<std::string> ReadFile(const fs::path& path) {
  return ReadFilePrefix(path, std::string::npos);
}

Result<std::string> ReadFilePrefix(const fs::path& path, size_t max_bytes) {
  TANDEM_ASSIGN_OR_RETURN(int raw_fd, OpenForReading(path));
  FileDescriptor fd(raw_fd);
  return ReadUpTo(fd.get(), max_bytes, path);
}

Status WriteFileAtomic(const fs::path& path, std::string_view data, fs::perms perms) {
  // Step 1: write and fsync a uniquely named temporary file beside the target,
  // so the rename below stays within one file system.
  fs::path directory = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  fs::path temporary = directory / fmt::format(".{}.tmp-{}", path.filename().string(), RandomHex(6));
  FileDescriptor fd(::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (fd.get() < 0) return ErrnoError(errno, "create a temporary file in", directory);
  auto cleanup_on_error = [&](Status status) -> Status {
    std::error_code ignored;
    fs::remove(temporary, ignored);
    return status;
  };
  Status written = WriteAll(fd.get(), data, path);
  if (!written) return cleanup_on_error(written);
  if (::fchmod(fd.get(), static_cast<mode_t>(perms)) != 0) {
    return cleanup_on_error(ErrnoError(errno, "set permissions on", path));
  }
  if (::fsync(fd.get()) != 0) return cleanup_on_error(ErrnoError(errno, "fsync", path));
  if (int close_errno = fd.Close(); close_errno != 0) {
    return cleanup_on_error(ErrnoError(close_errno, "close", path));
  }

  // Step 2: publish with rename, then fsync the directory so the new entry
  // survives a crash.
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    return cleanup_on_error(ErrnoError(errno, "rename a temporary file to", path));
  }
  FileDescriptor dir_fd(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() >= 0) ::fsync(dir_fd.get());
  return Ok();
}

Status WriteFile(const fs::path& path, std::string_view data) {
  FileDescriptor fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (fd.get() < 0) return ErrnoError(errno, "create", path);
  TANDEM_RETURN_IF_ERROR(WriteAll(fd.get(), data, path));
  if (int close_errno = fd.Close(); close_errno != 0) return ErrnoError(close_errno, "close", path);
  return Ok();
}

Status CreateDirectories(const fs::path& path) {
  std::error_code error;
  fs::create_directories(path, error);
  if (!error) return Ok();
  if (error == std::errc::file_exists || error == std::errc::not_a_directory) {
    return AlreadyExists(fmt::format("cannot create directory {}: a file is in the way",
                                     path.string()));
  }
  return ErrnoError(error.value(), "create directory", path);
}

Result<fs::path> ConfinePath(const fs::path& root, const fs::path& user_path) {
  std::error_code error;
  fs::path resolved_root = fs::canonical(root, error);
  if (error) {
    return ErrnoError(error.value(), "resolve root directory", root);
  }
  fs::path candidate = user_path.is_absolute() ? user_path : resolved_root / user_path;
  // weakly_canonical resolves symlinks in the existing prefix and normalizes
  // the rest lexically, which is exact there because it contains no links.
  fs::path resolved = fs::weakly_canonical(candidate, error);
  if (error) return ErrnoError(error.value(), "resolve", candidate);
  if (!IsWithin(resolved, resolved_root)) {
    return PermissionDenied(fmt::format("path {} is outside {}", user_path.string(),
                                        resolved_root.string()));
  }
  return resolved;
}

}  // namespace tandem
