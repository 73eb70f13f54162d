// Hostile models: files built to escape the model's folder, to make us allocate or recurse
// without bound, or to break the IR's invariants. Each is refused with a one-line InputError
// (exit 2 through the CLI) in bounded time; the figures go to docs/reliability.md.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <onnx/onnx_pb.h>

#include <chrono>
#include <fstream>
#include <tuple>

#include "core/error.h"
#include "core/onnx_import.h"
#include "tests/helpers.h"

using namespace edgepack;
using namespace edgepack::test;

namespace {

void add_value(google::protobuf::RepeatedPtrField<onnx::ValueInfoProto>* list, const std::string& name,
               std::vector<int64_t> dims) {
  auto* v = list->Add();
  v->set_name(name);
  auto* tt = v->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) tt->mutable_shape()->add_dim()->set_dim_value(d);
}

onnx::NodeProto* add_node(onnx::GraphProto* g, const std::string& op, std::vector<std::string> in,
                          std::vector<std::string> out) {
  auto* n = g->add_node();
  n->set_op_type(op);
  n->set_name(out.at(0) + "_" + op);
  for (auto& i : in) n->add_input(i);
  for (auto& o : out) n->add_output(o);
  return n;
}

// X[1,4] -> Add(X, W) -> Y, with W[4] an initializer the caller fills in.
onnx::ModelProto add_model() {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  g->set_name("hostile");
  add_value(g->mutable_input(), "X", {1, 4});
  add_value(g->mutable_output(), "Y", {1, 4});
  add_node(g, "Add", {"X", "W"}, {"Y"});
  auto* w = g->add_initializer();
  w->set_name("W");
  w->set_data_type(onnx::TensorProto::FLOAT);
  w->add_dims(4);
  w->set_raw_data(std::string(16, '\0'));
  return m;
}

onnx::TensorProto& weight(onnx::ModelProto& m) { return *m.mutable_graph()->mutable_initializer(0); }

void external(onnx::ModelProto& m, const std::string& location, int64_t length = -1) {
  auto& w = weight(m);
  w.clear_raw_data();
  w.set_data_location(onnx::TensorProto::EXTERNAL);
  auto* kv = w.add_external_data();
  kv->set_key("location");
  kv->set_value(location);
  if (length >= 0) {
    kv = w.add_external_data();
    kv->set_key("length");
    kv->set_value(std::to_string(length));
  }
}

void save(const onnx::ModelProto& m, const fs::path& path) {
  std::ofstream out(path, std::ios::binary);
  REQUIRE(m.SerializeToOstream(&out));
}

// Refused in-process and through `edgepack inspect`: InputError mentioning `needle`, exit 2,
// one line on stderr. Returns the CLI's wall time in seconds.
double check_refused(const fs::path& model, const std::string& needle) {
  CAPTURE(model);
  CHECK_THROWS_WITH_AS(import_onnx(model.string()), doctest::Contains(needle.c_str()), InputError);
  const auto t0 = std::chrono::steady_clock::now();
  CliResult r = run_cli("inspect " + q(model));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CAPTURE(r.err);
  CHECK(r.exit_code == 2);
  CHECK(r.err.rfind("edgepack: error: ", 0) == 0);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK(r.err.find(needle) != std::string::npos);
  MESSAGE(fmt::format("{}: refused in {:.2f} s (CLI, including start-up)", model.filename().string(), seconds));
  return seconds;
}

}  // namespace

TEST_SUITE("hostile") {

TEST_CASE("external data that escapes the model's folder is refused: '..', absolute path, symlink out") {
  TempDir tmp;
  fs::create_directories(tmp / "model");
  fs::create_directories(tmp / "outside");
  write_text(tmp / "outside" / "w.bin", std::string(16, '\0'));
  fs::create_symlink(tmp / "outside" / "w.bin", tmp / "model" / "link.bin");
  fs::create_directories(tmp / "model" / "sub");
  fs::create_directory_symlink(tmp / "outside", tmp / "model" / "sub" / "dir");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"../outside/w.bin", "escapes the model's folder"},
      {"sub/../../outside/w.bin", "escapes the model's folder"},
      // Our folder rule runs before onnx::checker, so an absolute location gets our wording.
      {(tmp / "outside" / "w.bin").string(), "must be a relative path inside the model's folder"},
      {(tmp / "model" / "w.bin").string(), "must be a relative path inside the model's folder"},
      {"link.bin", "resolves outside the model's folder"},
      {"sub/dir/w.bin", "resolves outside the model's folder"},
  };
  int k = 0;
  for (const auto& [location, needle] : cases) {
    onnx::ModelProto m = add_model();
    external(m, location);
    const fs::path path = tmp / "model" / fmt::format("escape{}.onnx", k++);
    save(m, path);
    check_refused(path, needle);
  }
}

