#include "core/onnx_export.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <filesystem>
#include <functional>
#include <map>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/file_util.h"
#include "core/mapped_file.h"
#include "core/onnx_import.h"
#include "core/tensor_proto.h"

namespace edgepack {
namespace fs = std::filesystem;

namespace {

// Writes a top-level initializer as external data and returns true, or returns false to have it
// inlined as raw_data.
using ExternalHook = std::function<bool(const std::string& name, const at::Tensor& t, onnx::TensorProto* p)>;

void value_info_to_proto(const ValueInfo& v, onnx::ValueInfoProto* p) {
  p->set_name(v.name);
  if (v.elem_type == 0) return;
  auto* tt = p->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(v.elem_type);
  if (!v.shape) return;
  auto* shape = tt->mutable_shape();
  for (const Dim& d : *v.shape) {
    auto* dim = shape->add_dim();
    if (!d.param.empty()) dim->set_dim_param(d.param);   // a bound symbol stays a symbol (core/input_shapes.h)
    else if (d.known()) dim->set_dim_value(d.value);
  }
}

void graph_to_proto(const Graph& g, onnx::GraphProto* p, const ExternalHook& external = {});

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

void graph_to_proto(const Graph& g, onnx::GraphProto* p, const ExternalHook& external) {
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
  // Initializers the IR holds in another type than the file's: 4-bit in int8/uint8, UINT16/32/64
  // widened (core/tensor_proto.h); their declared type says which.
  std::map<std::string, int32_t> narrow;
  for (const auto* list : {&g.value_info, &g.inputs})
    for (const ValueInfo& v : *list)
      if ((is_onnx_4bit(v.elem_type) || is_onnx_wide_unsigned(v.elem_type)) && g.is_initializer(v.name)) narrow[v.name] = v.elem_type;
  for (const auto& [name, t] : g.initializers) {
    onnx::TensorProto* tp = p->add_initializer();
    auto it = narrow.find(name);
    if (it != narrow.end() && is_onnx_4bit(it->second)) tensor_to_proto_4bit(t, it->second, name, tp);
    else if (it != narrow.end()) tensor_to_proto_narrow(t, it->second, name, tp);
    else if (!external || !external(name, t, tp)) tensor_to_proto(t, name, tp);
  }
  for (const auto& v : g.inputs) value_info_to_proto(v, p->add_input());
  for (const auto& v : g.outputs) value_info_to_proto(v, p->add_output());
  for (const auto& v : g.value_info) value_info_to_proto(v, p->add_value_info());
}

void model_to_proto(const Model& model, onnx::ModelProto* proto, const ExternalHook& external) {
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
  graph_to_proto(model.graph, proto->mutable_graph(), external);
}

int64_t tensor_bytes(const at::Tensor& t) { return t.numel() * static_cast<int64_t>(t.element_size()); }

// Protobuf refuses messages of 2 GiB or more; past this many initializer bytes the model goes
// external (leaving room for the graph itself).
constexpr int64_t kInlineInitializerLimit = int64_t{3} << 29;   // 1.5 GiB
constexpr int64_t kDefaultExternalThreshold = 1024;
// Tensors start on a page boundary in the data file, so that they can be mapped.
constexpr uint64_t kExternalAlignment = 4096;

// value_info is derived data, and passes leave it stale: a pruned weight's or a resized value's
// old shape, values that no longer exist. ONNX's own shape inference rewrites it for the graph as
// written, in strict mode, so every written model passes the check TensorRT's, QNN's and most
// converters run first (onnx::checker and onnxruntime do not compare value_info with the graph).
// Files newer than the ONNX library (opset 21, 4-bit tensors) keep theirs: onnxruntime validates
// them in the tests.
void regenerate_value_info(onnx::ModelProto& proto, const std::string& path) {
  if (newer_than_onnx_library(proto)) return;
  proto.mutable_graph()->clear_value_info();
  try {
    onnx::shape_inference::InferShapes(proto, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(/*check_type_val=*/true, /*strict_mode_val=*/1));
  } catch (const std::exception& e) {
    const std::string msg = e.what();
    throw Error(fmt::format("refusing to write '{}': the exported model fails ONNX shape inference: {}", path,
                            msg.substr(0, msg.find('\n'))));
  }
}

void set_external(onnx::TensorProto* p, const std::string& location, int64_t offset, int64_t length) {
  p->clear_external_data();
  for (auto [key, value] : {std::pair<const char*, std::string>{"location", location},
                            {"offset", std::to_string(offset)}, {"length", std::to_string(length)}}) {
    auto* kv = p->add_external_data();
    kv->set_key(key);
    kv->set_value(value);
  }
}

}  // namespace

struct ExternalDataWriter::Impl {
  struct Entry {
    int64_t offset = 0, length = 0;
    const void* data = nullptr;   // the tensor append returned, to recognise it in the model
  };
  AtomicFileWriter file;
  std::map<std::string, Entry> entries;

  explicit Impl(const std::string& path) : file(path) {}

