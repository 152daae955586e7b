#include "serving/serve_command.h"

#include <fmt/format.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <thread>

#include "common/file_util.h"
#include "common/http.h"
#include "common/logging.h"
#include "serving/inference_service.h"
#include "serving/model_manager.h"

namespace tandem::serving {
namespace {

namespace fs = std::filesystem;

constexpr int kDefaultPort = 8080;

// Blocks SIGTERM and SIGINT in this thread and, through inheritance, in every
// thread started later, so that sigwait below receives them.
sigset_t BlockStopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

int WaitForStopSignal(const sigset_t& signals) {
  int received = 0;
  while (sigwait(&signals, &received) != 0) {
  }
  return received;
}

Result<uint16_t> ResolvePort(int flag) {
  if (flag >= 0) {
    if (flag > 65535) return InvalidArgument(fmt::format("--port {} is not a TCP port", flag));
    return static_cast<uint16_t>(flag);
  }
  const char* env = std::getenv("SAGEMAKER_BIND_TO_PORT");
  if (env == nullptr || *env == '\0') return static_cast<uint16_t>(kDefaultPort);
  std::string_view text(env);
  unsigned port = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (error != std::errc() || end != text.data() + text.size() || port > 65535) {
    return InvalidArgument(fmt::format("SAGEMAKER_BIND_TO_PORT=\"{}\" is not a TCP port", text));
  }
  return static_cast<uint16_t>(port);
}

Result<std::vector<ModelSource>> ResolveSources(const ServeSettings& settings) {
  std::vector<ModelSource> sources;
  for (const std::string& spec : settings.models) {
    TANDEM_ASSIGN_OR_RETURN(ModelSource source, ParseModelSource(spec));
    sources.push_back(std::move(source));
  }
  std::error_code error;
  if (sources.empty() && fs::is_directory(fs::path(kSageMakerModelDir), error)) {
    sources.push_back(ModelSource{.dir = fs::path(kSageMakerModelDir)});
  }
  if (sources.empty()) {
    return InvalidArgument(
        fmt::format("no model to serve: pass --model DIR or --model "
                    "NAME:VERSION with --registry URL ({} does not exist)",
                    kSageMakerModelDir));
  }
  return sources;
}

// A cache directory created for this process, removed again at exit.
class OwnedCacheDir {
 public:
  ~OwnedCacheDir() {
    if (path_.empty()) return;
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  // Returns the --cache-dir value, or creates a directory when a registry
  // source needs one; an empty path when none does.
  Result<fs::path> Resolve(const std::string& flag, bool needed) {
    if (!flag.empty()) return fs::absolute(flag);
    if (!needed) return fs::path();
    std::error_code error;
    fs::path base = fs::temp_directory_path(error);
    if (error) base = "/tmp";
    path_ = base / fmt::format("tandem-serve-{}", ::getpid());
    TANDEM_RETURN_IF_ERROR(CreateDirectories(path_));
    return path_;
  }

 private:
  fs::path path_;
};

Status Serve(const ServeSettings& settings, const sigset_t& stop_signals) {
  // Step 1: validate the options before anything starts.
  TANDEM_ASSIGN_OR_RETURN(uint16_t port, ResolvePort(settings.port));
  TANDEM_ASSIGN_OR_RETURN(std::vector<ModelSource> sources, ResolveSources(settings));
  if (settings.max_body_mb <= 0) {
    return InvalidArgument(fmt::format("--max-body-mb {} must be positive", settings.max_body_mb));
  }
  if (settings.drain_seconds < 0) {
    return InvalidArgument(
        fmt::format("--drain-seconds {} must be 0 or more", settings.drain_seconds));
  }
  OwnedCacheDir owned_cache;
  const bool uses_registry = std::any_of(
      sources.begin(), sources.end(),
      [](const ModelSource& source) { return source.kind == ModelSource::Kind::kRegistry; });
  TANDEM_ASSIGN_OR_RETURN(fs::path cache_dir,
                          owned_cache.Resolve(settings.cache_dir, uses_registry));
  int threads = settings.threads > 0
                    ? settings.threads
                    : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

  // Step 2: listen first, so the socket accepts connections while models load.
  ModelManager models(std::move(sources),
                      {.registry_url = settings.registry_url, .cache_dir = cache_dir});
  InferenceService service(models);
  http::Router router;
  service.AddRoutes(router);
  http::Server server({.host = settings.host,
                       .port = port,
                       .threads = threads,
                       .max_body_bytes = static_cast<size_t>(settings.max_body_mb * 1024 * 1024)},
                      router.AsHandler());
  TANDEM_ASSIGN_OR_RETURN(uint16_t bound_port, server.Start());
  spdlog::info("inference server listening host={} port={} threads={} cache_dir={}", settings.host,
               bound_port, threads, cache_dir.string());

  // Step 3: load in the background; readiness follows the loads.
  models.StartLoading();

  // Step 4: on SIGTERM or SIGINT, report not ready, stop accepting and drain.
  int signal = WaitForStopSignal(stop_signals);
  spdlog::info("inference server draining signal={} drain_seconds={}",
               signal == SIGTERM ? "SIGTERM" : "SIGINT", settings.drain_seconds);
  service.SetDraining();
  server.BeginDrain();
  if (!server.WaitIdle(std::chrono::seconds(settings.drain_seconds))) {
    spdlog::warn("requests still in flight after drain in_flight={}", server.in_flight());
  }
  server.Stop();
  spdlog::info("inference server stopped");
  return Ok();
}

}  // namespace

int RunServe(const ServeSettings& settings) {
  sigset_t stop_signals = BlockStopSignals();
  Status logging = InitLogging("serve", settings.log_level);
  if (!logging) {
    std::fprintf(stderr, "tandem serve: %s\n", logging.error().message().c_str());
    return 2;
  }
  Status served = Serve(settings, stop_signals);
  if (!served) {
    spdlog::error("inference server failed error=\"{}\"", served.error().message());
    return 2;
  }
  return 0;
}

void AddServeCommand(CLI::App& app, CommandAction& action) {
  auto settings = std::make_shared<ServeSettings>();
  CLI::App* command =
      app.add_subcommand("serve", "run the inference server (OIP v2 and SageMaker)");
  command->add_option("--model", settings->models,
                      "model package directory, or NAME:VERSION (VERSION a number or latest) "
                      "from --registry; repeatable; default /opt/ml/model when present");
  command->add_option("--registry", settings->registry_url,
                      "control plane URL to download NAME:VERSION packages from, "
                      "e.g. http://127.0.0.1:8500");
  command->add_option("--host", settings->host, "address to listen on; 0.0.0.0 for all interfaces")
      ->capture_default_str();
  command->add_option("--port", settings->port,
                      "TCP port; default $SAGEMAKER_BIND_TO_PORT, else 8080; 0 picks a free port");
  command->add_option("--threads", settings->threads,
                      "HTTP worker threads; default the number of hardware threads");
  command->add_option("--cache-dir", settings->cache_dir,
                      "directory for downloaded packages; default a temporary directory removed "
                      "at exit");
  command
      ->add_option("--max-body-mb", settings->max_body_mb,
                   "largest request body in MiB; larger bodies get 413")
      ->capture_default_str();
  command
      ->add_option("--drain-seconds", settings->drain_seconds,
                   "seconds to let requests in flight finish after SIGTERM")
      ->capture_default_str();
  command->add_option("--log-level", settings->log_level, "trace, debug, info, warn, error or off")
      ->capture_default_str();
  command->callback([settings, &action] { action = [settings] { return RunServe(*settings); }; });
}

}  // namespace tandem::serving
