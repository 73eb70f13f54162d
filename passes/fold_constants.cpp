#include "passes/fold_constants.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "core/error.h"
#include "core/executor.h"

namespace edgepack {

namespace {

// Ops whose result depends on more than their inputs.
bool is_nondeterministic(const std::string& op) {
  return op.rfind("Random", 0) == 0 || op == "Multinomial" || op == "Bernoulli";
}

}  // namespace

int remove_unused_initializers(Graph& graph) {
  std::set<std::string> used;
  // values_read: an initializer read only inside an If branch or Loop body is used too.
  for (const Node& n : graph.nodes)
    for (std::string& v : values_read(n)) used.insert(std::move(v));
  for (const auto& v : graph.outputs) used.insert(v.name);
  for (const auto& v : graph.inputs) used.insert(v.name);
  int removed = 0;
  for (auto it = graph.initializers.begin(); it != graph.initializers.end();) {
    if (used.count(it->first)) {
      ++it;
    } else {
      it = graph.initializers.erase(it);
      ++removed;
    }
  }
  return removed;
}

int remove_dead_nodes(Graph& graph) {
  // One pass from the end: nodes are in topological order, so every reader of a node's
  // outputs comes after it and is already known to be live or dead.
  std::set<std::string> read;
  for (const auto& v : graph.outputs) read.insert(v.name);
  std::vector<bool> live(graph.nodes.size());
  std::set<std::string> gone;   // outputs of dropped nodes: their value_info goes too
  for (size_t k = graph.nodes.size(); k-- > 0;) {
    const Node& n = graph.nodes[k];
    live[k] = std::any_of(n.outputs.begin(), n.outputs.end(), [&](const std::string& o) { return !o.empty() && read.count(o); });
    if (live[k])
      for (std::string& v : values_read(n)) read.insert(std::move(v));
    else
      gone.insert(n.outputs.begin(), n.outputs.end());
  }
  const int removed = static_cast<int>(std::count(live.begin(), live.end(), false));
  std::vector<Node> kept;
  kept.reserve(graph.nodes.size() - static_cast<size_t>(removed));
  for (size_t k = 0; k < graph.nodes.size(); ++k)
    if (live[k]) kept.push_back(std::move(graph.nodes[k]));
  graph.nodes = std::move(kept);
  auto& vi = graph.value_info;
  vi.erase(std::remove_if(vi.begin(), vi.end(), [&](const ValueInfo& v) { return gone.count(v.name) != 0; }), vi.end());
  if (removed) remove_unused_initializers(graph);
  return removed;
}

FoldConstantsStats fold_constants(Model& model) {
  Graph& g = model.graph;
  FoldConstantsStats stats;
  std::vector<Node> kept;
  kept.reserve(g.nodes.size());
  std::vector<at::Tensor> inputs;
  at::NoGradGuard no_grad;
  for (Node& n : g.nodes) {
    // Control flow is never folded: its kernels are the executor's subgraph runner, and a
    // constant Loop would be unrolled into initializers of unbounded size.
    bool constant = is_supported_op(n) && !is_control_flow_op(n) && !is_nondeterministic(n.op_type);
    for (const std::string& in : n.inputs)
      constant = constant && (in.empty() || g.is_initializer(in));
    if (!constant) {
      kept.push_back(std::move(n));
      continue;
    }
    inputs.clear();
    for (const std::string& in : n.inputs) inputs.push_back(in.empty() ? at::Tensor() : g.initializers.at(in));
    auto outputs = kernels().at(n.op_type)(KernelContext{n, inputs, model.opset()});
    for (size_t o = 0; o < n.outputs.size(); ++o)
      if (!n.outputs[o].empty()) g.initializers[n.outputs[o]] = outputs.at(o).contiguous();
    ++stats.folded_nodes;
  }
  g.nodes = std::move(kept);
  // Inferred value_info for values that are now initializers stays valid (same type/shape).
  stats.removed_initializers = remove_unused_initializers(g);
  return stats;
}

namespace {

PassResult fold_constants_pass(Model& model, const NoSettings&, PassContext&) {
  FoldConstantsStats s = fold_constants(model);
  PassResult r;
  r.changed = s.folded_nodes > 0 || s.removed_initializers > 0;
  r.stats["folded_nodes"] = s.folded_nodes;
  r.stats["removed_initializers"] = s.removed_initializers;
  return r;
}

}  // namespace

PassInfo fold_constants_info() {
  return make_pass("fold-constants", "Evaluate nodes whose inputs are all constants and store their outputs as initializers",
                   "Every node whose inputs are all initializers (or outputs of nodes folded before it) is run once and "
                   "replaced by initializers; initializers nobody reads are dropped. Exporters emit Constant, "
                   "ConstantOfShape and Reshape chains for weights and shapes; passes that read weights need them folded.",
                   no_options(), &fold_constants_pass);
}

}  // namespace edgepack
