#include "quantize/dequantize.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <set>

#include "core/error.h"
#include "passes/fold_bn.h"
#include "passes/fold_constants.h"

namespace edgepack {

namespace {

const std::set<std::string>& dynamic_ops() {
  static const std::set<std::string> ops = {"DynamicQuantizeLinear", "ConvInteger", "MatMulInteger"};
  return ops;
}

const std::set<std::string>& quantized_op_types() {
  static const std::set<std::string> ops = {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul",
                                            "DynamicQuantizeLinear", "ConvInteger", "MatMulInteger"};
  return ops;
}

std::string input_or_empty(const Node& n, size_t i) { return i < n.inputs.size() ? n.inputs[i] : std::string(); }

const at::Tensor& constant_input(const Graph& g, const Node& n, size_t i, const char* what) {
  const std::string v = input_or_empty(n, i);
  if (v.empty() || !g.is_initializer(v))
    throw InputError(fmt::format("{}: its {} is computed at run time, so its float equivalent cannot be built "
                                 "(dequantize needs it as a constant)", n.label(), what));
  return g.initializers.at(v);
}

// (q - zero_point) * scale in float, the scale and zero point per tensor or along `axis`.
at::Tensor dequantized(const at::Tensor& q, const at::Tensor& scale, const at::Tensor* zero_point, int64_t axis,
                       const Node& n) {
  at::Tensor s = scale.to(at::kFloat);
  at::Tensor z = zero_point ? zero_point->to(at::kFloat) : at::zeros({}, at::kFloat);
  if (s.numel() == 1) return (q.to(at::kFloat) - z.reshape({})) * s.reshape({});
  if (axis < 0) axis += q.dim();
  if (axis < 0 || axis >= q.dim() || s.numel() != q.size(axis))
    throw InputError(fmt::format("{}: a scale of {} values does not match the weight's shape [{}]", n.label(), s.numel(),
                                 fmt::join(q.sizes(), ",")));
  std::vector<int64_t> shape(q.dim(), 1);
  shape[axis] = s.numel();
  return (q.to(at::kFloat) - (z.numel() > 1 ? z.reshape(shape) : z.reshape({}))) * s.reshape(shape);
}

// Every value name in the graph (initializers, typed values, node inputs and outputs).
std::set<std::string> value_names(const Graph& g) {
  std::set<std::string> names;
  for (const auto& [name, _] : g.initializers) names.insert(name);
  for (const auto* list : {&g.inputs, &g.outputs, &g.value_info})
    for (const ValueInfo& v : *list) names.insert(v.name);
  for (const Node& n : g.nodes) {
    names.insert(n.inputs.begin(), n.inputs.end());
    names.insert(n.outputs.begin(), n.outputs.end());
  }
  return names;
}

Node make(const std::string& op, const std::string& name, std::vector<std::string> inputs, const std::string& output) {
  while (!inputs.empty() && inputs.back().empty()) inputs.pop_back();
  Node n = make_node(op, std::move(inputs), output);
  n.name = name;
  return n;
}

// QLinearConv / QLinearMatMul -> DequantizeLinear -> Conv / MatMul -> QuantizeLinear.
int rewrite_qlinear_ops(Graph& g) {
  std::set<std::string> taken = value_names(g);
  auto fresh = [&](const std::string& base) {
    std::string name = base;
    for (int k = 1; taken.count(name); ++k) name = fmt::format("{}_{}", base, k);
    taken.insert(name);
    return name;
  };
  int rewritten = 0;
  std::vector<Node> nodes;
  for (Node& n : g.nodes) {
    const bool conv = n.op_type == "QLinearConv", matmul = n.op_type == "QLinearMatMul";
    if (!(conv || matmul) || !n.domain.empty()) {
      nodes.push_back(std::move(n));
      continue;
    }
    if (n.inputs.size() < 8) throw InputError(fmt::format("{}: expects 8 inputs, has {}", n.label(), n.inputs.size()));
    const std::string base = n.name.empty() ? n.outputs[0] : n.name;
    at::NoGradGuard no_grad;
    const at::Tensor& w = constant_input(g, n, 3, conv ? "weight w" : "matrix b");
    const at::Tensor& w_scale = constant_input(g, n, 4, conv ? "w_scale" : "b_scale");
    const at::Tensor* w_zp = input_or_empty(n, 5).empty() ? nullptr : &constant_input(g, n, 5, "zero point");
    // Conv weights are per output channel (axis 0); QLinearMatMul's b per column (its last axis).
    const std::string w_float = fresh(base + "_weight");
    g.initializers[w_float] = dequantized(w, w_scale, w_zp, conv ? 0 : -1, n);

    const std::string x_float = fresh(base + "_input_dequantized");
    nodes.push_back(make("DequantizeLinear", x_float, {n.inputs[0], n.inputs[1], n.inputs[2]}, x_float));
    const std::string y_float = fresh(base + "_float");
    std::vector<std::string> inputs = {x_float, w_float};
    if (conv && !input_or_empty(n, 8).empty()) {
      const at::Tensor& bias = constant_input(g, n, 8, "bias B");
      const at::Tensor& x_scale = constant_input(g, n, 1, "x_scale");
      at::Tensor s = w_scale.to(at::kFloat).reshape({-1});
      const std::string b_float = fresh(base + "_bias");
      g.initializers[b_float] = bias.to(at::kFloat).reshape({-1}) * x_scale.to(at::kFloat).reshape({}) * s;
      inputs.push_back(b_float);
    }
    Node op = make(conv ? "Conv" : "MatMul", base, inputs, y_float);
    if (conv) op.attrs = n.attrs;
    nodes.push_back(std::move(op));
    nodes.push_back(make("QuantizeLinear", fresh(base + "_requantize"), {y_float, n.inputs[6], n.inputs[7]}, n.outputs[0]));
    ++rewritten;
  }
  g.nodes = std::move(nodes);
  return rewritten;
}

bool same_tensor_value(const Graph& g, const std::string& a, const std::string& b) {
  if (a == b) return true;
  if (a.empty() || b.empty() || !g.is_initializer(a) || !g.is_initializer(b)) return false;
  const at::Tensor &x = g.initializers.at(a), &y = g.initializers.at(b);
  return x.scalar_type() == y.scalar_type() && x.sizes() == y.sizes() && at::equal(x, y);
}

// Drops QuantizeLinear -> DequantizeLinear pairs on activations: readers of each DequantizeLinear
// read the QuantizeLinear's float input instead.
int remove_activation_qdq_pairs(Graph& g) {
  std::map<std::string, std::vector<size_t>> readers;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (const std::string& in : g.nodes[i].inputs)
      if (!in.empty()) readers[in].push_back(i);
  std::set<std::string> graph_outputs;
  for (const ValueInfo& o : g.outputs) graph_outputs.insert(o.name);

  std::map<std::string, std::string> replace;   // DequantizeLinear output -> float value
  std::map<std::string, std::string> rename;    // float value -> the graph output name it takes over
  std::vector<bool> drop(g.nodes.size(), false);
  int removed = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& q = g.nodes[i];
    if (q.op_type != "QuantizeLinear" || !q.domain.empty() || q.inputs.empty() || g.is_initializer(q.inputs[0])) continue;
    const std::string& qv = q.outputs[0];
    if (graph_outputs.count(qv) || !readers.count(qv)) continue;
    bool all_dq = true;
    for (size_t r : readers[qv]) {
      const Node& dq = g.nodes[r];
      all_dq = all_dq && dq.op_type == "DequantizeLinear" && dq.domain.empty() && dq.inputs[0] == qv &&
               same_tensor_value(g, input_or_empty(dq, 1), input_or_empty(q, 1)) &&
               same_tensor_value(g, input_or_empty(dq, 2), input_or_empty(q, 2)) &&
               dq.attr_int("axis", 1) == q.attr_int("axis", 1);
    }
    if (!all_dq) continue;
    // A DequantizeLinear that is a graph output (quantize ends a quantized output that way) hands
    // its name to the float value, which must then be a node's output read by nothing else outside.
    std::vector<std::string> output_dqs;
    for (size_t r : readers[qv])
      if (graph_outputs.count(g.nodes[r].outputs[0])) output_dqs.push_back(g.nodes[r].outputs[0]);
    const std::string& x = q.inputs[0];
    if (!output_dqs.empty() && (output_dqs.size() > 1 || g.producer(x) < 0 || graph_outputs.count(x))) continue;
    drop[i] = true;
    for (size_t r : readers[qv]) {
      drop[r] = true;
      const std::string& out = g.nodes[r].outputs[0];
      if (graph_outputs.count(out)) rename[x] = out;
      else replace[out] = x;
    }
    ++removed;
  }
  if (!removed) return 0;
  auto resolve = [&](std::string v) {
    for (auto it = replace.find(v); it != replace.end(); it = replace.find(v)) v = it->second;
    auto r = rename.find(v);
    return r == rename.end() ? v : r->second;
  };
  std::vector<Node> kept;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (drop[i]) continue;
    for (std::string& in : g.nodes[i].inputs)
      if (!in.empty()) in = resolve(in);
    for (std::string& out : g.nodes[i].outputs) {
      auto r = rename.find(out);
      if (r != rename.end()) out = r->second;
    }
    kept.push_back(std::move(g.nodes[i]));
  }
  g.nodes = std::move(kept);
  // Value infos of dropped values would describe integer tensors that no longer exist.
  std::vector<ValueInfo> infos;
  for (ValueInfo& v : g.value_info)
    if (!replace.count(v.name) && !rename.count(v.name) && g.producer(v.name) >= 0) infos.push_back(std::move(v));
  g.value_info = std::move(infos);
  return removed;
}

