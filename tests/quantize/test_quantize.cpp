// quantize: structure of the QDQ graph, accuracy against FP32 on seeded data, and agreement
// with onnxruntime on the written artifact.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include "core/error.h"
#include "core/evaluate.h"
#include "core/executor.h"
#include "core/onnx_import.h"
#include "core/onnx_export.h"
#include "passes/pipeline.h"
#include "quantize/calibration.h"
#include "quantize/equalize.h"
#include "tests/helpers.h"
#include "tests/net_builder.h"
#include "tests/ort_bridge.h"

using namespace edgepack;
using namespace edgepack::test;

namespace {

std::vector<std::map<std::string, at::Tensor>> batches(int n, uint64_t seed) {
  at::manual_seed(seed);
  std::vector<std::map<std::string, at::Tensor>> out;
  for (int i = 0; i < n; ++i) out.push_back({{"X", at::randn({1, 3, 8, 8})}});
  return out;
}

// A quantized graph output ends in Q -> DQ; its producer writes `<name>_float` before that last
// rounding, which is what tests of the layers themselves (not of the output's 8 bits) compare.
at::Tensor before_output_rounding(const Model& q, const std::map<std::string, at::Tensor>& feeds, const std::string& out) {
  Executor e(q);
  e.keep_all_values(true);
  e.run(feeds);
  auto it = e.values().find(out + "_float");
  return it != e.values().end() ? it->second : e.values().at(out);
}

Model quantized(const std::string& pipeline, Model m) {
  PassContext ctx;
  ctx.calibration = batches(16, 11);
  run_pipeline(m, parse_pipeline(pipeline), ctx);
  return m;
}

}  // namespace

