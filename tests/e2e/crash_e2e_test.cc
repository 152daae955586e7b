// Crash test of the control plane. While real jobs run on the local backend,
// `tandem server` is killed with SIGKILL at random moments and restarted over
// the same data directory. At the end every submitted job exists once, was
// launched once, has ended Completed (every job's program succeeds), and its
// model package is registered as exactly one version.
//
// Half of the kills are aimed a few milliseconds after a submission starts,
// so that some land between storing a job and recording its launch.
//
// Environment (all optional):
//   TANDEM_CRASH_JOBS      jobs to submit (default 200)
//   TANDEM_CRASH_KILLS     SIGKILLs of the server (default 20)
//   TANDEM_CRASH_DATABASE  --database of the server: a postgresql:// URL
//                          (default: SQLite in the data directory)
//   TANDEM_CRASH_SEED      seed of the random schedule (default: random, printed)
#include <gtest/gtest.h>
#include <signal.h>

#include <fmt/format.h>

#include <atomic>
#include <functional>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "common/crypto.h"
#include "common/file_util.h"
#include "harness.h"

namespace tandem::e2e {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;
using SteadyClock = std::chrono::steady_clock;

const fs::path kSourceDir = TANDEM_SOURCE_DIR;

// Every 20th job trains the built-in XGBoost algorithm. The others run this
// script, which appends a line to a file per job each time it starts.
constexpr char kJobScript[] = R"(#!/bin/sh
echo "$$" >> "$CRASH_LAUNCH_DIR/$TRAINING_JOB_NAME"
sleep "$SM_HP_SLEEP_SECONDS"
echo "model of $TRAINING_JOB_NAME" > "$SM_MODEL_DIR/model.txt"
)";

int EnvInt(const char* name, int default_value) {
  const char* text = std::getenv(name);
  int value = text == nullptr ? 0 : std::atoi(text);
  return value > 0 ? value : default_value;
}

// A `tandem server` that the test kills and restarts on one data directory
// and port.
class RestartableServer {
 public:
  // `environment` is added to the server's own.
  RestartableServer(fs::path data_dir, std::string database,
                    std::map<std::string, std::string> environment = {})
      : data_dir_(std::move(data_dir)),
        database_(std::move(database)),
        environment_(std::move(environment)) {
    port_ = PickFreePort();
    url_ = fmt::format("http://127.0.0.1:{}", port_);
  }
  ~RestartableServer() { Stop(SIGTERM); }

  const std::string& url() const { return url_; }

  // Starts the server and waits (at most 60 s) until its health route responds.
  bool Start() {
    SpawnOptions options;
    options.argv = {TANDEM_BINARY,
                    "server",
                    "--data-dir",
                    data_dir_.string(),
                    "--port",
                    std::to_string(port_),
                    "--input-root",
                    (kSourceDir / "tests/data").string(),
                    "--input-root",
                    (data_dir_ / "inputs").string(),
                    "--reconcile-interval-seconds",
                    "1",
                    "--reconcile-quiet-seconds",
                    "3"};
    if (!database_.empty()) {
      options.argv.push_back("--database");
      options.argv.push_back(database_);
    }
    options.environment = {{"PATH", "/usr/local/bin:/usr/bin:/bin"},
                           {"HOME", "/tmp"},
                           {"OMP_WAIT_POLICY", "PASSIVE"}};
    for (const auto& [name, value] : environment_) options.environment[name] = value;
    options.log_file = data_dir_ / "server.log";
    auto child = ChildProcess::Spawn(options);
    if (!child) return false;
    process_.emplace(std::move(*child));
    ++starts_;
    return WaitForOk(url_ + "/api/v1/health", seconds(60));
  }

  // Sends `signal` to the server and reaps it.
  void Stop(int signal) {
    if (!process_) return;
    (void)process_->Signal(signal);
    if (!process_->WaitFor(seconds(30))) {
      (void)process_->Signal(SIGKILL);
      (void)process_->WaitFor(seconds(10));
    }
    process_.reset();
  }

  int starts() const { return starts_; }

 private:
  fs::path data_dir_;
  std::string database_;
  std::map<std::string, std::string> environment_;
  uint16_t port_ = 0;
  std::string url_;
  std::optional<ChildProcess> process_;
  int starts_ = 0;
};

class CrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    run_ = RandomHex(4);
    repository_ = "crash-" + run_;
    model_name_ = "crash-model-" + run_;
    fs::create_directories(data_dir_.path() / "inputs" / "script");
    fs::create_directories(launch_dir());
    std::ofstream(data_dir_.path() / "inputs" / "script" / "run.sh") << kJobScript;
    fs::permissions(data_dir_.path() / "inputs" / "script" / "run.sh", fs::perms::owner_all);
  }

  void TearDown() override {
    // Runtimes still running after a failed check are killed with their sessions.
    for (pid_t pid : FindSessionLeadersWithEnvironment("CRASH_RUN=" + run_)) {
      SignalSession(pid, SIGKILL);
    }
  }

  fs::path launch_dir() const { return data_dir_.path() / "launches"; }

  std::string ServerLog() const {
    return ReadFile(data_dir_.path() / "server.log").value_or("(no server log)");
  }

  std::string JobName(int index) const { return fmt::format("crash-{}-{}", run_, index); }

  Json Spec(int index, std::mt19937_64& random) const {
    Json spec = {
        {"TrainingJobName", JobName(index)},
        {"Repository", repository_},
        {"InputDataConfig",
         {{{"ChannelName", "train"},
           {"DataSource",
            {{"FileDataSource", {{"Path", kSourceDir / "tests/data/flights/train"}}}}}}}},
        {"OutputDataConfig", {{"ModelName", model_name_}}},
        {"Environment", {{"CRASH_LAUNCH_DIR", launch_dir().string()}, {"CRASH_RUN", run_}}},
        {"StoppingCondition", {{"MaxRuntimeInSeconds", 600}}},
    };
    if (index % 20 == 19) {
      spec["AlgorithmSpecification"] = {{"AlgorithmName", "xgboost"}};
      spec["FeaturePipeline"] = {{"Label", "delay"},
                                 {"Features",
                                  {{{"Field", "distance"}, {"Kind", "numeric"}},
                                   {{"Field", "origin"}, {"Kind", "categorical"}}}}};
      spec["HyperParameters"] = {{"num_round", "5"}, {"max_depth", "3"}};
    } else {
      std::uniform_int_distribution<int> sleep_ms(200, 3000);
      spec["AlgorithmSpecification"] = {
          {"EntryPoint", {"/bin/sh", "run.sh"}},
          {"SourceDir", data_dir_.path() / "inputs" / "script"}};
      spec["HyperParameters"] = {{"sleep_seconds", fmt::format("{:.3f}", sleep_ms(random) / 1e3)}};
    }
    return spec;
  }

  // Sends a request with the admin token, which exists once the first server ran.
  Result<http::Response> Call(const std::string& url, std::string_view method,
                              std::string_view target, std::string_view body = "") {
    std::call_once(token_once_, [this] {
      auto text = ReadFile(data_dir_.path() / "admin.token");
      if (text) {
        admin_token_ = *text;
        while (!admin_token_.empty() && std::isspace(admin_token_.back())) admin_token_.pop_back();
      }
    });
    http::HeaderList headers = {{"Authorization", "Bearer " + admin_token_},
                                {"Content-Type", "application/json"}};
    return http::Fetch(method, url + std::string(target), body, headers, seconds(10));
  }

  // Submits until the server responds 200 or 201 (the same spec again returns
  // the stored job), or 120 s pass. Returns the job id, or "" after an error.
  std::string Submit(const std::string& url, const Json& spec) {
    auto deadline = SteadyClock::now() + seconds(120);
    std::string body = spec.dump();
    while (SteadyClock::now() < deadline) {
      submitting_ = true;
      auto response = Call(url, "POST", "/api/v1/jobs", body);
      submitting_ = false;
      if (response && (response->status == 200 || response->status == 201)) {
        return Json::parse(response->body).value("JobId", "");
      }
      if (response && response->status < 500) {
        ADD_FAILURE() << "submit of " << spec["TrainingJobName"] << ": " << response->status << " "
                      << response->body;
        return "";
      }
      std::this_thread::sleep_for(milliseconds(100));
    }
    ADD_FAILURE() << "submit of " << spec["TrainingJobName"] << " timed out";
    return "";
  }

  // Returns every job of the run's repository by id (newest first pages).
  std::map<std::string, Json> ListJobs(const std::string& url) {
    std::map<std::string, Json> jobs;
    std::string token;
    for (int page = 0; page < 100; ++page) {
      std::string target = fmt::format("/api/v1/jobs?repository={}&page_size=1000", repository_);
      if (!token.empty()) target += "&page_token=" + token;
      auto response = Call(url, "GET", target);
      if (!response || response->status != 200) return jobs;
      Json body = Json::parse(response->body);
      for (const Json& job : body["Jobs"]) jobs[job.value("JobId", "")] = job;
      token = body.value("NextPageToken", "");
      if (token.empty()) break;
    }
    return jobs;
  }

  // Polls the job (at most `timeout`) until `done` holds; returns its last JSON.
  Json WaitForJob(const std::string& url, const std::string& id, seconds timeout,
                  const std::function<bool(const Json&)>& done) {
    Json job = Json::object();
    auto deadline = SteadyClock::now() + timeout;
    while (SteadyClock::now() < deadline) {
      auto response = Call(url, "GET", "/api/v1/jobs/" + id);
      if (response && response->status == 200) {
        job = Json::parse(response->body);
        if (done(job)) return job;
      }
      std::this_thread::sleep_for(milliseconds(200));
    }
    return job;
  }

  // Returns the accepted event that ended the job, or {"Events": all events}
  // when none did.
  Json EndingEvent(const std::string& url, const std::string& id) {
    auto response = Call(url, "GET", "/api/v1/jobs/" + id + "/events");
    if (!response || response->status != 200) {
      return {{"Error", response ? response->body : response.error().message()}};
    }
    Json events = Json::parse(response->body)["Events"];
    for (const Json& event : events) {
      std::string status = event.value("TrainingJobStatus", "");
      if (event.value("Verdict", "") == "Accepted" &&
          (status == "Completed" || status == "Failed" || status == "Stopped")) {
        return event;
      }
    }
    return {{"Events", events}};
  }

  static bool IsTerminal(const Json& job) {
    std::string status = job.value("TrainingJobStatus", "");
    return status == "Completed" || status == "Failed" || status == "Stopped";
  }

  TempDir data_dir_;
  std::string run_;
  std::string repository_;
  std::string model_name_;
  std::string admin_token_;
  std::once_flag token_once_;
  std::atomic<bool> submitting_{false};
};

