// Channel dependency groups: which output channels of which layers must be removed together so
// that every tensor shape in the graph stays consistent (Torch-Pruning's dependency graph, on
// our IR).
//
// Each Conv (group 1), Gemm or MatMul with a constant weight is a *source*: it creates one
// channel per output filter; so is an embedding (Gather from a constant float table [V, C]),
// one channel per column. Channels then flow through the graph and every tensor dimension
// they touch is recorded as a *slice*:
//   Conv/Gemm weight dim 0 (dim 1 for Gemm without transB, MatMul) and bias  (the source)
//   BatchNormalization / InstanceNormalization / PRelu / per-channel constants  (pass through)
//   LayerNormalization over the channel axis alone (transformers' [N,T,C]): scale, bias
//   depthwise Conv weight dim 0 and bias                                        (pass through)
//   Conv weight dim 1, Gemm/MatMul weight input dim                            (the sinks)
//   Transpose / Squeeze / Unsqueeze move the channel axis; a Reshape that keeps the last
//   (channel) axis, or merges it with the one before ([T,N,2,H] -> [T,N,2H]), follows it
//   Shape of a channel-carrying value, read only by Gathers of other entries (an exporter's
//   batch size): untouched; any other reader of that shape pins the channels
// A recurrent layer (LSTM, GRU, RNN; G = 4, 3, 1 gates; D directions) is a source of H
// channels, its hidden units. Unit h owns, in every direction:
//   W [D, G*H, I] and R [D, G*H, H] rows g*H + h of every gate g; R column h (the state it
//   reads back); B [D, 2*G*H] entries (k*G + g)*H + h; LSTM's peepholes P [D, 3H] entries
//   g*H + h; constant initial states [D, N, H] position h; position h on the last axis of Y
//   [T, D, N, H] and of Y_h / Y_c [D, N, H]; the `hidden_size` attribute is the kept count.
//   Its input X [T, N, I] is a sink (W dim 2). A runtime initial state that is all zeros (an
//   exporter's ConstantOfShape(0) -> Slice) is dropped when H changes, which ONNX defines
//   as the same zeros; any other runtime state pins the layer's units.
// Channels are coupled channel by channel (a union-find over every source channel):
//   residual Add/Sum/Mul: position p of one operand with position p of the other;
//   grouped Conv (G groups of m): local channel j of every group, as input and as output, so
//     each group keeps the same count and the same local indices;
//   Concat along channels and Flatten/Reshape to [N, C*H*W] map channels to positions (a Gemm
//     after a Flatten loses the H*W columns of each removed channel); a channel shuffle
//     (Reshape [N,G,C/G,H,W] -> Transpose -> Reshape) is a permutation.
// In a transformer the residual Adds tie the embedding, every attention out-projection and
// every MLP output into one group (the model width), each MLP hidden layer is a group, and the
// attention head Reshape pins the q/k/v channels (heads are kept whole).
// A set of coupled channels is a *unit*, removed or kept as one; the sources whose channels
// share units form a *group*. A unit is *pinned* (always kept) when a channel of it reaches
// something pruning does not model: a graph output, Softmax over channels, a constant shared by
// several layers, a channel no source owns (a graph input in a residual Add), an excluded
// layer. A group whose units are all pinned is blocked.
#pragma once
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/ir.h"

