// `edgepack eval` end to end: JSON fields, the human table, and bad data refused with exit 2.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "core/file_util.h"
#include "core/npy.h"
#include "core/onnx_export.h"
#include "tests/helpers.h"

using namespace edgepack;
using namespace edgepack::test;

TEST_SUITE("cli") {

TEST_CASE("eval reports accuracy, output statistics and agreement") {
  TempDir tmp;
  Model m = tiny_conv_model();
  save_onnx(m, (tmp / "tiny.onnx").string());
  save_onnx(tiny_conv_model(2), (tmp / "other.onnx").string());
  const int64_t n = 5;
  at::Tensor x = at::randn({n, 3, 8, 8});
  at::Tensor y = at::relu(at::conv2d(x, m.graph.initializers.at("W"), m.graph.initializers.at("B"), 1, 1));
  at::Tensor labels = y.reshape({n, -1}).argmax(1);
  labels[0] = (labels[0].item<int64_t>() + 1) % 256;  // one wrong of five
  write_npz((tmp / "data.npz").string(), {{"X", x}, {"labels", labels}});

  CliResult r = run_cli(fmt::format("eval {} --data {} --reference {} --json", q(tmp / "tiny.onnx"),
                                    q(tmp / "data.npz"), q(tmp / "tiny.onnx")));
  CAPTURE(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.empty());
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["samples"] == n);
  CHECK(j["accuracy"].get<double>() == doctest::Approx(0.8));
  CHECK(j["agreement"]["top1_match"].get<double>() == 1.0);
  CHECK(j["agreement"]["max_abs_error"].get<double>() == 0.0);
  CHECK(j["output"]["name"] == "Y");
  CHECK(j["output"]["max"].get<double>() == doctest::Approx(y.max().item<double>()).epsilon(1e-6));
  CHECK(j["data_digest"].get<std::string>().rfind("sha256:", 0) == 0);

  r = run_cli(fmt::format("eval {} --data {} --limit 2 --batch-size 3 --json", q(tmp / "tiny.onnx"),
                          q(tmp / "data.npz")));
  REQUIRE(r.exit_code == 0);
  j = nlohmann::json::parse(r.out);
  CHECK(j["samples"] == 2);
  CHECK(j["agreement"].is_null());

  write_npz((tmp / "nolabels.npz").string(), {{"X", x}});
  r = run_cli(fmt::format("eval {} --data {} --reference {}", q(tmp / "tiny.onnx"), q(tmp / "nolabels.npz"),
                          q(tmp / "other.onnx")));
  CAPTURE(r.out);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("- (no labels)") != std::string::npos);
  CHECK(r.out.find("top-1 match vs reference") != std::string::npos);
  CHECK(r.out.find("output 'Y' mean") != std::string::npos);
}

TEST_CASE("eval refuses bad data with exit 2 and one line") {
  TempDir tmp;
  save_onnx(tiny_conv_model(), (tmp / "tiny.onnx").string());
  write_npz((tmp / "shape.npz").string(), {{"X", at::zeros({2, 3, 4, 4})}});
  write_file_atomic((tmp / "trunc.npz").string(), "PK\x03\x04garbage");
  for (const auto& [data, fragment] : std::vector<std::pair<std::string, std::string>>{
           {"shape.npz", "'X' has shape [2,3,4,4]"}, {"trunc.npz", "trunc.npz"}, {"missing.npz", "missing.npz"}}) {
    CliResult r = run_cli(fmt::format("eval {} --data {}", q(tmp / "tiny.onnx"), q(tmp / data)));
    CAPTURE(r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.rfind("edgepack: error: ", 0) == 0);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(r.err.find(fragment) != std::string::npos);
  }
  CliResult r = run_cli(fmt::format("eval {} --data {} --batch-size 0", q(tmp / "tiny.onnx"), q(tmp / "shape.npz")));
  CHECK(r.exit_code == 2);
}

}  // TEST_SUITE
