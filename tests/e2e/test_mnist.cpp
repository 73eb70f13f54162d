// End to end on the MNIST sample: the LibTorch-trained teacher (scripts/make-mnist-teacher.sh,
// run by scripts/test.sh) reaches its accuracy, INT8 quantization keeps it within the stated
// drop, the file shrinks ~4x, and onnxruntime agrees with our executor on the INT8 artifact.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include "core/dataset.h"
#include "core/evaluate.h"
#include "core/executor.h"
#include "core/onnx_import.h"
#include "core/onnx_export.h"
#include "passes/pipeline.h"
#include "tests/helpers.h"
#include "tests/ort_bridge.h"

using namespace edgepack;
using namespace edgepack::test;

namespace {

const fs::path kData = fs::path(EDGEPACK_SOURCE_DIR) / "data" / "mnist";

Model quantize_teacher(const Model& teacher, const std::string& pipeline) {
  Dataset calib = load_dataset((kData / "train.npz").string(), teacher, DatasetOptions{256});
  PassContext ctx;
  for (int64_t s = 0; s < calib.samples; s += 32) ctx.calibration.push_back(calib.batch(s, 32).feeds);
  Model q = teacher;
  run_pipeline(q, parse_pipeline(pipeline), ctx);
  return q;
}

}  // namespace

TEST_SUITE("mnist") {

TEST_CASE("MNIST teacher: FP32 accuracy, INT8 accuracy drop and size, onnxruntime agreement") {
  REQUIRE_MESSAGE(fs::exists(kData / "teacher.onnx"), "no MNIST teacher: run scripts/make-mnist-teacher.sh");
  set_threads(0);
  Model teacher = import_onnx((kData / "teacher.onnx").string());
  Dataset test = load_dataset((kData / "test.npz").string(), teacher);
  const double fp32 = evaluate(teacher, test).accuracy.value();
  MESSAGE(fmt::format("teacher FP32 top-1 {:.2f}% on {} test digits", 100 * fp32, test.samples));
  CHECK(fp32 >= 0.985);

  TempDir tmp;
  for (const char* calib : {"minmax", "percentile", "entropy", "mse"}) {
    CAPTURE(calib);
    Model q = quantize_teacher(teacher, fmt::format("quantize{{calib={}}}", calib));
    const double int8 = evaluate(q, test).accuracy.value();
    MESSAGE(fmt::format("INT8 calib={}: top-1 {:.2f}% (drop {:+.2f} points)", calib, 100 * int8, 100 * (fp32 - int8)));
    // Goal 0.1 points; CI bound 0.3 for every method (entropy keeps point masses out of the KL
    // re-binning, docs/quantization.md, and no longer clips the first conv).
    CHECK(fp32 - int8 <= 0.003);
    if (std::string(calib) != "entropy") continue;

    save_onnx(q, (tmp / "int8.onnx").string());
    const double ratio = double(fs::file_size(tmp / "int8.onnx")) / fs::file_size(kData / "teacher.onnx");
    MESSAGE(fmt::format("INT8 / FP32 file bytes: {:.3f}", ratio));
    CHECK(ratio <= 0.27);

    REQUIRE_MESSAGE(onnxruntime_available(), "onnxruntime-node is missing: run scripts/setup.sh");
    Model reloaded = import_onnx((tmp / "int8.onnx").string());
    auto batch = test.batch(0, 500);
    const std::string input = reloaded.graph.runtime_inputs().at(0)->name;
    at::Tensor ours = Executor(reloaded).run(batch.feeds).begin()->second;
    auto ort = run_onnxruntime({{(tmp / "int8.onnx").string(), {{input, batch.feeds.at(input)}}}});
    REQUIRE_MESSAGE(ort[0].error.empty(), ort[0].error);
    const at::Tensor& theirs = ort[0].outputs.at(0);
    const double match = ours.argmax(1).eq(theirs.argmax(1)).to(at::kDouble).mean().item<double>();
    const double err = (ours - theirs).abs().max().item<double>();
    const double range = (theirs.max() - theirs.min()).item<double>();
    MESSAGE(fmt::format("onnxruntime vs our executor on INT8: top-1 match {:.2f}%, max abs diff {:.4g} (logit range {:.3g})",
                        100 * match, err, range));
    // onnxruntime computes in integers, we in float with the same QDQ rounding: the logits
    // may differ by a few output steps.
    CHECK(match >= 0.995);
    CHECK(err <= 0.02 * range);
  }
}

}  // TEST_SUITE