TEST_SUITE("quantize") {

TEST_CASE("calibration methods clip outliers that minmax keeps") {
  at::manual_seed(0);
  at::Tensor x = at::randn({100000});
  x[0] = 50.0f;  // one outlier
  RangeObserver o;
  o.observe(x, "x");
  CHECK(o.range(CalibMethod::MinMax, 99.99, 127).second == doctest::Approx(50.0f));
  const float percentile = o.range(CalibMethod::Percentile, 99.99, 127).second;
  CHECK(percentile > 2.0f);
  CHECK(percentile < 10.0f);
  // Entropy clips too, but only as far as its squared error stays at most the full range's: the
  // outlier's clipping error (50 - t)^2 against the rounding noise 1e5 * (t / 127)^2 / 12 that
  // the full range pays: t = 50 costs 1290, so t must be >= ~15.
  const float entropy = o.range(CalibMethod::Entropy, 99.99, 127).second;
  CHECK(entropy > 12.0f);
  CHECK(entropy < 50.0f);
  // MSE weighs the outlier's clipping error (46^2) against everyone's rounding noise: with one
  // outlier in 1e5 it keeps most of the range, but never more than minmax.
  float mse = o.range(CalibMethod::Mse, 99.99, 127).second;
  CHECK(mse > 2.0f);
  CHECK(mse <= 50.0f);
  x.slice(0, 0, 2000).fill_(50.0f);   // 2% outliers: now clipping costs more than rounding
  RangeObserver heavy;
  heavy.observe(x, "x");
  CHECK(heavy.range(CalibMethod::Mse, 99.99, 127).second == doctest::Approx(50.0f).epsilon(0.05));
  RangeObserver bad;
  CHECK_THROWS_AS(bad.observe(at::tensor({1.0f, NAN}), "bad"), InputError);
  RangeObserver constant;
  constant.observe(at::zeros({10}), "zero");
  auto r = constant.range(CalibMethod::MinMax, 99.99, 255);
  CHECK(r.second > r.first);
}

TEST_CASE("one-pass histograms: batches that widen the range give the thresholds of one histogram over all values") {
  // The range grows 40x over the batches (the span doubles ~6 times). Percentile must match the
  // same values observed at once within the bin width of the coarser histogram (span / 4096 <=
  // 2 max|x| / 4096); mse and entropy minimise flat objectives, so what must match is the
  // squared error their thresholds give on the values (within 1%).
  at::manual_seed(3);
  std::vector<at::Tensor> parts;
  for (int b = 0; b < 8; ++b) parts.push_back(at::randn({20000}) * (0.25 + b));
  parts[5][0] = 40.0f;   // an outlier in a late batch
  const at::Tensor all = at::cat(parts);
  RangeObserver streamed, whole;
  for (const at::Tensor& p : parts) streamed.observe(p, "x");
  whole.observe(all, "x");
  const float top = all.abs().max().item<float>(), bin = 2 * top / RangeObserver::kBins;
  auto squared_error = [&](float t) {
    const double step = t / 127.0;
    return (at::clamp(at::round(all / step), -127, 127) * step - all).pow(2).sum().item<double>();
  };
  for (CalibMethod m : {CalibMethod::MinMax, CalibMethod::Percentile, CalibMethod::Mse, CalibMethod::Entropy}) {
    CAPTURE(static_cast<int>(m));
    const float a = streamed.range(m, 99.99, 127).second, b = whole.range(m, 99.99, 127).second;
    CAPTURE(a);
    CAPTURE(b);
    if (m == CalibMethod::MinMax || m == CalibMethod::Percentile) CHECK(std::abs(a - b) <= bin + 1e-6f);
    else CHECK(squared_error(a) <= squared_error(b) * 1.01);
    CHECK(a <= top);
  }
  CHECK(streamed.range(CalibMethod::MinMax, 99.99, 127).second == top);
}

TEST_CASE("mse thresholds from suffix sums equal the direct sum over bins") {
  // The direct definition: clipping error above t plus rounding noise below it, per bin centre.
  at::manual_seed(4);
  const at::Tensor x = at::randn({50000}).abs() * at::rand({50000}).pow(3) * 8;
  RangeObserver o;
  o.observe(x, "x");
  const float top = x.max().item<float>();
  const at::Tensor ht = at::histc(x.masked_select(x > 0), RangeObserver::kBins, 0, top).to(at::kDouble).contiguous();
  const std::vector<double> h(ht.data_ptr<double>(), ht.data_ptr<double>() + ht.numel());
  const double width = top / RangeObserver::kBins;
  double best_score = 1e300;
  int best = RangeObserver::kBins;
  for (int i = 127; i <= RangeObserver::kBins; ++i) {
    const double t = i * width, step = t / 127;
    double score = 0;
    for (int k = 0; k < RangeObserver::kBins; ++k) {
      const double c = (k + 0.5) * width, n = h[k];
      score += n * (c > t ? (c - t) * (c - t) : step * step / 12);
    }
    if (score < best_score) best_score = score, best = i;
  }
  CHECK(o.range(CalibMethod::Mse, 99.99, 127).second == doctest::Approx(best * width).epsilon(1e-4));
}

TEST_CASE("entropy never picks a range whose squared error exceeds the full range's (heavy tails)") {
  // 3% of the values spread over a tail 100x wider than the bulk: KL matches the bulk's shape
  // and clips the tail, whose clipping error then outweighs all rounding noise.
  at::manual_seed(0);
  at::Tensor x = at::randn({100000}).abs() * 0.05;
  x.slice(0, 0, 3000).copy_(at::rand({3000}) * 10);
  auto squared_error = [&](float hi) {
    const double step = hi / 255.0;
    at::Tensor q = at::clamp(at::round(x / step), 0, 255) * step;
    return (q - x).pow(2).sum().item<double>();
  };
  RangeObserver o;
  o.observe(x, "x");
  const float entropy = o.range(CalibMethod::Entropy, 99.99, 255).second, full = o.range(CalibMethod::MinMax, 99.99, 255).second;
  const float mse = o.range(CalibMethod::Mse, 99.99, 255).second;
  MESSAGE(fmt::format("ranges: entropy {:.3f}, mse {:.3f}, minmax {:.3f}", entropy, mse, full));
  CHECK(squared_error(entropy) <= squared_error(full) * 1.0001);
  CHECK(squared_error(mse) <= squared_error(full) * 1.0001);
}

TEST_CASE("bias correction charges each layer with its own rounding: on a deep chain it does not compound") {
  Net net(3, 21);
  std::string v = "X";
  for (int i = 0; i < 8; ++i) v = net.op("Relu", {net.conv(v, 8, fmt::format("conv{}", i))}, fmt::format("relu{}", i));
  const Model fp = net.output(v);
  Model plain = quantized("quantize{per-channel=false bias-correction=false}", fp);
  Model corrected = quantized("quantize{per-channel=false bias-correction=true}", fp);
  at::Tensor y, yp, yc;
  for (const auto& b : batches(8, 99)) {
    const std::string out = fp.graph.outputs[0].name;
    auto cat = [](at::Tensor& acc, const at::Tensor& t) { acc = acc.defined() ? at::cat({acc, t}) : t; };
    cat(y, Executor(fp).run(b).at(out));
    cat(yp, Executor(plain).run(b).at(out));
    cat(yc, Executor(corrected).run(b).at(out));
  }
  auto sqnr = [&](const at::Tensor& q) { return sqnr_db(y, q); };
  MESSAGE(fmt::format("8 convs, per-tensor weights: SQNR {:.2f} dB plain, {:.2f} dB corrected", sqnr(yp), sqnr(yc)));
  // Held-out images: the correction may gain little, but never loses more than noise (0.3 dB).
  CHECK(sqnr(yc) >= sqnr(yp) - 0.3);
}

TEST_CASE("entropy calibration does not clip for point masses (values repeated exactly)") {
  auto entropy_hi = [](const at::Tensor& x) {
    RangeObserver o;
    o.observe(x, "x");
    return o.range(CalibMethod::Entropy, 99.99, 255).second;
  };
  at::manual_seed(0);
  at::Tensor smooth = at::randn({100000}).clamp_min(0);   // a Relu output
  // 60% of the values at three constants, as a bias is wherever the input patch is blank.
  at::Tensor spiky = smooth.clone();
  spiky.slice(0, 0, 60000, 3).fill_(0.3f);
  spiky.slice(0, 1, 60000, 3).fill_(0.7f);
  spiky.slice(0, 2, 60000, 3).fill_(1.1f);
  const float reference = entropy_hi(smooth), hi = entropy_hi(spiky);
  CAPTURE(reference);
  CAPTURE(hi);
  // Spreading each spike over its level's histogram bins used to cost so much KL that the
  // threshold fell to 0.70, clipping the spike at 1.1 and the whole tail.
  CHECK(hi > 0.8f * reference);
  CHECK(hi <= spiky.max().item<float>());
}

TEST_CASE("quantize writes QDQ with int8 weights and int32 bias; outputs stay close to FP32") {
  for (const char* calib : {"minmax", "percentile", "entropy", "mse"}) {
    CAPTURE(calib);
    Model fp = tiny_conv_model(9);
    Model q = quantized(fmt::format("quantize{{calib={}}}", calib), fp);
    CHECK(count_ops(q, "QuantizeLinear") == 2);     // conv input, relu output
    CHECK(count_ops(q, "DequantizeLinear") == 4);   // + weight, bias
    CHECK(count_ops(q, "Conv") == 1);
    CHECK((q.graph.initializers.at("W_quantized").scalar_type() == at::kChar));
    CHECK(q.graph.initializers.at("W_scale").numel() == 4);   // per output channel
    CHECK((q.graph.initializers.at("B_quantized").scalar_type() == at::kInt));
    CHECK(q.graph.initializers.count("W") == 0);
    // Seeded inputs outside the calibration set: error within 3% of the output range.
    for (const auto& b : batches(4, 99)) {
      at::Tensor y = Executor(fp).run(b).at("Y"), yq = Executor(q).run(b).at("Y");
      double range = (y.max() - y.min()).item<double>();
      CHECK((y - yq).abs().max().item<double>() <= 0.03 * range);
    }
  }
}

TEST_CASE("a weight and bias shared by two layers (and the bias by an Add): one weight DQ, a bias per layer, valid file") {
  // What a scripted nn.TransformerEncoder gives: its layers start as copies, and TorchScript's
  // equal constants are one tensor. Before: duplicate DequantizeLinear outputs, and the shared
  // float bias erased under the Add that still read it.
  at::manual_seed(21);
  Model m;
  m.opsets[""] = 13;
  auto info = [](const std::string& name) {
    ValueInfo v;
    v.name = name;
    v.elem_type = 1;
    v.shape = std::vector<Dim>{Dim{-1, "N"}, Dim{8, ""}};
    return v;
  };
  m.graph.inputs.push_back(info("X"));
  m.graph.outputs.push_back(info("Y"));
  m.graph.initializers["W"] = at::randn({8, 8}) * 0.4;
  m.graph.initializers["B"] = at::randn({8}) * 0.1;
  auto node = [](const std::string& op, const std::string& name, std::vector<std::string> in, const std::string& out) {
    Node n;
    n.op_type = op, n.name = name, n.inputs = std::move(in), n.outputs = {out};
    if (op == "Gemm") n.attrs["transB"] = Attribute::of_int(1);
    return n;
  };
  m.graph.nodes = {node("Gemm", "g1", {"X", "W", "B"}, "h1"), node("Relu", "r1", {"h1"}, "a1"),
                   node("Gemm", "g2", {"a1", "W", "B"}, "h2"), node("Add", "add", {"h2", "B"}, "Y")};
  PassContext ctx;
  // 256 samples: an 8-wide layer clips visibly where a test input exceeds a 32-sample range.
  for (int i = 0; i < 32; ++i) ctx.calibration.push_back({{"X", at::randn({8, 8})}});
  Model q = m;
  run_pipeline(q, parse_pipeline("quantize"), ctx);
  int weight_dq = 0, bias_dq = 0;
  for (const Node& n : q.graph.nodes) {
    if (n.op_type != "DequantizeLinear") continue;
    weight_dq += n.inputs[0] == "W_quantized";
    bias_dq += n.outputs[0].find("_bias_dequantized") != std::string::npos;
  }
  CHECK(weight_dq == 1);
  CHECK(bias_dq == 2);
  CHECK(q.graph.initializers.count("B") == 1);   // the Add still reads the float bias
  TempDir tmp;
  CHECK_NOTHROW(save_onnx(q, (tmp / "shared.onnx").string()));   // onnx::checker + strict shape inference
  // Seeded inputs outside the calibration set: within 3% of the output range.
  const at::Tensor x = at::randn({16, 8});
  const at::Tensor y = Executor(m).run(std::vector<at::Tensor>{x}).at(0), yq = Executor(q).run(std::vector<at::Tensor>{x}).at(0);
  CHECK((y - yq).abs().max().item<double>() <= 0.03 * (y.max() - y.min()).item<double>());
}

TEST_CASE("a CRNN-style head (LSTM -> MatMul): the MatMul is quantized, the LSTM stays FP32 by rule; valid, onnxruntime agrees") {
  SKIP_WITHOUT_ONNXRUNTIME();
  at::manual_seed(31);
  const int64_t T = 7, I = 6, H = 8, C = 5;
  Model m;
  m.opsets[""] = 14;
  m.graph.inputs.push_back(ValueInfo{"X", 1, std::vector<Dim>{Dim{T, ""}, Dim{-1, "N"}, Dim{I, ""}}});
  m.graph.outputs.push_back(ValueInfo{"Y", 1, std::vector<Dim>{Dim{T, ""}, Dim{-1, "N"}, Dim{C, ""}}});
  m.graph.initializers["W"] = at::randn({1, 4 * H, I}) * 0.4;
  m.graph.initializers["R"] = at::randn({1, 4 * H, H}) * 0.4;
  m.graph.initializers["B"] = at::randn({1, 8 * H}) * 0.1;
  m.graph.initializers["axes"] = at::tensor(std::vector<int64_t>{1}, at::kLong);
  m.graph.initializers["P"] = at::randn({H, C}) * 0.5;
  Node lstm;
  lstm.op_type = "LSTM", lstm.name = "lstm", lstm.inputs = {"X", "W", "R", "B"}, lstm.outputs = {"seq"};
  lstm.attrs["hidden_size"] = Attribute::of_int(H);
  Node squeeze;
  squeeze.op_type = "Squeeze", squeeze.name = "squeeze", squeeze.inputs = {"seq", "axes"}, squeeze.outputs = {"h"};
  Node head;
  head.op_type = "MatMul", head.name = "head", head.inputs = {"h", "P"}, head.outputs = {"Y"};
  m.graph.nodes = {lstm, squeeze, head};
  PassContext ctx;
  for (int k = 0; k < 16; ++k) ctx.calibration.push_back({{"X", at::randn({T, 4, I})}});
  Model q = m;
  run_pipeline(q, parse_pipeline("quantize"), ctx);
  CHECK(count_ops(q, "LSTM") == 1);
  CHECK((q.graph.initializers.at("W").scalar_type() == at::kFloat));   // recurrent weights stay float
  CHECK((q.graph.initializers.at("P_quantized").scalar_type() == at::kChar));
  CHECK(count_ops(q, "QuantizeLinear") >= 1);
  TempDir tmp;
  save_onnx(q, (tmp / "crnn.onnx").string());   // onnx::checker + strict shape inference
  const at::Tensor x = at::randn({T, 3, I});
  const at::Tensor y = Executor(m).run(std::vector<at::Tensor>{x}).at(0), ours = Executor(q).run(std::vector<at::Tensor>{x}).at(0);
  // INT8 head: within 3% of the output range of FP32.
  CHECK((y - ours).abs().max().item<double>() <= 0.03 * (y.max() - y.min()).item<double>());
  const auto ort = run_onnxruntime({{(tmp / "crnn.onnx").string(), {{"X", x}}}});
  REQUIRE_MESSAGE(ort[0].error.empty(), ort[0].error);
  // onnxruntime's integer MatMul vs our fake-quant: one output step apart at most.
  CHECK((ort[0].outputs.at(0) - ours).abs().max().item<double>() <= 0.02 * (y.max() - y.min()).item<double>());
}

TEST_CASE("quantize reports its long steps: calibration per batch and pass (with samples/s), then bias correction") {
  std::map<std::string, std::vector<std::pair<int64_t, int64_t>>> events;
  std::string rate;
  PassContext ctx;
  ctx.calibration = batches(5, 3);
  ctx.progress = [&](const std::string& task, int64_t done, int64_t total, const std::string& status) {
    events[task].push_back({done, total});
    if (task == "calibration") rate = status;
  };
  // One pass over the data for every method (min/max and histograms together).
  for (const char* method : {"minmax", "percentile", "mse"}) {
    const std::string pipeline = fmt::format("quantize{{calib={}}}", method);
    const int passes = 1;
    CAPTURE(pipeline);
    events.clear();
    Model m = tiny_conv_model();
    run_pipeline(m, parse_pipeline(pipeline), ctx);
    const auto& calib = events.at("calibration");
    REQUIRE(calib.size() == static_cast<size_t>(5 * passes));
    for (size_t k = 0; k < calib.size(); ++k) CHECK(calib[k] == std::pair<int64_t, int64_t>{int64_t(k + 1), 5 * passes});
    CHECK(rate.find("samples/s") != std::string::npos);
    CHECK(events.at("bias correction").back() == std::pair<int64_t, int64_t>{5, 5});
  }
}

TEST_CASE("exclude keeps named nodes and op types in FP32; no data is an error") {
  Model q = quantized("quantize{exclude=conv}", tiny_conv_model());
  CHECK(count_ops(q, "QuantizeLinear") == 0);
  CHECK((q.graph.initializers.at("W").scalar_type() == at::kFloat));
  Model by_type = quantized("quantize{exclude=Conv}", tiny_conv_model());
  CHECK(count_ops(by_type, "QuantizeLinear") == 0);
  Model q2 = tiny_conv_model();
  PassContext empty;
  CHECK_THROWS_WITH_AS(run_pipeline(q2, parse_pipeline("quantize"), empty), doctest::Contains("calibration data"), InputError);
}

TEST_CASE("int8 symmetric activations use zero point 0") {
  Model q = quantized("quantize{activations=int8}", tiny_conv_model());
  CHECK((q.graph.initializers.at("X_zero_point").scalar_type() == at::kChar));
  CHECK(q.graph.initializers.at("X_zero_point").item<int>() == 0);
}

TEST_CASE("bias correction reduces the mean output error") {
  Model fp = tiny_conv_model(4);
  // Without the Relu the correction is exact on the calibration data: y = conv(x).
  fp.graph.nodes.pop_back();
  fp.graph.nodes[0].outputs[0] = "Y";
  // Coarse per-tensor weights make the rounding bias visible.
  Model plain = quantized("quantize{per-channel=false bias-correction=false}", fp);
  Model corrected = quantized("quantize{per-channel=false bias-correction=true}", fp);
  // The per-channel mean of the error over the data set (what the correction removes).
  at::Tensor shift_plain = at::zeros({4}, at::kDouble), shift_corr = at::zeros({4}, at::kDouble);
  for (const auto& b : batches(16, 11)) {
    at::Tensor y = Executor(fp).run(b).at("Y").to(at::kDouble);
    shift_plain += (before_output_rounding(plain, b, "Y") - y).mean({0, 2, 3});
    shift_corr += (before_output_rounding(corrected, b, "Y") - y).mean({0, 2, 3});
  }
  double e_plain = shift_plain.abs().sum().item<double>() / 16, e_corr = shift_corr.abs().sum().item<double>() / 16;
  MESSAGE(fmt::format("mean-shift error: plain {:.4g}, corrected {:.4g}", e_plain, e_corr));
  // The correction removes the shift of the weight rounding; the rest is the activations'
  // rounding and the int32 bias step (s_x * s_w).
  CHECK(e_corr < 0.5 * e_plain);
}

}  // TEST_SUITE

