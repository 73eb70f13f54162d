// compress as a library (compress/compress.h) and its records (compress/manifest.h): the files a
// run writes are what its returned structs serialise to, read back field for field; the strict
// reader names what is wrong; what the planner built is reused without changing the artifact.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "compress/compress.h"
#include "compress/manifest.h"
#include "compress/recipe.h"
#include "core/npy.h"
#include "core/onnx_export.h"
#include "core/sha256.h"
#include "export/report.h"
#include "tests/helpers.h"
#include "tests/net_builder.h"

using namespace edgepack;
using namespace edgepack::test;
using nlohmann::json;

namespace {

json read_json_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return json::parse(s.str());
}

// A label-free compress request for the residual test net on two targets.
CompressRequest small_request(const TempDir& tmp) {
  save_onnx(residual_net(), (tmp / "net.onnx").string());
  at::manual_seed(11);
  write_npz((tmp / "calib.npz").string(), {{"X", at::randn({24, 3, 8, 8})}});
  CompressRequest r;
  r.model = (tmp / "net.onnx").string();
  r.data = (tmp / "calib.npz").string();
  r.out = (tmp / "out").string();
  r.targets = {"qcs2290", "jetson-agx-orin"};
  r.calib_samples = 16;
  r.host_repeat = 3;
  return r;
}

}  // namespace

