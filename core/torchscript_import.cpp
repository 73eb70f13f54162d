#include "core/torchscript_import.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <onnx/onnx_pb.h>
#include <torch/csrc/jit/passes/constant_propagation.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/freeze_module.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/csrc/jit/passes/lower_tuples.h>
#include <torch/csrc/jit/passes/remove_mutation.h>
#include <torch/csrc/jit/serialization/import.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <optional>
#include <set>
#include <unordered_map>

#include "core/error.h"
#include "core/onnx_import.h"
#include "core/tensor_proto.h"
#include "core/onnx_export.h"

namespace edgepack {
namespace {

namespace jit = torch::jit;

// The first line of a LibTorch message, without its C++ backtrace.
std::string first_line(const c10::Error& e) {
  std::string m = e.what_without_backtrace();
  return m.substr(0, m.find('\n'));
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t end; (end = s.find(sep, start)) != std::string::npos; start = end + 1) parts.push_back(s.substr(start, end - start));
  parts.push_back(s.substr(start));
  return parts;
}

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

// What the converter knows about one TorchScript value: its value on the example inputs
// (always; gives shapes, dtypes and every number), and, when it depends on the graph inputs,
// the IR value holding it (tensors) or its items (lists and tuples of such tensors).
struct Slot {
  c10::IValue example;
  bool dynamic = false;
  std::string name;
  std::vector<Slot> items;
};

// Ops whose results depend only on the shapes and types of their inputs, never on the data:
// evaluated on the example inputs like constants.
const std::set<std::string> kShapeOnlyOps = {
    "aten::size", "aten::dim", "aten::numel", "aten::len", "prim::device", "prim::dtype", "prim::layout",
    "aten::zeros_like", "aten::ones_like", "aten::full_like", "aten::new_zeros", "aten::new_ones", "aten::new_full",
    "prim::is_cuda", "aten::is_floating_point"};

class Converter;
using Lowering = std::function<void(Converter&, const jit::Node*)>;
const std::map<std::string, Lowering>& lowerings();

class Converter {
 public:
  explicit Converter(std::string path) : path_(std::move(path)) {}

  Model convert(const std::shared_ptr<jit::Graph>& graph, const std::vector<std::string>& arg_names,
                const std::map<std::string, InputSpec>& specs);

  // --- used by the lowerings ---
  const Slot& slot(const jit::Value* v) const { return slots_.at(v); }
  const at::Tensor& example_tensor(const jit::Value* v) const { return slot(v).example.toTensor(); }
  int64_t rank(const jit::Value* v) const { return example_tensor(v).dim(); }
  at::ScalarType out_dtype(const jit::Node* n) const { return example_tensor(n->output()).scalar_type(); }
  bool is_none(const jit::Value* v) const { return slot(v).example.isNone(); }

  // A number or list known at conversion time (InputError when it depends on the input data).
  const c10::IValue& known(const jit::Node* n, const jit::Value* v) const {
    const Slot& s = slot(v);
    if (s.dynamic)
      fail(n, fmt::format("argument '{}' depends on the input data, but it must be known when converting", v->debugName()));
    return s.example;
  }
  int64_t known_int(const jit::Node* n, const jit::Value* v) const { return known(n, v).toInt(); }
  double known_double(const jit::Node* n, const jit::Value* v) const { return known(n, v).toScalar().toDouble(); }
  std::vector<int64_t> known_ints(const jit::Node* n, const jit::Value* v) const {
    const c10::IValue& i = known(n, v);
    if (i.isInt()) return {i.toInt()};
    return i.toIntVector();
  }

  // The IR value of a tensor: its node output, or an initializer for a known tensor.
  std::string tensor(const Slot& s, const std::string& hint = "const") {
    if (s.dynamic) return s.name;
    if (!s.example.isTensor()) throw InputError(fmt::format("'{}': expected a tensor, got {}", path_, s.example.tagKind()));
    return constant(s.example.toTensor(), hint);
  }
  std::string tensor(const jit::Value* v) { return tensor(slot(v), v->debugName()); }
  // A tensor or number operand of an elementwise op, as a tensor of `dtype` (TorchScript
  // promotes types; ONNX wants both operands of one type).
  std::string operand(const jit::Value* v, at::ScalarType dtype) {
    const Slot& s = slot(v);
    if (!s.dynamic) {
      at::Tensor t = s.example.isTensor() ? s.example.toTensor() : at::scalar_tensor(s.example.toScalar());
      return constant(t.to(dtype), v->debugName());
    }
    return cast(s.name, example_tensor(v).scalar_type(), dtype);
  }
  std::string cast(const std::string& name, at::ScalarType from, at::ScalarType to) {
    if (from == to) return name;
    return emit("Cast", {name}, {{"to", Attribute::of_int(onnx_from_scalar_type(to))}}, name + "_cast");
  }

  std::string constant(const at::Tensor& t, const std::string& hint) {
    // Parameters used twice (tied embeddings) stay one initializer. The map holds each tensor,
    // so no address is reused by a later temporary.
    if (auto it = constants_.find(t.unsafeGetTensorImpl()); it != constants_.end()) return it->second.second;
    std::string name = fresh(hint);
    constants_[t.unsafeGetTensorImpl()] = {t, name};
    graph().initializers[name] = t.detach().contiguous().clone();
    return name;
  }
  std::string ints_constant(const std::vector<int64_t>& v, const std::string& hint) {
    return constant(at::tensor(v, at::kLong), hint);
  }

  std::string emit(const std::string& op, std::vector<std::string> inputs, std::map<std::string, Attribute> attrs,
                   const std::string& hint, size_t outputs = 1) {
    Node node;
    node.op_type = op;
    node.inputs = std::move(inputs);
    node.attrs = std::move(attrs);
    for (size_t k = 0; k < outputs; ++k) node.outputs.push_back(fresh(hint));
    node.name = node.outputs[0];
    std::string out = node.outputs[0];
    graph().nodes.push_back(std::move(node));
    return out;
  }
  const std::vector<std::string>& last_outputs() const { return model_.graph.nodes.back().outputs; }

