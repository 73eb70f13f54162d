// dequantize: the float equivalent of QDQ and QLinear models (structure and numbers), quantize on
// an already-quantized model, the refusal of dynamic quantization, and inspect's integer layers.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <ATen/ATen.h>

#include "core/cost_model.h"
#include "core/executor.h"
#include "core/onnx_export.h"
#include "core/onnx_import.h"
#include "passes/pipeline.h"
#include "quantize/dequantize.h"
#include "tests/helpers.h"
#include "tests/net_builder.h"

using namespace edgepack;
using namespace edgepack::test;

namespace {

std::vector<Feeds> batches(int n, uint64_t seed) {
  at::manual_seed(seed);
  std::vector<Feeds> out;
  for (int i = 0; i < n; ++i) out.push_back({{"X", at::randn({1, 3, 8, 8})}});
  return out;
}

Model quantized(Model m, std::vector<std::string>* log = nullptr, const std::string& pipeline = "quantize") {
  PassContext ctx;
  ctx.calibration = batches(16, 11);
  if (log) ctx.log = [log](const std::string& line) { log->push_back(line); };
  run_pipeline(m, parse_pipeline(pipeline), ctx);
  return m;
}

ValueInfo tensor_value(const std::string& name, int32_t type, std::vector<int64_t> dims) {
  ValueInfo v;
  v.name = name;
  v.elem_type = type;
  std::vector<Dim> shape;
  for (int64_t d : dims) shape.push_back(Dim{d, ""});
  v.shape = shape;
  return v;
}

// x (uint8) -> QLinearConv(per-channel int8 weights, int32 bias) -> y (uint8), as onnxruntime's
// QOperator format writes it.
Model qlinear_conv_model() {
  at::manual_seed(5);
  Model m;
  m.opsets[""] = 13;
  Graph& g = m.graph;
  g.inputs.push_back(tensor_value("x", 2, {1, 2, 6, 6}));     // UINT8
  g.outputs.push_back(tensor_value("y", 2, {1, 3, 6, 6}));
  g.initializers["x_scale"] = at::full({}, 0.02f);
  g.initializers["x_zp"] = at::full({}, 128, at::kByte);
  g.initializers["w"] = at::randint(-127, 128, {3, 2, 3, 3}).to(at::kChar);
  g.initializers["w_scale"] = at::rand({3}) * 0.01 + 0.002;
  g.initializers["w_zp"] = at::zeros({3}, at::kChar);
  g.initializers["y_scale"] = at::full({}, 0.05f);
  g.initializers["y_zp"] = at::full({}, 120, at::kByte);
  g.initializers["B"] = at::randint(-2000, 2000, {3}).to(at::kInt);
  Node n = make_node("QLinearConv", {"x", "x_scale", "x_zp", "w", "w_scale", "w_zp", "y_scale", "y_zp", "B"}, "y");
  n.name = "qconv";
  n.attrs["pads"] = Attribute::of_ints({1, 1, 1, 1});
  n.attrs["kernel_shape"] = Attribute::of_ints({3, 3});
  g.nodes.push_back(n);
  return m;
}

}  // namespace

