// Hyperparameters of the built-in XGBoost algorithm: parsing SageMaker's
// string -> string map into typed, range-checked values.
//
// Thread-safe: these are pure functions over values.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/json_util.h"
#include "common/status.h"

namespace tandem::algorithms {

// Typed XGBoost hyperparameters, each with its default. Names and meanings
// follow XGBoost's own parameters (XGBoost 1.7 documentation, "XGBoost Parameters").
struct XGBoostHyperparameters {
  int num_round = 100;                        // boosting rounds, 1-10000
  int max_depth = 6;                          // 0-64; 0 means no limit (hist and approx only)
  double eta = 0.3;                           // learning rate, (0, 1]
  double subsample = 1.0;                     // row fraction per tree, (0, 1]
  double colsample_bytree = 1.0;              // column fraction per tree, (0, 1]
  double colsample_bylevel = 1.0;             // column fraction per depth level, (0, 1]
  double colsample_bynode = 1.0;              // column fraction per split, (0, 1]
  double min_child_weight = 1.0;              // >= 0
  double lambda = 1.0;                        // L2 regularisation on leaf weights, >= 0
  double alpha = 0.0;                         // L1 regularisation on leaf weights, >= 0
  double gamma = 0.0;                         // minimum loss reduction to split, >= 0
  double max_delta_step = 0.0;                // >= 0; 0 means no constraint
  double scale_pos_weight = 1.0;              // > 0
  std::string objective = "reg:squarederror"; // one of KnownObjectives()
  std::string tree_method = "hist";           // hist, approx or exact
  std::string grow_policy = "depthwise";      // depthwise or lossguide
  int max_leaves = 0;                         // 0-1048576; 0 means no limit
  int max_bin = 256;                          // 2-65536 (hist and approx)
  double tweedie_variance_power = 1.5;        // (1, 2), for reg:tweedie
  double huber_slope = 1.0;                   // > 0, for reg:pseudohubererror
  int64_t seed = 0;                           // 0-2147483647

  // Returns the XGBoost parameters as name and value text, in a fixed order,
  // for XGBoosterSetParam: all but num_round (the caller's loop count), with
  // tweedie_variance_power and huber_slope only for their objectives, plus
  // "nthread" set to `nthread` (at least 1).
  std::vector<std::pair<std::string, std::string>> BoosterParams(int nthread) const;

  // Returns every hyperparameter (defaults included) as a string -> string
  // object, the form recorded in the model manifest's lineage.
  Json ToJson() const;
};

// Returns the objectives this algorithm accepts: the single-output objectives
// of XGBoost 1.7 (multi-class and ranking objectives are not supported).
const std::vector<std::string>& KnownObjectives();

// Returns the hyperparameter names ParseXGBoostHyperparameters accepts, sorted.
std::vector<std::string> KnownXGBoostHyperparameters();

// Parses SageMaker's hyperparameter map. Missing names keep their defaults.
// Errors (all kInvalidArgument) name the hyperparameter and the value:
//   unknown name          "unknown hyperparameter \"depth\"; known: alpha, ..."
//   not a number          "hyperparameter num_round: \"abc\" is not an integer"
//   out of range          "hyperparameter eta: 0 is out of range (0, 1]"
//   not a listed choice   "hyperparameter objective: \"x\" is not one of ..."
Result<XGBoostHyperparameters> ParseXGBoostHyperparameters(
    const std::map<std::string, std::string>& values);

// Parses the text of input/config/hyperparameters.json, a JSON object of
// strings, into a map. Numbers and booleans are accepted and taken as their
// JSON text ("num_round": 10 gives "10"). Errors (kInvalidArgument): malformed
// JSON, a non-object, or a value that is an object, array or null (naming the key).
Result<std::map<std::string, std::string>> ParseHyperparameterMap(std::string_view json_text);

}  // namespace tandem::algorithms
