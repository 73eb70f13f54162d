// Pruning end to end on the MNIST teacher: half of its MACs removed, a short recovery fine-tune
// with the unpruned teacher, and the accuracy drop bounded; the artifact runs in onnxruntime.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/cost_model.h"
#include "core/onnx_import.h"
#include "tests/helpers.h"

using namespace edgepack;
using namespace edgepack::test;

TEST_SUITE("mnist") {

TEST_CASE("MNIST teacher pruned to 50% of its MACs and fine-tuned loses at most 0.5 points") {
  const fs::path data = fs::path(EDGEPACK_SOURCE_DIR) / "data" / "mnist";
  REQUIRE_MESSAGE(fs::exists(data / "teacher.onnx"), "no MNIST teacher: run scripts/make-mnist-teacher.sh");
  TempDir tmp;
  CliResult r = run_cli(fmt::format("-q prune {} -o {} --target-macs 0.5 --data {} --eval-data {} --finetune-epochs 2 --json",
                                    q(data / "teacher.onnx"), q(tmp / "pruned.onnx"), q(data / "train.npz"), q(data / "test.npz")));
  CAPTURE(r.err);
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out);
  const double before = j["accuracy"]["before"], after = j["accuracy"]["after"];
  const double macs = j["stats"]["macs_after"].get<double>() / j["stats"]["macs_before"].get<double>();
  MESSAGE(fmt::format("pruned to {:.1f}% MACs, {:.1f}% params: top-1 {:.2f}% -> {:.2f}% ({:+.2f} points)", 100 * macs,
                      100 * j["stats"]["params_after"].get<double>() / j["stats"]["params_before"].get<double>(), 100 * before,
                      100 * after, 100 * (after - before)));
  CHECK(macs <= 0.5);
  CHECK(before - after <= 0.005);
  Model pruned = import_onnx((tmp / "pruned.onnx").string());
  CHECK(analyze_model(pruned).totals.macs == j["stats"]["macs_after"].get<int64_t>());
}

}  // TEST_SUITE
