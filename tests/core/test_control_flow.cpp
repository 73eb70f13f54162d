// If, Loop and Scan in the executor, and the passes that must see what subgraphs read from their
// enclosing graphs (ONNX lexical scoping). Graphs built in code check one rule each against
// values computed here; the real export (scripts/control_flow_export.py, run at test time) checks
// a torch.jit.script model against the outputs PyTorch computed.
// Tolerances: kTol 1e-6 absolute for graphs built in code (a handful of float adds and mults of
// values of order 1-10, computed the same way here); kExportTol 1e-5 absolute for the export
// (float32 Gemm and tanh in LibTorch here, in PyTorch there: the same library, but the ONNX
// Gemm may sum in another order than nn.Linear).
#include <ATen/ATen.h>
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <cstdlib>
#include <memory>

#include "core/cost_model.h"
#include "core/error.h"
#include "core/executor.h"
#include "core/ir.h"
#include "core/npy.h"
#include "core/onnx_export.h"
#include "core/onnx_import.h"
#include "passes/fold_constants.h"
#include "tests/helpers.h"

#include <onnx/onnx_pb.h>

using namespace edgepack;

namespace {

constexpr double kTol = 1e-6;
constexpr double kExportTol = 1e-5;

constexpr int32_t kFloat = 1, kInt64 = 7, kBool = 9;   // onnx::TensorProto_DataType

bool close(const at::Tensor& a, const at::Tensor& b, double tol = kTol) {
  std::string why;
  const bool ok = test::near(a, b, tol, &why);
  if (!ok) MESSAGE(why);
  return ok;
}

// A value of known dims (-1: unknown).
ValueInfo typed(const std::string& name, int32_t type, const std::vector<int64_t>& sizes) {
  ValueInfo v;
  v.name = name;
  v.elem_type = type;
  v.shape.emplace();
  for (int64_t d : sizes) v.shape->push_back(Dim{d, ""});
  return v;
}

ValueInfo f32(const std::string& name, const std::vector<int64_t>& sizes) { return typed(name, kFloat, sizes); }

Node node(const std::string& op, std::vector<std::string> inputs, std::vector<std::string> outputs,
          std::map<std::string, Attribute> attrs = {}) {
  Node n;
  n.name = outputs.empty() ? op : outputs[0];
  n.op_type = op;
  n.inputs = std::move(inputs);
  n.outputs = std::move(outputs);
  n.attrs = std::move(attrs);
  return n;
}

Attribute graph_attr(Graph g) {
  Attribute a;
  a.kind = Attribute::Kind::Graph;
  a.g = std::make_shared<Graph>(std::move(g));
  return a;
}

// A subgraph with no inputs of its own: `nodes`, returning `outputs` (float [2, 3]).
Graph branch(std::vector<Node> nodes, std::vector<std::string> outputs) {
  Graph g;
  g.name = "branch";
  g.nodes = std::move(nodes);
  for (const std::string& o : outputs) g.outputs.push_back(f32(o, {2, 3}));
  return g;
}

Model model_of(Graph g, int64_t opset = 13) {
  Model m;
  m.opsets[""] = opset;
  m.graph = std::move(g);
  return m;
}

// x [2,3] -> y = If(sum(x) > 0) { relu(x) + w } else { relu(x) - w }, where w is made by a
// foldable Mul of two initializers and relu(x) is a main-graph value only the branches read.
Model if_reading_outer_values() {
  Graph g;
  g.inputs = {f32("x", {2, 3})};
  g.outputs = {f32("y", {2, 3})};
  g.initializers["w_half"] = at::arange(6, at::kFloat).reshape({2, 3});
  g.initializers["two"] = at::full({}, 2.0f);
  g.initializers["zero"] = at::zeros({});
  g.nodes.push_back(node("Mul", {"w_half", "two"}, {"w"}));
  g.nodes.push_back(node("Relu", {"x"}, {"r"}));
  g.nodes.push_back(node("ReduceSum", {"x"}, {"s"}, {{"keepdims", Attribute::of_int(0)}}));
  g.nodes.push_back(node("Greater", {"s", "zero"}, {"c"}));
  g.nodes.push_back(node("If", {"c"}, {"y"},
                         {{"then_branch", graph_attr(branch({node("Add", {"r", "w"}, {"t"})}, {"t"}))},
                          {"else_branch", graph_attr(branch({node("Sub", {"r", "w"}, {"e"})}, {"e"}))}}));
  return model_of(std::move(g));
}

// (M, cond, v [2]) -> Loop: v += one, scan out v * i. Body reads "one" from the main graph.
Model loop_with_scan_output() {
  Graph body;
  body.name = "body";
  body.inputs = {typed("i", kInt64, {}), typed("cond_in", kBool, {}), f32("v_in", {2})};
  body.nodes.push_back(node("Add", {"v_in", "one"}, {"v_out"}));
  body.nodes.push_back(node("Cast", {"i"}, {"i_float"}, {{"to", Attribute::of_int(kFloat)}}));
  body.nodes.push_back(node("Mul", {"v_out", "i_float"}, {"scan"}));
  body.nodes.push_back(node("Identity", {"cond_in"}, {"cond_out"}));
  body.outputs = {typed("cond_out", kBool, {}), f32("v_out", {2}), f32("scan", {2})};

  Graph g;
  g.inputs = {typed("M", kInt64, {}), f32("v0", {2})};
  g.outputs = {f32("v_final", {2}), f32("scans", {-1, 2})};
  g.initializers["one"] = at::ones({}, at::kFloat);
  g.initializers["true"] = at::ones({}, at::kBool);
  g.nodes.push_back(node("Loop", {"M", "true", "v0"}, {"v_final", "scans"}, {{"body", graph_attr(std::move(body))}}));
  return model_of(std::move(g));
}

}  // namespace

