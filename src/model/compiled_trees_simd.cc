#include "model/compiled_trees_simd.h"

// NOTE: this file builds on x86-64 only. Another architecture would need the
// kernels behind #if defined(__x86_64__) and CpuSupports* returning false.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

namespace tandem::model::tree_simd {

bool CpuSupportsAvx2() { return __builtin_cpu_supports("avx2"); }

bool CpuSupportsAvx512() { return __builtin_cpu_supports("avx512f"); }

// ---------------------------------------------------------------------------
// Layout

Result<PaddedForest> PaddedForest::Build(const std::vector<Node>& nodes,
                                         const std::vector<uint32_t>& roots,
                                         const std::vector<int>& depths, size_t num_features,
                                         size_t lanes) {
  for (size_t tree = 0; tree < depths.size(); ++tree) {
    if (depths[tree] > kMaxPaddedDepth) {
      return FailedPrecondition(fmt::format("tree {} has depth {}, deeper than the {} levels "
                                            "the SIMD kernels pad trees to",
                                            tree, depths[tree], kMaxPaddedDepth));
    }
  }
  // Groups of a bundle share the deepest depth among their trees, so that a
  // kernel can walk them in lockstep.
  const size_t bundle_trees = lanes * kBundle;
  std::vector<int> bundle_depths;
  size_t padded_nodes = 0;
  for (size_t bundle = 0; bundle < roots.size(); bundle += bundle_trees) {
    size_t end = std::min(bundle + bundle_trees, roots.size());
    int depth = *std::max_element(depths.begin() + bundle, depths.begin() + end);
    bundle_depths.push_back(depth);
    size_t groups = (end - bundle + lanes - 1) / lanes;
    padded_nodes += groups * lanes * ((size_t{2} << depth) - 1);
  }
  if (padded_nodes > kMaxPaddedNodes) {
    return FailedPrecondition(fmt::format("the padded trees would take {} nodes, more than the "
                                          "{} the SIMD kernels allow",
                                          padded_nodes, kMaxPaddedNodes));
  }

  PaddedForest forest;
  forest.lanes_ = lanes;
  forest.num_features_ = num_features;
  forest.permute_ = num_features <= lanes;
  forest.nodes_.reserve(padded_nodes);
  for (size_t index = 0; index < bundle_depths.size(); ++index) {
    size_t bundle = index * bundle_trees;
    size_t end = std::min(bundle + bundle_trees, roots.size());
    for (size_t first = bundle; first < end; first += lanes) {
      forest.AddGroup(nodes, roots, first, bundle_depths[index]);
    }
  }
  return forest;
}

// Appends the group of trees first .. first + lanes_ - 1, padded to `depth`
// (at least each tree's depth). Every slot starts as -0.0f with feature 0,
// so lanes past the last tree walk a tree whose leaves are all -0.0f. The
// kernels add those leaves too: x + -0.0f is x in float32 for every x,
// including -0.0f and NaN, so the margin keeps its bits.
void PaddedForest::AddGroup(const std::vector<Node>& nodes, const std::vector<uint32_t>& roots,
                            size_t first, int depth) {
  Group group;
  group.depth = depth;
  group.nodes = static_cast<uint32_t>(nodes_.size());
  size_t slots = (size_t{2} << group.depth) - 1;
  nodes_.resize(nodes_.size() + slots * lanes_, PaddedNode{-0.0f, 0});
  size_t trees = std::min(lanes_, roots.size() - first);
  for (size_t lane = 0; lane < trees; ++lane) {
    PadTree(nodes, roots[first + lane], group, lane, 0, 0);
  }
  groups_.push_back(group);
}

// Writes compact node `node` into slot `slot` (at tree level `level`) of the
// complete tree of `lane`, and its subtree below it.
void PaddedForest::PadTree(const std::vector<Node>& nodes, uint32_t node, const Group& group,
                           size_t lane, uint32_t slot, int level) {
  const Node& source = nodes[node];
  PaddedNode& target = nodes_[group.nodes + slot * lanes_ + lane];
  if (level == group.depth) {  // a leaf, since no tree is deeper than the group
    target.value = source.value;
    return;
  }
  bool internal = (source.feature & kInternalBit) != 0;
  if (internal) {
    target.value = source.value;
    target.feature = source.feature & (kFeatureMask | kDefaultLeftBit);
  }
  // A leaf above the group's depth leaves feature 0 and split condition
  // -0.0f in place and repeats itself in both subtrees.
  uint32_t left = internal ? source.left : node;
  uint32_t right = internal ? source.left + 1 : node;
  PadTree(nodes, left, group, lane, 2 * slot + 1, level + 1);
  PadTree(nodes, right, group, lane, 2 * slot + 2, level + 1);
}

// ---------------------------------------------------------------------------
// Kernels
//
// Each lane tracks offset = slot * kLanes + lane, so that it indexes the
// group's nodes directly. One level down is
//   offset' = 2 * offset + (kLanes - lane) + (right ? kLanes : 0),
// which is slot' = 2 * slot + 1 + right in the same lane. A row goes right
// when !(value < condition), except that a missing value (NaN) goes to the
// default child: `right` is the unordered not-less-than compare, flipped
// for NaN values at default-left nodes. A NaN split condition therefore
// sends every non-missing value right, as libxgboost 1.7.4 does.
//
// A level reads the lanes' nodes as 64-bit elements (split condition and
// feature together), half of the lanes per gather, and splits them into a
// vector of conditions and one of features. The roots of a group are
// contiguous, so level 0 loads them without a gather, and the AVX-512
// kernel also blends level 1 from plain loads.

namespace {

// Constants and the row, set up once per row.
struct Avx2Row {
  __m256i lane;
  __m256i down;  // kLanes - lane
  __m256i right_step;
  __m256i feature_mask;
  __m256i gather_order;  // lanes 0 1 4 5 2 3 6 7, the order SplitAvx2 expects
  __m256 values;         // the row, when it fits one register
  const float* row;
};

// The fields of one node per lane.
struct Avx2Nodes {
  __m256 condition;
  __m256i feature;
};

// Splits 8 nodes, `low` = lanes 0 1 4 5 and `high` = lanes 2 3 6 7, into
// fields in lane order (shuffle_ps works within each 128-bit half).
__attribute__((target("avx2"))) inline Avx2Nodes SplitAvx2(__m256i low, __m256i high) {
  __m256 low_floats = _mm256_castsi256_ps(low);
  __m256 high_floats = _mm256_castsi256_ps(high);
  __m256 condition = _mm256_shuffle_ps(low_floats, high_floats, _MM_SHUFFLE(2, 0, 2, 0));
  __m256 feature = _mm256_shuffle_ps(low_floats, high_floats, _MM_SHUFFLE(3, 1, 3, 1));
  return {condition, _mm256_castps_si256(feature)};
}

__attribute__((target("avx2"))) inline Avx2Nodes LoadRootsAvx2(const long long* nodes) {
  __m256i first = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(nodes));
  __m256i second = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(nodes + 4));
  return SplitAvx2(_mm256_permute2x128_si256(first, second, 0x20),
                   _mm256_permute2x128_si256(first, second, 0x31));
}

