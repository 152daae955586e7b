// Event throughput of the job-state store, and job read latency under that
// load, in one run, each figure next to a peer measured in the same run:
//
//   raw SQLite      one INSERT per transaction into a table shaped like the
//                   inbox, with the store's pragmas: the floor for applying
//                   events one transaction each (also with an fsync per
//                   commit, SQLite's default, on at most 2,000 events)
//   store apply     Store::ApplyEvent (inbox insert, state machine, job row
//                   update, one transaction per event), SQLite and PostgreSQL
//   batch apply     Store::ApplyEvents with --batch events per transaction,
//                   the same work with one commit per batch; peer: store apply
//   HTTP            POST /api/v1/jobs/{id}/events to an in-process control
//                   plane from --posters client threads, while one more
//                   client measures GET /api/v1/jobs/{id}; the same GETs on
//                   the idle server are the peer
//
//   build/<dir>/bench/job_events [--events 20000] [--jobs 200] [--posters 4] [--batch 64]
//       [--postgres "host=127.0.0.1 port=55433 dbname=tandem_test user=postgres"]
//
// Every event is a runtime progress report (no status change) with an id of
// its own, so each one is inserted and updates its job row. Without
// --postgres the PostgreSQL figures are skipped.
#include <libpq-fe.h>
#include <sqlite3.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "api/control_plane.h"
#include "common/clock.h"
#include "common/crypto.h"
#include "common/file_util.h"
#include "common/http.h"
#include "registry/artifact_store.h"
#include "store/postgres_store.h"
#include "store/sqlite_store.h"

