// Structured pruning, in one run on this machine:
//  - the MNIST teacher pruned to 50% of its MACs and fine-tuned (unpruned teacher as KD
//    teacher): accuracy drop, params, MACs, file size, onnxruntime latency vs the unpruned model;
//  - light ResNet-50 (seeded random weights) at ratio 0.3 and 0.5: MACs and onnxruntime latency
//    vs the unpruned model.
// usage: bench_prune [--threads N] [--repeat R] [--epochs E]   (needs data/mnist from
// scripts/make-mnist-teacher.sh, onnxruntime-node, and ../shared/conformance for ResNet-50)
#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>

#include "compress/all_passes.h"
#include "core/cost_model.h"
#include "core/dataset.h"
#include "core/evaluate.h"
#include "core/executor.h"
#include "core/onnx_import.h"
#include "distill/finetune.h"
#include "core/onnx_export.h"
#include "passes/fold_constants.h"
#include "passes/pipeline.h"
#include "bench/bench_cli.h"
#include "tests/helpers.h"
#include "tests/ort_bridge.h"

using namespace edgepack;
using namespace edgepack::test;

namespace {

struct Row {
  std::string label, file;
  int64_t params = 0, macs = 0;
  uintmax_t bytes = 0;
  std::string accuracy = "-";
};

Row describe(const Model& m, const std::string& label, const fs::path& file) {
  save_onnx(m, file.string());
  ModelCost c = analyze_model(m);
  return {label, file.string(), c.totals.params, c.totals.macs, fs::file_size(file)};
}

}  // namespace

int main(int argc, char** argv) {
  edgepack::register_all_passes();
  int threads = 2, repeat = 30, epochs = 3;
  CLI::App app{"Structured pruning on the MNIST teacher: accuracy, MACs and onnxruntime speed of the pruned files", "bench_prune"};
  app.add_option("--threads", threads, "Intra-op threads")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--repeat", repeat, "Timed runs per measurement")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--epochs", epochs, "Recovery fine-tune epochs")->check(CLI::NonNegativeNumber)->capture_default_str();
  return edgepack::bench::run_bench(app, argc, argv, [&]() -> int {
    const fs::path data = fs::path(EDGEPACK_SOURCE_DIR) / "data" / "mnist";
    if (!fs::exists(data / "teacher.onnx") || !onnxruntime_available()) {
      fmt::print(stderr, "bench_prune: needs data/mnist/teacher.onnx (scripts/make-mnist-teacher.sh) and onnxruntime-node\n");
      return 2;
    }
    set_threads(threads);
    TempDir tmp;
    Model teacher = import_onnx((data / "teacher.onnx").string());
    Dataset train = load_dataset((data / "train.npz").string(), teacher);
    Dataset test = load_dataset((data / "test.npz").string(), teacher);
    PassContext ctx;
    Model pruned = teacher;
    run_pipeline(pruned, parse_pipeline("prune{target-macs=0.5}"), ctx);
    distill::FinetuneSettings f;
    f.epochs = epochs;
    f.keep_zeros = "false";
    distill::finetune(pruned, teacher, train, f, nullptr, true);
    std::vector<Row> rows = {describe(teacher, "MNIST teacher", tmp / "teacher.onnx"),
                             describe(pruned, fmt::format("pruned to 50% MACs + {} epochs fine-tune", epochs), tmp / "pruned.onnx")};
    const double fp = evaluate(teacher, test).accuracy.value(), pr = evaluate(pruned, test).accuracy.value();
    rows[0].accuracy = fmt::format("{:.2f}", 100 * fp);
    rows[1].accuracy = fmt::format("{:.2f} ({:+.2f})", 100 * pr, 100 * (pr - fp));

    const std::string input = teacher.graph.runtime_inputs()[0]->name;
    std::vector<OrtJob> jobs = {{rows[0].file, {{input, test.batch(0, 1).feeds.at(input)}}},
                                {rows[1].file, {{input, test.batch(0, 1).feeds.at(input)}}}};
    const std::string root = conformance_dir();
    if (!root.empty()) {
      Model resnet = import_onnx(root + "/light/light_resnet50.onnx");
      fold_constants(resnet);
      randomize_weights(resnet, 7);
      rows.push_back(describe(resnet, "light ResNet-50 (random weights)", tmp / "resnet.onnx"));
      for (const char* ratio : {"0.3", "0.5"}) {
        Model p = resnet;
        run_pipeline(p, parse_pipeline(fmt::format("prune{{ratio={}}}", ratio)), ctx);
        rows.push_back(describe(p, fmt::format("  prune{{ratio={}}}", ratio), tmp / fmt::format("resnet{}.onnx", ratio)));
      }
      at::manual_seed(1);
      const std::string rin = resnet.graph.runtime_inputs()[0]->name;
      at::Tensor x = at::rand({1, 3, 224, 224});
      for (size_t i = 2; i < rows.size(); ++i) jobs.push_back({rows[i].file, {{rin, x}}});
    }
    auto ort = run_onnxruntime(jobs, threads, repeat + 1);
    fmt::print("structured pruning; onnxruntime-node latency at batch 1, {} thread(s), median of {} runs\n", threads, repeat);
    fmt::print("{:<44} {:>10} {:>12} {:>10} {:>16} {:>10} {:>12}\n", "model", "params", "MACs", "file KiB", "top-1 % (pts)", "ORT ms",
               "speed-up");
    double base_ms = 0;
    for (size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      const double ms = ort[i].error.empty() ? median_after_warmup(ort[i].ms) : 0;
      if (i == 0 || i == 2) base_ms = ms;
      fmt::print("{:<44} {:>10} {:>12} {:>10.1f} {:>16} {:>10.3f} {:>11.2f}x{}\n", r.label, r.params, r.macs, r.bytes / 1024.0,
                 r.accuracy, ms, ms > 0 ? base_ms / ms : 0, ort[i].error.empty() ? "" : " error: " + ort[i].error);
    }
    return 0;
  });
}
