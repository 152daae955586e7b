#include "backends/slurm_command.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/file_util.h"

namespace tandem::backends {
namespace {

// A file made by mkstemp (mode 0600) that is removed when the object goes.
class TemporaryFile {
 public:
  static Result<TemporaryFile> Create() {
    std::string path = (std::filesystem::temp_directory_path() / "tandem-slurm-XXXXXX").string();
    int fd = ::mkstemp(path.data());
    if (fd < 0) {
      return Unavailable(fmt::format("cannot create a temporary file for a Slurm command's output "
                                     "in {}: {}",
                                     std::filesystem::temp_directory_path().string(),
                                     std::strerror(errno)));
    }
    ::close(fd);
    return TemporaryFile(std::move(path));
  }
  TemporaryFile(TemporaryFile&& other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }
  TemporaryFile(const TemporaryFile&) = delete;
  TemporaryFile& operator=(const TemporaryFile&) = delete;
  TemporaryFile& operator=(TemporaryFile&&) = delete;
  ~TemporaryFile() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  const std::string& path() const { return path_; }

 private:
  explicit TemporaryFile(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

}  // namespace

Result<CommandOutput> RunCommand(const std::vector<std::string>& argv,
                                 const std::map<std::string, std::string>& environment,
                                 std::chrono::milliseconds timeout) {
  std::string program = argv.empty() ? std::string() : argv.front();
  TANDEM_ASSIGN_OR_RETURN(TemporaryFile output_file, TemporaryFile::Create());
  SpawnOptions spawn{
      .argv = argv,
      .environment = environment,
      .log_file = output_file.path(),
      .group = ProcessGroup::kNewGroup,
  };
  Result<ChildProcess> child = ChildProcess::Spawn(spawn);
  if (!child) {
    return Unavailable(fmt::format("cannot run {}: {}", program, child.error().message()));
  }

  std::optional<ExitStatus> status = child->WaitFor(timeout);
  if (!status) {
    child->Terminate(std::chrono::milliseconds(0));
    return Unavailable(fmt::format("{} did not finish within {} ms and was killed", program,
                                   timeout.count()));
  }
  Result<std::string> output = ReadFile(output_file.path());
  if (!output) {
    return Unavailable(
        fmt::format("cannot read the output of {}: {}", program, output.error().message()));
  }
  return CommandOutput{.status = *status, .output = std::move(*output)};
}

}  // namespace tandem::backends
