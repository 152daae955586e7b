// File system helpers whose errors name the path and the failed operation.
// All functions are thread-safe because they share no state. Concurrent
// writers of one path through WriteFileAtomic leave one complete version.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/status.h"

namespace tandem {

// Reads the whole file. Errors: kNotFound when missing, kInvalidArgument when
// it is a directory, kPermissionDenied when unreadable, kInternal on I/O failure.
Result<std::string> ReadFile(const std::filesystem::path& path);

// Reads at most `max_bytes` from the start of the file (fewer when it is
// shorter). Errors as for ReadFile.
Result<std::string> ReadFilePrefix(const std::filesystem::path& path, size_t max_bytes);

// Replaces the file with `data` atomically: writes a temporary file in the same
// directory, fsyncs it, sets `perms`, renames it over `path`, then fsyncs the
// directory. Readers see the old or the new content, never a partial file.
// The parent directory must exist (kNotFound otherwise).
Status WriteFileAtomic(const std::filesystem::path& path, std::string_view data,
                       std::filesystem::perms perms = std::filesystem::perms::owner_read |
                                                      std::filesystem::perms::owner_write |
                                                      std::filesystem::perms::group_read |
                                                      std::filesystem::perms::others_read);

// Writes `data` to `path` (mode 0644), replacing the file, without fsync. It
// is meant for files that matter only while this machine stays up, such as a
// job root's config files, where an fsync would cost milliseconds on every
// job start. A reader may see a partial file while it is written. The parent
// directory must exist (kNotFound otherwise).
Status WriteFile(const std::filesystem::path& path, std::string_view data);

// Creates `path` and missing parents; succeeds when it already is a directory.
// Errors: kAlreadyExists when `path` or a parent is a file, kPermissionDenied,
// kInternal otherwise.
Status CreateDirectories(const std::filesystem::path& path);

// Resolves `user_path` (absolute, or relative to `root`), following symlinks
// and "..", and returns the resolved absolute path. The path need not exist:
// its longest existing prefix is resolved and the rest appended lexically.
// Errors: kPermissionDenied "path X is outside Y" unless the result is `root`
// or lies within it; kNotFound when `root` does not exist.
Result<std::filesystem::path> ConfinePath(const std::filesystem::path& root,
                                          const std::filesystem::path& user_path);

}  // namespace tandem
