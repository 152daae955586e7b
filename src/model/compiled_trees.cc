#include "model/compiled_trees.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/file_util.h"
#include "model/compiled_trees_simd.h"

namespace tandem::model {
namespace {

// nlohmann::json with float32 numbers: the lexer then converts each decimal
// with strtof, which rounds it once, straight to float32. Going through double
// would round twice and could, in rare cases, move a split condition by one
// unit in the last place.
using ModelJson = nlohmann::basic_json<std::map, std::vector, std::string, bool, std::int64_t,
                                       std::uint64_t, float>;

// ---------------------------------------------------------------------------
// Objectives

enum class MarginTransform { kIdentity, kLogit, kLog };
enum class OutputTransform { kIdentity, kSigmoid, kExp, kHinge };

struct Objective {
  std::string_view name;
  MarginTransform margin;  // how base_score becomes the starting margin
  OutputTransform output;  // how the summed margin becomes the prediction
};

// The objectives whose base_score and output transforms are known; each row is
// checked against libxgboost 1.7.4 by compiled_trees_test.cc.
constexpr Objective kObjectives[] = {
    {"reg:squarederror", MarginTransform::kIdentity, OutputTransform::kIdentity},
    {"reg:linear", MarginTransform::kIdentity, OutputTransform::kIdentity},
    {"reg:squaredlogerror", MarginTransform::kIdentity, OutputTransform::kIdentity},
    {"reg:pseudohubererror", MarginTransform::kIdentity, OutputTransform::kIdentity},
    {"reg:absoluteerror", MarginTransform::kIdentity, OutputTransform::kIdentity},
    {"rank:pairwise", MarginTransform::kIdentity, OutputTransform::kIdentity},
    {"rank:ndcg", MarginTransform::kIdentity, OutputTransform::kIdentity},
    {"rank:map", MarginTransform::kIdentity, OutputTransform::kIdentity},
    // Unlike binary:logistic, 1.7.4 takes binary:logitraw's base_score as a margin.
    {"binary:logitraw", MarginTransform::kIdentity, OutputTransform::kIdentity},
    {"reg:logistic", MarginTransform::kLogit, OutputTransform::kSigmoid},
    {"binary:logistic", MarginTransform::kLogit, OutputTransform::kSigmoid},
    {"count:poisson", MarginTransform::kLog, OutputTransform::kExp},
    {"reg:gamma", MarginTransform::kLog, OutputTransform::kExp},
    {"reg:tweedie", MarginTransform::kLog, OutputTransform::kExp},
    {"binary:hinge", MarginTransform::kIdentity, OutputTransform::kHinge},
};

const Objective* FindObjective(std::string_view name) {
  for (const Objective& objective : kObjectives) {
    if (objective.name == name) return &objective;
  }
  return nullptr;
}

// The expressions below repeat libxgboost's float32 arithmetic operation for
// operation (Sigmoid is XGBoost's src/common/math.h), because any other order of
// rounding changes the last bit. compiled_trees_test.cc checks them against
// libxgboost 1.7.4, including margins past the sigmoid's clamp.
float ToMargin(float base_score, MarginTransform transform) {
  switch (transform) {
    case MarginTransform::kIdentity: return base_score;
    case MarginTransform::kLogit: return -std::log(1.0f / base_score - 1.0f);
    case MarginTransform::kLog: return std::log(base_score);
  }
  return base_score;
}

float Sigmoid(float margin) {
  constexpr float kEpsilon = static_cast<float>(1e-16);  // libxgboost's guard against 1/0
  float x = std::min(-margin, 88.7f);                    // keeps expf finite
  float denominator = std::exp(x) + 1.0f + kEpsilon;
  return 1.0f / denominator;
}

float ToOutput(float margin, OutputTransform transform) {
  switch (transform) {
    case OutputTransform::kIdentity: return margin;
    case OutputTransform::kSigmoid: return Sigmoid(margin);
    case OutputTransform::kExp: return std::exp(margin);
    case OutputTransform::kHinge: return margin > 0.0 ? 1.0f : 0.0f;
  }
  return margin;
}

// ---------------------------------------------------------------------------
// Compiled layout

using tree_simd::kDefaultLeftBit;
using tree_simd::kFeatureMask;
using tree_simd::kInternalBit;
using tree_simd::Node;

// Moves each of the kLanes walks (nodes[index[k]] on rows[k]) one level down;
// a walk at a leaf stays put. Branch-free, so that the walks' memory loads
// overlap instead of waiting on mispredicted branches.
template <size_t kLanes>
inline void StepAll(const Node* nodes, uint32_t (&index)[kLanes],
                    const float* const (&rows)[kLanes]) {
#pragma GCC unroll 8
  for (size_t k = 0; k < kLanes; ++k) {
    const Node& node = nodes[index[k]];
    float value = rows[k][node.feature & kFeatureMask];
    // libxgboost 1.7: NaN (missing) takes the default child; any other value
    // goes left when value < split condition, so +-inf are ordinary values.
    uint32_t go_left = static_cast<uint32_t>(value < node.value) |
                       (static_cast<uint32_t>(std::isnan(value)) & (node.feature >> 31));
    uint32_t go_right = (go_left ^ 1u) & (node.feature >> 30) & 1u;
    index[k] = node.left + go_right;
  }
}

// Walks evaluated side by side: one row on kLanes trees, or one tree on
// kLanes rows.
constexpr size_t kLanes = 8;

// Rows evaluated together, one tree at a time, so that each tree is read from
// memory once per block rather than once per row.
constexpr size_t kBlockRows = 64;

class CompiledTrees final : public Predictor {
 public:
  // `roots` and `depths` give each tree's root index in `nodes` and its depth
  // (maximum number of edges from root to a leaf), in the order libxgboost
  // sums them. `forest` contains the same trees for kAvx2 and kAvx512, which
  // need no compact nodes. kScalar leaves it empty.
  CompiledTrees(std::vector<Node> nodes, std::vector<uint32_t> roots, std::vector<int> depths,
                size_t num_features, float base_margin, OutputTransform output,
                TreeKernel kernel, std::optional<tree_simd::PaddedForest> forest)
      : nodes_(std::move(nodes)), roots_(std::move(roots)), depths_(std::move(depths)),
        num_features_(num_features), base_margin_(base_margin), output_(output),
        kernel_(kernel), forest_(std::move(forest)) {
    // Each group of kLanes consecutive trees runs as deep as its deepest tree.
    for (size_t begin = 0; begin < depths_.size(); begin += kLanes) {
      size_t end = std::min(begin + kLanes, depths_.size());
      group_depths_.push_back(*std::max_element(depths_.begin() + begin, depths_.begin() + end));
    }
  }

