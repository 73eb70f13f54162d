// convert-fp16: structure (Casts at the edges, FLOAT16 initializers, excluded nodes), numbers
// against FP32 (our executor and onnxruntime), the written file (onnx::checker + strict shape
// inference through save_onnx), saturation, and a real torch.onnx export.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include "core/error.h"
#include "core/executor.h"
#include "core/onnx_export.h"
#include "core/onnx_import.h"
#include "passes/convert_fp16.h"
#include "passes/pipeline.h"
#include "tests/helpers.h"
#include "tests/net_builder.h"
#include "tests/ort_bridge.h"

using namespace edgepack;
using namespace edgepack::test;

namespace {

// FP16 keeps 11 significant bits: each stored weight and activation is within 2^-11 (4.9e-4)
// relative of its FP32 value. Through the residual test net (3 convs, an Add and a Gemm), with
// FP32 accumulation, the output's error stays far below 1% of its norm; 40 dB is that bound's
// SQNR (1% relative error).
constexpr double kFp16MinSqnrDb = 40;

Model converted(const std::string& pipeline, Model m) {
  PassContext ctx;
  run_pipeline(m, canonicalize(parse_pipeline(pipeline)), ctx);
  return m;
}

at::Tensor run_one(const Model& m, const at::Tensor& x) { return Executor(m).run(std::vector<at::Tensor>{x}).at(0); }

}  // namespace

TEST_SUITE("passes") {

TEST_CASE("convert-fp16: FLOAT16 weights, one Cast at each float input and output; the outputs stay within FP16 rounding") {
  Model fp = residual_net();
  randomize_weights(fp, 7);
  const Model h = converted("convert-fp16", fp);
  CHECK(count_ops(h, "Cast") == 2);   // X -> FLOAT16, the output -> FLOAT
  CHECK(count_ops(h, "Conv") == count_ops(fp, "Conv"));
  int64_t half = 0;
  for (const auto& [name, t] : h.graph.initializers) {
    CAPTURE(name);
    CHECK((t.scalar_type() == at::kHalf));
    half += t.numel();
  }
  CHECK(half > 0);
  CHECK(h.graph.inputs.at(0).elem_type == onnx::TensorProto::FLOAT);
  CHECK(h.graph.outputs.at(0).elem_type == onnx::TensorProto::FLOAT);
  at::manual_seed(3);
  const at::Tensor x = at::randn({4, 3, 8, 8});
  const at::Tensor y = run_one(fp, x), yh = run_one(h, x);
  CHECK((yh.scalar_type() == at::kFloat));
  const double db = sqnr_db(y, yh);
  MESSAGE(fmt::format("residual net in FP16: SQNR {:.1f} dB against FP32", db));
  CHECK(db >= kFp16MinSqnrDb);
  TempDir tmp;
  CHECK_NOTHROW(save_onnx(h, (tmp / "h.onnx").string()));   // onnx::checker + strict shape inference
  const Model back = import_onnx((tmp / "h.onnx").string());
  CHECK((back.graph.initializers.begin()->second.scalar_type() == at::kHalf));
  CHECK(at::equal(run_one(back, x), yh));
}

TEST_CASE("convert-fp16{keep-io=false} declares the float inputs and outputs FLOAT16, with no Casts") {
  const Model h = converted("convert-fp16{keep-io=false}", residual_net());
  CHECK(count_ops(h, "Cast") == 0);
  CHECK(h.graph.inputs.at(0).elem_type == onnx::TensorProto::FLOAT16);
  CHECK(h.graph.outputs.at(0).elem_type == onnx::TensorProto::FLOAT16);
  at::manual_seed(4);
  const at::Tensor x = at::randn({2, 3, 8, 8});
  const at::Tensor yh = run_one(h, x.to(at::kHalf));
  CHECK((yh.scalar_type() == at::kHalf));
  CHECK(sqnr_db(run_one(residual_net(), x), yh.to(at::kFloat)) >= kFp16MinSqnrDb);
  TempDir tmp;
  CHECK_NOTHROW(save_onnx(h, (tmp / "h.onnx").string()));
}

TEST_CASE("convert-fp16{exclude=Gemm} keeps the Gemm and its weights in FP32 between Casts") {
  Model fp = residual_net();
  const Model h = converted("convert-fp16{exclude=Gemm}", fp);
  std::string gemm_weight;
  for (const Node& n : h.graph.nodes)
    if (n.op_type == "Gemm") gemm_weight = n.inputs.at(1);
  REQUIRE_FALSE(gemm_weight.empty());
  CHECK((h.graph.initializers.at(gemm_weight).scalar_type() == at::kFloat));
  // X -> FLOAT16, up before the Gemm (its data input), down after it, the output -> FLOAT.
  CHECK(count_ops(h, "Cast") == 4);
  const at::Tensor x = at::randn({2, 3, 8, 8});
  CHECK(sqnr_db(run_one(fp, x), run_one(h, x)) >= kFp16MinSqnrDb);
  TempDir tmp;
  CHECK_NOTHROW(save_onnx(h, (tmp / "h.onnx").string()));
  CHECK_THROWS_WITH_AS(converted("convert-fp16{exclude=nosuch}", fp), doctest::Contains("nosuch"), InputError);
}

TEST_CASE("convert-fp16 saturates weights beyond FP16's range at 65504 and counts them") {
  Model m = tiny_conv_model();
  at::Tensor& w = m.graph.initializers.at("W");
  w.view(-1)[0] = 1e6f;
  w.view(-1)[1] = -7e4f;
  const ConvertFp16Stats s = convert_fp16(m, ConvertFp16Settings{});
  CHECK(s.saturated_weights == 2);
  const at::Tensor h = m.graph.initializers.at("W").to(at::kFloat).view(-1);
  CHECK(h[0].item<float>() == 65504.0f);
  CHECK(h[1].item<float>() == -65504.0f);
  CHECK(at::isfinite(m.graph.initializers.at("W").to(at::kFloat)).all().item<bool>());
}

TEST_CASE("convert-fp16 refuses a model with If/Loop/Scan bodies, naming the node, and changes nothing") {
  Model m = tiny_conv_model();
  Node branchy = make_node("If", {"cond"}, "branch_out");
  Attribute body;
  body.kind = Attribute::Kind::Graph;
  body.g = std::make_shared<Graph>();
  branchy.attrs["then_branch"] = body;
  m.graph.nodes.push_back(branchy);
  CHECK_THROWS_WITH_AS(convert_fp16(m, ConvertFp16Settings{}), doctest::Contains("If/Loop/Scan bodies"), InputError);
  CHECK((m.graph.initializers.at("W").scalar_type() == at::kFloat));
}

TEST_CASE("the executor runs FLOAT16 nodes in float and rounds each result to FLOAT16") {
  // Conv has no Half kernel on CPU; the result must equal FP32 arithmetic on the same FP16
  // values, rounded once.
  Model m = tiny_conv_model();
  convert_fp16(m, ConvertFp16Settings{false, {}});
  at::manual_seed(5);
  const at::Tensor x = at::randn({1, 3, 8, 8}).to(at::kHalf);
  const at::Tensor y = run_one(m, x);
  CHECK((y.scalar_type() == at::kHalf));
  Model wide = tiny_conv_model();
  for (auto& [name, t] : wide.graph.initializers) t = m.graph.initializers.at(name).to(at::kFloat);
  CHECK(at::equal(y, run_one(wide, x.to(at::kFloat)).to(at::kHalf)));
}

}  // TEST_SUITE

