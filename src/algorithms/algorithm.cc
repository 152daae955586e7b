#include "algorithms/algorithm.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "algorithms/xgboost_algorithm.h"

namespace tandem::algorithms {

std::vector<std::string> AlgorithmNames() { return {"xgboost"}; }

Status RunAlgorithm(std::string_view name, const AlgorithmContext& context) {
  if (name == "xgboost") return RunXGBoost(context);
  return NotFound(fmt::format("unknown algorithm \"{}\"; built-in algorithms: {}", name,
                              fmt::join(AlgorithmNames(), ", ")));
}

}  // namespace tandem::algorithms
