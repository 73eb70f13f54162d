// Cost model: figures of a hand-built graph worked out by hand, weights computed by constant
// nodes, latency and memory estimates, and the conformance AlexNet's known layer sizes.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>

#include "core/cost_model.h"
#include "core/onnx_import.h"
#include "tests/helpers.h"

using namespace edgepack;
using namespace edgepack::test;

namespace {

Node node(const std::string& name, const std::string& op, std::vector<std::string> in, std::vector<std::string> out) {
  Node n;
  n.name = name;
  n.op_type = op;
  n.inputs = std::move(in);
  n.outputs = std::move(out);
  return n;
}

// X[N,3,4,4] -> Conv(W[2,3,3,3], B[2], pad 1) -> C[1,2,4,4] -> Relu -> R -> Flatten -> F[1,32]
//   -> Gemm(W2[10,32]^T, B2[10]) -> Y[1,10]. The batch dim is symbolic: the cost run uses 1.
// With `filled_w2`, W2 comes from ConstantOfShape(w2_shape) instead of an initializer.
Model conv_relu_gemm(bool filled_w2) {
  Model m;
  m.opsets[""] = 13;
  Graph& g = m.graph;
  g.inputs.push_back(float_value("X", {Dim{-1, "N"}, Dim{3, ""}, Dim{4, ""}, Dim{4, ""}}));
  g.outputs.push_back(float_value("Y", {Dim{-1, "N"}, Dim{10, ""}}));
  g.initializers["W"] = at::randn({2, 3, 3, 3});
  g.initializers["B"] = at::randn({2});
  g.initializers["B2"] = at::randn({10});
  Node conv = node("conv", "Conv", {"X", "W", "B"}, {"C"});
  conv.attrs["pads"] = Attribute::of_ints({1, 1, 1, 1});
  conv.attrs["kernel_shape"] = Attribute::of_ints({3, 3});
  Node gemm = node("fc", "Gemm", {"F", "W2", "B2"}, {"Y"});
  gemm.attrs["transB"] = Attribute::of_int(1);
  if (filled_w2) {
    g.initializers["w2_shape"] = at::tensor({int64_t{10}, int64_t{32}});
    Node fill = node("w2_fill", "ConstantOfShape", {"w2_shape"}, {"W2"});
    fill.attrs["value"] = Attribute::of_tensor(at::full({1}, 0.5f));
    g.nodes.push_back(fill);
  } else {
    g.initializers["W2"] = at::randn({10, 32});
  }
  g.nodes.push_back(conv);
  g.nodes.push_back(node("relu", "Relu", {"C"}, {"R"}));
  g.nodes.push_back(node("flatten", "Flatten", {"R"}, {"F"}));
  g.nodes.push_back(gemm);
  return m;
}

TargetProfile synthetic_target(double tops, double gbps) {
  TargetProfile t;
  t.id = "synthetic";
  t.int8_tops = {tops, "test", "user"};
  t.bandwidth_gbps = {gbps, "test", "user"};
  t.ram_mb = {1, "test", "user"};
  t.power_w = {1, "test", "user"};
  return t;
}

const NodeCost& by_name(const ModelCost& cost, const std::string& name) {
  auto it = std::find_if(cost.nodes.begin(), cost.nodes.end(), [&](const NodeCost& n) { return n.name == name; });
  REQUIRE_MESSAGE(it != cost.nodes.end(), "no node " << name);
  return *it;
}

}  // namespace