TEST_F(CrashTest, KilledServerLosesAndRepeatsNoJob) {
  const int job_count = EnvInt("TANDEM_CRASH_JOBS", 200);
  const int kill_count = EnvInt("TANDEM_CRASH_KILLS", 20);
  const char* database = std::getenv("TANDEM_CRASH_DATABASE");
  const uint64_t seed = EnvInt("TANDEM_CRASH_SEED", static_cast<int>(std::random_device()() >> 1));
  std::cout << "seed=" << seed << " jobs=" << job_count << " kills=" << kill_count
            << " database=" << (database ? database : "sqlite") << std::endl;
  std::mt19937_64 random(seed);

  RestartableServer server(data_dir_.path(), database ? database : "");
  ASSERT_TRUE(server.Start()) << ReadFile(data_dir_.path() / "server.log").value_or("");

  // Step 1: submit every job from a thread of its own, about 6 a second.
  std::vector<Json> specs;
  for (int i = 0; i < job_count; ++i) specs.push_back(Spec(i, random));
  std::map<std::string, std::string> submitted;  // job name -> job id
  std::atomic<bool> submitter_done{false};
  std::thread submitter([&] {
    for (int i = 0; i < job_count; ++i) {
      std::string id = Submit(server.url(), specs[i]);
      if (!id.empty()) submitted[JobName(i)] = id;
      std::this_thread::sleep_for(milliseconds(150));
    }
    submitter_done = true;
  });

  // Step 2: kill the server and start it again. Odd kills wait for a
  // submission in flight and strike 0-20 ms into it.
  std::uniform_int_distribution<int> pause_ms(300, 2000);
  std::uniform_int_distribution<int> strike_ms(0, 20);
  std::uniform_int_distribution<int> down_ms(0, 400);
  for (int kill = 0; kill < kill_count; ++kill) {
    std::this_thread::sleep_for(milliseconds(pause_ms(random)));
    if (kill % 2 == 1) {
      auto give_up = SteadyClock::now() + seconds(3);
      while (!submitting_ && !submitter_done && SteadyClock::now() < give_up) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
      std::this_thread::sleep_for(milliseconds(strike_ms(random)));
    }
    server.Stop(SIGKILL);
    std::this_thread::sleep_for(milliseconds(down_ms(random)));
    ASSERT_TRUE(server.Start()) << "restart " << kill + 1 << " failed";
  }
  submitter.join();
  ASSERT_EQ(static_cast<int>(submitted.size()), job_count);

  // Step 3: wait (at most 180 s) until every job has ended.
  std::map<std::string, Json> jobs;
  auto deadline = SteadyClock::now() + seconds(180);
  while (SteadyClock::now() < deadline) {
    jobs = ListJobs(server.url());
    bool all_ended = static_cast<int>(jobs.size()) >= job_count &&
                     std::all_of(jobs.begin(), jobs.end(),
                                 [](const auto& entry) { return IsTerminal(entry.second); });
    if (all_ended) break;
    std::this_thread::sleep_for(milliseconds(500));
  }

  // Step 4: no job lost or doubled, every one Completed and launched once.
  EXPECT_EQ(static_cast<int>(jobs.size()), job_count);
  std::set<std::string> names;
  for (const auto& [id, job] : jobs) names.insert(job.value("TrainingJobName", ""));
  EXPECT_EQ(static_cast<int>(names.size()), job_count);
  for (const auto& [name, id] : submitted) {
    ASSERT_TRUE(jobs.contains(id)) << name << " " << id << " is missing";
    const Json& job = jobs[id];
    EXPECT_EQ(job.value("TrainingJobStatus", ""), "Completed")
        << name << " " << id << ": " << job.value("FailureReason", "") << "\n"
        << job["SecondaryStatusTransitions"].dump();

    auto log = ReadFile(data_dir_.path() / "jobs" / id / "job.log");
    ASSERT_TRUE(log) << id;
    size_t runtime_starts = 0;
    for (size_t at = log->find("job started job="); at != std::string::npos;
         at = log->find("job started job=", at + 1)) {
      ++runtime_starts;
    }
    EXPECT_EQ(runtime_starts, 1u) << name << " " << id << " runtime started more than once";
    if (!job["Spec"]["AlgorithmSpecification"].contains("EntryPoint")) continue;
    auto launches = ReadFile(launch_dir() / name);
    ASSERT_TRUE(launches) << name << " " << id << " never ran its program";
    EXPECT_EQ(std::count(launches->begin(), launches->end(), '\n'), 1)
        << name << " " << id << " ran its program more than once";
  }

  // Step 5: each completed job's package is exactly one version of the model.
  auto model = Call(server.url(), "GET", "/api/v1/models/" + model_name_);
  ASSERT_TRUE(model) << model.error().message();
  ASSERT_EQ(model->status, 200) << model->body;
  std::map<std::string, int> versions_per_job;
  Json model_document = Json::parse(model->body);
  for (const Json& version : model_document["Versions"]) {
    ++versions_per_job[version.value("JobId", "")];
  }
  for (const auto& [name, id] : submitted) {
    EXPECT_EQ(versions_per_job[id], 1) << name << " " << id;
    const Json& job = jobs[id];
    ASSERT_TRUE(job.contains("ModelVersion")) << name << " " << id;
    EXPECT_EQ(job["ModelVersion"].value("ModelName", ""), model_name_);
  }
  EXPECT_EQ(versions_per_job.size(), submitted.size());
  // How often a kill struck between a spawn and its launch record, or
  // between storing a job and launching it, for the record of this run.
  std::string log = ServerLog();
  auto count = [&log](std::string_view text) {
    size_t found = 0;
    for (size_t at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) ++found;
    return found;
  };
  std::cout << "server starts=" << server.starts() << " jobs=" << jobs.size()
            << " adopted_unrecorded_launches="
            << count("did not record; adopting it")
            << " stored_jobs_launched_later=" << count("job admitted") << std::endl;
}

