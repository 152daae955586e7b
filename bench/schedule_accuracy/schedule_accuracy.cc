// Schedule accuracy: how late the scheduler fires a run after its due time,
// over N firings of `@every Ps` with the real clock (defaults: 100 firings of
// `@every 2s`, about 200 s).
//
// The scheduler runs its own background loop (schedules/scheduler.h) over a
// SQLite store in a temporary directory. Its launcher records the wall-clock
// time of each submission, creates the job in the store and ends it at once,
// so that every slot finds the previous run ended. The API, the job queue and
// the backend are not part of the measure.
//
// The peer, run at the same time on its own thread, sleeps until each due
// time with std::this_thread::sleep_until and records how late it woke: the
// floor that the machine's timers and scheduling give any loop.
//
//   schedule_accuracy [--firings 100] [--period-seconds 2]
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/crypto.h"
#include "schedules/cron.h"
#include "schedules/schedule_spec.h"
#include "schedules/scheduler.h"
#include "store/sqlite_store.h"

namespace tandem {
namespace {

// Returns the slot time encoded in a run name ("...-20261204t151500z").
int64_t SlotOfRunName(const std::string& name) {
  std::string_view stamp = std::string_view(name).substr(name.size() - 16);
  std::string iso = fmt::format("{}-{}-{}T{}:{}:{}Z", stamp.substr(0, 4), stamp.substr(4, 2),
                                stamp.substr(6, 2), stamp.substr(9, 2), stamp.substr(11, 2),
                                stamp.substr(13, 2));
  return ParseTimestamp(iso).value_or(0);
}

// Records the lateness of each submission and ends each run at once.
class RecordingLauncher final : public schedules::RunLauncher {
 public:
  explicit RecordingLauncher(store::Store& store) : store_(store) {}

  Result<store::CreateJobResult> Submit(const jobs::JobSpec& spec) override {
    int64_t now = SystemClock::Instance().NowMillis();
    {
      std::lock_guard lock(mutex_);
      lateness_ms_.push_back(now - SlotOfRunName(spec.training_job_name));
    }
    TANDEM_ASSIGN_OR_RETURN(store::CreateJobResult created,
                            store_.CreateJob(spec, "bench", now));
    jobs::Event done;
    done.event_id = "bench-completed";
    done.job_id = created.job.id;
    done.source = jobs::EventSource::kRuntime;
    done.observed_at_ms = now;
    done.status = jobs::JobStatus::kCompleted;
    done.secondary_status = jobs::SecondaryStatus::kCompleted;
    TANDEM_RETURN_IF_ERROR(store_.ApplyEvent(done, now));
    return created;
  }

  Status Stop(const std::string&) override { return Ok(); }

  std::vector<int64_t> lateness_ms() const {
    std::lock_guard lock(mutex_);
    return lateness_ms_;
  }