TEST_SUITE("quantize") {

TEST_CASE("dequantize: a QDQ model's float equivalent has no Q/DQ left and matches FP32 within weight rounding") {
  const Model fp = residual_net();
  // Without bias correction, whose shift also compensates the activation rounding removed here.
  const Model q = quantized(fp, nullptr, "quantize{bias-correction=false}");
  REQUIRE(count_ops(q, "QuantizeLinear") > 0);
  Model back = q;
  PassContext ctx;
  const auto reports = run_pipeline(back, parse_pipeline("dequantize"), ctx);
  CHECK(reports.back().result.stats.at("removed_qdq_pairs") == count_ops(q, "QuantizeLinear"));
  CHECK(quantized_ops(back).empty());                 // weight DQs folded, activation pairs removed
  CHECK(count_ops(back, "Conv") == count_ops(q, "Conv"));
  CHECK(count_ops(back, "Gemm") == count_ops(q, "Gemm"));
  // Each weight is exactly the DequantizeLinear of the stored int8 one: (q - z) * s per channel.
  for (const Node& conv : q.graph.nodes) {
    if (conv.op_type != "Conv" && conv.op_type != "Gemm") continue;
    CAPTURE(conv.name);
    const Node& dq = q.graph.nodes[q.graph.producer(conv.inputs[1])];
    REQUIRE(dq.op_type == "DequantizeLinear");
    const at::Tensor& wq = q.graph.initializers.at(dq.inputs[0]);
    std::vector<int64_t> per_channel(wq.dim(), 1);
    per_channel[0] = -1;
    at::Tensor want = wq.to(at::kFloat) * q.graph.initializers.at(dq.inputs[1]).reshape(per_channel);
    auto same = std::find_if(back.graph.nodes.begin(), back.graph.nodes.end(), [&](const Node& n) { return n.name == conv.name; });
    REQUIRE(same != back.graph.nodes.end());
    CHECK(at::equal(back.graph.initializers.at(same->inputs[1]), want));
  }
  // Only the INT8 weight rounding remains: per-channel 8-bit weights of this 5-layer net keep the
  // output above 28 dB (measured 30-41 dB per batch).
  at::Tensor ys, ybs;
  for (const Feeds& b : batches(4, 99)) {
    const std::string out = fp.graph.outputs[0].name;
    ys = at::cat({ys.defined() ? ys : at::empty({0, 5}), Executor(fp).run(b).at(out)});
    ybs = at::cat({ybs.defined() ? ybs : at::empty({0, 5}), Executor(back).run(b).at(out)});
  }
  MESSAGE(fmt::format("SQNR of the float equivalent vs FP32: {:.1f} dB", sqnr_db(ys, ybs)));
  CHECK(sqnr_db(ys, ybs) >= 28);
}

TEST_CASE("quantize on an already-quantized model re-quantizes its float equivalent: same QDQ structure, valid file") {
  TempDir tmp;
  const Model fp = residual_net();
  const Model once = quantized(fp);
  std::vector<std::string> log;
  const Model twice = quantized(once, &log);
  bool warned = false;
  for (const auto& line : log) warned = warned || line.find("already quantized") != std::string::npos;
  CHECK(warned);
  for (const char* op : {"QuantizeLinear", "DequantizeLinear", "Conv", "Gemm"}) {
    CAPTURE(op);
    CHECK(count_ops(twice, op) == count_ops(once, op));
  }
  save_onnx(twice, (tmp / "twice.onnx").string());   // onnx::checker and strict shape inference
  Model reloaded = import_onnx((tmp / "twice.onnx").string());
  const std::string out = fp.graph.outputs[0].name;
  for (const Feeds& b : batches(2, 7)) {
    at::Tensor y = Executor(fp).run(b).at(out), y2 = Executor(reloaded).run(b).at(out);
    // Two roundings of the same weights at nearly the same scales: within 3 dB of one.
    const double one = sqnr_db(y, Executor(once).run(b).at(out)), two = sqnr_db(y, y2);
    MESSAGE(fmt::format("SQNR vs FP32: quantized once {:.1f} dB, twice {:.1f} dB", one, two));
    CHECK(two >= one - 3);
  }
}

TEST_CASE("dequantize: QLinearConv becomes DequantizeLinear -> Conv -> QuantizeLinear; outputs within one uint8 step") {
  const Model qop = qlinear_conv_model();
  Model back = qop;
  const DequantizeStats s = dequantize(back);
  CHECK(s.dequantized_layers == 1);
  CHECK(count_ops(back, "QLinearConv") == 0);
  CHECK(count_ops(back, "DequantizeLinear") == 1);
  CHECK(count_ops(back, "Conv") == 1);
  CHECK(count_ops(back, "QuantizeLinear") == 1);
  at::manual_seed(8);
  const Feeds feeds = {{"x", at::randint(0, 256, {1, 2, 6, 6}).to(at::kByte)}};
  at::Tensor want = Executor(qop).run(feeds).at("y").to(at::kInt), got = Executor(back).run(feeds).at("y").to(at::kInt);
  // The integer kernel rounds once from the int32 accumulator; the float form rounds the same
  // sum computed in float: ties may land one step apart.
  CHECK((want - got).abs().max().item<int>() <= 1);
  CHECK((want == got).to(at::kFloat).mean().item<double>() >= 0.95);
  // And as a cost: one integer layer, counted with Conv's MACs.
  const ModelCost cost = analyze_model(qop);
  CHECK(cost.totals.integer_layers == 1);
  CHECK(cost.totals.macs == 3 * 6 * 6 * 2 * 3 * 3);
}

TEST_CASE("dequantize: a QLinearConv whose weight is a graph input (computed at run time) is one clear error") {
  Model m = qlinear_conv_model();
  m.graph.inputs.push_back(tensor_value("w", 3, {3, 2, 3, 3}));   // INT8, fed by the caller
  m.graph.initializers.erase("w");
  const std::string err = input_error_of([&] { dequantize(m); });
  MESSAGE(err);
  CHECK(err.find("'qconv'") != std::string::npos);
  CHECK(err.find("computed at run time") != std::string::npos);
}

TEST_CASE("dequantize refuses dynamic quantization and names the op; inspect counts QDQ layers as integer") {
  Model m;
  m.opsets[""] = 13;
  m.graph.inputs.push_back(tensor_value("a", 2, {2, 4}));
  m.graph.outputs.push_back(tensor_value("y", 6, {2, 3}));    // INT32
  m.graph.initializers["b"] = at::ones({4, 3}, at::kByte);
  Node n = make_node("MatMulInteger", {"a", "b"}, "y");
  n.name = "mm";
  m.graph.nodes.push_back(n);
  const std::string err = input_error_of([&] { dequantize(m); });
  CHECK(err.find("dynamically quantized") != std::string::npos);
  MESSAGE(err);
  CHECK(err.find("'mm'") != std::string::npos);

  const Model fp = residual_net();
  const Model q = quantized(fp);
  const ModelCost before = analyze_model(fp), after = analyze_model(q);
  CHECK(before.totals.integer_layers == 0);
  CHECK(after.totals.weighted_layers == before.totals.weighted_layers);
  CHECK(after.totals.integer_layers == after.totals.weighted_layers);
  CHECK(after.totals.macs == before.totals.macs);
  // int8 weights are stored in a quarter of the bytes (biases and scales stay 4 bytes).
  CHECK(after.totals.stored_weight_bytes < 0.35 * before.totals.stored_weight_bytes);
}

}  // TEST_SUITE