TEST_SUITE("compress") {

TEST_CASE("the files compress writes are its returned manifests and summary, and read back field for field") {
  TempDir tmp;
  const CompressRequest request = small_request(tmp);
  const CompressResult result = compress(request, nullptr, true);
  REQUIRE(result.manifests.size() == 2);
  REQUIRE(result.summary.targets.size() == 2);
  const fs::path out = tmp / "out";
  CHECK(read_json_file(out / "summary.json") == to_json(result.summary));
  CHECK(to_json(summary_from_json(read_json_file(out / "summary.json"))) == to_json(result.summary));
  for (size_t i = 0; i < 2; ++i) {
    const Manifest& m = result.manifests[i];
    const fs::path dir = out / result.summary.targets[i].dir;
    const json written = read_json_file(dir / "manifest.json");
    CHECK(written == to_json(m));
    CHECK(to_json(manifest_from_json(written)) == written);
    CHECK(m.target.id == request.targets[i]);
    CHECK(m.output.sha256 == file_sha256((dir / "model.onnx").string()));
    CHECK(m.output.bytes == static_cast<int64_t>(fs::file_size(dir / "model.onnx")));
    CHECK(m.input.sha256 == file_sha256(request.model));
    CHECK(m.calibration_samples == 16);
    CHECK_FALSE(m.accuracy.before.has_value());   // no eval data: no accuracy, no accuracy gate
    CHECK(m.passed == gates_passed(m.gates));
    REQUIRE_FALSE(m.passes.empty());
    CHECK(m.passes.front().pass == "fold-constants");   // the canonical pipeline, every step shown
    // The reports of the folder are the renderings of the manifest that was written.
    std::ifstream md(dir / "report.md");
    std::stringstream text;
    text << md.rdbuf();
    CHECK(text.str() == render_report_markdown(written));
  }
}

TEST_CASE("each artifact is timed on this machine against the input model; host_repeat 0 records none") {
  TempDir tmp;
  const CompressRequest request = small_request(tmp);
  const CompressResult result = compress(request, nullptr, true);
  for (size_t i = 0; i < result.manifests.size(); ++i) {
    const Manifest& m = result.manifests[i];
    REQUIRE(m.host.has_value());
    CHECK(m.host->repeat == 3);
    CHECK(m.host->batch == 1);
    CHECK(m.host->threads >= 1);
    CHECK_FALSE(m.host->cpu.empty());
    CHECK(m.host->median_ms > 0);
    CHECK(m.host->min_ms <= m.host->median_ms);
    CHECK(m.host->median_ms <= m.host->p90_ms);
    CHECK(m.host->input_median_ms > 0);
    CHECK(m.host->speedup() == doctest::Approx(m.host->input_median_ms / m.host->median_ms));
    const SummaryTarget& t = result.summary.targets[i];
    REQUIRE(t.host_ms.has_value());
    CHECK(*t.host_ms == m.host->median_ms);
    CHECK(*t.host_speedup == m.host->speedup());
    const json written = to_json(m);
    CHECK(written["host"]["speedup"].get<double>() == m.host->speedup());
    const std::string md = render_report_markdown(written);
    CHECK(md.find("host latency (measured here, median)") != std::string::npos);
    CHECK(md.find("median of 3 runs interleaved with the input model") != std::string::npos);
  }
  // The same pipeline for both targets: one artifact, measured once.
  if (result.manifests[0].pipeline == result.manifests[1].pipeline)
    CHECK(result.manifests[0].host->median_ms == result.manifests[1].host->median_ms);
  CHECK(render_summary_markdown(to_json(result.summary)).find("| host (measured) |") != std::string::npos);

  CompressRequest none = small_request(tmp);
  none.out = (tmp / "none").string();
  none.host_repeat = 0;
  const CompressResult r0 = compress(none, nullptr, true);
  CHECK_FALSE(r0.manifests.at(0).host.has_value());
  CHECK(to_json(r0.manifests.at(0))["host"].is_null());
  CHECK_FALSE(r0.summary.targets.at(0).host_ms.has_value());
  CHECK(render_summary_markdown(to_json(r0.summary)).find("host latency") == std::string::npos);
  CHECK(render_report_markdown(to_json(r0.manifests.at(0))).find("host latency") == std::string::npos);
  CompressRequest negative = small_request(tmp);
  negative.host_repeat = -1;
  CHECK(input_error_of([&] { check_request(negative); }) == "--host-repeat must be at least 0, got -1");
}

TEST_CASE("compress --pipeline convert-fp16: half the file, estimated at FP16, within FP16 rounding of the input") {
  TempDir tmp;
  CompressRequest request = small_request(tmp);
  request.targets = {"jetson-agx-orin"};
  request.pipeline = "convert-fp16";
  const Manifest m = compress(request, nullptr, true).manifests.at(0);
  CHECK(m.pipeline == "fold-constants,fold-bn,convert-fp16");
  CHECK(m.after.bytes < 0.6 * double(m.before.bytes));
  CHECK(m.after.memory_bytes < 0.6 * double(m.before.memory_bytes));   // 2 bytes per weight and activation
  CHECK(m.fidelity.sqnr_db >= 40);   // FP16 rounding only (tests/passes/test_convert_fp16.cpp)
  CHECK(m.passed);
}

TEST_CASE("a shrinking plan reuses the planner's pruned model: the same artifact as building the pipeline from scratch") {
  TempDir tmp;
  CompressRequest planned = small_request(tmp);
  planned.targets = {"qcs2290"};
  planned.budgets.max_latency_ms = 1e-9;   // nothing fits: the most aggressive candidate is built
  std::vector<std::string> log_a, log_b;
  const CompressResult a = compress(planned, [&](const std::string& l) { log_a.push_back(l); }, true);
  const Manifest& ma = a.manifests.at(0);
  CHECK_FALSE(ma.passed);
  CHECK(ma.pipeline.find("prune{target-macs=") != std::string::npos);
  CHECK(ma.after.macs < ma.before.macs / 4);

  CompressRequest given = planned;   // the same pipeline given explicitly: no planner, no reuse
  given.pipeline = ma.pipeline;
  given.out = (tmp / "given").string();
  const CompressResult b = compress(given, [&](const std::string& l) { log_b.push_back(l); }, true);
  const Manifest& mb = b.manifests.at(0);
  // The builder logs each step it runs: the planned run prunes only inside the (quiet) planner.
  auto prunes = [](const std::vector<std::string>& log) {
    return std::count_if(log.begin(), log.end(), [](const std::string& l) { return l.rfind("running prune{", 0) == 0; });
  };
  CHECK(prunes(log_a) == 0);
  CHECK(prunes(log_b) == 1);
  CHECK(mb.pipeline == ma.pipeline);
  CHECK(mb.output.sha256 == ma.output.sha256);
  REQUIRE(mb.passes.size() == ma.passes.size());
  for (size_t i = 0; i < ma.passes.size(); ++i) {
    CAPTURE(ma.passes[i].canonical);
    CHECK(mb.passes[i].canonical == ma.passes[i].canonical);
    CHECK(mb.passes[i].stats == ma.passes[i].stats);
  }
}

TEST_CASE("plain INT8 that fits but misses --min-sqnr is rebuilt with mixed precision, label-free, and then passes") {
  TempDir tmp;
  CompressRequest request = small_request(tmp);
  request.targets = {"jetson-agx-orin"};
  const CompressResult plain = compress(request, nullptr, true);
  const double int8_db = plain.manifests.at(0).fidelity.sqnr_db;
  CHECK(plain.manifests.at(0).passed);
  request.out = (tmp / "mixed").string();
  request.budgets.min_sqnr_db = int8_db + 10;   // more than all-INT8 reaches
  const CompressResult r = compress(request, nullptr, true);
  const Manifest& m = r.manifests.at(0);
  CAPTURE(m.plan_reason);
  CHECK(m.pipeline.find(fmt::format("quantize{{calib=percentile min-sqnr={:g}}}", *request.budgets.min_sqnr_db)) != std::string::npos);
  CHECK(m.plan_reason.find("rebuilt with the most sensitive layers in FP32") != std::string::npos);
  CHECK(m.fidelity.sqnr_db >= *request.budgets.min_sqnr_db);
  CHECK(m.passed);
  const StepFacts& quantize = m.passes.back();
  CHECK(quantize.stats.at("kept_fp32_layers") >= 1);
}

TEST_CASE("the strict reader names the missing or wrongly typed field; passed must agree with the gates") {
  TempDir tmp;
  const CompressResult result = compress(small_request(tmp), nullptr, true);
  const json good = to_json(result.manifests.at(0));
  auto error_of = [](const json& j) { return input_error_of([&] { manifest_from_json(j); }); };
  json j = good;
  j["after"].erase("bound");
  CHECK(error_of(j) == "manifest.after: no field 'bound'");
  j = good;
  j["gates"][0]["limit"] = "big";
  CHECK(error_of(j) == "manifest.gates[0].limit: wrong type (string)");
  j = good;
  j["passed"] = !good["passed"].get<bool>();
  CHECK(error_of(j) == "manifest.passed disagrees with its gates");
  j = good;
  j["schema"] = "edgepack.summary/1";
  CHECK(error_of(j) == "manifest has schema 'edgepack.summary/1', expected edgepack.manifest/1");
  CHECK(input_error_of([&] { summary_from_json(good); }) == "summary has schema 'edgepack.manifest/1', expected edgepack.summary/1");
}

TEST_CASE("a recipe is read into a request; unknown keys are refused naming the recipe") {
  TempDir tmp;
  write_text(tmp / "r.yaml", "data: d.npz\ntargets: [qcs2290, qcs6490]\nbudgets: {max_size_mb: 2}\ncalib_samples: 32\n");
  const CompressRequest r = read_recipe((tmp / "r.yaml").string());
  CHECK(r.data == "d.npz");
  CHECK(r.targets == std::vector<std::string>{"qcs2290", "qcs6490"});
  CHECK(r.budgets.max_size_mb == 2.0);
  CHECK_FALSE(r.budgets.max_latency_ms.has_value());
  CHECK(r.calib_samples == 32);
  CHECK(r.epochs == 3);
  write_text(tmp / "bad.yaml", "targetz: [qcs2290]\n");
  CHECK(input_error_of([&] { read_recipe((tmp / "bad.yaml").string()); }).find("recipe '" + (tmp / "bad.yaml").string() +
                                                                                "': unknown key 'targetz'") == 0);
}

}  // TEST_SUITE
