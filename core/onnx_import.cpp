#include "core/onnx_import.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>
#include <onnx/version_converter/convert.h>

#include <algorithm>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <tuple>

#include "core/error.h"
#include "core/file_util.h"
#include "core/tensor_proto.h"

namespace edgepack {
namespace fs = std::filesystem;

namespace {

ValueInfo value_info_from_proto(const onnx::ValueInfoProto& v) {
  ValueInfo info;
  info.name = v.name();
  if (!v.has_type() || !v.type().has_tensor_type()) return info;
  const auto& tt = v.type().tensor_type();
  info.elem_type = tt.elem_type();
  if (tt.has_shape()) {
    std::vector<Dim> dims;
    // Declared shapes feed sizes in inspect and the cost model: refuse what no tensor can have.
    int64_t numel = 1;
    for (const auto& d : tt.shape().dim()) {
      Dim dim;
      if (d.has_dim_value() && d.dim_value() < 0)
        throw InputError(fmt::format("value '{}' has a negative dimension {}", v.name(), d.dim_value()));
      if (d.has_dim_value() && d.dim_value() != 0 && numel > std::numeric_limits<int64_t>::max() / d.dim_value())
        throw InputError(fmt::format("value '{}': the product of its dimensions overflows", v.name()));
      if (d.has_dim_value()) numel *= std::max<int64_t>(d.dim_value(), 1);
      if (d.has_dim_value()) dim.value = d.dim_value();
      else if (d.has_dim_param()) dim.param = d.dim_param();
      dims.push_back(dim);
    }
    info.shape = dims;
  }
  return info;
}

Graph graph_from_proto(const onnx::GraphProto& g, const ExternalDataBase& base);

Attribute attribute_from_proto(const onnx::AttributeProto& a, const ExternalDataBase& base) {
  Attribute out;
  using A = onnx::AttributeProto;
  switch (a.type()) {
    case A::FLOAT: out = Attribute::of_float(a.f()); break;
    case A::INT: out = Attribute::of_int(a.i()); break;
    case A::STRING: out = Attribute::of_string(a.s()); break;
    case A::TENSOR: out = Attribute::of_tensor(tensor_from_proto(a.t(), base)); break;
    case A::FLOATS: out = Attribute::of_floats({a.floats().begin(), a.floats().end()}); break;
    case A::INTS: out = Attribute::of_ints({a.ints().begin(), a.ints().end()}); break;
    case A::STRINGS:
      out.kind = Attribute::Kind::Strings;
      out.strings.assign(a.strings().begin(), a.strings().end());
      break;
    case A::GRAPH:
      out.kind = Attribute::Kind::Graph;
      out.g = std::make_shared<Graph>(graph_from_proto(a.g(), base));
      break;
    default:
      throw InputError(fmt::format("attribute '{}' has a type edgepack does not support ({})", a.name(),
                                   A::AttributeType_Name(a.type())));
  }
  return out;
}

Graph graph_from_proto(const onnx::GraphProto& g, const ExternalDataBase& base) {
  Graph graph;
  graph.name = g.name();
  graph.doc_string = g.doc_string();
  if (g.sparse_initializer_size() > 0) throw InputError("sparse initializers are not supported");
  for (const auto& t : g.initializer()) {
    graph.initializers[t.name()] = tensor_from_proto(t, base);
    // The IR holds 4-bit values in int8/uint8 and UINT16/32/64 widened; the value's type
    // remembers the file's.
    if (is_onnx_4bit(t.data_type()) || is_onnx_wide_unsigned(t.data_type())) {
      ValueInfo info{t.name(), t.data_type(), std::vector<Dim>{}};
      for (int64_t d : t.dims()) info.shape->push_back(Dim{d, ""});
      graph.value_info.push_back(std::move(info));
    }
  }
  for (const auto& v : g.input()) graph.inputs.push_back(value_info_from_proto(v));
  for (const auto& v : g.output()) graph.outputs.push_back(value_info_from_proto(v));
  for (const auto& v : g.value_info()) graph.value_info.push_back(value_info_from_proto(v));
  graph.nodes.reserve(g.node_size());
  for (const auto& n : g.node()) {
    Node node;
    node.name = n.name();
    node.op_type = n.op_type();
    node.domain = n.domain() == "ai.onnx" ? "" : n.domain();
    node.inputs.assign(n.input().begin(), n.input().end());
    node.outputs.assign(n.output().begin(), n.output().end());
    node.doc_string = n.doc_string();
    for (const auto& a : n.attribute()) {
      try {
        node.attrs[a.name()] = attribute_from_proto(a, base);
      } catch (const InputError& e) {
        throw InputError(fmt::format("{}: {}", node.label(), e.what()));
      }
    }
    graph.nodes.push_back(std::move(node));
  }
  return graph;
}

// Bounds on what a model may hold, checked before onnx::checker, shape inference or our own
// recursive walks see the graph: each of those recurses per nesting level and loops per node,
// so a hostile file could otherwise overflow the stack or take minutes. Real models nest If/Loop
// bodies a few levels deep and stay well below 10^5 nodes (a 70B-parameter LLM export has ~10^4).
constexpr int kMaxSubgraphDepth = 64;
constexpr int64_t kMaxNodes = 500000;

void check_size(const onnx::GraphProto& g, int depth, int64_t& nodes) {
  if (depth > kMaxSubgraphDepth)
    throw InputError(fmt::format("subgraphs are nested more than {} levels deep", kMaxSubgraphDepth));
  nodes += g.node_size();
  if (nodes > kMaxNodes) throw InputError(fmt::format("the model has more than {} nodes, the most edgepack accepts", kMaxNodes));
  for (const auto& n : g.node())
    for (const auto& a : n.attribute()) {
      if (a.has_g()) check_size(a.g(), depth + 1, nodes);
      for (const auto& sub : a.graphs()) check_size(sub, depth + 1, nodes);
    }
}

// Every tensor that names external data, in all graphs: its location must pass our folder rule
// before onnx::checker sees it (the checker refuses absolute paths in its own words and would
// otherwise be the only guard for them).
void check_external_locations(const onnx::GraphProto& g, const ExternalDataBase& base) {
  for (const auto& t : g.initializer()) check_external_location(t, base);
  for (const auto& n : g.node())
    for (const auto& a : n.attribute()) {
      if (a.has_t()) check_external_location(a.t(), base);
      for (const auto& t : a.tensors()) check_external_location(t, base);
      if (a.has_g()) check_external_locations(a.g(), base);
      for (const auto& sub : a.graphs()) check_external_locations(sub, base);
    }
}

bool has_external_data(const onnx::GraphProto& g) {
  for (const auto& t : g.initializer())
    if (t.data_location() == onnx::TensorProto::EXTERNAL) return true;
  return false;
}

std::string first_line(const std::string& s) {
  auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

int64_t ai_onnx_opset(const onnx::ModelProto& proto) {
  for (const auto& o : proto.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx") return o.version();
  return 0;
}

// Before opset 7, PRelu's 1-D slope applied per channel; since then it broadcasts numpy-style
// (aligned with the last axis). The version converter leaves it alone, so make the slope
// [C,1,...,1] to keep the meaning in any runtime.
void widen_legacy_prelu_slopes(onnx::ModelProto& proto) {
  auto* g = proto.mutable_graph();
  std::map<std::string, int> rank;
  for (const auto* list : {&g->input(), &g->value_info(), &g->output()})
    for (const auto& v : *list)
      if (v.type().tensor_type().has_shape()) rank[v.name()] = v.type().tensor_type().shape().dim_size();
  for (const auto& n : g->node()) {
    if (n.op_type() != "PRelu" || n.input_size() < 2 || !rank.count(n.input(0)) || rank[n.input(0)] < 3) continue;
    for (auto& t : *g->mutable_initializer()) {
      if (t.name() != n.input(1) || t.dims_size() != 1) continue;
      for (int k = 2; k < rank[n.input(0)]; ++k) t.add_dims(1);
      // Old models also list initializers as graph inputs, with their shape.
      for (auto& v : *g->mutable_input()) {
        if (v.name() != t.name() || !v.type().tensor_type().has_shape()) continue;
        auto* shape = v.mutable_type()->mutable_tensor_type()->mutable_shape();
        while (shape->dim_size() < t.dims_size()) shape->add_dim()->set_dim_value(1);
      }
    }
  }
}

// Experimental ops that opset 10 removed have no version-converter adapter (the lift fails with
// "unordered_map::at"), and old converters wrote them: the ONNX model zoo's Tiny YOLOv2 (opset
// 7/8) starts with ImageScaler. For opset 7-9 (numpy broadcasting) each is rewritten into
// standard ops before the lift, its constants as initializers:
//   ImageScaler(x)        = x * scale + bias[c]      (bias as [C, 1, 1])
//   Affine(x)             = x * alpha + beta
//   Scale(x)              = x * scale
//   ScaledTanh(x)         = alpha * tanh(beta * x)
//   ParametricSoftplus(x) = alpha * softplus(beta * x)
// Returns the op types rewritten.
std::set<std::string> rewrite_removed_experimental_ops(onnx::ModelProto& proto) {
  std::set<std::string> rewritten;
  auto* g = proto.mutable_graph();
  auto attr_float = [](const onnx::NodeProto& n, const char* name, float fallback) {
    for (const auto& a : n.attribute())
      if (a.name() == name) return a.f();
    return fallback;
  };
  int fresh = 0;
  auto constant = [&](const std::string& base, std::vector<int64_t> dims, const std::vector<float>& values) {
    auto* t = g->add_initializer();
    t->set_name(fmt::format("{}__legacy{}", base, fresh++));
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) t->add_dims(d);
    for (float v : values) t->add_float_data(v);
    return t->name();
  };
  std::vector<onnx::NodeProto> nodes;
  auto emit = [&](const onnx::NodeProto& like, const std::string& op, std::vector<std::string> in, const std::string& out) {
    onnx::NodeProto n;
    n.set_name(fmt::format("{}/{}", like.name().empty() ? like.output(0) : like.name(), op));
    n.set_op_type(op);
    for (auto& i : in) n.add_input(i);
    n.add_output(out);
    nodes.push_back(std::move(n));
  };
  for (const auto& n : g->node()) {
    const std::string& op = n.op_type();
    const bool legacy = n.domain().empty() && n.input_size() == 1 && n.output_size() == 1 &&
                        (op == "ImageScaler" || op == "Affine" || op == "Scale" || op == "ScaledTanh" ||
                         op == "ParametricSoftplus");
    if (!legacy) {
      nodes.push_back(n);
      continue;
    }
    rewritten.insert(op);
    const std::string &x = n.input(0), &y = n.output(0), mid = y + "__legacy_mid";
    if (op == "ImageScaler") {
      std::vector<float> bias;
      for (const auto& a : n.attribute())
        if (a.name() == "bias") bias.assign(a.floats().begin(), a.floats().end());
      if (bias.empty()) {
        emit(n, "Mul", {x, constant(y, {}, {attr_float(n, "scale", 1.f)})}, y);
      } else {
        emit(n, "Mul", {x, constant(y, {}, {attr_float(n, "scale", 1.f)})}, mid);
        emit(n, "Add", {mid, constant(y, {static_cast<int64_t>(bias.size()), 1, 1}, bias)}, y);
      }
    } else if (op == "Affine") {
      emit(n, "Mul", {x, constant(y, {}, {attr_float(n, "alpha", 1.f)})}, mid);
      emit(n, "Add", {mid, constant(y, {}, {attr_float(n, "beta", 0.f)})}, y);
    } else if (op == "Scale") {
      emit(n, "Mul", {x, constant(y, {}, {attr_float(n, "scale", 1.f)})}, y);
    } else {
      const std::string inner = op == "ScaledTanh" ? "Tanh" : "Softplus", act = y + "__legacy_act";
      emit(n, "Mul", {x, constant(y, {}, {attr_float(n, "beta", 1.f)})}, mid);
      emit(n, inner, {mid}, act);
      emit(n, "Mul", {act, constant(y, {}, {attr_float(n, "alpha", 1.f)})}, y);
    }
  }
  if (!rewritten.empty()) {
    g->clear_node();
    for (auto& n : nodes) *g->add_node() = std::move(n);
  }
  return rewritten;
}

// ONNX 1.12's shape inference for Conv, ConvTranspose and the pools trusts the node: it indexes
// the dilations, strides and pads by the kernel's rank (taken from W's shape when kernel_shape is
// absent) and the input's dims by the kernel's rank, and divides by the strides. A Conv whose W
// has a higher rank than X, or whose attributes have the wrong length, reads out of bounds or
// through a null pointer (segfault; found by fuzz_onnx_import), a zero stride divides by zero.
// conv_pool_problem says what is wrong with such a node, given the ranks known for X and W
// (-1: unknown) and its attributes; an empty string means ONNX may run its inference on it.
struct ConvPoolOp {
  int weight_input;   // index of W, -1 for pools
};

const ConvPoolOp* conv_pool_op(const std::string& op_type, const std::string& domain) {
  static const std::map<std::string, ConvPoolOp> ops = {
      {"Conv", {1}},    {"ConvInteger", {1}}, {"QLinearConv", {3}}, {"ConvTranspose", {1}},
      {"AveragePool", {-1}}, {"MaxPool", {-1}}, {"LpPool", {-1}}, {"MaxUnpool", {-1}}};
  if (!domain.empty() && domain != "ai.onnx") return nullptr;
  auto it = ops.find(op_type);
  return it == ops.end() ? nullptr : &it->second;
}

template <class AttrOf>
std::string conv_pool_problem(const std::string& op_type, int x_rank, int w_rank, AttrOf&& attr_of) {
  if (x_rank >= 0 && x_rank < 2)
    return fmt::format("its input has rank {}; {} needs at least 2 (batch, channels)", x_rank, op_type);
  if (x_rank >= 0 && w_rank >= 0 && w_rank != x_rank)
    return fmt::format("its weight has rank {} but its input has rank {}; they must be equal", w_rank, x_rank);
  const int rank = x_rank >= 0 ? x_rank : w_rank;
  const int spatial = rank - 2;
  auto check = [&](const char* name, int per_axis, int64_t min_value) -> std::string {
    const onnx::AttributeProto* a = attr_of(name);
    if (!a) return {};
    if (rank >= 2 && a->ints_size() != per_axis * spatial)
      return fmt::format("attribute '{}' has {} values but its input has {} spatial axes (expects {})", name,
                         a->ints_size(), spatial, per_axis * spatial);
    for (int64_t v : a->ints())
      if (v < min_value) return fmt::format("attribute '{}' holds {}; each value must be at least {}", name, v, min_value);
    return {};
  };
  const int64_t any = std::numeric_limits<int64_t>::min();
  for (auto [name, per_axis, min_value] : {std::tuple{"kernel_shape", 1, int64_t{1}}, {"strides", 1, int64_t{1}},
                                           {"dilations", 1, int64_t{1}}, {"pads", 2, any}})
    if (auto why = check(name, per_axis, min_value); !why.empty()) return why;
  return {};
}

// Ranks declared in a graph (inputs, outputs, value_info, initializers), plus the enclosing
// graphs' for subgraphs, which may read outer values.
using RankMap = std::map<std::string, int>;

void add_declared_ranks(const onnx::GraphProto& g, RankMap& ranks) {
  for (const auto* list : {&g.input(), &g.output(), &g.value_info()})
    for (const auto& v : *list)
      if (v.type().has_tensor_type() && v.type().tensor_type().has_shape())
        ranks[v.name()] = v.type().tensor_type().shape().dim_size();
  for (const auto& t : g.initializer()) ranks[t.name()] = t.dims_size();
}

// Before shape inference: refuses a Conv/ConvTranspose/pool node whose declared ranks and
// attributes ONNX's inference would misread, naming the node. Ranks that only inference finds
// (outputs of earlier nodes) are checked by GuardedSchemaRegistry while it runs.
void check_conv_pool_nodes(const onnx::GraphProto& g, RankMap ranks) {
  add_declared_ranks(g, ranks);
  for (const auto& n : g.node()) {
    for (const auto& a : n.attribute()) {
      if (a.has_g()) check_conv_pool_nodes(a.g(), ranks);
      for (const auto& sub : a.graphs()) check_conv_pool_nodes(sub, ranks);
    }
    const ConvPoolOp* op = conv_pool_op(n.op_type(), n.domain());
    if (!op) continue;
    auto rank_of = [&](int index) {
      if (index < 0 || index >= n.input_size()) return -1;
      auto it = ranks.find(n.input(index));
      return it == ranks.end() ? -1 : it->second;
    };
    auto attr_of = [&](const char* name) -> const onnx::AttributeProto* {
      for (const auto& a : n.attribute())
        if (a.name() == name) return &a;
      return nullptr;
    };
    std::string why = conv_pool_problem(n.op_type(), rank_of(0), rank_of(op->weight_input), attr_of);
    if (!why.empty())
      throw InputError(fmt::format("{} node '{}': {}", n.op_type(),
                                   n.name().empty() && n.output_size() > 0 ? n.output(0) : n.name(), why));
  }
}

// The schemas ONNX's shape inference looks up, with the inference of the Conv/Pool family
// wrapped by conv_pool_problem: ranks inferred from earlier nodes are only known while inference
// runs. A problem is recorded and ends inference with our own exception (ONNX swallows its own
// InferenceError per node and goes on); import_onnx turns it into an InputError. The node's
// name is not available inside inference (ONNX 1.12's InferenceContext has none), so the message
// names the op type.
class GuardedSchemaRegistry : public onnx::ISchemaRegistry {
 public:
  struct Refusal {
    std::string why;
  };

  const onnx::OpSchema* GetSchema(const std::string& key, const int max_version,
                                  const std::string& domain) const override {
    const onnx::OpSchema* schema = onnx::OpSchemaRegistry::Instance()->GetSchema(key, max_version, domain);
    const ConvPoolOp* op = conv_pool_op(key, domain);
    if (!schema || !op) return schema;
    auto& guarded = guarded_[schema];
    if (!guarded) {
      guarded = std::make_unique<onnx::OpSchema>(*schema);
      auto infer = schema->GetTypeAndShapeInferenceFunction();
      guarded->TypeAndShapeInferenceFunction([infer, op, key](onnx::InferenceContext& ctx) {
        auto rank_of = [&](int index) {
          if (index < 0 || static_cast<size_t>(index) >= ctx.getNumInputs()) return -1;
          const onnx::TypeProto* t = ctx.getInputType(index);
          if (!t || !t->has_tensor_type() || !t->tensor_type().has_shape()) return -1;
          return t->tensor_type().shape().dim_size();
        };
        auto attr_of = [&](const char* name) { return ctx.getAttribute(name); };
        std::string why = conv_pool_problem(key, rank_of(0), rank_of(op->weight_input), attr_of);
        if (!why.empty()) throw Refusal{fmt::format("a {} node: {}", key, why)};
        infer(ctx);
      });
    }
    return guarded.get();
  }

 private:
  // Shape inference runs on one thread; a registry lives for one InferShapes call.
  mutable std::map<const onnx::OpSchema*, std::unique_ptr<onnx::OpSchema>> guarded_;
};

}  // namespace

bool newer_than_onnx_library(const onnx::ModelProto& proto) {
  if (proto.ir_version() > onnx::Version::IR_VERSION) return true;
  const auto& known = onnx::OpSchemaRegistry::DomainToVersionRange::Instance().Map();
  if (ai_onnx_opset(proto) > known.at(onnx::ONNX_DOMAIN).second) return true;
  for (const auto& t : proto.graph().initializer())
    if (is_onnx_4bit(t.data_type())) return true;
  return false;
}

void check_onnx_model(const onnx::ModelProto& proto, const std::string& folder) {
  if (newer_than_onnx_library(proto)) return;
  if (folder.empty() || !has_external_data(proto.graph())) {
    onnx::checker::check_model(proto);
    return;
  }
  // The checker looks for external files relative to the model's folder (the working folder
  // when none is set); our own loader (tensor_from_proto) enforces that they stay inside it.
  onnx::checker::CheckerContext ctx;
  ctx.set_ir_version(static_cast<int>(proto.ir_version()));
  std::unordered_map<std::string, int> opsets;
  for (const auto& o : proto.opset_import()) opsets[o.domain()] = static_cast<int>(o.version());
  ctx.set_opset_imports(opsets);
  ctx.set_model_dir(folder);
  onnx::checker::LexicalScopeContext lex;
  onnx::checker::check_graph(proto.graph(), ctx, lex);
}

Model import_onnx(onnx::ModelProto proto, const std::string& folder, const ImportOptions& options) {
  if (!proto.has_graph()) throw InputError("the model has no graph");
  int64_t nodes = 0;
  check_size(proto.graph(), 0, nodes);
  // onnx::checker (1.12) lets a graph output that nothing produces through, and ONNX's version
  // converter then dereferences a null value (segfault; found by fuzz_onnx_import).
  {
    std::set<std::string> defined;
    for (const auto& v : proto.graph().input()) defined.insert(v.name());
    for (const auto& t : proto.graph().initializer()) defined.insert(t.name());
    for (const auto& n : proto.graph().node()) defined.insert(n.output().begin(), n.output().end());
    for (const auto& v : proto.graph().output())
      if (!defined.count(v.name()))
        throw InputError(fmt::format("graph output '{}' is not produced by any node, input or initializer", v.name()));
  }
  check_external_locations(proto.graph(), ExternalDataBase{folder});
  try {
    check_onnx_model(proto, folder);
  } catch (const std::exception& e) {
    throw InputError(fmt::format("invalid ONNX model: {}", first_line(e.what())));
  }

  const int64_t opset = ai_onnx_opset(proto);
  const bool newer = newer_than_onnx_library(proto);
  auto infer = [&] {
    if (!options.infer_shapes || newer) return;
    GuardedSchemaRegistry registry;
    try {
      onnx::shape_inference::InferShapes(proto, &registry);
    } catch (const GuardedSchemaRegistry::Refusal& r) {
      throw InputError(r.why);
    } catch (const std::exception&) {
      // Shapes are a convenience (inspect, planning); the executor does not need them.
    }
  };
  // Also without shape inference: such a node is invalid ONNX, and the version converter walks it.
  check_conv_pool_nodes(proto.graph(), {});
  // Some adapters (Softmax 12->13) need the input shapes, so infer before converting too.
  infer();
  // The converter's Scan 8->9 adapter drops the batch axis from the graph's inputs and outputs,
  // so the lifted model no longer takes the data the original did; the executor runs Scan-8.
  const bool has_batched_scan =
      opset < 9 && std::any_of(proto.graph().node().begin(), proto.graph().node().end(),
                               [](const onnx::NodeProto& n) { return n.op_type() == "Scan" && n.domain().empty(); });
  if (has_batched_scan && options.convert_opset && options.warn)
    options.warn(fmt::format("opset {} stays: ONNX's version converter would change the inputs of its Scan", opset));
  if (options.convert_opset && opset > 0 && opset < kMinOpset && !has_batched_scan) {
    if (opset < 7) widen_legacy_prelu_slopes(proto);
    if (opset >= 7 && opset < 10) rewrite_removed_experimental_ops(proto);
    // As high as the converter gets: 13, else the highest opset from 12 down to 10 (where
    // QuantizeLinear starts) that it reaches, else the model's own. The kernels also implement
    // the older forms of the ops whose semantics changed (attribute vs input, Softmax's 2-D
    // coercion), so an unlifted model still runs; quantize then says what it can do at that opset.
    std::string why;
    for (int64_t target = kMinOpset; target > opset && target >= 10; --target) {
      onnx::ModelProto lifted = proto;
      try {
        // The converter's adapters for old ops (e.g. Pad-2) need IR version 7 features.
        if (lifted.ir_version() < 7) lifted.set_ir_version(7);
        lifted = onnx::version_conversion::ConvertVersion(lifted, static_cast<int>(target));
      } catch (const InputError&) {
        throw;
      } catch (const std::exception& e) {
        if (why.empty()) why = first_line(e.what());
        continue;
      }
      proto = std::move(lifted);
      infer();
      break;
    }
    const int64_t reached = ai_onnx_opset(proto);
    if (reached < kMinOpset && options.warn)
      options.warn(fmt::format("ONNX's version converter could not lift opset {} to {} ({}); the model {} opset {}{}", opset,
                               kMinOpset, why.empty() ? "no adapter" : why, reached > opset ? "was lifted to" : "stays at",
                               reached,
                               reached >= 10 ? ": quantize writes per-tensor weight scales"
                                             : ": it runs, but quantize needs opset 10 (re-export at 13 or newer)"));
  }

  Model model;
  model.ir_version = proto.ir_version();
  for (const auto& o : proto.opset_import())
    model.opsets[o.domain() == "ai.onnx" ? "" : o.domain()] = o.version();
  model.producer_name = proto.producer_name();
  model.producer_version = proto.producer_version();
  model.domain = proto.domain();
  model.model_version = proto.model_version();
  model.doc_string = proto.doc_string();
  for (const auto& kv : proto.metadata_props()) model.metadata[kv.key()] = kv.value();
  try {
    model.graph = graph_from_proto(proto.graph(), ExternalDataBase{folder});
  } catch (const InputError&) {
    throw;
  } catch (const std::exception& e) {
    // Files newer than ONNX 1.12 skip its checker, so a malformed one can reach LibTorch
    // (found by fuzz_onnx_import: a zero-sized external tensor at IR 10).
    throw InputError(fmt::format("invalid ONNX model: {}", first_line(e.what())));
  }

  // Initializers listed as graph inputs (IR < 4 style) would be overridable inputs: runtimes
  // then refuse to fold them. In our IR they are constants.
  auto& ins = model.graph.inputs;
  ins.erase(std::remove_if(ins.begin(), ins.end(), [&](const ValueInfo& v) { return model.graph.is_initializer(v.name); }),
            ins.end());
  model.ir_version = std::max<int64_t>(model.ir_version, 4);

  // Unique value names: the IR (and every pass) identifies values by name.
  std::set<std::string> produced;
  for (const auto& v : model.graph.inputs) produced.insert(v.name);
  for (const auto& [name, _] : model.graph.initializers) produced.insert(name);
  for (const Node& n : model.graph.nodes)
    for (const std::string& o : n.outputs)
      if (!o.empty() && !produced.insert(o).second && !model.graph.is_initializer(o))
        throw InputError(fmt::format("{}: value '{}' is produced twice", n.label(), o));
  return model;
}

Model import_onnx(const std::string& path, const ImportOptions& options) {
  // Protobuf cannot parse a message of 2 GiB or more; larger files need external data.
  std::string bytes = read_file(path, "model", (uint64_t{1} << 31) - 1);
  if (bytes.empty()) throw InputError(fmt::format("'{}' is empty, not an ONNX model", path));
  onnx::ModelProto proto;
  // Protobuf refuses messages nested deeper than 100 (~33 levels of subgraphs) by itself.
  if (!proto.ParseFromString(bytes))
    throw InputError(fmt::format("'{}' is not an ONNX model (truncated, not a protobuf ModelProto, or nested deeper "
                                 "than protobuf's limit of 100 messages)", path));
  bytes.clear();
  bytes.shrink_to_fit();
  if (!proto.has_graph() || proto.ir_version() == 0)
    throw InputError(fmt::format("'{}' is not an ONNX model (no graph or IR version)", path));
  fs::path folder = fs::absolute(fs::path(path)).parent_path();
  try {
    return import_onnx(std::move(proto), folder.string(), options);
  } catch (const InputError& e) {
    throw InputError(fmt::format("'{}': {}", path, e.what()));
  }
}

int64_t onnx_model_bytes(const std::string& path) {
  std::error_code ec;
  const auto file = fs::file_size(path, ec);
  if (ec) return 0;
  if (file > (uint64_t{64} << 20)) return static_cast<int64_t>(file);
  onnx::ModelProto proto;
  if (!proto.ParseFromString(read_file(path, "model"))) return static_cast<int64_t>(file);
  const fs::path folder = fs::absolute(fs::path(path)).parent_path();
  std::set<std::string> locations;
  for (const auto& t : proto.graph().initializer())
    if (t.data_location() == onnx::TensorProto::EXTERNAL)
      for (const auto& kv : t.external_data())
        if (kv.key() == "location") locations.insert(kv.value());
  uintmax_t total = file;
  for (const std::string& l : locations) {
    const auto bytes = fs::file_size(folder / l, ec);
    if (!ec) total += bytes;
  }
  return static_cast<int64_t>(total);
}

}  // namespace edgepack
