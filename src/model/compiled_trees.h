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
// Layout and evaluation: all trees share one array of 12-byte nodes, laid out
// breadth-first per tree with the two children of a node side by side. Leaves
// point to themselves, so each walk runs a fixed number of levels (the tree's
// depth) without data-dependent branches. Eight walks run interleaved. A
// single row walks 8 trees at a time; a batch walks each tree with 8 rows at a
// time over blocks of 64 rows, which keeps the tree in cache. A tree much
// deeper than most of its leaves (grow_policy=lossguide) costs its full depth
// for every row.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>

#include "common/status.h"
#include "model/predictor.h"

namespace tandem::model {

// Loads an XGBoost JSON model (see above) and checks that it expects
// `num_features` inputs. The returned Predictor's name() is "compiled_trees";
// it owns a copy of the trees and keeps no reference to the file.
//
// Thread safety: Predict keeps its working state on the stack, so any number
// of threads may call it at once on the same object.
//
// Errors:
//   kNotFound            `model_json` does not exist.
//   kFailedPrecondition  The model is valid but of a kind listed above as
//                        unsupported, and the message names it. Use libxgboost.
//   kInvalidArgument     The file is not a valid XGBoost JSON model: not
//                        parsable, a missing or mistyped field, arrays of
//                        different lengths, a child or feature index out of
//                        range, or a cycle. The message names the file and the
//                        field. Also when the model's feature count differs
//                        from `num_features`.
Result<std::unique_ptr<Predictor>> LoadCompiledTrees(const std::filesystem::path& model_json,
                                                     size_t num_features);

}  // namespace tandem::model
