// Prediction speed of the compiled tree evaluator, with each of its kernels,
// against libxgboost on the same model and rows, in one run: a 200-tree,
// depth-8 regression model on 8 features, trained at start-up on synthetic
// data.
//
//   build/<dir>/bench/predict_benchmark --benchmark_repetitions=5
//
// items_per_second counts rows. Compare the predictors within one run:
// absolute times drift on a shared machine. compiled_trees is the kernel the
// loader chooses (kAuto); compiled_avx512 is skipped on CPUs without AVX-512,
// compiled_avx2 on CPUs without AVX2.
#include <unistd.h>

#include <xgboost/c_api.h>

#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "model/compiled_trees.h"
#include "model/xgboost_predictor.h"

namespace tandem::model {
namespace {

namespace fs = std::filesystem;

constexpr size_t kFeatures = 8;
constexpr size_t kTrainRows = 20000;
constexpr int kTrees = 200;
constexpr size_t kBatchRows = 1000;
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Aborts the benchmark binary with libxgboost's message when `call` fails.
void Check(int status, const char* call) {
  if (status != 0) {
    std::fprintf(stderr, "%s failed: %s\n", call, XGBGetLastError());
    std::exit(1);
  }
}
#define XGB_CHECK(call) Check((call), #call)

// `count` rows of kFeatures values in [0, 10), about 5% of them missing.
std::vector<float> RandomRows(size_t count, unsigned seed) {
  std::mt19937 random(seed);
  std::uniform_real_distribution<float> uniform(0.0f, 10.0f);
  std::vector<float> rows(count * kFeatures);
  for (float& value : rows) value = uniform(random) < 0.5f ? kNaN : uniform(random);
  return rows;
}

// Trains the model with the libxgboost C API and saves it as JSON.
void TrainModel(const fs::path& path) {
  std::vector<float> features = RandomRows(kTrainRows, 1);
  std::vector<float> labels(kTrainRows);
  for (size_t r = 0; r < kTrainRows; ++r) {
    const float* x = &features[r * kFeatures];
    auto value = [](float v) { return std::isnan(v) ? 5.0f : v; };
    labels[r] = std::sin(value(x[0])) * 3.0f + value(x[1]) * value(x[2]) / 10.0f +
                (value(x[3]) > 4.0f ? 2.0f : -1.0f) + value(x[4]) - value(x[5]) / 2.0f +
                std::sqrt(value(x[6])) + (value(x[7]) > 7.5f ? 1.0f : 0.0f);
  }
  DMatrixHandle matrix = nullptr;
  XGB_CHECK(XGDMatrixCreateFromMat(features.data(), kTrainRows, kFeatures, kNaN, &matrix));
  XGB_CHECK(XGDMatrixSetFloatInfo(matrix, "label", labels.data(), kTrainRows));
  BoosterHandle booster = nullptr;
  XGB_CHECK(XGBoosterCreate(&matrix, 1, &booster));
  XGB_CHECK(XGBoosterSetParam(booster, "objective", "reg:squarederror"));
  XGB_CHECK(XGBoosterSetParam(booster, "max_depth", "8"));
  XGB_CHECK(XGBoosterSetParam(booster, "eta", "0.1"));
  XGB_CHECK(XGBoosterSetParam(booster, "tree_method", "hist"));
  XGB_CHECK(XGBoosterSetParam(booster, "nthread", "2"));
  for (int round = 0; round < kTrees; ++round) {
    XGB_CHECK(XGBoosterUpdateOneIter(booster, round, matrix));
  }
  XGB_CHECK(XGBoosterSaveModel(booster, path.c_str()));
  XGBoosterFree(booster);
  XGDMatrixFree(matrix);
}

// The model, its three predictors and the rows, made once per process.
struct Setup {
  fs::path directory;
  std::unique_ptr<Predictor> compiled;  // the kernel that kAuto chooses
  std::unique_ptr<Predictor> compiled_scalar;
  std::unique_ptr<Predictor> compiled_avx2;    // null when the CPU lacks AVX2
  std::unique_ptr<Predictor> compiled_avx512;  // null when the CPU lacks AVX-512
  std::unique_ptr<Predictor> libxgboost;              // one OpenMP thread per call
  std::unique_ptr<Predictor> libxgboost_all_threads;  // libxgboost's default
  std::vector<float> rows = RandomRows(kBatchRows, 2);

