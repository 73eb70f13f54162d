// What pruning saves, without touching the model: the fraction of MACs and of parameters a
// KeepMasks leaves (pruning's search evaluates many candidate masks).
//
// A term is a cost c (a node's MACs from core/cost_model, or a float initializer's element
// count) and the slices recorded on its weight (for a node, its input 1). With k_d the kept
// positions of slice d and L_d its length:
//   kept(term) = c * prod_d (k_d / L_d)
//   fraction   = sum over terms of kept(term) / total     (1 when total is 0)
// Conv W [O, I/g, kh, kw] over an Ho x Wo output costs N*Ho*Wo*O*(I/g)*kh*kw MACs; keeping o of
// its O filters and i of its I input channels leaves exactly (o/O)*(i/I) of them:
//   conv2.W [128,64,3,3] -> [128,48,3,3]: 0.75 of its MACs and of its parameters.
// Gemm and MatMul are exact alike; a recurrent layer is two terms, W's and R's MACs. Only those layers count MACs (core/cost_model); one whose
// input 1 is no sliced weight (a layer pinned or excluded, attention's runtime MatMuls) keeps
// its whole cost.
#include <algorithm>
#include <map>

#include "core/cost_model.h"
#include "passes/channel_groups.h"

namespace edgepack {

PruneCostModel build_prune_cost_model(const Model& model, const ChannelGroups& groups) {
  PruneCostModel m;
  std::map<std::string, std::vector<std::pair<const ParamSlice*, int64_t>>> dims;
  for (const ParamSlice& s : groups.slices) dims[s.tensor].push_back({&s, static_cast<int64_t>(s.channels.size())});
  ModelCost cost = analyze_model(model);
  for (size_t i = 0; i < model.graph.nodes.size(); ++i) {
    const Node& n = model.graph.nodes[i];
    const NodeCost& c = cost.nodes[i];
    const bool is_recurrent = n.op_type == "LSTM" || n.op_type == "GRU" || n.op_type == "RNN";
    m.total_macs += c.macs;
    if (c.macs > 0 && is_recurrent && n.inputs.size() > 2) {
      // Two terms: the input weights W [D,G*H,I] and the recurrent ones R [D,G*H,H], each its
      // share of the MACs, each shrinking with its own slices (R's H*H: quadratically).
      const double w = double(model.graph.initializers.count(n.inputs[1]) ? model.graph.initializers.at(n.inputs[1]).numel() : 0);
      const double r = double(model.graph.initializers.count(n.inputs[2]) ? model.graph.initializers.at(n.inputs[2]).numel() : 0);
      for (const auto& [input, share] : {std::pair{n.inputs[1], w}, std::pair{n.inputs[2], r}}) {
        auto it = dims.find(input);
        m.macs.push_back({c.macs * share / std::max(w + r, 1.0), it == dims.end() ? std::vector<std::pair<const ParamSlice*, int64_t>>{} : it->second});
      }
    } else if (c.macs > 0 && n.inputs.size() > 1 && dims.count(n.inputs[1])) m.macs.push_back({double(c.macs), dims.at(n.inputs[1])});
    else if (c.macs > 0) m.macs.push_back({double(c.macs), {}});
  }
  for (const auto& [name, t] : model.graph.initializers) {
    if (!t.is_floating_point()) continue;
    m.total_params += t.numel();
    auto it = dims.find(name);
    m.params.push_back({double(t.numel()), it == dims.end() ? std::vector<std::pair<const ParamSlice*, int64_t>>{} : it->second});
  }
  return m;
}

namespace {

double kept_cost(const std::vector<PruneCostModel::Term>& terms, double total, const KeepMasks& keep) {
  if (total <= 0) return 1;
  std::map<const ParamSlice*, double> share;   // k_d / L_d, once per slice
  double kept = 0;
  for (const auto& term : terms) {
    double f = term.cost;
    for (const auto& [slice, length] : term.dims) {
      auto [it, inserted] = share.emplace(slice, 0.0);
      if (inserted) it->second = double(kept_positions(slice->channels, keep)) / length;
      f *= it->second;
    }
    kept += f;
  }
  return kept / total;
}

}  // namespace

double PruneCostModel::macs_fraction(const KeepMasks& keep) const { return kept_cost(macs, total_macs, keep); }
double PruneCostModel::params_fraction(const KeepMasks& keep) const { return kept_cost(params, total_params, keep); }

}  // namespace edgepack