__attribute__((target("avx2"))) inline Avx2Nodes GatherAvx2(const Avx2Row& row,
                                                            const long long* nodes,
                                                            __m256i offset) {
  __m256i ordered = _mm256_permutevar8x32_epi32(offset, row.gather_order);
  __m256i low = _mm256_i32gather_epi64(nodes, _mm256_castsi256_si128(ordered), 8);
  __m256i high = _mm256_i32gather_epi64(nodes, _mm256_extracti128_si256(ordered, 1), 8);
  return SplitAvx2(low, high);
}

// Moves 8 lanes at `nodes` one level down (see the formula above).
template <bool kPermute>
__attribute__((target("avx2"))) inline __m256i DescendAvx2(const Avx2Row& row, Avx2Nodes nodes,
                                                           __m256i offset) {
  __m256 value;
  if constexpr (kPermute) {
    value = _mm256_permutevar8x32_ps(row.values, nodes.feature);
  } else {
    value = _mm256_i32gather_ps(row.row, _mm256_and_si256(nodes.feature, row.feature_mask), 4);
  }
  __m256 not_less = _mm256_cmp_ps(value, nodes.condition, _CMP_NLT_UQ);
  __m256 missing = _mm256_cmp_ps(value, value, _CMP_UNORD_Q);
  __m256 default_left = _mm256_castsi256_ps(_mm256_srai_epi32(nodes.feature, 31));
  __m256i right =
      _mm256_castps_si256(_mm256_xor_ps(not_less, _mm256_and_ps(missing, default_left)));
  return _mm256_add_epi32(_mm256_add_epi32(_mm256_slli_epi32(offset, 1), row.down),
                          _mm256_and_si256(right, row.right_step));
}

