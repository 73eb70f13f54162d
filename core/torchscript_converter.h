// TorchScript graph -> IR: the walk. The Converter visits the prepared forward graph
// (core/torchscript_load.h) node by node and runs each node on example values of the given input
// shapes, so every shape, dtype and shape-derived number is known. What does not depend on the
// graph inputs stays a known value (a constant when a tensor is needed); each node that does is
// handed to its lowering (core/torchscript_lowerings.h), which emits ONNX nodes through the API
// below. Every IR value gets its type from those examples when it is created, so the Model that
// convert() returns is final: inputs, outputs, initializers and the value_info of every node
// output, as import_onnx with shape inference would give them.
#pragma once
#include <ATen/ATen.h>
#include <torch/csrc/jit/ir/ir.h>

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/ir.h"
#include "core/torchscript_import.h"

namespace edgepack::torchscript {

namespace jit = torch::jit;

// What the converter knows about one TorchScript value: its value on the example inputs
// (always; gives shapes, dtypes and every number), and, when it depends on the graph inputs,
// the IR value holding it (tensors) or its items (lists and tuples of such tensors).
struct Slot {
  c10::IValue example;
  bool dynamic = false;
  std::string name;
  std::vector<Slot> items;
};

// Element type and dims of an IR value.
struct ValueType {
  at::ScalarType dtype = at::kFloat;
  std::vector<int64_t> sizes;
  static ValueType of(const at::Tensor& t) { return {t.scalar_type(), t.sizes().vec()}; }
};

class Converter {
 public:
  explicit Converter(std::string path) : path_(std::move(path)) {}

  // `arg_names` are forward()'s (self first); `specs` as import_torchscript takes them.
  Model convert(const std::shared_ptr<jit::Graph>& graph, const std::vector<std::string>& arg_names,
                const std::map<std::string, InputSpec>& specs);

  // --- example values, for the lowerings ---
  const Slot& slot(const jit::Value* v) const { return slots_.at(v); }
  const at::Tensor& example_tensor(const jit::Value* v) const { return slot(v).example.toTensor(); }
  int64_t rank(const jit::Value* v) const { return example_tensor(v).dim(); }
  at::ScalarType out_dtype(const jit::Node* n) const { return example_tensor(n->output()).scalar_type(); }
  bool is_none(const jit::Value* v) const { return slot(v).example.isNone(); }
  // A number or list known at conversion time (InputError when it depends on the input data).
  const c10::IValue& known(const jit::Node* n, const jit::Value* v) const;
  int64_t known_int(const jit::Node* n, const jit::Value* v) const { return known(n, v).toInt(); }
  double known_double(const jit::Node* n, const jit::Value* v) const { return known(n, v).toScalar().toDouble(); }
  std::vector<int64_t> known_ints(const jit::Node* n, const jit::Value* v) const;

  // --- IR values ---
  // The IR value of a tensor: its node output, or an initializer for a known tensor.
  std::string tensor(const Slot& s, const std::string& hint = "const");
  std::string tensor(const jit::Value* v) { return tensor(slot(v), v->debugName()); }
  // The tensors of a list argument, dynamic items by name and known ones as initializers.
  std::vector<std::string> tensors(const jit::Value* list);
  // A tensor or number operand of an elementwise op, as a tensor of `dtype` (TorchScript
  // promotes types; ONNX wants both operands of one type).
  std::string operand(const jit::Value* v, at::ScalarType dtype);
  // `name` as `to` (a Cast node, or `name` itself when it already has that type).
  std::string cast(const std::string& name, at::ScalarType to);
  std::string constant(const at::Tensor& t, const std::string& hint);
  std::string ints_constant(const std::vector<int64_t>& v, const std::string& hint) {
    return constant(at::tensor(v, at::kLong), hint);
  }
  // The type of any IR value made so far (graph input, initializer, node output).
  const ValueType& type(const std::string& name) const { return types_.at(name); }

  // --- nodes ---
  // A node with one output, an intermediate value of the given type; returns its name.
  std::string emit(const std::string& op, std::vector<std::string> inputs, std::map<std::string, Attribute> attrs,
                   const std::string& hint, ValueType type);
  // A node with several outputs (Split), one type each; returns their names.
  std::vector<std::string> emit_outputs(const std::string& op, std::vector<std::string> inputs,
                                        std::map<std::string, Attribute> attrs, const std::string& hint,
                                        std::vector<ValueType> types);
  // The node computing `n`'s single output: named and typed after it, and bound to it.
  void lower_to(const jit::Node* n, const std::string& op, std::vector<std::string> inputs,
                std::map<std::string, Attribute> attrs = {});

  // Binds the node's single output to an IR value (a new node's output, or an alias).
  void bind(const jit::Node* n, const std::string& name) { bind(n->output(), name); }
  void bind(const jit::Value* v, const std::string& name);
  // Binds a list or tuple value to items (keeping `v`'s own example).
  void bind(const jit::Value* v, const Slot& from);

  [[noreturn]] void fail(const jit::Node* n, const std::string& why) const;

 private:
  std::string fresh(const std::string& hint);
  void add_node(Node node, std::vector<ValueType> types);
  void add_inputs(const std::shared_ptr<jit::Graph>& graph, const std::vector<std::string>& arg_names,
                  const std::map<std::string, InputSpec>& specs);
  void add_outputs(const std::shared_ptr<jit::Graph>& graph);
  ValueInfo value_info(const std::string& name) const;

  void convert_block(const jit::Block* block);
  void convert_node(const jit::Node* n);
  // Runs the node's TorchScript operation on the example values of its inputs.
  std::vector<c10::IValue> run_example(const jit::Node* n);
  void collect_outputs(const Slot& s, std::vector<Slot>& leaves);

  std::string path_;
  Model model_;
  std::unordered_map<const jit::Value*, Slot> slots_;
  std::map<const void*, std::pair<at::Tensor, std::string>> constants_;
  std::unordered_map<std::string, ValueType> types_;
  std::set<std::string> used_;
};

}  // namespace edgepack::torchscript