  // Binds the node's single output to an IR value (a new node's output, or an alias).
  void bind(const jit::Node* n, const std::string& name) { bind(n->output(), name); }
  void bind(const jit::Value* v, const std::string& name) {
    Slot& s = slots_.at(v);
    s.dynamic = true;
    s.name = name;
  }
  void bind(const jit::Value* v, const Slot& from) {
    c10::IValue example = slots_.at(v).example;
    slots_[v] = from;
    slots_[v].example = example;
  }

  [[noreturn]] void fail(const jit::Node* n, const std::string& why) const {
    throw InputError(fmt::format("'{}': {} ({}) at {}", path_, n->kind().toQualString(), why, source_line(n)));
  }

 private:
  Graph& graph() { return model_.graph; }

  std::string fresh(const std::string& hint) {
    std::string base = hint.empty() ? "v" : hint;
    std::string name = base;
    for (int k = 1; used_.count(name); ++k) name = fmt::format("{}_{}", base, k);
    used_.insert(name);
    return name;
  }

  void convert_block(const jit::Block* block);
  void convert_node(const jit::Node* n);
  // Runs the node's TorchScript operation on the example values of its inputs.
  std::vector<c10::IValue> run_example(const jit::Node* n);
  void collect_outputs(const Slot& s, std::vector<Slot>& leaves);

  std::string path_;
  Model model_;
  std::unordered_map<const jit::Value*, Slot> slots_;
  std::map<const void*, std::pair<at::Tensor, std::string>> constants_;
  std::set<std::string> used_;
};

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

std::vector<c10::IValue> Converter::run_example(const jit::Node* n) {
  std::vector<c10::IValue> inputs;
  for (const jit::Value* in : n->inputs()) inputs.push_back(slot(in).example);
  if (auto values = run_structural(n, inputs)) return *values;
  std::optional<jit::Operation> op;
  bool mutates = false;
  try {
    op.emplace(n->getOperation());
    if (const c10::FunctionSchema* schema = n->maybeSchema()) mutates = schema->is_mutable();
  } catch (const c10::Error&) {
    fail(n, "unsupported op");
  }
  // Mutating ops left in the graph would change the examples of their inputs.
  jit::Stack stack;
  for (const c10::IValue& v : inputs) stack.push_back(mutates && v.isTensor() ? c10::IValue(v.toTensor().clone()) : v);
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
    const jit::Block* taken = n->blocks()[condition.example.toBool() ? 0 : 1];
    convert_block(taken);
    for (size_t k = 0; k < n->outputs().size(); ++k) slots_[n->output(k)] = slot(taken->outputs()[k]);
    return;
  }
  if (n->kind() == c10::prim::Loop) fail(n, "loops are not supported; unroll them or trace the module");
  if (n->kind() == c10::prim::RaiseException) fail(n, "the module raises an exception for these input shapes");

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

Model Converter::convert(const std::shared_ptr<jit::Graph>& graph, const std::vector<std::string>& arg_names,
                         const std::map<std::string, InputSpec>& specs) {
  model_.producer_name = "edgepack";
  model_.producer_version = EDGEPACK_VERSION;
  model_.doc_string = "converted from TorchScript " + path_;
  model_.opsets[""] = kTorchScriptOpset;

  // Inputs: forward()'s arguments after `self`, shaped by the specs.
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
    std::vector<Dim> dims;
    for (int64_t d : spec->second.dims) dims.push_back(Dim{d, ""});
    ValueInfo input{names[k], elem_type, dims};
    model_.graph.inputs.push_back(input);
    used_.insert(names[k]);
    Slot& s = slots_[args[k]];
    s.example = at::isFloatingType(dtype) ? at::randn(spec->second.dims, generator).to(dtype)
                                          : at::zeros(spec->second.dims, at::TensorOptions(dtype));
    s.dynamic = true;
    s.name = names[k];
  }
  for (const jit::Value* v : graph->inputs())
    if (!slots_.count(v)) slots_[v].example = c10::IValue();   // `self`: unused once frozen

  convert_block(graph->block());

  // Outputs, flattened from tuples and lists; each named after its position.
  std::vector<Slot> outputs;
  for (const jit::Value* v : graph->outputs()) collect_outputs(slot(v), outputs);
  Graph& g = model_.graph;
  std::set<std::string> seen;
  for (size_t k = 0; k < outputs.size(); ++k) {
    std::string name = outputs.size() == 1 ? "output" : fmt::format("output_{}", k);
    std::string& value = outputs[k].name;
    int producer = g.producer(value);
    if (producer < 0 || seen.count(value)) {
      // An input, an initializer or a repeated value: an Identity gives it its own name.
      value = emit("Identity", {value}, {}, name);
    } else if (!used_.count(name)) {
      for (Node& node : g.nodes) {
        for (std::string& i : node.inputs) if (i == value) i = name;
        for (std::string& o : node.outputs) if (o == value) o = name;
      }
      used_.insert(name);
      value = name;
    }
    seen.insert(value);
    const at::Tensor& example = outputs[k].example.toTensor();
    std::vector<Dim> dims;
    for (int64_t d : example.sizes()) dims.push_back(Dim{d, ""});
    g.outputs.push_back(ValueInfo{value, onnx_from_scalar_type(example.scalar_type()), dims});
  }
  return std::move(model_);
}

// ---- lowerings: aten op -> ONNX nodes, for nodes whose inputs depend on the graph inputs ----

std::vector<int64_t> repeat_to(std::vector<int64_t> v, size_t n) {
  if (v.size() == 1) v.assign(n, v[0]);
  return v;
}

int64_t normalize_dim(int64_t d, int64_t rank) { return d < 0 ? d + rank : d; }

void lower_alias(Converter& c, const jit::Node* n) { c.bind(n, c.tensor(n->input(0))); }

