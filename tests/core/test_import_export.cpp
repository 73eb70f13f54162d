// ONNX import/export: round trips, tensor encodings, external data and its folder rule.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <onnx/onnx_pb.h>

#include <map>
#include <tuple>
#include <vector>

#include "core/error.h"
#include "core/executor.h"
#include "core/file_util.h"
#include "core/onnx_import.h"
#include "core/tensor_proto.h"
#include "core/onnx_export.h"
#include "tests/helpers.h"

using namespace edgepack;
using namespace edgepack::test;

TEST_SUITE("import_export") {

TEST_CASE("tensor_proto round trips every supported type, raw and typed encodings") {
  for (auto type : {at::kFloat, at::kDouble, at::kChar, at::kByte, at::kShort, at::kInt, at::kLong, at::kBool, at::kHalf}) {
    CAPTURE(c10::toString(type));
    at::Tensor t = (at::randn({2, 3}) * 10).to(type);
    onnx::TensorProto p;
    tensor_to_proto(t, "t", &p);
    CHECK(tensor_from_proto(p).equal(t));
  }
  onnx::TensorProto typed;
  typed.set_data_type(onnx::TensorProto::FLOAT);
  typed.add_dims(3);
  for (float v : {1.f, -2.f, 3.5f}) typed.add_float_data(v);
  CHECK(tensor_from_proto(typed).equal(at::tensor({1.f, -2.f, 3.5f})));
  typed.add_dims(2);  // now declares 6 values but holds 3
  CHECK_THROWS_AS(tensor_from_proto(typed), InputError);
  onnx::TensorProto negative;
  negative.set_data_type(onnx::TensorProto::FLOAT);
  negative.add_dims(-4);
  CHECK_THROWS_AS(tensor_from_proto(negative), InputError);
  onnx::TensorProto huge;
  huge.set_data_type(onnx::TensorProto::FLOAT);
  for (int i = 0; i < 4; ++i) huge.add_dims(int64_t(1) << 20);
  CHECK_THROWS_AS(tensor_from_proto(huge), InputError);
}

TEST_CASE("UINT16/32/64 tensors are held widened (int32/int64): raw and typed encodings, wrap on Cast, files keep the narrow type") {
  // Raw little-endian bits, values at the top of each range.
  onnx::TensorProto u16;
  u16.set_name("u16");
  u16.set_data_type(onnx::TensorProto::UINT16);
  u16.add_dims(3);
  const uint16_t a[3] = {0, 40000, 65535};
  u16.set_raw_data(std::string(reinterpret_cast<const char*>(a), sizeof a));
  at::Tensor t16 = tensor_from_proto(u16);
  CHECK((t16.scalar_type() == at::kInt));
  CHECK(t16.equal(at::tensor({0, 40000, 65535}, at::kInt)));
  onnx::TensorProto u32;
  u32.set_data_type(onnx::TensorProto::UINT32);
  u32.add_dims(2);
  for (uint64_t v : {7ull, 4000000000ull}) u32.add_uint64_data(v);   // typed: uint64_data
  at::Tensor t32 = tensor_from_proto(u32);
  CHECK((t32.scalar_type() == at::kLong));
  CHECK(t32.equal(at::tensor({int64_t{7}, int64_t{4000000000}}, at::kLong)));
  // Back to the narrow type, bit for bit.
  onnx::TensorProto again;
  tensor_to_proto_narrow(t16, onnx::TensorProto::UINT16, "u16", &again);
  CHECK(again.data_type() == onnx::TensorProto::UINT16);
  CHECK(again.raw_data() == u16.raw_data());
  // UINT64 at or above 2^63 does not fit int64: refused, naming the tensor.
  onnx::TensorProto u64;
  u64.set_name("big");
  u64.set_data_type(onnx::TensorProto::UINT64);
  u64.add_dims(1);
  u64.add_uint64_data(uint64_t{1} << 63);
  CHECK_THROWS_WITH_AS(tensor_from_proto(u64), doctest::Contains("'big': UINT64 values of 2^63"), InputError);
  // Cast to a wide unsigned type wraps modulo 2^16 / 2^32 and truncates floats, as ONNX's Cast.
  CHECK(to_onnx_type(at::tensor({70000, -1}, at::kInt), onnx::TensorProto::UINT16, "cast").equal(at::tensor({4464, 65535}, at::kInt)));
  CHECK(to_onnx_type(at::tensor({3.9f, 65536.5f}), onnx::TensorProto::UINT16, "cast").equal(at::tensor({3, 0}, at::kInt)));
  CHECK(to_onnx_type(at::tensor({int64_t{-1}}, at::kLong), onnx::TensorProto::UINT32, "cast").equal(at::tensor({int64_t{4294967295}}, at::kLong)));

  // A model: UINT32 input + Cast(UINT16 initializer -> UINT32) -> Max -> UINT32 output. The
  // file written keeps the initializer UINT16 (onnx::checker and strict inference run on save).
  Model m;
  m.opsets[""] = 14;
  m.graph.inputs.push_back(ValueInfo{"x", onnx::TensorProto::UINT32, std::vector<Dim>{Dim{3, ""}}});
  m.graph.outputs.push_back(ValueInfo{"y", onnx::TensorProto::UINT32, std::vector<Dim>{Dim{3, ""}}});
  m.graph.initializers["c"] = t16;
  m.graph.value_info.push_back(ValueInfo{"c", onnx::TensorProto::UINT16, std::vector<Dim>{Dim{3, ""}}});
  Node cast = make_node("Cast", {"c"}, "c32");
  cast.attrs["to"] = Attribute::of_int(onnx::TensorProto::UINT32);
  m.graph.nodes = {cast, make_node("Max", {"x", "c32"}, "y")};
  TempDir tmp;
  const std::string path = (tmp / "u.onnx").string();
  save_onnx(m, path);
  onnx::ModelProto proto;
  REQUIRE(proto.ParseFromString(read_file(path, "model")));
  REQUIRE(proto.graph().initializer_size() == 1);
  CHECK(proto.graph().initializer(0).data_type() == onnx::TensorProto::UINT16);
  Model back = import_onnx(path);
  CHECK(back.graph.initializers.at("c").equal(t16));
  const at::Tensor x = at::tensor({int64_t{4000000000}, int64_t{1}, int64_t{70000}}, at::kLong);
  CHECK(Executor(back).run(std::vector<at::Tensor>{x}).at(0).equal(at::tensor({int64_t{4000000000}, int64_t{40000}, int64_t{70000}}, at::kLong)));
  // The executor takes the widened type for a UINT32 input, and names the type otherwise.
  CHECK_THROWS_WITH_AS(Executor(back).run(std::vector<at::Tensor>{x.to(at::kInt)}), doctest::Contains("expects UINT32"), InputError);
}

TEST_CASE("import -> export -> import keeps the graph and its outputs") {
  TempDir tmp;
  Model m = tiny_conv_model();
  save_onnx(m, (tmp / "a.onnx").string());
  Model a = import_onnx((tmp / "a.onnx").string());
  save_onnx(a, (tmp / "b.onnx").string());
  Model b = import_onnx((tmp / "b.onnx").string());
  CHECK(b.graph.nodes.size() == 2);
  CHECK(b.graph.nodes[0].attr_ints("pads") == std::vector<int64_t>{1, 1, 1, 1});
  CHECK(b.graph.initializers.at("W").equal(m.graph.initializers.at("W")));
  at::Tensor x = at::randn({1, 3, 8, 8});
  auto ya = Executor(a).run(std::vector<at::Tensor>{x});
  auto yb = Executor(b).run(std::vector<at::Tensor>{x});
  CHECK(ya[0].equal(yb[0]));
  // And the output is the reference computation.
  at::Tensor ref = at::relu(at::conv2d(x, m.graph.initializers.at("W"), m.graph.initializers.at("B"), 1, 1));
  CHECK(all_close(ya[0], ref, 1e-5, 1e-6));
}

namespace {

// The tiny model with W moved to an external file at `location` (relative to the model).
void write_external_model(const fs::path& dir, const std::string& location, const fs::path& data_file) {
  Model m = tiny_conv_model();
  onnx::ModelProto proto;
  export_onnx(m, &proto);
  for (auto& t : *proto.mutable_graph()->mutable_initializer()) {
    if (t.name() != "W") continue;
    write_file_atomic(data_file.string(), t.raw_data());
    t.clear_raw_data();
    t.set_data_location(onnx::TensorProto::EXTERNAL);
    auto* kv = t.add_external_data();
    kv->set_key("location");
    kv->set_value(location);
  }
  write_file_atomic((dir / "model.onnx").string(), proto.SerializeAsString());
}

}  // namespace

TEST_CASE("external data inside the model's folder loads; escaping locations are refused") {
  TempDir tmp;
  fs::create_directories(tmp / "m");
  write_external_model(tmp / "m", "weights.bin", tmp / "m" / "weights.bin");
  Model ok = import_onnx((tmp / "m" / "model.onnx").string());
  CHECK(ok.graph.initializers.at("W").equal(tiny_conv_model().graph.initializers.at("W")));

  write_external_model(tmp / "m", "../outside.bin", tmp / "outside.bin");
  CHECK_THROWS_WITH_AS(import_onnx((tmp / "m" / "model.onnx").string()), doctest::Contains("escapes"), InputError);

  write_external_model(tmp / "m", (tmp / "outside.bin").string(), tmp / "outside.bin");
  CHECK_THROWS_AS(import_onnx((tmp / "m" / "model.onnx").string()), InputError);

  fs::create_symlink(tmp / "outside.bin", tmp / "m" / "link.bin");
  write_external_model(tmp / "m", "link.bin", tmp / "outside.bin");
  CHECK_THROWS_WITH_AS(import_onnx((tmp / "m" / "model.onnx").string()), doctest::Contains("outside"), InputError);
}

TEST_CASE("old opsets are lifted to the executor's opset on import") {
  const std::string root = conformance_dir();
  SKIP_WITHOUT_CONFORMANCE(root);
  Model m = import_onnx(root + "/pytorch-converted/test_AvgPool2d/model.onnx");
  CHECK(m.opset() >= kMinOpset);
}

namespace {

// An opset-`opset` proto: X [1,3,4,4] -> `ops` in a chain (op type, float attributes, float-list
// attributes) -> Y, typed as old converters wrote them (IR 4).
onnx::ModelProto legacy_chain(int64_t opset, const std::vector<std::tuple<std::string, std::map<std::string, float>,
                                                                       std::map<std::string, std::vector<float>>>>& ops) {
  onnx::ModelProto proto;
  proto.set_ir_version(4);
  proto.add_opset_import()->set_version(opset);
  auto* g = proto.mutable_graph();
  g->set_name("legacy");
  auto typed = [](onnx::ValueInfoProto* v, const std::string& name) {
    v->set_name(name);
    auto* t = v->mutable_type()->mutable_tensor_type();
    t->set_elem_type(onnx::TensorProto::FLOAT);
    for (int64_t d : {1, 3, 4, 4}) t->mutable_shape()->add_dim()->set_dim_value(d);
  };
  typed(g->add_input(), "X");
  std::string x = "X";
  for (size_t i = 0; i < ops.size(); ++i) {
    const auto& [type, floats, lists] = ops[i];
    auto* n = g->add_node();
    n->set_op_type(type);
    n->set_name(fmt::format("n{}", i));
    n->add_input(x);
    x = i + 1 == ops.size() ? "Y" : fmt::format("v{}", i);
    n->add_output(x);
    for (const auto& [name, value] : floats) {
      auto* a = n->add_attribute();
      a->set_name(name), a->set_type(onnx::AttributeProto::FLOAT), a->set_f(value);
    }
    for (const auto& [name, values] : lists) {
      auto* a = n->add_attribute();
      a->set_name(name), a->set_type(onnx::AttributeProto::FLOATS);
      for (float v : values) a->add_floats(v);
    }
  }
  typed(g->add_output(), "Y");
  return proto;
}

}  // namespace

TEST_CASE("experimental ops opset 10 removed (ImageScaler, Affine, ...) are rewritten so the lift succeeds") {
  // The converter has no adapter for them: before the rewrite an opset-8 ImageScaler model stayed
  // at opset 8, unsupported by the executor and unquantizable.
  for (int64_t opset : {7, 8, 9}) {
    CAPTURE(opset);
    std::vector<std::string> warnings;
    ImportOptions options;
    options.warn = [&](const std::string& w) { warnings.push_back(w); };
    const Model m = import_onnx(legacy_chain(opset, {{"ImageScaler", {{"scale", 0.5f}}, {{"bias", {0.1f, -0.2f, 0.3f}}}},
                                                     {"Affine", {{"alpha", 2.f}, {"beta", -1.f}}, {}},
                                                     {"Scale", {{"scale", 3.f}}, {}},
                                                     {"ScaledTanh", {{"alpha", 1.5f}, {"beta", 0.5f}}, {}},
                                                     {"ParametricSoftplus", {{"alpha", 0.7f}, {"beta", 2.f}}, {}}}),
                                "", options);
    CHECK(warnings.empty());
    CHECK(m.opset() == kMinOpset);
    std::map<std::string, int> ops;
    for (const auto& n : m.graph.nodes) ++ops[n.op_type];
    CHECK(ops == std::map<std::string, int>{{"Add", 2}, {"Mul", 7}, {"Softplus", 1}, {"Tanh", 1}});
    at::manual_seed(1);
    const at::Tensor x = at::randn({1, 3, 4, 4});
    at::Tensor want = x * 0.5 + at::tensor(std::vector<float>{0.1f, -0.2f, 0.3f}).reshape({3, 1, 1});
    want = (want * 2 - 1) * 3;
    want = 1.5 * at::tanh(0.5 * want);
    want = 0.7 * at::softplus(2 * want);
    // Tolerance: float32 evaluation of the same five steps, atol 1e-6.
    CHECK(at::allclose(Executor(m).run(std::vector<at::Tensor>{x}).at(0), want, 0, 1e-6));
  }
}

TEST_CASE("a lift the version converter cannot do is said once, naming the opsets, and the model still imports") {
  // Crop (experimental, removed in opset 10, no adapter and no rewrite): the model stays at opset 9.
  std::vector<std::string> warnings;
  ImportOptions options;
  options.warn = [&](const std::string& w) { warnings.push_back(w); };
  const Model m = import_onnx(legacy_chain(9, {{"Relu", {}, {}}, {"Crop", {}, {}}}), "", options);
  CHECK(m.opset() == 9);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("could not lift opset 9 to 13") != std::string::npos);
  CHECK(warnings[0].find("stays at opset 9") != std::string::npos);
  CHECK(warnings[0].find("quantize needs opset 10") != std::string::npos);
  // Silent without a listener, as before.
  CHECK(import_onnx(legacy_chain(9, {{"Relu", {}, {}}, {"Crop", {}, {}}}), "").opset() == 9);
}

}  // TEST_SUITE
