// `edgepack inspect` and `edgepack targets` end to end: exit codes, tables, JSON fields.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "core/targets.h"
#include "core/onnx_export.h"
#include "tests/helpers.h"

using namespace edgepack;
using namespace edgepack::test;
using nlohmann::json;

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

json parse_out(const CliResult& r) {
  CAPTURE(r.err);
  REQUIRE(r.exit_code == 0);
  return json::parse(r.out);
}

void check_usage_error(const CliResult& r, const std::string& fragment) {
  CAPTURE(r.err);
  CHECK(r.exit_code == 2);
  CHECK(r.err.rfind("edgepack: error: ", 0) == 0);
  CHECK(contains(r.err, fragment));
}

}  // namespace

TEST_SUITE("cli") {

TEST_CASE("targets lists every built-in profile, as a table and as JSON") {
  CliResult r = run_cli("targets");
  CAPTURE(r.err);
  REQUIRE(r.exit_code == 0);
  for (const TargetProfile& p : builtin_targets()) CHECK(contains(r.out, p.id));
  CHECK(contains(r.out, "brief / estimate"));

  json doc = parse_out(run_cli("targets --json"));
  REQUIRE(doc["targets"].size() == builtin_targets().size());
  for (const json& t : doc["targets"]) {
    CAPTURE(t.dump());
    for (const char* figure : {"int8_tops", "bandwidth_gbps", "ram_mb", "power_w"}) {
      CHECK(t[figure]["value"].is_number());
      CHECK(t[figure]["source"].is_string());
      CHECK(t[figure]["confidence"].is_string());
    }
    CHECK(t["class"].is_string());
    CHECK(t["int8_kind"].is_string());
  }
}

TEST_CASE("targets --target-file adds profiles; a bad file is exit 2 naming the key") {
  TempDir tmp;
  write_text(tmp / "t.yaml",
             "targets:\n  - id: my-npu\n    name: Mine\n    int8_tops: 4\n    bandwidth_gbps: 12\n"
             "    ram_mb: 1024\n    power_w: 3\n");
  json doc = parse_out(run_cli("targets --json --target-file " + q(tmp / "t.yaml")));
  CHECK(doc["targets"].size() == builtin_targets().size() + 1);
  CHECK(doc["targets"].back()["id"] == "my-npu");
  // The JSON output is itself a valid target file.
  write_text(tmp / "round.json", doc.dump());
  CHECK(run_cli("targets --target-file " + q(tmp / "round.json")).exit_code == 0);

  write_text(tmp / "bad.yaml", "targets:\n  - id: rpi5\n    tops: 4\n");
  check_usage_error(run_cli("targets --target-file " + q(tmp / "bad.yaml")), "unknown key 'tops'");
  check_usage_error(run_cli("targets --target-file " + q(tmp / "none.yaml")), "cannot open");
}

TEST_CASE("inspect prints per-node figures and totals, and an estimate for a target") {
  TempDir tmp;
  save_onnx(tiny_conv_model(), (tmp / "tiny.onnx").string());
  const std::string model = q(tmp / "tiny.onnx");

  CliResult r = run_cli("inspect " + model);
  CAPTURE(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(contains(r.out, "conv"));
  CHECK(contains(r.out, "1x4x8x8"));
  CHECK(contains(r.out, "(112)"));     // params: 4*3*3*3 + 4
  CHECK(contains(r.out, "(6,912)"));   // MACs: 256 outputs * 27
  CHECK(!contains(r.out, "estimate on"));

  r = run_cli("inspect " + model + " --target qcs6490");
  REQUIRE(r.exit_code == 0);
  CHECK(contains(r.out, "estimate on qcs6490"));
  CHECK(contains(r.out, "fits"));

  json doc = parse_out(run_cli("inspect --json " + model + " --target rk3588 --precision fp32"));
  REQUIRE(doc["nodes"].size() == 2);
  CHECK(doc["nodes"][0]["op"] == "Conv");
  CHECK(doc["nodes"][0]["params"] == 112);
  CHECK(doc["nodes"][0]["macs"] == 6912);
  CHECK(doc["nodes"][0]["output_shapes"] == json::array({json::array({1, 4, 8, 8})}));
  CHECK(doc["totals"]["params"] == 112);
  CHECK(doc["totals"]["macs"] == 6912);
  CHECK(doc["totals"]["fp32_bytes"] == 448);
  CHECK(doc["totals"]["op_histogram"] == json{{"Conv", 1}, {"Relu", 1}});
  CHECK(doc["totals"]["peak_activation_bytes"] == 4 * (256 + 256));  // H and Y live together
  const json& e = doc["estimate"];
  CHECK(e["target"] == "rk3588");
  CHECK(e["precision"] == "fp32");
  CHECK(e["latency_ms"].get<double>() > 0);
  CHECK((e["bound"] == "compute" || e["bound"] == "bandwidth"));
  CHECK(e["fits"] == true);

  CHECK(!parse_out(run_cli("inspect --json " + model)).contains("estimate"));
}

TEST_CASE("inspect: a bad target id, a missing model or a bad option is exit 2") {
  TempDir tmp;
  save_onnx(tiny_conv_model(), (tmp / "tiny.onnx").string());
  CliResult r = run_cli("inspect " + q(tmp / "tiny.onnx") + " --target nope");
  check_usage_error(r, "unknown target 'nope'");
  CHECK(contains(r.err, "qcs6490"));
  check_usage_error(run_cli("inspect " + q(tmp / "missing.onnx")), "cannot open model");
  check_usage_error(run_cli("inspect " + q(tmp / "tiny.onnx") + " --target rpi5 --precision int3"), "precision");
  write_text(tmp / "t.json", R"({"targets": [{"id": "board", "name": "B", "int8_tops": 1}]})");
  check_usage_error(run_cli("inspect " + q(tmp / "tiny.onnx") + " --target-file " + q(tmp / "t.json")),
                    "missing required key 'bandwidth_gbps'");
}

}  // TEST_SUITE