TEST_SUITE("onnxruntime") {

TEST_CASE("the quantized artifact passes onnx::checker, is ~4x smaller, and onnxruntime matches our executor") {
  REQUIRE_MESSAGE(onnxruntime_available(), "onnxruntime-node is missing: run scripts/setup.sh");
  TempDir tmp;
  // Wide enough that weights, not the graph, dominate the file.
  Model fp = tiny_conv_model(2, 64, 64);
  PassContext ctx;
  at::manual_seed(3);
  for (int i = 0; i < 8; ++i) ctx.calibration.push_back({{"X", at::randn({1, 64, 8, 8})}});
  Model q = fp;
  run_pipeline(q, parse_pipeline("quantize{calib=entropy}"), ctx);
  save_onnx(fp, (tmp / "fp.onnx").string());
  save_onnx(q, (tmp / "q.onnx").string());
  const double ratio = double(fs::file_size(tmp / "fp.onnx")) / fs::file_size(tmp / "q.onnx");
  MESSAGE(fmt::format("file size ratio fp32/int8: {:.2f}", ratio));
  CHECK(ratio > 3.0);
  Model reloaded = import_onnx((tmp / "q.onnx").string());
  std::map<std::string, at::Tensor> b = {{"X", at::randn({1, 64, 8, 8})}};
  at::Tensor ours = Executor(reloaded).run(b).at("Y");
  auto ort = run_onnxruntime({{(tmp / "q.onnx").string(), {{"X", b.at("X")}}}});
  REQUIRE_MESSAGE(ort[0].error.empty(), ort[0].error);
  // onnxruntime runs integer kernels; we run fake-quant in float. They may differ by one
  // quantization step of the output.
  const float step = q.graph.initializers.at("Y_scale").item<float>();
  double err = (ours - ort[0].outputs.at(0)).abs().max().item<double>();
  MESSAGE(fmt::format("max abs difference vs onnxruntime: {:.4g} (output step {:.4g})", err, step));
  CHECK(err <= 1.01 * step);
}

}  // TEST_SUITE

