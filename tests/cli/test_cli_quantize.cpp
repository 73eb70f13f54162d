// `edgepack quantize` and `edgepack passes` end to end: exit codes, files written, JSON fields.
#include <doctest/doctest.h>

#include <map>
#include <sstream>

#include <regex>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/npy.h"
#include "core/onnx_import.h"
#include "core/onnx_export.h"
#include "tests/helpers.h"
#include "tests/net_builder.h"

using namespace edgepack;
using namespace edgepack::test;

TEST_SUITE("cli") {

TEST_CASE("quantize writes a checked INT8 model and reports it as JSON") {
  TempDir tmp;
  save_onnx(tiny_conv_model(1, 16, 32), (tmp / "fp.onnx").string());
  at::manual_seed(1);
  write_npz((tmp / "calib.npz").string(), {{"X", at::randn({20, 16, 8, 8})}});
  CliResult r = run_cli(fmt::format("quantize {} -o {} --data {} --calib percentile --calib-samples 10 --json",
                                    q(tmp / "fp.onnx"), q(tmp / "int8.onnx"), q(tmp / "calib.npz")));
  CAPTURE(r.err);
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["pipeline"] == "quantize{calib=percentile}");
  CHECK(j["calibration_samples"] == 10);
  CHECK(j["stats"]["quantized_nodes"] == 1);
  CHECK(j["output_bytes"].get<double>() < j["input_bytes"].get<double>() / 2.5);
  Model m = import_onnx((tmp / "int8.onnx").string());   // passes onnx::checker
  CHECK((m.graph.initializers.at("W_quantized").scalar_type() == at::kChar));
  // With --json, progress is JSON lines on stderr: each task's last event has done == total.
  std::map<std::string, nlohmann::json> last;
  std::istringstream err(r.err);
  for (std::string line; std::getline(err, line);) {
    if (line.rfind("{", 0) != 0) continue;
    const nlohmann::json e = nlohmann::json::parse(line);
    CHECK(e["event"] == "progress");
    CHECK(e["elapsed_s"].get<double>() >= 0);
    last[e["task"].get<std::string>()] = e;
  }
  REQUIRE(last.count("calibration"));
  CHECK(last["calibration"]["done"] == last["calibration"]["total"]);
  CHECK(last["calibration"]["total"].get<int64_t>() >= 1);
  CHECK(last["calibration"]["status"].get<std::string>().find("samples/s") != std::string::npos);
}

TEST_CASE("human output: counts print as integers, MACs and sizes with units, no exponents") {
  TempDir tmp;
  save_onnx(residual_net(), (tmp / "fp.onnx").string());   // conv, BN, residual Add, Gemm
  write_npz((tmp / "calib.npz").string(), {{"X", at::randn({8, 3, 8, 8})}});
  // A count printed as a float ("2.0") that no unit follows; "4.0 KiB" is a size.
  const std::regex float_count(R"(\b[0-9]+\.0\b(?! ?(B|KiB|MiB|GiB|%|x|ms|s)\b))"), exponent(R"([0-9]e[+-][0-9])");
  for (const std::string& args : {fmt::format("quantize {} -o {} --data {}", q(tmp / "fp.onnx"), q(tmp / "q.onnx"), q(tmp / "calib.npz")),
                                 fmt::format("prune {} -o {} --ratio 0.5", q(tmp / "fp.onnx"), q(tmp / "p.onnx")),
                                 fmt::format("inspect {}", q(tmp / "fp.onnx"))}) {
    CAPTURE(args);
    const CliResult r = run_cli(args);
    CAPTURE(r.out);
    REQUIRE(r.exit_code == 0);
    CHECK_FALSE(std::regex_search(r.out, float_count));   // was: folded_batchnorms=2.0, quantized_nodes 1.0
    CHECK_FALSE(std::regex_search(r.out, exponent));      // was: MACs 1.218e+07
  }
  const CliResult pruned = run_cli(fmt::format("prune {} -o {} --ratio 0.5", q(tmp / "fp.onnx"), q(tmp / "p2.onnx")));
  CAPTURE(pruned.out);
  CHECK(std::regex_search(pruned.out, std::regex(R"(MACs {12}[0-9.]+ K -> [0-9.]+ K \([0-9]+\.[0-9]%\))")));
  CHECK(std::regex_search(pruned.out, std::regex(R"(channels {8}[0-9]+ of [0-9]+ prunable removed)")));
  CHECK(std::regex_search(pruned.out, std::regex(R"(file size {7}[0-9.]+ KiB -> [0-9.]+ KiB)")));
}

