#include "algorithms/algorithm.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "algorithms/xgboost_algorithm.h"
#include "algorithms/xgboost_hyperparameters.h"
#include "model/feature_pipeline.h"

namespace tandem::algorithms {

std::vector<std::string> AlgorithmNames() { return {"xgboost"}; }

Status RunAlgorithm(std::string_view name, const AlgorithmContext& context) {
  if (name == "xgboost") return RunXGBoost(context);
  return NotFound(fmt::format("unknown algorithm \"{}\"; built-in algorithms: {}", name,
                              fmt::join(AlgorithmNames(), ", ")));
}

Status ValidateAlgorithmInputs(std::string_view name,
                               const std::map<std::string, std::string>& hyperparameters,
                               const nlohmann::json& feature_pipeline) {
  if (name != "xgboost") {
    return NotFound(fmt::format("unknown algorithm \"{}\"; built-in algorithms: {}", name,
                                fmt::join(AlgorithmNames(), ", ")));
  }
  TANDEM_RETURN_IF_ERROR_CTX(ParseXGBoostHyperparameters(hyperparameters), "HyperParameters");
  TANDEM_RETURN_IF_ERROR(model::FeaturePipelineSpec::FromJson(feature_pipeline, "FeaturePipeline"));
  return Ok();
}

}  // namespace tandem::algorithms
