// INT8 post-training quantization, in one run on this machine:
//  - accuracy: the MNIST teacher in FP32 vs our INT8 with each calibration method (top-1 drop),
//    and vs PyTorch FX post-training quantization of the same weights on the same calibration
//    samples (bench/ptq_peer_pytorch.py, run with /usr/bin/python3; skipped with a note when
//    that python lacks torch: scripts/setup.sh --bench installs it);
//  - size: INT8 file bytes / FP32 file bytes;
//  - speed of the artifact: onnxruntime INT8 vs FP32 latency on the MNIST teacher (batch 1 and
//    64) and on light ResNet-50 with seeded random weights (batch 1);
//  - speed of the tool: calibration + rewrite time per calibration sample, and its ratio to
//    PyTorch FX's calibration + convert_fx.
// usage: bench_quantize [--threads N] [--repeat R] [--calib-runs C]
//   (needs data/mnist from scripts/make-mnist-teacher.sh). Latency: median of R runs;
//   calibration time: fastest of C runs, ours and PyTorch's.
#include <ATen/ATen.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <optional>

#include "compress/all_passes.h"
#include "core/dataset.h"
#include "core/evaluate.h"
#include "core/executor.h"
#include "core/onnx_import.h"
#include "core/onnx_export.h"
#include "passes/fold_constants.h"
#include "passes/pipeline.h"
#include "bench/bench_cli.h"
#include "tests/helpers.h"
#include "tests/ort_bridge.h"

using namespace edgepack;
using namespace edgepack::test;

