// Channel surgery: physically removes the channels a KeepMasks drops, along every tensor
// dimension analyze_channel_groups recorded, so the pruned model is smaller, not zero-filled.
//
// Keeping 48 of conv1's 64 filters in Conv -> BatchNormalization -> Relu -> Conv:
//   before: conv1.W [64,3,3,3]  conv1.B [64]  bn.{scale,B,mean,var} [64]  conv2.W [128,64,3,3]
//   after:  conv1.W [48,3,3,3]  conv1.B [48]  bn.{scale,B,mean,var} [48]  conv2.W [128,48,3,3]
// Every slice keeps position p when the channel owning it is kept (is_kept):
//   W' = index_select(W, dim, kept positions)
// Besides the weights, three things spell a channel count and follow it:
//   a constant Reshape target (Flatten as [N, C*H*W], a shuffle's [N,G,C/G,H,W]): its entry is
//     the kept size of the value it shapes / divisor (C*H*W -> C'*H*W, C/G -> C'/G);
//   a depthwise Conv's `group`: the kept channel count of its input; a recurrent layer's
//     `hidden_size`: the kept count of its units (its zero initial state, an exporter's
//     ConstantOfShape chain of the old size, is dropped: omitted, it is the same zeros);
//   the inferred shapes (value_info) of resized values: dropped, the exporter re-infers them.
#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>

#include "core/error.h"
#include "passes/channel_groups.h"
#include "passes/fold_constants.h"

namespace edgepack {
namespace {

// Error for a mask the analysis could not have produced (a caller bug), InputError for a
// request that would leave a layer without channels.
void check_keep_masks(const ChannelGroups& groups, const KeepMasks& keep) {
  for (const auto& [id, mask] : keep) {
    if (id < 0 || id >= static_cast<int>(groups.groups.size()) || !groups.groups[id].prunable())
      throw Error(fmt::format("channel group {} cannot be pruned", id));
    if (mask.size() != static_cast<size_t>(groups.groups[id].channels))
      throw Error(fmt::format("keep mask of group {} has {} flags for {} channels", id, mask.size(), groups.groups[id].channels));
    if (std::find(mask.begin(), mask.end(), true) == mask.end())
      throw InputError(fmt::format("pruning would remove every channel of {}", groups.groups[id].label()));
  }
}

void slice_parameters(Graph& g, const std::vector<ParamSlice>& slices, const KeepMasks& keep) {
  for (const ParamSlice& s : slices) {
    std::vector<int64_t> positions;
    for (size_t p = 0; p < s.channels.size(); ++p)
      if (is_kept(s.channels[p], keep)) positions.push_back(static_cast<int64_t>(p));
    if (positions.size() == s.channels.size()) continue;
    at::Tensor& t = g.initializers.at(s.tensor);
    t = t.index_select(s.dim, at::tensor(positions, at::kLong)).contiguous();
  }
}

}  // namespace

void remove_channels(Model& model, const ChannelGroups& groups, const KeepMasks& keep) {
  check_keep_masks(groups, keep);
  Graph& g = model.graph;
  slice_parameters(g, groups.slices, keep);
  for (const auto& fix : groups.shape_fixes) {
    at::Tensor& t = g.initializers.at(fix.shape_tensor);
    t = t.clone();   // copies of a Model share tensors: writing in place would change the others
    t[fix.position] = kept_positions(groups.value_channels.at(fix.value), keep) / fix.divisor;
  }
  for (const auto& fix : groups.attribute_fixes)
    g.nodes.at(fix.node).attrs[fix.attr] = Attribute::of_int(kept_positions(groups.value_channels.at(fix.value), keep));
  bool dropped = false;
  for (const auto& z : groups.zero_states) {
    const ChannelMap& map = groups.value_channels.at(z.hidden);
    if (kept_positions(map, keep) == static_cast<int64_t>(map.size())) continue;
    auto& inputs = g.nodes.at(z.node).inputs;
    if (z.input < inputs.size()) inputs[z.input].clear();   // an omitted initial state is zeros
    while (!inputs.empty() && inputs.back().empty()) inputs.pop_back();
    dropped = true;
  }
  if (dropped) remove_dead_nodes(g);
  // Inferred shapes of resized values are stale; the exporter re-infers what it needs.
  std::set<std::string> resized;
  for (const auto& [value, map] : groups.value_channels)
    if (kept_positions(map, keep) != static_cast<int64_t>(map.size())) resized.insert(value);
  auto& vi = g.value_info;
  vi.erase(std::remove_if(vi.begin(), vi.end(), [&](const ValueInfo& v) { return resized.count(v.name) != 0; }), vi.end());
}

}  // namespace edgepack
