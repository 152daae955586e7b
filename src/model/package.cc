#include "model/package.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <set>
#include <vector>

#include <fmt/format.h>

#include "common/crypto.h"
#include "common/file_util.h"

namespace tandem::model {
namespace fs = std::filesystem;
namespace {

struct ArchiveWriteDeleter {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct ArchiveReadDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct EntryDeleter {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

std::string ArchiveMessage(archive* a) {
  const char* message = archive_error_string(a);
  return message == nullptr ? "unknown libarchive error" : message;
}

// Lists the package's files and directories relative to `dir`, sorted.
Result<std::vector<fs::path>> ListPackageEntries(const fs::path& dir) {
  std::vector<fs::path> entries;
  std::error_code error;
  fs::recursive_directory_iterator it(dir, error), end;
  for (; !error && it != end; it.increment(error)) {
    fs::file_status status = it->symlink_status(error);
    if (error) break;
    fs::path relative = it->path().lexically_relative(dir);
    if (!fs::is_regular_file(status) && !fs::is_directory(status)) {
      return InvalidArgument(fmt::format(
          "package entry {} in {} is not a regular file or directory (links and special files "
          "are not allowed)",
          relative.string(), dir.string()));
    }
    entries.push_back(std::move(relative));
  }
  if (error) {
    return Internal(fmt::format("cannot list package directory {}: {}", dir.string(),
                                error.message()));
  }
  std::sort(entries.begin(), entries.end(),
            [](const fs::path& a, const fs::path& b) { return a.generic_string() < b.generic_string(); });
  return entries;
}

// Writes one entry with fixed metadata so archives are reproducible.
Status WriteEntry(archive* out, const fs::path& dir, const fs::path& relative) {
  fs::path source = dir / relative;
  bool is_directory = fs::is_directory(fs::symlink_status(source));
  std::unique_ptr<archive_entry, EntryDeleter> entry(archive_entry_new());
  archive_entry_set_pathname(entry.get(), relative.generic_string().c_str());
  archive_entry_set_filetype(entry.get(), is_directory ? AE_IFDIR : AE_IFREG);
  archive_entry_set_perm(entry.get(), is_directory ? 0755 : 0644);
  archive_entry_set_mtime(entry.get(), 0, 0);
  archive_entry_set_uid(entry.get(), 0);
  archive_entry_set_gid(entry.get(), 0);

  std::ifstream input;
  if (!is_directory) {
    std::error_code error;
    uintmax_t size = fs::file_size(source, error);
    input.open(source, std::ios::binary);
    if (error || !input) {
      return Internal(fmt::format("cannot read package file {}", source.string()));
    }
    archive_entry_set_size(entry.get(), static_cast<la_int64_t>(size));
  } else {
    archive_entry_set_size(entry.get(), 0);
  }
  if (archive_write_header(out, entry.get()) != ARCHIVE_OK) {
    return Internal(fmt::format("cannot write archive entry {}: {}", relative.string(),
                                ArchiveMessage(out)));
  }
  std::vector<char> buffer(1 << 16);
  while (!is_directory && input) {
    input.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    std::streamsize count = input.gcount();
    if (count <= 0) break;
    if (archive_write_data(out, buffer.data(), static_cast<size_t>(count)) < 0) {
      return Internal(fmt::format("cannot write archive entry {}: {}", relative.string(),
                                  ArchiveMessage(out)));
    }
  }
  if (!is_directory && input.bad()) {
    return Internal(fmt::format("cannot read package file {}", source.string()));
  }
  return Ok();
}

// Returns why `name` may not be unpacked, or an empty string when it may.
std::string UnsafePathReason(std::string_view name) {
  if (name.empty()) return "has an empty path";
  if (name.front() == '/') return "has an absolute path";
  fs::path path(name);
  for (const fs::path& part : path) {
    if (part == "..") return "has a \"..\" component";
  }
  return "";
}

Status CheckEntryType(archive_entry* entry, std::string_view name) {
  if (archive_entry_hardlink(entry) != nullptr) {
    return InvalidArgument(fmt::format("package entry \"{}\" is a hard link; only regular files "
                                       "and directories are allowed",
                                       name));
  }
  mode_t type = archive_entry_filetype(entry);
  if (type == AE_IFREG || type == AE_IFDIR) return Ok();
  std::string_view kind = type == AE_IFLNK                     ? "a symbolic link"
                          : (type == AE_IFCHR || type == AE_IFBLK) ? "a device"
                                                                   : "a special file";
  return InvalidArgument(fmt::format("package entry \"{}\" is {}; only regular files and "
                                     "directories are allowed",
                                     name, kind));
}

// Copies the current entry's data to a new file at `target`.
Status WriteEntryData(archive* in, const fs::path& target, std::string_view name,
                      uint64_t& total_bytes, uint64_t max_total_bytes) {
  int fd = ::open(target.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    int err = errno;
    if (err == EEXIST) {
      return InvalidArgument(fmt::format("package entry \"{}\" appears twice or exists in {}",
                                         name, target.parent_path().string()));
    }
    return Internal(fmt::format("cannot create {}: {}", target.string(), std::strerror(err)));
  }
  Status status = Ok();
  const void* block = nullptr;
  size_t size = 0;
  la_int64_t offset = 0;
  while (status) {
    int rc = archive_read_data_block(in, &block, &size, &offset);
    if (rc == ARCHIVE_EOF) break;
    if (rc != ARCHIVE_OK) {
      status = InvalidArgument(fmt::format("package entry \"{}\": cannot read data: {}", name,
                                           ArchiveMessage(in)));
      break;
    }
    total_bytes += size;
    if (total_bytes > max_total_bytes) {
      status = ResourceExhausted(fmt::format("package is larger than the limit of {} bytes", max_total_bytes));
      break;
    }
    if (::pwrite(fd, block, size, offset) != static_cast<ssize_t>(size)) {
      status = Internal(fmt::format("cannot write {}: {}", target.string(), std::strerror(errno)));
    }
  }
  if (::close(fd) != 0 && status) {
    status = Internal(fmt::format("cannot write {}: {}", target.string(), std::strerror(errno)));
  }
  return status;
}

}  // namespace

Status WriteManifest(const fs::path& dir, const ModelManifest& manifest) {
  std::string text = manifest.ToJson().dump(2, ' ', false, Json::error_handler_t::replace);
  text.push_back('\n');
  return WriteFileAtomic(dir / kManifestFileName, text);
}

Result<PackageInfo> ArchivePackage(const fs::path& dir, const fs::path& archive_out) {
  std::error_code error;
  if (!fs::is_directory(dir, error)) {
    return NotFound(fmt::format("package directory {} not found", dir.string()));
  }
  TANDEM_ASSIGN_OR_RETURN(std::vector<fs::path> entries, ListPackageEntries(dir));

  // Write the archive: ustar, no compression, entries in sorted order.
  {
    std::unique_ptr<archive, ArchiveWriteDeleter> out(archive_write_new());
    if (archive_write_set_format_ustar(out.get()) != ARCHIVE_OK ||
        archive_write_add_filter_none(out.get()) != ARCHIVE_OK ||
        archive_write_open_filename(out.get(), archive_out.c_str()) != ARCHIVE_OK) {
      return Internal(fmt::format("cannot create archive {}: {}", archive_out.string(),
                                  ArchiveMessage(out.get())));
    }
    for (const fs::path& relative : entries) {
      Status written = WriteEntry(out.get(), dir, relative);
      if (!written) {
        out.reset();
        fs::remove(archive_out, error);
        return std::unexpected(written.error());
      }
    }
    if (archive_write_close(out.get()) != ARCHIVE_OK) {
      return Internal(fmt::format("cannot finish archive {}: {}", archive_out.string(),
                                  ArchiveMessage(out.get())));
    }
  }

  // Describe it.
  TANDEM_ASSIGN_OR_RETURN(std::string hex, Sha256FileHex(archive_out));
  uintmax_t size = fs::file_size(archive_out, error);
  if (error) {
    return Internal(fmt::format("cannot stat archive {}: {}", archive_out.string(), error.message()));
  }
  return PackageInfo{"sha256:" + hex, static_cast<uint64_t>(size)};
}

Status ExtractPackage(const fs::path& archive_path, const fs::path& dest_dir,
                      uint64_t max_total_bytes) {
  std::error_code error;
  if (!fs::exists(archive_path, error)) {
    return NotFound(fmt::format("package archive {} not found", archive_path.string()));
  }
  TANDEM_RETURN_IF_ERROR(CreateDirectories(dest_dir));

  std::unique_ptr<archive, ArchiveReadDeleter> in(archive_read_new());
  archive_read_support_format_tar(in.get());
  if (archive_read_open_filename(in.get(), archive_path.c_str(), 1 << 16) != ARCHIVE_OK) {
    return InvalidArgument(fmt::format("cannot read package archive {}: {}", archive_path.string(),
                                       ArchiveMessage(in.get())));
  }
  uint64_t total_bytes = 0;
  archive_entry* entry = nullptr;
  while (true) {
    int rc = archive_read_next_header(in.get(), &entry);
    if (rc == ARCHIVE_EOF) break;
    if (rc != ARCHIVE_OK) {
      return InvalidArgument(fmt::format("package archive {} is not a valid tar archive: {}",
                                         archive_path.string(), ArchiveMessage(in.get())));
    }
    const char* raw_name = archive_entry_pathname(entry);
    std::string name = raw_name == nullptr ? "" : raw_name;

    // Check the entry before touching the file system.
    if (std::string reason = UnsafePathReason(name); !reason.empty()) {
      return InvalidArgument(fmt::format("package entry \"{}\" {}", name, reason));
    }
    TANDEM_RETURN_IF_ERROR(CheckEntryType(entry, name));
    la_int64_t declared = archive_entry_size_is_set(entry) ? archive_entry_size(entry) : 0;
    if (declared < 0 || static_cast<uint64_t>(declared) > max_total_bytes - std::min(total_bytes, max_total_bytes)) {
      return ResourceExhausted(fmt::format("package is larger than the limit of {} bytes (entry "
                                           "\"{}\" has {} bytes)",
                                           max_total_bytes, name, declared));
    }

    // Unpack it.
    fs::path target = dest_dir / fs::path(name).lexically_normal();
    if (archive_entry_filetype(entry) == AE_IFDIR) {
      TANDEM_RETURN_IF_ERROR(CreateDirectories(target));
      continue;
    }
    TANDEM_RETURN_IF_ERROR(CreateDirectories(target.parent_path()));
    TANDEM_RETURN_IF_ERROR(WriteEntryData(in.get(), target, name, total_bytes, max_total_bytes));
  }
  return Ok();
}

Result<LoadedPackage> LoadPackage(const fs::path& dir) {
  std::error_code error;
  if (!fs::is_directory(dir, error)) {
    return NotFound(fmt::format("package directory {} not found", dir.string()));
  }
  fs::path manifest_path = dir / kManifestFileName;
  Result<std::string> text = ReadFile(manifest_path);
  if (!text) {
    if (text.error().code() == ErrorCode::kNotFound) {
      return NotFound(fmt::format("package {} has no {}", dir.string(), kManifestFileName));
    }
    return std::unexpected(text.error());
  }
  TANDEM_ASSIGN_OR_RETURN(ModelManifest manifest,
                          ModelManifest::Parse(*text, manifest_path.string()));

  LoadedPackage package;
  package.dir = dir;
  package.model_path = dir / manifest.model_file;
  if (!fs::is_regular_file(package.model_path, error)) {
    return NotFound(fmt::format("package {}: model file {} named by ModelFile not found",
                                dir.string(), manifest.model_file));
  }
  package.manifest = std::move(manifest);
  return package;
}

}  // namespace tandem::model
