#include "quantize/quantize_pass.h"

#include <chrono>
#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <set>

#include "core/error.h"
#include "core/executor.h"
#include "passes/fold_bn.h"
#include "passes/fold_constants.h"
#include "quantize/calibration.h"
#include "quantize/dequantize.h"
#include "quantize/equalize.h"
#include "quantize/sensitivity.h"
#include "core/dataset.h"

namespace edgepack {

namespace {

struct Target {
  size_t node;            // index in the graph after folding
  int64_t channel_axis;   // output-channel axis of the weight
};

struct QParams {
  float scale;
  int64_t zero_point;
};

QParams activation_qparams(std::pair<float, float> r, bool uint8) {
  if (uint8) {
    float scale = (r.second - r.first) / 255.0f;
    int64_t zp = std::clamp<int64_t>(std::llround(-r.first / scale), 0, 255);
    return {scale, zp};
  }
  return {std::max(std::abs(r.first), std::abs(r.second)) / 127.0f, 0};
}

// Output-channel axis of the weight, or -1 when the node is not quantizable.
int64_t weight_axis(const Node& n, const Graph& g) {
  if (n.inputs.size() < 2 || !g.is_initializer(n.inputs[1])) return -1;
  const at::Tensor& w = g.initializers.at(n.inputs[1]);
  if (w.scalar_type() != at::kFloat) return -1;
  if (n.op_type == "Conv") return 0;
  // ConvTranspose's weight is [C_in, C_out/group, k...]: output channels run along axis 1.
  if (n.op_type == "ConvTranspose" && w.dim() >= 3) return 1;
  if (n.op_type == "Gemm" && !n.attr_int("transA", 0) && w.dim() == 2) return n.attr_int("transB", 0) ? 0 : 1;
  if (n.op_type == "MatMul" && w.dim() == 2) return 1;
  return -1;
}

// The node's output channels (its bias's length). A grouped ConvTranspose has group * C_out/group
// of them while its weight's axis 1 holds C_out/group: such a weight gets one scale per tensor.
int64_t output_channels(const Node& n, const at::Tensor& w, int64_t axis) {
  return w.size(axis) * (n.op_type == "ConvTranspose" ? n.attr_int("group", 1) : 1);
}

std::map<std::string, int> count_uses(const Graph& g) {
  std::map<std::string, int> uses;
  for (const Node& n : g.nodes)
    for (const auto& in : values_read(n)) ++uses[in];   // reads inside If/Loop/Scan bodies count too
  for (const auto& o : g.outputs) ++uses[o.name];
  return uses;
}

Node make_node(const std::string& op, const std::string& name, std::vector<std::string> in, std::string out) {
  Node n;
  n.op_type = op;
  n.name = name;
  n.inputs = std::move(in);
  n.outputs = {std::move(out)};
  return n;
}

// NaN/Inf in a weight or bias would become a NaN scale (max|w| / 127) and an undefined cast to
// int8/int32; refuse the model instead of writing garbage.
void require_finite(const at::Tensor& t, const std::string& what) {
  if (!at::isfinite(t).all().item<bool>())
    throw InputError(fmt::format("{} holds NaN or Inf; quantization needs finite weights (check the model)", what));
}

}  // namespace

std::vector<std::string> quantizable_nodes(const Model& model) {
  Model folded = model;
  fold_constants(folded);
  std::vector<std::string> names;
  for (const Node& n : folded.graph.nodes)
    if (weight_axis(n, folded.graph) >= 0 && !folded.graph.is_initializer(n.inputs[0])) names.push_back(n.name);
  return names;
}

const OptionTable<QuantizeSettings>& quantize_options() {
  using S = QuantizeSettings;
  static const OptionTable<S> table =
      OptionTable<S>()
          .choice("calib", &S::calib, {"minmax", "percentile", "entropy", "mse"}, "Activation range calibration")
          .real("percentile", &S::percentile, "Percentile of |x| kept by calib=percentile", Range::left_open(0, 100))
          .flag("per-channel", &S::per_channel, "Per-output-channel weight scales (else per tensor)")
          .choice("activations", &S::activations, {"uint8", "int8"}, "Activation type: uint8 asymmetric or int8 symmetric")
          .list("exclude", &S::exclude, "Node names or op types kept in FP32, joined by '+'")
          .flag("bias-correction", &S::bias_correction, "Correct the per-channel output mean shift after rounding")
          .flag("equalize", &S::equalize, "Cross-layer equalization of Conv-Relu-Conv pairs first (helps per-tensor weights)")
          .flag("sensitivity", &S::sensitivity, "Quantize one layer at a time and report what each loses on the evaluation data")
          .optional_real("max-accuracy-drop", &S::max_accuracy_drop,
                         "Mixed precision: keep the most sensitive layers in FP32 until INT8 loses at most this many accuracy "
                         "points (top-1 agreement points without labels) on the evaluation data",
                         Range::closed(0, 100))
          .optional_real("min-sqnr", &S::min_sqnr,
                         "Mixed precision without labels: keep the most sensitive layers in FP32 until output 0's SQNR "
                         "against FP32 on the evaluation data is at least this many dB",
                         Range::closed(-200, 200))
          .choice("metric", &S::metric, {"auto", "top1", "token", "sqnr", "cosine"},
                  "What sensitivity measures against FP32: top1 (accuracy points, top-1 agreement without labels), "
                  "token (per-token accuracy), sqnr (dB, the least faithful output), cosine (points of 1 - cosine); "
                  "auto: top1/token with labels, else sqnr (top1 agreement for max-accuracy-drop)");
  return table;
}

namespace {

PassResult quantize_with_budget(Model& model, const QuantizeSettings& settings, PassContext& context);

PassResult quantize_pass(Model& model, const QuantizeSettings& settings, PassContext& context) {
  const bool requantized = dequantize_for_requantization(model, context);
  PassResult result = quantize_with_budget(model, settings, context);
  if (requantized) result.stats["requantized"] = 1;
  return result;
}

PassResult quantize_with_budget(Model& model, const QuantizeSettings& settings, PassContext& context) {
  if (!settings.sensitivity && !settings.max_accuracy_drop && !settings.min_sqnr) return quantize_int8(model, settings, context);
  if (settings.max_accuracy_drop && settings.min_sqnr) throw InputError("give one budget: max-accuracy-drop or min-sqnr");
  const Dataset* eval = context.quality_data();
  if (!eval)
    throw InputError("sensitivity, max-accuracy-drop and min-sqnr need evaluation data (--eval-data, or --data) to measure on");
  if (settings.min_sqnr && settings.metric != "auto" && settings.metric != "sqnr")
    throw InputError(fmt::format("min-sqnr is in dB: it measures with metric=sqnr, not {}", settings.metric));
  if (settings.max_accuracy_drop && settings.metric == "sqnr")
    throw InputError("max-accuracy-drop is in accuracy points: use min-sqnr with metric=sqnr");
  const Metric metric = settings.min_sqnr ? Metric::Sqnr
                        : settings.metric == "auto" ? default_metric(*eval, settings.max_accuracy_drop.has_value())
                                                    : parse_metric(settings.metric);
  const bool sqnr = metric == Metric::Sqnr;
  const double budget = settings.max_accuracy_drop ? *settings.max_accuracy_drop / 100 : settings.min_sqnr ? -*settings.min_sqnr : -1;
  const bool has_budget = settings.max_accuracy_drop || settings.min_sqnr;
  const SensitivityReport r = quantization_sensitivity(model, *eval, settings, context,
                                                       has_budget ? std::optional<double>(budget) : std::nullopt, metric);
  QuantizeSettings mixed = settings;
  mixed.exclude.insert(mixed.exclude.end(), r.kept_fp32.begin(), r.kept_fp32.end());
  PassResult result = quantize_int8(model, mixed, context);
  result.details["sensitivity"] = to_json(r);
  result.stats["kept_fp32_layers"] = static_cast<double>(r.kept_fp32.size());
  if (has_budget && r.final_loss > budget && context.log)
    context.log(sqnr ? fmt::format("warning: even with every layer kept in FP32 the SQNR is {:.2f} dB", -r.final_loss)
                     : fmt::format("warning: even with every layer kept in FP32 the loss is {:.2f} points", 100 * r.final_loss));
  return result;
}

}  // namespace

PassInfo quantize_info() {
  return make_pass(
      "quantize", "FP32 -> INT8 post-training quantization (calibrated, per-channel weights) to QDQ ONNX",
      "Conv, Gemm and MatMul with constant weights get int8 weights (symmetric, per output channel) and quantized "
      "activations around them (uint8 asymmetric or int8 symmetric per tensor, ranges calibrated on the calibration "
      "data: minmax, percentile, entropy or mse), an int32 bias with scale s_x * s_w, and empirical bias correction. "
      "With sensitivity or max-accuracy-drop, each layer is measured in INT8 alone on the evaluation data and the most "
      "sensitive are kept in FP32 until the budget is met.",
      quantize_options(), &quantize_pass, {"fold-constants", "fold-bn"});
}

PassResult quantize_int8(Model& model, const QuantizeSettings& options, PassContext& context) {
  if (context.calibration.empty())
    throw InputError("quantize needs calibration data (give --data with samples of the model's inputs)");
  const CalibMethod method = parse_calib_method(options.calib);
  // Callers that skip the pass entry (the planner, sensitivity) get the same float equivalent.
  dequantize_for_requantization(model, context);
  const double percentile = options.percentile;
  // QuantizeLinear/DequantizeLinear exist from opset 10, per-axis scales from 13. A model the
  // importer could not lift to 13 is quantized at its own opset: per tensor, said once.
  if (model.opset() < 10)
    throw InputError(fmt::format("quantize needs opset 10 or newer (QuantizeLinear); the model has opset {}, and ONNX's version "
                                 "converter could not lift it (re-export it at opset 13 or newer)", model.opset()));
  const bool per_axis = model.opset() >= 13;
  const bool per_channel = options.per_channel && per_axis;
  if (options.per_channel && !per_axis && context.log)
    context.log(fmt::format("warning: opset {} has no per-axis DequantizeLinear (opset 13); weights are quantized per tensor",
                            model.opset()));
  const bool uint8 = options.activations == "uint8";
  const bool bias_correction = options.bias_correction;
  check_exclude(model, options.exclude);
  const std::set<std::string> excluded(options.exclude.begin(), options.exclude.end());

  PassResult result;
  if (options.equalize) result.stats["equalized_pairs"] = equalize_cross_layer(model);
  Graph& g = model.graph;

  // 1. Targets and the activation tensors around them.
  std::vector<Target> targets;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    if (excluded.count(n.name) || excluded.count(n.op_type) || g.is_initializer(n.inputs[0])) continue;
    int64_t axis = weight_axis(n, g);
    if (axis >= 0) targets.push_back({i, axis});
  }
  // Before calibration, which would otherwise report the NaN it computes from them.
  for (const Target& t : targets) {
    const Node& n = g.nodes[t.node];
    for (size_t k = 1; k < std::min<size_t>(n.inputs.size(), 3); ++k)
      if (g.is_initializer(n.inputs[k]))
        require_finite(g.initializers.at(n.inputs[k]), fmt::format("{} '{}' of {}", k == 1 ? "weight" : "bias", n.inputs[k], n.label()));
  }
  if (targets.empty()) {
    if (context.log) context.log("quantize: no Conv, Gemm or MatMul with constant weights left to quantize");
    result.stats["quantized_nodes"] = 0;
    return result;
  }
  auto uses = count_uses(g);
  std::map<std::string, int> consumer_of;   // value -> index of its only reader
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (const auto& in : g.nodes[i].inputs)
      if (uses[in] == 1) consumer_of[in] = static_cast<int>(i);
  std::vector<std::string> sites;            // activation values to quantize, in first-seen order
  std::set<std::string> site_set;
  auto add_site = [&](const std::string& v) {
    if (!v.empty() && !g.is_initializer(v) && site_set.insert(v).second) sites.push_back(v);
  };
  for (const Target& t : targets) {
    const Node& n = g.nodes[t.node];
    add_site(n.inputs[0]);
    std::string out = n.outputs[0];
    auto c = consumer_of.find(out);
    // Relu/Clip after the op run in the integer domain: quantize after them.
    if (c != consumer_of.end() && (g.nodes[c->second].op_type == "Relu" || g.nodes[c->second].op_type == "Clip"))
      out = g.nodes[c->second].outputs[0];
    add_site(out);
  }

