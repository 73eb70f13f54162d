#include "quantize/quantize_weights.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "core/error.h"
#include "core/executor.h"
#include "core/tensor_proto.h"
#include "passes/fold_constants.h"
#include "quantize/weight_only.h"

namespace edgepack {

const OptionTable<QuantizeWeightsOptions>& quantize_weights_options() {
  using S = QuantizeWeightsOptions;
  static const OptionTable<S> table =
      OptionTable<S>()
          .integer("bits", &S::bits, "Weight bits: 8 or 4", Range::closed(4, 8))
          .integer("group", &S::group, "Input rows per scale (32, 64, 128...; 0 = one scale per output channel)",
                   Range::at_least(0))
          .choice("method", &S::method, {"rtn", "gptq"},
                  "Rounding: round-to-nearest, or GPTQ error compensation (needs calibration data)")
          .flag("symmetric", &S::symmetric, "Symmetric weights (else an integer zero point per group)")
          .choice("format", &S::format, {"qdq", "matmulnbits"},
                  "DequantizeLinear + the float op, or onnxruntime's com.microsoft MatMulNBits (4 bits)")
          .real("damp", &S::damp, "GPTQ dampening, as a fraction of the Hessian's mean diagonal", Range::at_least(0))
          .list("exclude", &S::exclude, "Node names or op types kept in FP32, joined by '+'");
  return table;
}

PassInfo quantize_weights_info() {
  return make_pass(
      "quantize-weights", "Weight-only INT8/INT4 quantization of MatMul/Gemm weights (RTN or GPTQ), activations stay float",
      "Each constant 2-D MatMul/Gemm weight becomes int8 or int4 values with a scale per output channel or per group of "
      "input rows (opset 21 block-wise DequantizeLinear, or onnxruntime's MatMulNBits), rounded to nearest or by GPTQ "
      "(Hessian 2 X^T X / n of each layer's input on the calibration data, error compensated column by column). For "
      "models larger than memory, `edgepack quantize --weights` runs the same rewrite one weight at a time from the "
      "mapped file (streaming, chosen automatically past the memory budget).",
      quantize_weights_options(), &quantize_weights, {"fold-constants"});
}

namespace {

// The ops whose meaning changed between opset 13 and 21 in a way raise_opset does not convert,
// with the opset that changed them.
const std::map<std::string, int64_t> kChangedSemantics = {
    {"RoiAlign", 16},  // coordinate_transformation_mode's default became half_pixel
    {"GridSample", 20},  // mode names bilinear/bicubic became linear/cubic
    {"GroupNormalization", 21},  // scale and bias became per channel
    {"DFT", 20},  // axis became an input
};
const std::set<std::string> kReduceAxesToInput = {"ReduceMax", "ReduceMin", "ReduceMean", "ReduceProd",
                                                  "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp",
                                                  "ReduceSumSquare"};

void raise_graph(Graph& g, int64_t from, int64_t to) {
  for (Node& n : g.nodes) {
    for (auto& [_, a] : n.attrs)
      if (a.kind == Attribute::Kind::Graph && a.g) raise_graph(*a.g, from, to);
    if (!n.domain.empty() && n.domain != "ai.onnx") continue;
    auto changed = kChangedSemantics.find(n.op_type);
    if (changed != kChangedSemantics.end() && from < changed->second && to >= changed->second)
      throw InputError(fmt::format("{} changed meaning in opset {}; cannot raise the model from opset {} to {} "
                                   "(needed by INT4 or group-wise weights; bits=8 group=0 keeps the opset)",
                                   n.label(), changed->second, from, to));
    if (from < 18 && to >= 18 && kReduceAxesToInput.count(n.op_type) && n.has("axes")) {
      const std::string axes = (n.name.empty() ? n.outputs[0] : n.name) + "_axes";
      g.initializers[axes] = at::tensor(n.attr_ints("axes"), at::kLong);
      n.attrs.erase("axes");
      n.inputs.resize(1);
      n.inputs.push_back(axes);
    }
    // Since 18, Split needs its sizes as an input or the number of outputs.
    if (from < 18 && to >= 18 && n.op_type == "Split" && (n.inputs.size() < 2 || n.inputs[1].empty()) && !n.has("num_outputs"))
      n.attrs["num_outputs"] = Attribute::of_int(static_cast<int64_t>(n.outputs.size()));
  }
}

ValueInfo typed_value(const std::string& name, int32_t elem_type, at::IntArrayRef dims) {
  ValueInfo v{name, elem_type, std::vector<Dim>{}};
  for (int64_t d : dims) v.shape->push_back(Dim{d, ""});
  return v;
}

// ||X (W - W_q)||^2 / n up to the factor 2 of H: tr(D^T H D).
double hessian_error(const at::Tensor& w_kn, const QuantizedWeight& q, const at::Tensor& h) {
  at::Tensor d = (w_kn - q.dequantize()).to(at::kDouble);
  return (d * h.matmul(d)).sum().item<double>();
}

}  // namespace

void raise_opset(Model& model, int64_t opset) {
  const int64_t from = model.opset();
  if (from >= opset) return;
  raise_graph(model.graph, from, opset);
  model.opsets[""] = opset;
  // IR 10 came with opset 21 (ONNX 1.16); onnxruntime refuses INT4 in older IR versions.
  if (opset >= 21) model.ir_version = std::max<int64_t>(model.ir_version, 10);
}

WeightOnlySettings weight_only_settings(const QuantizeWeightsOptions& options) {
  WeightOnlySettings s;
  s.spec.bits = static_cast<int>(options.bits);
  s.spec.group_size = options.group;
  s.spec.symmetric = options.symmetric;
  s.gptq = options.method == "gptq";
  s.matmulnbits = options.format == "matmulnbits";
  s.gptq_options.damp = options.damp;
  if (!(s.gptq_options.damp >= 0)) throw InputError("damp must be >= 0");
  s.spec.check(s.spec.group_size > 0 ? s.spec.group_size : 1, "the model");
  const WeightQuantSpec& spec = s.spec;
  if (s.matmulnbits && (spec.bits != 4 || spec.group_size < 16 || (spec.group_size & (spec.group_size - 1)) || !spec.symmetric))
    throw InputError("format=matmulnbits needs bits=4, symmetric weights and a group of 16 or more that is a power of two");
  s.exclude.insert(options.exclude.begin(), options.exclude.end());
  return s;
}

std::optional<WeightTarget> weight_target(const Graph& g, const Node& n) {
  if (n.op_type != "MatMul" && n.op_type != "Gemm") return std::nullopt;
  if (!n.domain.empty() && n.domain != "ai.onnx") return std::nullopt;
  if (n.inputs.size() < 2 || g.is_initializer(n.inputs[0]) || !g.is_initializer(n.inputs[1])) return std::nullopt;
  const at::Tensor& w = g.initializers.at(n.inputs[1]);
  if (w.scalar_type() != at::kFloat || w.dim() != 2) return std::nullopt;
  if (n.op_type == "Gemm" && n.attr_int("transA", 0)) return std::nullopt;
  return WeightTarget{n.inputs[1], n.op_type == "Gemm" && n.attr_int("transB", 0) != 0, {n.inputs[0]}, n.label()};
}

std::vector<WeightTarget> weight_targets(const Graph& g, const WeightOnlySettings& settings) {
  std::vector<WeightTarget> targets;
  std::map<std::string, size_t> index;   // weight -> its target
  for (const Node& n : g.nodes) {
    if (settings.excludes(n)) continue;
    auto t = weight_target(g, n);
    if (!t) continue;
    const at::Tensor& w = g.initializers.at(t->weight);
    settings.spec.check(w.size(t->transposed ? 1 : 0), fmt::format("weight '{}' of {}", t->weight, n.label()));
    if (settings.matmulnbits && n.op_type == "Gemm" &&
        (n.attr_float("alpha", 1) != 1 || n.attr_float("beta", 1) != 1 ||
         (n.inputs.size() > 2 && !n.inputs[2].empty() &&
          (!g.is_initializer(n.inputs[2]) || g.initializers.at(n.inputs[2]).dim() != 1))))
      throw InputError(fmt::format("{}: format=matmulnbits takes Gemm with alpha=beta=1 and a 1-D bias only", n.label()));
    auto [it, first] = index.emplace(t->weight, targets.size());
    if (first) {
      targets.push_back(std::move(*t));
      continue;
    }
    // Weights shared by several readers (tied projections) are quantized once.
    WeightTarget& shared = targets[it->second];
    if (shared.transposed != t->transposed)
      throw InputError(fmt::format("weight '{}' is read both transposed and not; quantize-weights cannot share it", t->weight));
    shared.inputs.push_back(t->inputs[0]);
  }
  return targets;
}

at::Tensor weight_in_by_out(const Graph& g, const WeightTarget& target) {
  const at::Tensor& w = g.initializers.at(target.weight);
  if (!at::isfinite(w).all().item<bool>())
    throw InputError(fmt::format("weight '{}' of {} holds NaN or Inf; quantization needs finite weights", target.weight,
                                 target.reader));
  return target.transposed ? w.t() : w;
}

std::vector<std::string> rewrite_quantized_weight(Graph& g, const WeightTarget& target, const QuantizedWeight& q,
                                                  const WeightOnlySettings& settings) {
  const std::string& name = target.weight;
  const WeightQuantSpec& spec = settings.spec;
  const bool transposed = target.transposed;
  const int64_t k = q.values.size(0), n = q.values.size(1);
  std::vector<size_t> readers;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& node = g.nodes[i];
    if (node.inputs.size() > 1 && node.inputs[1] == name && !settings.excludes(node) && weight_target(g, node)) readers.push_back(i);
  }
  if (readers.empty()) throw Error(fmt::format("quantize-weights: nothing reads weight '{}' as a MatMul/Gemm weight", name));
  std::vector<std::string> added;
  auto add = [&](const std::string& init, at::Tensor t) {
    g.initializers[init] = std::move(t);
    added.push_back(init);
  };
  if (settings.matmulnbits) {
    // MatMulNBits: B [N, K/block, block/2] of unsigned 4-bit values (zero point 8), scales [N * K/block].
    const int64_t blocks = k / spec.group_size;
    at::Tensor unsigned_nk = (q.values.t() + 8).to(at::kByte).contiguous();
    add(name + "_nbits", pack_4bit(unsigned_nk).reshape({n, blocks, spec.group_size / 2}));
    add(name + "_nbits_scale", q.scales.t().contiguous().reshape({n * blocks}));
    for (size_t i : readers) {
      Node& node = g.nodes[i];
      node.domain = "com.microsoft";
      std::vector<std::string> inputs = {node.inputs[0], name + "_nbits", name + "_nbits_scale"};
      if (node.op_type == "Gemm" && node.inputs.size() > 2 && !node.inputs[2].empty())
        inputs.insert(inputs.end(), {"", "", node.inputs[2]});
      node.op_type = "MatMulNBits";
      node.inputs = inputs;
      node.attrs = {{"K", Attribute::of_int(k)}, {"N", Attribute::of_int(n)}, {"bits", Attribute::of_int(4)},
                    {"block_size", Attribute::of_int(spec.group_size)}};
    }
  } else {
    // DequantizeLinear in the weight's own layout: [K, N] (axis 1 per channel, axis 0 per block)
    // or Gemm's transposed [N, K].
    const std::string qname = name + "_quantized", sname = name + "_scale", zname = name + "_zero_point",
                      dq_out = name + "_dequantized";
    add(qname, transposed ? q.values.t().contiguous() : q.values);
    at::Tensor scales = transposed ? q.scales.t().contiguous() : q.scales;
    Node dq = make_node("DequantizeLinear", {qname, sname}, dq_out);
    dq.name = name + "_DequantizeLinear";
    if (spec.group_size == 0) {
      scales = scales.reshape({n});
      dq.attrs["axis"] = Attribute::of_int(transposed ? 0 : 1);
    } else {
      dq.attrs["axis"] = Attribute::of_int(transposed ? 1 : 0);
      dq.attrs["block_size"] = Attribute::of_int(spec.group_size);
    }
    add(sname, scales);
    if (q.zero_points.defined()) {
      at::Tensor zp = transposed ? q.zero_points.t().contiguous() : q.zero_points;
      add(zname, spec.group_size == 0 ? zp.reshape({n}) : zp);
      dq.inputs.push_back(zname);
      if (spec.bits == 4) g.value_info.push_back(typed_value(zname, kOnnxInt4, g.initializers[zname].sizes()));
    }
    if (spec.bits == 4) g.value_info.push_back(typed_value(qname, kOnnxInt4, g.initializers[qname].sizes()));
    for (size_t i : readers) g.nodes[i].inputs[1] = dq_out;
    g.nodes.insert(g.nodes.begin() + static_cast<std::ptrdiff_t>(readers.front()), std::move(dq));
  }
  // The FP32 weight goes as soon as nothing reads it (a mapped one is unmapped with it).
  bool read = false;
  for (const Node& node : g.nodes)
    read = read || std::find(node.inputs.begin(), node.inputs.end(), name) != node.inputs.end();
  for (const ValueInfo& v : g.outputs) read = read || v.name == name;
  if (!read) g.initializers.erase(name);
  return added;
}

