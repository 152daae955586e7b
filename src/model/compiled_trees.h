// A Predictor that evaluates an XGBoost tree ensemble itself, without
// libxgboost, and returns the same float32 bits as libxgboost 1.7.4's
// XGBoosterPredictFromDense (missing = NaN, all trees, transformed output).
//
// Supported models (JSON written by XGBoosterSaveModel, libxgboost 1.7.x):
//   - booster "gbtree" with one output per row (num_class <= 1, num_target
//     <= 1, every tree_info entry 0), any number of trees per round
//     (num_parallel_tree), numeric splits only, scalar leaves;
//   - objectives, with how base_score becomes a margin and how the margin
//     becomes the output:
//       reg:squarederror, reg:linear, reg:squaredlogerror,
//       reg:pseudohubererror, reg:absoluteerror, binary:logitraw,
//       rank:pairwise, rank:ndcg, rank:map   base_score as is, output = margin
//       reg:logistic, binary:logistic        logit(base_score), output = sigmoid
//       count:poisson, reg:gamma, reg:tweedie  log(base_score), output = exp
//       binary:hinge                         base_score as is, output 1 if margin > 0, else 0
// Anything else is rejected with kFailedPrecondition naming the unsupported
// feature (dart or gblinear booster, multi-class or multi-target output,
// categorical splits, vector leaves, another objective, or a tree whose right
// child does not follow its left child), so that the caller can load the
// model with LoadXGBoostPredictor instead. Serving does exactly that and logs
// the predictor each model got ("predictor=compiled_trees" or
// "predictor=libxgboost").
//
// How results stay bit-identical to libxgboost 1.7.4 (each point checked by
// compiled_trees_test.cc against libxgboost on random rows):
//   - a feature goes left when `value < split_condition` in float32, and to
//     the node's default child when it is NaN; +-infinity are ordinary values;
//   - the margin starts at base_score turned into a margin in float32 and
//     adds one float32 leaf value per tree, in the order of the model's trees;
//   - sigmoid is 1 / (exp(min(-margin, 88.7)) + 1 + 1e-16) in float32, and
//     exp is the C library's expf, as in libxgboost 1.7.4.
//
// Layout and evaluation: the loader first lays out all trees in one array of
// 12-byte nodes, breadth-first per tree with the two children of a node side
// by side. Leaves point to themselves, so each walk runs a fixed number of
// levels (its tree's depth) without data-dependent branches. Then the loader
// picks a kernel (TreeKernel below), checking the CPU once at load time:
//   - kAvx512 and kAvx2 walk one row through 16 or 8 trees per vector step,
//     four such walks in lockstep, with gathers of 8-byte nodes
//     (compiled_trees_simd.h). They pad each tree to a complete binary
//     tree, so they need every tree at most 10 levels deep and at most 2^27
//     padded nodes (1 GiB) in all. A batch runs row by row.
//   - kScalar uses the compact array directly, with eight walks interleaved.
//     A single row walks 8 trees at a time. A batch walks one tree at a time
//     on 8 rows at a time over blocks of 64 rows, which keeps the tree in
//     cache. It runs on any x86-64 CPU and any depth.
// kAuto takes kAvx512, else kAvx2, else kScalar, as the CPU supports them and
// the trees fit, and the loader logs the choice ("compiled trees kernel
// chosen ... kernel=avx2"). Every kernel walks a tree to its full (padded)
// depth, so a tree much deeper than most of its leaves
// (grow_policy=lossguide) costs that depth for every row. The build uses no
// -march flag, because the vector kernels carry their own target attribute.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string_view>

#include "common/status.h"
#include "model/predictor.h"

namespace tandem::model {

// The evaluation code a loaded model runs (see "Layout and evaluation").
enum class TreeKernel { kAuto, kScalar, kAvx2, kAvx512 };

// "auto", "scalar", "avx2" or "avx512".
std::string_view TreeKernelName(TreeKernel kernel);

struct CompiledTreesOptions {
  // kAuto lets the loader choose. Tests and benchmarks force a kernel to
  // check or measure each one.
  TreeKernel kernel = TreeKernel::kAuto;
};

// Loads an XGBoost JSON model (see above) and checks that it expects
// `num_features` inputs. The returned Predictor's name() is
// "compiled_trees" whichever kernel it runs. It owns a copy of the trees and
// keeps no reference to the file.
//
// Thread safety: Predict keeps its working state on the stack, so any number
// of threads may call it at once on the same object.
//
// Errors:
//   kNotFound            `model_json` does not exist.
//   kFailedPrecondition  The model is valid but of a kind listed above as
//                        unsupported, and the message names it. Use libxgboost.
//                        Also when options.kernel forces a vector kernel that
//                        the CPU lacks or that a tree is too deep for.
//   kInvalidArgument     The file is not a valid XGBoost JSON model: not
//                        parsable, a missing or mistyped field, arrays of
//                        different lengths, a child or feature index out of
//                        range, or a cycle. The message names the file and the
//                        field. Also when the model's feature count differs
//                        from `num_features`.
Result<std::unique_ptr<Predictor>> LoadCompiledTrees(const std::filesystem::path& model_json,
                                                     size_t num_features,
                                                     CompiledTreesOptions options = {});

}  // namespace tandem::model