PassResult dequantize_pass(Model& model, const NoSettings&, PassContext&) {
  const DequantizeStats s = dequantize(model);
  PassResult r;
  r.changed = s.dequantized_layers + s.removed_qdq_pairs > 0;
  r.stats["dequantized_layers"] = s.dequantized_layers;
  r.stats["removed_qdq_pairs"] = s.removed_qdq_pairs;
  const FoldConstantsStats folded = fold_constants(model);
  r.stats["folded_nodes"] = folded.folded_nodes;
  r.changed = r.changed || folded.folded_nodes > 0;
  return r;
}

}  // namespace

std::map<std::string, int> quantized_ops(const Model& model) {
  std::map<std::string, int> ops;
  for (const Node& n : model.graph.nodes)
    if (n.domain.empty() && quantized_op_types().count(n.op_type)) ++ops[n.op_type];
  return ops;
}

DequantizeStats dequantize(Model& model) {
  Graph& g = model.graph;
  for (const Node& n : g.nodes)
    if (n.domain.empty() && dynamic_ops().count(n.op_type))
      throw InputError(fmt::format("the model is dynamically quantized ({}): its scales are computed at run time from "
                                   "each input, so its float model cannot be rebuilt; quantize the FP32 model it came from",
                                   n.label()));
  DequantizeStats s;
  s.dequantized_layers = rewrite_qlinear_ops(g);
  s.removed_qdq_pairs = remove_activation_qdq_pairs(g);
  return s;
}

