// Fuzz target bodies, shared by the libFuzzer binaries (built with clang by
// run_fuzzers.sh) and by fuzz_regression_test.cc (built with the project's
// compiler), which replays fuzz/corpus and fuzz/regressions.
//
// Each function feeds arbitrary bytes to one parser and aborts when a result
// breaks the parser's documented contract, so that libFuzzer reports a
// crash. Any thread may call them.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tandem::fuzz {

// OIP v2 infer request body: ParseInferRequest, then, for a parsed request,
// FeaturesFromInferRequest with a fixed pipeline. Checks that each parsed
// tensor has as many elements as its shape says, and that a feature batch
// contains rows x num_features values.
void FuzzInferRequest(const uint8_t* data, size_t size);

// SageMaker /invocations body: the first byte picks the content type
// (application/json, application/jsonlines or text/csv), the rest is the body,
// parsed and turned into features with a fixed pipeline.
void FuzzSageMakerBody(const uint8_t* data, size_t size);

// One JSON record through FeaturePipeline::TransformJson of a fixed pipeline.
void FuzzRecordTransform(const uint8_t* data, size_t size);

}  // namespace tandem::fuzz
