#include "export/onnx_export.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include "core/error.h"
#include "core/file_util.h"
#include "core/tensor_proto.h"

namespace edgepack {

namespace {

void value_info_to_proto(const ValueInfo& v, onnx::ValueInfoProto* p) {
  p->set_name(v.name);
  if (v.elem_type == 0) return;
  auto* tt = p->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(v.elem_type);
  if (!v.shape) return;
  auto* shape = tt->mutable_shape();
  for (const Dim& d : *v.shape) {
    auto* dim = shape->add_dim();
    if (d.known()) dim->set_dim_value(d.value);
    else if (!d.param.empty()) dim->set_dim_param(d.param);
  }
}

void graph_to_proto(const Graph& g, onnx::GraphProto* p);

void attribute_to_proto(const std::string& name, const Attribute& a, onnx::AttributeProto* p) {
  using A = onnx::AttributeProto;
  p->set_name(name);
  switch (a.kind) {
    case Attribute::Kind::Float: p->set_type(A::FLOAT); p->set_f(a.f); break;
    case Attribute::Kind::Int: p->set_type(A::INT); p->set_i(a.i); break;
    case Attribute::Kind::String: p->set_type(A::STRING); p->set_s(a.s); break;
    case Attribute::Kind::Tensor: p->set_type(A::TENSOR); tensor_to_proto(a.t, "", p->mutable_t()); break;
    case Attribute::Kind::Graph: p->set_type(A::GRAPH); graph_to_proto(*a.g, p->mutable_g()); break;
    case Attribute::Kind::Floats:
      p->set_type(A::FLOATS);
      for (float v : a.floats) p->add_floats(v);
      break;
    case Attribute::Kind::Ints:
      p->set_type(A::INTS);
      for (int64_t v : a.ints) p->add_ints(v);
      break;
    case Attribute::Kind::Strings:
      p->set_type(A::STRINGS);
      for (const auto& v : a.strings) p->add_strings(v);
      break;
  }
}

void graph_to_proto(const Graph& g, onnx::GraphProto* p) {
  p->set_name(g.name.empty() ? "graph" : g.name);
  if (!g.doc_string.empty()) p->set_doc_string(g.doc_string);
  for (const Node& n : g.nodes) {
    auto* np = p->add_node();
    if (!n.name.empty()) np->set_name(n.name);
    np->set_op_type(n.op_type);
    if (!n.domain.empty()) np->set_domain(n.domain);
    if (!n.doc_string.empty()) np->set_doc_string(n.doc_string);
    for (const auto& i : n.inputs) np->add_input(i);
    for (const auto& o : n.outputs) np->add_output(o);
    for (const auto& [name, a] : n.attrs) attribute_to_proto(name, a, np->add_attribute());
  }
  for (const auto& [name, t] : g.initializers) tensor_to_proto(t, name, p->add_initializer());
  for (const auto& v : g.inputs) value_info_to_proto(v, p->add_input());
  for (const auto& v : g.outputs) value_info_to_proto(v, p->add_output());
  for (const auto& v : g.value_info) value_info_to_proto(v, p->add_value_info());
}

}  // namespace

void export_onnx(const Model& model, onnx::ModelProto* proto) {
  proto->Clear();
  proto->set_ir_version(model.ir_version);
  for (const auto& [domain, version] : model.opsets) {
    auto* o = proto->add_opset_import();
    o->set_domain(domain);
    o->set_version(version);
  }
  proto->set_producer_name(model.producer_name.empty() ? "edgepack" : model.producer_name);
  proto->set_producer_version(model.producer_version.empty() ? EDGEPACK_VERSION : model.producer_version);
  if (!model.domain.empty()) proto->set_domain(model.domain);
  if (model.model_version) proto->set_model_version(model.model_version);
  if (!model.doc_string.empty()) proto->set_doc_string(model.doc_string);
  for (const auto& [k, v] : model.metadata) {
    auto* kv = proto->add_metadata_props();
    kv->set_key(k);
    kv->set_value(v);
  }
  graph_to_proto(model.graph, proto->mutable_graph());
}

void save_onnx(const Model& model, const std::string& path) {
  onnx::ModelProto proto;
  export_onnx(model, &proto);
  try {
    onnx::checker::check_model(proto);
  } catch (const std::exception& e) {
    std::string msg = e.what();
    throw Error(fmt::format("refusing to write '{}': the exported model fails onnx::checker: {}", path,
                            msg.substr(0, msg.find('\n'))));
  }
  std::string bytes;
  if (!proto.SerializeToString(&bytes))
    throw Error(fmt::format("cannot serialise '{}': the model exceeds protobuf's 2 GB limit", path));
  write_file_atomic(path, bytes);
}

}  // namespace edgepack
