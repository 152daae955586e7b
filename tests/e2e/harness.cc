#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <csignal>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/crypto.h"
#include "common/file_util.h"

namespace tandem::e2e {
namespace {

std::map<std::string, std::string> BaseEnvironment() {
  std::map<std::string, std::string> environment = {
      {"PATH", "/usr/local/bin:/usr/bin:/bin"},
      {"HOME", "/tmp"},
      {"OMP_WAIT_POLICY", "PASSIVE"},
  };
  return environment;
}

std::string ReadOrEmpty(const std::filesystem::path& path) {
  auto text = ReadFile(path);
  return text ? *text : "";
}

void StopProcess(std::optional<ChildProcess>& process) {
  if (!process) return;
  (void)process->Signal(SIGTERM);
  if (!process->WaitFor(std::chrono::seconds(20))) {
    (void)process->Signal(SIGKILL);
    (void)process->WaitFor(std::chrono::seconds(10));
  }
  process.reset();
}

}  // namespace

TempDir::TempDir()
    : path_(std::filesystem::temp_directory_path() / ("tandem-e2e-" + RandomHex(6))) {
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

uint16_t PickFreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  uint16_t port = ntohs(address.sin_port);
  ::close(fd);
  return port;
}

CommandOutput RunTandem(const std::vector<std::string>& args,
                        const std::map<std::string, std::string>& environment,
                        std::chrono::seconds timeout) {
  TempDir scratch;
  SpawnOptions options;
  options.argv = {TANDEM_BINARY};
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  options.environment = BaseEnvironment();
  for (const auto& [name, value] : environment) options.environment[name] = value;
  options.log_file = scratch.path() / "output.log";

  CommandOutput result;
  auto child = ChildProcess::Spawn(options);
  if (!child) {
    result.output = child.error().message();
    return result;
  }
  auto status = child->WaitFor(timeout);
  if (!status) {
    (void)child->Signal(SIGKILL);
    status = child->WaitFor(std::chrono::seconds(10));
    result.output = "timed out\n";
  }
  result.exit_code = status && status->exit_code ? *status->exit_code : -1;
  result.output += ReadOrEmpty(options.log_file);
  return result;
}

bool WaitForOk(const std::string& url, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto response = http::Fetch("GET", url, "", {}, std::chrono::seconds(2));
    if (response && response->status == 200) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

ControlPlane::ControlPlane(const std::vector<std::string>& extra_server_args) {
  uint16_t port = PickFreePort();
  url_ = fmt::format("http://127.0.0.1:{}", port);
  std::filesystem::create_directories(data_dir() / "inputs");

  SpawnOptions options;
  options.argv = {TANDEM_BINARY,   "server",
                  "--data-dir",    data_dir().string(),
                  "--port",        std::to_string(port),
                  "--input-root",  (std::filesystem::path(TANDEM_SOURCE_DIR) / "tests/data").string(),
                  "--input-root",  (std::filesystem::path(TANDEM_SOURCE_DIR) / "examples").string(),
                  "--input-root",  (data_dir() / "inputs").string(),
                  "--log-level",   "debug"};
  options.argv.insert(options.argv.end(), extra_server_args.begin(), extra_server_args.end());
  options.environment = BaseEnvironment();
  options.log_file = data_dir() / "server.log";
  auto child = ChildProcess::Spawn(options);
  if (!child) return;
  process_.emplace(std::move(*child));
  if (!WaitForOk(url_ + "/api/v1/health", std::chrono::seconds(60))) {
    StopProcess(process_);
    return;
  }
  auto token = ReadFile(data_dir() / "admin.token");
  if (token) {
    admin_token_ = *token;
    while (!admin_token_.empty() && (admin_token_.back() == '\n' || admin_token_.back() == ' ')) {
      admin_token_.pop_back();
    }
  }
}

ControlPlane::~ControlPlane() { StopProcess(process_); }

std::string ControlPlane::ServerLog() const { return ReadOrEmpty(data_dir() / "server.log"); }

std::map<std::string, std::string> ControlPlane::ClientEnvironment() const {
  return {{"TANDEM_URL", url_}, {"TANDEM_TOKEN", admin_token_}};
}

Result<http::Response> ControlPlane::Call(std::string_view method, std::string_view target,
                                          std::string_view body) const {
  http::HeaderList headers = {{"Authorization", "Bearer " + admin_token_},
                              {"Content-Type", "application/json"}};
  return http::Fetch(method, url_ + std::string(target), body, headers);
}

Json ControlPlane::WaitForJob(const std::string& job_id, std::chrono::seconds timeout) const {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  Json job;
  while (std::chrono::steady_clock::now() < deadline) {
    auto response = Call("GET", "/api/v1/jobs/" + job_id);
    if (response && response->status == 200) {
      auto parsed = ParseJson(response->body, "job");
      if (parsed) {
        job = *parsed;
        std::string status = job.value("TrainingJobStatus", "");
        if (status == "Completed" || status == "Failed" || status == "Stopped") return job;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return job;
}

InferenceServer::InferenceServer(const std::vector<std::string>& model_args) {
  uint16_t port = PickFreePort();
  url_ = fmt::format("http://127.0.0.1:{}", port);
  SpawnOptions options;
  options.argv = {TANDEM_BINARY, "serve", "--port", std::to_string(port), "--threads", "2",
                  "--cache-dir", (work_dir_.path() / "cache").string()};
  options.argv.insert(options.argv.end(), model_args.begin(), model_args.end());
  options.environment = BaseEnvironment();
  options.log_file = work_dir_.path() / "serve.log";
  auto child = ChildProcess::Spawn(options);
  if (child) process_.emplace(std::move(*child));
}

InferenceServer::~InferenceServer() { StopProcess(process_); }

bool InferenceServer::WaitReady(std::chrono::seconds timeout) const {
  return process_ && WaitForOk(url_ + "/v2/health/ready", timeout);
}

std::string InferenceServer::Log() const { return ReadOrEmpty(work_dir_.path() / "serve.log"); }

}  // namespace tandem::e2e