Lowering unary(const std::string& op) {
  return [op](Converter& c, const jit::Node* n) { c.bind(n, c.emit(op, {c.tensor(n->input(0))}, {}, n->output()->debugName())); };
}

// add/sub/mul/div/rsub, tensor or number operands; `alpha` scales the second operand.
Lowering binary(const std::string& op, bool reversed = false) {
  return [op, reversed](Converter& c, const jit::Node* n) {
    const at::ScalarType dtype = c.out_dtype(n);
    // The third argument is add/sub's `alpha` or div's `rounding_mode`.
    const std::string third = n->inputs().size() > 2 ? n->schema().arguments()[2].name() : "";
    if (third == "rounding_mode" && !c.is_none(n->input(2))) c.fail(n, "division with rounding_mode is not supported");
    std::string a = c.operand(n->input(0), dtype);
    std::string b = c.operand(n->input(1), dtype);
    const std::string hint = n->output()->debugName();
    if (third == "alpha") {
      const double alpha = c.known_double(n, n->input(2));
      if (alpha != 1.0) {
        std::string scale = c.constant(at::scalar_tensor(alpha).to(dtype), "alpha");
        if (reversed) a = c.emit("Mul", {a, scale}, {}, hint + "_alpha");
        else b = c.emit("Mul", {b, scale}, {}, hint + "_alpha");
      }
    }
    c.bind(n, reversed ? c.emit(op, {b, a}, {}, hint) : c.emit(op, {a, b}, {}, hint));
  };
}

// gelu: 0.5 x (1 + erf(x / sqrt 2)), or with approximate='tanh' 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
// ONNX's Gelu is opset 20, so it is built from Erf/Tanh.
void lower_gelu(Converter& c, const jit::Node* n) {
  const at::ScalarType dtype = c.out_dtype(n);
  const std::string x = c.tensor(n->input(0)), hint = n->output()->debugName();
  auto k = [&](double v, const std::string& name) { return c.constant(at::scalar_tensor(v).to(dtype), name); };
  const bool tanh = n->inputs().size() > 1 && c.known(n, n->input(1)).toStringRef() == "tanh";
  std::string inner;
  if (tanh) {
    std::string cube = c.emit("Mul", {c.emit("Mul", {x, x}, {}, hint + "_sq"), x}, {}, hint + "_cube");
    std::string sum = c.emit("Add", {x, c.emit("Mul", {cube, k(0.044715, "gelu_c")}, {}, hint + "_c3")}, {}, hint + "_sum");
    inner = c.emit("Tanh", {c.emit("Mul", {sum, k(std::sqrt(2.0 / M_PI), "gelu_sqrt_2_pi")}, {}, hint + "_scaled")}, {},
                   hint + "_tanh");
  } else {
    inner = c.emit("Erf", {c.emit("Div", {x, k(std::sqrt(2.0), "gelu_sqrt2")}, {}, hint + "_scaled")}, {}, hint + "_erf");
  }
  std::string one_plus = c.emit("Add", {inner, k(1.0, "one")}, {}, hint + "_1p");
  std::string half_x = c.emit("Mul", {x, k(0.5, "half")}, {}, hint + "_half");
  c.bind(n, c.emit("Mul", {half_x, one_plus}, {}, hint));
}

void lower_silu(Converter& c, const jit::Node* n) {
  const std::string x = c.tensor(n->input(0)), hint = n->output()->debugName();
  c.bind(n, c.emit("Mul", {x, c.emit("Sigmoid", {x}, {}, hint + "_sigmoid")}, {}, hint));
}

void lower_clamp(Converter& c, const jit::Node* n, c10::optional<double> lo, c10::optional<double> hi) {
  const at::ScalarType dtype = c.out_dtype(n);
  std::vector<std::string> inputs = {c.tensor(n->input(0))};
  inputs.push_back(lo ? c.constant(at::scalar_tensor(*lo).to(dtype), "clip_min") : "");
  if (hi) inputs.push_back(c.constant(at::scalar_tensor(*hi).to(dtype), "clip_max"));
  c.bind(n, c.emit("Clip", inputs, {}, n->output()->debugName()));
}

void lower_conv(Converter& c, const jit::Node* n) {
  const std::string kind = n->kind().toQualString();
  const jit::Value* weight = n->input(1);
  const size_t spatial = static_cast<size_t>(c.rank(weight) - 2);
  std::vector<int64_t> stride = repeat_to(c.known_ints(n, n->input(3)), spatial), output_padding;
  std::vector<int64_t> padding, dilation;
  int64_t groups = 1;
  bool transposed = false;
  if (kind == "aten::_convolution") {
    padding = c.known_ints(n, n->input(4));
    dilation = c.known_ints(n, n->input(5));
    transposed = c.known(n, n->input(6)).toBool();
    output_padding = c.known_ints(n, n->input(7));
    groups = c.known_int(n, n->input(8));
  } else if (kind.rfind("aten::conv_transpose", 0) == 0) {
    transposed = true;
    padding = c.known_ints(n, n->input(4));
    output_padding = c.known_ints(n, n->input(5));
    groups = c.known_int(n, n->input(6));
    dilation = c.known_ints(n, n->input(7));
  } else {
    dilation = c.known_ints(n, n->input(5));
    groups = c.known_int(n, n->input(6));
    const c10::IValue& pad = c.known(n, n->input(4));
    if (pad.isString()) {
      // padding='same' (stride 1) or 'valid': explicit pads, the extra one at the end as PyTorch does.
      const at::Tensor& w = c.example_tensor(weight);
      std::vector<int64_t> begin(spatial, 0), end(spatial, 0);
      dilation = repeat_to(dilation, spatial);
      if (pad.toStringRef() == "same")
        for (size_t d = 0; d < spatial; ++d) {
          int64_t total = dilation[d] * (w.size(static_cast<int64_t>(d) + 2) - 1);
          begin[d] = total / 2;
          end[d] = total - begin[d];
        }
      padding = begin;
      padding.insert(padding.end(), end.begin(), end.end());
    } else {
      padding = pad.isInt() ? std::vector<int64_t>{pad.toInt()} : pad.toIntVector();
    }
  }
  padding = repeat_to(padding, spatial);
  if (padding.size() == spatial) padding.insert(padding.end(), padding.begin(), padding.end());
  std::map<std::string, Attribute> attrs = {{"strides", Attribute::of_ints(stride)},
                                            {"pads", Attribute::of_ints(padding)},
                                            {"dilations", Attribute::of_ints(repeat_to(dilation, spatial))},
                                            {"group", Attribute::of_int(groups)}};
  if (transposed && !output_padding.empty()) attrs["output_padding"] = Attribute::of_ints(repeat_to(output_padding, spatial));
  std::vector<std::string> inputs = {c.tensor(n->input(0)), c.tensor(weight)};
  if (!c.is_none(n->input(2))) inputs.push_back(c.tensor(n->input(2)));
  c.bind(n, c.emit(transposed ? "ConvTranspose" : "Conv", inputs, attrs, n->output()->debugName()));
}