 private:
  store::Store& store_;
  mutable std::mutex mutex_;
  std::vector<int64_t> lateness_ms_;
};

struct Summary {
  double p50 = 0;
  double p99 = 0;
  double max = 0;
};

Summary Summarize(std::vector<double> values) {
  if (values.empty()) return {};
  std::sort(values.begin(), values.end());
  auto at = [&](double quantile) {
    size_t index = static_cast<size_t>(quantile * static_cast<double>(values.size() - 1) + 0.5);
    return values[std::min(index, values.size() - 1)];
  };
  return {at(0.5), at(0.99), values.back()};
}

// Sleeps until each of `count` due times and returns how late it woke, in ms.
std::vector<double> RunPeer(const schedules::CronSchedule& cron, int64_t first_slot, int count) {
  std::vector<double> lateness;
  int64_t slot = first_slot;
  for (int i = 0; i < count; ++i) {
    std::this_thread::sleep_until(std::chrono::system_clock::time_point(
        std::chrono::milliseconds(slot)));
    auto now = std::chrono::system_clock::now().time_since_epoch();
    lateness.push_back(std::chrono::duration<double, std::milli>(now).count() -
                       static_cast<double>(slot));
    slot = cron.Next(slot);
  }
  return lateness;
}

int Run(int firings, int period_seconds) {
  spdlog::set_level(spdlog::level::warn);
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / fmt::format("tandem-schedule-bench-{}", RandomHex(6));
  std::filesystem::create_directories(dir);
  auto opened = store::OpenSqliteStore(dir / "tandem.db");
  if (!opened) {
    std::fprintf(stderr, "error: %s\n", opened.error().message().c_str());
    return 1;
  }
  std::unique_ptr<store::Store> store = std::move(*opened);

  // The schedule, created now; its first slot is the next multiple of the period.
  std::string expression = fmt::format("@every {}s", period_seconds);
  Json definition = {{"ScheduleName", "bench"},
                     {"ScheduleExpression", expression},
                     {"JobTemplate",
                      {{"Repository", "bench"},
                       {"AlgorithmSpecification",
                        {{"EntryPoint", {"/bin/true"}}, {"SourceDir", "/tmp"}}},
                       {"InputDataConfig",
                        {{{"ChannelName", "train"},
                          {"DataSource", {{"FileDataSource", {{"Path", "/tmp"}}}}}}}},
                       {"OutputDataConfig", {{"ModelName", "bench"}}}}}};
  auto schedule = schedules::ParseScheduleDefinition(definition);
  if (!schedule) {
    std::fprintf(stderr, "error: %s\n", schedule.error().message().c_str());
    return 1;
  }
  int64_t created_ms = SystemClock::Instance().NowMillis();
  if (!store->CreateSchedule(*schedule, created_ms)) return 1;
  schedules::CronSchedule cron = *schedules::CronSchedule::Parse(expression);
  int64_t first_slot = cron.Next(created_ms);

  RecordingLauncher launcher(*store);
  schedules::Scheduler scheduler(schedules::SchedulerOptions{}, *store, launcher,
                                 SystemClock::Instance());
  std::vector<double> peer;
  std::thread peer_thread([&] { peer = RunPeer(cron, first_slot, firings); });
  scheduler.Start();

  // Bounded: the firings' own duration plus 30 s.
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::seconds(int64_t{firings} * period_seconds + 30);
  while (launcher.lateness_ms().size() < static_cast<size_t>(firings) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  scheduler.Stop();
  peer_thread.join();
  std::filesystem::remove_all(dir);

  std::vector<int64_t> recorded = launcher.lateness_ms();
  std::vector<double> fired(recorded.begin(), recorded.end());
  if (fired.size() > static_cast<size_t>(firings)) fired.resize(firings);
  Summary scheduler_summary = Summarize(fired);
  Summary peer_summary = Summarize(peer);
  std::printf("schedule accuracy: %s, firing time minus due time, milliseconds\n",
              expression.c_str());
  std::printf("%-26s %8s %8s %8s %8s\n", "", "firings", "p50", "p99", "max");
  std::printf("%-26s %8zu %8.1f %8.1f %8.1f\n", "tandem scheduler", fired.size(),
              scheduler_summary.p50, scheduler_summary.p99, scheduler_summary.max);
  std::printf("%-26s %8zu %8.1f %8.1f %8.1f\n", "peer: sleep_until loop", peer.size(),
              peer_summary.p50, peer_summary.p99, peer_summary.max);
  if (peer_summary.p99 > 0) {
    std::printf("ratio p99 scheduler/peer: %.1f\n", scheduler_summary.p99 / peer_summary.p99);
  }
  bool met = fired.size() == static_cast<size_t>(firings) && scheduler_summary.p99 <= 1000;
  std::printf("target p99 <= 1000 ms over %d firings: %s\n", firings, met ? "met" : "NOT met");
  return met ? 0 : 1;
}

}  // namespace
}  // namespace tandem

int main(int argc, char** argv) {
  CLI::App app{"measure how late the scheduler fires runs (real clock)"};
  int firings = 100;
  int period_seconds = 2;
  app.add_option("--firings", firings, "number of firings to measure")
      ->default_val(100)
      ->check(CLI::Range(1, 10000));
  app.add_option("--period-seconds", period_seconds, "the @every period, in seconds")
      ->default_val(2)
      ->check(CLI::Range(1, 3600));
  CLI11_PARSE(app, argc, argv);
  return tandem::Run(firings, period_seconds);
}