TEST_SUITE("control-flow") {

TEST_CASE("an If branch reading an outer initializer and node output survives fold-constants and still runs") {
  Model m = if_reading_outer_values();
  const std::vector<std::string> reads = outer_reads(m.graph.nodes.back());
  CHECK(reads == std::vector<std::string>{"r", "w"});

  const FoldConstantsStats folded = fold_constants(m);
  CHECK(folded.folded_nodes == 1);                       // the Mul making w
  CHECK(m.graph.is_initializer("w"));                    // read only inside the branches, kept
  CHECK(remove_unused_initializers(m.graph) == 0);

  const at::Tensor w = at::arange(6, at::kFloat).reshape({2, 3}) * 2;
  const at::Tensor positive = at::arange(1, 7, at::kFloat).reshape({2, 3}) * 0.5 - 1;   // sum 4.5 > 0
  const at::Tensor negative = -positive - 1;
  Executor exec(m);
  CHECK(close(exec.run({{"x", positive}}).at("y"), positive.relu() + w));
  CHECK(close(exec.run({{"x", negative}}).at("y"), negative.relu() - w));

  // The observer sees the model's graph only: the If's output, not the branch's "t".
  std::set<std::string> seen;
  exec.set_observer([&](const std::string& v, const at::Tensor&) { seen.insert(v); });
  exec.run({{"x", positive}});
  CHECK(seen.count("y") == 1);
  CHECK(seen.count("r") == 1);
  CHECK(seen.count("t") == 0);

  // The cost model counts the If as one runtime node without MACs.
  const ModelCost cost = analyze_model(m);
  CHECK(cost.totals.op_histogram.at("If") == 1);
}

TEST_CASE("training mode: gradients reach an initializer read inside an If branch") {
  Model m = if_reading_outer_values();
  fold_constants(m);
  at::Tensor w = m.graph.initializers.at("w").clone().requires_grad_(true);
  Executor exec(m);
  exec.set_training({{"w", w}});
  const at::Tensor x = at::ones({2, 3});
  exec.run({{"x", x}}).at("y").sum().backward();
  REQUIRE(w.grad().defined());
  CHECK(close(w.grad(), at::ones({2, 3})));   // then branch: y = relu(x) + w
}

TEST_CASE("Loop with a trip count: loop-carried value and scan outputs stacked on a new axis 0") {
  const Model m = loop_with_scan_output();
  Executor exec(m);
  const at::Tensor v0 = at::tensor({1.0f, -2.0f});
  auto out = exec.run({{"M", at::scalar_tensor(4, at::kLong)}, {"v0", v0}});
  CHECK(close(out.at("v_final"), v0 + 4));
  std::vector<at::Tensor> rows;
  for (int i = 0; i < 4; ++i) rows.push_back((v0 + (i + 1)) * i);
  CHECK(close(out.at("scans"), at::stack(rows, 0)));

  // No iteration: the carried value passes through, the scan output is [0, 2] from the body's type.
  out = exec.run({{"M", at::scalar_tensor(0, at::kLong)}, {"v0", v0}});
  CHECK(close(out.at("v_final"), v0));
  CHECK(out.at("scans").sizes() == at::IntArrayRef({0, 2}));
}

TEST_CASE("Loop as a while loop: the body's condition output ends it") {
  // cond_out = i < 2: iterations 0, 1 and 2 run (the third returns false).
  Graph body;
  body.inputs = {typed("i", kInt64, {}), typed("cond_in", kBool, {}), f32("v_in", {1})};
  body.nodes.push_back(node("Less", {"i", "two"}, {"cond_out"}));
  body.nodes.push_back(node("Add", {"v_in", "v_in"}, {"v_out"}));
  body.outputs = {typed("cond_out", kBool, {}), f32("v_out", {1})};
  Graph g;
  g.inputs = {f32("v0", {1})};
  g.outputs = {f32("v", {1})};
  g.initializers["two"] = at::scalar_tensor(2, at::kLong);
  g.initializers["go"] = at::ones({1}, at::kBool);
  g.nodes.push_back(node("Loop", {"", "go", "v0"}, {"v"}, {{"body", graph_attr(std::move(body))}}));
  const Model m = model_of(std::move(g));
  CHECK(close(Executor(m).run({{"v0", at::ones({1})}}).at("v"), at::full({1}, 8.0f)));
}

TEST_CASE("an If nested in a Loop body reads values two scopes out") {
  // v [2,3]: each iteration i, v = even(i) ? v + a : v - b, with a and b main-graph initializers.
  Graph then_branch = branch({node("Add", {"v_in", "a"}, {"t"})}, {"t"});
  Graph else_branch = branch({node("Sub", {"v_in", "b"}, {"e"})}, {"e"});
  Graph body;
  body.inputs = {typed("i", kInt64, {}), typed("cond_in", kBool, {}), f32("v_in", {2, 3})};
  body.nodes.push_back(node("Mod", {"i", "two"}, {"parity"}));
  body.nodes.push_back(node("Equal", {"parity", "zero"}, {"even"}));
  body.nodes.push_back(node("If", {"even"}, {"v_out"},
                            {{"then_branch", graph_attr(std::move(then_branch))}, {"else_branch", graph_attr(std::move(else_branch))}}));
  body.nodes.push_back(node("Identity", {"cond_in"}, {"cond_out"}));
  body.outputs = {typed("cond_out", kBool, {}), f32("v_out", {2, 3}), f32("v_out_scan", {2, 3})};
  // The scan output: each iteration's value, stacked.
  body.nodes.push_back(node("Identity", {"v_out"}, {"v_out_scan"}));

  Graph g;
  g.inputs = {typed("M", kInt64, {}), f32("v0", {2, 3})};
  g.outputs = {f32("v", {2, 3}), f32("history", {-1, 2, 3})};
  g.initializers["a"] = at::full({2, 3}, 10.0f);
  g.initializers["b"] = at::full({2, 3}, 1.0f);
  g.initializers["two"] = at::scalar_tensor(2, at::kLong);
  g.initializers["zero"] = at::scalar_tensor(0, at::kLong);
  g.initializers["yes"] = at::ones({}, at::kBool);
  g.nodes.push_back(node("Loop", {"M", "yes", "v0"}, {"v", "history"}, {{"body", graph_attr(std::move(body))}}));
  Model m = model_of(std::move(g));
  CHECK(outer_reads(m.graph.nodes[0]) == std::vector<std::string>{"a", "b", "two", "zero"});
  CHECK(remove_unused_initializers(m.graph) == 0);

  const at::Tensor v0 = at::arange(6, at::kFloat).reshape({2, 3});
  auto out = Executor(m).run({{"M", at::scalar_tensor(5, at::kLong)}, {"v0", v0}});
  at::Tensor want = v0.clone();
  std::vector<at::Tensor> history;
  for (int i = 0; i < 5; ++i) {
    want = i % 2 == 0 ? want + 10 : want - 1;
    history.push_back(want);
  }
  CHECK(close(out.at("v"), want));
  CHECK(close(out.at("history"), at::stack(history, 0)));
}

TEST_CASE("Scan: a reversed scan input along axis 1, state threaded, scan output on axis 1") {
  // Running sum from the end of each row: out[:, k] = sum(x[:, k:]) read backwards.
  Graph body;
  body.inputs = {f32("s_in", {2}), f32("x_t", {2})};
  body.nodes.push_back(node("Add", {"s_in", "x_t"}, {"s_out"}));
  body.nodes.push_back(node("Mul", {"s_out", "scale"}, {"y_t"}));   // scale: an outer initializer
  body.outputs = {f32("s_out", {2}), f32("y_t", {2})};
  Graph g;
  g.inputs = {f32("s0", {2}), f32("x", {2, 4})};
  g.outputs = {f32("s", {2}), f32("y", {2, 4})};
  g.initializers["scale"] = at::full({}, 3.0f);
  g.nodes.push_back(node("Scan", {"s0", "x"}, {"s", "y"},
                         {{"body", graph_attr(std::move(body))},
                          {"num_scan_inputs", Attribute::of_int(1)},
                          {"scan_input_axes", Attribute::of_ints({1})},
                          {"scan_input_directions", Attribute::of_ints({1})},
                          {"scan_output_axes", Attribute::of_ints({-1})}}));
  const Model m = model_of(std::move(g), 11);
  const at::Tensor x = at::arange(8, at::kFloat).reshape({2, 4}), s0 = at::tensor({1.0f, 2.0f});
  auto out = Executor(m).run({{"s0", s0}, {"x", x}});
  // Iteration t reads column 3 - t; output column t holds 3 * (s0 + sum of the columns read so far).
  const at::Tensor running = x.flip({1}).cumsum(1) + s0.unsqueeze(1);
  CHECK(close(out.at("s"), s0 + x.sum(1)));
  CHECK(close(out.at("y"), running * 3));
}

TEST_CASE("malformed control flow is one InputError when the Executor is made") {
  Model m = if_reading_outer_values();
  Node& if_node = m.graph.nodes.back();
  if_node.attrs["then_branch"].g->outputs.push_back(f32("r", {2, 3}));
  CHECK(test::input_error_of([&] { Executor exec(m); }).find("then_branch has 2 outputs but the node has 1") !=
        std::string::npos);

  Model missing = if_reading_outer_values();
  missing.graph.nodes.back().attrs.erase("else_branch");
  CHECK(test::input_error_of([&] { Executor exec(missing); }).find("missing graph attribute 'else_branch'") !=
        std::string::npos);

  // A branch reading a value no scope defines.
  Model unknown = if_reading_outer_values();
  unknown.graph.nodes.back().attrs["else_branch"].g->nodes[0].inputs[1] = "nowhere";
  const std::string why = test::input_error_of([&] { Executor exec(unknown); });
  CHECK(why.find("subgraph 'else_branch'") != std::string::npos);
  CHECK(why.find("input 'nowhere' is not produced") != std::string::npos);

  // Sequences stay unsupported, inside subgraphs too.
  Model sequence = if_reading_outer_values();
  sequence.graph.nodes.back().attrs["then_branch"].g->nodes[0].op_type = "SequenceConstruct";
  CHECK(test::input_error_of([&] { Executor exec(sequence); }).find("unsupported op SequenceConstruct") != std::string::npos);

  // A Loop with neither trip count nor condition would never end.
  Model endless = loop_with_scan_output();
  endless.graph.nodes[0].inputs[0] = "";
  endless.graph.nodes[0].inputs[1] = "";
  CHECK(test::input_error_of([&] { Executor exec(endless); }).find("never end") != std::string::npos);
}

TEST_CASE("a condition with more than one value is an InputError at run time") {
  Model m = if_reading_outer_values();
  m.graph.nodes[3].inputs[0] = "x";   // Greater(x, 0): [2,3] conditions
  CHECK(test::input_error_of([&] { Executor(m).run({{"x", at::ones({2, 3})}}); }).find("exactly one value") !=
        std::string::npos);
}

TEST_CASE("a torch.jit.script export with an If on a tensor and a Loop over an input trip count matches PyTorch") {
  if (std::system("/usr/bin/python3 -c 'import torch, onnx' >/dev/null 2>&1") != 0) {
    if (test::in_ci()) FAIL("/usr/bin/python3 with torch and onnx is missing (CI=true requires it)");
    MESSAGE("skipped: /usr/bin/python3 with torch and onnx is not available");
    return;
  }
  test::TempDir dir;
  const std::string script = std::string(EDGEPACK_SOURCE_DIR) + "/scripts/control_flow_export.py";
  REQUIRE(std::system(fmt::format("/usr/bin/python3 {} {} >/dev/null", test::q(script), test::q(dir.path())).c_str()) == 0);
  Model model = import_onnx((dir / "control_flow.onnx").string());
  std::map<std::string, at::Tensor> arrays;
  for (auto& [name, t] : read_npz((dir / "control_flow.npz").string())) arrays[name] = t;

  // As imported; after fold-constants (the Linear's weights are read only in the then branch);
  // and after an export/import round trip of the folded model (subgraphs written and read back).
  Model folded = model;
  fold_constants(folded);
  onnx::ModelProto proto;
  export_onnx(folded, &proto);
  Model reloaded = import_onnx(proto, dir.path().string());
  for (const Model* m : {&model, &folded, &reloaded}) {
    Executor exec(*m);
    for (int k = 0; arrays.count(fmt::format("x_{}", k)); ++k) {
      CAPTURE(k);
      auto out = exec.run({{"x", arrays.at(fmt::format("x_{}", k))}, {"steps", arrays.at(fmt::format("steps_{}", k))}});
      CHECK(close(out.at("acc"), arrays.at(fmt::format("acc_{}", k)), kExportTol));
      CHECK(close(out.at("y"), arrays.at(fmt::format("y_{}", k)), kExportTol));
    }
  }
}

}  // TEST_SUITE
