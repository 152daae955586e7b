#include "api/server_command.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "api/backend_factory.h"
#include "api/backend_set.h"
#include "api/config_watcher.h"
#include "api/control_plane.h"
#include "api/reconciler.h"
#include "api/schedule_runner.h"
#include "common/clock.h"
#include "common/crypto.h"
#include "common/file_util.h"
#include "common/http.h"
#include "common/logging.h"
#include "common/stop_signals.h"
#include "registry/artifact_store.h"
#include "store/leader_lock.h"
#include "store/postgres_store.h"
#include "store/sqlite_store.h"

namespace tandem::api {
namespace {

namespace fs = std::filesystem;

constexpr std::chrono::seconds kDrainTimeout{10};
constexpr int kServerThreads = 4;
// How often the job queue looks for jobs to admit besides when a job ends.
constexpr std::chrono::seconds kAdmissionInterval{2};
// How often kept workers are checked for expiry and death.
constexpr std::chrono::seconds kWarmPoolSweepInterval{1};

struct ServerFlags {
  std::string data_dir;
  std::string host = "127.0.0.1";
  uint16_t port = 8500;
  std::vector<std::string> input_roots;
  std::string log_level = "info";
  std::string log_file;
  int64_t stop_grace_seconds = 30;
  std::string database;  // postgresql:// URL or SQLite path; empty: DATA_DIR/tandem.db
  int64_t reconcile_interval_seconds = 10;
  int64_t reconcile_quiet_seconds = 30;
  AdmissionLimits admission_limits;
  int64_t max_keep_alive_seconds = 3600;
  std::string config_file;  // routing configuration; empty: one local backend
  int64_t config_poll_seconds = 2;
};

bool IsPostgresUrl(std::string_view database) {
  return database.starts_with("postgresql://") || database.starts_with("postgres://");
}

Result<std::unique_ptr<store::Store>> OpenStore(const ServerFlags& flags,
                                                const fs::path& data_dir) {
  if (IsPostgresUrl(flags.database)) return store::OpenPostgresStore(flags.database);
  fs::path path = flags.database.empty() ? data_dir / "tandem.db" : fs::absolute(flags.database);
  return store::OpenSqliteStore(path);
}

// Returns the leader check of a singleton ("reconciler", "admission"): over
// PostgreSQL the process leads only while it holds the advisory lock of that
// name, taking it over when its holder dies; over SQLite this process owns
// the database. `role` completes the log line of an acquisition ("this
// process reconciles"). Not thread-safe: called once at startup, then on the
// singleton's thread only.
std::function<bool()> MakeLeaderCheck(const ServerFlags& flags, std::string lock_name,
                                      std::string role) {
  if (!IsPostgresUrl(flags.database)) return nullptr;
  auto lock = std::make_shared<std::unique_ptr<store::LeaderLock>>();
  std::string url = flags.database;
  return [lock, url, lock_name, role] {
    if (*lock && (*lock)->held()) return true;
    if (*lock) {
      spdlog::warn("{} leader lock lost; standing by", lock_name);
      lock->reset();
    }
    Result<std::unique_ptr<store::LeaderLock>> taken =
        store::TryAcquireLeaderLock(url, lock_name);
    if (!taken) {
      spdlog::warn("cannot try the {} leader lock error={}", lock_name, taken.error().message());
      return false;
    }
    if (!*taken) return false;
    spdlog::info("{} leader lock acquired; {}", lock_name, role);
    *lock = std::move(*taken);
    return true;
  };
}

// Returns the admin token from DATA_DIR/admin.token, creating the file
// (mode 0600, 32 random bytes as hex) when missing.
Result<std::string> LoadOrCreateAdminToken(const fs::path& data_dir) {
  fs::path path = data_dir / "admin.token";
  std::error_code error;
  if (!fs::exists(path, error)) {
    std::string token = RandomHex(32);
    TANDEM_RETURN_IF_ERROR(
        WriteFileAtomic(path, token + "\n", fs::perms::owner_read | fs::perms::owner_write));
    spdlog::info("admin token created path={}", path.string());
    return token;
  }
  TANDEM_ASSIGN_OR_RETURN(std::string contents, ReadFile(path));
  size_t end = contents.find_last_not_of(" \t\r\n");
  std::string token = end == std::string::npos ? "" : contents.substr(0, end + 1);
  if (token.empty()) {
    return FailedPrecondition(fmt::format(
        "admin token file {} is empty; delete it to have a new token created", path.string()));
  }
  fs::perms perms = fs::status(path, error).permissions();
  if (!error && (perms & (fs::perms::group_all | fs::perms::others_all)) != fs::perms::none) {
    spdlog::warn("admin token file is readable by other users path={}; chmod 600 it",
                 path.string());
  }
  return token;
}

Result<std::vector<fs::path>> InputRoots(const ServerFlags& flags, const fs::path& data_dir) {
  std::vector<fs::path> roots;
  if (flags.input_roots.empty()) {
    TANDEM_RETURN_IF_ERROR(CreateDirectories(data_dir / "inputs"));
    roots.push_back(data_dir / "inputs");
  }
  for (const std::string& root : flags.input_roots) {
    fs::path absolute = fs::absolute(root);
    std::error_code error;
    if (!fs::is_directory(absolute, error)) {
      return NotFound(fmt::format("--input-root {}: no such directory", root));
    }
    roots.push_back(absolute);
  }
  return roots;
}

// The URL a job on this machine uses: a wildcard listen address is reached
// over loopback.
std::string LocalUrl(const std::string& host, uint16_t port) {
  std::string reachable = (host == "0.0.0.0" || host.empty()) ? "127.0.0.1"
                          : host == "::"                      ? "[::1]"
                          : host.find(':') != std::string::npos ? "[" + host + "]"
                                                                : host;
  return fmt::format("http://{}:{}", reachable, port);
}

// Returns the backends of the routing configuration file, or without one a
// single local backend named "local" that every repository is routed to.
Result<std::unique_ptr<BackendSet>> OpenBackends(const ServerFlags& flags,
                                                 BackendFactoryOptions factory_options) {
  auto backends = std::make_unique<BackendSet>(MakeBackendFactory(std::move(factory_options)));
  RoutingConfig config = SingleBackendConfig("local", std::string(kLocalBackendType));
  if (!flags.config_file.empty()) {
    TANDEM_ASSIGN_OR_RETURN(config, LoadRoutingConfig(fs::absolute(flags.config_file),
                                                      BackendOptionsValidatorForTypes()));
  }
  TANDEM_RETURN_IF_ERROR(backends->Apply(std::move(config)));
  return backends;
}

// Runs the control plane until SIGTERM or SIGINT, in commented steps.
Status RunServer(const ServerFlags& flags) {
  sigset_t stop_signals = BlockStopSignals();
  if (!flags.config_file.empty()) BlockReloadSignal();
  TANDEM_RETURN_IF_ERROR(InitLogging("server", flags.log_level, flags.log_file));
  if (flags.stop_grace_seconds < 0) {
    return InvalidArgument(fmt::format("--stop-grace-seconds {} is invalid, expected 0 or more",
                                       flags.stop_grace_seconds));
  }
  if (flags.reconcile_interval_seconds < 1) {
    return InvalidArgument(fmt::format(
        "--reconcile-interval-seconds {} is invalid, expected 1 or more",
        flags.reconcile_interval_seconds));
  }
  if (flags.config_poll_seconds < 1) {
    return InvalidArgument(fmt::format("--config-poll-seconds {} is invalid, expected 1 or more",
                                       flags.config_poll_seconds));
  }
  if (flags.reconcile_quiet_seconds < 0) {
    return InvalidArgument(fmt::format("--reconcile-quiet-seconds {} is invalid, expected 0 or more",
                                       flags.reconcile_quiet_seconds));
  }
  TANDEM_RETURN_IF_ERROR(ValidateAdmissionLimits(flags.admission_limits));

  if (flags.max_keep_alive_seconds < 0 ||
      flags.max_keep_alive_seconds > jobs::kMaxKeepAliveCeilingSeconds) {
    return InvalidArgument(fmt::format("--max-keep-alive-seconds {} is invalid, expected 0 to {}",
                                       flags.max_keep_alive_seconds,
                                       jobs::kMaxKeepAliveCeilingSeconds));
  }

  // Step 1: the data directory, the database, the artifact store and the token.
  fs::path data_dir = fs::absolute(flags.data_dir);
  TANDEM_RETURN_IF_ERROR(CreateDirectories(data_dir));
  TANDEM_ASSIGN_OR_RETURN(std::unique_ptr<store::Store> store,
                          OpenStore(flags, data_dir));
  TANDEM_ASSIGN_OR_RETURN(std::unique_ptr<registry::ArtifactStore> artifacts,
                          registry::OpenLocalArtifactStore(data_dir / "artifacts"));
  TANDEM_ASSIGN_OR_RETURN(std::string admin_token, LoadOrCreateAdminToken(data_dir));
  TANDEM_ASSIGN_OR_RETURN(std::vector<fs::path> input_roots, InputRoots(flags, data_dir));

  // Step 2: the API and the backends, which report process exits to it.
  ControlPlaneOptions options{.data_dir = data_dir,
                              .input_roots = input_roots,
                              .api_url = LocalUrl(flags.host, flags.port),
                              .admin_token = std::move(admin_token),
                              .stop_grace = std::chrono::seconds(flags.stop_grace_seconds),
                              .admission_limits = flags.admission_limits};
  options.max_keep_alive_seconds = flags.max_keep_alive_seconds;
  ControlPlane plane(std::move(options), *store, *artifacts, SystemClock::Instance());
  TANDEM_ASSIGN_OR_RETURN(
      std::unique_ptr<BackendSet> backends,
      OpenBackends(flags, BackendFactoryOptions{.jobs_dir = data_dir / "jobs",
                                                .on_exit = plane.ExitCallback()}));
  plane.SetBackends(backends.get());
  // NOTE: kept workers live in this process's memory, so several control
  // planes over one PostgreSQL database would close each other's pools here;
  // sharing them would take a pool table with an owner per server.
  TANDEM_RETURN_IF_ERROR(plane.StartWarmPool(kWarmPoolSweepInterval));
  // Over PostgreSQL only the holder of the reconciler lock reconciles, at
  // startup as well as periodically.
  // NOTE: a standby that takes the lock over later runs only the periodic
  // passes, not the startup reconcile; that would take a hook on acquisition.
  Reconciler::LeaderCheck is_leader =
      MakeLeaderCheck(flags, "reconciler", "this process reconciles");
  if (!is_leader || is_leader()) {
    TANDEM_ASSIGN_OR_RETURN(int ended, plane.ReconcileAtStartup());
    if (ended > 0) spdlog::info("jobs ended while no control plane ran count={}", ended);
  } else {
    spdlog::info("startup reconcile skipped: another control plane holds the reconciler lock");
  }
  Reconciler reconciler(
      ReconcilerOptions{.interval = std::chrono::seconds(flags.reconcile_interval_seconds),
                        .quiet = std::chrono::seconds(flags.reconcile_quiet_seconds)},
      *store, [&backends](std::string_view name) { return backends->Find(name); },
      SystemClock::Instance(), std::move(is_leader));
  reconciler.Start();
  std::unique_ptr<ConfigWatcher> watcher;
  if (!flags.config_file.empty()) {
    watcher = std::make_unique<ConfigWatcher>(
        ConfigWatcherOptions{.path = fs::absolute(flags.config_file),
                             .poll_interval = std::chrono::seconds(flags.config_poll_seconds),
                             .validate_options = BackendOptionsValidatorForTypes()},
        *backends);
    watcher->Start();
  }
  http::Router router;
  plane.AddRoutes(router);

  // Step 3: listen.
  http::Server server({.host = flags.host,
                       .port = flags.port,
                       .threads = kServerThreads,
                       .body_limit = &ControlPlane::BodyLimit},
                      router.AsHandler());
  TANDEM_ASSIGN_OR_RETURN(uint16_t port, server.Start());
  std::string url = LocalUrl(flags.host, port);
  plane.SetApiUrl(url);
  // Queued jobs, and jobs a stopped server stored without launching, start
  // here; over PostgreSQL only the holder of the "admission" lock admits.
  plane.StartAdmission(MakeLeaderCheck(flags, "admission", "this process admits jobs"),
                       kAdmissionInterval);

  // The scheduler fires the runs of schedules through the routes above, once
  // the API URL that launched jobs get is final. Over PostgreSQL only the
  // holder of the "scheduler" lock runs it.
  TANDEM_ASSIGN_OR_RETURN(std::string scheduler_token, LoadOrCreateAdminToken(data_dir));
  ApiRunLauncher run_launcher(router, std::move(scheduler_token), *store);
  schedules::Scheduler scheduler(schedules::SchedulerOptions{}, *store, run_launcher,
                                 SystemClock::Instance(), ScheduleLeaderCheck(flags.database));
  scheduler.Start();

  spdlog::info("control plane listening url={} data_dir={}", url, data_dir.string());

  // Step 4: run until a stop signal arrives, then let requests in flight finish. Jobs
  // keep running; a later server over the same data directory finds them.
  int signal = WaitForStopSignal(stop_signals);
  spdlog::info("control plane stopping signal={}", signal == SIGTERM ? "SIGTERM" : "SIGINT");
  server.BeginDrain();
  if (!server.WaitIdle(kDrainTimeout)) {
    spdlog::warn("requests still in flight after drain timeout seconds={}", kDrainTimeout.count());
  }
  server.Stop();
  scheduler.Stop();
  if (watcher) watcher->Stop();
  reconciler.Stop();
  plane.StopAdmission();
  plane.TerminateWarmPool();
  backends.reset();
  spdlog::info("control plane stopped");
  return Ok();
}

}  // namespace

void AddServerCommand(CLI::App& app, CommandAction& action) {
  auto flags = std::make_shared<ServerFlags>();
  CLI::App* command = app.add_subcommand("server", "run the control plane (HTTP API)");
  command->add_option("--data-dir", flags->data_dir,
                      "directory for the database, artifacts, job directories and admin.token")
      ->required();
  command->add_option("--host", flags->host, "address to listen on")->default_val("127.0.0.1");
  command->add_option("--port", flags->port, "TCP port to listen on (0: any free port)")
      ->default_val(8500);
  command->add_option("--input-root", flags->input_roots,
                      "directory that job input paths must lie in; repeatable "
                      "(default: DATA_DIR/inputs)");
  command->add_option("--log-level", flags->log_level, "trace, debug, info, warn, error or off")
      ->default_val("info");
  command->add_option("--log-file", flags->log_file, "append logs to this file, not stderr");
  command->add_option("--stop-grace-seconds", flags->stop_grace_seconds,
                      "seconds between SIGTERM and SIGKILL when a job is stopped")
      ->default_val(30);
  command->add_option("--database", flags->database,
                      "postgresql://... URL, or an SQLite file path (default: DATA_DIR/tandem.db)");
  command->add_option("--reconcile-interval-seconds", flags->reconcile_interval_seconds,
                      "seconds between passes of the reconciler")
      ->default_val(10);
  command->add_option("--reconcile-quiet-seconds", flags->reconcile_quiet_seconds,
                      "the reconciler asks the backend about a job once its last event is "
                      "this old")
      ->default_val(30);
  command->add_option("--max-running-jobs", flags->admission_limits.max_running_jobs,
                      "jobs that may run at once over every repository; a job over the limit "
                      "waits, Pending (0: unlimited)")
      ->default_val(0);
  command->add_option("--max-running-jobs-per-repository",
                      flags->admission_limits.max_running_jobs_per_repository,
                      "jobs of one repository that may run at once; a job over the limit "
                      "waits, Pending (0: unlimited)")
      ->default_val(0);
  command->add_option("--config", flags->config_file,
                      "routing configuration file (JSON, docs/routing.md): backends and the "
                      "routes of repositories to them; reloaded on SIGHUP and when it changes "
                      "(default: one local backend for every repository)");
  command->add_option("--max-keep-alive-seconds", flags->max_keep_alive_seconds,
                      "largest ResourceConfig.KeepAlivePeriodInSeconds a job may ask for, in "
                      "seconds (0-86400; 0 turns warm pools off)")
      ->capture_default_str();
  command->add_option("--config-poll-seconds", flags->config_poll_seconds,
                      "seconds between checks of the --config file for changes")
      ->default_val(2);
  command->callback([flags, &action] {
    action = [flags] {
      Status status = RunServer(*flags);
      if (!status) {
        if (!flags->log_file.empty()) {
          spdlog::error("control plane failed error={}", status.error().message());
        }
        std::fprintf(stderr, "error: %s\n", status.error().message().c_str());
        return 1;
      }
      return 0;
    };
  });
}

}  // namespace tandem::api
