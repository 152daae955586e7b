// The built-in "xgboost" algorithm: gradient-boosted trees trained with
// libxgboost on CSV channels through the model's feature pipeline.
//
// Called through RunAlgorithm("xgboost", ...) (algorithm.h), which documents
// the job root it reads. What it writes:
//   model/model.json       the booster (XGBoosterSaveModel, JSON format)
//   model/manifest.json    ModelManifest: fitted pipeline, schemas, metrics,
//                          lineage and self-tests
//   output/data/validation_sample.jsonl
//                          up to kSampleRecords lines
//                          {"Record": {...}, "Label": x, "Features": [...], "Prediction": y}
//                          for a sample of the evaluation channel's records
//                          (ChannelTable::samples, in file order); floats
//                          are printed in their shortest form that parses back to
//                          the same float32, and a missing feature (NaN) as null
//
// Metrics (ModelManifest::metrics) are computed on the evaluation rows. These
// are the validation channel's, or the train channel's when there is no
// validation channel, and then EvaluatedOnTrain is 1 (else 0). Rmse and Mae
// measure the predictions; BaselineRmse and BaselineMae measure always
// predicting the mean train label. TrainRows, ValidationRows (0 without a
// validation channel) and EvaluationRows count records.
#pragma once

#include <cstddef>

#include "algorithms/algorithm.h"
#include "common/status.h"

namespace tandem::algorithms {

inline constexpr size_t kSampleRecords = 1000;
inline constexpr size_t kSelfTestCases = 8;

// Runs the algorithm; errors as documented for RunAlgorithm.
Status RunXGBoost(const AlgorithmContext& context);

}  // namespace tandem::algorithms
