// Weight-only quantization of the transformer sample (data/fortunes/teacher.onnx), in one run:
//  - quality: held-out perplexity of FP32, INT8 (per channel, RTN) and INT4 with group 128,
//    round-to-nearest vs GPTQ (goal: INT4-GPTQ within 5% of FP32 and better than INT4-RTN);
//  - size: file bytes, and weight bytes per quantized parameter;
//  - the artifact in a real runtime: onnxruntime-node latency per token for a 64-token window
//    (one forward pass scores every position; median of R runs), as a ratio to FP32, and
//    onnxruntime's logits against our executor's.
// usage: bench_weight_only [--threads N] [--repeat R] [--calib W] [--eval W] [--model M.onnx]
//   W = 64-token windows: calibration from data/fortunes/train.npz (default 128), evaluation
//   from test.npz (default 1024). M defaults to data/fortunes/teacher.onnx (made by
//   scripts/make-transformer-teacher.sh); another model trained on the same corpus (e.g. with
//   --long) may be given. Needs onnxruntime-node.
#include <ATen/ATen.h>
#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>

#include "compress/all_passes.h"
#include "core/dataset.h"
#include "core/evaluate.h"
#include "core/executor.h"
#include "core/onnx_import.h"
#include "core/onnx_export.h"
#include "passes/pipeline.h"
#include "bench/bench_cli.h"
#include "tests/helpers.h"
#include "tests/ort_bridge.h"

using namespace edgepack;
using namespace edgepack::test;

namespace {

struct Row {
  std::string label;
  std::string pipeline;     // "" = the FP32 teacher
  double perplexity = 0;
  double seconds = 0;       // time of the pass (calibration included)
  double weight_bytes_per_param = 4;
  uintmax_t file_bytes = 0;
  std::string path;
  at::Tensor logits;        // our executor's, on the window onnxruntime runs
};

}  // namespace