// The runtime's Completed event is lost (test switch of runtime/events.h) for
// a job that the running server did not launch, so no exit report comes
// either: the periodic reconciler completes it from the runtime's exit file
// and the uploaded package, and the model is registered once.
TEST_F(CrashTest, LostCompletedEventIsReconciled) {
  RestartableServer server(data_dir_.path(), "", {{"TANDEM_TEST_DROP_EVENTS", "Completed"}});
  ASSERT_TRUE(server.Start());
  std::mt19937_64 random(1);
  Json spec = Spec(0, random);
  spec["HyperParameters"]["sleep_seconds"] = "3";
  std::string id = Submit(server.url(), spec);
  ASSERT_FALSE(id.empty());
  Json job = WaitForJob(server.url(), id, seconds(60), [](const Json& job) {
    return job.value("SecondaryStatus", "") == "Training" || IsTerminal(job);
  });
  ASSERT_EQ(job.value("SecondaryStatus", ""), "Training") << job.dump(2) << ServerLog();

  // A new server finds the job in launch.json, so only Describe reports its end.
  server.Stop(SIGTERM);
  ASSERT_TRUE(server.Start());
  job = WaitForJob(server.url(), id, seconds(90), IsTerminal);
  EXPECT_EQ(job.value("TrainingJobStatus", ""), "Completed") << job.dump(2);
  ASSERT_TRUE(job.contains("ModelVersion")) << job.dump(2);
  EXPECT_EQ(job["ModelVersion"].value("Version", 0), 1);
  Json ending = EndingEvent(server.url(), id);
  EXPECT_EQ(ending.value("Source", ""), "reconciler") << ending.dump(2);

  auto model = Call(server.url(), "GET", "/api/v1/models/" + model_name_);
  ASSERT_TRUE(model) << model.error().message();
  ASSERT_EQ(model->status, 200) << model->body;
  EXPECT_EQ(Json::parse(model->body)["Versions"].size(), 1u);
}