  // 2. Calibration: one pass over the data (min/max and histograms together, calibration.h).
  std::map<std::string, RangeObserver> observers;
  for (const auto& s : sites) observers[s];
  {
    Executor exec(model);
    const bool minmax_only = method == CalibMethod::MinMax;
    exec.set_observer([&](const std::string& name, const at::Tensor& t) {
      auto it = observers.find(name);
      if (it != observers.end()) it->second.observe(t, name, minmax_only);
    });
    const int64_t total = static_cast<int64_t>(context.calibration.size());
    int64_t done = 0, samples = 0;
    const auto start = std::chrono::steady_clock::now();
    auto calibrate = [&](const Feeds& b) {
      exec.run(b);
      samples += b.empty() || b.begin()->second.dim() == 0 ? 1 : b.begin()->second.size(0);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      context.report_progress("calibration", ++done, total, s > 0 ? fmt::format("{:.1f} samples/s", samples / s) : "");
    };
    for (const auto& b : context.calibration) calibrate(b);
  }
  std::map<std::string, std::pair<float, float>> ranges;
  std::set<std::string> graph_outputs;
  for (const ValueInfo& out : g.outputs) graph_outputs.insert(out.name);
  for (const auto& s : sites) {
    const RangeObserver& o = observers.at(s);
    if (!o.seen()) throw Error(fmt::format("value '{}' was never computed during calibration", s));
    // A graph output (logits, a map) is what the user reads and no layer follows it: its range
    // is the calibration's min/max doubled. Held-out inputs exceed the calibration extremes,
    // and a clipped logit costs far more than the one bit of rounding the headroom takes (MNIST
    // teacher on its test set: 20.0 dB SQNR with the calibrated range, 33.4 dB doubled).
    const bool output = graph_outputs.count(s) != 0;
    ranges[s] = o.range(output ? CalibMethod::MinMax : method, percentile, uint8 && o.non_negative() ? 255 : 127);
    if (output) ranges[s] = {2 * ranges[s].first, 2 * ranges[s].second};
  }
  // Concat inputs and the operands of a residual Add share one scale: integer runtimes then
  // concatenate or add without requantizing (QNN and TensorRT require it). Union-find over
  // sites; each group takes the union of its members' ranges.
  std::map<std::string, std::string> parent;
  std::function<std::string(const std::string&)> root = [&](const std::string& v) {
    auto it = parent.find(v);
    return it == parent.end() || it->second == v ? v : (it->second = root(it->second));
  };
  int shared_groups = 0;
  for (const Node& n : g.nodes) {
    if (n.op_type != "Concat" && n.op_type != "Add" && n.op_type != "Sum") continue;
    std::vector<std::string> members;
    for (const auto& in : n.inputs)
      if (site_set.count(in)) members.push_back(in);
    if (members.size() < 2 || members.size() != n.inputs.size()) continue;
    for (size_t k = 1; k < members.size(); ++k) {
      std::string a = root(members[0]), b = root(members[k]);
      if (a != b) parent[b] = a;
    }
    ++shared_groups;
  }
  std::map<std::string, std::pair<float, float>> group_range;
  for (const auto& s : sites) {
    auto& r = group_range.try_emplace(root(s), ranges.at(s)).first->second;
    r = {std::min(r.first, ranges.at(s).first), std::max(r.second, ranges.at(s).second)};
  }
  std::map<std::string, QParams> qparams;
  for (const auto& s : sites) qparams[s] = activation_qparams(group_range.at(root(s)), uint8);
  result.stats["shared_scale_groups"] = shared_groups;