namespace {

// The quantized model and the fastest of `runs` timings: the cores are shared, and the
// fastest run is the one least disturbed by other jobs (the PyTorch peer is timed alike).
std::pair<Model, double> quantize(const Model& fp, const std::vector<std::map<std::string, at::Tensor>>& batches,
                                  const std::string& pipeline, int runs = 1) {
  PassContext ctx;
  ctx.calibration = batches;
  Model q;
  double best = std::numeric_limits<double>::infinity();
  for (int r = 0; r < runs; ++r) {
    q = fp;
    auto t0 = std::chrono::steady_clock::now();
    run_pipeline(q, parse_pipeline(pipeline), ctx);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return {q, best};
}

// The PyTorch FX peer's JSON line (see bench/ptq_peer_pytorch.py), or nothing, after printing
// why, when it cannot run: the bench must not depend on python3-torch.
std::optional<nlohmann::json> run_pytorch_peer(const fs::path& data, int64_t calib_samples, int threads, int runs) {
  const fs::path script = fs::path(EDGEPACK_SOURCE_DIR) / "bench" / "ptq_peer_pytorch.py";
  const std::string cmd = fmt::format("/usr/bin/python3 {} --model {} --train {} --test {} --calib {} --batch 32 --threads {} --runs {} 2>&1",
                                      q(script), q(data / "teacher.onnx"), q(data / "train.npz"), q(data / "test.npz"),
                                      calib_samples, threads, runs);
  std::string out;
  int status = -1;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[4096];
    while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    status = ::pclose(p);
  }
  while (!out.empty() && out.back() == '\n') out.pop_back();
  const size_t newline = out.find_last_of('\n');
  const std::string last = newline == std::string::npos ? out : out.substr(newline + 1);
  nlohmann::json result = nlohmann::json::parse(last, nullptr, /*allow_exceptions=*/false);
  if (status != 0 || !result.is_object()) {
    const bool no_torch = WIFEXITED(status) && WEXITSTATUS(status) == 3;
    fmt::print("PyTorch FX PTQ row skipped: {} ({})\n",
               no_torch ? "/usr/bin/python3 lacks torch/onnx/numpy; scripts/setup.sh --bench installs them"
                        : "bench/ptq_peer_pytorch.py failed",
               last);
    return std::nullopt;
  }
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  edgepack::register_all_passes();
  // LibTorch's OpenMP threads spin while they wait; on shared cores a spinning thread starves
  // the one it waits for (5-10x slower, as samples/mnist/train_teacher.cpp measured), and the
  // calibration times swung 20x between runs. libgomp reads the policy when it loads, before
  // main: re-run once with it set. The PyTorch peer inherits it, so both are timed alike.
  if (!std::getenv("OMP_WAIT_POLICY")) {
    ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    ::execv("/proc/self/exe", argv);  // returns only on failure: go on with the default policy
  }
  int threads = 2, repeat = 30, calib_runs = 3;
  CLI::App app{"INT8 on the MNIST teacher vs PyTorch FX PTQ: accuracy, calibration time and onnxruntime speed", "bench_quantize"};
  app.add_option("--threads", threads, "Intra-op threads")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--repeat", repeat, "Timed runs per measurement")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--calib-runs", calib_runs, "Calibration runs timed per method")->check(CLI::PositiveNumber)->capture_default_str();
  return edgepack::bench::run_bench(app, argc, argv, [&]() -> int {
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
    // `quantize` with its default options; the calibration-time ratio to PyTorch is taken on it.
    const std::string default_pipeline = "quantize";   // the defaults: mse ranges, per-layer bias correction
    double default_seconds = 0;
    Model best;
    for (const std::string pipeline : {"quantize{calib=minmax bias-correction=false}", "quantize{calib=minmax}",
                                       "quantize{calib=percentile}", "quantize{calib=entropy}", "quantize{calib=mse}", "quantize",
                                       "quantize{calib=minmax per-channel=false bias-correction=false}",
                                       "quantize{calib=minmax per-channel=false bias-correction=false equalize=true}",
                                       "quantize{calib=minmax per-channel=false equalize=true}"}) {
      auto [q, seconds] = quantize(teacher, calib, pipeline, calib_runs);
      const double acc = evaluate(q, test).accuracy.value();
      fmt::print("{:<80} {:>9.2f} {:>+12.2f} {:>14.3f}\n", pipeline, 100 * acc, 100 * (fp32 - acc), 1000 * seconds / train.samples);
      if (pipeline == "quantize{calib=percentile}") best = q;
      if (pipeline == default_pipeline) default_seconds = seconds;
    }
    if (auto peer = run_pytorch_peer(data, train.samples, threads, calib_runs)) {
      const std::string engine = peer->at("engine");
      const double acc = peer->at("int8_accuracy"), peer_fp32 = peer->at("fp32_accuracy");
      const double per_sample = peer->at("calib_seconds_per_sample");
      // Debian's torch has no FBGEMM kernels: the qconfig is still fbgemm's, the kernels oneDNN's.
      const std::string label = engine == "fbgemm" ? "PyTorch FX PTQ (fbgemm, per-channel)"
                                                   : fmt::format("PyTorch FX PTQ (fbgemm, per-channel; {} kernels)", engine);
      fmt::print("{:<80} {:>9.2f} {:>+12.2f} {:>14.3f}\n", label, 100 * acc, 100 * (peer_fp32 - acc), 1000 * per_sample);
      // The drop is against PyTorch's own FP32 run; it must be ours, or the weights did not load as we run them.
      if (std::abs(peer_fp32 - fp32) > 1e-9)
        fmt::print("warning: PyTorch's FP32 rebuild scores {:.2f}%, not {:.2f}%\n", 100 * peer_fp32, 100 * fp32);
      fmt::print("\ncalibration + rewrite time per sample, ours ({}) / PyTorch FX (calibration + convert_fx): {:.2f}\n",
                 default_pipeline, default_seconds / train.samples / per_sample);
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
      const double a = median_after_warmup(f.ms), b = median_after_warmup(q.ms);
      fmt::print("{:<44} {:>10.3f} {:>10.3f} {:>13.2f}x\n", labels[i], a, b, a / b);
    }
    return 0;
  });
}