int main(int argc, char** argv) {
  edgepack::register_all_passes();
  // Spinning OpenMP waits starve the waited-for thread on shared cores (see bench_quantize).
  if (!std::getenv("OMP_WAIT_POLICY")) {
    ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    ::execv("/proc/self/exe", argv);
  }
  int threads = 2, repeat = 20;
  int64_t calib_windows = 128, eval_windows = 1024;
  fs::path model_path;
  CLI::App app{"Weight-only INT8/INT4 (RTN, GPTQ) on a language model: perplexity, size and onnxruntime speed", "bench_weight_only"};
  app.add_option("--threads", threads, "Intra-op threads")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--repeat", repeat, "Timed runs per measurement")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--calib", calib_windows, "Calibration windows")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--eval", eval_windows, "Evaluation windows")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--model", model_path, "Language model to quantize (default: the transformer sample)");
  return edgepack::bench::run_bench(app, argc, argv, [&]() -> int {
    const fs::path data = fs::path(EDGEPACK_SOURCE_DIR) / "data" / "fortunes";
    if (model_path.empty()) model_path = data / "teacher.onnx";
    if (!fs::exists(model_path) || !fs::exists(data / "test.npz") || !onnxruntime_available()) {
      fmt::print(stderr, "bench_weight_only: needs {} and data/fortunes (scripts/make-transformer-teacher.sh) "
                         "and onnxruntime-node (scripts/setup.sh)\n", model_path.string());
      return 2;
    }
    set_threads(threads);
    TempDir tmp;
    const Model teacher = import_onnx(model_path.string());
    const Dataset train = load_dataset((data / "train.npz").string(), teacher, DatasetOptions{calib_windows});
    const Dataset test = load_dataset((data / "test.npz").string(), teacher, DatasetOptions{eval_windows});
    PassContext ctx;
    ctx.calibration = feed_batches(train, teacher, 16);

    const std::vector<std::pair<std::string, std::string>> configs = {
        {"FP32", ""},
        {"INT8 per channel, RTN", "quantize-weights{bits=8}"},
        {"INT8 group 128, RTN", "quantize-weights{bits=8 group=128}"},
        {"INT4 group 128, RTN", "quantize-weights{bits=4 group=128}"},
        {"INT4 group 128, GPTQ", "quantize-weights{bits=4 group=128 method=gptq}"},
        {"INT4 group 32, RTN", "quantize-weights{bits=4 group=32}"},
        {"INT4 group 32, GPTQ", "quantize-weights{bits=4 group=32 method=gptq}"},
        {"INT4 group 128, GPTQ, MatMulNBits", "quantize-weights{bits=4 group=128 method=gptq format=matmulnbits}"},
    };
    std::vector<Row> rows;
    for (const auto& [label, pipeline] : configs) {
      rows.emplace_back();
      rows.back().label = label;
      rows.back().pipeline = pipeline;
    }
    std::vector<OrtJob> jobs;
    const auto [input_name, window] = *test.batch(0, 1).feeds.begin();
    for (size_t i = 0; i < rows.size(); ++i) {
      Row& r = rows[i];
      Model m = teacher;
      if (!r.pipeline.empty()) {
        const auto t0 = std::chrono::steady_clock::now();
        const auto steps = run_pipeline(m, parse_pipeline(r.pipeline), ctx);
        r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const auto& stats = steps.back().result.stats;
        if (auto it = stats.find("bytes_per_param"); it != stats.end()) r.weight_bytes_per_param = it->second;
      }
      r.path = (tmp.path() / fmt::format("model_{}.onnx", i)).string();
      save_onnx(m, r.path);
      r.file_bytes = fs::file_size(r.path);
      // The saved file, imported again, is what is scored.
      const Model saved = import_onnx(r.path);
      r.perplexity = evaluate(saved, test).language_model.value().perplexity;
      r.logits = Executor(saved).run({{input_name, window}}).begin()->second;
      jobs.push_back({r.path, {{input_name, window}}});
      fmt::print(stderr, "bench_weight_only: {} done\n", r.label);
    }
    auto ort = run_onnxruntime(jobs, threads, repeat + 1);

    const double fp32_ppl = rows[0].perplexity;
    const double fp32_ms = ort[0].error.empty() ? median_after_warmup(ort[0].ms) : 0;
    const int64_t tokens = window.size(1);
    int64_t params = 0;
    for (const auto& [name, t] : teacher.graph.initializers) params += t.numel();
    fmt::print("Transformer sample ({} params, fortunes, char-level): perplexity on {} held-out windows of {} tokens; "
               "{} calibration windows\n",
               params, test.samples, tokens, train.samples);
    fmt::print("onnxruntime-node 1.30, {} thread(s), batch 1 x {} tokens, median of {} runs\n\n", threads, tokens, repeat);
    fmt::print("| model | perplexity | vs FP32 | weight bytes/param | file KiB | vs FP32 | pass s | ORT us/token | "
               "ORT speed-up | ORT vs ours max abs |\n|---|---|---|---|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      std::string ort_cells = fmt::format("error: {} | - | -", ort[i].error);
      if (ort[i].error.empty()) {
        const double ms = median_after_warmup(ort[i].ms);
        const double diff = (r.logits - ort[i].outputs.at(0)).abs().max().item<double>();
        ort_cells = fmt::format("{:.1f} | {:.2f}x | {:.2e}", ms * 1000 / tokens, fp32_ms / ms, diff);
      }
      fmt::print("| {} | {:.3f} | {:+.2f}% | {:.3f} | {:.1f} | {:.3f} | {:.1f} | {} |\n", r.label, r.perplexity,
                 100 * (r.perplexity / fp32_ppl - 1), r.weight_bytes_per_param, r.file_bytes / 1024.0,
                 double(r.file_bytes) / rows[0].file_bytes, r.seconds, ort_cells);
    }
    const double rtn4 = rows[3].perplexity, gptq4 = rows[4].perplexity;
    fmt::print("\nGoal: INT4-GPTQ (group 128) within 5% of FP32: {:+.2f}% ({}); better than INT4-RTN: {:.3f} vs {:.3f} ({})\n",
               100 * (gptq4 / fp32_ppl - 1), gptq4 <= 1.05 * fp32_ppl ? "met" : "MISSED", gptq4, rtn4,
               gptq4 < rtn4 ? "met" : "MISSED");
    return 0;
  });
}
