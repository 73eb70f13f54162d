// The Converter (core/torchscript_converter.h): graph inputs from the specs, the node-by-node
// walk with its example run, the value and constant bookkeeping the lowerings use, and the
// graph outputs and value_info of the finished Model.
#include "core/torchscript_converter.h"

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <optional>

#include "core/error.h"
#include "core/tensor_proto.h"
#include "core/torchscript_load.h"
#include "core/torchscript_lowerings.h"

namespace edgepack::torchscript {
namespace {

// "<string>:8: z = torch.lstm_cell(z, ...)": where the user wrote the node (the original source
// when the archive kept it, else the serialized code), for error messages.
std::string source_line(const jit::Node* n) {
  jit::SourceRange range = n->sourceRange();
  if (auto original = range.findSourceRangeThatGenerated()) range = *original;
  if (!range.source()) return "unknown source line";
  std::string where = "line ?";
  if (auto flc = range.file_line_col()) where = fmt::format("{}:{}", std::get<0>(*flc), std::get<1>(*flc));
  const std::string text = range.source()->text_str().str();
  size_t begin = std::min(range.start(), text.size());
  begin = text.rfind('\n', begin == 0 ? 0 : begin - 1);
  begin = begin == std::string::npos ? 0 : begin + 1;
  std::string line = text.substr(begin, text.find('\n', begin) - begin);
  line.erase(0, line.find_first_not_of(" \t"));
  return line.empty() ? where : fmt::format("{}: {}", where, line);
}

// Ops whose results depend only on the shapes and types of their inputs, never on the data:
// evaluated on the example inputs like constants.
const std::set<std::string> kShapeOnlyOps = {
    "aten::size", "aten::dim", "aten::numel", "aten::len", "prim::device", "prim::dtype", "prim::layout",
    "aten::zeros_like", "aten::ones_like", "aten::full_like", "aten::new_zeros", "aten::new_ones", "aten::new_full",
    "prim::is_cuda", "aten::is_floating_point", "prim::is_nested", "prim::is_sparse", "prim::is_sparse_csr",
    "prim::is_quantized", "prim::is_mkldnn", "prim::is_meta", "prim::is_xpu", "prim::is_mps", "prim::is_vulkan",
    "prim::is_ipu", "prim::is_xla", "prim::is_lazy", "prim::requires_grad", "aten::is_complex"};

// PyTorch's inference fast paths: a fused kernel behind a runtime check (eval mode, no grad, CPU
// tensors, supported settings), with the reference computation in the other branch. The two
// compute the same function; the reference is made of ops we lower, so it is the branch taken.
// (nn.TransformerEncoderLayer and nn.MultiheadAttention, scripted, both have one.)
const std::set<std::string> kFusedFastPaths = {"aten::_transformer_encoder_layer_fwd",
                                               "aten::_native_multi_head_attention"};

// Directly, not in a nested If: the reference branch itself holds nested fast paths (the
// attention inside the encoder layer's reference computation).
bool uses_fused_fast_path(const jit::Block* block) {
  for (const jit::Node* n : block->nodes())
    if (kFusedFastPaths.count(n->kind().toQualString())) return true;
  return false;
}

// Lists and tuples: the interpreter builds them with instructions, not operators, so they have
// no Operation to run.
std::optional<std::vector<c10::IValue>> run_structural(const jit::Node* n, const std::vector<c10::IValue>& in) {
  switch (n->kind()) {
    case c10::prim::ListConstruct: {
      c10::impl::GenericList list(n->output()->type()->containedType(0));
      for (const c10::IValue& v : in) list.push_back(v);
      return std::vector<c10::IValue>{c10::IValue(list)};
    }
    case c10::prim::TupleConstruct:
      return std::vector<c10::IValue>{c10::ivalue::Tuple::create(in)};
    case c10::prim::ListUnpack:
      return in[0].toListRef().vec();
    case c10::prim::TupleUnpack:
      return in[0].toTupleRef().elements().vec();
    case c10::prim::TupleIndex: {
      const auto& items = in[0].toTupleRef().elements();
      int64_t k = in[1].toInt();
      return std::vector<c10::IValue>{items.at(static_cast<size_t>(k < 0 ? k + static_cast<int64_t>(items.size()) : k))};
    }
    default:
      return std::nullopt;
  }
}

}  // namespace

// ---- known values and IR values ----

const c10::IValue& Converter::known(const jit::Node* n, const jit::Value* v) const {
  const Slot& s = slot(v);
  if (s.dynamic)
    fail(n, fmt::format("argument '{}' depends on the input data, but it must be known when converting", v->debugName()));
  return s.example;
}

std::vector<int64_t> Converter::known_ints(const jit::Node* n, const jit::Value* v) const {
  const c10::IValue& i = known(n, v);
  if (i.isInt()) return {i.toInt()};
  return i.toIntVector();
}

std::string Converter::tensor(const Slot& s, const std::string& hint) {
  if (s.dynamic) return s.name;
  if (!s.example.isTensor()) throw InputError(fmt::format("'{}': expected a tensor, got {}", path_, s.example.tagKind()));
  return constant(s.example.toTensor(), hint);
}

std::vector<std::string> Converter::tensors(const jit::Value* list) {
  const Slot& s = slot(list);
  std::vector<std::string> names;
  if (s.dynamic) {
    for (const Slot& item : s.items) names.push_back(tensor(item, list->debugName()));
  } else {
    for (const at::Tensor& t : s.example.toTensorVector()) names.push_back(constant(t, list->debugName()));
  }
  return names;
}

std::string Converter::operand(const jit::Value* v, at::ScalarType dtype) {
  const Slot& s = slot(v);
  if (!s.dynamic) {
    at::Tensor t = s.example.isTensor() ? s.example.toTensor() : at::scalar_tensor(s.example.toScalar());
    return constant(t.to(dtype), v->debugName());
  }
  return cast(s.name, dtype);
}

std::string Converter::cast(const std::string& name, at::ScalarType to) {
  ValueType t = type(name);
  if (t.dtype == to) return name;
  t.dtype = to;
  return emit("Cast", {name}, {{"to", Attribute::of_int(onnx_from_scalar_type(to))}}, name + "_cast", std::move(t));
}

std::string Converter::constant(const at::Tensor& t, const std::string& hint) {
  // Parameters used twice (tied embeddings) stay one initializer. The map holds each tensor,
  // so no address is reused by a later temporary.
  if (auto it = constants_.find(t.unsafeGetTensorImpl()); it != constants_.end()) return it->second.second;
  std::string name = fresh(hint);
  constants_[t.unsafeGetTensorImpl()] = {t, name};
  model_.graph.initializers[name] = t.detach().contiguous().clone();
  types_[name] = ValueType::of(t);
  return name;
}

// ---- nodes ----

std::string Converter::fresh(const std::string& hint) {
  std::string base = hint.empty() ? "v" : hint;
  std::string name = base;
  for (int k = 1; used_.count(name); ++k) name = fmt::format("{}_{}", base, k);
  used_.insert(name);
  return name;
}

void Converter::add_node(Node node, std::vector<ValueType> types) {
  for (size_t k = 0; k < node.outputs.size(); ++k) types_[node.outputs[k]] = std::move(types[k]);
  model_.graph.nodes.push_back(std::move(node));
}

std::vector<std::string> Converter::emit_outputs(const std::string& op, std::vector<std::string> inputs,
                                                 std::map<std::string, Attribute> attrs, const std::string& hint,
                                                 std::vector<ValueType> types) {
  Node node;
  node.op_type = op;
  node.inputs = std::move(inputs);
  node.attrs = std::move(attrs);
  for (size_t k = 0; k < types.size(); ++k) node.outputs.push_back(fresh(hint));
  node.name = node.outputs.at(0);
  std::vector<std::string> outputs = node.outputs;
  add_node(std::move(node), std::move(types));
  return outputs;
}

std::string Converter::emit(const std::string& op, std::vector<std::string> inputs, std::map<std::string, Attribute> attrs,
                            const std::string& hint, ValueType type) {
  return emit_outputs(op, std::move(inputs), std::move(attrs), hint, {std::move(type)})[0];
}

void Converter::lower_to(const jit::Node* n, const std::string& op, std::vector<std::string> inputs,
                         std::map<std::string, Attribute> attrs) {
  bind(n, emit(op, std::move(inputs), std::move(attrs), n->output()->debugName(), ValueType::of(example_tensor(n->output()))));
}

void Converter::bind(const jit::Value* v, const std::string& name) {
  Slot& s = slots_.at(v);
  s.dynamic = true;
  s.name = name;
}

void Converter::bind(const jit::Value* v, const Slot& from) {
  c10::IValue example = slots_.at(v).example;
  slots_[v] = from;
  slots_[v].example = example;
}

void Converter::fail(const jit::Node* n, const std::string& why) const {
  throw InputError(fmt::format("'{}': {} ({}) at {}", path_, n->kind().toQualString(), why, source_line(n)));
}

ValueInfo Converter::value_info(const std::string& name) const {
  const ValueType& t = type(name);
  std::vector<Dim> dims;
  for (int64_t d : t.sizes) dims.push_back(Dim{d, ""});
  return ValueInfo{name, onnx_from_scalar_type(t.dtype), std::move(dims)};
}

// ---- the walk ----

std::vector<c10::IValue> Converter::run_example(const jit::Node* n) {
  std::vector<c10::IValue> inputs;
  for (const jit::Value* in : n->inputs()) inputs.push_back(slot(in).example);
  if (auto values = run_structural(n, inputs)) return *values;
  std::optional<jit::Operation> op;
  bool mutates = false, vararg = false;
  try {
    op.emplace(n->getOperation());
    if (const c10::FunctionSchema* schema = n->maybeSchema()) mutates = schema->is_mutable(), vararg = schema->is_vararg();
  } catch (const c10::Error&) {
    fail(n, "unsupported op");
  }
  // Mutating ops left in the graph would change the examples of their inputs.
  jit::Stack stack;
  for (const c10::IValue& v : inputs) stack.push_back(mutates && v.isTensor() ? c10::IValue(v.toTensor().clone()) : v);
  // A variadic operation (aten::format of the fast paths' messages) reads its input count from
  // the top of the stack, as the interpreter pushes it.
  if (vararg) stack.push_back(static_cast<int64_t>(inputs.size()));
  try {
    (*op)(stack);
  } catch (const c10::Error& e) {
    fail(n, fmt::format("running it on the given input shapes failed: {}", first_line(e)));
  }
  return {stack.end() - static_cast<long>(n->outputs().size()), stack.end()};
}

void Converter::convert_node(const jit::Node* n) {
  const std::string kind = n->kind().toQualString();
  if (n->kind() == c10::prim::Constant) {
    slots_[n->output()].example = jit::toIValue(n->output()).value();
    return;
  }
  if (n->kind() == c10::prim::If) {
    const Slot& condition = slot(n->input(0));
    if (condition.dynamic) fail(n, "the condition depends on the input data");
    bool branch = condition.example.toBool();
    if (uses_fused_fast_path(n->blocks()[branch ? 0 : 1]) && !uses_fused_fast_path(n->blocks()[branch ? 1 : 0])) {
      // The condition itself reads as the other value from here on: TorchScript's early-return
      // transform passes it on as the "returned" flag of a later If, which must agree.
      branch = !branch;
      slots_[n->input(0)].example = c10::IValue(branch);
    }
    const jit::Block* taken = n->blocks()[branch ? 0 : 1];
    convert_block(taken);
    for (size_t k = 0; k < n->outputs().size(); ++k) slots_[n->output(k)] = slot(taken->outputs()[k]);
    return;
  }
  if (n->kind() == c10::prim::Loop) fail(n, "loops are not supported; unroll them or trace the module");
  if (n->kind() == c10::prim::RaiseException) fail(n, "the module raises an exception for these input shapes");

  if ((kind == "aten::__is__" || kind == "aten::__isnot__") && (slot(n->input(0)).dynamic || slot(n->input(1)).dynamic)) {
    // Identity, not data: two graph values are the same tensor when they name the same IR value
    // (`query is not key` in self-attention); a tensor is never None.
    const Slot &a = slot(n->input(0)), &b = slot(n->input(1));
    const bool same = a.dynamic && b.dynamic && a.name == b.name;
    slots_[n->output()].example = c10::IValue(kind == "aten::__is__" ? same : !same);
    return;
  }
  bool dynamic = false;
  for (const jit::Value* in : n->inputs()) dynamic = dynamic || slot(in).dynamic;
  const bool lowered = dynamic && !kShapeOnlyOps.count(kind);
  auto lowering = lowerings().find(kind);
  if (lowered && lowering == lowerings().end()) fail(n, "unsupported op");

  std::vector<c10::IValue> examples = run_example(n);
  for (size_t k = 0; k < examples.size(); ++k) slots_[n->output(k)].example = std::move(examples[k]);
  if (lowered) lowering->second(*this, n);
}

void Converter::convert_block(const jit::Block* block) {
  for (const jit::Node* n : block->nodes()) convert_node(n);
}

// Inputs: forward()'s arguments after `self`, shaped by the specs, with seeded example values.
void Converter::add_inputs(const std::shared_ptr<jit::Graph>& graph, const std::vector<std::string>& arg_names,
                           const std::map<std::string, InputSpec>& specs) {
  std::vector<const jit::Value*> args;
  for (const jit::Value* v : graph->inputs())
    if (!v->type()->cast<c10::ClassType>()) args.push_back(v);
  std::vector<std::string> names(arg_names.end() - static_cast<long>(args.size()), arg_names.end());
  std::map<std::string, InputSpec> given = specs;
  if (given.count("")) {
    if (args.size() != 1)
      throw InputError(fmt::format("'{}': forward() takes {} inputs ({}); name each: --input-shape NAME:DIMS", path_,
                                   args.size(), fmt::join(names, ", ")));
    given[names[0]] = given[""];
    given.erase("");
  }
  for (const auto& [name, spec] : given)
    if (std::find(names.begin(), names.end(), name) == names.end())
      throw InputError(fmt::format("'{}': --input-shape names '{}', but forward() takes {}", path_, name, fmt::join(names, ", ")));
  at::Generator generator = at::detail::createCPUGenerator(0);
  for (size_t k = 0; k < args.size(); ++k) {
    auto spec = given.find(names[k]);
    if (spec == given.end())
      throw InputError(fmt::format("'{}': input '{}' has no shape: give --input-shape {}:DIMS (e.g. 1x3x224x224)", path_,
                                   names[k], names[k]));
    if (!args[k]->type()->cast<c10::TensorType>())
      throw InputError(fmt::format("'{}': input '{}' is a {}; only tensor inputs are supported", path_, names[k],
                                   args[k]->type()->str()));
    int32_t elem_type = spec->second.elem_type;
    if (elem_type == 0) {
      // Indices of an embedding are integers; everything else defaults to float32.
      bool indices = false;
      for (const jit::Use& use : args[k]->uses())
        indices = indices || (use.user->kind() == c10::aten::embedding && use.offset == 1);
      elem_type = onnx_from_scalar_type(indices ? at::kLong : at::kFloat);
    }
    const at::ScalarType dtype = scalar_type_from_onnx(elem_type, "input '" + names[k] + "'");
    used_.insert(names[k]);
    types_[names[k]] = ValueType{dtype, spec->second.dims};
    model_.graph.inputs.push_back(value_info(names[k]));
    Slot& s = slots_[args[k]];
    s.example = at::isFloatingType(dtype) ? at::randn(spec->second.dims, generator).to(dtype)
                                          : at::zeros(spec->second.dims, at::TensorOptions(dtype));
    s.dynamic = true;
    s.name = names[k];
  }
  for (const jit::Value* v : graph->inputs())
    if (!slots_.count(v)) slots_[v].example = c10::IValue();   // `self`: unused once frozen
}

void Converter::collect_outputs(const Slot& s, std::vector<Slot>& leaves) {
  if (s.example.isTuple() || s.example.isList()) {
    if (s.dynamic) {
      for (const Slot& item : s.items) collect_outputs(item, leaves);
      return;
    }
    std::vector<c10::IValue> items =
        s.example.isTuple() ? s.example.toTupleRef().elements().vec() : s.example.toListRef().vec();
    for (const c10::IValue& i : items) collect_outputs(Slot{i, false, "", {}}, leaves);
    return;
  }
  if (!s.example.isTensor()) throw InputError(fmt::format("'{}': forward() returns a {}, not tensors", path_, s.example.tagKind()));
  leaves.push_back(s);
  leaves.back().name = tensor(s, "output");
}

// Outputs, flattened from tuples and lists, each named after its position: `output`, or
// `output_0`, `output_1`, ...
void Converter::add_outputs(const std::shared_ptr<jit::Graph>& graph) {
  std::vector<Slot> outputs;
  for (const jit::Value* v : graph->outputs()) collect_outputs(slot(v), outputs);
  Graph& g = model_.graph;
  std::set<std::string> seen;
  std::map<std::string, std::string> renamed;
  for (size_t k = 0; k < outputs.size(); ++k) {
    std::string name = outputs.size() == 1 ? "output" : fmt::format("output_{}", k);
    std::string value = outputs[k].name;
    if (auto r = renamed.find(value); r != renamed.end()) value = r->second;
    if (g.producer(value) < 0 || seen.count(value)) {
      // An input, an initializer or a repeated value: an Identity gives it its own name.
      value = emit("Identity", {value}, {}, name, type(value));
    } else if (!used_.count(name)) {
      for (Node& node : g.nodes) {
        for (std::string& i : node.inputs) if (i == value) i = name;
        for (std::string& o : node.outputs) if (o == value) o = name;
      }
      used_.insert(name);
      types_[name] = type(value);
      types_.erase(value);
      renamed[value] = name;
      value = name;
    }
    seen.insert(value);
    g.outputs.push_back(value_info(value));
  }
}

Model Converter::convert(const std::shared_ptr<jit::Graph>& graph, const std::vector<std::string>& arg_names,
                         const std::map<std::string, InputSpec>& specs) {
  // The model-level fields as import_onnx reads them back from export_onnx's proto.
  model_.producer_name = "edgepack";
  model_.producer_version = EDGEPACK_VERSION;
  model_.doc_string = "converted from TorchScript " + path_;
  model_.opsets[""] = kTorchScriptOpset;
  model_.graph.name = "graph";

  add_inputs(graph, arg_names, specs);
  convert_block(graph->block());
  add_outputs(graph);

  // value_info: every node output that is not a graph output, in node order (as ONNX shape
  // inference lists them), typed by the example run.
  Graph& g = model_.graph;
  std::set<std::string> graph_outputs;
  for (const ValueInfo& v : g.outputs) graph_outputs.insert(v.name);
  for (const Node& node : g.nodes)
    for (const std::string& o : node.outputs)
      if (!graph_outputs.count(o)) g.value_info.push_back(value_info(o));
  return std::move(model_);
}

}  // namespace edgepack::torchscript
