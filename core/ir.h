// The graph IR every pass works on. A Model owns one Graph; a Graph holds nodes in topological
// order, typed values (inputs, outputs, inferred value_info) and initializers as at::Tensor.
// Invariants: every node input is a graph input, an initializer, an earlier node's output, or ""
// (an omitted optional input); value names are unique. A subgraph's nodes may also read values of
// the graphs enclosing it (see outer_reads).
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace edgepack {

struct Graph;

// One ONNX attribute. `kind` says which member holds the value.
struct Attribute {
  enum class Kind { Float, Int, String, Tensor, Graph, Floats, Ints, Strings };
  Kind kind = Kind::Int;
  float f = 0;
  int64_t i = 0;
  std::string s;
  at::Tensor t;
  std::shared_ptr<Graph> g;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;

  static Attribute of_int(int64_t v);
  static Attribute of_float(float v);
  static Attribute of_string(std::string v);
  static Attribute of_ints(std::vector<int64_t> v);
  static Attribute of_floats(std::vector<float> v);
  static Attribute of_tensor(at::Tensor v);
};

// A dimension: a known size (value >= 0), a named symbol (param), or unknown (both empty).
struct Dim {
  int64_t value = -1;
  std::string param;
  bool known() const { return value >= 0; }
};

struct ValueInfo {
  std::string name;
  int32_t elem_type = 0;                    // onnx::TensorProto_DataType, 0 = unknown
  std::optional<std::vector<Dim>> shape;    // nullopt = rank unknown
  // Known dims as sizes, unknown dims as `fill` (e.g. 1 to build a sample input).
  std::vector<int64_t> concrete_shape(int64_t fill) const;
};

struct Node {
  std::string name;
  std::string op_type;
  std::string domain;                       // "" = ai.onnx
  std::vector<std::string> inputs;          // "" marks an omitted optional input
  std::vector<std::string> outputs;
  std::map<std::string, Attribute> attrs;
  std::string doc_string;

  bool has(const std::string& attr) const { return attrs.count(attr) != 0; }
  int64_t attr_int(const std::string& attr, int64_t fallback) const;
  float attr_float(const std::string& attr, float fallback) const;
  std::string attr_string(const std::string& attr, const std::string& fallback) const;
  std::vector<int64_t> attr_ints(const std::string& attr, std::vector<int64_t> fallback = {}) const;
  std::vector<float> attr_floats(const std::string& attr, std::vector<float> fallback = {}) const;
  // Throws InputError naming the node when the attribute is missing.
  const Attribute& attr(const std::string& attr) const;
  // "Conv 'conv1'" or "Conv #3" for messages.
  std::string label() const;
};

struct Graph {
  std::string name;
  std::string doc_string;
  std::vector<Node> nodes;
  std::vector<ValueInfo> inputs;            // may list initializers too (opset < 9 style)
  std::vector<ValueInfo> outputs;
  std::vector<ValueInfo> value_info;        // intermediate values, from shape inference
  std::map<std::string, at::Tensor> initializers;

  bool is_initializer(const std::string& v) const { return initializers.count(v) != 0; }
  // Graph inputs the caller must feed (inputs that are not initializers), in order.
  std::vector<const ValueInfo*> runtime_inputs() const;
  // Type/shape of any value known to the graph (input, output, value_info), or nullptr.
  const ValueInfo* find_value(const std::string& v) const;
  // Index of the node producing `v`, or -1.
  int producer(const std::string& v) const;
};

// Subgraphs (If branches, Loop and Scan bodies) read values of their enclosing graphs by name
// (ONNX lexical scoping), without listing them as node inputs. Anything that counts the uses of
// a value, frees it or drops it as unused must count these reads, or it deletes what a branch needs.
//
// True when some attribute of `node` holds a graph.
bool has_subgraphs(const Node& node);
// The names `node`'s subgraphs read from enclosing scopes, through nested subgraphs too: every
// value a subgraph node reads (or a subgraph output names) that the subgraph does not define
// itself (as an input, initializer or node output). Sorted, without duplicates; empty for a
// node without subgraphs.
std::vector<std::string> outer_reads(const Node& node);
// Every value `node` reads: its non-empty inputs, then its outer_reads (a name may repeat).
std::vector<std::string> values_read(const Node& node);

// A float tensor value of the given dims (Dim{-1, "N"} for a symbol), for graphs built in code.
ValueInfo float_value(const std::string& name, std::vector<Dim> dims);
// A node whose name is its single output.
Node make_node(const std::string& op, std::vector<std::string> inputs, const std::string& output);

struct Model {
  int64_t ir_version = 8;
  std::map<std::string, int64_t> opsets;    // domain ("" = ai.onnx) -> version
  std::string producer_name;
  std::string producer_version;
  std::string domain;
  int64_t model_version = 0;
  std::string doc_string;
  std::map<std::string, std::string> metadata;
  Graph graph;

  int64_t opset() const;                    // ai.onnx opset version
};

}  // namespace edgepack
