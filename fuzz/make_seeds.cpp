// Writes the seed corpora of the fuzz targets into DIR/<target>/: small valid inputs of every
// shape the parsers accept (the same kinds the tests build), so mutations start deep inside the
// parsers instead of at their magic bytes. Usage: make_seeds DIR
#include <ATen/ATen.h>
#include <onnx/onnx_pb.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/npy.h"
#include "core/tensor_proto.h"

using namespace edgepack;
namespace fs = std::filesystem;

namespace {

void write(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << bytes;
}

onnx::ValueInfoProto* value(google::protobuf::RepeatedPtrField<onnx::ValueInfoProto>* list, const std::string& name,
                            std::vector<int64_t> dims, int type = onnx::TensorProto::FLOAT) {
  auto* v = list->Add();
  v->set_name(name);
  auto* tt = v->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(type);
  for (int64_t d : dims) tt->mutable_shape()->add_dim()->set_dim_value(d);
  return v;
}

onnx::NodeProto* node(onnx::GraphProto* g, const std::string& op, std::vector<std::string> in, std::vector<std::string> out) {
  auto* n = g->add_node();
  n->set_op_type(op);
  n->set_name(out.at(0) + "_" + op);
  for (auto& i : in) n->add_input(i);
  for (auto& o : out) n->add_output(o);
  return n;
}

onnx::ModelProto model(int opset = 13) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.set_producer_name("seed");
  m.add_opset_import()->set_version(opset);
  m.mutable_graph()->set_name("seed");
  return m;
}

void initializer(onnx::GraphProto* g, const std::string& name, const at::Tensor& t) {
  tensor_to_proto(t, name, g->add_initializer());
}

