// `edgepack eval` end to end: JSON fields, the human table, and bad data refused with exit 2.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <cmath>

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

TEST_CASE("eval --metric: SQNR of every output against the reference (the least faithful one scores), cosine, top1") {
  TempDir tmp;
  // Two outputs: Y = Relu(H) and the convolution H itself. The reference has a shifted bias, so
  // both outputs differ from it, by different amounts.
  Model m = tiny_conv_model();
  ValueInfo h = m.graph.outputs[0];
  h.name = "H";
  m.graph.outputs.push_back(h);
  Model ref = m;
  ref.graph.initializers.at("B") = ref.graph.initializers.at("B") + 0.3;
  save_onnx(m, (tmp / "two.onnx").string());
  save_onnx(ref, (tmp / "ref.onnx").string());
  at::manual_seed(4);
  const at::Tensor x = at::randn({6, 3, 8, 8});
  write_npz((tmp / "data.npz").string(), {{"X", x}});
  auto conv = [&](const Model& model) {
    return at::conv2d(x, model.graph.initializers.at("W"), model.graph.initializers.at("B"), 1, 1).to(at::kDouble);
  };
  auto sqnr = [](const at::Tensor& y, const at::Tensor& z) {
    return 10 * std::log10(z.pow(2).sum().item<double>() / (y - z).pow(2).sum().item<double>());
  };
  const double y_db = sqnr(at::relu(conv(m)), at::relu(conv(ref))), h_db = sqnr(conv(m), conv(ref));
  const std::string base = fmt::format("eval {} --data {} --json", q(tmp / "two.onnx"), q(tmp / "data.npz"));
  CliResult r = run_cli(base + " --reference " + q(tmp / "ref.onnx"));
  CAPTURE(r.err);
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out);
  const auto& outputs = j["agreement"]["outputs"];
  REQUIRE(outputs.size() == 2);
  CHECK(outputs[0]["name"] == "Y");
  CHECK(outputs[1]["name"] == "H");
  // Tolerance 1e-6 relative: both sides sum squares in double over the same float outputs.
  CHECK(outputs[0]["sqnr_db"].get<double>() == doctest::Approx(y_db).epsilon(1e-6));
  CHECK(outputs[1]["sqnr_db"].get<double>() == doctest::Approx(h_db).epsilon(1e-6));
  CHECK(j["agreement"]["sqnr_db"].get<double>() == doctest::Approx(y_db).epsilon(1e-6));   // output 0's
  // No labels: the default score is SQNR, of the least faithful output.
  CHECK(j["score"]["metric"] == "sqnr");
  CHECK(j["score"]["value"].get<double>() == doctest::Approx(std::min(y_db, h_db)).epsilon(1e-6));
  r = run_cli(base + " --reference " + q(tmp / "ref.onnx") + " --metric cosine");
  REQUIRE(r.exit_code == 0);
  j = nlohmann::json::parse(r.out);
  CHECK(j["score"]["metric"] == "cosine");
  CHECK(j["score"]["value"] == j["agreement"]["mean_cosine"]);
  r = run_cli(base + " --reference " + q(tmp / "ref.onnx") + " --metric top1");
  REQUIRE(r.exit_code == 0);
  j = nlohmann::json::parse(r.out);
  CHECK(j["score"]["value"] == j["agreement"]["top1_match"]);
  // The human table leads with the score and lists each output's SQNR.
  r = run_cli(fmt::format("eval {} --data {} --reference {}", q(tmp / "two.onnx"), q(tmp / "data.npz"), q(tmp / "ref.onnx")));
  CHECK(r.out.find("score (sqnr)") != std::string::npos);
  CHECK(r.out.find("SQNR of output 'H'") != std::string::npos);
  // Nothing to score without labels or a reference: no score; a metric that needs one is refused.
  r = run_cli(base);
  REQUIRE(r.exit_code == 0);
  CHECK(nlohmann::json::parse(r.out)["score"].is_null());
  for (const char* metric : {"sqnr", "cosine", "top1", "token"}) {
    r = run_cli(base + " --metric " + metric);
    CAPTURE(metric);
    CHECK(r.exit_code == 2);
    CHECK(r.err.rfind("edgepack: error: metric ", 0) == 0);
  }
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
