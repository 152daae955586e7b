#include "algorithms/xgboost_hyperparameters.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <functional>
#include <limits>
#include <string_view>

namespace tandem::algorithms {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// An interval of accepted values; an open end excludes its bound.
struct Range {
  double low;
  double high;
  bool low_open = false;
  bool high_open = false;

  bool Contains(double v) const {
    bool above = low_open ? v > low : v >= low;
    bool below = high_open ? v < high : v <= high;
    return above && below;
  }

  std::string ToString() const {
    auto bound = [](double b) { return std::isinf(b) ? std::string("inf") : fmt::format("{}", b); };
    return fmt::format("{}{}, {}{}", low_open || std::isinf(low) ? "(" : "[", bound(low), bound(high),
                       high_open || std::isinf(high) ? ")" : "]");
  }
};

Result<int64_t> ParseInteger(std::string_view name, std::string_view text, Range range) {
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return InvalidArgument(
        fmt::format("hyperparameter {}: \"{}\" is not an integer; expected a whole number in {}",
                    name, text, range.ToString()));
  }
  if (!range.Contains(static_cast<double>(value))) {
    return InvalidArgument(fmt::format("hyperparameter {}: {} is out of range {}", name, value,
                                       range.ToString()));
  }
  return value;
}

Result<double> ParseReal(std::string_view name, std::string_view text, Range range) {
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() ||
      !std::isfinite(value)) {
    return InvalidArgument(fmt::format(
        "hyperparameter {}: \"{}\" is not a number; expected a finite number in {}", name, text,
        range.ToString()));
  }
  if (!range.Contains(value)) {
    return InvalidArgument(fmt::format("hyperparameter {}: {} is out of range {}", name, text,
                                       range.ToString()));
  }
  return value;
}

Result<std::string> ParseChoice(std::string_view name, std::string_view text,
                                const std::vector<std::string>& choices) {
  if (std::find(choices.begin(), choices.end(), text) == choices.end()) {
    return InvalidArgument(fmt::format("hyperparameter {}: \"{}\" is not one of: {}", name, text,
                                       fmt::join(choices, ", ")));
  }
  return std::string(text);
}

// How to parse one hyperparameter into its field of XGBoostHyperparameters.
using Setter = std::function<Status(std::string_view name, std::string_view text,
                                    XGBoostHyperparameters& out)>;

Setter IntSetter(int XGBoostHyperparameters::*field, Range range) {
  return [field, range](std::string_view name, std::string_view text,
                        XGBoostHyperparameters& out) -> Status {
    TANDEM_ASSIGN_OR_RETURN(int64_t value, ParseInteger(name, text, range));
    out.*field = static_cast<int>(value);
    return Ok();
  };
}

Setter Int64Setter(int64_t XGBoostHyperparameters::*field, Range range) {
  return [field, range](std::string_view name, std::string_view text,
                        XGBoostHyperparameters& out) -> Status {
    TANDEM_ASSIGN_OR_RETURN(out.*field, ParseInteger(name, text, range));
    return Ok();
  };
}

Setter RealSetter(double XGBoostHyperparameters::*field, Range range) {
  return [field, range](std::string_view name, std::string_view text,
                        XGBoostHyperparameters& out) -> Status {
    TANDEM_ASSIGN_OR_RETURN(out.*field, ParseReal(name, text, range));
    return Ok();
  };
}

Setter ChoiceSetter(std::string XGBoostHyperparameters::*field, std::vector<std::string> choices) {
  return [field, choices = std::move(choices)](std::string_view name, std::string_view text,
                                               XGBoostHyperparameters& out) -> Status {
    TANDEM_ASSIGN_OR_RETURN(out.*field, ParseChoice(name, text, choices));
    return Ok();
  };
}

const Range kFraction{0, 1, /*low_open=*/true};
const Range kNonNegative{0, kInf};
const Range kPositive{0, kInf, /*low_open=*/true};

// The accepted hyperparameters, sorted by name.
const std::map<std::string, Setter, std::less<>>& Setters() {
  using H = XGBoostHyperparameters;
  static const auto* setters = new std::map<std::string, Setter, std::less<>>{
      {"alpha", RealSetter(&H::alpha, kNonNegative)},
      {"colsample_bylevel", RealSetter(&H::colsample_bylevel, kFraction)},
      {"colsample_bynode", RealSetter(&H::colsample_bynode, kFraction)},
      {"colsample_bytree", RealSetter(&H::colsample_bytree, kFraction)},
      {"eta", RealSetter(&H::eta, kFraction)},
      {"gamma", RealSetter(&H::gamma, kNonNegative)},
      {"grow_policy", ChoiceSetter(&H::grow_policy, {"depthwise", "lossguide"})},
      {"huber_slope", RealSetter(&H::huber_slope, kPositive)},
      {"lambda", RealSetter(&H::lambda, kNonNegative)},
      {"max_bin", IntSetter(&H::max_bin, Range{2, 65536})},
      {"max_delta_step", RealSetter(&H::max_delta_step, kNonNegative)},
      {"max_depth", IntSetter(&H::max_depth, Range{0, 64})},
      {"max_leaves", IntSetter(&H::max_leaves, Range{0, 1048576})},
      {"min_child_weight", RealSetter(&H::min_child_weight, kNonNegative)},
      {"num_round", IntSetter(&H::num_round, Range{1, 10000})},
      {"objective", ChoiceSetter(&H::objective, KnownObjectives())},
      {"scale_pos_weight", RealSetter(&H::scale_pos_weight, kPositive)},
      {"seed", Int64Setter(&H::seed, Range{0, 2147483647})},
      {"subsample", RealSetter(&H::subsample, kFraction)},
      {"tree_method", ChoiceSetter(&H::tree_method, {"approx", "exact", "hist"})},
      {"tweedie_variance_power",
       RealSetter(&H::tweedie_variance_power, Range{1, 2, /*low_open=*/true, /*high_open=*/true})},
  };
  return *setters;
}

}  // namespace

