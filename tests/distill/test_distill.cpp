// Step-by-step distillation: student construction (residual blocks), the distill pass and
// `edgepack distill` end to end on the MNIST teacher (stages, size, accuracy, resume after
// SIGKILL, 2 ranks on loopback), and its refusals.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/cost_model.h"
#include "core/executor.h"
#include "core/npy.h"
#include "core/onnx_import.h"
#include "distill/student.h"
#include "core/onnx_export.h"
#include "core/dataset.h"
#include "core/error.h"
#include "passes/fold_constants.h"
#include "passes/pipeline.h"
#include "tests/helpers.h"
#include "tests/kill_harness.h"
#include "tests/net_builder.h"

using namespace edgepack;
using namespace edgepack::test;

namespace {

const fs::path kData = fs::path(EDGEPACK_SOURCE_DIR) / "data" / "mnist";

std::string distill_command(const fs::path& out, const std::string& extra) {
  return fmt::format("-q distill {} -o {} --data {} --eval-data {} --json {}", q(kData / "teacher.onnx"), q(out),
                     q(kData / "train.npz"), q(kData / "test.npz"), extra);
}

bool same_weights(const Model& a, const Model& b) {
  if (a.graph.initializers.size() != b.graph.initializers.size()) return false;
  for (const auto& [name, t] : a.graph.initializers)
    if (!b.graph.initializers.count(name) || !at::equal(t, b.graph.initializers.at(name))) return false;
  return true;
}

}  // namespace

TEST_SUITE("distill") {

TEST_CASE("a residual block whose branch reads only its input can be dropped; the rest of the graph is kept") {
  Model m = residual_net();
  auto blocks = distill::residual_blocks(m, {{{"X", at::randn({4, 3, 8, 8})}}});
  REQUIRE(blocks.size() == 1);
  CHECK(blocks[0].skip == "relu1.out");
  CHECK(blocks[0].nodes.size() == 2);   // conv2, relu2
  CHECK(blocks[0].similarity > -1.0);
  CHECK(blocks[0].similarity <= 1.0);
  Model d = m;
  CHECK(distill::drop_residual_blocks(d, 5, {}) == 1);
  CHECK(d.graph.nodes.size() == m.graph.nodes.size() - 3);   // conv2, relu2, add
  CHECK_FALSE(d.graph.is_initializer("conv2.w"));
  at::Tensor y = Executor(d).run(std::vector<at::Tensor>{at::randn({2, 3, 8, 8})}).at(0);
  CHECK(y.sizes() == at::IntArrayRef{2, 5});
}

TEST_CASE("prune then finetune in one pipeline: the original teaches, sparse weights keep their zeros (keep-zeros=auto)") {
  Model m = residual_net();
  at::manual_seed(6);
  Dataset train;
  train.source = "seeded";
  train.samples = 64;
  train.inputs["X"] = at::randn({64, 3, 8, 8});
  train.labels = at::randint(0, 5, {64}, at::kLong);
  PassContext ctx;
  ctx.train = &train;
  ctx.quiet = true;
  const auto reports = run_pipeline(m, parse_pipeline("prune{mode=unstructured ratio=0.5},finetune{epochs=2 batch-size=16}"), ctx);
  REQUIRE(reports.size() == 3);   // fold-constants, prune, finetune
  CHECK(reports[2].pass == "finetune");
  CHECK(reports[2].result.stats.at("epochs") == 2);
  CHECK(reports[2].result.details["epochs"].size() == 2);
  // Every Conv/Gemm weight was half zeros after pruning and still is after training.
  for (const char* w : {"conv1.w", "conv2.w", "conv3.w", "fc.w"}) {
    CAPTURE(w);
    const double zeros = m.graph.initializers.at(w).eq(0).to(at::kDouble).mean().item<double>();
    CHECK(zeros >= 0.49);
  }
  // keep-zeros=false lets them move.
  Model free = residual_net();
  run_pipeline(free, parse_pipeline("prune{mode=unstructured ratio=0.5},finetune{epochs=2 batch-size=16 keep-zeros=false}"), ctx);
  CHECK(free.graph.initializers.at("conv2.w").eq(0).to(at::kDouble).mean().item<double>() < 0.1);
  // Without training data the pass says what it needs.
  PassContext none;
  Model again = residual_net();
  CHECK_THROWS_WITH_AS(run_pipeline(again, parse_pipeline("finetune"), none), doctest::Contains("training data"), InputError);
}

}  // TEST_SUITE

TEST_SUITE("conformance") {

TEST_CASE("light ResNet-50 has 12 droppable identity blocks (4 of its 16 project the skip)") {
  const std::string root = conformance_dir();
  SKIP_WITHOUT_CONFORMANCE(root);
  Model m = import_onnx(root + "/light/light_resnet50.onnx");
  fold_constants(m);
  CHECK(distill::residual_blocks(m, {}).size() == 12);
  Model d = m;
  CHECK(distill::drop_residual_blocks(d, 4, {}) == 4);
  const double kept = double(analyze_model(d).totals.macs) / analyze_model(m).totals.macs;
  CHECK(kept < 0.95);
  TempDir tmp;
  save_onnx(d, (tmp / "shallow.onnx").string());   // onnx::checker
  Model back = import_onnx((tmp / "shallow.onnx").string());
  CHECK(Executor(back).run(std::vector<at::Tensor>{light_model_input(back)}).at(0).sizes() == at::IntArrayRef{1, 1000});
}

}  // TEST_SUITE

