// Reports rendered from manifest.json / summary.json (export/report.h) and `edgepack report`:
// the docs/compress.md examples render with their numbers, the HTML is self-contained and
// escapes what models put in names, failing gates show, partial manifests never throw, and
// the CLI re-renders a folder or refuses bad input with one line and exit 2.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "compress/manifest.h"
#include "core/error.h"
#include "export/report.h"
#include "tests/helpers.h"

using namespace edgepack;
using namespace edgepack::test;
using nlohmann::json;

namespace {

// The manifest example of docs/compress.md, with a few more layers (one named like an attack),
// as the writer (compress/manifest.h) writes it.
Manifest example_manifest_struct() {
  Manifest m;
  m.version = "0.1.0";
  m.created = "2026-11-24T17:10:00Z";
  m.target = {"qcs2290", "Qualcomm QCS2290", 0.2, "third-party", 7.5, 2048, {"int8", "fp32"}};
  m.input = {"data/mnist/teacher.onnx", "sha256:1111input", 829952};
  m.output = {"model.onnx", "sha256:2222output", 215040};
  m.pipeline = "quantize{calib=percentile}";
  m.passes = {{"quantize", "quantize{calib=percentile}", 0.8, {{"quantized_nodes", 4}}, nullptr}};
  m.budgets.max_latency_ms = 33;
  m.budgets.max_accuracy_drop = 0.5;
  m.plan_reason = "plain INT8 meets every budget (estimated 0.9 ms <= 33 ms)";
  m.candidates = {{"quantize{calib=percentile}", 1218048, 208000, 0.9, 260000, true, "meets every budget"}};
  m.before.params = m.after.params = 207114;
  m.before.macs = m.after.macs = 1218048;
  m.before.bytes = 829952;
  m.before.latency_ms = 3.1;
  m.before.memory_bytes = 900000;
  m.before.accuracy = 0.9890;
  m.after.bytes = 215040;
  m.after.latency_ms = 0.9;
  m.after.compute_ms = 0.02;
  m.after.memory_ms = 0.88;
  m.after.bound = "bandwidth";
  m.after.memory_bytes = 260000;
  m.after.ram_bytes = 2147483648;
  m.after.fits_ram = true;
  m.after.accuracy = 0.9895;
  m.accuracy.before = 0.9890;
  m.accuracy.after = 0.9895;
  m.accuracy.eval_samples = 2004;
  m.accuracy.eval_digest = "sha256:3333eval";
  m.fidelity = {"eval", 2004, 38.46, 0.99931, 0.9965, 0.81};
  m.calibration_samples = 256;
  m.calibration_digest = "sha256:4444calib";
  m.gates = {{"max-latency-ms", 33, 0.9, true}, {"max-accuracy-drop", 0.5, -0.05, true}};
  m.passed = true;
  m.layers = {{"conv1", "Conv", 112896, 208}, {"evil<b>&\"name", "Conv", 903168, 18496}, {"fc1", "Gemm", 200704, 200768}};
  return m;
}

json example_manifest() { return to_json(example_manifest_struct()); }

// The summary example of docs/compress.md, for two targets (the second failing), as written.
json example_summary() {
  Summary s;
  s.version = "0.1.0";
  s.input = {"data/mnist/teacher.onnx", "sha256:1111input", 829952};
  s.budgets.max_latency_ms = 33;
  s.targets = {{"qcs2290", "Qualcomm QCS2290", "quantize{calib=percentile}", 215040, 0.9, 260000, 2147483648, 0.9890, 0.9895, 38.5,
                true, "qcs2290", std::nullopt, std::nullopt},
               {"tiny-mcu", "Tiny MCU", "prune{ratio=0.5},quantize", 120000, 41.2, 300000, 262144, 0.9890, 0.9701, 21.0,
                false, "tiny-mcu", std::nullopt, std::nullopt}};
  s.passed = false;
  return to_json(s);
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

void check_self_contained(const std::string& html) {
  CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(has(html, "<svg"));
  CHECK(has(html, "<style>"));
  CHECK_FALSE(has(html, "http://"));
  CHECK_FALSE(has(html, "https://"));
  CHECK_FALSE(has(html, "<script"));
  CHECK_FALSE(has(html, "<img"));
  CHECK_FALSE(has(html, "<link"));
  CHECK_FALSE(has(html, "<iframe"));
  CHECK_FALSE(has(html, "url("));
  CHECK_FALSE(has(html, "@import"));
}

// Every leaf of `j` replaced by null (objects and arrays kept): the most unknown manifest.
void null_leaves(json& j) {
  if (j.is_object() || j.is_array()) {
    for (auto& v : j) null_leaves(v);
  } else if (!j.is_null()) {
    j = nullptr;
  }
}

// Every leaf of `j` replaced by a value of another type.
void scramble_leaves(json& j, int& k) {
  if (j.is_object() || j.is_array()) {
    for (auto& v : j) scramble_leaves(v, k);
    return;
  }
  switch (k++ % 4) {
    case 0: j = j.is_string() ? json(7) : json("x|`<i>"); break;
    case 1: j = json::array({1, "a"}); break;
    case 2: j = json::object({{"k", 1}}); break;
    default: j = j.is_boolean() ? json(-1e300) : json(true);
  }
}

// write_text into a folder created on demand.
void put(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  write_text(p, text);
}

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_SUITE("report") {

TEST_CASE("manifest example renders to Markdown with its numbers") {
  const std::string md = render_report_markdown(example_manifest());
  CAPTURE(md);
  for (const char* part :
       {"Qualcomm QCS2290", "`qcs2290`", "0.2 TOPS (third-party)", "7.5 GB/s", "2.0 GiB", "int8, fp32", "33 ms",
        "0.50 points",                                                        // target and budgets
        "`quantize{calib=percentile}`", "plain INT8 meets every budget (estimated 0.9 ms <= 33 ms)", "(chosen)",
        "meets every budget", "1.22 M", "203.1 KiB", "253.9 KiB",             // plan and candidates
        "207,114", "1,218,048", "810.5 KiB", "210.0 KiB", "0.26x", "3.1 ms", "0.9 ms", "878.9 KiB", "98.90%",
        "98.95%", "+0.05 points", "bandwidth-bound",                          // before/after
        "`max-latency-ms`", "`max-accuracy-drop`", "-0.05 points", "PASS",    // gates
        "Top layers by MACs", "Top layers by weight bytes", "`fc1`", "903 K", "74.2%", "196.1 KiB",  // layers
        "quantized\\_nodes=4 |", "0.80 s",                                    // passes (a count, not 4.0)
        "data/mnist/teacher.onnx", "`sha256:1111input`", "`sha256:2222output`", "`sha256:3333eval`",
        "`sha256:4444calib`", "edgepack 0.1.0", "2,004 samples", "256 samples", "2026-11-24T17:10:00Z",
        "SQNR 38.5 dB, cosine 0.99931, on 2,004 eval samples"}) {
    const std::string wanted = part;
    CAPTURE(wanted);
    CHECK(has(md, wanted));
  }
  CHECK(has(md, "**Result: PASS** (all 2 gates met)"));
  // The largest layer by MACs comes first, by bytes fc1 does.
  CHECK(md.find("| 1 | `evil<b>&\"name`") != std::string::npos);
  CHECK(md.find("| 1 | `fc1` | Gemm | 196.1 KiB") != std::string::npos);
}

TEST_CASE("manifest example renders to a self-contained HTML page with charts") {
  const std::string html = render_report_html(example_manifest());
  check_self_contained(html);
  for (const char* part : {"Qualcomm QCS2290 (qcs2290)", "quantize{calib=percentile}", "207,114", "1,218,048", "810.5 KiB",
                           "210.0 KiB", "3.1 ms", "0.9 ms", "98.90%", "98.95%", "budget 33 ms", "RAM 2.0 GiB",
                           "gate: at least 98.40%", "903 K MACs", "sha256:1111input", "sha256:4444calib",
                           "sha256:3333eval", "plain INT8 meets every budget (estimated 0.9 ms &lt;= 33 ms)"}) {
    const std::string wanted = part;
    CAPTURE(wanted);
    CHECK(has(html, wanted));
  }
  CHECK(has(html, R"(<div class="verdict pass">)"));
  // Three envelope charts, accuracy, per-layer bytes and MACs.
  size_t charts = 0;
  for (size_t at = html.find("<svg"); at != std::string::npos; at = html.find("<svg", at + 1)) ++charts;
  CHECK(charts == 5);
  CHECK(has(html, "weight bytes</text>"));
  CHECK(has(html, "MACs</text>"));
}

TEST_CASE("strings from the JSON are escaped") {
  json m = example_manifest();
  m["target"]["name"] = "<script>alert(1)</script>";
  m["plan"]["reason"] = "a <img src=x onerror=alert(1)> & b";
  m["input"]["path"] = "models/`tick`|pipe\nnewline.onnx";
  const std::string html = render_report_html(m);
  check_self_contained(html);
  CHECK(has(html, "evil&lt;b&gt;&amp;&quot;name"));
  CHECK_FALSE(has(html, "evil<b>"));
  CHECK_FALSE(has(html, "&\"name"));
  CHECK(has(html, "&lt;script&gt;alert(1)&lt;/script&gt;"));
  CHECK_FALSE(has(html, "<img"));

  const std::string md = render_report_markdown(m);
  CHECK(has(md, "\\<script>alert(1)\\</script>"));
  CHECK(has(md, "a \\<img src=x onerror=alert(1)> & b"));
  CHECK(has(md, "``models/`tick`|pipe newline.onnx``"));   // code span, line break gone
  // A pipe in a layer name cannot add a table cell.
  m["layers"] = json::array({{{"name", "a|b"}, {"op", "Conv|X"}, {"macs", 5}, {"bytes", 1}}});
  const std::string md2 = render_report_markdown(m);
  CHECK(has(md2, "| 1 | `a\\|b` | Conv\\|X | 5 |"));
  m["gates"] = json::array({{{"name", "fits-ram"}, {"limit", 2147483648.0}, {"value", 232568}, {"passed", true}}});
  CHECK(has(render_report_markdown(m), "| `fits-ram` | 2.0 GiB | 227.1 KiB | PASS |"));

  CHECK(html_escape("<b>&\"'") == "&lt;b&gt;&amp;&quot;&#39;");
  CHECK(markdown_escape("*a* _b_ [c](d) <e> &amp; x <= y & z") == "\\*a\\* \\_b\\_ \\[c\\](d) \\<e> \\&amp; x <= y & z");
}

TEST_CASE("a failing gate shows FAIL at the top, in red") {
  json m = example_manifest();
  m["gates"][0] = {{"name", "max-latency-ms"}, {"limit", 33}, {"value", 41.2}, {"passed", false}};
  m["after"]["latency_ms"] = 41.2;
  m["passed"] = false;
  const std::string md = render_report_markdown(m);
  CHECK(has(md, "**Result: FAIL** (1 of 2 gates not met: max-latency-ms 41.2 ms > 33 ms)"));
  CHECK(has(md, "| `max-latency-ms` | 33 ms | 41.2 ms | FAIL |"));
  const std::string html = render_report_html(m);
  const size_t verdict = html.find(R"(<div class="verdict fail"><strong>FAIL</strong>)");
  REQUIRE(verdict != std::string::npos);
  CHECK(verdict < html.find("<table"));
  CHECK(verdict < html.find("<svg"));
  CHECK(has(html, "max-latency-ms 41.2 ms &gt; 33 ms"));
  CHECK(has(html, R"(<span class="badge fail">FAIL</span>)"));
  CHECK(has(html, "--fail:#cf222e"));

  // A gate failing while "passed" still says true is a failure too.
  m["passed"] = true;
  CHECK(has(render_report_markdown(m), "**Result: FAIL**"));
}

TEST_CASE("missing, null and wrongly typed fields render as '-' and never throw") {
  const json bare = {{"schema", "edgepack.manifest/1"}};
  std::string md, html;
  CHECK_NOTHROW(md = render_report_markdown(bare));
  CHECK_NOTHROW(html = render_report_html(bare));
  CHECK(has(md, "**Result: -**"));
  CHECK(has(md, "| parameters | - | - | - |"));
  check_self_contained(html);

  json nulls = example_manifest();
  null_leaves(nulls);
  nulls["schema"] = "edgepack.manifest/1";
  CHECK_NOTHROW(md = render_report_markdown(nulls));
  CHECK_NOTHROW(render_report_html(nulls));
  CHECK(has(md, "| file size | - | - | - |"));

  for (int seed = 0; seed < 4; ++seed) {
    json odd = example_manifest();
    int k = seed;
    scramble_leaves(odd, k);
    odd["schema"] = "edgepack.manifest/1";
    CHECK_NOTHROW(render_report_markdown(odd));
    CHECK_NOTHROW(render_report_html(odd));
  }
  json wrong_shapes = {{"schema", "edgepack.manifest/1"}, {"target", "qcs2290"}, {"layers", {{"a", 1}}},
                       {"gates", 3},  {"plan", json::array()}, {"before", nullptr}, {"after", "x"}};
  CHECK_NOTHROW(render_report_html(wrong_shapes));

  json s = example_summary();
  null_leaves(s);
  s["schema"] = "edgepack.summary/1";
  CHECK_NOTHROW(md = render_summary_markdown(s));
  CHECK_NOTHROW(render_summary_html(s));
  CHECK(has(md, "| - | - | - | - | - / - | - -> - | - |"));
  CHECK_NOTHROW(render_summary_html(json{{"schema", "edgepack.summary/1"}}));
}

TEST_CASE("many layers: the tables and the chart keep the top ones") {
  json m = example_manifest();
  m["layers"] = json::array();
  for (int i = 0; i < 20000; ++i) m["layers"].push_back({{"name", fmt::format("n{}", i)}, {"op", "Conv"}, {"macs", i}, {"bytes", 20000 - i}});
  const std::string md = render_report_markdown(m);
  CHECK(has(md, "| 1 | `n19999` |"));
  CHECK(has(md, "| 1 | `n0` |"));
  CHECK(has(md, "20000 layers in all"));
  const std::string html = render_report_html(m);
  CHECK(has(html, ">n19980<"));
  CHECK_FALSE(has(html, ">n19979<"));   // 20 bars only
}

TEST_CASE("a document of another schema is refused, naming its schema") {
  const json summary = example_summary(), manifest = example_manifest();
  CHECK(input_error_of([&] { render_report_markdown(summary); }) ==
        "manifest has schema 'edgepack.summary/1', expected edgepack.manifest/1");
  CHECK(input_error_of([&] { render_report_html(summary); }) ==
        "manifest has schema 'edgepack.summary/1', expected edgepack.manifest/1");
  CHECK(input_error_of([&] { render_summary_markdown(manifest); }) ==
        "summary has schema 'edgepack.manifest/1', expected edgepack.summary/1");
  CHECK(input_error_of([&] { render_summary_html(json{{"schema", "edgepack.summary/2"}}); }) ==
        "summary has schema 'edgepack.summary/2', expected edgepack.summary/1");
  CHECK(input_error_of([&] { render_report_html(json::object()); }) == "manifest has no schema (expected edgepack.manifest/1)");
  CHECK(input_error_of([&] { render_report_html(json::array()); }) == "manifest has no schema (expected edgepack.manifest/1)");
  CHECK(input_error_of([&] { render_summary_markdown(json(nullptr)); }) == "summary has no schema (expected edgepack.summary/1)");
}

TEST_CASE("summary example renders as a table and as an HTML page with per-target charts") {
  const std::string md = render_summary_markdown(example_summary());
  CAPTURE(md);
  CHECK(has(md, "**Result: FAIL** (1 of 2 targets pass; failing: tiny-mcu)"));
  CHECK(has(md, "| target | pipeline | size | est. latency | memory / RAM | accuracy before -> after | SQNR | result |"));
  CHECK(has(md, "| Qualcomm QCS2290 (qcs2290) | `quantize{calib=percentile}` | 210.0 KiB (0.26x) | 0.9 ms | "
                "253.9 KiB / 2.0 GiB (0.012%) | 98.90% -> 98.95% (+0.05) | 38.5 dB | PASS |"));
  CHECK(has(md, "| Tiny MCU (tiny-mcu) | `prune{ratio=0.5},quantize` | 117.2 KiB (0.14x) | 41.2 ms | "
                "293.0 KiB / 256.0 KiB (114%) | 98.90% -> 97.01% (-1.89) | 21.0 dB | FAIL |"));
  CHECK(has(md, "`sha256:1111input`"));

  json s = example_summary();
  s["targets"][1]["dir"] = "javascript:alert(1)";
  const std::string html = render_summary_html(s);
  check_self_contained(html);
  CHECK(has(html, R"(<a href="qcs2290/report.html">)"));
  CHECK_FALSE(has(html, "javascript:"));
  CHECK(has(html, R"(<div class="verdict fail"><strong>FAIL</strong>)"));
  CHECK(has(html, "budget 33 ms"));          // the failing target's own latency budget
  CHECK(has(html, "RAM 256.0 KiB"));         // each target's RAM
  CHECK(has(html, "RAM 2.0 GiB"));
  CHECK(has(html, "41.2 ms"));
}

}  // TEST_SUITE("report")

TEST_SUITE("cli") {

TEST_CASE("report re-renders every report of a compress folder from its JSON") {
  TempDir tmp;
  const fs::path out = tmp / "artifacts";
  const json manifest = example_manifest();
  json orin = example_manifest();
  orin["target"] = {{"id", "jetson-agx-orin"}, {"name", "NVIDIA Jetson AGX Orin"}, {"ram_mb", 32768}};
  json summary = example_summary();
  summary["targets"][1]["dir"] = "jetson-agx-orin";
  put(out / "summary.json", summary.dump(2));
  put(out / "summary.md", "stale");
  put(out / "qcs2290" / "manifest.json", manifest.dump(2));
  put(out / "qcs2290" / "report.md", "stale");
  put(out / "jetson-agx-orin" / "manifest.json", orin.dump(2));
  put(out / ".edgepack-tmp" / "manifest.json", "not even JSON");   // a hidden temporary: not a target

  CliResult r = run_cli(fmt::format("report {} --json", q(out)));
  CAPTURE(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.empty());
  const json printed = json::parse(r.out);
  CHECK(printed["targets"] == 2);
  REQUIRE(printed["written"].size() == 6);
  CHECK(printed["written"][0] == (out / "summary.md").string());
  CHECK(read(out / "summary.md") == render_summary_markdown(summary));
  CHECK(read(out / "summary.html") == render_summary_html(summary));
  CHECK(read(out / "qcs2290" / "report.md") == render_report_markdown(manifest));
  CHECK(read(out / "qcs2290" / "report.html") == render_report_html(manifest));
  CHECK(read(out / "jetson-agx-orin" / "report.html") == render_report_html(orin));
  CHECK(fs::exists(out / "jetson-agx-orin" / "report.md"));
  CHECK_FALSE(fs::exists(out / ".edgepack-tmp" / "report.md"));
  CHECK_FALSE(fs::exists(out / ".edgepack.lock"));

  r = run_cli(fmt::format("report {}", q(out)));
  REQUIRE(r.exit_code == 0);
  CHECK(has(r.out, "wrote " + (out / "qcs2290" / "report.html").string()));
}

TEST_CASE("report refuses a missing folder, a folder without summary.json and malformed JSON") {
  TempDir tmp;
  auto refused = [](const std::string& args, const std::string& expected) {
    CliResult r = run_cli(args);
    CAPTURE(args);
    CAPTURE(r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.rfind("edgepack: error: ", 0) == 0);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(has(r.err, expected));
  };
  refused(fmt::format("report {}", q(tmp / "nowhere")), "no such folder '" + (tmp / "nowhere").string() + "'");
  put(tmp / "file", "x");
  refused(fmt::format("report {}", q(tmp / "file")), "is not a folder");
  fs::create_directories(tmp / "empty");
  refused(fmt::format("report {}", q(tmp / "empty")), "has no summary.json");

  const fs::path out = tmp / "out";
  put(out / "summary.json", "{\"schema\": \"edgepack.summary/1\", \"targets\": [");
  refused(fmt::format("report {}", q(out)), "malformed JSON in '" + (out / "summary.json").string() + "'");

  // A bad manifest: named, and nothing is written (summary.md stays as it was).
  put(out / "summary.json", example_summary().dump());
  put(out / "summary.md", "previous");
  put(out / "qcs2290" / "manifest.json", "{\"schema\": ");
  refused(fmt::format("report {}", q(out)), "malformed JSON in '" + (out / "qcs2290" / "manifest.json").string() + "'");
  CHECK(read(out / "summary.md") == "previous");

  put(out / "qcs2290" / "manifest.json", example_summary().dump());
  refused(fmt::format("report {}", q(out)),
          "'" + (out / "qcs2290" / "manifest.json").string() + "': manifest has schema 'edgepack.summary/1'");
  put(out / "qcs2290" / "manifest.json", example_manifest().dump());
  put(out / "summary.json", "[1, 2]");
  refused(fmt::format("report {}", q(out)), "summary has no schema");
  CHECK(read(out / "summary.md") == "previous");
}

}  // TEST_SUITE("cli")