// linear(x, W, b) = x W^T + b: Gemm(transB) for 2-D x, else MatMul with W^T and Add.
void lower_linear(Converter& c, const jit::Node* n) {
  const jit::Value* weight = n->input(1);
  const std::string x = c.tensor(n->input(0)), hint = n->output()->debugName();
  const bool has_bias = !c.is_none(n->input(2));
  if (c.rank(n->input(0)) == 2) {
    std::vector<std::string> inputs = {x, c.tensor(weight)};
    if (has_bias) inputs.push_back(c.tensor(n->input(2)));
    c.bind(n, c.emit("Gemm", inputs, {{"transB", Attribute::of_int(1)}}, hint));
    return;
  }
  std::string wt = c.slot(weight).dynamic
                       ? c.emit("Transpose", {c.tensor(weight)}, {{"perm", Attribute::of_ints({1, 0})}}, hint + "_wt")
                       : c.constant(c.example_tensor(weight).t(), weight->debugName() + "_t");
  std::string y = c.emit("MatMul", {x, wt}, {}, has_bias ? hint + "_matmul" : hint);
  if (has_bias) y = c.emit("Add", {y, c.tensor(n->input(2))}, {}, hint);
  c.bind(n, y);
}

// addmm(C, A, B, beta, alpha) = beta C + alpha A B.
void lower_addmm(Converter& c, const jit::Node* n) {
  std::map<std::string, Attribute> attrs = {{"beta", Attribute::of_float(static_cast<float>(c.known_double(n, n->input(3))))},
                                            {"alpha", Attribute::of_float(static_cast<float>(c.known_double(n, n->input(4))))}};
  c.bind(n, c.emit("Gemm", {c.tensor(n->input(1)), c.tensor(n->input(2)), c.tensor(n->input(0))}, attrs,
                   n->output()->debugName()));
}

void lower_batch_norm(Converter& c, const jit::Node* n) {
  if (c.known(n, n->input(5)).toBool()) c.fail(n, "batch_norm in training mode");
  const at::Tensor& mean = c.example_tensor(n->input(3));
  auto param = [&](const jit::Value* v, double fill) {
    return c.is_none(v) ? c.constant(at::full_like(mean, fill), "bn_default") : c.tensor(v);
  };
  c.bind(n, c.emit("BatchNormalization",
                   {c.tensor(n->input(0)), param(n->input(1), 1), param(n->input(2), 0), c.tensor(n->input(3)),
                    c.tensor(n->input(4))},
                   {{"epsilon", Attribute::of_float(static_cast<float>(c.known_double(n, n->input(7))))}},
                   n->output()->debugName()));
}

void lower_layer_norm(Converter& c, const jit::Node* n) {
  const std::vector<int64_t> shape = c.known_ints(n, n->input(1));
  const at::ScalarType dtype = c.out_dtype(n);
  std::vector<std::string> inputs = {c.tensor(n->input(0)),
                                     c.is_none(n->input(2)) ? c.constant(at::ones(shape, dtype), "ln_scale") : c.tensor(n->input(2))};
  if (!c.is_none(n->input(3))) inputs.push_back(c.tensor(n->input(3)));
  c.bind(n, c.emit("LayerNormalization", inputs,
                   {{"axis", Attribute::of_int(-static_cast<int64_t>(shape.size()))},
                    {"epsilon", Attribute::of_float(static_cast<float>(c.known_double(n, n->input(4))))}},
                   n->output()->debugName()));
}

Lowering softmax(const std::string& op) {
  return [op](Converter& c, const jit::Node* n) {
    if (n->inputs().size() > 2 && !c.is_none(n->input(2))) c.fail(n, "softmax with a dtype is not supported");
    std::string y = c.emit(op, {c.tensor(n->input(0))},
                           {{"axis", Attribute::of_int(normalize_dim(c.known_int(n, n->input(1)), c.rank(n->input(0))))}},
                           n->output()->debugName());
    c.bind(n, y);
  };
}

void lower_embedding(Converter& c, const jit::Node* n) {
  c.bind(n, c.emit("Gather", {c.tensor(n->input(0)), c.tensor(n->input(1))}, {{"axis", Attribute::of_int(0)}},
                   n->output()->debugName()));
}

void lower_reshape(Converter& c, const jit::Node* n) {
  std::vector<int64_t> shape = c.known_ints(n, n->input(1));
  // ONNX reads 0 as "copy this dim"; a literal empty dim takes the example's shape instead.
  // Otherwise the source's list is kept, -1 included, so passes that change a channel count
  // (pruning) leave a valid reshape behind.
  if (std::find(shape.begin(), shape.end(), 0) != shape.end()) shape = c.example_tensor(n->output()).sizes().vec();
  c.bind(n, c.emit("Reshape", {c.tensor(n->input(0)), c.ints_constant(shape, "shape")}, {}, n->output()->debugName()));
}

