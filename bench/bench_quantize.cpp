// INT8 post-training quantization, in one run on this machine:
//  - accuracy: the MNIST teacher in FP32 vs our INT8 with each calibration method (top-1 drop);
//  - size: INT8 file bytes / FP32 file bytes;
//  - speed of the artifact: onnxruntime INT8 vs FP32 latency on the MNIST teacher (batch 1 and
//    64) and on light ResNet-50 with seeded random weights (batch 1);
//  - speed of the tool: calibration + rewrite time per calibration sample.
// usage: bench_quantize [--threads N] [--repeat R]   (needs data/mnist from scripts/make-mnist-teacher.sh)
#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "core/dataset.h"
#include "core/evaluate.h"
#include "core/executor.h"
#include "core/onnx_import.h"
#include "export/onnx_export.h"
#include "passes/fold_constants.h"
#include "passes/pipeline.h"
#include "tests/helpers.h"
#include "tests/ort_bridge.h"

using namespace edgepack;
using namespace edgepack::test;

namespace {

double median(std::vector<double> v) {
  if (v.size() > 1) v.erase(v.begin());  // first run is warm-up
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

std::pair<Model, double> quantize(const Model& fp, const std::vector<std::map<std::string, at::Tensor>>& batches,
                                  const std::string& pipeline) {
  PassContext ctx;
  ctx.calibration = batches;
  Model q = fp;
  auto t0 = std::chrono::steady_clock::now();
  run_pipeline(q, parse_pipeline(pipeline), ctx);
  return {q, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()};
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, repeat = 30;
  for (int i = 1; i + 1 < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--repeat")) repeat = std::atoi(argv[++i]);
  }
  const fs::path data = fs::path(EDGEPACK_SOURCE_DIR) / "data" / "mnist";
  if (!fs::exists(data / "teacher.onnx") || !onnxruntime_available()) {
    fmt::print(stderr, "bench_quantize: needs data/mnist/teacher.onnx (scripts/make-mnist-teacher.sh) and onnxruntime-node\n");
    return 2;
  }
  set_threads(threads);
  TempDir tmp;
  Model teacher = import_onnx((data / "teacher.onnx").string());
  Dataset train = load_dataset((data / "train.npz").string(), teacher, DatasetOptions{256});
  Dataset test = load_dataset((data / "test.npz").string(), teacher);
  std::vector<std::map<std::string, at::Tensor>> calib;
  for (int64_t s = 0; s < train.samples; s += 32) calib.push_back(train.batch(s, 32).feeds);

  const double fp32 = evaluate(teacher, test).accuracy.value();
  fmt::print("MNIST teacher, {} test digits, calibration on {} training digits\n", test.samples, train.samples);
  fmt::print("{:<80} {:>9} {:>12} {:>14}\n", "model", "top-1 %", "drop (pts)", "calib ms/sample");
  fmt::print("{:<80} {:>9.2f} {:>12} {:>14}\n", "FP32", 100 * fp32, "-", "-");
  Model best;
  for (const std::string pipeline : {"quantize{calib=minmax bias-correction=false}", "quantize{calib=minmax}",
                                     "quantize{calib=percentile}", "quantize{calib=entropy}", "quantize{calib=mse}",
                                     "quantize{calib=minmax per-channel=false bias-correction=false}",
                                     "quantize{calib=minmax per-channel=false bias-correction=false equalize=true}",
                                     "quantize{calib=minmax per-channel=false equalize=true}"}) {
    auto [q, seconds] = quantize(teacher, calib, pipeline);
    const double acc = evaluate(q, test).accuracy.value();
    fmt::print("{:<80} {:>9.2f} {:>+12.2f} {:>14.3f}\n", pipeline, 100 * acc, 100 * (fp32 - acc), 1000 * seconds / train.samples);
    if (pipeline == "quantize{calib=percentile}") best = q;
  }
  save_onnx(teacher, (tmp / "teacher.onnx").string());
  save_onnx(best, (tmp / "teacher.int8.onnx").string());
  fmt::print("\nsize: INT8 / FP32 file bytes = {:.3f}\n",
             double(fs::file_size(tmp / "teacher.int8.onnx")) / fs::file_size(tmp / "teacher.onnx"));

  // ResNet-style: light ResNet-50 with seeded weights, calibrated on random images.
  std::vector<std::pair<std::string, std::string>> models = {{"mnist teacher", "teacher"}};
  std::map<std::string, std::vector<std::pair<std::string, at::Tensor>>> inputs;
  const std::string input = teacher.graph.runtime_inputs()[0]->name;
  inputs["teacher"] = {{input, test.batch(0, 1).feeds.at(input)}};
  inputs["teacher64"] = {{input, test.batch(0, 64).feeds.at(input)}};
  std::string root = conformance_dir();
  if (!root.empty()) {
    Model resnet = import_onnx(root + "/light/light_resnet50.onnx");
    fold_constants(resnet);
    randomize_weights(resnet, 7);
    const std::string rin = resnet.graph.runtime_inputs()[0]->name;
    std::vector<std::map<std::string, at::Tensor>> rcalib;
    at::manual_seed(1);
    for (int i = 0; i < 4; ++i) rcalib.push_back({{rin, at::rand({1, 3, 224, 224})}});
    save_onnx(resnet, (tmp / "resnet.onnx").string());
    save_onnx(quantize(resnet, rcalib, "quantize{calib=percentile}").first, (tmp / "resnet.int8.onnx").string());
    inputs["resnet"] = {{rin, at::rand({1, 3, 224, 224})}};
  }
  std::vector<OrtJob> jobs;
  std::vector<std::string> labels;
  auto add = [&](const std::string& label, const std::string& file, const std::string& in) {
    jobs.push_back({(tmp / (file + ".onnx")).string(), inputs.at(in)});
    jobs.push_back({(tmp / (file + ".int8.onnx")).string(), inputs.at(in)});
    labels.push_back(label);
  };
  add("mnist teacher, batch 1", "teacher", "teacher");
  add("mnist teacher, batch 64", "teacher", "teacher64");
  if (!root.empty()) add("light ResNet-50 (random weights), batch 1", "resnet", "resnet");
  auto ort = run_onnxruntime(jobs, threads, repeat + 1);
  fmt::print("\nonnxruntime-node latency, {} thread(s), median of {} runs\n", threads, repeat);
  fmt::print("{:<44} {:>10} {:>10} {:>14}\n", "model", "FP32 ms", "INT8 ms", "INT8 speed-up");
  for (size_t i = 0; i < labels.size(); ++i) {
    const auto &f = ort[2 * i], &q = ort[2 * i + 1];
    if (!f.error.empty() || !q.error.empty()) {
      fmt::print("{:<44} error: {}{}\n", labels[i], f.error, q.error);
      continue;
    }
    const double a = median(f.ms), b = median(q.ms);
    fmt::print("{:<44} {:>10.3f} {:>10.3f} {:>13.2f}x\n", labels[i], a, b, a / b);
  }
  return 0;
}