  Entry& write(const std::string& name, const at::Tensor& t) {
    at::Tensor c = t.contiguous();
    file.pad_to(kExternalAlignment);
    Entry& e = entries[name];
    e = Entry{static_cast<int64_t>(file.size()), tensor_bytes(c), nullptr};
    if (e.length) file.write(c.data_ptr(), static_cast<size_t>(e.length));
    return e;
  }
};

ExternalDataWriter::ExternalDataWriter(const std::string& requested_path) {
  const fs::path model_path = resolve_output_path(requested_path);   // the data lies beside the real file
  location_ = model_path.filename().string() + ".data";
  impl_ = std::make_unique<Impl>((model_path.parent_path() / location_).string());
}

ExternalDataWriter::~ExternalDataWriter() = default;

at::Tensor ExternalDataWriter::append(const std::string& name, const at::Tensor& t) {
  Impl::Entry& e = impl_->write(name, t);
  at::Tensor view;
  if (e.length >= kMinMappedBytes) {
    std::vector<int64_t> dims(t.sizes().begin(), t.sizes().end());
    view = map_tensor(impl_->file.fd(), e.offset, e.length, dims, t.scalar_type());
  }
  if (!view.defined()) view = t.contiguous();
  e.data = view.data_ptr();
  return view;
}

int64_t ExternalDataWriter::bytes() const { return static_cast<int64_t>(impl_->file.size()); }

void export_onnx(const Model& model, onnx::ModelProto* proto) { model_to_proto(model, proto, {}); }

void save_onnx(const Model& model, const std::string& path) { save_onnx(model, path, SaveOptions{}); }

void save_onnx(const Model& model, const std::string& requested_path, const SaveOptions& options) {
  const std::string path = resolve_output_path(requested_path);
  int64_t threshold = options.external_data_threshold;
  if (threshold < 0) {
    int64_t total = 0;
    for (const auto& [_, t] : model.graph.initializers) total += tensor_bytes(t);
    if (total > kInlineInitializerLimit) threshold = kDefaultExternalThreshold;
  }
  std::unique_ptr<ExternalDataWriter> own;
  ExternalDataWriter* external = options.external_data;
  if (!external && threshold >= 0) {
    own = std::make_unique<ExternalDataWriter>(path);
    external = own.get();
  }
  if (external && external->location() != fs::path(path).filename().string() + ".data")
    throw Error(fmt::format("cannot write '{}': its external data writer is for another model", path));

  // Tensors go to the data file one at a time, while the (small) proto is built.
  onnx::ModelProto proto;
  ExternalHook hook;
  if (external)
    hook = [&](const std::string& name, const at::Tensor& t, onnx::TensorProto* p) {
      auto& entries = external->impl_->entries;
      auto it = entries.find(name);
      const ExternalDataWriter::Impl::Entry* e = nullptr;
      if (it != entries.end() && it->second.data == t.data_ptr()) e = &it->second;
      else if (threshold >= 0 && tensor_bytes(t) >= threshold) e = &external->impl_->write(name, t);
      else return false;
      p->Clear();
      p->set_name(name);
      p->set_data_type(onnx_from_scalar_type(t.scalar_type()));
      for (int64_t d : t.sizes()) p->add_dims(d);
      p->set_data_location(onnx::TensorProto::EXTERNAL);
      set_external(p, external->location(), e->offset, e->length);
      return true;
    };
  model_to_proto(model, &proto, hook);

  const std::string folder = fs::absolute(fs::path(path)).parent_path().string();
  auto refuse = [&](const std::exception& e) {
    std::string msg = e.what();
    return Error(fmt::format("refusing to write '{}': the exported model fails onnx::checker: {}", path,
                             msg.substr(0, msg.find('\n'))));
  };
  if (!external) {
    try {
      check_onnx_model(proto, "");
    } catch (const std::exception& e) {
      throw refuse(e);
    }
  } else {
    // The checker opens the data file: show it the staged temporary, then name the final file.
    const std::string staged = fs::path(external->impl_->file.stage()).filename().string();
    auto relocate = [](onnx::GraphProto* g, const std::string& from, const std::string& to) {
      for (auto& t : *g->mutable_initializer())
        for (auto& kv : *t.mutable_external_data())
          if (kv.key() == "location" && kv.value() == from) kv.set_value(to);
    };
    relocate(proto.mutable_graph(), external->location(), staged);
    try {
      check_onnx_model(proto, folder);
    } catch (const std::exception& e) {
      throw refuse(e);
    }
    relocate(proto.mutable_graph(), staged, external->location());
  }
  regenerate_value_info(proto, path);
  std::string bytes;
  if (!proto.SerializeToString(&bytes))
    throw Error(fmt::format("cannot serialise '{}': the model exceeds protobuf's 2 GB limit", path));
  // The data first, the model last: the model never names data that is not there yet.
  if (external) external->impl_->file.commit();
  write_file_atomic(path, bytes);
}

}  // namespace edgepack