TEST_SUITE("cli") {

TEST_CASE("distill refuses bad settings with one line and exit 2") {
  TempDir tmp;
  save_onnx(residual_net(), (tmp / "net.onnx").string());
  save_onnx(tiny_conv_model(), (tmp / "other.onnx").string());
  at::manual_seed(2);
  write_npz((tmp / "data.npz").string(), {{"X", at::randn({8, 3, 8, 8})}, {"labels", at::randint(0, 5, {8}, at::kLong)}});
  const std::string base = fmt::format("-q distill {} -o {} --data {} ", q(tmp / "net.onnx"), q(tmp / "s.onnx"), q(tmp / "data.npz"));
  for (const std::string& extra : {std::string("--stages 0"), std::string("--stages 3 --epochs 2"), std::string("--shrink 1.5"),
                                   "--student " + q(tmp / "other.onnx"), "--resume " + q(tmp / "missing")}) {
    CAPTURE(extra);
    CliResult r = run_cli(base + extra);
    CHECK(r.exit_code == 2);
    CHECK(r.err.rfind("edgepack: error: ", 0) == 0);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  }
  CliResult r = run_cli(fmt::format("-q distill {} -o {} --data {}", q(tmp / "net.onnx"), q(tmp / "net.onnx"), q(tmp / "data.npz")));
  CHECK(r.exit_code == 2);
  CHECK_FALSE(fs::exists(tmp / "s.onnx"));
}

}  // TEST_SUITE

TEST_SUITE("mnist") {

TEST_CASE("distill the MNIST teacher in 2 stages to <= 10% of its params; 2 ranks agree; resume after SIGKILL") {
  REQUIRE_MESSAGE(fs::exists(kData / "teacher.onnx"), "no MNIST teacher: run scripts/make-mnist-teacher.sh");
  TempDir tmp;
  for (const char* d : {"one", "two", "killed", "work"}) fs::create_directories(tmp / d);
  const std::string settings = "--stages 2 --target-params 0.1 --epochs 4";
  CliResult r = run_cli(distill_command(tmp / "one" / "student.onnx", settings));
  CAPTURE(r.err);
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out);
  REQUIRE(j["stages"].size() == 3);
  const double teacher = j["stages"][0]["accuracy"], student = j["stages"][2]["accuracy"];
  const double params = j["stages"][2]["params"].get<double>() / j["stages"][0]["params"].get<double>();
  MESSAGE(fmt::format("2-stage student: {:.1f}% of the teacher's params, top-1 {:.2f}% (teacher {:.2f}%, assistant {:.2f}%)",
                      100 * params, 100 * student, 100 * teacher, 100 * j["stages"][1]["accuracy"].get<double>()));
  CHECK(params <= 0.10);
  CHECK(j["stages"][1]["params"].get<double>() > j["stages"][2]["params"].get<double>());
  CHECK(student >= 0.95);

  // Data parallel: the same global batch over 2 ranks on loopback.
  CliResult r2 = run_cli(distill_command(tmp / "two" / "student.onnx", settings + " --nproc 2"));
  CAPTURE(r2.err);
  REQUIRE(r2.exit_code == 0);
  auto j2 = nlohmann::json::parse(r2.out);
  CHECK(j2["ranks"] == 2);
  const double student2 = j2["stages"][2]["accuracy"];
  MESSAGE(fmt::format("2 ranks: top-1 {:.2f}% (1 rank {:.2f}%)", 100 * student2, 100 * student));
  CHECK(std::abs(student2 - student) <= 0.003);

  // SIGKILL at random points; resuming from the work folder ends with the uninterrupted result.
  const Model reference = import_onnx((tmp / "one" / "student.onnx").string());
  const fs::path out = tmp / "killed", work = tmp / "work";
  KillTestOptions options;
  options.runs = 4;
  options.resume_command = EDGEPACK_BINARY + std::string(" ") + distill_command(out / "student.onnx", settings + " --resume " + q(work)) +
                           " > /dev/null 2>&1";
  const std::string command = EDGEPACK_BINARY + std::string(" ") + distill_command(out / "student.onnx", settings + " --work-dir " + q(work)) +
                              " > /dev/null 2>&1";
  KillTestReport report = kill_test(command, out, [&](const fs::path& dir, const std::vector<std::string>& files, std::string* why) {
    if (files.empty()) return true;
    if (files != std::vector<std::string>{"student.onnx"}) {
      *why = fmt::format("unexpected files: {}", fmt::join(files, ", "));
      return false;
    }
    try {
      if (same_weights(import_onnx((dir / "student.onnx").string()), reference)) return true;
      *why = "the student differs from the uninterrupted run's";
    } catch (const std::exception& e) {
      *why = e.what();
    }
    return false;
  }, options);
  MESSAGE(fmt::format("distill kill test: {} killed, {} finished; full run {:.1f} s", report.killed, report.finished,
                      report.full_run_seconds));
  for (const auto& f : report.failures) FAIL_CHECK(f);
  CHECK(report.killed >= 1);
}

}  // TEST_SUITE
