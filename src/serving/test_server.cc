#include "serving/test_server.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <regex>
#include <thread>

#include "common/file_util.h"

extern char** environ;

namespace tandem::serving::testing {

TestServer::TestServer(std::vector<ModelSource> sources, TestServerOptions options) {
  options.manager.model_options.metrics = &metrics_;
  models_ = std::make_unique<ModelManager>(std::move(sources), std::move(options.manager));
  if (!options.shadows.empty()) {
    shadow_ =
        std::make_unique<ShadowMirror>(options.shadows, *models_, &metrics_, options.shadow_queue);
  }
  service_ = std::make_unique<InferenceService>(
      *models_, InferenceServiceOptions{.metrics = &metrics_,
                                        .canaries = options.canaries,
                                        .shadow = shadow_.get(),
                                        .extensions = {"model_repository"}});
  repository_ = std::make_unique<RepositoryService>(*models_, options.admin_token);
  service_->AddRoutes(router_);
  repository_->AddRoutes(router_);
  server_ = std::make_unique<http::Server>(
      http::ServerOptions{.host = "127.0.0.1",
                          .port = 0,
                          .threads = options.threads,
                          .max_body_bytes = options.max_body_bytes,
                          .on_rejected = service_->RejectionCounter()},
      service_->Dispatcher(router_));
  Result<uint16_t> port = server_->Start();
  if (port) port_ = *port;
  models_->StartLoading();
}

TestServer::~TestServer() {
  server_->Stop();
  shadow_.reset();
}

std::string TestServer::url() const { return fmt::format("http://127.0.0.1:{}", port_); }

http::Response TestServer::Send(std::string_view method, std::string_view target,
                                std::string_view body, const http::HeaderList& headers) {
  thread_local std::unique_ptr<http::Client> client;
  thread_local std::string client_url;
  if (client == nullptr || client_url != url()) {
    client_url = url();
    client = std::make_unique<http::Client>(client_url);
  }
  Result<http::Response> response = client->Send(method, target, body, headers);
  if (!response) return http::Response{.status = -1, .body = response.error().message()};
  return *response;
}

std::optional<double> MetricValue(const std::string& text, std::string_view series) {
  size_t at = 0;
  while ((at = text.find(series, at)) != std::string::npos) {
    const bool line_start = at == 0 || text[at - 1] == '\n';
    const size_t value_at = at + series.size();
    if (line_start && value_at < text.size() && text[value_at] == ' ') {
      return std::stod(text.substr(value_at + 1, text.find('\n', value_at) - value_at - 1));
    }
    at = value_at;
  }
  return std::nullopt;
}

ServeProcess::ServeProcess(const std::string& tool, std::vector<std::string> args,
                           const std::filesystem::path& log, std::vector<std::string> extra_env)
    : log_(log) {
  std::vector<std::string> argv_storage = {tool, "serve"};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : argv_storage) argv.push_back(arg.data());
  argv.push_back(nullptr);

  std::vector<std::string> env_storage;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    if (std::string_view(*entry).starts_with("SAGEMAKER_BIND_TO_PORT=")) continue;
    env_storage.emplace_back(*entry);
  }
  env_storage.insert(env_storage.end(), extra_env.begin(), extra_env.end());
  std::vector<char*> env;
  for (std::string& entry : env_storage) env.push_back(entry.data());
  env.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  int error = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), env.data());
  posix_spawn_file_actions_destroy(&actions);
  if (error != 0) pid_ = -1;
}

ServeProcess::~ServeProcess() {
  if (pid_ > 0 && !exit_code_) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

std::optional<int> ServeProcess::WaitExit(std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (pid_ > 0 && !exit_code_) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return exit_code_;
}

std::optional<uint16_t> ServeProcess::WaitListening(std::chrono::seconds timeout) {
  const std::regex pattern(R"(inference server listening host=\S+ port=(\d+))");
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::string text = Log();
    std::smatch match;
    if (std::regex_search(text, match, pattern)) return std::stoi(match[1]);
    if (WaitExit(std::chrono::seconds(0))) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return std::nullopt;
}

void ServeProcess::Signal(int signal) {
  if (pid_ > 0) ::kill(pid_, signal);
}

std::string ServeProcess::Log() const { return ReadFile(log_).value_or(""); }

bool WaitForStatus(const std::string& url, std::string_view target, int status,
                   std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    Result<http::Response> response =
        http::Fetch("GET", url + std::string(target), "", {}, std::chrono::seconds(2));
    if (response && response->status == status) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

}  // namespace tandem::serving::testing
