// The cost model against reality on this machine: the `host` profile is measured (as
// `edgepack targets --measure-host` does), each model's latency is predicted on it, and
// onnxruntime-node runs the same model with the same thread count; the table gives the ratio
// measured / predicted. Goal: within 1.5x each way.
//   - MNIST teacher (data/mnist/teacher.onnx), FP32, batch 1;
//   - its INT8 QDQ artifact (quantize{calib=minmax} on 64 training digits), predicted at INT8
//     from the folded FP32 graph, as the compress planner estimates it;
//   - the five light models of ../shared/conformance (constants folded, weights seeded at
//     random as bench_executor does), FP32, batch 1; skipped when absent;
//   - light ResNet-50's INT8 artifact (calibrated on 4 random images), the planner's case.
// usage: bench_cost_model [--threads N] [--repeat R] [--host-file F.yaml] [--efficiency E]
//   --host-file: use a saved host profile (edgepack targets --measure-host --save F) instead of
//   measuring now. Latency: median of R runs after one warm-up.
#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>

#include "compress/all_passes.h"
#include "core/cost_model.h"
#include "core/dataset.h"
#include "core/executor.h"
#include "core/host_profile.h"
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

double median_after_first(std::vector<double> v) {
  if (v.size() > 1) v.erase(v.begin());  // first run is warm-up
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return one.empty() ? "unknown" : one + " " + five + " " + fifteen;
}

struct Row {
  std::string label;
  Precision precision = Precision::Fp32;
  ModelCost cost;    // what the estimate is computed from
  OrtJob job;        // what onnxruntime runs
};

Model quantized(const Model& fp, const std::vector<std::map<std::string, at::Tensor>>& calib) {
  PassContext ctx;
  ctx.calibration = calib;
  Model q = fp;
  run_pipeline(q, parse_pipeline("quantize{calib=minmax}"), ctx);
  return q;
}

}  // namespace

