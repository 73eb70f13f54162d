#include "distill/student.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <optional>
#include <set>

#include "core/cost_model.h"
#include "core/executor.h"
#include "passes/fold_constants.h"

namespace edgepack::distill {

namespace {

// The branch from `skip` to `out`: every node on a path between them, provided the branch reads
// nothing but `skip`, its own values and constants, and nothing outside reads its values.
std::optional<std::vector<size_t>> branch(const Graph& g, const std::string& skip, const std::string& out, size_t add) {
  std::set<size_t> nodes;
  std::vector<std::string> todo = {out};
  while (!todo.empty()) {
    const std::string v = todo.back();
    todo.pop_back();
    if (v == skip || v.empty() || g.is_initializer(v)) continue;
    const int p = g.producer(v);
    if (p < 0) return std::nullopt;   // reads a graph input other than the skip
    if (!nodes.insert(static_cast<size_t>(p)).second) continue;
    for (const std::string& in : values_read(g.nodes[p])) todo.push_back(in);
  }
  if (nodes.empty()) return std::nullopt;
  std::set<std::string> produced;
  for (size_t i : nodes)
    for (const std::string& o : g.nodes[i].outputs) produced.insert(o);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (nodes.count(i)) continue;
    for (const std::string& in : values_read(g.nodes[i]))   // reads inside subgraphs count too
      if (produced.count(in) && !(i == add && in == out)) return std::nullopt;
  }
  for (const ValueInfo& o : g.outputs)
    if (produced.count(o.name)) return std::nullopt;
  return std::vector<size_t>(nodes.begin(), nodes.end());
}

}  // namespace

std::vector<ResidualBlock> residual_blocks(const Model& model, const std::vector<std::map<std::string, at::Tensor>>& calibration) {
  const Graph& g = model.graph;
  const ModelCost cost = analyze_model(model);
  std::map<std::string, std::vector<int64_t>> shapes;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (size_t o = 0; o < g.nodes[i].outputs.size() && o < cost.nodes[i].output_shapes.size(); ++o)
      shapes[g.nodes[i].outputs[o]] = cost.nodes[i].output_shapes[o];
  for (const ValueInfo* in : g.runtime_inputs()) shapes[in->name] = in->concrete_shape(1);

  // Dropping a block renames its Add's output to the skip in the nodes that read it; a subgraph
  // reads by name without listing it, so an Add whose output a subgraph reads stays.
  std::set<std::string> read_in_subgraphs;
  for (const Node& n : g.nodes)
    for (std::string& v : outer_reads(n)) read_in_subgraphs.insert(std::move(v));
  std::vector<ResidualBlock> blocks;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    if ((n.op_type != "Add" && n.op_type != "Sum") || n.inputs.size() != 2 || !n.domain.empty()) continue;
    if (std::any_of(g.outputs.begin(), g.outputs.end(), [&](const ValueInfo& o) { return o.name == n.outputs[0]; })) continue;
    if (read_in_subgraphs.count(n.outputs[0])) continue;
    for (int s = 0; s < 2; ++s) {
      const std::string &skip = n.inputs[s], &out = n.inputs[1 - s];
      if (!shapes.count(skip) || !shapes.count(out) || shapes[skip] != shapes[out] || shapes[n.outputs[0]] != shapes[skip]) continue;
      if (auto nodes = branch(g, skip, out, i)) {
        blocks.push_back({skip, i, *nodes, 0});
        break;
      }
    }
  }
  if (blocks.empty() || calibration.empty()) return blocks;
  // Mean per-sample cosine between each block's input and the Add's output.
  std::map<std::string, std::vector<size_t>> by_value;
  for (size_t b = 0; b < blocks.size(); ++b) {
    by_value[blocks[b].skip].push_back(b);
    by_value[g.nodes[blocks[b].add].outputs[0]].push_back(b);
  }
  std::map<size_t, at::Tensor> inputs;
  std::vector<double> sum(blocks.size(), 0.0);
  int64_t samples = 0;
  Executor exec(model);
  exec.set_observer([&](const std::string& value, const at::Tensor& t) {
    auto it = by_value.find(value);
    if (it == by_value.end()) return;
    for (size_t b : it->second) {
      const at::Tensor flat = t.reshape({t.size(0), -1}).to(at::kDouble);
      if (value == blocks[b].skip) inputs[b] = flat.clone();
      else if (inputs.count(b)) sum[b] += at::cosine_similarity(inputs[b], flat, 1).sum().item<double>();
    }
  });
  for (const auto& feeds : calibration) {
    exec.run(feeds);
    samples += feeds.begin()->second.size(0);
  }
  for (size_t b = 0; b < blocks.size(); ++b) blocks[b].similarity = samples ? sum[b] / samples : 0;
  return blocks;
}

int drop_residual_blocks(Model& model, int count, const std::vector<std::map<std::string, at::Tensor>>& calibration) {
  if (count <= 0) return 0;
  fold_constants(model);
  std::vector<ResidualBlock> blocks = residual_blocks(model, calibration);
  std::stable_sort(blocks.begin(), blocks.end(), [](const ResidualBlock& a, const ResidualBlock& b) { return a.similarity > b.similarity; });
  if (static_cast<int>(blocks.size()) > count) blocks.resize(count);
  Graph& g = model.graph;
  std::set<size_t> removed;
  std::map<std::string, std::string> rename;   // Add output -> its skip
  for (const ResidualBlock& b : blocks) {
    removed.insert(b.nodes.begin(), b.nodes.end());
    removed.insert(b.add);
    rename[g.nodes[b.add].outputs[0]] = b.skip;
  }
  // A skip may itself be a removed Add's output (consecutive blocks): follow the chain.
  auto resolve = [&](std::string v) {
    for (auto it = rename.find(v); it != rename.end(); it = rename.find(v)) v = it->second;
    return v;
  };
  std::vector<Node> kept;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (removed.count(i)) continue;
    Node n = std::move(g.nodes[i]);
    for (std::string& in : n.inputs) in = resolve(in);
    kept.push_back(std::move(n));
  }
  g.nodes = std::move(kept);
  std::set<std::string> produced;
  for (const Node& n : g.nodes) produced.insert(n.outputs.begin(), n.outputs.end());
  auto& vi = g.value_info;
  vi.erase(std::remove_if(vi.begin(), vi.end(), [&](const ValueInfo& v) { return !produced.count(v.name); }), vi.end());
  remove_unused_initializers(g);
  return static_cast<int>(blocks.size());
}

}  // namespace edgepack::distill