  std::string_view name() const override { return "compiled_trees"; }
  size_t num_features() const override { return num_features_; }

  Status Predict(const float* features, size_t rows, float* out) const override {
    switch (kernel_) {
      case TreeKernel::kAvx512:
        for (size_t r = 0; r < rows; ++r) {
          out[r] = ToOutput(forest_->SumAvx512(features + r * num_features_, base_margin_),
                            output_);
        }
        return Ok();
      case TreeKernel::kAvx2:
        for (size_t r = 0; r < rows; ++r) {
          out[r] = ToOutput(forest_->SumAvx2(features + r * num_features_, base_margin_),
                            output_);
        }
        return Ok();
      case TreeKernel::kAuto:
      case TreeKernel::kScalar: break;
    }
    if (rows < kLanes) {
      for (size_t r = 0; r < rows; ++r) out[r] = PredictRow(features + r * num_features_);
      return Ok();
    }
    for (size_t begin = 0; begin < rows; begin += kBlockRows) {
      size_t count = std::min(kBlockRows, rows - begin);
      PredictBlock(features + begin * num_features_, count, out + begin);
    }
    return Ok();
  }

 private:
  // One row: walks kLanes trees at a time, then adds their leaf values in
  // tree order, as libxgboost sums them (float32, starting at base_margin_).
  float PredictRow(const float* row) const {
    const Node* nodes = nodes_.data();
    const float* rows[kLanes];
    std::fill_n(rows, kLanes, row);
    float margin = base_margin_;
    size_t trees = roots_.size();
    for (size_t begin = 0, group = 0; begin < trees; begin += kLanes, ++group) {
      size_t count = std::min(kLanes, trees - begin);
      uint32_t index[kLanes];
      // Lanes past the last tree walk the first tree again; their leaves are ignored.
      for (size_t k = 0; k < kLanes; ++k) index[k] = roots_[k < count ? begin + k : 0];
      for (int level = 0; level < group_depths_[group]; ++level) StepAll(nodes, index, rows);
      for (size_t k = 0; k < count; ++k) margin += nodes[index[k]].value;
    }
    return ToOutput(margin, output_);
  }