// ONNX 1.12's Conv/Pool shape inference indexes dilations, strides and pads by the kernel's
// rank (from W's shape) and divides by the strides: inconsistent nodes crashed it (fuzzing).
TEST_CASE("Conv and pool nodes whose ranks or attributes ONNX shape inference would misread are refused") {
  TempDir tmp;
  // The fuzzer's input: X declared rank 2, W rank 4 (segfault in convPoolShapeInference).
  check_refused(fs::path(EDGEPACK_SOURCE_DIR) / "tests/data/fuzz-regressions/fuzz_onnx_import/conv-shape-inference-segv.onnx",
                "Conv node 'C_Conv': its weight has rank 4 but its input has rank 2");

  // X[1,2,8,8] -> Conv(W[4,2,3,3]) -> Y, with attributes set per case.
  auto conv_model = [](const std::string& op, std::vector<std::pair<std::string, std::vector<int64_t>>> attrs) {
    onnx::ModelProto m = add_model();
    auto* g = m.mutable_graph();
    g->clear_node();
    g->clear_input();
    g->clear_output();
    add_value(g->mutable_input(), "X", {1, 2, 8, 8});
    add_value(g->mutable_output(), "Y", {1, 4, 8, 8});
    auto* n = op == "Conv" ? add_node(g, op, {"X", "W"}, {"Y"}) : add_node(g, op, {"X"}, {"Y"});
    for (const auto& [name, values] : attrs) {
      auto* a = n->add_attribute();
      a->set_name(name);
      a->set_type(onnx::AttributeProto::INTS);
      for (int64_t v : values) a->add_ints(v);
    }
    auto& w = weight(m);
    w.clear_dims();
    for (int64_t d : {4, 2, 3, 3}) w.add_dims(d);
    w.set_raw_data(std::string(4 * 2 * 3 * 3 * 4, '\0'));
    if (op != "Conv") g->clear_initializer();
    return m;
  };
  const std::vector<std::tuple<std::string, std::vector<std::pair<std::string, std::vector<int64_t>>>, std::string>> cases = {
      {"Conv", {{"pads", {1, 1}}}, "attribute 'pads' has 2 values but its input has 2 spatial axes (expects 4)"},
      {"Conv", {{"dilations", {1, 1, 1}}}, "attribute 'dilations' has 3 values"},
      {"Conv", {{"strides", {0, 1}}}, "attribute 'strides' holds 0; each value must be at least 1"},
      {"Conv", {{"kernel_shape", {3}}}, "attribute 'kernel_shape' has 1 values"},
      {"MaxPool", {{"kernel_shape", {2, 2, 2}}}, "attribute 'kernel_shape' has 3 values"},
      {"AveragePool", {{"kernel_shape", {2, 2}}, {"strides", {1, -1}}}, "attribute 'strides' holds -1"},
  };
  int k = 0;
  for (const auto& [op, attrs, needle] : cases) {
    const fs::path path = tmp / fmt::format("conv{}.onnx", k++);
    save(conv_model(op, attrs), path);
    check_refused(path, needle);
  }
  // A valid one still imports.
  save(conv_model("Conv", {{"pads", {1, 1, 1, 1}}, {"strides", {1, 1}}}), tmp / "valid.onnx");
  CHECK_NOTHROW(import_onnx((tmp / "valid.onnx").string()));

  // The rank of X known only from shape inference (Reshape to rank 2): caught while inference
  // runs, before ONNX's Conv inference reads it.
  onnx::ModelProto m = conv_model("Conv", {});
  auto* g = m.mutable_graph();
  g->clear_node();
  add_node(g, "Reshape", {"X", "S"}, {"R"});
  add_node(g, "Conv", {"R", "W"}, {"Y"});
  auto* shape = g->add_initializer();
  shape->set_name("S");
  shape->set_data_type(onnx::TensorProto::INT64);
  shape->add_dims(2);
  shape->add_int64_data(1);
  shape->add_int64_data(128);
  save(m, tmp / "inferred.onnx");
  check_refused(tmp / "inferred.onnx", "a Conv node: its weight has rank 4 but its input has rank 2");
}

TEST_CASE("tensor dims whose product overflows, and negative dims, are refused before any allocation") {
  TempDir tmp;
  onnx::ModelProto m = add_model();
  weight(m).clear_dims();
  for (int i = 0; i < 3; ++i) weight(m).add_dims(int64_t(1) << 30);   // 2^90 elements
  save(m, tmp / "overflow.onnx");
  check_refused(tmp / "overflow.onnx", "overflow");

  m = add_model();
  weight(m).set_dims(0, -4);
  save(m, tmp / "negative.onnx");
  check_refused(tmp / "negative.onnx", "negative");

  // The same on a graph input's declared shape, which inspect and the cost model multiply.
  m = add_model();
  m.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(1)->set_dim_value(-3);
  save(m, tmp / "negative_input.onnx");
  check_refused(tmp / "negative_input.onnx", "negative");
  m = add_model();
  auto* shape = m.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape();
  for (int i = 0; i < 3; ++i) shape->add_dim()->set_dim_value(int64_t(1) << 40);
  save(m, tmp / "overflow_input.onnx");
  check_refused(tmp / "overflow_input.onnx", "overflow");
}

