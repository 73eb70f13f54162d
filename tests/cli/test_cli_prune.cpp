// `edgepack prune` end to end: exit codes, files written, JSON fields, refusals.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/cost_model.h"
#include "core/npy.h"
#include "core/onnx_import.h"
#include "core/onnx_export.h"
#include "tests/helpers.h"
#include "tests/net_builder.h"

using namespace edgepack;
using namespace edgepack::test;

TEST_SUITE("cli") {

TEST_CASE("prune writes a smaller checked model and reports groups, MACs and accuracy as JSON") {
  TempDir tmp;
  save_onnx(residual_net(), (tmp / "net.onnx").string());
  at::manual_seed(2);
  write_npz((tmp / "data.npz").string(), {{"X", at::randn({16, 3, 8, 8})}, {"labels", at::randint(0, 5, {16}, at::kLong)}});
  CliResult r = run_cli(fmt::format("prune {} -o {} --ratio 0.5 --eval-data {} --json", q(tmp / "net.onnx"), q(tmp / "small.onnx"),
                                    q(tmp / "data.npz")));
  CAPTURE(r.err);
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["pipeline"] == "prune{ratio=0.5}");
  CHECK(j["stats"]["channels_removed"] == 7);   // 4 of the residual group's 8, 3 of conv3's 6
  CHECK(j["stats"]["macs_after"].get<double>() < 0.5 * j["stats"]["macs_before"].get<double>());
  CHECK(j["groups"].size() == 3);
  CHECK(j["accuracy"]["before"].is_number());
  CHECK(j["output_bytes"].get<double>() < j["input_bytes"].get<double>());
  Model m = import_onnx((tmp / "small.onnx").string());   // passes onnx::checker
  CHECK(m.graph.initializers.at("conv1.w").size(0) == 4);
  CHECK(analyze_model(m).totals.macs == j["stats"]["macs_after"].get<int64_t>());
}

TEST_CASE("prune --sensitivity reports every group and spends a MACs budget") {
  TempDir tmp;
  save_onnx(residual_net(), (tmp / "net.onnx").string());
  at::manual_seed(3);
  write_npz((tmp / "data.npz").string(), {{"X", at::randn({32, 3, 8, 8})}});
  CliResult r = run_cli(fmt::format("prune {} -o {} --sensitivity --target-macs 0.6 --eval-data {} --json", q(tmp / "net.onnx"),
                                    q(tmp / "small.onnx"), q(tmp / "data.npz")));
  CAPTURE(r.err);
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["sensitivity"]["metric"] == "agreement");
  CHECK(j["sensitivity"]["groups"].size() == 2);   // the residual group and conv3
  CHECK(j["sensitivity"]["groups"][0]["loss_points"].size() == 3);
  CHECK(j["pipeline"].get<std::string>().find("layer-ratios=") != std::string::npos);
  CHECK(j["stats"]["macs_after"].get<double>() <= 0.6 * j["stats"]["macs_before"].get<double>());
}

TEST_CASE("prune --mode nm and unstructured report sparsity") {
  TempDir tmp;
  save_onnx(residual_net(), (tmp / "net.onnx").string());
  CliResult r = run_cli(fmt::format("prune {} -o {} --mode nm --nm 2:4 --json", q(tmp / "net.onnx"), q(tmp / "nm.onnx")));
  CAPTURE(r.err);
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["stats"]["sparsity"].get<double>() > 0.3);
  r = run_cli(fmt::format("prune {} -o {} --mode unstructured --ratio 0.7 --json", q(tmp / "net.onnx"), q(tmp / "u.onnx")));
  REQUIRE(r.exit_code == 0);
  CHECK(nlohmann::json::parse(r.out)["stats"]["sparsity"].get<double>() == doctest::Approx(0.7).epsilon(0.01));
}

TEST_CASE("prune refuses bad options and overwriting its input") {
  TempDir tmp;
  save_onnx(residual_net(), (tmp / "net.onnx").string());
  const std::string base = "-q prune " + q(tmp / "net.onnx") + " -o ";
  for (const std::string& args : {base + q(tmp / "net.onnx"), base + q(tmp / "o.onnx") + " --ratio 1.2",
                                  base + q(tmp / "o.onnx") + " --criterion magic", base + q(tmp / "o.onnx") + " --criterion taylor",
                                  base + q(tmp / "o.onnx") + " --layer-ratios fc:0.5", base + q(tmp / "o.onnx") + " --finetune-epochs 1",
                                  base + q(tmp / "o.onnx") + " --sensitivity"}) {
    CAPTURE(args);
    CliResult r = run_cli(args);
    CHECK(r.exit_code == 2);
    CHECK(r.err.rfind("edgepack: error: ", 0) == 0);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  }
  CHECK_FALSE(fs::exists(tmp / "o.onnx"));
}

}  // TEST_SUITE