  // kLanes to kBlockRows rows: each tree walks kLanes rows at a time.
  void PredictBlock(const float* features, size_t count, float* out) const {
    const Node* nodes = nodes_.data();
    float margins[kBlockRows];
    std::fill_n(margins, count, base_margin_);
    for (size_t tree = 0; tree < roots_.size(); ++tree) {
      for (size_t begin = 0; begin < count; begin += kLanes) {
        size_t lanes = std::min(kLanes, count - begin);
        const float* rows[kLanes];
        uint32_t index[kLanes];
        // Lanes past the last row walk the block's first row again, ignored.
        for (size_t k = 0; k < kLanes; ++k) {
          rows[k] = features + (k < lanes ? begin + k : 0) * num_features_;
          index[k] = roots_[tree];
        }
        for (int level = 0; level < depths_[tree]; ++level) StepAll(nodes, index, rows);
        for (size_t k = 0; k < lanes; ++k) margins[begin + k] += nodes[index[k]].value;
      }
    }
    for (size_t r = 0; r < count; ++r) out[r] = ToOutput(margins[r], output_);
  }

  std::vector<Node> nodes_;
  std::vector<uint32_t> roots_;
  std::vector<int> depths_;
  std::vector<int> group_depths_;  // maximum depth of each kLanes consecutive trees
  size_t num_features_;
  float base_margin_;
  OutputTransform output_;
  TreeKernel kernel_;  // kScalar, kAvx2 or kAvx512
  std::optional<tree_simd::PaddedForest> forest_;
};

// ---------------------------------------------------------------------------
// Reading the JSON model

// Typed access to the model document; every error names the model file and
// the field's path ("learner.gradient_booster.model.trees[3].left_children").
class ModelReader {
 public:
  explicit ModelReader(std::string file) : file_(std::move(file)) {}

  std::unexpected<Error> Invalid(std::string_view path, std::string_view problem) const {
    return InvalidArgument(fmt::format("model {}: {}: {}", file_, path, problem));
  }
  std::unexpected<Error> Unsupported(std::string_view what) const {
    return FailedPrecondition(fmt::format("model {}: {} is not supported by the compiled tree "
                                          "evaluator; load the model with libxgboost instead",
                                          file_, what));
  }

  Result<const ModelJson*> Member(const ModelJson& object, std::string_view path,
                                  std::string_view key, ModelJson::value_t type) const {
    std::string field = path.empty() ? std::string(key) : fmt::format("{}.{}", path, key);
    auto it = object.find(key);
    if (it == object.end()) return Invalid(field, "missing field");
    bool matches = it->type() == type ||
                   (type == ModelJson::value_t::number_integer && it->is_number_integer());
    if (!matches) {
      return Invalid(field, fmt::format("expected {}, got {}", TypeName(type), it->type_name()));
    }
    return &*it;
  }

  Result<std::string> String(const ModelJson& object, std::string_view path,
                             std::string_view key) const {
    TANDEM_ASSIGN_OR_RETURN(const ModelJson* value,
                            Member(object, path, key, ModelJson::value_t::string));
    return value->get<std::string>();
  }

  // Parameters such as "num_feature": "8", which XGBoost stores as strings.
  Result<int64_t> IntegerString(const ModelJson& object, std::string_view path,
                                std::string_view key) const {
    TANDEM_ASSIGN_OR_RETURN(std::string text, String(object, path, key));
    int64_t value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || value < 0) {
      return Invalid(fmt::format("{}.{}", path, key),
                     fmt::format("expected a non-negative integer in a string, got \"{}\"", text));
    }
    return value;
  }

  // "base_score": "5E-1"; strtof rounds the decimal once to float32.
  Result<float> FloatString(const ModelJson& object, std::string_view path,
                            std::string_view key) const {
    TANDEM_ASSIGN_OR_RETURN(std::string text, String(object, path, key));
    char* end = nullptr;
    float value = text.empty() ? 0.0f : std::strtof(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size()) {
      return Invalid(fmt::format("{}.{}", path, key),
                     fmt::format("expected a number in a string, got \"{}\"", text));
    }
    return value;
  }