  const Model fp32 = model;   // tensors are shared, not copied: the rewrite only adds new ones

  // 3. Rewrite: QDQ pairs after each site's producer; weights and biases as int8/int32 + DQ.
  const at::ScalarType act_type = uint8 ? at::kByte : at::kChar;
  std::map<std::string, std::string> renamed;   // site -> its dequantized value
  std::vector<Node> nodes;
  std::vector<std::string> scales;   // every scale initializer written, for the final check
  auto emit_qdq = [&](const std::string& v) {
    const QParams& q = qparams.at(v);
    scales.push_back(v + "_scale");
    g.initializers[v + "_scale"] = at::scalar_tensor(q.scale, at::kFloat);
    g.initializers[v + "_zero_point"] = at::scalar_tensor(q.zero_point, act_type);
    nodes.push_back(make_node("QuantizeLinear", v + "_QuantizeLinear", {v, v + "_scale", v + "_zero_point"}, v + "_quantized"));
    nodes.push_back(make_node("DequantizeLinear", v + "_DequantizeLinear", {v + "_quantized", v + "_scale", v + "_zero_point"},
                              v + "_dequantized"));
    renamed[v] = v + "_dequantized";
  };
  std::map<size_t, int64_t> channel_axis;
  for (const Target& t : targets) channel_axis[t.node] = t.channel_axis;
  for (const ValueInfo& in : g.inputs)
    if (site_set.count(in.name)) emit_qdq(in.name);
  int64_t weight_bytes_before = 0, weight_bytes_after = 0;
  std::vector<std::pair<std::string, std::string>> biases;   // (float bias initializer, int32 initializer)
  // Initializers read by several nodes (a TorchScript module's equal constants are one tensor; the
  // layers of nn.TransformerEncoder start as copies). A shared weight quantizes to the same int8
  // tensor for every reader, so it gets one DequantizeLinear; a bias's scale is s_x * s_w of its
  // own node, so a shared one gets a copy per node (the original stays for its other readers).
  std::map<std::string, int> readers;
  for (const Node& n : g.nodes)
    for (const auto& in : n.inputs) ++readers[in];
  std::set<std::string> dequantized_weights;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node n = g.nodes[i];
    for (auto& in : n.inputs) {
      auto r = renamed.find(in);
      if (r != renamed.end()) in = r->second;
    }
    auto ca = channel_axis.find(i);
    if (ca != channel_axis.end()) {
      const std::string w = n.inputs[1];
      at::Tensor weight = g.initializers.at(w);
      const int64_t axis = ca->second, channels = output_channels(n, weight, axis);
      const bool node_per_channel = per_channel && channels == weight.size(axis);
      const int64_t scale_axis = node_per_channel ? axis : -1;
      at::Tensor ws = symmetric_weight_scales(weight, scale_axis);
      if (dequantized_weights.insert(w).second) {
        scales.push_back(w + "_scale");
        std::vector<int64_t> shape(weight.dim(), 1);
        if (node_per_channel) shape[scale_axis] = -1;
        at::Tensor wq = at::clamp(at::round(weight / ws.reshape(shape)), -127, 127).to(at::kChar);
        weight_bytes_before += weight.numel() * 4;
        weight_bytes_after += wq.numel();
        g.initializers[w + "_quantized"] = wq;
        g.initializers[w + "_scale"] = node_per_channel ? ws : ws.reshape({});
        g.initializers[w + "_zero_point"] = node_per_channel ? at::zeros({channels}, at::kChar) : at::zeros({}, at::kChar);
        Node dq = make_node("DequantizeLinear", w + "_DequantizeLinear", {w + "_quantized", w + "_scale", w + "_zero_point"},
                            w + "_dequantized");
        if (node_per_channel) dq.attrs["axis"] = Attribute::of_int(scale_axis);
        nodes.push_back(dq);
      }
      n.inputs[1] = w + "_dequantized";
      // Bias: int32 with scale s_x * s_w, so integer kernels add it to the accumulator as is.
      const bool has_bias = n.op_type != "MatMul" && n.inputs.size() > 2 && g.is_initializer(n.inputs[2]) &&
                            g.initializers.at(n.inputs[2]).dim() == 1;
      if (n.op_type != "MatMul" && (has_bias || (bias_correction && n.inputs.size() <= 2))) {
        std::string b = has_bias ? n.inputs[2] : n.name + "_bias";
        if (has_bias && readers.at(b) > 1) {
          const std::string own = (n.name.empty() ? n.outputs[0] : n.name) + "_bias";
          g.initializers[own] = g.initializers.at(b);
          b = own;
        }
        scales.push_back(b + "_scale");
        if (!has_bias) g.initializers[b] = at::zeros({channels}, at::kFloat);
        const QParams& xq = qparams.at(g.nodes[i].inputs[0]);
        // Per channel along axis 0 where the opset has per-axis scales; one scale before 13.
        g.initializers[b + "_scale"] = per_axis ? (ws * xq.scale).expand({channels}).contiguous() : (ws * xq.scale).reshape({});
        g.initializers[b + "_zero_point"] = per_axis ? at::zeros({channels}, at::kInt) : at::zeros({}, at::kInt);
        Node bdq = make_node("DequantizeLinear", b + "_DequantizeLinear", {b + "_quantized", b + "_scale", b + "_zero_point"},
                             b + "_dequantized");
        if (per_axis) bdq.attrs["axis"] = Attribute::of_int(0);
        nodes.push_back(bdq);
        n.inputs.resize(3);
        n.inputs[2] = b + "_dequantized";
        biases.emplace_back(b, n.outputs[0]);
      }
    }
    nodes.push_back(n);
    for (const auto& out : n.outputs)
      if (site_set.count(out)) emit_qdq(out);
  }
  // Graph outputs keep their names (a site among them is rewired below).
  g.nodes = std::move(nodes);

  auto quantize_biases = [&] {
    for (const auto& [b, _] : biases) {
      const at::Tensor& scale = g.initializers.at(b + "_scale");
      g.initializers[b + "_quantized"] =
          at::clamp(at::round(g.initializers.at(b) / scale), INT32_MIN, INT32_MAX).to(at::kInt);
    }
  };
  quantize_biases();

  // 4. Bias correction: each layer's own weight rounding shifts its output mean by
  // E[op(x_q, W - W_q)] per channel, on the inputs x_q the quantized model gives it; that mean
  // goes into the bias. Measured layer by layer on the same inputs, corrections do not compound:
  // comparing whole-model output means instead (FP32 run vs INT8 run) charges every layer with
  // the error of all layers before it, and correcting all at once overshoots (MobileNetV3-small:
  // 6.7 dB without correction, 0.5 dB with it).
  if (bias_correction && !biases.empty()) {
    std::map<std::string, size_t> by_output;      // node output -> index in biases
    for (size_t k = 0; k < biases.size(); ++k) by_output[biases[k].second] = k;
    std::map<std::string, at::Tensor> float_weight;   // by output: the FP32 weight of that node
    std::map<std::string, at::Tensor> rounding;       // by output: W - W_q, from the first batch on
    for (const Node& n : fp32.graph.nodes)
      if (!n.outputs.empty() && by_output.count(n.outputs[0]) && n.inputs.size() > 1 && fp32.graph.is_initializer(n.inputs[1]))
        float_weight[n.outputs[0]] = fp32.graph.initializers.at(n.inputs[1]);
    std::vector<at::Tensor> sums(biases.size());
    std::vector<int64_t> counts(biases.size(), 0);
    const auto& table = kernels();
    Executor exec(model);
    exec.set_override([&](const Node& n, const std::vector<at::Tensor>& inputs) -> std::optional<std::vector<at::Tensor>> {
      auto k = n.outputs.empty() ? by_output.end() : by_output.find(n.outputs[0]);
      auto w = k == by_output.end() ? float_weight.end() : float_weight.find(n.outputs[0]);
      if (w == float_weight.end() || inputs.size() < 2 || !inputs[1].defined()) return std::nullopt;
      Node bare = n;
      bare.inputs.resize(2);
      at::Tensor& delta = rounding[n.outputs[0]];
      if (!delta.defined()) delta = w->second - inputs[1];
      const std::vector<at::Tensor> operands = {inputs[0], delta};
      const at::Tensor shift = table.at(n.op_type)(KernelContext{bare, operands, model.opset()}).at(0);
      if (shift.dim() < 2) return std::nullopt;
      std::vector<int64_t> dims;
      for (int64_t d = 0; d < shift.dim(); ++d)
        if (d != 1) dims.push_back(d);
      at::Tensor sum = shift.to(at::kDouble).sum(dims);
      at::Tensor& acc = sums[k->second];
      acc = acc.defined() ? acc + sum : sum;
      counts[k->second] += shift.numel() / shift.size(1);
      return std::nullopt;
    });
    const size_t runs = std::min<size_t>(context.calibration.size(), 32);
    for (size_t r = 0; r < runs; ++r) {
      exec.run(context.calibration[r]);
      context.report_progress("bias correction", static_cast<int64_t>(r + 1), static_cast<int64_t>(runs));
    }
    int corrected = 0;
    for (size_t k = 0; k < biases.size(); ++k) {
      if (!sums[k].defined() || !counts[k]) continue;
      at::Tensor& b = g.initializers.at(biases[k].first);
      if (sums[k].numel() != b.numel()) continue;
      b = b + (sums[k] / static_cast<double>(counts[k])).to(at::kFloat);
      ++corrected;
    }
    quantize_biases();
    result.stats["bias_corrected_nodes"] = corrected;
  }
  // Guarded above (finite weights, calibration refusing NaN/Inf, a minimum range width), so this
  // only fires on a range overflowing float (|x| near 3e38): never write such an artifact.
  for (const auto& name : scales) {
    const at::Tensor& sc = g.initializers.at(name);
    if (!(at::isfinite(sc).all().item<bool>() && (sc > 0).all().item<bool>()))
      throw InputError(fmt::format("quantization scale '{}' is not a positive finite number; the value range overflows float", name));
  }
  // A graph output that is a site (a classifier's logits) ends in Q -> DQ under its own name:
  // onnxruntime fuses DQ -> Gemm/Conv -> Q into an integer kernel only when the Q is there, and
  // without it re-dequantized the whole weight on every run (MobileNetV3-small's 1000x1024
  // classifier: 3.0 of 8.8 ms). The output is then rounded to 8 bits like every activation.
  for (const ValueInfo& out : g.outputs) {
    const std::string& v = out.name;
    if (!site_set.count(v) || g.producer(v) < 0) continue;
    const std::string before = v + "_float", dequantized = v + "_dequantized";
    for (Node& n : g.nodes) {
      for (std::string& o : n.outputs) {
        if (o == v) o = before;
        else if (o == dequantized) o = v;
      }
      for (std::string& in : n.inputs) {
        if (in == v) in = before;
        else if (in == dequantized) in = v;
      }
    }
  }
  // The float biases were kept only for the correction; the graph reads the int32 copies (a
  // shared original still read by another node stays).
  for (const auto& [b, _] : biases)
    if (readers.count(b) == 0 || readers.at(b) <= 1) g.initializers.erase(b);
  result.stats["removed_initializers"] = remove_unused_initializers(g);
  result.stats["quantized_nodes"] = static_cast<double>(targets.size());
  result.stats["per_channel"] = per_channel ? 1 : 0;
  result.stats["qdq_activations"] = static_cast<double>(sites.size());
  result.stats["weight_bytes_fp32"] = static_cast<double>(weight_bytes_before);
  result.stats["weight_bytes_int8"] = static_cast<double>(weight_bytes_after);
  result.changed = true;
  return result;
}

}  // namespace edgepack