void lower_flatten(Converter& c, const jit::Node* n) {
  const int64_t rank = c.rank(n->input(0));
  const int64_t start = normalize_dim(c.known_int(n, n->input(1)), rank), end = normalize_dim(c.known_int(n, n->input(2)), rank);
  const std::string x = c.tensor(n->input(0)), hint = n->output()->debugName();
  if (rank == 0 || start == end) return c.bind(n, x);
  if (start == 1 && end == rank - 1) return c.bind(n, c.emit("Flatten", {x}, {{"axis", Attribute::of_int(1)}}, hint));
  std::vector<int64_t> shape(static_cast<size_t>(start), 0);
  shape.push_back(-1);
  shape.insert(shape.end(), static_cast<size_t>(rank - 1 - end), 0);
  c.bind(n, c.emit("Reshape", {x, c.ints_constant(shape, "shape")}, {}, hint));
}

void transpose_to(Converter& c, const jit::Node* n, std::vector<int64_t> perm) {
  c.bind(n, c.emit("Transpose", {c.tensor(n->input(0))}, {{"perm", Attribute::of_ints(std::move(perm))}}, n->output()->debugName()));
}

void lower_permute(Converter& c, const jit::Node* n) {
  std::vector<int64_t> perm = c.known_ints(n, n->input(1));
  for (int64_t& d : perm) d = normalize_dim(d, c.rank(n->input(0)));
  transpose_to(c, n, perm);
}

void lower_transpose(Converter& c, const jit::Node* n) {
  const int64_t rank = c.rank(n->input(0));
  if (rank < 2) return lower_alias(c, n);
  int64_t a = rank - 2, b = rank - 1;   // aten::t
  if (n->inputs().size() == 3) {
    a = normalize_dim(c.known_int(n, n->input(1)), rank);
    b = normalize_dim(c.known_int(n, n->input(2)), rank);
  }
  if (a == b) return lower_alias(c, n);
  std::vector<int64_t> perm(static_cast<size_t>(rank));
  for (int64_t d = 0; d < rank; ++d) perm[d] = d;
  std::swap(perm[a], perm[b]);
  transpose_to(c, n, perm);
}

void lower_unsqueeze(Converter& c, const jit::Node* n) {
  const int64_t axis = normalize_dim(c.known_int(n, n->input(1)), c.rank(n->input(0)) + 1);
  c.bind(n, c.emit("Unsqueeze", {c.tensor(n->input(0)), c.ints_constant({axis}, "axes")}, {}, n->output()->debugName()));
}

void lower_squeeze(Converter& c, const jit::Node* n) {
  const at::Tensor& x = c.example_tensor(n->input(0));
  std::vector<int64_t> axes;
  if (n->inputs().size() > 1) {
    for (int64_t d : c.known_ints(n, n->input(1)))
      if (x.size(normalize_dim(d, x.dim())) == 1) axes.push_back(normalize_dim(d, x.dim()));
  } else {
    for (int64_t d = 0; d < x.dim(); ++d)
      if (x.size(d) == 1) axes.push_back(d);
  }
  // squeeze of a dim that is not 1 leaves the tensor as it is.
  if (axes.empty()) return lower_alias(c, n);
  c.bind(n, c.emit("Squeeze", {c.tensor(n->input(0)), c.ints_constant(axes, "axes")}, {}, n->output()->debugName()));
}

// The tensors of a list argument, dynamic items by name and known ones as initializers.
std::vector<std::string> tensor_list(Converter& c, const jit::Value* v) {
  const Slot& s = c.slot(v);
  std::vector<std::string> names;
  if (s.dynamic) {
    for (const Slot& item : s.items) names.push_back(c.tensor(item, v->debugName()));
  } else {
    for (const at::Tensor& t : s.example.toTensorVector()) names.push_back(c.constant(t, v->debugName()));
  }
  return names;
}

void lower_cat(Converter& c, const jit::Node* n) {
  const int64_t rank = c.rank(n->output());
  const int64_t axis = normalize_dim(c.known_int(n, n->input(1)), rank);
  std::vector<std::string> inputs = tensor_list(c, n->input(0));
  const std::string hint = n->output()->debugName();
  if (n->kind() == c10::aten::stack)
    for (std::string& i : inputs) i = c.emit("Unsqueeze", {i, c.ints_constant({axis}, "axes")}, {}, hint + "_item");
  c.bind(n, c.emit("Concat", inputs, {{"axis", Attribute::of_int(axis)}}, hint));
}

// A list or tuple whose items depend on the inputs: kept item by item.
void lower_list_construct(Converter& c, const jit::Node* n) {
  Slot list = c.slot(n->output());
  list.dynamic = true;
  for (const jit::Value* in : n->inputs()) list.items.push_back(c.slot(in));
  c.bind(n->output(), list);
}

void lower_list_unpack(Converter& c, const jit::Node* n) {
  const Slot& list = c.slot(n->input(0));
  for (size_t k = 0; k < n->outputs().size(); ++k) c.bind(n->output(k), Slot(list.items.at(k)));
}

void lower_getitem(Converter& c, const jit::Node* n) {
  const Slot& list = c.slot(n->input(0));
  if (n->input(0)->type()->kind() != c10::TypeKind::ListType && n->input(0)->type()->kind() != c10::TypeKind::TupleType)
    c.fail(n, "indexing a tensor this way is not supported; use slicing or select");
  int64_t index = c.known_int(n, n->input(1));
  if (index < 0) index += static_cast<int64_t>(list.items.size());
  c.bind(n->output(), Slot(list.items.at(static_cast<size_t>(index))));
}

