#include "model/self_test.h"

#include <cmath>
#include <vector>

#include <fmt/format.h>

namespace tandem::model {

Status RunSelfTests(const LoadedPackage& package, const FeaturePipeline& pipeline,
                    const Predictor& predictor) {
  const ModelManifest& manifest = package.manifest;
  if (predictor.num_features() != pipeline.num_features()) {
    return FailedPrecondition(fmt::format("model {}: the predictor takes {} features, the feature "
                                          "pipeline gives {}",
                                          manifest.model_name, predictor.num_features(),
                                          pipeline.num_features()));
  }
  std::vector<float> features(pipeline.num_features());
  for (size_t i = 0; i < manifest.self_tests.size(); ++i) {
    const SelfTestCase& test = manifest.self_tests[i];
    std::string context = fmt::format("model {}: self-test case {}", manifest.model_name, i);

    Status transformed = pipeline.TransformJson(test.record, features);
    if (!transformed) return std::unexpected(transformed.error().WithContext(context));
    float actual = 0;
    Status predicted = predictor.Predict(features.data(), 1, &actual);
    if (!predicted) return std::unexpected(predicted.error().WithContext(context));

    float expected = static_cast<float>(test.expected);
    bool passed = manifest.self_test_tolerance == 0
                      ? actual == expected
                      : std::fabs(static_cast<double>(actual) - test.expected) <=
                            manifest.self_test_tolerance;
    if (!passed) {
      return FailedPrecondition(fmt::format(
          "{} failed: expected {}, got {} (tolerance {}, predictor {})", context, expected, actual,
          manifest.self_test_tolerance, predictor.name()));
    }
  }
  return Ok();
}

}  // namespace tandem::model
