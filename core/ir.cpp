#include "core/ir.h"

#include <fmt/format.h>

#include <set>

#include "core/error.h"

namespace edgepack {

Attribute Attribute::of_int(int64_t v) { Attribute a; a.kind = Kind::Int; a.i = v; return a; }
Attribute Attribute::of_float(float v) { Attribute a; a.kind = Kind::Float; a.f = v; return a; }
Attribute Attribute::of_string(std::string v) { Attribute a; a.kind = Kind::String; a.s = std::move(v); return a; }
Attribute Attribute::of_ints(std::vector<int64_t> v) { Attribute a; a.kind = Kind::Ints; a.ints = std::move(v); return a; }
Attribute Attribute::of_floats(std::vector<float> v) { Attribute a; a.kind = Kind::Floats; a.floats = std::move(v); return a; }
Attribute Attribute::of_tensor(at::Tensor v) { Attribute a; a.kind = Kind::Tensor; a.t = std::move(v); return a; }

std::vector<int64_t> ValueInfo::concrete_shape(int64_t fill) const {
  std::vector<int64_t> out;
  if (!shape) return out;
  for (const Dim& d : *shape) out.push_back(d.known() ? d.value : fill);
  return out;
}

const Attribute& Node::attr(const std::string& a) const {
  auto it = attrs.find(a);
  if (it == attrs.end()) throw InputError(fmt::format("{}: missing attribute '{}'", label(), a));
  return it->second;
}

int64_t Node::attr_int(const std::string& a, int64_t fallback) const {
  auto it = attrs.find(a);
  return it == attrs.end() ? fallback : it->second.i;
}

float Node::attr_float(const std::string& a, float fallback) const {
  auto it = attrs.find(a);
  return it == attrs.end() ? fallback : it->second.f;
}

std::string Node::attr_string(const std::string& a, const std::string& fallback) const {
  auto it = attrs.find(a);
  return it == attrs.end() ? fallback : it->second.s;
}

std::vector<int64_t> Node::attr_ints(const std::string& a, std::vector<int64_t> fallback) const {
  auto it = attrs.find(a);
  return it == attrs.end() ? fallback : it->second.ints;
}

std::vector<float> Node::attr_floats(const std::string& a, std::vector<float> fallback) const {
  auto it = attrs.find(a);
  return it == attrs.end() ? fallback : it->second.floats;
}

std::string Node::label() const {
  if (!name.empty()) return fmt::format("{} node '{}'", op_type, name);
  return fmt::format("{} node producing '{}'", op_type, outputs.empty() ? "" : outputs.front());
}

std::vector<const ValueInfo*> Graph::runtime_inputs() const {
  std::vector<const ValueInfo*> out;
  for (const ValueInfo& v : inputs)
    if (!is_initializer(v.name)) out.push_back(&v);
  return out;
}

const ValueInfo* Graph::find_value(const std::string& v) const {
  for (const auto* list : {&inputs, &outputs, &value_info})
    for (const ValueInfo& info : *list)
      if (info.name == v) return &info;
  return nullptr;
}

int Graph::producer(const std::string& v) const {
  for (size_t i = 0; i < nodes.size(); ++i)
    for (const std::string& o : nodes[i].outputs)
      if (o == v) return static_cast<int>(i);
  return -1;
}

bool has_subgraphs(const Node& node) {
  for (const auto& [_, a] : node.attrs)
    if (a.kind == Attribute::Kind::Graph && a.g) return true;
  return false;
}

namespace {

// Adds to `reads` what `g` reads from outside itself.
void collect_outer_reads(const Graph& g, std::set<std::string>& reads) {
  std::set<std::string> defined;
  for (const ValueInfo& v : g.inputs) defined.insert(v.name);
  for (const auto& [name, _] : g.initializers) defined.insert(name);
  for (const Node& n : g.nodes) defined.insert(n.outputs.begin(), n.outputs.end());
  auto note = [&](const std::string& v) {
    if (!v.empty() && !defined.count(v)) reads.insert(v);
  };
  for (const Node& n : g.nodes)
    for (const std::string& v : values_read(n)) note(v);
  for (const ValueInfo& v : g.outputs) note(v.name);
}

}  // namespace

std::vector<std::string> outer_reads(const Node& node) {
  std::set<std::string> reads;
  for (const auto& [_, a] : node.attrs)
    if (a.kind == Attribute::Kind::Graph && a.g) collect_outer_reads(*a.g, reads);
  return {reads.begin(), reads.end()};
}

std::vector<std::string> values_read(const Node& node) {
  std::vector<std::string> out;
  out.reserve(node.inputs.size());
  for (const std::string& v : node.inputs)
    if (!v.empty()) out.push_back(v);
  if (has_subgraphs(node))
    for (std::string& v : outer_reads(node)) out.push_back(std::move(v));
  return out;
}

int64_t Model::opset() const {
  auto it = opsets.find("");
  if (it == opsets.end()) it = opsets.find("ai.onnx");
  return it == opsets.end() ? 0 : it->second;
}

ValueInfo float_value(const std::string& name, std::vector<Dim> dims) {
  ValueInfo v;
  v.name = name;
  v.elem_type = 1;  // FLOAT
  v.shape = std::move(dims);
  return v;
}

Node make_node(const std::string& op, std::vector<std::string> inputs, const std::string& output) {
  Node n;
  n.name = output;
  n.op_type = op;
  n.inputs = std::move(inputs);
  n.outputs = {output};
  return n;
}

}  // namespace edgepack