namespace edgepack {

// One channel along a tensor dimension: unit `index` of group `group`, or, with group < 0, a
// channel that is always kept.
struct ChannelRef {
  int group = -1;
  int64_t index = 0;
  bool operator==(const ChannelRef& o) const { return group == o.group && index == o.index; }
};
using ChannelMap = std::vector<ChannelRef>;

// Positions along `dim` of initializer `tensor`, each owned by a channel.
struct ParamSlice {
  std::string tensor;
  int64_t dim = 0;
  ChannelMap channels;
};

struct ChannelGroup {
  int64_t channels = 0;                 // free units; what pruning ratios count
  int64_t unit_size = 1;                // largest number of source channels in one unit
  std::vector<std::string> sources;     // node names (first output when unnamed), graph order
  // The source filters: weight, output dim, and the unit of each output channel (-1 pinned).
  // Their norms rank the units.
  struct Filter {
    std::string tensor;
    int64_t dim = 0;
    std::vector<int64_t> units;
  };
  std::vector<Filter> filters;
  std::vector<std::string> values;      // runtime values carrying the group's channels
  std::string blocked;                  // why it cannot be pruned; empty = prunable
  bool prunable() const { return blocked.empty(); }
  // "conv1" or "conv2 (+3 coupled)".
  std::string label() const;
};

struct ChannelGroups {
  std::vector<ChannelGroup> groups;
  std::vector<ParamSlice> slices;
  // Reshape nodes whose constant target shape spells the channel-carrying size: (shape
  // initializer, position in it, value whose channel count after pruning it must equal).
  struct ShapeFix {
    std::string shape_tensor;
    int64_t position = 0;
    std::string value;
    int64_t divisor = 1;                // the entry is the kept count / divisor (a shuffle's C/G)
  };
  std::vector<ShapeFix> shape_fixes;
  // Attributes that spell a channel count: node `node`'s `attr` must equal the kept channel
  // count of `value` (a depthwise Conv's `group`: its input; a recurrent layer's `hidden_size`:
  // one of its outputs).
  struct AttributeFix {
    size_t node = 0;
    std::string attr;
    std::string value;
  };
  std::vector<AttributeFix> attribute_fixes;
  // Zero initial states of recurrent layers (node index, input index), dropped when the
  // layer's hidden size changes (the state's producer chain is then dead and removed).
  struct ZeroState {
    size_t node = 0;
    size_t input = 0;
    std::string hidden;                 // an output of the node carrying its units
  };
  std::vector<ZeroState> zero_states;
  std::map<std::string, ChannelMap> value_channels;   // every tracked runtime value
  std::map<std::string, int64_t> value_axis;          // its channel axis

  std::vector<int> prunable() const;
};

// Analyzes `model` (constants must be folded first: weights have to be initializers). Nodes
// named in, or whose op type is in, `exclude` are not sources. Runs the model once on zeros to
// learn shapes.
ChannelGroups analyze_channel_groups(const Model& model, const std::set<std::string>& exclude = {});

// Which units to keep: group index -> one flag per unit. Groups absent keep everything.
using KeepMasks = std::map<int, std::vector<bool>>;

// Whether `keep` keeps `channel` (a pinned channel, or one of a group absent from it, always is).
bool is_kept(const ChannelRef& channel, const KeepMasks& keep);
// How many positions of `map` `keep` keeps.
int64_t kept_positions(const ChannelMap& map, const KeepMasks& keep);

// Removes the channels not kept: slices every recorded tensor, rewrites constant Reshape
// targets, and drops the stale inferred shapes of the values whose size changed
// (passes/channel_surgery.cpp).
void remove_channels(Model& model, const ChannelGroups& groups, const KeepMasks& keep);

// The fraction of MACs / parameters left after `keep`, under the rule that a layer's cost is
// proportional to the kept share of each sliced dimension of its weight (exact for Conv, Gemm
// and MatMul MACs). A MAC term is a node with the slices of its input 1 (its weight), a
// parameter term a float initializer with its slices (passes/channel_costs.cpp).
struct PruneCostModel {
  struct Term {
    double cost = 0;
    std::vector<std::pair<const ParamSlice*, int64_t>> dims;   // slice and its length
  };
  std::vector<Term> macs, params;
  double total_macs = 0, total_params = 0;
  // Fractions in [0, 1].
  double macs_fraction(const KeepMasks& keep) const;
  double params_fraction(const KeepMasks& keep) const;
};
PruneCostModel build_prune_cost_model(const Model& model, const ChannelGroups& groups);

}  // namespace edgepack