// The same loss for a job this server launched: the backend's exit report
// (exit code 0 after an upload) completes it.
TEST_F(CrashTest, LostCompletedEventOfChildCompletes) {
  RestartableServer server(data_dir_.path(), "", {{"TANDEM_TEST_DROP_EVENTS", "Completed"}});
  ASSERT_TRUE(server.Start());
  std::mt19937_64 random(1);
  Json spec = Spec(0, random);
  spec["HyperParameters"]["sleep_seconds"] = "1";
  std::string id = Submit(server.url(), spec);
  ASSERT_FALSE(id.empty());

  Json job = WaitForJob(server.url(), id, seconds(90), IsTerminal);
  EXPECT_EQ(job.value("TrainingJobStatus", ""), "Completed") << job.dump(2) << ServerLog();
  ASSERT_TRUE(job.contains("ModelVersion")) << job.dump(2);
  Json ending = EndingEvent(server.url(), id);
  EXPECT_EQ(ending.value("Source", ""), "backend") << ending.dump(2);
}

// The job's runtime is killed with SIGKILL behind tandem's back while a
// server that did not launch it runs: the reconciler ends it Failed.
TEST_F(CrashTest, ProcessKilledBehindBackIsReconciled) {
  RestartableServer server(data_dir_.path(), "");
  ASSERT_TRUE(server.Start());
  std::mt19937_64 random(1);
  Json spec = Spec(0, random);
  spec["HyperParameters"]["sleep_seconds"] = "300";
  std::string id = Submit(server.url(), spec);
  ASSERT_FALSE(id.empty());
  Json job = WaitForJob(server.url(), id, seconds(60), [](const Json& job) {
    return job.value("SecondaryStatus", "") == "Training" || IsTerminal(job);
  });
  ASSERT_EQ(job.value("SecondaryStatus", ""), "Training") << job.dump(2) << ServerLog();
  std::string native_id = job["Backend"].value("NativeId", "");
  ASSERT_TRUE(native_id.starts_with("pid:")) << job.dump(2);

  server.Stop(SIGTERM);
  ASSERT_TRUE(server.Start());
  pid_t pid = std::stoi(native_id.substr(4));
  ASSERT_GT(SignalSession(pid, SIGKILL), 0);
  job = WaitForJob(server.url(), id, seconds(90), IsTerminal);
  EXPECT_EQ(job.value("TrainingJobStatus", ""), "Failed") << job.dump(2);
  EXPECT_NE(job.value("FailureReason", "").find("no longer running"), std::string::npos)
      << job.dump(2);
  Json ending = EndingEvent(server.url(), id);
  EXPECT_EQ(ending.value("Source", ""), "reconciler") << ending.dump(2);
}

}  // namespace
}  // namespace tandem::e2e