// The masked intrinsics with an explicit source below keep GCC 12 from
// warning that the unmasked ones read an uninitialized register
// (-Wmaybe-uninitialized).
struct Avx512Row {
  __m512i lane;
  __m512i down;  // kLanes - lane
  __m512i right_step;
  __m512i level1_right;  // offsets of level 1 at or above this went right
  __m512i feature_mask;
  __m512i default_left_bit;
  __m512i even;  // 0 2 4 .. 30: the conditions of two vectors of nodes
  __m512i odd;   // 1 3 5 .. 31: their features
  __m512i zero_int;
  __m512 zero;
  __m512 values;  // the row, when it fits one register
  const float* row;
};

struct Avx512Nodes {
  __m512 condition;
  __m512i feature;
};

// Splits 16 nodes, `low` = lanes 0-7 and `high` = lanes 8-15, into fields.
__attribute__((target("avx512f"))) inline Avx512Nodes SplitAvx512(const Avx512Row& row,
                                                                  __m512i low, __m512i high) {
  __m512 condition = _mm512_castsi512_ps(_mm512_permutex2var_epi32(low, row.even, high));
  return {condition, _mm512_permutex2var_epi32(low, row.odd, high)};
}

__attribute__((target("avx512f"))) inline Avx512Nodes LoadNodesAvx512(const Avx512Row& row,
                                                                      const long long* nodes) {
  return SplitAvx512(row, _mm512_loadu_si512(nodes), _mm512_loadu_si512(nodes + 8));
}

// Level 1: each lane is at slot 1 or 2, so two loads per half and a blend
// replace the gathers.
__attribute__((target("avx512f"))) inline Avx512Nodes BlendLevel1Avx512(const Avx512Row& row,
                                                                        const long long* nodes,
                                                                        __m512i offset) {
  __mmask16 right = _mm512_cmpge_epi32_mask(offset, row.level1_right);
  auto right_low = static_cast<__mmask8>(right);
  auto right_high = static_cast<__mmask8>(right >> 8);
  __m512i low = _mm512_mask_blend_epi64(right_low, _mm512_loadu_si512(nodes + 16),
                                        _mm512_loadu_si512(nodes + 32));
  __m512i high = _mm512_mask_blend_epi64(right_high, _mm512_loadu_si512(nodes + 24),
                                         _mm512_loadu_si512(nodes + 40));
  return SplitAvx512(row, low, high);
}

__attribute__((target("avx512f"))) inline Avx512Nodes GatherAvx512(const Avx512Row& row,
                                                                   const long long* nodes,
                                                                   __m512i offset) {
  __m256i low_offset = _mm512_maskz_extracti64x4_epi64(0xFF, offset, 0);
  __m256i high_offset = _mm512_maskz_extracti64x4_epi64(0xFF, offset, 1);
  __m512i low = _mm512_mask_i32gather_epi64(row.zero_int, 0xFF, low_offset, nodes, 8);
  __m512i high = _mm512_mask_i32gather_epi64(row.zero_int, 0xFF, high_offset, nodes, 8);
  return SplitAvx512(row, low, high);
}