// chunk / split / unbind: one Split whose outputs become the list's items.
void lower_split(Converter& c, const jit::Node* n) {
  const std::vector<at::Tensor> parts = c.slot(n->output()).example.toTensorVector();
  const int64_t rank = c.rank(n->input(0));
  const bool unbind = n->kind() == c10::aten::unbind;
  const int64_t axis = normalize_dim(c.known_int(n, n->input(unbind ? 1 : 2)), rank);
  std::vector<int64_t> sizes;
  for (const at::Tensor& p : parts) sizes.push_back(unbind ? 1 : p.size(axis));
  const std::string hint = n->output()->debugName();
  c.emit("Split", {c.tensor(n->input(0)), c.ints_constant(sizes, "split")}, {{"axis", Attribute::of_int(axis)}}, hint,
         parts.size());
  std::vector<std::string> outs = c.last_outputs();
  Slot list = c.slot(n->output());
  list.dynamic = true;
  for (size_t k = 0; k < parts.size(); ++k) {
    std::string name = unbind ? c.emit("Squeeze", {outs[k], c.ints_constant({axis}, "axes")}, {}, hint + "_item") : outs[k];
    list.items.push_back(Slot{parts[k], true, name, {}});
  }
  c.bind(n->output(), list);
}

void lower_slice(Converter& c, const jit::Node* n) {
  const int64_t rank = c.rank(n->input(0));
  const int64_t axis = normalize_dim(c.known_int(n, n->input(1)), rank);
  const int64_t start = c.is_none(n->input(2)) ? 0 : c.known_int(n, n->input(2));
  const int64_t end = c.is_none(n->input(3)) ? std::numeric_limits<int64_t>::max() : c.known_int(n, n->input(3));
  const int64_t step = c.known_int(n, n->input(4));
  c.bind(n, c.emit("Slice",
                   {c.tensor(n->input(0)), c.ints_constant({start}, "starts"), c.ints_constant({end}, "ends"),
                    c.ints_constant({axis}, "axes"), c.ints_constant({step}, "steps")},
                   {}, n->output()->debugName()));
}

void lower_select(Converter& c, const jit::Node* n) {
  const int64_t axis = normalize_dim(c.known_int(n, n->input(1)), c.rank(n->input(0)));
  std::string index = c.constant(at::scalar_tensor(c.known_int(n, n->input(2)), at::kLong), "index");
  c.bind(n, c.emit("Gather", {c.tensor(n->input(0)), index}, {{"axis", Attribute::of_int(axis)}}, n->output()->debugName()));
}

// Pool kernels: max_pool(x, kernel, stride, padding, dilation, ceil_mode) and
// avg_pool(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override).
void lower_pool(Converter& c, const jit::Node* n) {
  const bool max = n->kind().toUnqualString()[0] == 'm';
  std::vector<int64_t> kernel = c.known_ints(n, n->input(1));
  const size_t spatial = static_cast<size_t>(c.rank(n->input(0)) - 2);
  kernel = repeat_to(kernel, spatial);
  std::vector<int64_t> stride = c.known_ints(n, n->input(2));
  stride = stride.empty() ? kernel : repeat_to(stride, spatial);
  std::vector<int64_t> pads = repeat_to(c.known_ints(n, n->input(3)), spatial);
  pads.insert(pads.end(), pads.begin(), pads.end());
  std::map<std::string, Attribute> attrs = {
      {"kernel_shape", Attribute::of_ints(kernel)}, {"strides", Attribute::of_ints(stride)}, {"pads", Attribute::of_ints(pads)}};
  if (max) {
    attrs["dilations"] = Attribute::of_ints(repeat_to(c.known_ints(n, n->input(4)), spatial));
    attrs["ceil_mode"] = Attribute::of_int(c.known(n, n->input(5)).toBool());
  } else {
    attrs["ceil_mode"] = Attribute::of_int(c.known(n, n->input(4)).toBool());
    attrs["count_include_pad"] = Attribute::of_int(c.known(n, n->input(5)).toBool());
    if (n->inputs().size() > 6 && !c.is_none(n->input(6))) c.fail(n, "avg_pool with divisor_override is not supported");
  }
  c.bind(n, c.emit(max ? "MaxPool" : "AveragePool", {c.tensor(n->input(0))}, attrs, n->output()->debugName()));
}

// Output 1x1: GlobalAveragePool; an output size dividing the input: AveragePool with
// kernel = stride = input / output.
void lower_adaptive_avg_pool(Converter& c, const jit::Node* n) {
  const at::Tensor& x = c.example_tensor(n->input(0));
  const at::Tensor& y = c.example_tensor(n->output());
  const std::string hint = n->output()->debugName();
  std::vector<int64_t> kernel;
  bool global = true;
  for (int64_t d = 2; d < x.dim(); ++d) {
    if (x.size(d) % y.size(d) != 0)
      c.fail(n, fmt::format("output size {} does not divide input size {}", y.size(d), x.size(d)));
    kernel.push_back(x.size(d) / y.size(d));
    global = global && y.size(d) == 1;
  }
  if (global) return c.bind(n, c.emit("GlobalAveragePool", {c.tensor(n->input(0))}, {}, hint));
  c.bind(n, c.emit("AveragePool", {c.tensor(n->input(0))},
                   {{"kernel_shape", Attribute::of_ints(kernel)}, {"strides", Attribute::of_ints(kernel)}}, hint));
}

// mean/sum over dims (or all of them): (x, dtype) or (x, dims?, keepdim, dtype).
Lowering reduce(const std::string& op) {
  return [op](Converter& c, const jit::Node* n) {
    const int64_t rank = c.rank(n->input(0));
    const bool with_dims = n->inputs().size() >= 4;
    if (!c.is_none(n->inputs().back())) c.fail(n, "a reduction with a dtype is not supported");
    std::vector<int64_t> axes;
    if (with_dims && !c.is_none(n->input(1))) axes = c.known_ints(n, n->input(1));
    if (axes.empty())
      for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
    for (int64_t& a : axes) a = normalize_dim(a, rank);
    const Attribute keepdims = Attribute::of_int(with_dims && c.known(n, n->input(2)).toBool());
    const std::string x = c.tensor(n->input(0)), hint = n->output()->debugName();
    // ReduceMean takes axes as an attribute up to opset 17, ReduceSum as an input from 13.
    if (op == "ReduceSum") return c.bind(n, c.emit(op, {x, c.ints_constant(axes, "axes")}, {{"keepdims", keepdims}}, hint));
    c.bind(n, c.emit(op, {x}, {{"axes", Attribute::of_ints(axes)}, {"keepdims", keepdims}}, hint));
  };
}

