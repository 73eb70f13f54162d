#include "core/cost_model.h"

#include "core/input_shapes.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <functional>
#include <numeric>
#include <set>

#include "core/error.h"
#include "core/executor.h"
#include "core/tensor_proto.h"

namespace edgepack {

namespace {

struct Observed {
  std::vector<int64_t> shape;
  at::ScalarType dtype = at::kFloat;
  int64_t elems = 0;
  int64_t bytes = 0;
};

using ValueTable = std::map<std::string, Observed>;

ValueTable observe_values(const Model& model) {
  ValueTable seen;
  Executor executor(model);
  executor.set_observer([&seen](const std::string& name, const at::Tensor& t) {
    if (seen.count(name)) return;
    seen[name] = {t.sizes().vec(), t.scalar_type(), t.numel(), static_cast<int64_t>(t.numel() * t.element_size())};
  });
  std::map<std::string, at::Tensor> feeds;
  for (const ValueInfo* in : model.graph.runtime_inputs()) {
    at::ScalarType type =
        in->elem_type == 0 ? at::kFloat : scalar_type_from_onnx(in->elem_type, "input '" + in->name + "'");
    feeds[in->name] = at::zeros(in->concrete_shape(1), at::TensorOptions().dtype(type));
  }
  std::vector<std::string> sizes;
  for (const auto& [name, t] : feeds) sizes.push_back(fmt::format("{} {}", name, fmt::join(t.sizes(), "x")));
  const std::string why = fmt::format("cannot run the model on zero-filled inputs ({}) to learn its shapes: ", fmt::join(sizes, ", "));
  // A net that downsamples 32x fails on a small input: the sizes, not the model, are wrong.
  const std::string hint = "; if those sizes are not what the model takes, give them with --input-shape NAME:DIMS";
  try {
    executor.run(feeds);
  } catch (const InputError& e) {
    throw InputError(why + std::string(e.what()) + hint);
  } catch (const Error& e) {
    throw Error(why + std::string(e.what()) + hint);
  }
  return seen;
}

int64_t product(std::vector<int64_t>::const_iterator begin, std::vector<int64_t>::const_iterator end) {
  return std::accumulate(begin, end, int64_t{1}, std::multiplies<int64_t>());
}

// The weight operand of a weighted op, by its ONNX input index; -1 for other ops.
int weight_input(const Node& n) {
  static const std::map<std::string, int> index = {{"Conv", 1}, {"ConvTranspose", 1}, {"Gemm", 1}, {"MatMul", 1},
                                                   {"ConvInteger", 1}, {"MatMulInteger", 1}, {"QLinearConv", 3},
                                                   {"QLinearMatMul", 3}, {"LSTM", 1}, {"GRU", 1}, {"RNN", 1}};
  auto it = n.domain.empty() ? index.find(n.op_type) : index.end();
  return it == index.end() ? -1 : it->second;
}

bool is_recurrent(const std::string& op) { return op == "LSTM" || op == "GRU" || op == "RNN"; }

int64_t count_macs(const Node& n, const ValueTable& seen) {
  auto shape = [&](int input) -> const std::vector<int64_t>* {
    if (input < 0 || input >= static_cast<int>(n.inputs.size())) return nullptr;
    auto it = seen.find(n.inputs[input]);
    return it == seen.end() ? nullptr : &it->second.shape;
  };
  auto out_elems = [&]() -> int64_t {
    auto it = n.outputs.empty() ? seen.end() : seen.find(n.outputs[0]);
    return it == seen.end() ? 0 : it->second.elems;
  };
  const auto* x = shape(0);
  const auto* w = shape(weight_input(n));
  if (!x || !w) return 0;
  const std::string& op = n.op_type;
  if ((op == "Conv" || op == "ConvInteger" || op == "QLinearConv") && w->size() >= 2)
    return out_elems() * product(w->begin() + 1, w->end());
  // Each input element meets (M/group) * prod(kernel) weights, scattered into the output.
  if (op == "ConvTranspose" && w->size() >= 2) return product(x->begin(), x->end()) * product(w->begin() + 1, w->end());
  if (op == "Gemm" && x->size() == 2) return out_elems() * (*x)[n.attr_int("transA", 0) ? 0 : 1];
  if ((op == "MatMul" || op == "MatMulInteger" || op == "QLinearMatMul") && !x->empty()) return out_elems() * x->back();
  // Every step of every sequence meets each weight of W [D, G*H, I] and R [D, G*H, H] once.
  const auto* r = shape(2);
  if (is_recurrent(op) && x->size() == 3 && r)
    return (*x)[0] * (*x)[1] * (product(w->begin(), w->end()) + product(r->begin(), r->end()));
  return 0;
}

bool computes_in_integers(const Node& n, const Graph& g) {
  if (is_recurrent(n.op_type)) return false;   // ONNX has no integer recurrent layer
  if (n.op_type != "Conv" && n.op_type != "ConvTranspose" && n.op_type != "Gemm" && n.op_type != "MatMul") return true;
  const int p = n.inputs.size() > 1 ? g.producer(n.inputs[1]) : -1;
  return p >= 0 && g.nodes[p].op_type == "DequantizeLinear" && g.is_initializer(g.nodes[p].inputs[0]);
}

// Shapes, axes and indices, not weights.
bool is_index_type(at::ScalarType t) { return t == at::kLong || t == at::kBool; }

}  // namespace

ModelCost analyze_model(const Model& model) {
  require_bound_dims(model);   // a free H or W would be costed as 1: refused, naming the flag
  const Graph& g = model.graph;
  const ValueTable seen = observe_values(model);
  auto observed = [&seen](const std::string& v) -> const Observed* {
    auto it = seen.find(v);
    return it == seen.end() ? nullptr : &it->second;
  };

  ModelCost cost;
  for (const ValueInfo* in : g.runtime_inputs()) {
    if (!in->shape)
      cost.assumptions.push_back(fmt::format("input '{}' has no declared shape; taken as a scalar", in->name));
    for (size_t d = 0; in->shape && d < in->shape->size(); ++d) {
      const Dim& dim = (*in->shape)[d];
      if (!dim.known())
        cost.assumptions.push_back(fmt::format("input '{}' dim {}{} taken as 1", in->name, d,
                                               dim.param.empty() ? "" : " (" + dim.param + ")"));
    }
  }

  std::set<std::string> constants;
  for (const auto& [name, t] : g.initializers) {
    constants.insert(name);
    cost.totals.stored_weight_bytes += static_cast<int64_t>(t.numel() * t.element_size());
  }
  std::set<std::string> counted;  // constants already charged to a node
  CostTotals& totals = cost.totals;
  for (const Node& n : g.nodes) {
    NodeCost nc;
    nc.name = n.name.empty() && !n.outputs.empty() ? n.outputs[0] : n.name;
    nc.op = n.domain.empty() || n.domain == "ai.onnx" ? n.op_type : n.domain + "::" + n.op_type;
    // Control flow (If/Loop/Scan) is one runtime node with the MACs of none of its subgraphs:
    // which branch runs, and how often a body does, is known only at run time.
    const std::vector<std::string> reads = values_read(n);
    nc.constant = !is_control_flow_op(n) &&
                  std::all_of(reads.begin(), reads.end(), [&](const std::string& in) { return constants.count(in) != 0; });
    for (const std::string& out : n.outputs) {
      const Observed* o = out.empty() ? nullptr : observed(out);
      nc.output_shapes.push_back(o ? o->shape : std::vector<int64_t>{});
      if (nc.constant && !out.empty()) constants.insert(out);
      if (!nc.constant && o) nc.activation_elems += o->elems;
    }
    if (nc.constant) {
      ++totals.constant_nodes;
      cost.nodes.push_back(std::move(nc));
      continue;
    }
    for (const std::string& in : n.inputs) {
      const Observed* o = in.empty() ? nullptr : observed(in);
      if (!o) continue;
      if (!constants.count(in)) {
        nc.activation_elems += o->elems;
      } else if (!is_index_type(o->dtype) && !o->shape.empty() && counted.insert(in).second) {
        // 0-d constants are hyper-parameters (Dropout ratio, Clip bounds, Pow exponent), not weights.
        nc.params += o->elems;
        nc.int8_bytes += o->shape.size() >= 2 ? o->elems : 4 * o->elems;
      }
    }
    nc.fp32_bytes = 4 * nc.params;
    nc.macs = count_macs(n, seen);
    if (nc.macs > 0) {
      nc.integer = computes_in_integers(n, g);
      ++totals.weighted_layers;
      totals.integer_layers += nc.integer;
    }
    ++totals.runtime_nodes;
    ++totals.op_histogram[nc.op];
    totals.params += nc.params;
    totals.macs += nc.macs;
    totals.fp32_bytes += nc.fp32_bytes;
    totals.int8_bytes += nc.int8_bytes;
    cost.nodes.push_back(std::move(nc));
  }

  // Live ranges of the runtime values. release[s + 1] is what dies after step s (step -1: the
  // start, for graph inputs nobody reads).
  const int steps = static_cast<int>(g.nodes.size());
  std::map<std::string, int> last_use;
  for (int i = 0; i < steps; ++i)
    for (const std::string& in : values_read(g.nodes[i])) last_use[in] = i;
  for (const ValueInfo& out : g.outputs) last_use[out.name] = steps;
  int64_t live_bytes = 0, live_elems = 0;
  std::vector<std::pair<int64_t, int64_t>> release(steps + 2);
  auto produce = [&](const std::string& v, int step) {
    const Observed* o = observed(v);
    if (!o || constants.count(v)) return;
    live_bytes += o->bytes;
    live_elems += o->elems;
    auto it = last_use.find(v);
    int end = std::max(step, it == last_use.end() ? step : it->second);
    release[end + 1].first += o->bytes;
    release[end + 1].second += o->elems;
  };
  for (const ValueInfo* in : g.runtime_inputs()) produce(in->name, -1);
  totals.peak_activation_bytes = live_bytes;
  totals.peak_activation_elems = live_elems;
  live_bytes -= release[0].first;
  live_elems -= release[0].second;
  for (int i = 0; i < steps; ++i) {
    for (const std::string& out : g.nodes[i].outputs)
      if (!out.empty()) produce(out, i);
    totals.peak_activation_bytes = std::max(totals.peak_activation_bytes, live_bytes);
    totals.peak_activation_elems = std::max(totals.peak_activation_elems, live_elems);
    live_bytes -= release[i + 1].first;
    live_elems -= release[i + 1].second;
  }
  return cost;
}

const char* to_string(Precision p) { return p == Precision::Int8 ? "int8" : p == Precision::Fp16 ? "fp16" : "fp32"; }

Precision parse_precision(const std::string& s) {
  if (s == "int8") return Precision::Int8;
  if (s == "fp16") return Precision::Fp16;
  if (s == "fp32") return Precision::Fp32;
  throw InputError(fmt::format("unknown precision '{}' (use int8, fp16 or fp32)", s));
}

CostEstimate estimate_cost(const ModelCost& cost, const TargetProfile& target, const EstimateOptions& options) {
  if (!(options.efficiency > 0 && options.efficiency <= 1))
    throw InputError(fmt::format("efficiency {} is not in (0, 1]", options.efficiency));
  CostEstimate e;
  e.target = target.id;
  e.precision = options.precision;
  e.efficiency = options.efficiency;
  e.bandwidth_gbps = target.bandwidth_gbps.value;
  e.bandwidth_confidence = target.bandwidth_gbps.confidence;
  const bool int8 = options.precision == Precision::Int8, fp16 = options.precision == Precision::Fp16;
  const bool fp16_native =
      std::find(target.precisions.begin(), target.precisions.end(), "fp16") != target.precisions.end();
  double int8_rate = target.dense_int8_tops(&e.tops_confidence);
  std::string int8_figure = fmt::format("int8 {}", to_string(target.int8_kind));
  if (target.int8_dense_tops) int8_figure = "int8 dense";
  else if (target.int8_kind == TopsKind::Sparse) int8_figure = "int8 sparse / 2";
  if (int8) {
    e.tops = int8_rate;
    e.tops_figure = int8_figure;
  } else if (fp16 && fp16_native && target.fp16_tops) {
    e.tops = target.fp16_tops->value;
    e.tops_figure = "fp16";
    e.tops_confidence = target.fp16_tops->confidence;
  } else if (fp16 && fp16_native) {
    e.tops = int8_rate / 2;
    e.tops_figure = int8_figure + " / 2";
    e.tops_confidence = "derived";
  } else if (target.fp32_tops) {
    e.tops = target.fp32_tops->value;
    e.tops_figure = "fp32";
    e.tops_confidence = target.fp32_tops->confidence;
  } else {
    e.tops = int8_rate / 4;
    e.tops_figure = int8_figure + " / 4";
    e.tops_confidence = "derived";
  }

  // FP16 stores every weight and activation in half the FP32 bytes (also where the target
  // computes it at the FP32 rate: the file and the traffic are what the artifact holds).
  const int64_t act_bytes = int8 ? 1 : fp16 ? 2 : 4;
  auto node_weight_bytes = [&](const NodeCost& n) { return int8 ? n.int8_bytes : fp16 ? n.fp32_bytes / 2 : n.fp32_bytes; };
  const double ops_per_s = e.tops * 1e12 * e.efficiency;
  const double bytes_per_s = e.bandwidth_gbps * 1e9;
  double compute_bound_s = 0, memory_bound_s = 0;
  for (const NodeCost& n : cost.nodes) {
    if (n.constant) continue;
    double compute = 2.0 * static_cast<double>(n.macs) / ops_per_s;
    double memory =
        static_cast<double>(node_weight_bytes(n) + n.activation_elems * act_bytes) / bytes_per_s;
    e.compute_ms += compute * 1e3;
    e.memory_ms += memory * 1e3;
    (compute >= memory ? compute_bound_s : memory_bound_s) += std::max(compute, memory);
  }
  // Every node pays the runtime's fixed dispatch cost whatever its size; it is not a rate, so
  // it is added after the max() and does not decide the binding resource.
  const double overhead_s = target.node_overhead_us ? target.node_overhead_us->value * 1e-6 : 0.0;
  e.overhead_ms = overhead_s * cost.totals.runtime_nodes * 1e3;
  e.latency_ms = (compute_bound_s + memory_bound_s) * 1e3 + e.overhead_ms;
  e.bound = compute_bound_s > memory_bound_s ? "compute" : "bandwidth";
  e.weight_bytes = int8 ? cost.totals.int8_bytes : fp16 ? cost.totals.fp32_bytes / 2 : cost.totals.fp32_bytes;
  e.max_inferences_per_s = e.weight_bytes > 0 ? bytes_per_s / static_cast<double>(e.weight_bytes) : 0;
  e.peak_activation_bytes = cost.totals.peak_activation_elems * act_bytes;
  e.memory_bytes = e.weight_bytes + e.peak_activation_bytes;
  e.ram_bytes = static_cast<int64_t>(target.ram_mb.value * 1024 * 1024);
  e.fits = e.memory_bytes <= e.ram_bytes;
  return e;
}

void to_json(nlohmann::json& j, const NodeCost& n) {
  j = {{"name", n.name},
       {"op", n.op},
       {"constant", n.constant},
       {"params", n.params},
       {"macs", n.macs},
       {"fp32_bytes", n.fp32_bytes},
       {"int8_bytes", n.int8_bytes},
       {"activation_elems", n.activation_elems},
       {"integer", n.integer},
       {"output_shapes", n.output_shapes}};
}

void to_json(nlohmann::json& j, const CostTotals& t) {
  j = {{"params", t.params},
       {"macs", t.macs},
       {"fp32_bytes", t.fp32_bytes},
       {"int8_bytes", t.int8_bytes},
       {"peak_activation_bytes", t.peak_activation_bytes},
       {"peak_activation_elems", t.peak_activation_elems},
       {"stored_weight_bytes", t.stored_weight_bytes},
       {"weighted_layers", t.weighted_layers},
       {"integer_layers", t.integer_layers},
       {"runtime_nodes", t.runtime_nodes},
       {"constant_nodes", t.constant_nodes},
       {"op_histogram", t.op_histogram}};
}

void to_json(nlohmann::json& j, const CostEstimate& e) {
  j = {{"target", e.target},
       {"precision", to_string(e.precision)},
       {"tops", e.tops},
       {"tops_figure", e.tops_figure},
       {"tops_confidence", e.tops_confidence},
       {"bandwidth_gbps", e.bandwidth_gbps},
       {"bandwidth_confidence", e.bandwidth_confidence},
       {"efficiency", e.efficiency},
       {"latency_ms", e.latency_ms},
       {"compute_ms", e.compute_ms},
       {"memory_ms", e.memory_ms},
       {"overhead_ms", e.overhead_ms},
       {"bound", e.bound},
       {"max_inferences_per_s", e.max_inferences_per_s},
       {"weight_bytes", e.weight_bytes},
       {"peak_activation_bytes", e.peak_activation_bytes},
       {"memory_bytes", e.memory_bytes},
       {"ram_bytes", e.ram_bytes},
       {"fits", e.fits}};
}

}  // namespace edgepack
