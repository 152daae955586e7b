#include "serving/serve_command.h"

#include <fmt/format.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <thread>

#include "common/file_util.h"
#include "common/http.h"
#include "common/logging.h"
#include "common/stop_signals.h"
#include "serving/inference_service.h"
#include "serving/metrics.h"
#include "serving/model_manager.h"
#include "serving/repository_service.h"
#include "serving/traffic.h"

namespace tandem::serving {
namespace {

namespace fs = std::filesystem;

constexpr int kDefaultPort = 8080;

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

// Options that become ModelManager, service and traffic settings.
struct ServeParts {
  uint16_t port = 0;
  std::vector<ModelSource> sources;
  ServedModelOptions model_options;
  std::vector<CanaryRule> canaries;
  std::vector<ShadowRule> shadows;
  std::string admin_token;
};

Result<ServeParts> ValidateSettings(const ServeSettings& settings) {
  ServeParts parts;
  TANDEM_ASSIGN_OR_RETURN(parts.port, ResolvePort(settings.port));
  TANDEM_ASSIGN_OR_RETURN(parts.sources, ResolveSources(settings));
  for (const ModelSource& source : parts.sources) {
    if (source.policy == VersionPolicy::kAlias && settings.registry_url.empty()) {
      return InvalidArgument(fmt::format(
          "--model {}@{}: an alias is resolved by the control plane; pass --registry URL",
          source.name, source.alias));
    }
  }
  TANDEM_ASSIGN_OR_RETURN(parts.model_options.predictor, ParsePredictorChoice(settings.predictor));
  if (settings.max_body_mb <= 0) {
    return InvalidArgument(fmt::format("--max-body-mb {} must be positive", settings.max_body_mb));
  }
  if (settings.drain_seconds < 0 || settings.drain_idle_seconds < 0) {
    return InvalidArgument(
        fmt::format("--drain-seconds {} and --drain-idle-seconds {} must be 0 "
                    "or more",
                    settings.drain_seconds, settings.drain_idle_seconds));
  }
  if (settings.poll_seconds < 0) {
    return InvalidArgument(
        fmt::format("--poll-seconds {} must be 0 (off) or more", settings.poll_seconds));
  }
  if (settings.max_batch_rows < 1 || settings.max_batch_delay_us < 0 || settings.shadow_queue < 1) {
    return InvalidArgument(fmt::format(
        "--max-batch-rows {} and --shadow-queue {} must be positive, --max-batch-delay-us {} 0 "
        "or more",
        settings.max_batch_rows, settings.shadow_queue, settings.max_batch_delay_us));
  }
  parts.model_options.batching = {
      .max_rows = static_cast<size_t>(settings.max_batch_rows),
      .max_delay = std::chrono::microseconds(settings.max_batch_delay_us)};
  for (const std::string& spec : settings.canaries) {
    TANDEM_ASSIGN_OR_RETURN(CanaryRule rule, ParseCanary(spec));
    parts.canaries.push_back(std::move(rule));
  }
  for (const std::string& spec : settings.shadows) {
    TANDEM_ASSIGN_OR_RETURN(ShadowRule rule, ParseShadow(spec));
    parts.shadows.push_back(std::move(rule));
  }
  if (!settings.admin_token_file.empty()) {
    TANDEM_ASSIGN_OR_RETURN(parts.admin_token, ReadAdminToken(settings.admin_token_file));
  }
  return parts;
}

// Canary and shadow targets must stay loaded next to each model's own versions.
std::map<std::string, std::vector<std::string>> ExtraVersions(const ServeParts& parts) {
  std::map<std::string, std::vector<std::string>> extra;
  for (const CanaryRule& rule : parts.canaries) extra[rule.model].push_back(rule.version);
  for (const ShadowRule& rule : parts.shadows) extra[rule.model].push_back(rule.version);
  return extra;
}

// Counts inference requests, so that the drain can tell when traffic has stopped.
// Probes and scrapes do not count: they go on while a pod drains.
http::Handler CountingHandler(http::Handler inner, std::atomic<uint64_t>& requests) {
  return [inner = std::move(inner), &requests](http::Request& request) {
    if (!request.path.starts_with("/v2/health") && request.path != "/ping" &&
        request.path != "/metrics") {
      requests.fetch_add(1, std::memory_order_relaxed);
    }
    return inner(request);
  };
}

// Keeps serving after the stop signal until inference traffic has been idle
// for `idle` or `deadline` passes.
void WaitForQuiet(const http::Server& server, const std::atomic<uint64_t>& requests,
                  std::chrono::milliseconds idle, std::chrono::steady_clock::time_point deadline) {
  using Clock = std::chrono::steady_clock;
  uint64_t seen = requests.load();
  Clock::time_point quiet_since = Clock::now();
  while (Clock::now() < deadline) {
    const uint64_t now_seen = requests.load();
    if (now_seen != seen || server.in_flight() > 0) {
      seen = now_seen;
      quiet_since = Clock::now();
    } else if (Clock::now() - quiet_since >= idle) {
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// With --exit-on-load-failure: waits for the first loads and, when a model is
// not ready after them, records why in `failure` and sends this process
// SIGTERM, which the main thread receives as a stop signal.
std::jthread WatchFirstLoads(const ModelManager& models, std::string& failure,
                             std::atomic<bool>& failed) {
  return std::jthread([&models, &failure, &failed](std::stop_token stop) {
    while (!stop.stop_requested()) {
      if (models.WaitUntilSettled(std::chrono::milliseconds(200))) break;
    }
    if (stop.stop_requested()) return;
    Status ready = models.CheckReady();
    if (ready) return;
    failure = ready.error().message();
    failed.store(true);
    ::kill(::getpid(), SIGTERM);
  });
}

Status Serve(const ServeSettings& settings, const sigset_t& stop_signals, bool& load_failed) {
  // Step 1: validate the options before anything starts.
  TANDEM_ASSIGN_OR_RETURN(ServeParts parts, ValidateSettings(settings));
  OwnedCacheDir owned_cache;
  const bool uses_registry = std::any_of(
      parts.sources.begin(), parts.sources.end(),
      [](const ModelSource& source) { return source.kind == ModelSource::Kind::kRegistry; });
  TANDEM_ASSIGN_OR_RETURN(
      fs::path cache_dir,
      owned_cache.Resolve(settings.cache_dir, uses_registry || !settings.registry_url.empty()));
  int threads = settings.threads > 0
                    ? settings.threads
                    : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

  // Step 2: listen first, so the socket accepts connections while models load.
  ServingMetrics metrics;
  parts.model_options.metrics = &metrics;
  ModelManager models(
      std::move(parts.sources),
      {.registry_url = settings.registry_url,
       .cache_dir = cache_dir,
       .model_root = settings.model_root.empty() ? fs::path() : fs::absolute(settings.model_root),
       .poll_interval =
           std::chrono::milliseconds(static_cast<int64_t>(settings.poll_seconds * 1000)),
       .model_options = parts.model_options,
       .extra_versions = ExtraVersions(parts)});
  std::unique_ptr<ShadowMirror> shadow;
  if (!parts.shadows.empty()) {
    shadow = std::make_unique<ShadowMirror>(parts.shadows, models, &metrics,
                                            static_cast<size_t>(settings.shadow_queue));
  }
  InferenceService service(models, {.metrics = &metrics,
                                    .canaries = parts.canaries,
                                    .shadow = shadow.get(),
                                    .extensions = {"model_repository"}});
  RepositoryService repository(models, parts.admin_token);
  http::Router router;
  service.AddRoutes(router);
  repository.AddRoutes(router);
  std::atomic<uint64_t> requests{0};
  http::Server server({.host = settings.host,
                       .port = parts.port,
                       .threads = threads,
                       .max_body_bytes = static_cast<size_t>(settings.max_body_mb * 1024 * 1024),
                       .on_rejected = service.RejectionCounter(),
                       .pin_threads = settings.pin_threads},
                      CountingHandler(service.Dispatcher(router), requests));
  TANDEM_ASSIGN_OR_RETURN(uint16_t bound_port, server.Start());
  spdlog::info(
      "inference server listening host={} port={} threads={} cache_dir={} "
      "predictor={} batching={} repository_routes={}",
      settings.host, bound_port, threads, cache_dir.string(), settings.predictor,
      parts.model_options.batching.enabled() ? "on" : "off",
      parts.admin_token.empty() ? "disabled" : "enabled");

  // Step 3: load in the background; readiness follows the loads.
  models.StartLoading();
  std::string load_failure;
  std::atomic<bool> failed{false};
  std::jthread load_watch;
  if (settings.exit_on_load_failure) load_watch = WatchFirstLoads(models, load_failure, failed);

  // Step 4: on SIGTERM or SIGINT, report not ready, serve until traffic stops, then drain.
  int signal = WaitForStopSignal(stop_signals);
  if (load_watch.joinable()) {
    load_watch.request_stop();
    load_watch.join();
  }
  if (failed.load()) {
    load_failed = true;
    server.Stop();
    return Unavailable(fmt::format(
        "a model failed to load and --exit-on-load-failure is set: {}", load_failure));
  }
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(settings.drain_seconds);
  spdlog::info("inference server draining signal={} drain_seconds={} drain_idle_seconds={}",
               signal == SIGTERM ? "SIGTERM" : "SIGINT", settings.drain_seconds,
               settings.drain_idle_seconds);
  service.SetDraining();
  WaitForQuiet(server, requests,
               std::chrono::milliseconds(static_cast<int64_t>(settings.drain_idle_seconds * 1000)),
               deadline);
  server.BeginDrain();
  auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  if (!server.WaitIdle(std::max(remaining, std::chrono::milliseconds(0)))) {
    spdlog::warn("requests still in flight after drain in_flight={}", server.in_flight());
  }
  server.Stop();
  spdlog::info("inference server stopped requests={}", requests.load());
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
  bool load_failed = false;
  Status served = Serve(settings, stop_signals, load_failed);
  if (!served) {
    spdlog::error("inference server failed error=\"{}\"", served.error().message());
    return load_failed ? 1 : 2;
  }
  return 0;
}

void AddServeCommand(CLI::App& app, CommandAction& action) {
  auto settings = std::make_shared<ServeSettings>();
  CLI::App* command =
      app.add_subcommand("serve", "run the inference server (OIP v2 and SageMaker)");
  command->add_option("--model", settings->models,
                      "model package directory, or NAME:VERSION (VERSION latest, a number, or "
                      "numbers separated by commas) from --model-root or --registry, or "
                      "NAME@ALIAS (the version a --registry alias points at); repeatable; "
                      "default /opt/ml/model when present");
  command->add_option("--registry", settings->registry_url,
                      "control plane URL to download NAME:VERSION packages from, "
                      "e.g. http://127.0.0.1:8500");
  command->add_option("--model-root", settings->model_root,
                      "model repository directory laid out as DIR/NAME/VERSION/; NAME:VERSION "
                      "models found there are not downloaded, and repository loads by path "
                      "must stay inside it");
  command
      ->add_option("--poll-seconds", settings->poll_seconds,
                   "seconds between checks for a newer version of NAME:latest models and "
                   "for a moved alias of NAME@ALIAS models; 0 never checks")
      ->capture_default_str();
  command
      ->add_option("--predictor", settings->predictor,
                   "auto (compiled trees, libxgboost for models they do not support), "
                   "compiled or libxgboost")
      ->capture_default_str();
  command->add_option("--admin-token-file", settings->admin_token_file,
                      "file holding the bearer token that the /v2/repository routes require; "
                      "without it those routes answer 403");
  command
      ->add_option("--max-batch-rows", settings->max_batch_rows,
                   "most rows one merged predictor call takes when batching is on")
      ->capture_default_str();
  command
      ->add_option("--max-batch-delay-us", settings->max_batch_delay_us,
                   "microseconds a request may wait for others to share its predictor call; "
                   "0 turns dynamic batching off")
      ->capture_default_str();
  command->add_option("--canary", settings->canaries,
                      "NAME:VERSION=FRACTION: send that fraction of NAME's requests without a "
                      "version to VERSION; repeatable, one per model");
  command->add_option("--shadow", settings->shadows,
                      "NAME:VERSION: also predict NAME's requests without a version with VERSION "
                      "in the background and count equal and different answers; repeatable");
  command
      ->add_option("--shadow-queue", settings->shadow_queue,
                   "shadow comparisons that may wait; more are dropped and counted")
      ->capture_default_str();
  command->add_option("--host", settings->host, "address to listen on; 0.0.0.0 for all interfaces")
      ->capture_default_str();
  command->add_option("--port", settings->port,
                      "TCP port; default $SAGEMAKER_BIND_TO_PORT, else 8080; 0 picks a free port");
  command->add_option("--threads", settings->threads,
                      "HTTP worker threads; default the number of hardware threads");
  command->add_flag("--pin-threads", settings->pin_threads,
                    "pin each HTTP worker thread to its own CPU; measure before turning it on, "
                    "since it made no clear difference in the serving benchmark");
  command->add_option("--cache-dir", settings->cache_dir,
                      "directory for downloaded packages; default a temporary directory removed "
                      "at exit");
  command
      ->add_option("--max-body-mb", settings->max_body_mb,
                   "largest request body in MiB; larger bodies get 413")
      ->capture_default_str();
  command
      ->add_option("--drain-seconds", settings->drain_seconds,
                   "most seconds between SIGTERM and exit; requests keep being answered until "
                   "then or until traffic stops")
      ->capture_default_str();
  command
      ->add_option("--drain-idle-seconds", settings->drain_idle_seconds,
                   "after SIGTERM, stop once no inference request arrived for this long")
      ->capture_default_str();
  command->add_option("--log-level", settings->log_level, "trace, debug, info, warn, error or off")
      ->capture_default_str();
  command->add_flag("--exit-on-load-failure", settings->exit_on_load_failure,
                    "exit 1 when a model fails to load or fails its self-tests, instead of "
                    "staying up and reporting not ready (for use at a shell)");
  command->callback([settings, &action] { action = [settings] { return RunServe(*settings); }; });
}

}  // namespace tandem::serving