TEST_CASE("convert-fp16 files run in onnxruntime and match our executor; a real export keeps 40 dB" *
          doctest::test_suite("onnxruntime")) {
  if (!onnxruntime_available()) {
    if (in_ci()) FAIL_CHECK("onnxruntime-node is missing (CI=true requires it)");
    return;
  }
  TempDir tmp;
  std::vector<std::pair<std::string, Model>> models = {{"residual", residual_net()}};
  const fs::path mobilenet = fs::path(EDGEPACK_SOURCE_DIR) / "data" / "real" / "mobilenet_v3_small.onnx";
  if (fs::exists(mobilenet)) models.emplace_back("mobilenet_v3_small", import_onnx(mobilenet.string()));
  else if (in_ci()) FAIL_CHECK("data/real is missing (CI=true requires it): run scripts/make-real-exports.sh");
  for (auto& [name, fp] : models) {
    CAPTURE(name);
    if (name == "residual") randomize_weights(fp, 9);
    const Model h = converted("convert-fp16", fp);
    const fs::path path = tmp / (name + ".fp16.onnx");
    save_onnx(h, path.string());
    const ValueInfo& in = *fp.graph.runtime_inputs().at(0);
    std::vector<int64_t> shape = in.concrete_shape(1);
    at::manual_seed(6);
    const at::Tensor x = at::rand(shape);
    const std::vector<OrtResult> r = run_onnxruntime({{path.string(), {{in.name, x}}}});
    REQUIRE(r.at(0).error.empty());
    const at::Tensor ours = run_one(h, x), fp32 = run_one(fp, x);
    const double vs_fp32 = sqnr_db(fp32, r[0].outputs.at(0)), vs_ours = sqnr_db(ours, r[0].outputs.at(0));
    MESSAGE(fmt::format("{}: onnxruntime FP16 vs FP32 {:.1f} dB, vs our executor {:.1f} dB", name, vs_fp32, vs_ours));
    CHECK(vs_fp32 >= kFp16MinSqnrDb);
    CHECK(vs_ours >= kFp16MinSqnrDb);
    save_onnx(fp, (tmp / (name + ".onnx")).string());
    CHECK(double(fs::file_size(path)) < 0.6 * double(fs::file_size(tmp / (name + ".onnx"))));   // weights halve
  }
}