int main(int argc, char** argv) {
  edgepack::register_all_passes();
  int threads = 2, repeat = 30;
  std::string host_file;
  EstimateOptions base;
  CLI::App app{"The cost model's latency estimates vs measured onnxruntime latency on this host", "bench_cost_model"};
  app.add_option("--threads", threads, "Intra-op threads")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--repeat", repeat, "Timed onnxruntime runs per model")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--host-file", host_file, "A saved host profile (targets --measure-host) instead of measuring");
  app.add_option("--efficiency", base.efficiency, "Share of peak compute the estimate assumes")->check(CLI::Range(0.0, 1.0));
  return edgepack::bench::run_bench(app, argc, argv, [&]() -> int {
    if (!onnxruntime_available()) {
      fmt::print(stderr, "bench_cost_model: onnxruntime-node is missing: run scripts/setup.sh\n");
      return 2;
    }
    set_threads(threads);
    fmt::print("load average before: {}\n", load_average());
    const TargetProfile host = host_file.empty() ? measure_host(threads) : find_target(load_targets(host_file), "host");
    fmt::print("host: {}\n  fp32 {:.1f} GFLOP/s, int8 {:.1f} GOP/s ({}), bandwidth {:.1f} GB/s, node overhead {:.2f} us\n"
               "  ({})\n",
               host.name, host.fp32_tops->value * 1000, host.int8_tops.value * 1000, host.int8_tops.confidence,
               host.bandwidth_gbps.value, host.node_overhead_us ? host.node_overhead_us->value : 0.0,
               host.fp32_tops->source);
    set_threads(threads);

    TempDir tmp;
    std::vector<Row> rows;
    auto add = [&](const std::string& label, Precision p, const Model& estimated, const Model& run,
                   const std::string& file) {
      const std::string path = (tmp / file).string();
      save_onnx(run, path);
      OrtJob job{path, {}};
      at::manual_seed(3);
      for (const ValueInfo* v : run.graph.runtime_inputs()) job.inputs.emplace_back(v->name, at::rand(v->concrete_shape(1)));
      rows.push_back({label, p, analyze_model(estimated), job});
    };

    const fs::path data = fs::path(EDGEPACK_SOURCE_DIR) / "data" / "mnist";
    if (fs::exists(data / "teacher.onnx") && fs::exists(data / "train.npz")) {
      Model teacher = import_onnx((data / "teacher.onnx").string());
      Dataset train = load_dataset((data / "train.npz").string(), teacher, DatasetOptions{64});
      std::vector<std::map<std::string, at::Tensor>> calib;
      for (int64_t s = 0; s < train.samples; s += 32) calib.push_back(train.batch(s, 32).feeds);
      Model folded = teacher;
      fold_constants(folded);
      add("mnist teacher", Precision::Fp32, folded, teacher, "teacher.onnx");
      add("mnist teacher INT8 (QDQ)", Precision::Int8, folded, quantized(teacher, calib), "teacher.int8.onnx");
    } else {
      fmt::print("MNIST rows skipped: data/mnist/teacher.onnx or train.npz is absent (scripts/make-mnist-teacher.sh)\n");
    }
    const std::string root = conformance_dir();
    if (root.empty()) fmt::print("light-model rows skipped: ../shared/conformance is absent\n");
    for (const char* m : {"bvlc_alexnet", "resnet50", "squeezenet", "shufflenet", "inception_v1"}) {
      if (root.empty()) break;
      const std::string path = fmt::format("{}/light/light_{}.onnx", root, m);
      if (!fs::exists(path)) {
        fmt::print("light_{} skipped: {} is absent\n", m, path);
        continue;
      }
      Model model = import_onnx(path);
      fold_constants(model);
      randomize_weights(model, 7);
      add(fmt::format("light_{}", m), Precision::Fp32, model, model, fmt::format("{}.onnx", m));
      if (std::string(m) == "resnet50") {
        const std::string in = model.graph.runtime_inputs()[0]->name;
        std::vector<std::map<std::string, at::Tensor>> calib;
        at::manual_seed(1);
        for (int i = 0; i < 4; ++i) calib.push_back({{in, at::rand({1, 3, 224, 224})}});
        add("light_resnet50 INT8 (QDQ)", Precision::Int8, model, quantized(model, calib), "resnet50.int8.onnx");
      }
    }

    std::vector<OrtJob> jobs;
    for (const Row& r : rows) jobs.push_back(r.job);
    const std::string load_before_ort = load_average();
    auto ort = run_onnxruntime(jobs, threads, repeat + 1);
    fmt::print("load average around the onnxruntime runs: {} -> {}\n\n", load_before_ort, load_average());

    fmt::print("predicted (cost model on the measured host, efficiency {:g}) vs onnxruntime-node measured,\n"
               "batch 1, {} thread(s), median of {} runs\n",
               base.efficiency, threads, repeat);
    fmt::print("{:<28} {:>5} {:>9} {:>6} {:>10} {:>10} {:>10} {:>10} {:>10} {:>8} {:>5}\n", "model", "prec", "GMACs",
               "nodes", "compute", "memory", "overhead", "predicted", "measured", "ratio", "<1.5x");
    int within = 0, total = 0;
    double worst = 1;
    for (size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      EstimateOptions o = base;
      o.precision = r.precision;
      const CostEstimate e = estimate_cost(r.cost, host, o);
      if (!ort[i].error.empty()) {
        fmt::print("{:<28} onnxruntime error: {}\n", r.label, ort[i].error);
        continue;
      }
      const double measured = median_after_first(ort[i].ms);
      const double ratio = measured / e.latency_ms;
      const bool ok = ratio <= 1.5 && ratio >= 1 / 1.5;
      within += ok;
      ++total;
      worst = std::max({worst, ratio, 1 / ratio});
      fmt::print("{:<28} {:>5} {:>9.3f} {:>6} {:>10.3f} {:>10.3f} {:>10.3f} {:>10.3f} {:>10.3f} {:>7.2f}x {:>5}\n",
                 r.label, to_string(r.precision), r.cost.totals.macs / 1e9, r.cost.totals.runtime_nodes, e.compute_ms,
                 e.memory_ms, e.overhead_ms, e.latency_ms, measured, ratio, ok ? "yes" : "NO");
    }
    fmt::print("\n{} of {} within 1.5x; worst factor {:.2f}. compute / memory / overhead: each bound alone, ms;\n"
               "predicted = sum over nodes of max(compute, memory) + overhead.\n",
               within, total, worst);
    return 0;
  });
}