template <bool kPermute>
__attribute__((target("avx512f"))) inline __m512i DescendAvx512(const Avx512Row& row,
                                                                Avx512Nodes nodes,
                                                                __m512i offset) {
  __m512 value;
  if constexpr (kPermute) {
    value = _mm512_maskz_permutexvar_ps(0xFFFF, nodes.feature, row.values);
  } else {
    __m512i feature = _mm512_and_si512(nodes.feature, row.feature_mask);
    value = _mm512_mask_i32gather_ps(row.zero, 0xFFFF, feature, row.row, 4);
  }
  __mmask16 not_less = _mm512_cmp_ps_mask(value, nodes.condition, _CMP_NLT_UQ);
  __mmask16 default_left = _mm512_test_epi32_mask(nodes.feature, row.default_left_bit);
  __mmask16 missing_left = _mm512_mask_cmp_ps_mask(default_left, value, value, _CMP_UNORD_Q);
  __mmask16 right = _kxor_mask16(not_less, missing_left);
  offset = _mm512_add_epi32(_mm512_add_epi32(offset, offset), row.down);
  return _mm512_mask_add_epi32(offset, right, offset, row.right_step);
}

}  // namespace

// Walks kWalks groups of equal depth in lockstep, so that their gathers
// overlap, and adds their leaves to `margin` in tree order (with the -0.0f
// leaves of lanes past the last tree, see AddGroup).
template <bool kPermute, int kWalks>
__attribute__((target("avx2"))) float PaddedForest::WalkGroupsAvx2(const void* row_state,
                                                                   const Group* groups,
                                                                   float margin) const {
  const Avx2Row& row = *static_cast<const Avx2Row*>(row_state);
  const int depth = groups[0].depth;
  const long long* nodes[kWalks];
  __m256i offset[kWalks];
  for (int w = 0; w < kWalks; ++w) {
    nodes[w] = reinterpret_cast<const long long*>(nodes_.data() + groups[w].nodes);
    offset[w] = row.lane;
  }
  if (depth >= 1) {
#pragma GCC unroll 4
    for (int w = 0; w < kWalks; ++w) {
      offset[w] = DescendAvx2<kPermute>(row, LoadRootsAvx2(nodes[w]), offset[w]);
    }
  }
  for (int level = 1; level < depth; ++level) {
#pragma GCC unroll 4
    for (int w = 0; w < kWalks; ++w) {
      offset[w] = DescendAvx2<kPermute>(row, GatherAvx2(row, nodes[w], offset[w]), offset[w]);
    }
  }
  constexpr int kLanes = 8;
  alignas(32) float leaves[kWalks][kLanes];
  for (int w = 0; w < kWalks; ++w) {
    _mm256_store_ps(leaves[w], GatherAvx2(row, nodes[w], offset[w]).condition);
  }
  for (int w = 0; w < kWalks; ++w) {
#pragma GCC unroll 16
    for (int k = 0; k < kLanes; ++k) margin += leaves[w][k];
  }
  return margin;
}

template <bool kPermute>
__attribute__((target("avx2"))) float PaddedForest::WalkAvx2(const float* row,
                                                             float base_margin) const {
  constexpr int kLanes = 8;
  Avx2Row state;
  state.lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  state.down = _mm256_sub_epi32(_mm256_set1_epi32(kLanes), state.lane);
  state.right_step = _mm256_set1_epi32(kLanes);
  state.feature_mask = _mm256_set1_epi32(static_cast<int>(kFeatureMask));
  state.gather_order = _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7);
  state.values = _mm256_setzero_ps();
  state.row = row;
  if constexpr (kPermute) {
    alignas(32) float padded[kLanes] = {};
    std::memcpy(padded, row, num_features_ * sizeof(float));
    state.values = _mm256_load_ps(padded);
  }

  float margin = base_margin;
  size_t g = 0;
  for (; g + kBundle <= groups_.size(); g += kBundle) {
    margin = WalkGroupsAvx2<kPermute, kBundle>(&state, &groups_[g], margin);
  }
  for (; g < groups_.size(); ++g) margin = WalkGroupsAvx2<kPermute, 1>(&state, &groups_[g], margin);
  return margin;
}

