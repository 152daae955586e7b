#include "backends/warm_handoff.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include <fmt/format.h>

#include "common/json_util.h"

namespace tandem::backends {

std::string HandoffMessage(const std::filesystem::path& job_dir,
                           const std::map<std::string, std::string>& environment,
                           const std::string& spec_json) {
  Json message = {{"JobDir", job_dir.string()}, {"Environment", environment}};
  if (!spec_json.empty()) message["Spec"] = spec_json;
  return message.dump() + "\n";
}

Result<Handoff> ParseHandoff(std::string_view line) {
  constexpr std::string_view kWhat = "warm worker hand-off";
  TANDEM_ASSIGN_OR_RETURN(Json message, ParseJson(line, kWhat));
  TANDEM_RETURN_IF_ERROR(RequireObject(message, kWhat));
  TANDEM_RETURN_IF_ERROR(RejectUnknownFields(message, "", {"JobDir", "Environment", "Spec"}));

  Handoff handoff;
  TANDEM_ASSIGN_OR_RETURN(std::string job_dir, GetString(message, "JobDir", ""));
  handoff.job_dir = job_dir;
  if (!handoff.job_dir.is_absolute()) {
    return InvalidArgument(fmt::format("{}: JobDir \"{}\" is not an absolute path", kWhat, job_dir));
  }
  auto environment = message.find("Environment");
  if (environment == message.end() || !environment->is_object()) {
    return InvalidArgument(fmt::format("{}: Environment must be an object", kWhat));
  }
  for (const auto& [name, value] : environment->items()) {
    if (!value.is_string()) {
      return InvalidArgument(fmt::format("{}: Environment.{} must be a string", kWhat, name));
    }
    handoff.environment[name] = value.get<std::string>();
  }
  TANDEM_ASSIGN_OR_RETURN(auto spec, GetOptionalString(message, "Spec", ""));
  handoff.spec_json = spec.value_or("");
  return handoff;
}

Status WriteHandoff(int fd, std::string_view message) {
  int flags = ::fcntl(fd, F_GETFL);
  ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  sigset_t pipe_only, previous;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_only, &previous);
  Status status = Ok();
  while (!message.empty()) {
    ssize_t written = ::write(fd, message.data(), message.size());
    if (written < 0 && errno == EINTR) continue;
    if (written < 0) {
      status = Internal(fmt::format("cannot write the hand-off: {}", std::strerror(errno)));
      break;
    }
    message.remove_prefix(static_cast<size_t>(written));
  }
  // Discard a SIGPIPE raised here before unblocking, so it is never delivered.
  timespec zero{};
  while (sigtimedwait(&pipe_only, nullptr, &zero) == SIGPIPE) {
  }
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  return status;
}

}  // namespace tandem::backends
