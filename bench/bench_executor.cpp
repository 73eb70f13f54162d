// Our executor vs onnxruntime (onnxruntime-node), FP32, batch 1, same inputs, same weights,
// same thread count, in one run. Prints a table with the ratio (ours / onnxruntime).
// usage: bench_executor [--threads N] [--repeat R] [MODEL.onnx ...]
// Without models: the five light models of ../shared/conformance (weights seeded at random;
// their stored weights are a single constant).
#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "core/executor.h"
#include "core/onnx_import.h"
#include "core/onnx_export.h"
#include "passes/fold_constants.h"
#include "bench/bench_cli.h"
#include "tests/helpers.h"
#include "tests/ort_bridge.h"

using namespace edgepack;
using namespace edgepack::test;

int main(int argc, char** argv) {
  int threads = 2, repeat = 20;
  std::vector<std::string> models;
  CLI::App app{"Our executor vs onnxruntime-node: FP32, batch 1, same inputs and threads; prints ours / onnxruntime per model", "bench_executor"};
  app.add_option("--threads", threads, "Intra-op threads")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--repeat", repeat, "Timed runs per measurement")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("models", models, "ONNX models (default: the five light models of ../shared/conformance)");
  return edgepack::bench::run_bench(app, argc, argv, [&]() -> int {
    if (models.empty()) {
      std::string root = conformance_dir();
      if (root.empty()) {
        fmt::print(stderr, "bench_executor: ../shared/conformance is absent; pass model paths\n");
        return 2;
      }
      for (const char* m : {"bvlc_alexnet", "resnet50", "squeezenet", "shufflenet", "inception_v1"})
        models.push_back(fmt::format("{}/light/light_{}.onnx", root, m));
    }
    if (!onnxruntime_available()) {
      fmt::print(stderr, "bench_executor: onnxruntime-node is missing: run scripts/setup.sh\n");
      return 2;
    }
    set_threads(threads);
    TempDir tmp;
    std::vector<OrtJob> jobs;
    std::vector<double> ours;
    std::vector<std::string> names;
    for (const auto& path : models) {
      Model model = import_onnx(path);
      fold_constants(model);
      randomize_weights(model, 7);
      std::string name = fs::path(path).stem().string();
      std::string copy = (tmp / (name + ".onnx")).string();
      save_onnx(model, copy);
      std::vector<at::Tensor> inputs;
      OrtJob job{copy, {}};
      for (const ValueInfo* v : model.graph.runtime_inputs()) {
        inputs.push_back(at::rand(v->concrete_shape(1)));
        job.inputs.emplace_back(v->name, inputs.back());
      }
      Executor exec(model);
      exec.run(inputs);  // warm-up: oneDNN primitive creation, allocator
      std::vector<double> ms;
      for (int r = 0; r < repeat; ++r) {
        auto t0 = std::chrono::steady_clock::now();
        exec.run(inputs);
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      }
      ours.push_back(median_after_warmup(ms));
      names.push_back(name);
      jobs.push_back(job);
    }
    auto ort = run_onnxruntime(jobs, threads, repeat + 1);
    fmt::print("executor vs onnxruntime-node, FP32, batch 1, {} thread(s), median of {} runs\n", threads, repeat);
    fmt::print("{:<26} {:>12} {:>16} {:>8}\n", "model", "edgepack ms", "onnxruntime ms", "ratio");
    for (size_t i = 0; i < names.size(); ++i) {
      if (!ort[i].error.empty()) {
        fmt::print("{:<26} {:>12.2f} {:>16} {:>8}\n", names[i], ours[i], "error", "-");
        continue;
      }
      std::vector<double> ms(ort[i].ms.begin() + 1, ort[i].ms.end());  // first run is warm-up
      double theirs = median_after_warmup(ms);
      fmt::print("{:<26} {:>12.2f} {:>16.2f} {:>7.2f}x\n", names[i], ours[i], theirs, ours[i] / theirs);
    }
    return 0;
  });
}