void lower_cast(Converter& c, const jit::Node* n) {
  c.bind(n, c.cast(c.tensor(n->input(0)), c.example_tensor(n->input(0)).scalar_type(), c.out_dtype(n)));
}

void lower_masked_fill(Converter& c, const jit::Node* n) {
  std::string value = c.operand(n->input(2), c.out_dtype(n));
  c.bind(n, c.emit("Where", {c.tensor(n->input(1)), value, c.tensor(n->input(0))}, {}, n->output()->debugName()));
}

void lower_where(Converter& c, const jit::Node* n) {
  const at::ScalarType dtype = c.out_dtype(n);
  c.bind(n, c.emit("Where", {c.tensor(n->input(0)), c.operand(n->input(1), dtype), c.operand(n->input(2), dtype)}, {},
                   n->output()->debugName()));
}

void lower_expand(Converter& c, const jit::Node* n) {
  c.bind(n, c.emit("Expand", {c.tensor(n->input(0)), c.ints_constant(c.example_tensor(n->output()).sizes().vec(), "shape")}, {},
                   n->output()->debugName()));
}

void lower_pow(Converter& c, const jit::Node* n) {
  const at::ScalarType dtype = c.out_dtype(n);
  c.bind(n, c.emit("Pow", {c.operand(n->input(0), dtype), c.operand(n->input(1), dtype)}, {}, n->output()->debugName()));
}

void lower_rsqrt(Converter& c, const jit::Node* n) {
  const std::string hint = n->output()->debugName();
  c.bind(n, c.emit("Reciprocal", {c.emit("Sqrt", {c.tensor(n->input(0))}, {}, hint + "_sqrt")}, {}, hint));
}

const std::map<std::string, Lowering>& lowerings() {
  static const std::map<std::string, Lowering> table = [] {
    std::map<std::string, Lowering> t;
    for (const char* op : {"aten::conv1d", "aten::conv2d", "aten::conv3d", "aten::_convolution", "aten::conv_transpose1d",
                           "aten::conv_transpose2d", "aten::conv_transpose3d"})
      t[op] = lower_conv;
    t["aten::linear"] = lower_linear;
    for (const char* op : {"aten::matmul", "aten::mm", "aten::bmm"})
      t[op] = [](Converter& c, const jit::Node* n) {
        c.bind(n, c.emit("MatMul", {c.tensor(n->input(0)), c.tensor(n->input(1))}, {}, n->output()->debugName()));
      };
    t["aten::addmm"] = lower_addmm;
    t["aten::batch_norm"] = lower_batch_norm;
    t["aten::layer_norm"] = lower_layer_norm;
    t["aten::relu"] = unary("Relu");
    t["aten::sigmoid"] = unary("Sigmoid");
    t["aten::tanh"] = unary("Tanh");
    t["aten::hardswish"] = unary("HardSwish");
    t["aten::exp"] = unary("Exp");
    t["aten::log"] = unary("Log");
    t["aten::sqrt"] = unary("Sqrt");
    t["aten::neg"] = unary("Neg");
    t["aten::abs"] = unary("Abs");
    t["aten::erf"] = unary("Erf");
    t["aten::reciprocal"] = unary("Reciprocal");
    t["aten::rsqrt"] = lower_rsqrt;
    t["aten::gelu"] = lower_gelu;
    t["aten::silu"] = lower_silu;
    t["aten::hardsigmoid"] = [](Converter& c, const jit::Node* n) {
      c.bind(n, c.emit("HardSigmoid", {c.tensor(n->input(0))},
                       {{"alpha", Attribute::of_float(1.0f / 6)}, {"beta", Attribute::of_float(0.5f)}}, n->output()->debugName()));
    };
    t["aten::leaky_relu"] = [](Converter& c, const jit::Node* n) {
      const float slope = n->inputs().size() > 1 ? static_cast<float>(c.known_double(n, n->input(1))) : 0.01f;
      c.bind(n, c.emit("LeakyRelu", {c.tensor(n->input(0))}, {{"alpha", Attribute::of_float(slope)}}, n->output()->debugName()));
    };
    t["aten::relu6"] = [](Converter& c, const jit::Node* n) { lower_clamp(c, n, 0.0, 6.0); };
    t["aten::hardtanh"] = [](Converter& c, const jit::Node* n) {
      lower_clamp(c, n, c.known_double(n, n->input(1)), c.known_double(n, n->input(2)));
    };
    t["aten::clamp"] = [](Converter& c, const jit::Node* n) {
      auto bound = [&](const jit::Value* v) -> c10::optional<double> {
        if (c.is_none(v)) return c10::nullopt;
        return c.known_double(n, v);
      };
      lower_clamp(c, n, bound(n->input(1)), bound(n->input(2)));
    };
    t["aten::add"] = binary("Add");
    t["aten::sub"] = binary("Sub");
    t["aten::rsub"] = binary("Sub", true);
    t["aten::mul"] = binary("Mul");
    t["aten::div"] = binary("Div");
    t["aten::pow"] = lower_pow;
    t["aten::softmax"] = softmax("Softmax");
    t["aten::log_softmax"] = softmax("LogSoftmax");
    t["aten::embedding"] = lower_embedding;
    t["aten::view"] = lower_reshape;
    t["aten::reshape"] = lower_reshape;
    t["aten::flatten"] = lower_flatten;
    t["aten::permute"] = lower_permute;
    t["aten::transpose"] = lower_transpose;
    t["aten::t"] = lower_transpose;
    t["aten::unsqueeze"] = lower_unsqueeze;
    t["aten::squeeze"] = lower_squeeze;
    t["aten::cat"] = lower_cat;
    t["aten::stack"] = lower_cat;
    t["aten::chunk"] = lower_split;
    t["aten::split"] = lower_split;
    t["aten::unbind"] = lower_split;
    t["aten::slice"] = lower_slice;
    t["aten::select"] = lower_select;
    for (const char* op : {"aten::max_pool1d", "aten::max_pool2d", "aten::max_pool3d", "aten::avg_pool1d", "aten::avg_pool2d",
                           "aten::avg_pool3d"})
      t[op] = lower_pool;
    for (const char* op : {"aten::adaptive_avg_pool1d", "aten::adaptive_avg_pool2d", "aten::adaptive_avg_pool3d"})
      t[op] = lower_adaptive_avg_pool;
    t["aten::mean"] = reduce("ReduceMean");
    t["aten::sum"] = reduce("ReduceSum");
    t["aten::masked_fill"] = lower_masked_fill;
    t["aten::where"] = lower_where;
    t["aten::expand"] = lower_expand;
    t["aten::expand_as"] = lower_expand;
    for (const char* op : {"aten::to", "aten::type_as", "aten::float", "aten::long", "aten::int"}) t[op] = lower_cast;
    // Identity in eval mode, or on values the IR does not distinguish.
    for (const char* op : {"aten::dropout", "aten::feature_dropout", "aten::alpha_dropout", "aten::contiguous",
                           "aten::clone", "aten::detach"})
      t[op] = lower_alias;
    for (const char* op : {"prim::ListConstruct", "prim::TupleConstruct"}) t[op] = lower_list_construct;
    for (const char* op : {"prim::ListUnpack", "prim::TupleUnpack"}) t[op] = lower_list_unpack;
    t["aten::__getitem__"] = lower_getitem;
    t["prim::TupleIndex"] = lower_getitem;
    return t;
  }();
  return table;
}