TEST_CASE("quantize refuses bad options, bad data and overwriting its input") {
  TempDir tmp;
  save_onnx(tiny_conv_model(), (tmp / "fp.onnx").string());
  write_npz((tmp / "calib.npz").string(), {{"X", at::randn({4, 3, 8, 8})}});
  write_npz((tmp / "wrong.npz").string(), {{"X", at::randn({4, 3, 9, 8})}});
  const std::string base = "quantize " + q(tmp / "fp.onnx") + " ";
  CliResult r = run_cli(base + "-o " + q(tmp / "fp.onnx") + " --data " + q(tmp / "calib.npz"));
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("refusing to write over the input") != std::string::npos);
  r = run_cli(base + "-o " + q(tmp / "o.onnx") + " --data " + q(tmp / "calib.npz") + " --calib median");
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("minmax|percentile|entropy|mse") != std::string::npos);
  r = run_cli(base + "-o " + q(tmp / "o.onnx") + " --data " + q(tmp / "wrong.npz"));
  CHECK(r.exit_code == 2);
  CHECK(r.err.rfind("edgepack: error: ", 0) == 0);
  CHECK(!fs::exists(tmp / "o.onnx"));   // nothing half-written
}

TEST_CASE("quantize --sensitivity reports each layer; --max-accuracy-drop keeps layers in FP32 to meet it") {
  TempDir tmp;
  save_onnx(tiny_conv_model(4, 8, 16), (tmp / "fp.onnx").string());
  at::manual_seed(2);
  write_npz((tmp / "calib.npz").string(), {{"X", at::randn({16, 8, 8, 8})}});
  const std::string base = fmt::format("quantize {} -o {} --data {} --json --calib-samples 8 ", q(tmp / "fp.onnx"),
                                       q(tmp / "int8.onnx"), q(tmp / "calib.npz"));
  CliResult r = run_cli(base + "--sensitivity");
  CAPTURE(r.err);
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out);
  // No labels: each layer is measured by SQNR against FP32 (--metric auto).
  CHECK(j["sensitivity"]["metric"] == "sqnr");
  REQUIRE(j["sensitivity"]["layers"].size() == 1);
  CHECK(j["sensitivity"]["layers"][0]["node"] == "conv");
  const double layer_db = j["sensitivity"]["layers"][0]["sqnr_db"];
  CHECK(layer_db > 20);
  CHECK(layer_db < 80);
  // The same layer in points of 1 - cosine: INT8 of one conv costs well under a point.
  r = run_cli(base + "--sensitivity --metric cosine");
  REQUIRE(r.exit_code == 0);
  j = nlohmann::json::parse(r.out);
  CHECK(j["sensitivity"]["metric"] == "cosine");
  const double cosine_points = j["sensitivity"]["layers"][0]["loss_points"];
  CHECK(cosine_points > 0);
  CHECK(cosine_points < 1);
  r = run_cli(base + "--sensitivity --metric top1");
  REQUIRE(r.exit_code == 0);
  CHECK(nlohmann::json::parse(r.out)["sensitivity"]["metric"] == "agreement");
  // Metrics the data or the budget cannot support: one clear line, exit 2, no output.
  fs::remove(tmp / "int8.onnx");
  r = run_cli(base + "--sensitivity --metric token");
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("per-token labels") != std::string::npos);
  r = run_cli(base + "--min-sqnr 30 --metric cosine");
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("min-sqnr is in dB") != std::string::npos);
  r = run_cli(base + "--sensitivity --metric f1");
  CHECK(r.exit_code == 2);
  CHECK(!fs::exists(tmp / "int8.onnx"));
  r = run_cli(base + "--max-accuracy-drop 0");
  REQUIRE(r.exit_code == 0);
  j = nlohmann::json::parse(r.out);
  CHECK(j["sensitivity"]["final_loss_points"].get<double>() <= 0.0);
}

TEST_CASE("passes --json lists every pass with its declared options") {
  CliResult r = run_cli("passes --json");
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out);
  std::vector<std::string> names;
  for (const auto& p : j) names.push_back(p["name"]);
  CHECK(names == std::vector<std::string>{"fold-constants", "fold-bn", "prune", "distill", "finetune", "quantize", "dequantize", "quantize-weights", "convert-fp16"});
  CHECK(j[5]["options"][0]["name"] == "calib");
  CHECK(j[5]["options"][0]["default"] == "mse");
  CHECK(j[2]["options"][0]["name"] == "mode");
  CHECK(j[7]["options"][0]["name"] == "bits");
}

}  // TEST_SUITE
