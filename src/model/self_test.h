// Runs a model package's self-test cases: each case's raw record goes through
// the feature pipeline and the predictor, and the prediction must equal the
// recorded value (within SelfTestTolerance). A server runs them after every
// load and refuses to serve a package that fails.
#pragma once

#include "common/status.h"
#include "model/feature_pipeline.h"
#include "model/package.h"
#include "model/predictor.h"

namespace tandem::model {

// Returns Ok when every case passes (also when there are none).
// Errors: kFailedPrecondition naming the case index, the expected and the
// actual value when a prediction differs; kInvalidArgument naming the case
// index when its record cannot be transformed; the predictor's error, with
// the case index, when prediction fails.
Status RunSelfTests(const LoadedPackage& package, const FeaturePipeline& pipeline,
                    const Predictor& predictor);

}  // namespace tandem::model