// Loads, freezes and simplifies the module's forward graph. Returns the graph and the names of
// forward()'s arguments (self first).
std::shared_ptr<jit::Graph> load_graph(const std::string& path, std::vector<std::string>& arg_names) {
  jit::Module module;
  try {
    module = jit::load(path);
  } catch (const c10::Error& e) {
    throw InputError(fmt::format("'{}': not a readable TorchScript archive: {}", path, first_line(e)));
  } catch (const std::exception& e) {
    throw InputError(fmt::format("'{}': not a readable TorchScript archive: {}", path, split(e.what(), '\n')[0]));
  }
  if (!module.find_method("forward")) throw InputError(fmt::format("'{}': the TorchScript module has no forward()", path));
  try {
    module.eval();
    // optimize_numerics=false keeps the graph as written (batch_norm stays batch_norm); our
    // passes do the folding, with their own tests and tolerances.
    jit::Module frozen = jit::freeze(module, c10::nullopt, /*optimize_numerics=*/false);
    jit::Method forward = frozen.get_method("forward");
    for (const c10::Argument& a : forward.function().getSchema().arguments()) arg_names.push_back(a.name());
    std::shared_ptr<jit::Graph> graph = forward.graph()->copy();
    jit::Inline(*graph);
    jit::RemoveListMutation(graph);
    jit::RemoveTensorMutation(graph);
    jit::LowerSimpleTuples(graph);
    jit::ConstantPropagation(graph);
    jit::EliminateDeadCode(graph);
    return graph;
  } catch (const c10::Error& e) {
    throw InputError(fmt::format("'{}': cannot freeze the TorchScript module: {}", path, first_line(e)));
  }
}

}  // namespace

std::pair<std::string, InputSpec> parse_input_spec(const std::string& text) {
  const std::string form = "expected NAME:DIMS[:TYPE] or DIMS, e.g. x:1x3x224x224 or ids:1x16:int64";
  std::vector<std::string> parts = split(text, ':');
  if (parts.size() > 3) throw InputError(fmt::format("--input-shape '{}': {}", text, form));
  std::string name = parts.size() >= 2 ? parts[0] : "";
  if (parts.size() >= 2 && name.empty()) throw InputError(fmt::format("--input-shape '{}': empty input name; {}", text, form));
  InputSpec spec;
  for (const std::string& d : split(parts.size() >= 2 ? parts[1] : parts[0], 'x')) {
    size_t used = 0;
    int64_t value = -1;
    try {
      value = std::stoll(d, &used);
    } catch (const std::exception&) {
    }
    if (d.empty() || used != d.size() || value <= 0)
      throw InputError(fmt::format("--input-shape '{}': '{}' is not a positive dimension; {}", text, d, form));
    spec.dims.push_back(value);
  }
  if (parts.size() == 3) {
    static const std::map<std::string, at::ScalarType> types = {
        {"float32", at::kFloat}, {"float", at::kFloat}, {"float16", at::kHalf}, {"float64", at::kDouble},
        {"int64", at::kLong},    {"int32", at::kInt},   {"bool", at::kBool}};
    auto t = types.find(parts[2]);
    if (t == types.end())
      throw InputError(fmt::format("--input-shape '{}': unknown type '{}' (float32, float16, float64, int64, int32, bool)", text,
                                   parts[2]));
    spec.elem_type = onnx_from_scalar_type(t->second);
  }
  return {name, spec};
}

Model import_torchscript(const std::string& path, const std::map<std::string, InputSpec>& inputs) {
  std::vector<std::string> arg_names;
  std::shared_ptr<jit::Graph> graph = load_graph(path, arg_names);
  Model model;
  {
    at::NoGradGuard no_grad;
    model = Converter(path).convert(graph, arg_names, inputs);
  }
  // Through ONNX and back: onnx::checker and shape inference see the result like any file.
  onnx::ModelProto proto;
  export_onnx(model, &proto);
  return import_onnx(std::move(proto), "");
}

}  // namespace edgepack
