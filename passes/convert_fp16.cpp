#include "passes/convert_fp16.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <onnx/onnx_pb.h>

#include <map>
#include <set>

#include "core/error.h"
#include "passes/fold_constants.h"

namespace edgepack {

namespace {

constexpr int32_t kFloat = onnx::TensorProto::FLOAT, kFloat16 = onnx::TensorProto::FLOAT16;
constexpr double kFp16Max = 65504.0;

// Inputs whose type ONNX fixes to tensor(float) whatever the data's type.
bool float_only_input(const Node& n, size_t slot) {
  if (n.op_type == "Resize") return slot == 2;   // scales; roi (slot 1) follows the data's type
  if (n.op_type == "Upsample") return slot == 1;
  return false;
}

// Ops whose outputs are never float, for values shape inference left untyped.
bool integer_outputs(const Node& n) {
  static const std::set<std::string> ops = {"Shape", "Size", "ArgMax", "ArgMin", "NonZero", "NonMaxSuppression", "QuantizeLinear",
                                            "Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "IsNaN", "IsInf", "Not"};
  return ops.count(n.op_type) != 0;
}

// The value's element type as the graph describes it (graph input, output or value_info;
// initializers by their tensors), or 0 when unknown.
int32_t declared_type(const Graph& g, const std::string& v) {
  if (g.is_initializer(v)) return g.initializers.at(v).scalar_type() == at::kFloat ? kFloat : -1;
  const ValueInfo* info = g.find_value(v);
  return info ? info->elem_type : 0;
}

PassResult convert_fp16_pass(Model& model, const ConvertFp16Settings& settings, PassContext&) {
  const ConvertFp16Stats s = convert_fp16(model, settings);
  PassResult r;
  r.changed = s.converted_initializers > 0 || s.casts_added > 0;
  r.stats["converted_initializers"] = static_cast<double>(s.converted_initializers);
  r.stats["saturated_weights"] = static_cast<double>(s.saturated_weights);
  r.stats["casts_added"] = static_cast<double>(s.casts_added);
  r.stats["kept_fp32_nodes"] = static_cast<double>(s.kept_fp32_nodes);
  return r;
}

Node cast_node(const std::string& from, const std::string& to, int32_t type) {
  Node c = make_node("Cast", {from}, to);
  c.attrs["to"] = Attribute::of_int(type);
  return c;
}

}  // namespace

const OptionTable<ConvertFp16Settings>& convert_fp16_options() {
  using S = ConvertFp16Settings;
  static const OptionTable<S> table =
      OptionTable<S>()
          .flag("keep-io", &S::keep_io, "Keep the model's float inputs and outputs FLOAT (Cast at the edges); false declares them FLOAT16")
          .list("exclude", &S::exclude, "Node names or op types kept in FP32 (Cast around them), joined by '+'");
  return table;
}

PassInfo convert_fp16_info() {
  return make_pass("convert-fp16", "FP32 -> FP16 weights and activations, for runtimes that run half precision natively",
                   "Every FLOAT initializer becomes FLOAT16 (round to nearest even; magnitudes above 65504 saturate and are "
                   "counted), Cast(to=FLOAT) becomes Cast(to=FLOAT16), and Casts at the graph's float inputs and outputs keep "
                   "their types (keep-io). Resize/Upsample scales stay FLOAT, as ONNX requires. exclude keeps nodes in FP32 "
                   "with Casts around them. No data needed; the file and the weight traffic halve.",
                   convert_fp16_options(), &convert_fp16_pass, {"fold-constants", "fold-bn"});
}

ConvertFp16Stats convert_fp16(Model& model, const ConvertFp16Settings& settings) {
  Graph& g = model.graph;
  for (const Node& n : g.nodes)
    if (has_subgraphs(n))
      throw InputError(fmt::format("convert-fp16 does not convert If/Loop/Scan bodies ({}); keep such a model in FP32", n.label()));
  check_exclude(model, settings.exclude);
  const std::set<std::string> excluded_names(settings.exclude.begin(), settings.exclude.end());
  auto excluded = [&](const Node& n) { return excluded_names.count(n.name) || excluded_names.count(n.op_type); };
  ConvertFp16Stats stats;

  // Which values are float, before anything changes: declared types, else a node's float inputs
  // (a Cast by its `to`; ops that make integers from floats are declared by shape inference).
  std::set<std::string> is_float;
  for (const ValueInfo& v : g.inputs)
    if (v.elem_type == kFloat) is_float.insert(v.name);
  for (const auto& [name, t] : g.initializers)
    if (t.scalar_type() == at::kFloat) is_float.insert(name);
  for (const Node& n : g.nodes) {
    bool float_input = false;
    for (const std::string& in : n.inputs) float_input = float_input || is_float.count(in);
    for (const std::string& out : n.outputs) {
      if (out.empty()) continue;
      const int32_t t = declared_type(g, out);
      const bool cast_to_float = n.op_type == "Cast" && n.attr_int("to", 0) == kFloat;
      if (t == kFloat || (t == 0 && !integer_outputs(n) && (n.op_type == "Cast" ? cast_to_float : float_input)))
        is_float.insert(out);
    }
  }

  // Initializers: FLOAT16 unless only excluded nodes or float-only slots read them.
  std::map<std::string, bool> read_as_fp16;
  for (const Node& n : g.nodes)
    for (size_t k = 0; k < n.inputs.size(); ++k)
      if (g.is_initializer(n.inputs[k]) && !excluded(n) && !float_only_input(n, k)) read_as_fp16[n.inputs[k]] = true;
  std::set<std::string> float_copies_needed;   // initializers read as FLOAT16 and also as float
  for (const Node& n : g.nodes)
    for (size_t k = 0; k < n.inputs.size(); ++k)
      if (read_as_fp16.count(n.inputs[k]) && (excluded(n) || float_only_input(n, k))) float_copies_needed.insert(n.inputs[k]);
  for (auto& [name, t] : g.initializers) {
    if (t.scalar_type() != at::kFloat || !read_as_fp16.count(name)) continue;
    if (float_copies_needed.count(name)) g.initializers[name + "_fp32"] = t;   // the float readers get this copy
    stats.saturated_weights += (t.abs() > kFp16Max).sum().item<int64_t>();
    t = t.clamp(-kFp16Max, kFp16Max).to(at::kHalf);
    ++stats.converted_initializers;
  }

  // The nodes, rebuilt in order with the Casts they need.
  std::vector<Node> nodes;
  std::map<std::string, std::string> as_fp16, as_fp32;   // value -> its cast copy
  std::set<std::string> fp16_values;                     // values now FLOAT16
  for (const auto& [name, t] : g.initializers)
    if (t.scalar_type() == at::kHalf) fp16_values.insert(name);
  std::set<std::string> graph_inputs;
  for (const ValueInfo& v : g.inputs) graph_inputs.insert(v.name);
  auto add_cast = [&](const std::string& from, const std::string& to, int32_t type) {
    nodes.push_back(cast_node(from, to, type));
    ++stats.casts_added;
  };
  // Runtime float inputs: Cast once, at the top (keep-io), or declared FLOAT16.
  for (ValueInfo& v : g.inputs) {
    if (v.elem_type != kFloat || g.is_initializer(v.name)) continue;
    if (settings.keep_io) {
      as_fp16[v.name] = v.name + "_fp16";
      add_cast(v.name, v.name + "_fp16", kFloat16);
      fp16_values.insert(v.name + "_fp16");
    } else {
      v.elem_type = kFloat16;
      fp16_values.insert(v.name);
    }
  }
  auto fp32_of = [&](const std::string& v) -> std::string {
    if (!fp16_values.count(v)) return v;
    if (g.is_initializer(v) && g.initializers.count(v + "_fp32")) return v + "_fp32";
    auto it = as_fp32.find(v);
    if (it != as_fp32.end()) return it->second;
    const std::string up = v + "_fp32";
    add_cast(v, up, kFloat);
    return as_fp32[v] = up;
  };
  for (Node n : g.nodes) {
    if (excluded(n)) {
      ++stats.kept_fp32_nodes;
      for (std::string& in : n.inputs)   // a graph input kept FLOAT (keep-io) is read as it is
        if (!in.empty() && !as_fp16.count(in)) in = fp32_of(in);
      std::vector<std::pair<std::string, std::string>> down;   // (fp32 output, its name as FLOAT16)
      for (std::string& out : n.outputs)
        if (!out.empty() && is_float.count(out)) {
          down.emplace_back(out + "_fp32", out);
          out += "_fp32";
        }
      nodes.push_back(n);
      for (const auto& [from, to] : down) {
        add_cast(from, to, kFloat16);
        fp16_values.insert(to);
      }
      continue;
    }
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      std::string& in = n.inputs[k];
      if (in.empty()) continue;
      if (as_fp16.count(in)) in = as_fp16.at(in);
      if (float_only_input(n, k)) in = fp32_of(in);
    }
    if (n.op_type == "Cast" && n.attr_int("to", 0) == kFloat) n.attrs["to"] = Attribute::of_int(kFloat16);
    if (n.op_type == "ConstantOfShape" && n.attrs.count("value") && n.attrs.at("value").t.defined() &&
        n.attrs.at("value").t.scalar_type() == at::kFloat)
      n.attrs["value"] = Attribute::of_tensor(n.attrs.at("value").t.to(at::kHalf));
    for (const std::string& out : n.outputs)
      if (is_float.count(out)) fp16_values.insert(out);
    nodes.push_back(n);
  }
  // Float graph outputs: produced as FLOAT16 under a new name, then Cast back (keep-io).
  for (ValueInfo& v : g.outputs) {
    if (v.elem_type != kFloat || !fp16_values.count(v.name)) continue;
    if (!settings.keep_io || graph_inputs.count(v.name) || g.is_initializer(v.name)) {
      if (!graph_inputs.count(v.name) && !g.is_initializer(v.name)) v.elem_type = kFloat16;
      continue;
    }
    const std::string half = v.name + "_fp16";
    for (Node& n : nodes) {
      for (std::string& o : n.outputs)
        if (o == v.name) o = half;
      for (std::string& in : n.inputs)
        if (in == v.name) in = half;
    }
    nodes.push_back(cast_node(half, v.name, kFloat));
    ++stats.casts_added;
  }
  g.nodes = std::move(nodes);
  // value_info is derived (the exporter regenerates it); what is FLOAT16 now is said so here too.
  for (ValueInfo& v : g.value_info)
    if (v.elem_type == kFloat && fp16_values.count(v.name)) v.elem_type = kFloat16;
  remove_unused_initializers(g);
  return stats;
}

}  // namespace edgepack