TEST_SUITE("quantize") {

TEST_CASE("a model left at opset 11 (a lift that failed) is quantized at its opset: per-tensor QDQ, valid, onnxruntime agrees") {
  SKIP_WITHOUT_ONNXRUNTIME();
  TempDir tmp;
  Model m11 = tiny_conv_model(4, 16, 32);
  m11.opsets[""] = 11;
  save_onnx(m11, (tmp / "op11.onnx").string());
  ImportOptions unlifted;
  unlifted.convert_opset = false;   // what the importer keeps when ONNX's converter fails
  Model m = import_onnx((tmp / "op11.onnx").string(), unlifted);
  REQUIRE(m.opset() == 11);
  PassContext ctx;
  std::vector<std::string> log;
  ctx.log = [&](const std::string& l) { log.push_back(l); };
  at::manual_seed(5);
  for (int i = 0; i < 8; ++i) ctx.calibration.push_back({{"X", at::randn({1, 16, 8, 8})}});
  const Model fp = m;
  auto reports = run_pipeline(m, parse_pipeline("quantize"), ctx);
  CHECK(m.opset() == 11);
  CHECK(reports.back().result.stats.at("per_channel") == 0);
  CHECK(std::count_if(log.begin(), log.end(), [](const std::string& l) { return l.find("quantized per tensor") != std::string::npos; }) ==
        1);
  for (const Node& n : m.graph.nodes)
    if (n.op_type == "DequantizeLinear") {
      CHECK_FALSE(n.attrs.count("axis"));
      CHECK(m.graph.initializers.at(n.inputs[1]).dim() == 0);   // one scale per tensor
    }
  CHECK(count_ops(m, "DequantizeLinear") >= 3);   // weight, bias and activations
  save_onnx(m, (tmp / "q11.onnx").string());     // checker and strict shape inference at opset 11
  const std::map<std::string, at::Tensor> b = {{"X", at::randn({1, 16, 8, 8})}};
  const at::Tensor ours = Executor(m).run(b).at("Y"), ref = Executor(fp).run(b).at("Y");
  auto ort = run_onnxruntime({{(tmp / "q11.onnx").string(), {{"X", b.at("X")}}}});
  REQUIRE_MESSAGE(ort[0].error.empty(), ort[0].error);
  const float step = m.graph.initializers.at("Y_scale").item<float>();
  CHECK((ours - ort[0].outputs.at(0)).abs().max().item<double>() <= 1.01 * step);
  CHECK((ours - ref).abs().max().item<double>() < 0.1 * ref.abs().max().item<double>());   // INT8 per tensor: within 10% of the range
  // Below opset 10 there is no QuantizeLinear at all: a clear refusal.
  Model m9 = m11;
  m9.opsets[""] = 9;
  PassContext ctx9 = ctx;
  CHECK(input_error_of([&] { run_pipeline(m9, parse_pipeline("quantize"), ctx9); }).find("needs opset 10 or newer") !=
        std::string::npos);
}

TEST_CASE("ConvTranspose is quantized: per-channel along axis 1 (per tensor when grouped), valid, onnxruntime agrees") {
  SKIP_WITHOUT_ONNXRUNTIME();
  // Named limit: a 3-layer float net with a ConvTranspose in the middle keeps this SQNR at INT8
  // (measured 32.5 dB at groups 1 and 2, mostly the output's own 8 bits); a quantization that broke the transposed layout's
  // axis would fall to single digits.
  constexpr double kMinSqnrDb = 24.0;
  for (int64_t group : {1, 2}) {
    CAPTURE(group);
    TempDir tmp;
    Net net(3, 21);
    const std::string a = net.op("Relu", {net.conv("X", 8, "conv1")}, "relu1");
    const std::string u = net.op("Relu", {net.conv_transpose(a, 6, "up", group)}, "relu2");
    const Model fp = net.output(net.conv(u, 4, "conv2"));
    Model q = quantized("quantize", fp);
    CHECK(count_ops(q, "ConvTranspose") == 1);
    const at::Tensor& wq = q.graph.initializers.at("up.w_quantized");
    CHECK((wq.scalar_type() == at::kChar));
    CHECK(q.graph.initializers.at("up.w_scale").numel() == (group == 1 ? 6 : 1));
    CHECK((q.graph.initializers.at("up.b_quantized").scalar_type() == at::kInt));
    CHECK(q.graph.initializers.at("up.b_quantized").numel() == 6);
    for (const Node& n : q.graph.nodes)
      if (n.op_type == "DequantizeLinear" && n.inputs[0] == "up.w_quantized") CHECK(n.attr_int("axis", -1) == (group == 1 ? 1 : -1));
    save_onnx(q, (tmp / "q.onnx").string());   // onnx::checker + strict shape inference
    const std::map<std::string, at::Tensor> b = {{"X", at::randn({2, 3, 8, 8})}};
    const at::Tensor ref = Executor(fp).run(b).at(fp.graph.outputs[0].name), ours = Executor(q).run(b).at(fp.graph.outputs[0].name);
    const double sqnr = sqnr_db(ref, ours);
    MESSAGE(fmt::format("group {}: INT8 SQNR {:.1f} dB", group, sqnr));
    CHECK(sqnr >= kMinSqnrDb);
    auto ort = run_onnxruntime({{(tmp / "q.onnx").string(), {{"X", b.at("X")}}}});
    REQUIRE_MESSAGE(ort[0].error.empty(), ort[0].error);
    const float step = q.graph.initializers.at(fp.graph.outputs[0].name + "_scale").item<float>();
    CHECK((ours - ort[0].outputs.at(0)).abs().max().item<double>() <= 1.01 * step);
  }
}

TEST_CASE("min-sqnr: label-free mixed precision keeps the least faithful layers in FP32 until output 0 reaches the dB") {
  Model m = residual_net();
  PassContext ctx;
  ctx.calibration = batches(16, 11);
  Dataset eval;   // no labels: the SQNR against the FP32 model needs none
  eval.source = "seeded";
  at::manual_seed(12);
  eval.inputs["X"] = at::randn({16, 3, 8, 8});
  eval.samples = 16;
  ctx.eval = &eval;
  std::vector<std::string> log;
  ctx.log = [&](const std::string& l) { log.push_back(l); };
  std::vector<std::pair<int64_t, int64_t>> progress;
  ctx.progress = [&](const std::string& task, int64_t done, int64_t total, const std::string&) {
    if (task == "sensitivity") progress.push_back({done, total});
  };
  // Sensitivity in dB: one layer at a time, least faithful first, with a progress event per layer.
  Model s = m;
  auto reports = run_pipeline(s, parse_pipeline("quantize{sensitivity=true metric=sqnr}"), ctx);
  const auto& sens = reports.back().result.details.at("sensitivity");
  CHECK(sens["metric"] == "sqnr");
  REQUIRE(sens["layers"].size() == 4);   // conv1, conv2, conv3, fc
  for (size_t i = 1; i < sens["layers"].size(); ++i)
    CHECK(sens["layers"][i - 1]["sqnr_db"].get<double>() <= sens["layers"][i]["sqnr_db"].get<double>());
  REQUIRE(progress.size() == 4);
  for (size_t k = 0; k < 4; ++k) CHECK(progress[k] == std::pair<int64_t, int64_t>{int64_t(k + 1), 4});
  const double all_int8 = sens["final_sqnr_db"].get<double>();
  CHECK(all_int8 > 10);
  CHECK(all_int8 < 80);
  // A budget above what all-INT8 reaches keeps layers in FP32 until it is met, and says so.
  const double wanted = all_int8 + 6;
  Model q = m;
  reports = run_pipeline(q, parse_pipeline(fmt::format("quantize{{min-sqnr={:.2f}}}", wanted)), ctx);
  const auto& mixed = reports.back().result.details.at("sensitivity");
  CHECK(reports.back().result.stats.at("kept_fp32_layers") >= 1);
  CHECK(mixed["final_sqnr_db"].get<double>() >= wanted);
  EvalOptions against;
  against.reference = &m;
  CHECK(evaluate(q, eval, against).agreement->sqnr_db == doctest::Approx(mixed["final_sqnr_db"].get<double>()).epsilon(0.01));
  CHECK(input_error_of([&] {
          Model x = m;
          run_pipeline(x, parse_pipeline("quantize{min-sqnr=30 max-accuracy-drop=1}"), ctx);
        }).find("give one budget") != std::string::npos);
}

TEST_CASE("Concat inputs and residual Add operands share one activation scale") {
  // X -> conv -> relu -> H1 ; X -> conv2 -> relu2 -> H2 ; Concat(H1, H2) and Add(H1, H2).
  Model m = tiny_conv_model(6);
  Graph& g = m.graph;
  g.nodes[1].outputs[0] = "H1";
  Node conv2 = g.nodes[0], relu2 = g.nodes[1];
  conv2.name = "conv2";
  conv2.inputs = {"X", "W2", "B2"};
  conv2.outputs = {"C2"};
  relu2.name = "relu2";
  relu2.inputs = {"C2"};
  relu2.outputs = {"H2"};
  g.initializers["W2"] = at::randn({4, 3, 3, 3}) * 3;   // a different range than conv's
  g.initializers["B2"] = at::randn({4});
  Node cat;
  cat.name = "cat";
  cat.op_type = "Concat";
  cat.inputs = {"H1", "H2"};
  cat.outputs = {"Y"};
  cat.attrs["axis"] = Attribute::of_int(1);
  Node add;
  add.name = "add";
  add.op_type = "Add";
  add.inputs = {"H1", "H2"};
  add.outputs = {"Z"};
  g.nodes.insert(g.nodes.end(), {conv2, relu2, cat, add});
  g.outputs[0].shape->at(1).value = 8;
  g.outputs.push_back(g.outputs[0]);
  g.outputs[1].name = "Z";
  g.outputs[1].shape->at(1).value = 4;
  Model q = quantized("quantize", m);
  const at::Tensor& s1 = q.graph.initializers.at("H1_scale");
  const at::Tensor& s2 = q.graph.initializers.at("H2_scale");
  CHECK(s1.item<float>() == s2.item<float>());
  CHECK(q.graph.initializers.at("H1_zero_point").item<int>() == q.graph.initializers.at("H2_zero_point").item<int>());
  // Still close to FP32.
  auto b = batches(1, 77).at(0);
  at::Tensor y = Executor(m).run(b).at("Y"), yq = Executor(q).run(b).at("Y");
  CHECK((y - yq).abs().max().item<double>() <= 0.03 * (y.max() - y.min()).item<double>());
}

}  // TEST_SUITE

