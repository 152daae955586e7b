// SIMD evaluation of a tree ensemble for one row, used by compiled_trees.cc.
// The row walks kLanes trees at once (8 with AVX2, 16 with AVX-512), one
// vector step per tree level. The leaf values are then added in tree order
// in float32, so that the margin has the same bits as a scalar walk.
//
// Layout (PaddedForest): the trees are split into groups of kLanes
// consecutive trees. Each tree of a group is padded to a complete binary
// tree of the group's depth D, so that slot i's children are 2i+1 and 2i+2
// and no child index is stored. A leaf shallower than D is copied into every
// slot below it. The internal nodes above those copies compare feature 0
// with -0.0f and lead to the same leaf either way. Slot i of lane k is node
// i * kLanes + k of the group. A node is 8 bytes: the split condition and the
// feature (with the default-left bit) of an internal node, or the value of a
// leaf. One 64-bit gather per lane therefore reads a level. kBundle
// consecutive groups share the deepest depth among them and are walked in
// lockstep, so that the gathers of independent walks overlap. The row's
// feature value comes from a permute of the row held in one register when
// the model has at most kLanes features, and from a gather otherwise.
//
// Both kernels are compiled with __attribute__((target(...))), so the build
// needs no -march flag. The caller checks CpuSupportsAvx2/CpuSupportsAvx512
// before calling one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace tandem::model::tree_simd {

// One node of the compact, scalar layout that compiled_trees.cc builds
// first. PaddedForest::Build reads the trees from it. An internal node's
// children are nodes[left] and nodes[left + 1]. A leaf has left == its own
// index and kInternalBit clear.
struct Node {
  float value;       // split condition, or the leaf value for a leaf
  uint32_t feature;  // feature index (bits 0-29) and the two flag bits below
  uint32_t left;
};
static_assert(sizeof(Node) == 12);

constexpr uint32_t kDefaultLeftBit = 1u << 31;  // a missing value goes left
constexpr uint32_t kInternalBit = 1u << 30;     // the node has children
constexpr uint32_t kFeatureMask = kInternalBit - 1;

// The deepest tree that PaddedForest pads: a group of 16 trees of depth 10
// takes 16 * (2^11 - 1) * 8 bytes, about 256 KiB.
constexpr int kMaxPaddedDepth = 10;

// The most padded nodes a model may take (8 bytes each, so 1 GiB), which
// also keeps every node offset within 32 bits.
constexpr size_t kMaxPaddedNodes = size_t{1} << 27;

// True when the CPU and the operating system support the kernel's
// instructions (AVX2; AVX-512 F).
bool CpuSupportsAvx2();
bool CpuSupportsAvx512();

class PaddedForest {
 public:
  // Lays out the trees rooted at `roots` (in summing order) for `lanes` = 8
  // (AVX2) or 16 (AVX-512). `depths` gives each tree's depth. Returns
  // kFailedPrecondition, naming the tree, when one is deeper than
  // kMaxPaddedDepth, or when the padded trees would take more than
  // kMaxPaddedNodes.
  static Result<PaddedForest> Build(const std::vector<Node>& nodes,
                                    const std::vector<uint32_t>& roots,
                                    const std::vector<int>& depths, size_t num_features,
                                    size_t lanes);

  // Returns base_margin plus every tree's leaf value for `row`
  // (num_features floats), added in tree order in float32. SumAvx2 needs a
  // forest built with 8 lanes, SumAvx512 one with 16.
  float SumAvx2(const float* row, float base_margin) const;
  float SumAvx512(const float* row, float base_margin) const;

  // "permute" or "gather": how a kernel reads the row's feature values.
  std::string_view feature_access() const { return permute_ ? "permute" : "gather"; }

 private:
  // An internal node's split condition and feature (with kDefaultLeftBit),
  // or a leaf's value, read by one 64-bit gather.
  struct PaddedNode {
    float value;
    uint32_t feature;
  };
  static_assert(sizeof(PaddedNode) == 8);

  struct Group {
    uint32_t nodes = 0;  // offset of the group's first node in nodes_
    int depth = 0;       // D: every tree of the group is padded to it
  };

  // Consecutive groups padded to one depth and walked in lockstep, so that
  // the gathers of independent walks overlap.
  static constexpr int kBundle = 4;

  PaddedForest() = default;
  void AddGroup(const std::vector<Node>& nodes, const std::vector<uint32_t>& roots,
                size_t first, int depth);
  void PadTree(const std::vector<Node>& nodes, uint32_t node, const Group& group, size_t lane,
               uint32_t slot, int level);

  // `row_state` is the kernel's row and constants (in the .cc file).
  template <bool kPermute, int kWalks>
  float WalkGroupsAvx2(const void* row_state, const Group* groups, float margin) const;
  template <bool kPermute, int kWalks>
  float WalkGroupsAvx512(const void* row_state, const Group* groups, float margin) const;
  template <bool kPermute>
  float WalkAvx2(const float* row, float base_margin) const;
  template <bool kPermute>
  float WalkAvx512(const float* row, float base_margin) const;

  std::vector<Group> groups_;
  std::vector<PaddedNode> nodes_;
  size_t lanes_ = 0;
  size_t num_features_ = 0;
  bool permute_ = false;  // num_features_ <= lanes_
};

}  // namespace tandem::model::tree_simd