bool dequantize_for_requantization(Model& model, PassContext& context) {
  const std::map<std::string, int> ops = quantized_ops(model);
  if (ops.empty()) return false;
  std::vector<std::string> listed;
  for (const auto& [op, count] : ops) listed.push_back(fmt::format("{} {}", op, count));
  const DequantizeStats s = dequantize(model);
  fold_constants(model);
  fold_batchnorms(model);
  if (context.log)
    context.log(fmt::format("warning: the model is already quantized ({}): re-quantizing its float equivalent "
                            "({} QLinear layers rewritten, {} activation QDQ pairs removed; weights keep their INT8 rounding)",
                            fmt::join(listed, ", "), s.dequantized_layers, s.removed_qdq_pairs));
  return true;
}

PassInfo dequantize_info() {
  return make_pass(
      "dequantize", "The float equivalent of a QDQ or QLinear (QOperator) model",
      "QLinearConv and QLinearMatMul become DequantizeLinear -> Conv/MatMul -> QuantizeLinear with W' = (W - z_w) * s_w "
      "and B' = B * s_x * s_w; activation QuantizeLinear -> DequantizeLinear pairs are dropped; DequantizeLinear of "
      "constant weights is folded into float initializers. Weights keep their INT8 rounding. Dynamically quantized "
      "models (ConvInteger, MatMulInteger, DynamicQuantizeLinear) are refused: their scales exist only at run time. "
      "quantize runs it first on an already-quantized model.",
      no_options(), &dequantize_pass);
}

}  // namespace edgepack
