// Helpers shared by the runtime's tests: a temporary directory, a reporter
// that records events, and a job spec for the entry point fixture.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "jobs/job_spec.h"
#include "runtime/events.h"

namespace tandem::runtime::testing {

namespace fs = std::filesystem;

// A fresh directory under the system's temporary directory, removed at destruction.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "runtime_test_XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code error;
    fs::remove_all(path_, error);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

inline std::string ReadText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

inline void WriteText(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

// Waits (at most 10 s) for `path` to exist.
inline bool WaitForFile(const fs::path& path) {
  for (int i = 0; i < 1000; ++i) {
    std::error_code error;
    if (fs::exists(path, error)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// Keeps every reported event. Thread-safe.
class RecordingReporter final : public EventReporter {
 public:
  void Report(RuntimeEvent event) override {
    std::lock_guard lock(mutex_);
    events_.push_back(std::move(event));
  }
  bool Flush(std::chrono::milliseconds) override { return true; }

  std::vector<RuntimeEvent> events() {
    std::lock_guard lock(mutex_);
    return events_;
  }
  // Returns "Status/SecondaryStatus" of each status event, in order.
  std::vector<std::string> StatusTrail() {
    std::vector<std::string> trail;
    for (const RuntimeEvent& event : events()) {
      if (!event.status.empty()) trail.push_back(event.status + "/" + event.secondary_status);
    }
    return trail;
  }

 private:
  std::mutex mutex_;
  std::vector<RuntimeEvent> events_;
};

inline fs::path EntryPointFixture() {
  return fs::path(TANDEM_SOURCE_DIR) / "src" / "runtime" / "testdata" / "entry_point.sh";
}

// A spec that runs the entry point fixture in `mode`, with one channel
// "train" holding `dir`/data/train.csv (created here).
inline jobs::JobSpec EntryPointSpec(const fs::path& dir, const std::string& mode) {
  WriteText(dir / "data" / "train.csv", "delay,distance\n1,100\n");
  fs::create_directories(dir / "src");
  jobs::JobSpec spec;
  spec.training_job_name = "test-job";
  spec.repository = "tests";
  spec.algorithm.entry_point = {"/bin/sh", EntryPointFixture().string(), mode};
  spec.algorithm.source_dir = (dir / "src").string();
  spec.hyperparameters = {{"num_round", "5"}, {"objective", "reg:squarederror"}};
  spec.input_channels = {jobs::InputChannel{.name = "train", .path = (dir / "data").string()}};
  spec.model_name = "test-model";
  spec.max_runtime_s = 3600;
  return spec;
}

}  // namespace tandem::runtime::testing