template <bool kPermute, int kWalks>
__attribute__((target("avx512f"))) float PaddedForest::WalkGroupsAvx512(const void* row_state,
                                                                       const Group* groups,
                                                                       float margin) const {
  const Avx512Row& row = *static_cast<const Avx512Row*>(row_state);
  const int depth = groups[0].depth;
  const long long* nodes[kWalks];
  __m512i offset[kWalks];
  for (int w = 0; w < kWalks; ++w) {
    nodes[w] = reinterpret_cast<const long long*>(nodes_.data() + groups[w].nodes);
    offset[w] = row.lane;
  }
  if (depth >= 1) {
#pragma GCC unroll 4
    for (int w = 0; w < kWalks; ++w) {
      offset[w] = DescendAvx512<kPermute>(row, LoadNodesAvx512(row, nodes[w]), offset[w]);
    }
  }
  if (depth >= 2) {
#pragma GCC unroll 4
    for (int w = 0; w < kWalks; ++w) {
      offset[w] =
          DescendAvx512<kPermute>(row, BlendLevel1Avx512(row, nodes[w], offset[w]), offset[w]);
    }
  }
  for (int level = 2; level < depth; ++level) {
#pragma GCC unroll 4
    for (int w = 0; w < kWalks; ++w) {
      offset[w] =
          DescendAvx512<kPermute>(row, GatherAvx512(row, nodes[w], offset[w]), offset[w]);
    }
  }
  constexpr int kLanes = 16;
  alignas(64) float leaves[kWalks][kLanes];
  for (int w = 0; w < kWalks; ++w) {
    _mm512_store_ps(leaves[w], GatherAvx512(row, nodes[w], offset[w]).condition);
  }
  for (int w = 0; w < kWalks; ++w) {
#pragma GCC unroll 16
    for (int k = 0; k < kLanes; ++k) margin += leaves[w][k];
  }
  return margin;
}

template <bool kPermute>
__attribute__((target("avx512f"))) float PaddedForest::WalkAvx512(const float* row,
                                                                  float base_margin) const {
  constexpr int kLanes = 16;
  Avx512Row state;
  state.lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  state.down = _mm512_sub_epi32(_mm512_set1_epi32(kLanes), state.lane);
  state.right_step = _mm512_set1_epi32(kLanes);
  state.level1_right = _mm512_set1_epi32(2 * kLanes);
  state.feature_mask = _mm512_set1_epi32(static_cast<int>(kFeatureMask));
  state.default_left_bit = _mm512_set1_epi32(static_cast<int>(kDefaultLeftBit));
  state.even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  state.odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  state.zero_int = _mm512_setzero_si512();
  state.zero = _mm512_setzero_ps();
  state.values = state.zero;
  state.row = row;
  if constexpr (kPermute) {
    state.values =
        _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << num_features_) - 1), row);
  }

  float margin = base_margin;
  size_t g = 0;
  for (; g + kBundle <= groups_.size(); g += kBundle) {
    margin = WalkGroupsAvx512<kPermute, kBundle>(&state, &groups_[g], margin);
  }
  for (; g < groups_.size(); ++g) {
    margin = WalkGroupsAvx512<kPermute, 1>(&state, &groups_[g], margin);
  }
  return margin;
}

float PaddedForest::SumAvx2(const float* row, float base_margin) const {
  return permute_ ? WalkAvx2<true>(row, base_margin) : WalkAvx2<false>(row, base_margin);
}

float PaddedForest::SumAvx512(const float* row, float base_margin) const {
  return permute_ ? WalkAvx512<true>(row, base_margin) : WalkAvx512<false>(row, base_margin);
}

}  // namespace tandem::model::tree_simd