TEST_SUITE("quantize") {

TEST_CASE("cross-layer equalization keeps the function and helps per-tensor weights") {
  // X -> conv -> relu -> conv2 -> Y, conv's output channels scaled over three decades.
  Model m = tiny_conv_model(8);
  Graph& g = m.graph;
  g.initializers["W"] = g.initializers["W"] * at::tensor({0.01f, 0.1f, 1.0f, 10.0f}).reshape({4, 1, 1, 1});
  g.initializers["B"] = g.initializers["B"] * at::tensor({0.01f, 0.1f, 1.0f, 10.0f});
  g.nodes[1].outputs[0] = "R";
  Node conv2 = g.nodes[0];
  conv2.name = "conv2";
  conv2.inputs = {"R", "W2", "B2"};
  conv2.outputs = {"Y"};
  g.initializers["W2"] = at::randn({4, 4, 3, 3});
  g.initializers["B2"] = at::randn({4});
  g.nodes.push_back(conv2);
  auto data = batches(16, 11);

  Model eq = m;
  CHECK(equalize_cross_layer(eq) == 1);
  for (const auto& b : batches(2, 3))   // the function is unchanged (float rounding only)
    CHECK(all_close(Executor(eq).run(b).at("Y"), Executor(m).run(b).at("Y"), 1e-4, 1e-4));

  auto error = [&](const std::string& pipeline) {
    Model q = quantized(pipeline, m);
    double e = 0;
    for (const auto& b : data) e += (before_output_rounding(q, b, "Y") - Executor(m).run(b).at("Y")).pow(2).mean().item<double>();
    return e;
  };
  double plain = error("quantize{per-channel=false bias-correction=false}");
  double equalized = error("quantize{per-channel=false bias-correction=false equalize=true}");
  MESSAGE(fmt::format("per-tensor weights, output MSE: plain {:.4g}, equalized {:.4g}", plain, equalized));
  CHECK(equalized < 0.8 * plain);   // measured: 26% lower
}

}  // TEST_SUITE