std::vector<std::pair<std::string, std::string>> onnx_seeds() {
  std::vector<std::pair<std::string, std::string>> out;
  auto add = [&](const std::string& name, const onnx::ModelProto& m) { out.emplace_back(name, m.SerializeAsString()); };
  {  // Conv -> Relu with attributes and a bias (the tests' tiny_conv_model)
    auto m = model();
    auto* g = m.mutable_graph();
    value(g->mutable_input(), "X", {1, 3, 8, 8});
    value(g->mutable_output(), "Y", {1, 4, 8, 8});
    initializer(g, "W", at::arange(4 * 3 * 9, at::kFloat).reshape({4, 3, 3, 3}) / 100);
    initializer(g, "B", at::ones({4}));
    auto* c = node(g, "Conv", {"X", "W", "B"}, {"C"});
    auto* pads = c->add_attribute();
    pads->set_name("pads");
    pads->set_type(onnx::AttributeProto::INTS);
    for (int i = 0; i < 4; ++i) pads->add_ints(1);
    node(g, "Relu", {"C"}, {"Y"});
    add("conv_relu", m);
  }
  {  // Gemm with typed float_data and int64 shape constant
    auto m = model();
    auto* g = m.mutable_graph();
    value(g->mutable_input(), "X", {2, 4});
    value(g->mutable_output(), "Y", {2, 3});
    auto* w = g->add_initializer();
    w->set_name("W");
    w->set_data_type(onnx::TensorProto::FLOAT);
    w->add_dims(4);
    w->add_dims(3);
    for (int i = 0; i < 12; ++i) w->add_float_data(0.1f * i);
    auto* n = node(g, "Gemm", {"X", "W"}, {"G"});
    auto* alpha = n->add_attribute();
    alpha->set_name("alpha");
    alpha->set_type(onnx::AttributeProto::FLOAT);
    alpha->set_f(0.5f);
    initializer(g, "S", at::tensor({2, 3}, at::kLong));
    node(g, "Reshape", {"G", "S"}, {"Y"});
    add("gemm_reshape", m);
  }
  {  // external data in the model's folder (the fuzz target provides w.bin, 256 bytes)
    auto m = model();
    auto* g = m.mutable_graph();
    value(g->mutable_input(), "X", {4});
    value(g->mutable_output(), "Y", {4});
    auto* w = g->add_initializer();
    w->set_name("W");
    w->set_data_type(onnx::TensorProto::FLOAT);
    w->add_dims(4);
    w->set_data_location(onnx::TensorProto::EXTERNAL);
    for (auto [k, v] : {std::pair<const char*, const char*>{"location", "w.bin"}, {"offset", "16"}, {"length", "16"}}) {
      auto* kv = w->add_external_data();
      kv->set_key(k);
      kv->set_value(v);
    }
    node(g, "Add", {"X", "W"}, {"Y"});
    add("external_data", m);
  }
  {  // If with two subgraph branches, a Constant attribute tensor, a string attribute
    auto m = model();
    auto* g = m.mutable_graph();
    value(g->mutable_input(), "C", {}, onnx::TensorProto::BOOL);
    value(g->mutable_input(), "X", {2});
    value(g->mutable_output(), "Y", {2});
    auto* n = node(g, "If", {"C"}, {"Y"});
    for (const char* b : {"then_branch", "else_branch"}) {
      auto* a = n->add_attribute();
      a->set_name(b);
      a->set_type(onnx::AttributeProto::GRAPH);
      auto* body = a->mutable_g();
      body->set_name(b);
      value(body->mutable_output(), "Z", {2});
      auto* k = node(body, "Constant", {}, {"K"});
      auto* t = k->add_attribute();
      t->set_name("value");
      t->set_type(onnx::AttributeProto::TENSOR);
      tensor_to_proto(at::tensor({1.f, 2.f}), "k", t->mutable_t());
      node(body, "Add", {"X", "K"}, {"Z"});
    }
    add("if_subgraphs", m);
  }
  {  // opset 9 (lifted on import), Softmax with an axis, integer and half initializers
    auto m = model(9);
    m.set_ir_version(4);
    auto* g = m.mutable_graph();
    value(g->mutable_input(), "X", {1, 5});
    value(g->mutable_output(), "Y", {1, 5});
    initializer(g, "H", at::ones({5}, at::kHalf));
    initializer(g, "I", at::arange(5, at::kInt));
    auto* s = node(g, "Softmax", {"X"}, {"Y"});
    auto* axis = s->add_attribute();
    axis->set_name("axis");
    axis->set_type(onnx::AttributeProto::INT);
    axis->set_i(1);
    add("opset9_softmax", m);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const fs::path dir = argv[1];
  for (const auto& [name, bytes] : onnx_seeds()) write(dir / "fuzz_onnx_import" / (name + ".onnx"), bytes);

  // .npy of every supported dtype and rank 0..4, and .npz archives (stored, as np.savez writes).
  int k = 0;
  for (auto type : {at::kFloat, at::kDouble, at::kHalf, at::kChar, at::kShort, at::kInt, at::kLong, at::kByte, at::kBool}) {
    at::Tensor t = at::arange(24, at::kFloat).reshape({2, 3, 4}).to(type);
    write(dir / "fuzz_npy" / ("t" + std::to_string(k++) + ".npy"), npy_bytes(t));
  }
  write(dir / "fuzz_npy" / "scalar.npy", npy_bytes(at::scalar_tensor(3.5)));
  write(dir / "fuzz_npy" / "rank4.npy", npy_bytes(at::zeros({1, 2, 1, 3})));
  const fs::path npz = dir / "fuzz_npy" / "data.npz";
  write_npz(npz.string(), {{"X", at::randn({4, 3, 2})}, {"labels", at::arange(4, at::kLong)}});
  write_npz((dir / "fuzz_npy" / "one.npz").string(), {{"input", at::ones({2, 2}, at::kByte)}});

  const char* pipelines[] = {
      "fold-constants",
      "fold-bn,quantize",
      "fold-constants,fold-bn,quantize{calib=entropy activations=int8}",
      "quantize{exclude=conv1+Gemm per-channel=false percentile=99.9 bias-correction=true}",
      " quantize { calib=mse equalize=1 } , fold-bn ",
      "prune{ratio=0.5}",
  };
  k = 0;
  for (const char* p : pipelines) write(dir / "fuzz_pipeline" / ("p" + std::to_string(k++) + ".txt"), p);

  // Target files: the first byte picks the format (odd = YAML, even = JSON).
  write(dir / "fuzz_targets" / "new.json",
        std::string("\x00", 1) + R"({"targets": [{"id": "my-board", "name": "My board", "int8_tops": 5, "int8_kind": "sparse",
 "bandwidth_gbps": {"value": 25.6, "source": "datasheet", "confidence": "datasheet"}, "ram_mb": 4096, "power_w": 7.5,
 "precisions": ["int8", "fp16"], "artifact_format": "onnx-qdq", "class": "edge"}]})");
  write(dir / "fuzz_targets" / "override.json", std::string("\x00", 1) + R"({"targets": [{"id": "jetson-agx-orin", "ram_mb": 32768}]})");
  write(dir / "fuzz_targets" / "new.yaml", "\x01" R"(targets:
  - id: my-board
    name: "My board"
    int8_tops: 5
    fp16_tops: 2.5
    bandwidth_gbps: {value: 25.6, source: datasheet, confidence: datasheet}
    ram_mb: 4096
    power_w: 7.5
    precisions: [int8, fp16]
    notes: !str 1e3
  - id: jetson-agx-orin
    power_w: 40
)");
  write(dir / "fuzz_targets" / "anchors.yaml", "\x01" "base: &b {int8_tops: 1}\ntargets:\n  - id: x\n    name: X\n    <<: *b\n");
  return 0;
}