TEST_CASE("a declared size larger than the data is refused: external file too short, raw_data too short") {
  TempDir tmp;
  write_text(tmp / "w.bin", std::string(8, '\0'));   // W needs 16 bytes
  onnx::ModelProto m = add_model();
  external(m, "w.bin");
  save(m, tmp / "short_external.onnx");
  check_refused(tmp / "short_external.onnx", "shorter than declared");
  m = add_model();
  external(m, "w.bin", int64_t(1) << 40);   // a length field that claims a terabyte
  save(m, tmp / "long_length.onnx");
  check_refused(tmp / "long_length.onnx", "does not match its shape");
  m = add_model();
  weight(m).set_dims(0, 1 << 28);   // 1 GiB declared, 16 bytes held
  save(m, tmp / "short_raw.onnx");
  check_refused(tmp / "short_raw.onnx", "bytes but its shape needs");
}

TEST_CASE("subgraphs nested 1000 deep are refused without deep recursion") {
  TempDir tmp;
  auto leaf = [] {
    onnx::GraphProto g;
    g.set_name("leaf");
    add_value(g.mutable_output(), "Y", {1, 4});
    add_node(&g, "Identity", {"X"}, {"Y"});
    return g;
  };
  auto branch = [](onnx::NodeProto* n, const char* name, onnx::GraphProto* body) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::GRAPH);
    a->mutable_g()->Swap(body);
  };
  // Built from the inside out (Swap, no copies): each level an If whose then-branch holds the
  // level below.
  onnx::GraphProto inner = leaf();
  for (int level = 1; level <= 1000; ++level) {
    onnx::GraphProto outer, other = leaf();
    outer.set_name(fmt::format("level{}", level));
    add_value(outer.mutable_output(), "Y", {1, 4});
    auto* n = add_node(&outer, "If", {"C"}, {"Y"});
    branch(n, "then_branch", &inner);
    branch(n, "else_branch", &other);
    inner.Swap(&outer);
  }
  onnx::ModelProto m = add_model();
  auto* g = m.mutable_graph();
  g->clear_initializer();
  g->clear_node();
  add_value(g->mutable_input(), "C", {});
  g->mutable_input(1)->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::BOOL);
  g->mutable_node()->Add()->Swap(inner.mutable_node(0));
  save(m, tmp / "nested.onnx");
  check_refused(tmp / "nested.onnx", "nested deeper");
  // Built in memory (no protobuf parse limit in the way), our own bound refuses it.
  CHECK_THROWS_WITH_AS(import_onnx(m, ""), doctest::Contains("nested more than 64 levels"), InputError);
}

TEST_CASE("a graph with a cycle and a graph with duplicate value names are refused") {
  TempDir tmp;
  onnx::ModelProto m = add_model();
  auto* g = m.mutable_graph();
  g->clear_node();
  add_node(g, "Add", {"X", "B"}, {"A"});
  add_node(g, "Relu", {"A"}, {"B"});
  add_node(g, "Identity", {"B"}, {"Y"});
  save(m, tmp / "cycle.onnx");
  check_refused(tmp / "cycle.onnx", "topologically sorted");

  m = add_model();
  g = m.mutable_graph();
  add_node(g, "Relu", {"X"}, {"Y"});   // Y is now produced by Add and by Relu
  save(m, tmp / "duplicate.onnx");
  check_refused(tmp / "duplicate.onnx", "single static assignment");
}

TEST_CASE("a million tiny nodes are refused in bounded time") {
  TempDir tmp;
  onnx::ModelProto m = add_model();
  auto* g = m.mutable_graph();
  g->clear_node();
  g->clear_initializer();
  constexpr int kNodes = 1000000;
  g->mutable_node()->Reserve(kNodes);
  std::string prev = "X";
  for (int i = 0; i < kNodes; ++i) {
    std::string out = i + 1 == kNodes ? "Y" : fmt::format("v{}", i);
    auto* n = g->add_node();
    n->set_op_type("Identity");
    n->add_input(prev);
    n->add_output(out);
    prev = std::move(out);
  }
  save(m, tmp / "million.onnx");
  m.Clear();
  const double seconds = check_refused(tmp / "million.onnx", "more than 500000 nodes");
  CHECK(seconds < 30);
}

}  // TEST_SUITE