  // Reads an array of `size` numbers converted to T. Booleans count as 0 and 1,
  // in case a writer stores default_left as booleans.
  template <typename T>
  Result<std::vector<T>> Array(const ModelJson& object, std::string_view path,
                               std::string_view key, size_t size) const {
    TANDEM_ASSIGN_OR_RETURN(const ModelJson* array,
                            Member(object, path, key, ModelJson::value_t::array));
    std::string field = fmt::format("{}.{}", path, key);
    if (array->size() != size) {
      return Invalid(field, fmt::format("has {} entries, expected {} (tree_param.num_nodes)",
                                        array->size(), size));
    }
    std::vector<T> values;
    values.reserve(size);
    for (size_t i = 0; i < size; ++i) {
      const ModelJson& entry = (*array)[i];
      bool usable = std::is_floating_point_v<T> ? entry.is_number()
                                                : entry.is_number_integer() || entry.is_boolean();
      if (!usable) {
        return Invalid(fmt::format("{}[{}]", field, i),
                       fmt::format("expected a number, got {}", entry.type_name()));
      }
      if constexpr (std::is_floating_point_v<T>) {
        values.push_back(entry.template get<T>());
      } else if (entry.is_boolean()) {
        values.push_back(entry.template get<bool>() ? 1 : 0);
      } else {
        values.push_back(static_cast<T>(entry.template get<int64_t>()));
      }
    }
    return values;
  }

 private:
  static std::string_view TypeName(ModelJson::value_t type) {
    switch (type) {
      case ModelJson::value_t::object: return "an object";
      case ModelJson::value_t::array: return "an array";
      case ModelJson::value_t::string: return "a string";
      case ModelJson::value_t::number_integer: return "an integer";
      default: return "another type";
    }
  }