const std::vector<std::string>& KnownObjectives() {
  static const auto* objectives = new std::vector<std::string>{
      "binary:hinge",     "binary:logistic", "binary:logitraw",         "count:poisson",
      "reg:absoluteerror", "reg:gamma",      "reg:logistic",            "reg:pseudohubererror",
      "reg:squarederror", "reg:squaredlogerror", "reg:tweedie",
  };
  return *objectives;
}

std::vector<std::string> KnownXGBoostHyperparameters() {
  std::vector<std::string> names;
  for (const auto& [name, setter] : Setters()) names.push_back(name);
  return names;
}

Result<XGBoostHyperparameters> ParseXGBoostHyperparameters(
    const std::map<std::string, std::string>& values) {
  XGBoostHyperparameters parsed;
  for (const auto& [name, text] : values) {
    auto setter = Setters().find(name);
    if (setter == Setters().end()) {
      return InvalidArgument(fmt::format("unknown hyperparameter \"{}\"; known: {}", name,
                                         fmt::join(KnownXGBoostHyperparameters(), ", ")));
    }
    TANDEM_RETURN_IF_ERROR(setter->second(name, text, parsed));
  }
  return parsed;
}

Result<std::map<std::string, std::string>> ParseHyperparameterMap(std::string_view json_text) {
  TANDEM_ASSIGN_OR_RETURN(Json document, ParseJson(json_text, "hyperparameters.json"));
  if (!document.is_object()) {
    return InvalidArgument(fmt::format("hyperparameters.json: expected an object, got {}",
                                       JsonTypeName(document)));
  }
  std::map<std::string, std::string> values;
  for (const auto& [name, value] : document.items()) {
    if (value.is_string()) {
      values[name] = value.get<std::string>();
    } else if (value.is_number() || value.is_boolean()) {
      values[name] = value.dump();
    } else {
      return InvalidArgument(fmt::format(
          "hyperparameters.json: hyperparameter {}: expected a string, got {}", name,
          JsonTypeName(value)));
    }
  }
  return values;
}

std::vector<std::pair<std::string, std::string>> XGBoostHyperparameters::BoosterParams(
    int nthread) const {
  auto real = [](double v) { return fmt::format("{}", v); };
  std::vector<std::pair<std::string, std::string>> params = {
      {"objective", objective},
      {"tree_method", tree_method},
      {"grow_policy", grow_policy},
      {"max_depth", fmt::format("{}", max_depth)},
      {"max_leaves", fmt::format("{}", max_leaves)},
      {"max_bin", fmt::format("{}", max_bin)},
      {"eta", real(eta)},
      {"subsample", real(subsample)},
      {"colsample_bytree", real(colsample_bytree)},
      {"colsample_bylevel", real(colsample_bylevel)},
      {"colsample_bynode", real(colsample_bynode)},
      {"min_child_weight", real(min_child_weight)},
      {"lambda", real(lambda)},
      {"alpha", real(alpha)},
      {"gamma", real(gamma)},
      {"max_delta_step", real(max_delta_step)},
      {"scale_pos_weight", real(scale_pos_weight)},
      {"seed", fmt::format("{}", seed)},
  };
  // Objective-specific parameters go only with their objective, because
  // libxgboost warns about parameters that the configuration does not use.
  if (objective == "reg:tweedie") {
    params.emplace_back("tweedie_variance_power", real(tweedie_variance_power));
  }
  if (objective == "reg:pseudohubererror") params.emplace_back("huber_slope", real(huber_slope));
  params.emplace_back("nthread", fmt::format("{}", std::max(1, nthread)));
  return params;
}

Json XGBoostHyperparameters::ToJson() const {
  Json object = Json::object();
  for (const auto& [name, value] : BoosterParams(1)) {
    if (name != "nthread") object[name] = value;
  }
  object["num_round"] = fmt::format("{}", num_round);
  object["tweedie_variance_power"] = fmt::format("{}", tweedie_variance_power);
  object["huber_slope"] = fmt::format("{}", huber_slope);
  return object;
}

}  // namespace tandem::algorithms