void raise_opsets_for(Model& model, const WeightOnlySettings& settings) {
  // INT4 and block-wise scales exist from opset 21; MatMulNBits lives in com.microsoft.
  if (settings.matmulnbits) model.opsets["com.microsoft"] = std::max<int64_t>(model.opsets["com.microsoft"], 1);
  else if (settings.spec.bits == 4 || settings.spec.group_size > 0) raise_opset(model, 21);
}

PassResult quantize_weights(Model& model, const QuantizeWeightsOptions& options, PassContext& context) {
  check_exclude(model, options.exclude);
  const WeightOnlySettings settings = weight_only_settings(options);
  const WeightQuantSpec& spec = settings.spec;
  if (settings.gptq && context.calibration.empty())
    throw InputError("method=gptq needs calibration data (give --data with samples of the model's inputs)");

  PassResult result;
  Graph& g = model.graph;
  const std::vector<WeightTarget> targets = weight_targets(g, settings);
  size_t layers = 0;
  for (const WeightTarget& t : targets) layers += t.inputs.size();
  result.stats["quantized_layers"] = static_cast<double>(layers);
  if (targets.empty()) {
    if (context.log) context.log("quantize-weights: no MatMul or Gemm with a constant 2-D weight to quantize");
    return result;
  }
  raise_opsets_for(model, settings);

  // GPTQ: one Hessian per distinct layer input, from one pass of the FP32 model.
  std::map<std::string, HessianAccumulator> hessians;
  if (settings.gptq) {
    for (const WeightTarget& t : targets) {
      const at::Tensor& w = g.initializers.at(t.weight);
      for (const std::string& input : t.inputs) hessians.try_emplace(input, w.size(t.transposed ? 1 : 0));
    }
    Executor exec(model);
    exec.set_observer([&](const std::string& name, const at::Tensor& x) {
      auto it = hessians.find(name);
      if (it != hessians.end()) it->second.add(x);
    });
    int64_t done = 0;
    for (const auto& batch : context.calibration) {
      exec.run(batch);
      context.report_progress("gptq hessians", ++done, static_cast<int64_t>(context.calibration.size()));
    }
  }

  // One weight at a time: read (and checked for NaN), quantized, rewritten, its FP32 copy dropped.
  int64_t params = 0, bytes_before = 0, bytes_after = 0;
  double error = 0, error_rtn = 0;
  int64_t weights_done = 0;
  for (const WeightTarget& t : targets) {
    const at::Tensor w_kn = weight_in_by_out(g, t);
    QuantizedWeight q;
    if (settings.gptq) {
      // A weight shared by several readers (tied projections) gets the sum of their inputs' Hessians.
      at::Tensor h;
      for (const std::string& input : t.inputs) {
        at::Tensor ht = hessians.at(input).hessian();
        h = h.defined() ? h + ht : ht;
      }
      q = quantize_gptq(w_kn, h, spec, settings.gptq_options);
      error += hessian_error(w_kn, q, h);
      error_rtn += hessian_error(w_kn, quantize_rtn(w_kn, spec), h);
    } else {
      q = quantize_rtn(w_kn, spec);
    }
    context.report_progress(settings.gptq ? "gptq" : "weights", ++weights_done, static_cast<int64_t>(targets.size()), t.weight);
    params += w_kn.numel();
    bytes_before += w_kn.numel() * 4;
    bytes_after += quantized_bytes(q, spec);
    rewrite_quantized_weight(g, t, q, settings);
  }
  result.stats["removed_initializers"] = remove_unused_initializers(g);
  result.stats["params_quantized"] = static_cast<double>(params);
  result.stats["weight_bytes_fp32"] = static_cast<double>(bytes_before);
  result.stats["weight_bytes_quantized"] = static_cast<double>(bytes_after);
  result.stats["bytes_per_param"] = params ? static_cast<double>(bytes_after) / static_cast<double>(params) : 0;
  if (settings.gptq) result.stats["gptq_error_vs_rtn"] = error_rtn > 0 ? error / error_rtn : 1;
  result.changed = true;
  return result;
}

}  // namespace edgepack