TEST_SUITE("cost_model") {

TEST_CASE("conv, relu, gemm: params, MACs, bytes, shapes and peak activations by hand") {
  for (bool filled : {false, true}) {
    CAPTURE(filled);
    ModelCost cost = analyze_model(conv_relu_gemm(filled));
    const NodeCost& conv = by_name(cost, "conv");
    CHECK(conv.params == 2 * 3 * 3 * 3 + 2);
    CHECK(conv.macs == 32 * 27);        // out elems * Cin * kh * kw
    CHECK(conv.fp32_bytes == 56 * 4);
    CHECK(conv.int8_bytes == 54 + 2 * 4);
    CHECK(conv.activation_elems == 48 + 32);
    CHECK(conv.output_shapes == std::vector<std::vector<int64_t>>{{1, 2, 4, 4}});
    CHECK(by_name(cost, "relu").params == 0);
    CHECK(by_name(cost, "relu").macs == 0);
    CHECK(by_name(cost, "flatten").output_shapes[0] == std::vector<int64_t>{1, 32});
    const NodeCost& fc = by_name(cost, "fc");
    CHECK(fc.params == 320 + 10);
    CHECK(fc.macs == 1 * 10 * 32);      // M * N * K
    CHECK(fc.int8_bytes == 320 + 10 * 4);
    CHECK(fc.activation_elems == 32 + 10);

    const CostTotals& t = cost.totals;
    CHECK(t.params == 386);
    CHECK(t.macs == 864 + 320);
    CHECK(t.fp32_bytes == 386 * 4);
    CHECK(t.int8_bytes == 62 + 360);
    // Live sets: {X, C} = 80, {C, R} = 64, {R, F} = 64, {F, Y} = 42 elements.
    CHECK(t.peak_activation_elems == 80);
    CHECK(t.peak_activation_bytes == 80 * 4);
    CHECK(t.runtime_nodes == 4);
    CHECK(t.op_histogram == std::map<std::string, int>{{"Conv", 1}, {"Flatten", 1}, {"Gemm", 1}, {"Relu", 1}});
    CHECK(t.constant_nodes == (filled ? 1 : 0));
    CHECK(cost.assumptions == std::vector<std::string>{"input 'X' dim 0 (N) taken as 1"});
    if (filled) {
      // The weight-making node is folded on export; its int64 shape input is no weight.
      const NodeCost& fill = by_name(cost, "w2_fill");
      CHECK(fill.constant);
      CHECK(fill.params == 0);
      CHECK(fill.output_shapes[0] == std::vector<int64_t>{10, 32});
    }
  }
}

TEST_CASE("latency bound: the larger of compute and memory time per node, summed") {
  ModelCost cost = analyze_model(conv_relu_gemm(false));
  // 1e-6 TOPS x 0.5 = 5e5 ops/s; 1e-6 GB/s = 1000 B/s. INT8: weights as above, 1 B/activation.
  // conv max(1728/5e5, 142/1e3), relu 64/1e3, flatten 64/1e3, fc max(640/5e5, 402/1e3).
  CostEstimate e = estimate_cost(cost, synthetic_target(1e-6, 1e-6));
  CHECK(e.latency_ms == doctest::Approx(142 + 64 + 64 + 402));
  CHECK(e.compute_ms == doctest::Approx(3.456 + 1.28));
  CHECK(e.memory_ms == doctest::Approx(672));
  CHECK(e.bound == "bandwidth");
  CHECK(e.tops_figure == "int8 dense");
  CHECK(e.weight_bytes == 422);
  CHECK(e.max_inferences_per_s == doctest::Approx(1000.0 / 422));
  CHECK(e.peak_activation_bytes == 80);
  CHECK(e.memory_bytes == 502);
  CHECK(e.ram_bytes == 1 << 20);
  CHECK(e.fits);

  // 1e-9 TOPS x 0.5 = 500 ops/s: the two MAC-heavy nodes become compute-bound.
  e = estimate_cost(cost, synthetic_target(1e-9, 1e-6));
  CHECK(e.latency_ms == doctest::Approx(3456 + 64 + 64 + 1280));
  CHECK(e.bound == "compute");

  // FP32 without an FP32 figure: a quarter of the INT8 rate, 4 B per weight and activation.
  e = estimate_cost(cost, synthetic_target(1e-6, 1e-6), {Precision::Fp32, 0.5});
  CHECK(e.tops == doctest::Approx(0.25e-6));
  CHECK(e.tops_figure == "int8 dense / 4");
  CHECK(e.tops_confidence == "derived");
  CHECK(e.latency_ms == doctest::Approx(544 + 256 + 256 + 1488));
  CHECK(e.memory_bytes == 1544 + 320);

  // FP16: half the FP32 bytes for weights and activations; the profile's fp16 figure where it
  // gives one, else INT8 / 2, and the FP32 rate on a target that does not list fp16.
  TargetProfile half = synthetic_target(1e-6, 1e-6);
  half.precisions = {"int8", "fp16", "fp32"};
  e = estimate_cost(cost, half, {Precision::Fp16, 0.5});
  CHECK(e.tops == doctest::Approx(0.5e-6));
  CHECK(e.tops_figure == "int8 dense / 2");
  CHECK(e.tops_confidence == "derived");
  CHECK(e.weight_bytes == 772);
  CHECK(e.memory_bytes == 772 + 160);
  half.fp16_tops = Figure{2e-6, "test", "user"};
  e = estimate_cost(cost, half, {Precision::Fp16, 0.5});
  CHECK(e.tops == doctest::Approx(2e-6));
  CHECK(e.tops_figure == "fp16");
  e = estimate_cost(cost, synthetic_target(1e-6, 1e-6), {Precision::Fp16, 0.5});
  CHECK(e.tops == doctest::Approx(0.25e-6));
  CHECK(e.memory_bytes == 772 + 160);
  CHECK(parse_precision("fp16") == Precision::Fp16);
  CHECK(std::string(to_string(Precision::Fp16)) == "fp16");

  TargetProfile tiny = synthetic_target(1e-6, 1e-6);
  tiny.ram_mb.value = 1e-4;  // 104 bytes
  CHECK(!estimate_cost(cost, tiny).fits);
}

TEST_CASE("conformance AlexNet: first Conv and first Gemm sizes") {
  const std::string dir = conformance_dir();
  const std::string path = dir + "/light/light_bvlc_alexnet.onnx";
  if (dir.empty() || !std::filesystem::exists(path)) {
    MESSAGE("skipped: " << path << " is absent");
    return;
  }
  ModelCost cost = analyze_model(import_onnx(path));
  const NodeCost* conv = nullptr;
  const NodeCost* gemm = nullptr;
  for (const NodeCost& n : cost.nodes) {
    if (!conv && n.op == "Conv") conv = &n;
    if (!gemm && n.op == "Gemm") gemm = &n;
  }
  REQUIRE(conv);
  REQUIRE(gemm);
  CHECK(conv->params == 34944);         // 96 x 3 x 11 x 11 + 96
  CHECK(gemm->params == 37752832);      // 4096 x 9216 + 4096
  CHECK(cost.totals.params == 60965224);
}

}  // TEST_SUITE