  std::string file_;
};

// One tree as stored in the JSON model, after checking array lengths.
struct TreeArrays {
  std::string path;  // "learner.gradient_booster.model.trees[3]"
  std::vector<int64_t> left;
  std::vector<int64_t> right;
  std::vector<int64_t> split_index;
  std::vector<float> split_condition;
  std::vector<int64_t> default_left;
};

// Model-wide facts the trees are checked against.
struct ModelShape {
  int64_t num_features = 0;
};

Result<TreeArrays> ReadTree(const ModelReader& reader, const ModelJson& tree, std::string path) {
  if (!tree.is_object()) {
    return reader.Invalid(path, fmt::format("expected an object, got {}", tree.type_name()));
  }
  TANDEM_ASSIGN_OR_RETURN(const ModelJson* param,
                          reader.Member(tree, path, "tree_param", ModelJson::value_t::object));
  std::string param_path = path + ".tree_param";
  TANDEM_ASSIGN_OR_RETURN(int64_t num_nodes, reader.IntegerString(*param, param_path, "num_nodes"));
  if (num_nodes < 1 || num_nodes > std::numeric_limits<int32_t>::max()) {
    return reader.Invalid(param_path + ".num_nodes",
                          fmt::format("{} is out of range 1..2147483647", num_nodes));
  }
  if (param->contains("size_leaf_vector")) {
    TANDEM_ASSIGN_OR_RETURN(int64_t leaf_size,
                            reader.IntegerString(*param, param_path, "size_leaf_vector"));
    if (leaf_size > 1) return reader.Unsupported(fmt::format("{}: vector leaves", path));
  }

  size_t size = static_cast<size_t>(num_nodes);
  TreeArrays arrays;
  TANDEM_ASSIGN_OR_RETURN(arrays.left, reader.Array<int64_t>(tree, path, "left_children", size));
  TANDEM_ASSIGN_OR_RETURN(arrays.right, reader.Array<int64_t>(tree, path, "right_children", size));
  TANDEM_ASSIGN_OR_RETURN(arrays.split_index,
                          reader.Array<int64_t>(tree, path, "split_indices", size));
  TANDEM_ASSIGN_OR_RETURN(arrays.split_condition,
                          reader.Array<float>(tree, path, "split_conditions", size));
  TANDEM_ASSIGN_OR_RETURN(arrays.default_left,
                          reader.Array<int64_t>(tree, path, "default_left", size));
  // Models written by XGBoost versions without categorical splits have no split_type.
  if (tree.contains("split_type")) {
    TANDEM_ASSIGN_OR_RETURN(std::vector<int64_t> split_type,
                            reader.Array<int64_t>(tree, path, "split_type", size));
    for (size_t i = 0; i < size; ++i) {
      if (split_type[i] != 0 && arrays.left[i] != -1) {
        return reader.Unsupported(fmt::format("{}: categorical splits (node {})", path, i));
      }
    }
  }
  arrays.path = std::move(path);
  return arrays;
}

// Checks node `i` of `tree`: both children or none, in range, right next to
// left; the split feature in range.
Status CheckNode(const ModelReader& reader, const TreeArrays& tree, size_t i,
                 const ModelShape& shape) {
  int64_t left = tree.left[i];
  int64_t right = tree.right[i];
  auto size = static_cast<int64_t>(tree.left.size());
  if (left == -1 && right == -1) return Ok();
  if (left < 1 || left >= size) {
    return reader.Invalid(fmt::format("{}.left_children[{}]", tree.path, i),
                          fmt::format("child index {} is out of range 1..{} (or -1 for a leaf)",
                                      left, size - 1));
  }
  if (right < 1 || right >= size) {
    return reader.Invalid(fmt::format("{}.right_children[{}]", tree.path, i),
                          fmt::format("child index {} is out of range 1..{} (or -1 for a leaf)",
                                      right, size - 1));
  }
  if (right != left + 1) {
    // libxgboost takes left + 1 as the right child, whatever right_children
    // contains. Trees that XGBoost trains always satisfy this.
    return reader.Unsupported(fmt::format("{}: node {} whose right child {} does not follow its "
                                          "left child {}",
                                          tree.path, i, right, left));
  }
  int64_t feature = tree.split_index[i];
  if (feature < 0 || feature >= shape.num_features) {
    return reader.Invalid(fmt::format("{}.split_indices[{}]", tree.path, i),
                          fmt::format("feature index {} is out of range 0..{} "
                                      "(learner_model_param.num_feature {})",
                                      feature, shape.num_features - 1, shape.num_features));
  }
  return Ok();
}

// A tree's place in the compiled node array.
struct CompiledTree {
  uint32_t root = 0;
  int depth = 0;  // maximum number of edges from the root to a leaf
};

// Appends `tree` to `nodes` in breadth-first order, each pair of children in
// adjacent slots. Nodes unreachable from the root (deleted by pruning) are
// left out.
Result<CompiledTree> AppendTree(const ModelReader& reader, const TreeArrays& tree,
                                const ModelShape& shape, std::vector<Node>& nodes) {
  if (nodes.size() + tree.left.size() > std::numeric_limits<uint32_t>::max() / 2) {
    return reader.Invalid(tree.path, "the model has more than 2^31 nodes in total");
  }
  std::vector<bool> reached(tree.left.size(), false);
  struct Pending {
    size_t index;   // in the JSON tree
    uint32_t slot;  // in `nodes`
    int depth;
  };
  std::vector<Pending> queue;
  CompiledTree compiled{static_cast<uint32_t>(nodes.size()), 0};
  nodes.emplace_back();
  queue.push_back({0, compiled.root, 0});
  reached[0] = true;
  for (size_t next = 0; next < queue.size(); ++next) {
    auto [i, slot, depth] = queue[next];
    compiled.depth = std::max(compiled.depth, depth);
    TANDEM_RETURN_IF_ERROR(CheckNode(reader, tree, i, shape));
    if (tree.left[i] == -1) {
      nodes[slot] = Node{tree.split_condition[i], 0, slot};
      continue;
    }
    auto left = static_cast<size_t>(tree.left[i]);
    for (size_t child : {left, left + 1}) {
      if (reached[child]) {
        return reader.Invalid(fmt::format("{}.left_children[{}]", tree.path, i),
                              fmt::format("node {} is reached twice from the root (a cycle or "
                                          "a shared child)",
                                          child));
      }
      reached[child] = true;
    }
    auto left_slot = static_cast<uint32_t>(nodes.size());
    nodes.emplace_back();
    nodes.emplace_back();
    uint32_t feature = static_cast<uint32_t>(tree.split_index[i]) | kInternalBit |
                       (tree.default_left[i] != 0 ? kDefaultLeftBit : 0);
    nodes[slot] = Node{tree.split_condition[i], feature, left_slot};
    queue.push_back({left, left_slot, depth + 1});
    queue.push_back({left + 1, left_slot + 1, depth + 1});
  }
  return compiled;
}

// The parts of "learner" other than the trees.
struct LearnerFacts {
  const ModelJson* model = nullptr;  // learner.gradient_booster.model
  const Objective* objective = nullptr;
  float base_score = 0;
  ModelShape shape;
};

Result<LearnerFacts> ReadLearner(const ModelReader& reader, const ModelJson& document) {
  LearnerFacts facts;
  if (!document.is_object()) {
    return reader.Invalid("document", fmt::format("expected an object, got {}",
                                                  document.type_name()));
  }
  TANDEM_ASSIGN_OR_RETURN(const ModelJson* learner,
                          reader.Member(document, "", "learner", ModelJson::value_t::object));

  // Booster kind: only gbtree.
  TANDEM_ASSIGN_OR_RETURN(const ModelJson* booster,
                          reader.Member(*learner, "learner", "gradient_booster",
                                        ModelJson::value_t::object));
  TANDEM_ASSIGN_OR_RETURN(std::string booster_name,
                          reader.String(*booster, "learner.gradient_booster", "name"));
  if (booster_name != "gbtree") {
    return reader.Unsupported(fmt::format("booster \"{}\" (only gbtree is)", booster_name));
  }
  TANDEM_ASSIGN_OR_RETURN(facts.model, reader.Member(*booster, "learner.gradient_booster",
                                                     "model", ModelJson::value_t::object));

  // Output shape: one value per row.
  constexpr std::string_view kParamPath = "learner.learner_model_param";
  TANDEM_ASSIGN_OR_RETURN(const ModelJson* param,
                          reader.Member(*learner, "learner", "learner_model_param",
                                        ModelJson::value_t::object));
  TANDEM_ASSIGN_OR_RETURN(int64_t num_class, reader.IntegerString(*param, kParamPath, "num_class"));
  if (num_class > 1) {
    return reader.Unsupported(fmt::format("a multi-class model (num_class {})", num_class));
  }
  if (param->contains("num_target")) {
    TANDEM_ASSIGN_OR_RETURN(int64_t num_target,
                            reader.IntegerString(*param, kParamPath, "num_target"));
    if (num_target > 1) {
      return reader.Unsupported(fmt::format("a multi-target model (num_target {})", num_target));
    }
  }
  // Objective (after the output shape, so that a multi-class model is named as such).
  TANDEM_ASSIGN_OR_RETURN(const ModelJson* objective,
                          reader.Member(*learner, "learner", "objective",
                                        ModelJson::value_t::object));
  TANDEM_ASSIGN_OR_RETURN(std::string objective_name,
                          reader.String(*objective, "learner.objective", "name"));
  facts.objective = FindObjective(objective_name);
  if (facts.objective == nullptr) {
    return reader.Unsupported(fmt::format("objective \"{}\"", objective_name));
  }

  // Feature count and base_score.
  TANDEM_ASSIGN_OR_RETURN(facts.shape.num_features,
                          reader.IntegerString(*param, kParamPath, "num_feature"));
  if (facts.shape.num_features > kFeatureMask) {
    return reader.Invalid(fmt::format("{}.num_feature", kParamPath),
                          fmt::format("{} is larger than {}", facts.shape.num_features,
                                      kFeatureMask));
  }
  TANDEM_ASSIGN_OR_RETURN(facts.base_score, reader.FloatString(*param, kParamPath, "base_score"));
  if (facts.objective->margin == MarginTransform::kLogit &&
      !(facts.base_score > 0.0f && facts.base_score < 1.0f)) {
    return reader.Invalid(fmt::format("{}.base_score", kParamPath),
                          fmt::format("{} must be in (0, 1) for objective {}", facts.base_score,
                                      objective_name));
  }
  return facts;
}

// A tree of the model and its position in the "trees" array.
struct TreeRef {
  const ModelJson* json = nullptr;
  size_t index = 0;
};

// Reads tree_info and the trees, checks that every tree adds to the single
// output, and returns the trees ordered by their "id", which is the order in
// which libxgboost sums them.
Result<std::vector<TreeRef>> OrderedTrees(const ModelReader& reader,
                                                   const ModelJson& model) {
  constexpr std::string_view kPath = "learner.gradient_booster.model";
  TANDEM_ASSIGN_OR_RETURN(const ModelJson* trees,
                          reader.Member(model, kPath, "trees", ModelJson::value_t::array));
  TANDEM_ASSIGN_OR_RETURN(const ModelJson* tree_info,
                          reader.Member(model, kPath, "tree_info", ModelJson::value_t::array));
  if (tree_info->size() != trees->size()) {
    return reader.Invalid(fmt::format("{}.tree_info", kPath),
                          fmt::format("has {} entries for {} trees", tree_info->size(),
                                      trees->size()));
  }
  for (size_t i = 0; i < tree_info->size(); ++i) {
    const ModelJson& group = (*tree_info)[i];
    if (!group.is_number_integer()) {
      return reader.Invalid(fmt::format("{}.tree_info[{}]", kPath, i), "expected an integer");
    }
    if (group.get<int64_t>() != 0) {
      return reader.Unsupported(fmt::format("a tree for output group {} (tree_info[{}]); only "
                                            "single-output models are",
                                            group.get<int64_t>(), i));
    }
  }

  std::vector<TreeRef> ordered(trees->size());
  for (size_t i = 0; i < trees->size(); ++i) {
    std::string path = fmt::format("{}.trees[{}]", kPath, i);
    const ModelJson& tree = (*trees)[i];
    if (!tree.is_object()) {
      return reader.Invalid(path, fmt::format("expected an object, got {}", tree.type_name()));
    }
    TANDEM_ASSIGN_OR_RETURN(const ModelJson* id,
                            reader.Member(tree, path, "id", ModelJson::value_t::number_integer));
    int64_t position = id->get<int64_t>();
    if (position < 0 || position >= static_cast<int64_t>(trees->size()) ||
        ordered[static_cast<size_t>(position)].json != nullptr) {
      return reader.Invalid(path + ".id", fmt::format("{} is out of range or used twice; ids must "
                                                      "be 0..{}, each once",
                                                      position, trees->size() - 1));
    }
    ordered[static_cast<size_t>(position)] = TreeRef{&tree, i};
  }
  return ordered;
}

// ---------------------------------------------------------------------------
// Choosing the kernel

// The kernel a model runs and, for a vector kernel, its padded trees.
struct KernelChoice {
  TreeKernel kernel = TreeKernel::kScalar;
  std::optional<tree_simd::PaddedForest> forest;
  std::string fallback_reason;  // why kAuto took a narrower kernel, if it did
};

// Lays out the trees for kAvx2 or kAvx512, or returns why the CPU or the
// trees do not allow it.
Result<tree_simd::PaddedForest> BuildForest(TreeKernel kernel, const std::vector<Node>& nodes,
                                            const std::vector<uint32_t>& roots,
                                            const std::vector<int>& depths,
                                            size_t num_features) {
  bool avx512 = kernel == TreeKernel::kAvx512;
  bool supported = avx512 ? tree_simd::CpuSupportsAvx512() : tree_simd::CpuSupportsAvx2();
  if (!supported) {
    return FailedPrecondition(
        fmt::format("the CPU does not support {}", avx512 ? "AVX-512" : "AVX2"));
  }
  return tree_simd::PaddedForest::Build(nodes, roots, depths, num_features, avx512 ? 16 : 8);
}

Result<KernelChoice> ChooseKernel(TreeKernel requested, const std::vector<Node>& nodes,
                                  const std::vector<uint32_t>& roots,
                                  const std::vector<int>& depths, size_t num_features) {
  KernelChoice choice;
  if (requested == TreeKernel::kScalar) return choice;
  if (requested != TreeKernel::kAuto) {
    TANDEM_ASSIGN_OR_RETURN(tree_simd::PaddedForest forest,
                            BuildForest(requested, nodes, roots, depths, num_features));
    choice.kernel = requested;
    choice.forest = std::move(forest);
    return choice;
  }
  for (TreeKernel candidate : {TreeKernel::kAvx512, TreeKernel::kAvx2}) {
    auto forest = BuildForest(candidate, nodes, roots, depths, num_features);
    if (forest) {
      choice.kernel = candidate;
      choice.forest = std::move(*forest);
      return choice;
    }
    if (!choice.fallback_reason.empty()) choice.fallback_reason += "; ";
    choice.fallback_reason += fmt::format("{}: {}", TreeKernelName(candidate),
                                          forest.error().message());
  }
  return choice;
}

void LogKernel(const std::string& file, const KernelChoice& choice, size_t trees) {
  std::string_view access = choice.forest ? choice.forest->feature_access() : "direct";
  if (choice.fallback_reason.empty()) {
    spdlog::info("compiled trees kernel chosen model_file=\"{}\" kernel={} feature_access={} "
                 "trees={}",
                 file, TreeKernelName(choice.kernel), access, trees);
  } else {
    spdlog::info("compiled trees kernel chosen model_file=\"{}\" kernel={} feature_access={} "
                 "trees={} reason=\"{}\"",
                 file, TreeKernelName(choice.kernel), access, trees, choice.fallback_reason);
  }
}

Result<std::unique_ptr<Predictor>> Compile(const ModelReader& reader, const ModelJson& document,
                                           size_t num_features, const std::string& file,
                                           TreeKernel kernel) {
  TANDEM_ASSIGN_OR_RETURN(LearnerFacts facts, ReadLearner(reader, document));
  if (facts.shape.num_features != static_cast<int64_t>(num_features)) {
    return InvalidArgument(fmt::format("model {} expects {} features, the feature pipeline "
                                       "gives {}",
                                       file, facts.shape.num_features, num_features));
  }
  TANDEM_ASSIGN_OR_RETURN(std::vector<TreeRef> trees, OrderedTrees(reader, *facts.model));

  std::vector<Node> nodes;
  std::vector<uint32_t> roots;
  std::vector<int> depths;
  for (const TreeRef& tree : trees) {
    std::string path = fmt::format("learner.gradient_booster.model.trees[{}]", tree.index);
    TANDEM_ASSIGN_OR_RETURN(TreeArrays arrays, ReadTree(reader, *tree.json, std::move(path)));
    TANDEM_ASSIGN_OR_RETURN(CompiledTree compiled, AppendTree(reader, arrays, facts.shape, nodes));
    roots.push_back(compiled.root);
    depths.push_back(compiled.depth);
  }
  nodes.shrink_to_fit();
  float base_margin = ToMargin(facts.base_score, facts.objective->margin);

  auto choice = ChooseKernel(kernel, nodes, roots, depths, num_features);
  if (!choice) {
    return FailedPrecondition(fmt::format("model {}: kernel {} cannot run this model: {}", file,
                                          TreeKernelName(kernel), choice.error().message()));
  }
  LogKernel(file, *choice, roots.size());
  if (choice->forest) nodes = {};  // the vector kernels read only the padded trees
  return std::unique_ptr<Predictor>(new CompiledTrees(
      std::move(nodes), std::move(roots), std::move(depths), num_features, base_margin,
      facts.objective->output, choice->kernel, std::move(choice->forest)));
}

}  // namespace

std::string_view TreeKernelName(TreeKernel kernel) {
  switch (kernel) {
    case TreeKernel::kAuto: return "auto";
    case TreeKernel::kScalar: return "scalar";
    case TreeKernel::kAvx2: return "avx2";
    case TreeKernel::kAvx512: return "avx512";
  }
  return "unknown";
}

Result<std::unique_ptr<Predictor>> LoadCompiledTrees(const std::filesystem::path& model_json,
                                                     size_t num_features,
                                                     CompiledTreesOptions options) {
  const std::string file = model_json.string();
  TANDEM_ASSIGN_OR_RETURN(std::string text, ReadFile(model_json));
  ModelJson document;
  try {
    document = ModelJson::parse(text);
  } catch (const ModelJson::parse_error& e) {
    return InvalidArgument(fmt::format("model {}: invalid JSON at byte {} (a truncated or "
                                       "corrupted file?)",
                                       file, e.byte));
  }
  text.clear();
  text.shrink_to_fit();
  ModelReader reader(file);
  return Compile(reader, document, num_features, file, options.kernel);
}

}  // namespace tandem::model