namespace tandem::bench {
namespace {

namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;

struct Flags {
  int events = 20000;
  int jobs = 200;
  int posters = 4;
  int batch = 64;
  std::string postgres;
};

double SecondsSince(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

[[noreturn]] void Die(std::string_view what, const Error& error) {
  std::fprintf(stderr, "%.*s: %s\n", static_cast<int>(what.size()), what.data(),
               error.message().c_str());
  std::exit(1);
}

template <typename T>
T Check(Result<T> result, std::string_view what) {
  if (!result) Die(what, result.error());
  return std::move(*result);
}

jobs::JobSpec Spec(const std::string& run, int index) {
  Json document = {
      {"TrainingJobName", fmt::format("bench-{}-{}", run, index)},
      {"Repository", "bench-" + run},
      {"AlgorithmSpecification", {{"EntryPoint", {"/bin/true"}}, {"SourceDir", "/tmp"}}},
      {"InputDataConfig",
       {{{"ChannelName", "train"}, {"DataSource", {{"FileDataSource", {{"Path", "/tmp"}}}}}}}},
      {"OutputDataConfig", {{"ModelName", "bench-" + run}}},
  };
  return Check(jobs::ParseJobSpec(document), "job spec");
}

std::vector<std::string> CreateJobs(store::Store& store, const std::string& run, int count) {
  std::vector<std::string> ids;
  for (int i = 0; i < count; ++i) {
    auto created = Check(store.CreateJob(Spec(run, i), "digest", SystemClock::Instance().NowMillis()),
                         "create job");
    ids.push_back(created.job.id);
  }
  return ids;
}

jobs::Event ProgressEvent(const std::string& job_id, int sequence) {
  jobs::Event event;
  event.event_id = fmt::format("bench-{}", sequence);
  event.job_id = job_id;
  event.source = jobs::EventSource::kRuntime;
  event.observed_at_ms = SystemClock::Instance().NowMillis();
  event.sequence = sequence;
  event.message = "progress";
  event.details = {{"Progress", {{"Epoch", sequence}}}};
  return event;
}

// The floor: one INSERT per transaction, with the store's pragmas except
// `synchronous` ("NORMAL" as in the store, or "FULL": an fsync per commit).
double RawSqliteRate(const fs::path& dir, int events, const char* synchronous) {
  sqlite3* db = nullptr;
  sqlite3_open((dir / fmt::format("raw-{}.db", synchronous)).c_str(), &db);
  sqlite3_exec(db, fmt::format("PRAGMA synchronous = {}", synchronous).c_str(), nullptr, nullptr,
               nullptr);
  sqlite3_exec(db,
               "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;"
               "CREATE TABLE events (seq INTEGER PRIMARY KEY, job_id TEXT NOT NULL, "
               "event_id TEXT NOT NULL, source TEXT NOT NULL, observed_ms INTEGER NOT NULL, "
               "sequence INTEGER, message TEXT NOT NULL, details TEXT NOT NULL, "
               "received_ms INTEGER NOT NULL, UNIQUE (job_id, event_id))",
               nullptr, nullptr, nullptr);
  sqlite3_stmt* insert = nullptr;
  sqlite3_prepare_v2(db,
                     "INSERT INTO events (job_id, event_id, source, observed_ms, sequence, "
                     "message, details, received_ms) VALUES (?, ?, 'runtime', ?, ?, 'progress', "
                     "'{\"Progress\":{}}', ?)",
                     -1, &insert, nullptr);

  auto start = SteadyClock::now();
  for (int i = 0; i < events; ++i) {
    std::string job = fmt::format("job-{:012x}", i % 200);
    std::string id = fmt::format("bench-{}", i);
    sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
    sqlite3_bind_text(insert, 1, job.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(insert, 2, id.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(insert, 3, i);
    sqlite3_bind_int64(insert, 4, i);
    sqlite3_bind_int64(insert, 5, i);
    sqlite3_step(insert);
    sqlite3_reset(insert);
    sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  }
  double rate = events / SecondsSince(start);

  sqlite3_finalize(insert);
  sqlite3_close(db);
  return rate;
}

double StoreApplyRate(store::Store& store, const std::vector<std::string>& jobs, int events) {
  auto start = SteadyClock::now();
  for (int i = 0; i < events; ++i) {
    jobs::Event event = ProgressEvent(jobs[i % jobs.size()], i);
    Check(store.ApplyEvent(event, SystemClock::Instance().NowMillis()), "apply event");
  }
  return events / SecondsSince(start);
}

// Applies the same kind of events as StoreApplyRate, `batch` per ApplyEvents call.
double StoreBatchApplyRate(store::Store& store, const std::vector<std::string>& jobs, int events,
                           int batch) {
  std::vector<jobs::Event> pending;
  auto start = SteadyClock::now();
  for (int i = 0; i < events; ++i) {
    pending.push_back(ProgressEvent(jobs[i % jobs.size()], i));
    if (static_cast<int>(pending.size()) < batch && i + 1 < events) continue;
    for (auto& result : store.ApplyEvents(pending, SystemClock::Instance().NowMillis())) {
      Check(std::move(result), "apply event in a batch");
    }
    pending.clear();
  }
  return events / SecondsSince(start);
}

struct Latency {
  double p50_ms = 0;
  double p99_ms = 0;
  size_t samples = 0;
};

Latency Percentiles(std::vector<double> samples_ms) {
  Latency latency;
  latency.samples = samples_ms.size();
  if (samples_ms.empty()) return latency;
  std::sort(samples_ms.begin(), samples_ms.end());
  latency.p50_ms = samples_ms[samples_ms.size() / 2];
  latency.p99_ms = samples_ms[std::min(samples_ms.size() - 1, samples_ms.size() * 99 / 100)];
  return latency;
}

// GETs random jobs until `stop` (or `count` requests when count > 0).
std::vector<double> ReadJobs(const std::string& url, const std::vector<std::string>& jobs,
                             const std::atomic<bool>& stop, int count) {
  http::Client client(url);
  std::mt19937 random(7);
  std::vector<double> samples;
  for (int i = 0; count == 0 ? !stop.load() : i < count; ++i) {
    auto start = SteadyClock::now();
    auto response = client.Send("GET", "/api/v1/jobs/" + jobs[random() % jobs.size()]);
    if (!response) Die("GET job", response.error());
    if (response->status != 200) {
      Die("GET job", Error(ErrorCode::kInternal,
                           fmt::format("status {}: {}", response->status, response->body)));
    }
    samples.push_back(SecondsSince(start) * 1e3);
  }
  return samples;
}

struct HttpFigures {
  double events_per_second = 0;
  Latency loaded;
  Latency idle;
};

// Serves the control plane over `store` in this process and posts events to it.
HttpFigures HttpRates(store::Store& store, const fs::path& dir, const std::vector<std::string>& jobs,
                      const Flags& flags) {
  auto artifacts = Check(registry::OpenLocalArtifactStore(dir / "artifacts"), "artifact store");
  std::string token = RandomHex(32);
  api::ControlPlane plane({.data_dir = dir, .api_url = "", .admin_token = token}, store,
                          *artifacts, SystemClock::Instance());
  http::Router router;
  plane.AddRoutes(router);
  http::Server server({.host = "127.0.0.1", .port = 0, .threads = 4}, router.AsHandler());
  uint16_t port = Check(server.Start(), "start server");
  std::string url = fmt::format("http://127.0.0.1:{}", port);

  HttpFigures figures;
  std::atomic<bool> stop{false};
  figures.idle = Percentiles(ReadJobs(url, jobs, stop, 2000));

  std::vector<double> loaded;
  std::thread reader([&] { loaded = ReadJobs(url, jobs, stop, 0); });
  http::HeaderList headers = {{"Authorization", "Bearer " + token}};
  std::atomic<int> next{0};
  auto start = SteadyClock::now();
  std::vector<std::thread> posters;
  for (int p = 0; p < flags.posters; ++p) {
    posters.emplace_back([&] {
      http::Client client(url);
      for (int i = next++; i < flags.events; i = next++) {
        const std::string& job = jobs[i % jobs.size()];
        Json body = {{"EventId", fmt::format("http-{}", i)},
                     {"Source", "runtime"},
                     {"ObservedAt", FormatTimestamp(SystemClock::Instance().NowMillis())},
                     {"Sequence", i},
                     {"Message", "progress"},
                     {"Details", {{"Progress", {{"Epoch", i}}}}}};
        auto response =
            client.Send("POST", "/api/v1/jobs/" + job + "/events", body.dump(), headers);
        if (!response || response->status >= 300) {
          Die("POST event", Error(ErrorCode::kInternal,
                                  response ? response->body : response.error().message()));
        }
      }
    });
  }
  for (std::thread& poster : posters) poster.join();
  figures.events_per_second = flags.events / SecondsSince(start);
  stop = true;
  reader.join();
  figures.loaded = Percentiles(std::move(loaded));
  server.Stop();
  return figures;
}

void PrintStore(const char* name, double apply_rate, double batch_rate, int batch,
                const HttpFigures& http, double peer_rate, const char* peer_name) {
  std::printf("%-10s store apply   %9.0f events/s  (%.2f x %s)\n", name, apply_rate,
              apply_rate / peer_rate, peer_name);
  std::printf("%-10s batch apply   %9.0f events/s  (%.2f x store apply, %.2f x %s, %d per "
              "transaction)\n",
              name, batch_rate, batch_rate / apply_rate, batch_rate / peer_rate, peer_name, batch);
  std::printf("%-10s HTTP POST     %9.0f events/s  (%.2f x store apply)\n", name,
              http.events_per_second, http.events_per_second / apply_rate);
  std::printf("%-10s GET job under load  p50 %.2f ms  p99 %.2f ms  (%zu requests)\n", name,
              http.loaded.p50_ms, http.loaded.p99_ms, http.loaded.samples);
  std::printf("%-10s GET job idle        p50 %.2f ms  p99 %.2f ms  (%zu requests)\n", name,
              http.idle.p50_ms, http.idle.p99_ms, http.idle.samples);
}

int Run(const Flags& flags) {
  spdlog::set_level(spdlog::level::warn);
  const std::string run = RandomHex(4);
  const fs::path dir = fs::temp_directory_path() / ("tandem-job-events-bench-" + run);
  fs::create_directories(dir);
  std::printf("events=%d jobs=%d posters=%d cores=%u\n", flags.events, flags.jobs, flags.posters,
              std::thread::hardware_concurrency());

  // SQLite: the raw floor, the store, then HTTP over a fresh store.
  double raw_full = RawSqliteRate(dir, std::min(flags.events, 2000), "FULL");
  std::printf("sqlite     raw INSERT, fsync per commit  %9.0f events/s\n", raw_full);
  double raw = RawSqliteRate(dir, flags.events, "NORMAL");
  std::printf("sqlite     raw INSERT    %9.0f events/s  (floor)\n", raw);
  {
    auto store = Check(store::OpenSqliteStore(dir / "apply.db"), "open SQLite");
    std::vector<std::string> jobs = CreateJobs(*store, run, flags.jobs);
    double apply = StoreApplyRate(*store, jobs, flags.events);
    auto batch_store = Check(store::OpenSqliteStore(dir / "batch.db"), "open SQLite");
    std::vector<std::string> batch_jobs = CreateJobs(*batch_store, run, flags.jobs);
    double batch = StoreBatchApplyRate(*batch_store, batch_jobs, flags.events, flags.batch);
    fs::create_directories(dir / "sqlite-http");
    auto http_store = Check(store::OpenSqliteStore(dir / "http.db"), "open SQLite");
    std::vector<std::string> http_jobs = CreateJobs(*http_store, run, flags.jobs);
    HttpFigures http = HttpRates(*http_store, dir / "sqlite-http", http_jobs, flags);
    PrintStore("sqlite", apply, batch, flags.batch, http, raw, "raw INSERT");
    std::fflush(stdout);
    if (flags.postgres.empty()) {
      std::error_code ignored;
      fs::remove_all(dir, ignored);
      return 0;
    }

    // PostgreSQL, next to the SQLite store's figure of this run.
    auto pg = Check(store::OpenPostgresStore(flags.postgres), "open PostgreSQL");
    std::vector<std::string> pg_jobs = CreateJobs(*pg, run + "a", flags.jobs);
    double pg_apply = StoreApplyRate(*pg, pg_jobs, flags.events);
    std::vector<std::string> pg_batch_jobs = CreateJobs(*pg, run + "c", flags.jobs);
    double pg_batch = StoreBatchApplyRate(*pg, pg_batch_jobs, flags.events, flags.batch);
    std::vector<std::string> pg_http_jobs = CreateJobs(*pg, run + "b", flags.jobs);
    fs::create_directories(dir / "pg-http");
    HttpFigures pg_http = HttpRates(*pg, dir / "pg-http", pg_http_jobs, flags);
    PrintStore("postgres", pg_apply, pg_batch, flags.batch, pg_http, apply, "SQLite store apply");
  }
  std::error_code ignored;
  fs::remove_all(dir, ignored);
  return 0;
}

}  // namespace
}  // namespace tandem::bench

int main(int argc, char** argv) {
  tandem::bench::Flags flags;
  CLI::App app("Job event throughput and job read latency of the stores");
  app.add_option("--events", flags.events, "events per measurement")->check(CLI::PositiveNumber);
  app.add_option("--jobs", flags.jobs, "jobs the events are spread over")
      ->check(CLI::PositiveNumber);
  app.add_option("--posters", flags.posters, "HTTP client threads posting events")
      ->check(CLI::PositiveNumber);
  app.add_option("--postgres", flags.postgres,
                 "libpq connection string of a scratch database; empty: skip PostgreSQL");
  app.add_option("--batch", flags.batch, "events per Store::ApplyEvents call in the batch line")
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  return tandem::bench::Run(flags);
}