  Setup() {
    directory = fs::temp_directory_path() / fmt::format("tandem-predict-benchmark-{}", getpid());
    fs::create_directories(directory);
    fs::path model = directory / "model.json";
    TrainModel(model);
    compiled = Take(LoadCompiledTrees(model, kFeatures));
    compiled_scalar = Take(LoadCompiledTrees(model, kFeatures, {.kernel = TreeKernel::kScalar}));
    compiled_avx2 = TakeIfSupported(
        LoadCompiledTrees(model, kFeatures, {.kernel = TreeKernel::kAvx2}));
    compiled_avx512 = TakeIfSupported(
        LoadCompiledTrees(model, kFeatures, {.kernel = TreeKernel::kAvx512}));
    libxgboost = Take(LoadXGBoostPredictor(model, kFeatures, {.threads_per_call = 1}));
    libxgboost_all_threads = Take(LoadXGBoostPredictor(model, kFeatures));
  }
  ~Setup() {
    std::error_code ignored;
    fs::remove_all(directory, ignored);
  }

  static std::unique_ptr<Predictor> Take(Result<std::unique_ptr<Predictor>> loaded) {
    if (!loaded) {
      std::fprintf(stderr, "loading the model failed: %s\n", loaded.error().message().c_str());
      std::exit(1);
    }
    return std::move(*loaded);
  }

  // Null when the CPU lacks the forced kernel's instructions.
  static std::unique_ptr<Predictor> TakeIfSupported(Result<std::unique_ptr<Predictor>> loaded) {
    if (!loaded && loaded.error().code() == ErrorCode::kFailedPrecondition) {
      std::fprintf(stderr, "%s\n", loaded.error().message().c_str());
      return nullptr;
    }
    return Take(std::move(loaded));
  }
};

Setup& Shared() {
  static Setup setup;
  return setup;
}

enum Which {
  kCompiled,
  kCompiledScalar,
  kCompiledAvx2,
  kCompiledAvx512,
  kLibxgboost,
  kLibxgboostAllThreads
};

// Null when the CPU lacks the kernel's instructions.
const Predictor* Pick(Which which) {
  Setup& setup = Shared();
  switch (which) {
    case kCompiled: return setup.compiled.get();
    case kCompiledScalar: return setup.compiled_scalar.get();
    case kCompiledAvx2: return setup.compiled_avx2.get();
    case kCompiledAvx512: return setup.compiled_avx512.get();
    case kLibxgboost: return setup.libxgboost.get();
    case kLibxgboostAllThreads: return setup.libxgboost_all_threads.get();
  }
  return nullptr;
}

// One row per Predict call, cycling through the rows.
void BM_SingleRow(benchmark::State& state, Which which) {
  const Predictor* predictor = Pick(which);
  if (predictor == nullptr) {
    state.SkipWithError("the CPU does not support this kernel");
    return;
  }
  const std::vector<float>& rows = Shared().rows;
  size_t row = 0;
  float out = 0;
  for (auto _ : state) {
    if (!predictor->Predict(&rows[row * kFeatures], 1, &out)) state.SkipWithError("Predict failed");
    benchmark::DoNotOptimize(out);
    row = row + 1 == kBatchRows ? 0 : row + 1;
  }
  state.SetItemsProcessed(state.iterations());
}

// kBatchRows rows per Predict call.
void BM_Batch(benchmark::State& state, Which which) {
  const Predictor* predictor = Pick(which);
  if (predictor == nullptr) {
    state.SkipWithError("the CPU does not support this kernel");
    return;
  }
  const std::vector<float>& rows = Shared().rows;
  std::vector<float> out(kBatchRows);
  for (auto _ : state) {
    if (!predictor->Predict(rows.data(), kBatchRows, out.data())) {
      state.SkipWithError("Predict failed");
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kBatchRows));
}

BENCHMARK_CAPTURE(BM_SingleRow, compiled_trees, kCompiled);
BENCHMARK_CAPTURE(BM_SingleRow, compiled_scalar, kCompiledScalar);
BENCHMARK_CAPTURE(BM_SingleRow, compiled_avx2, kCompiledAvx2);
BENCHMARK_CAPTURE(BM_SingleRow, compiled_avx512, kCompiledAvx512);
BENCHMARK_CAPTURE(BM_SingleRow, libxgboost, kLibxgboost);
BENCHMARK_CAPTURE(BM_Batch, compiled_trees, kCompiled);
BENCHMARK_CAPTURE(BM_Batch, compiled_scalar, kCompiledScalar);
BENCHMARK_CAPTURE(BM_Batch, compiled_avx2, kCompiledAvx2);
BENCHMARK_CAPTURE(BM_Batch, compiled_avx512, kCompiledAvx512);
BENCHMARK_CAPTURE(BM_Batch, libxgboost, kLibxgboost);
BENCHMARK_CAPTURE(BM_Batch, libxgboost_all_threads, kLibxgboostAllThreads);

}  // namespace
}  // namespace tandem::model

BENCHMARK_MAIN();
