// Step-by-step distillation on the MNIST teacher, in one run: a student with <= 10% of the
// teacher's parameters, trained three ways with the same total epochs:
//  (a) from scratch on labels (the student's architecture, He-initialised, no teacher);
//  (b) one-step KD: teacher -> student directly (distill{stages=1});
//  (c) 3-stage KD: teacher -> assistant -> assistant -> student (distill{stages=3}).
// usage: bench_distill [--threads N] [--epochs E] [--target-params F]
//        (needs data/mnist from scripts/make-mnist-teacher.sh)
#include <fmt/format.h>

#include <chrono>

#include "compress/all_passes.h"
#include "core/cost_model.h"
#include "core/dataset.h"
#include "core/evaluate.h"
#include "core/executor.h"
#include "core/onnx_import.h"
#include "distill/trainer.h"
#include "passes/pipeline.h"
#include "bench/bench_cli.h"
#include "tests/helpers.h"

using namespace edgepack;
using namespace edgepack::test;

int main(int argc, char** argv) {
  edgepack::register_all_passes();
  int threads = 2, epochs = 15;
  double target = 0.1;
  CLI::App app{"Distillation on the MNIST teacher: students trained by edgepack vs a PyTorch peer", "bench_distill"};
  app.add_option("--threads", threads, "Intra-op threads")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--epochs", epochs, "Training epochs per student")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--target-params", target, "Student size as a fraction of the teacher's parameters")->check(CLI::Range(0.0, 1.0))->capture_default_str();
  return edgepack::bench::run_bench(app, argc, argv, [&]() -> int {
    const fs::path data = fs::path(EDGEPACK_SOURCE_DIR) / "data" / "mnist";
    if (!fs::exists(data / "teacher.onnx")) {
      fmt::print(stderr, "bench_distill: needs data/mnist/teacher.onnx (scripts/make-mnist-teacher.sh)\n");
      return 2;
    }
    set_threads(threads);
    const Model teacher = import_onnx((data / "teacher.onnx").string());
    const Dataset train = load_dataset((data / "train.npz").string(), teacher);
    const Dataset test = load_dataset((data / "test.npz").string(), teacher);
    const double teacher_acc = evaluate(teacher, test).accuracy.value();
    const int64_t teacher_params = analyze_model(teacher).totals.params;

    struct Row {
      std::string method;
      int64_t params = 0, macs = 0;
      double accuracy = 0, seconds = 0;
    };
    std::vector<Row> rows;
    auto timed = [](auto&& f) {
      const auto t0 = std::chrono::steady_clock::now();
      f();
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    };
    auto distill = [&](int stages) {
      Model m = teacher;
      PassContext ctx;
      ctx.train = &train;
      ctx.quiet = true;
      const std::string p = fmt::format("distill{{stages={} target-params={} epochs={}}}", stages, target, epochs);
      const double s = timed([&] { run_pipeline(m, parse_pipeline(p), ctx); });
      ModelCost c = analyze_model(m);
      rows.push_back({fmt::format("({}) {}", stages == 1 ? 'b' : 'c', p), c.totals.params, c.totals.macs,
                      evaluate(m, test).accuracy.value(), s});
      return m;
    };
    Model one_step = distill(1);
    // (a): the one-step student's architecture, fresh weights, labels only.
    Model scratch = one_step;
    randomize_weights(scratch, 11);
    distill::TrainOptions o;
    o.epochs = epochs;
    o.schedule.base_lr = 2e-3;
    o.schedule.warmup_steps = static_cast<int64_t>(0.05 * epochs * ((train.samples + 63) / 64));
    o.quiet = true;
    const double s = timed([&] { distill::train(scratch, train, o); });
    ModelCost c = analyze_model(scratch);
    rows.insert(rows.begin(), {"(a) same student from scratch, labels only", c.totals.params, c.totals.macs,
                               evaluate(scratch, test).accuracy.value(), s});
    distill(3);

    fmt::print("MNIST teacher: {} params, top-1 {:.2f}% on {} test digits; {} training digits, {} epochs in total, {} thread(s)\n",
               teacher_params, 100 * teacher_acc, test.samples, train.samples, epochs, threads);
    fmt::print("{:<58} {:>9} {:>9} {:>9} {:>9} {:>10}\n", "student", "params", "% teacher", "top-1 %", "vs teacher", "seconds");
    for (const Row& r : rows)
      fmt::print("{:<58} {:>9} {:>8.1f}% {:>9.2f} {:>+9.2f} {:>10.1f}\n", r.method, r.params, 100.0 * r.params / teacher_params,
                 100 * r.accuracy, 100 * (r.accuracy - teacher_acc), r.seconds);
    return 0;
  });
}
