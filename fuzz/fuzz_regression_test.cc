// Replays every file of fuzz/corpus/NAME and fuzz/regressions/NAME through
// the fuzz target NAME. A crash input that libFuzzer found stays in
// fuzz/regressions/ after its fix, so it is checked on every test run.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <string>

#include "common/file_util.h"
#include "fuzz_targets.h"

namespace tandem::fuzz {
namespace {

namespace fs = std::filesystem;

// Runs `target` on each file under fuzz/SUBDIR/NAME; returns how many ran.
int Replay(std::string_view name, const std::function<void(const uint8_t*, size_t)>& target) {
  int count = 0;
  for (std::string_view subdir : {"corpus", "regressions"}) {
    const fs::path dir = fs::path(FUZZ_DIR) / subdir / name;
    std::error_code error;
    for (const fs::directory_entry& entry : fs::directory_iterator(dir, error)) {
      if (!entry.is_regular_file() || entry.path().filename().string().starts_with('.')) continue;
      Result<std::string> data = ReadFile(entry.path());
      EXPECT_TRUE(data.has_value()) << entry.path();
      if (!data) continue;
      SCOPED_TRACE(entry.path().string());
      target(reinterpret_cast<const uint8_t*>(data->data()), data->size());
      ++count;
    }
  }
  return count;
}

TEST(FuzzRegression, OipRequest) { EXPECT_GT(Replay("oip_request", FuzzInferRequest), 0); }
TEST(FuzzRegression, SageMakerBody) { EXPECT_GT(Replay("sagemaker_body", FuzzSageMakerBody), 0); }
TEST(FuzzRegression, RecordTransform) {
  EXPECT_GT(Replay("record_transform", FuzzRecordTransform), 0);
}

}  // namespace
}  // namespace tandem::fuzz
